//! `[queue]` (the store's retention, and how delivery works it off) and `[admin]` (the ops API).

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::{Problems, optional_secret};
use crate::delivery::{DeliverySettings, RetrySchedule};
use crate::queue::{QueueSettings, StoreSettings};

/// The local profile's admin token: public, so production refuses it.
pub const DEMO_ADMIN_TOKEN: &str = "local-admin-token";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQueue {
    data_dir: String,
    workers: usize,
    lease: String,
    poll_interval: String,
    horizon: String,
    initial_backoff: String,
    max_backoff: String,
    rechecks: u32,
    recheck_delay: String,
    write_ended_conversations: bool,
    idempotency_window: String,
    dead_retention: String,
    participant_cache: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    token: SecretString,
    token_file: String,
    show_values: bool,
}

#[derive(Clone, Debug, Default)]
pub struct AdminSettings {
    /// `None`: the ops API answers 401 to everyone.
    pub token: Option<SecretString>,
    pub show_values: bool,
}

pub(super) fn queue(
    raw: RawQueue,
    shutdown_grace: std::time::Duration,
    problems: &mut Problems,
) -> (QueueSettings, DeliverySettings) {
    if raw.data_dir.trim().is_empty() {
        problems.add(
            "queue.data_dir",
            "is required: the directory of the embedded store",
        );
    }
    if raw.workers == 0 {
        problems.add("queue.workers", "must be at least 1");
    }
    let queue = QueueSettings {
        store: StoreSettings::Sqlite {
            data_dir: PathBuf::from(raw.data_dir.trim()),
        },
        idempotency_window: problems.duration("queue.idempotency_window", &raw.idempotency_window),
        dead_retention: problems.duration("queue.dead_retention", &raw.dead_retention),
    };
    let delivery = DeliverySettings {
        workers: raw.workers.max(1),
        lease: problems.duration("queue.lease", &raw.lease),
        poll_interval: problems.duration("queue.poll_interval", &raw.poll_interval),
        retry: RetrySchedule {
            horizon: problems.duration("queue.horizon", &raw.horizon),
            initial_backoff: problems.duration("queue.initial_backoff", &raw.initial_backoff),
            max_backoff: problems.duration("queue.max_backoff", &raw.max_backoff),
            rechecks: raw.rechecks,
            recheck_delay: problems.duration("queue.recheck_delay", &raw.recheck_delay),
        },
        write_ended_conversations: raw.write_ended_conversations,
        participant_cache: raw.participant_cache,
        shutdown_grace,
        several: Default::default(),
    };
    (queue, delivery)
}

pub(super) fn admin(raw: RawAdmin, production: bool, problems: &mut Problems) -> AdminSettings {
    let token = optional_secret(problems, "admin.token", &raw.token, &raw.token_file);
    if production && token.as_deref() == Some(DEMO_ADMIN_TOKEN) {
        problems.add(
            "admin.token",
            "is the public local token; the production profile refuses it",
        );
    }
    if token.as_ref().is_some_and(|t| t.len() < 16) {
        problems.add(
            "admin.token",
            "is shorter than 16 characters: too easy to guess",
        );
    }
    AdminSettings {
        token: token.map(SecretString::from),
        show_values: raw.show_values,
    }
}
