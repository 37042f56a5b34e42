//! Prometheus metrics: names, labels and the recorder.
//!
//! The `metrics` facade is process-wide by design (instrumented code anywhere records without
//! being handed a registry), so its recorder is installed once per process and the handle that
//! renders it is kept beside it; [`Metrics`] is how the rest of the code reaches that handle.
//! Labels stay low-cardinality: sources, outcomes, reasons, operations, statuses — never ids.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Buckets for latencies in seconds: 0.5 ms to 60 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

pub const WEBHOOKS: &str = "bridge_webhooks_total";
pub const INTAKE_SECONDS: &str = "bridge_intake_duration_seconds";
pub const DELIVERIES: &str = "bridge_deliveries_total";
pub const END_TO_END_SECONDS: &str = "bridge_end_to_end_seconds";
pub const GENESYS_CALLS: &str = "bridge_genesys_calls_total";
pub const GENESYS_RETRIES: &str = "bridge_genesys_retries_total";
pub const GENESYS_RATE_LIMITED: &str = "bridge_genesys_429_total";
pub const TOKEN_REQUESTS: &str = "bridge_genesys_token_requests_total";
pub const RATE_BUDGET_WAIT: &str = "bridge_rate_budget_wait_seconds";
pub const JOBS: &str = "bridge_jobs";
pub const OLDEST_PENDING_SECONDS: &str = "bridge_oldest_pending_job_age_seconds";
pub const BUILD_INFO: &str = "bridge_build_info";

/// Renders the process's metrics in the Prometheus text format.
#[derive(Clone, Debug)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the recorder the first time; later calls (tests run many apps in one process)
    /// share it.
    pub fn install() -> Self {
        let handle = HANDLE.get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
                .and_then(|b| b.install_recorder());
            match recorder {
                Ok(handle) => {
                    describe();
                    drain_histograms(handle.clone());
                    // Set now, so the first scrape already shows which build answers (and is
                    // never empty before the first webhook or store reading).
                    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
                    handle
                }
                // Another recorder is installed (an embedding application's): render an empty set.
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed; /metrics will be empty");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        });
        Self {
            handle: handle.clone(),
        }
    }

    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// A histogram keeps every sample until something drains it into its buckets: a scrape, or
/// this thread. Without it a bridge nobody scrapes grows by each sample of every histogram: at
/// 25,000 webhooks/s that was megabytes a minute.
fn drain_histograms(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP);
                handle.run_upkeep();
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot start the metrics upkeep thread; histograms drain only when scraped");
    }
}

/// How often histogram samples are drained when nobody scrapes.
const UPKEEP: std::time::Duration = std::time::Duration::from_secs(1);

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the label says which version of the bridge is running"
    );
    describe_counter!(
        WEBHOOKS,
        "Webhooks received, by source and outcome (accepted, duplicate, dry_run, nothing_to_write, rejected) and reason"
    );
    describe_histogram!(
        INTAKE_SECONDS,
        "Time from request to answer on POST /webhooks/{source}"
    );
    describe_counter!(
        DELIVERIES,
        "Delivery attempts' outcomes, by source and outcome (delivered, retry, dead)"
    );
    describe_histogram!(
        END_TO_END_SECONDS,
        "Time from webhook received to attributes written in Genesys"
    );
    describe_counter!(
        GENESYS_CALLS,
        "Genesys API calls, by operation and HTTP status (or 'error' without one)"
    );
    describe_counter!(
        GENESYS_RETRIES,
        "Genesys calls retried within a call, by operation"
    );
    describe_counter!(
        GENESYS_RATE_LIMITED,
        "429 answers from Genesys, by operation"
    );
    describe_counter!(
        TOKEN_REQUESTS,
        "OAuth token requests, by outcome (ok, error)"
    );
    describe_histogram!(
        RATE_BUDGET_WAIT,
        "Time each Genesys call waited for the client-side rate budget"
    );
    describe_gauge!(
        JOBS,
        "Jobs in the store, by status (pending, in_flight, dead)"
    );
    describe_gauge!(OLDEST_PENDING_SECONDS, "Age of the oldest pending job");
}
