//! Everything the simulator remembers, behind one lock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::SimConfig;
use super::conversations::ConversationStore;
use super::faults::FaultQueue;
use super::rate_limit::RateLimiter;
use super::recorder::RequestLog;
use super::tokens::TokenStore;

/// Counters since creation or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Requests to `/oauth/token`, whatever their outcome.
    pub token_requests: u64,
    /// Other Genesys-path requests, whatever their outcome.
    pub api_requests: u64,
    /// 429s answered by the rate limiter (injected 429s count as faults).
    pub rate_limited: u64,
    /// Requests an injected fault applied to (latency-only faults included).
    pub faults_served: u64,
    /// Requests per `"METHOD /path/{template}"` of the Genesys routes that matched.
    pub requests_by_route: BTreeMap<String, u64>,
}

/// One lock over all state keeps every request's view consistent; the simulator never holds it
/// across an `.await`, so contention is a few map operations long.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) conversations: ConversationStore,
    pub(crate) tokens: TokenStore,
    pub(crate) limiter: RateLimiter,
    pub(crate) faults: FaultQueue,
    pub(crate) log: RequestLog,
    pub(crate) stats: SimStats,
}

impl State {
    pub(crate) fn new(config: &SimConfig) -> Self {
        Self {
            conversations: ConversationStore::default(),
            tokens: TokenStore::default(),
            limiter: RateLimiter::new(config.rate_limit, config.rate_window),
            faults: FaultQueue::default(),
            log: RequestLog::default(),
            stats: SimStats::default(),
        }
    }
}
