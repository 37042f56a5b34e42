//! The composition root: builds the application state from validated settings (the Genesys
//! client, the store, the intake), starts the in-process simulator when configured, serves the
//! router, runs delivery beside it and shuts down gracefully.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Settings, SimulatorSettings, describe_source};
use crate::delivery::{self, DeliverySettings};
use crate::genesys::{BuildError, Endpoints, GenesysClient};
use crate::intake::Intake;
use crate::ivr::Ivr;
use crate::queue::{Queue, StoreError};
use crate::simulator::{NewConversation, RunningSimulator, SimConfig, Simulator};
use crate::state::{AdminAccess, AppState, Clock, IvrAccess, Services};
use crate::telemetry::metrics::Metrics;
use crate::webhook::signature::Scheme;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the in-process Genesys simulator: {0}")]
    Simulator(std::io::Error),
    #[error(transparent)]
    Client(#[from] BuildError),
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    simulator: Option<RunningSimulator>,
    delivery: DeliverySettings,
    shutdown_grace: Duration,
    request_timeout: Duration,
}

impl Application {
    /// Binds the listener and builds everything; nothing is served until [`Application::run`].
    pub async fn build(
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Result<Self, StartupError> {
        let simulator = match &settings.simulator {
            Some(sim) => Some(start_simulator(sim).await?),
            None => None,
        };
        let mut client_settings = settings.genesys.client.clone();
        client_settings.endpoints = match (&settings.genesys.endpoints, &simulator) {
            (Some(endpoints), _) => endpoints.clone(),
            (None, Some(sim)) => Endpoints::new(&sim.base_url, &sim.base_url),
            // Validation guarantees one or the other; an empty endpoint fails loudly on first use.
            (None, None) => Endpoints::new("", ""),
        };
        tracing::info!(
            api = client_settings.endpoints.api_base_url(),
            login = client_settings.endpoints.login_base_url(),
            "Genesys endpoints"
        );
        let genesys = GenesysClient::new(client_settings)?;
        for source in &settings.sources {
            if matches!(source.verifier().scheme(), Scheme::None) {
                tracing::warn!(
                    source = source.name(),
                    "source accepts UNSIGNED requests (verifier type = \"none\"): local use only"
                );
            }
            tracing::info!(source = %describe_source(source), "source configured");
        }
        if let (Some(sim), Some(demo)) = (
            &simulator,
            settings.sources.iter().find(|s| s.name() == "demo"),
        ) {
            tracing::info!(
                "try it: `cargo run -- sign --source {} --curl | sh`, then \
                 `curl -s {}/sim/conversations/demo-conversation/participants/demo-customer/attributes`",
                demo.name(),
                sim.base_url
            );
        }
        if let (Some(_), Some(phone)) = (
            &simulator,
            settings.sources.iter().find(|s| s.name() == "demo-phone"),
        ) {
            tracing::info!(
                "by the caller's number: `cargo run -- sign --source {} --curl | sh`, then                  `curl -s -H 'authorization: Bearer local-demo-ivr-token' localhost:{}/v1/calls/demo-conversation/data`",
                phone.name(),
                settings.server.port
            );
        }
        if settings.sources.is_empty() {
            tracing::warn!("no sources are configured: every webhook will be answered 404");
        }
        let queue = Queue::open(settings.queue.clone(), &settings.genesys.client.client_id).await?;
        tracing::info!(store = %settings.queue.store.describe(), "store open");
        let intake = Intake::new(
            settings.sources,
            queue.clone(),
            genesys.participant_purposes(),
        );
        let ivr_access = IvrAccess::of(settings.ivr.credential.as_ref());
        if ivr_access.digest.is_none() {
            tracing::info!(
                "the IVR endpoints (/v1/calls) are off: no ivr.token or ivr.basic_user is set"
            );
        }
        let ivr = Ivr::new(
            queue.clone(),
            genesys.clone(),
            settings.ivr,
            &intake.sources(),
        );
        if let Some(sim) = &settings.simulator {
            register_demo_call(&ivr, sim).await;
        }
        let admin = AdminAccess {
            token_digest: settings.admin.token.as_ref().map(|t| {
                use secrecy::ExposeSecret;
                use sha2::Digest;
                sha2::Sha256::digest(t.expose_secret().as_bytes()).to_vec()
            }),
            show_values: settings.admin.show_values,
        };
        let addr = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| StartupError::Bind { addr, source })?;
        Ok(Self {
            listener,
            state: AppState::new(Services {
                profile: settings.profile,
                genesys,
                intake: Arc::new(intake),
                ivr: Arc::new(ivr),
                queue,
                admin,
                ivr_access,
                max_body_bytes: settings.server.max_body_bytes,
                clock: Arc::new(time::OffsetDateTime::now_utc),
                metrics: Metrics::install(),
                shutdown,
            }),
            simulator,
            delivery: settings.delivery,
            shutdown_grace: settings.server.shutdown_grace,
            request_timeout: settings.server.request_timeout,
        })
    }

