//! Shared set-up: a simulator on a free loopback port and a client pointed at it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use genesys_bridge::genesys::{
    ClientSettings, ConversationId, Endpoints, GenesysClient, ParticipantId, RateBudgetSettings,
};
use genesys_bridge::simulator::{NewConversation, RunningSimulator, SimConfig, Simulator};
use secrecy::SecretString;

pub const SIM_SECRET: &str = "sim-secret-0123456789";

pub fn sim_config() -> SimConfig {
    SimConfig {
        client_secret: SIM_SECRET.to_owned(),
        ..SimConfig::default()
    }
}

pub async fn spawn_sim(config: SimConfig) -> RunningSimulator {
    Simulator::new(config)
        .spawn(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("the simulator binds a loopback port")
}

/// Client settings for `sim`, with the simulator's credentials and the default policies.
pub fn client_settings(sim: &RunningSimulator) -> ClientSettings {
    ClientSettings::new(
        Endpoints::new(&sim.base_url, &sim.base_url),
        "sim-client",
        SecretString::from(SIM_SECRET),
    )
}

pub fn client(settings: ClientSettings) -> GenesysClient {
    GenesysClient::new(settings).expect("the client builds")
}

pub fn unlimited(mut settings: ClientSettings) -> ClientSettings {
    settings.rate_budget = RateBudgetSettings {
        limit: None,
        ..settings.rate_budget
    };
    settings
}

/// A live conversation with an IVR and a customer; returns its id and the customer's id.
pub fn customer_call(sim: &RunningSimulator) -> (ConversationId, ParticipantId) {
    let conversation = sim
        .simulator
        .create_conversation(NewConversation::default());
    let customer = conversation
        .participants
        .iter()
        .find(|p| p.purpose == "customer")
        .expect("default conversations have a customer");
    (
        ConversationId::parse(conversation.id.clone()).expect("simulator ids are valid"),
        ParticipantId::parse(customer.id.clone()).expect("simulator ids are valid"),
    )
}

/// An attribute map from pairs.
pub fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Everything the code under test logs, at every level, for secret scanning.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }

    /// The process's TRACE-level logger, installed by the first caller: every test of the
    /// binary shares it (and scans the whole capture for its own secrets).
    pub fn global() -> Self {
        static LOGS: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = CapturedLogs::default();
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
                .with_writer(logs.clone())
                .with_ansi(false)
                .init();
            logs
        })
        .clone()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
