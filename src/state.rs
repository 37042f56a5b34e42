//! The application state: what every request handler can reach. Its own module, so the router
//! (which reads it) and the server (which builds it) never import each other.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::genesys::GenesysClient;
use crate::intake::Intake;
use crate::queue::Queue;
use crate::telemetry::metrics::Metrics;

/// The ops API's credentials, as the HTTP layer checks them.
#[derive(Clone, Debug, Default)]
pub struct AdminAccess {
    /// SHA-256 of the admin token; `None` disables the ops API.
    pub token_digest: Option<Vec<u8>>,
    /// Whether `/deliveries` shows attribute values (customer data) or only keys.
    pub show_values: bool,
}

/// Wall-clock time for signature timestamps; tests replace it to replay published vectors.
pub type Clock = Arc<dyn Fn() -> time::OffsetDateTime + Send + Sync>;

/// What every handler can reach. axum clones it for every extractor of every request, so it is
/// one `Arc` (an increment), not the services themselves (a string and a dozen increments each
/// time).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }

    /// Replaces the wall clock the intake checks signature timestamps against.
    pub(crate) fn set_clock(&mut self, clock: Clock) {
        Arc::make_mut(&mut self.0).clock = clock;
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services behind [`AppState`].
#[derive(Clone)]
pub struct Services {
    pub profile: String,
    pub genesys: GenesysClient,
    pub intake: Arc<Intake>,
    pub queue: Queue,
    pub admin: AdminAccess,
    pub max_body_bytes: usize,
    pub metrics: Metrics,
    pub clock: Clock,
    /// Cancelled when the process starts shutting down (readiness turns 503).
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}