    /// Replaces the wall clock the intake checks signature timestamps against.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.state.set_clock(clock);
        self
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The in-process simulator, when the profile runs one.
    pub fn simulator(&self) -> Option<&RunningSimulator> {
        self.simulator.as_ref()
    }

    /// Serves until the shutdown token is cancelled, then lets in-flight requests finish within
    /// the grace period.
    pub async fn run(self) -> Result<(), StartupError> {
        let shutdown = self.state.shutdown.clone();
        self.state.queue.start_upkeep(&shutdown);
        let workers = delivery::start(
            self.state.queue.consumer(),
            self.state.genesys.clone(),
            self.delivery,
            shutdown.clone(),
        );
        let router = crate::http::router(self.state, self.request_timeout);
        let grace = self.shutdown_grace;
        let serve = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let served = tokio::select! {
            served = serve => served.map_err(StartupError::Serve),
            () = async {
                shutdown.cancelled().await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests outlasted the shutdown grace period");
                Ok(())
            }
        };
        // Workers finish what they hold (bounded by the same grace period); the rest stays in the store.
        let _ = workers.await;
        if let Some(sim) = self.simulator {
            sim.shutdown().await;
        }
        served
    }
}

/// The local demo's call, registered as its flow would register it, so a webhook naming the
/// caller's number reaches it.
async fn register_demo_call(ivr: &Ivr, sim: &SimulatorSettings) {
    let (Some(id), Some(caller)) = (&sim.demo_conversation, &sim.demo_caller) else {
        return;
    };
    let body = serde_json::json!({
        "conversationId": id,
        "participantId": "demo-customer",
        "ani": caller.as_str(),
    });
    match ivr.register(body.to_string().as_bytes()).await {
        Ok(_) => {
            tracing::info!(conversation_id = %id, "demo call registered with its caller's number")
        }
        Err(err) => tracing::warn!(error = %err, "the demo call could not be registered"),
    }
}

async fn start_simulator(settings: &SimulatorSettings) -> Result<RunningSimulator, StartupError> {
    let simulator = Simulator::new(SimConfig {
        client_id: settings.client_id.clone(),
        client_secret: settings.client_secret.clone(),
        token_ttl: settings.token_ttl,
        rate_limit: settings.rate_limit,
        ..SimConfig::default()
    });
    if let Some(id) = &settings.demo_conversation {
        let caller = settings.demo_caller.as_ref().map(|n| n.as_str());
        simulator.create_conversation(NewConversation::demo(id.clone(), caller));
    }
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), settings.port);
    let running = simulator
        .spawn(addr)
        .await
        .map_err(StartupError::Simulator)?;
    tracing::warn!(
        url = %running.base_url,
        "running the Genesys SIMULATOR in-process: no real Genesys org is contacted"
    );
    Ok(running)
}
