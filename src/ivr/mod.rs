//! The IVR's half of the handshake (`genesys-ivr.md`): the Architect flow registers the call as
//! it starts ([`Ivr::register`]), so a CRM that knows only the caller's number or an account
//! number reaches it, and later pulls what the CRM sent ([`Ivr::pull`]) instead of reading
//! participant data and hoping it has landed.
//!
//! Both answer the flat JSON a Data Action's contract can hold, and "no data yet" or "unknown
//! call" travel in a 200 with a status field: a call flow cannot read a failure's details.
//!
//! - `registration`: the flat body a Data Action (or a trigger's workflow) posts, parsed;
//! - `pull`: what the flow reads, and the wait for a webhook to be committed;
//! - `actions`: the Data Actions that call both, in Genesys' import format;
//! - `error`: why a request was refused (each a problem `type` at the HTTP edge).

pub mod actions;
mod error;
mod pull;
mod registration;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use error::{FieldProblem, IvrError};
pub use pull::Pulled;
pub use registration::Registered;

use crate::genesys::{ConversationId, CountryCode, GenesysClient};
use crate::queue::{Call, NewCall, Queue};
use crate::webhook::event::CallBy;
use crate::webhook::source::Source;

/// `[ivr]`, validated.
#[derive(Clone, Debug)]
pub struct IvrSettings {
    /// `None`: the IVR endpoints answer 401 to everyone.
    pub credential: Option<IvrCredential>,
    /// How long a registered call is kept (and can be reached by its number).
    pub call_ttl: Duration,
    /// The longest a pull waits for data; `?waitMs` is capped to it.
    pub max_wait: Duration,
    /// For national numbers (no `+` or `00`).
    pub default_country: Option<CountryCode>,
    /// Write to a conversation that has ended (`queue.write_ended_conversations`): the
    /// registration's participant lookup chooses by the same rule delivery does.
    pub include_ended: bool,
}

/// What the Genesys integration sends on every request.
#[derive(Clone, Debug)]
pub enum IvrCredential {
    /// A *User Defined* credential: `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// A *Basic Auth* credential.
    Basic {
        user: String,
        password: SecretString,
    },
}

/// The IVR handshake: registrations and pulls, over the store the intake commits to.
#[derive(Debug)]
pub struct Ivr {
    queue: Queue,
    genesys: GenesysClient,
    settings: IvrSettings,
    /// Every attribute key a source maps: the fixed set a pull answers with.
    keys: Vec<String>,
    /// The CRM keys a call may register with (the sources' `conversation.by = "key"` names).
    call_keys: BTreeSet<String>,
    /// Participant lookups under way: they share the Genesys rate budget with deliveries, so
    /// a burst of registrations beyond this many leaves the rest to their first delivery.
    lookups: Arc<Semaphore>,
    /// The conversations being looked up, so a registration sent again meanwhile (a flow's
    /// retry) costs no second GET.
    looking_up: Arc<Mutex<HashSet<ConversationId>>>,
}

/// Participant lookups that may wait for the rate budget at once.
const MAX_LOOKUPS: usize = 64;

impl Ivr {
    pub fn new(
        queue: Queue,
        genesys: GenesysClient,
        settings: IvrSettings,
        sources: &[Arc<Source>],
    ) -> Self {
        let keys: BTreeSet<String> = sources
            .iter()
            .flat_map(|s| s.mapping().rules().map(|(_, key, _)| key.to_owned()))
            .collect();
        let call_keys = sources
            .iter()
            .filter_map(|s| match s.extraction().call_by() {
                CallBy::Key { name } => Some(name.clone()),
                _ => None,
            })
            .collect();
        Self {
            queue,
            genesys,
            settings,
            keys: keys.into_iter().collect(),
            call_keys,
            lookups: Arc::new(Semaphore::new(MAX_LOOKUPS)),
            looking_up: Arc::default(),
        }
    }

    pub fn settings(&self) -> &IvrSettings {
        &self.settings
    }

    /// The attribute keys a pull answers with, in order.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The CRM keys a call may register with.
    pub fn call_keys(&self) -> &BTreeSet<String> {
        &self.call_keys
    }

