//! The application state: what every request handler can reach. Its own module, so the router
//! (which reads it) and the server (which builds it) never import each other.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::genesys::GenesysClient;
use crate::intake::Intake;
use crate::ivr::{Ivr, IvrCredential};
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

/// How the IVR's credential is presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IvrScheme {
    Bearer,
    Basic,
}

/// The IVR handshake's credential, as the HTTP layer checks it.
#[derive(Clone, Debug, Default)]
pub struct IvrAccess {
    /// The scheme and the SHA-256 of the token (or of `user:password`); `None` disables the
    /// IVR endpoints.
    pub digest: Option<(IvrScheme, Vec<u8>)>,
}

impl IvrAccess {
    pub fn of(credential: Option<&IvrCredential>) -> Self {
        use secrecy::ExposeSecret;
        use sha2::Digest;
        let digest = credential.map(|credential| match credential {
            IvrCredential::Bearer(token) => (
                IvrScheme::Bearer,
                sha2::Sha256::digest(token.expose_secret().as_bytes()).to_vec(),
            ),
            IvrCredential::Basic { user, password } => (
                IvrScheme::Basic,
                sha2::Sha256::digest(format!("{user}:{}", password.expose_secret()).as_bytes())
                    .to_vec(),
            ),
        });
        Self { digest }
    }
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
    pub ivr: Arc<Ivr>,
    pub queue: Queue,
    pub admin: AdminAccess,
    pub ivr_access: IvrAccess,
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