    /// Registers (or registers again) the call `body` names; answers once it is committed.
    /// Without a participant id the conversation is looked up in the background, so the first
    /// webhook for the call costs one PATCH and no GET, and the flow is not kept waiting.
    pub async fn register(&self, body: &[u8]) -> Result<Registered, IvrError> {
        let parsed = registration::parse(
            body,
            &self.call_keys,
            self.settings.default_country.as_ref(),
        )?;
        let now = SystemTime::now();
        let expires_at = now + self.settings.call_ttl;
        let call = self
            .queue
            .register(NewCall {
                conversation_id: parsed.conversation_id.clone(),
                participant_id: parsed.participant_id.clone(),
                ani: parsed.ani.clone(),
                dnis: parsed.dnis.clone(),
                keys: parsed.keys.clone(),
                at: now,
                expires_at,
            })
            .await?;
        let lookup = match (&parsed.participant_id, &call.participant_id) {
            (Some(_), _) => "given",
            (None, Some(_)) => "known",
            (None, None) => self.look_up(&call, expires_at),
        };
        tracing::info!(conversation_id = %call.conversation_id, ani = call.ani.as_ref().map(|n| n.as_str()),
            keys = call.keys.len(), lookup, ignored = parsed.ignored.len(), "call registered");
        Ok(Registered {
            call,
            lookup,
            ignored: parsed.ignored,
            ttl: self.settings.call_ttl,
        })
    }

    /// Starts looking the call's participant up, unless that is under way already or too many
    /// lookups are; what the answer says of it.
    fn look_up(&self, call: &Call, expires_at: SystemTime) -> &'static str {
        if !self.start_lookup(&call.conversation_id) {
            return "started";
        }
        let Ok(slot) = Arc::clone(&self.lookups).try_acquire_owned() else {
            self.end_lookup(&call.conversation_id);
            return "deferred";
        };
        let update = NewCall {
            conversation_id: call.conversation_id.clone(),
            participant_id: None,
            ani: None,
            dnis: None,
            keys: Default::default(),
            at: call.updated_at,
            expires_at,
        };
        tokio::spawn(look_up_participant(
            slot,
            Arc::clone(&self.looking_up),
            self.queue.clone(),
            self.genesys.clone(),
            update,
            self.settings.include_ended,
        ));
        "started"
    }

    /// Whether this registration starts the call's lookup (none is under way).
    fn start_lookup(&self, conversation: &ConversationId) -> bool {
        self.looking_up
            .lock()
            .is_ok_and(|mut under_way| under_way.insert(conversation.clone()))
    }

    fn end_lookup(&self, conversation: &ConversationId) {
        if let Ok(mut under_way) = self.looking_up.lock() {
            under_way.remove(conversation);
        }
    }

    /// What arrived for the call, waiting up to `wait` (capped by `ivr.max_wait`) for a first
    /// webhook when none has.
    pub async fn pull(
        &self,
        conversation: &str,
        wait_ms: Option<&str>,
    ) -> Result<Pulled, IvrError> {
        pull::pull(self, conversation, wait_ms).await
    }
}

/// The participant a registered call's webhooks will be written to, chosen now by the rule
/// delivery uses, and kept with the call. A conversation Genesys does not show yet is no error:
/// the first delivery looks again.
async fn look_up_participant(
    _slot: OwnedSemaphorePermit,
    under_way: Arc<Mutex<HashSet<ConversationId>>>,
    queue: Queue,
    genesys: GenesysClient,
    mut update: NewCall,
    include_ended: bool,
) {
    let conversation = update.conversation_id.clone();
    let found = genesys
        .find_target_with(&update.conversation_id, include_ended)
        .await;
    match found {
        Ok(target) => {
            tracing::info!(conversation_id = %update.conversation_id, participant_id = %target.participant_id,
                purpose = %target.purpose, "registered call: participant found");
            update.participant_id = Some(target.participant_id);
            if let Err(err) = queue.register(update).await {
                tracing::warn!(error = %err, "cannot keep the registered call's participant");
            }
        }
        Err(err) => tracing::info!(conversation_id = %update.conversation_id, error = %err,
            "registered call: no participant yet; the first delivery looks again"),
    }
    if let Ok(mut under_way) = under_way.lock() {
        under_way.remove(&conversation);
    }
}
