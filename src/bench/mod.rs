//! The load benchmark behind `target/release/bench` (see the README's performance section).

mod harness;
mod load;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Mutex;

use load::{Connection, percentile, unix_ms, webhook};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// As many webhooks as the bridge will take, from many connections.
    Max,
    /// 1,000 webhooks per second, the simulator's rate limit lifted.
    Steady,
    /// 50 calls, 1 to 4 webhooks each within a few seconds, Genesys' 300 requests per minute.
    Realistic,
}

#[derive(Debug, Default)]
pub struct Report {
    pub scenario: String,
    pub lines: Vec<(String, String)>,
}

impl Report {
    fn add(&mut self, name: &str, value: impl fmt::Display) {
        self.lines.push((name.to_owned(), value.to_string()));
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== {}", self.scenario)?;
        for (name, value) in &self.lines {
            writeln!(f, "  {name:<34} {value}")?;
        }
        Ok(())
    }
}

pub async fn run(
    scenario: Scenario,
    bridge: &Path,
    seconds: Duration,
    connections: usize,
) -> anyhow::Result<Report> {
    match scenario {
        Scenario::Max => max(bridge, seconds, connections).await,
        Scenario::Steady => steady(bridge, seconds.min(Duration::from_secs(9))).await,
        Scenario::Realistic => realistic(bridge).await,
    }
}

const CONVERSATIONS: usize = 1_000;

async fn max(bridge: &Path, seconds: Duration, connections: usize) -> anyhow::Result<Report> {
    let h = harness::start(bridge, None, None, CONVERSATIONS).await?;
    let verifier = Arc::new(h.verifier.clone());
    let deadline = Instant::now() + seconds;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (verifier, addr) = (Arc::clone(&verifier), h.bridge_addr);
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let mut latencies = Vec::new();
            let mut other = 0u64;
            let mut seq = c as u64;
            while Instant::now() < deadline {
                let request = webhook(&verifier, (seq as usize) % CONVERSATIONS, seq)?;
                let (status, took) = conn.send(&request).await?;
                if status == 202 {
                    latencies.push(took.as_secs_f64() * 1000.0);
                } else {
                    other += 1;
                }
                seq += connections as u64;
            }
            anyhow::Ok((latencies, other))
        }));
    }
    let mut latencies = Vec::new();
    let mut other = 0;
    for task in tasks {
        let (l, o) = task.await??;
        latencies.extend(l);
        other += o;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let accepted = latencies.len();
    let drained = drain(&h, Duration::from_secs(120)).await;
    let mut r = Report {
        scenario: format!("max: {connections} connections, {}s", seconds.as_secs()),
        ..Report::default()
    };
    r.add(
        "durable accepted webhooks/s",
        format!("{:.0}", accepted as f64 / elapsed),
    );
    r.add("accepted (202)", accepted);
    r.add("other answers", other);
    r.add(
        "intake latency p50 / p99 (ms)",
        format!(
            "{:.2} / {:.2}",
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0)
        ),
    );
    summary(&h, &mut r, accepted as u64, drained);
    h.stop();
    Ok(r)
}

async fn steady(bridge: &Path, seconds: Duration) -> anyhow::Result<Report> {
    const RATE: u64 = 1_000;
    const CONNECTIONS: u64 = 50;
    let conversations = 200;
    let h = harness::start(bridge, None, None, conversations).await?;
    let verifier = Arc::new(h.verifier.clone());
    let total = RATE * seconds.as_secs();
    let sent: Arc<Mutex<HashMap<u64, f64>>> = Arc::default();
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (verifier, addr, sent) = (Arc::clone(&verifier), h.bridge_addr, Arc::clone(&sent));
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::open(addr).await?;
            let mut latencies = Vec::new();
            let mut seq = c;
            while seq < total {
                // Open loop: each webhook leaves at its own time, late or not.
                tokio::time::sleep_until(start + Duration::from_micros(seq * 1_000_000 / RATE))
                    .await;
                let request = webhook(&verifier, (seq as usize) % conversations, seq)?;
                sent.lock().await.insert(seq, unix_ms(SystemTime::now()));
                let (status, took) = conn.send(&request).await?;
                if status == 202 {
                    latencies.push(took.as_secs_f64() * 1000.0);
                }
                seq += CONNECTIONS;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    latencies.sort_by(f64::total_cmp);
    let accepted = latencies.len() as u64;
    let drained = drain(&h, Duration::from_secs(60)).await;
    let sent = sent.lock().await;
    let mut e2e: Vec<f64> = landed_at(&h)
        .into_iter()
        .filter_map(|(seq, at)| sent.get(&seq).map(|s| at - s))
        .collect();
    e2e.sort_by(f64::total_cmp);
    let mut r = Report {
        scenario: format!(
            "steady: {RATE} webhooks/s for {}s, simulator limit lifted",
            seconds.as_secs()
        ),
        ..Report::default()
    };
    r.add("accepted (202)", format!("{accepted} of {total}"));
    r.add(
        "intake latency p50 / p99 (ms)",
        format!(
            "{:.2} / {:.2}",
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0)
        ),
    );
    r.add(
        "end-to-end p50 / p99 (ms)",
        format!(
            "{:.1} / {:.1} (over {} webhooks; ms clock)",
            percentile(&e2e, 50.0),
            percentile(&e2e, 99.0),
            e2e.len()
        ),
    );
    summary(&h, &mut r, accepted, drained);
    h.stop();
    Ok(r)
}

async fn realistic(bridge: &Path) -> anyhow::Result<Report> {
    const CALLS: usize = 50;
    let h = harness::start(bridge, Some(300), Some(300), CALLS).await?;
    let verifier = Arc::new(h.verifier.clone());
    // 1 to 4 webhooks per call, spread over the first 3 seconds.
    let mut plan: Vec<(Duration, usize, u64)> = Vec::new();
    let mut seq = 0u64;
    for call in 0..CALLS {
        for _ in 0..fastrand::usize(1..=4) {
            plan.push((Duration::from_millis(fastrand::u64(0..3_000)), call, seq));
            seq += 1;
        }
    }
    plan.sort_by_key(|p| p.0);
    let mut last_seq = HashMap::new();
    for (_, call, seq) in &plan {
        last_seq.insert(*call, *seq);
    }
    let start = tokio::time::Instant::now();
    let first_sent = SystemTime::now();
    let mut tasks = Vec::new();
    for (at, call, seq) in plan.clone() {
        let (verifier, addr) = (Arc::clone(&verifier), h.bridge_addr);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start + at).await;
            let mut conn = Connection::open(addr).await?;
            let (status, _) = conn.send(&webhook(&verifier, call, seq)?).await?;
            anyhow::Ok(status)
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        if task.await?? == 202 {
            accepted += 1;
        }
    }
    // Done when every call shows its last webhook's value.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut landed_all = None;
    while Instant::now() < deadline {
        let done = last_seq.iter().all(|(call, seq)| {
            h.sim
                .simulator
                .participant_attributes(&format!("bench-{call}"), &format!("customer-{call}"))
                .and_then(|a| a.get("benchSeq").cloned())
                == Some(seq.to_string())
        });
        if done {
            landed_all = Some(SystemTime::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = h.sim.simulator.stats();
    let calls = stats.api_requests;
    let mut r = Report {
        scenario: format!(
            "realistic: {CALLS} calls, {} webhooks, Genesys limit 300/min",
            plan.len()
        ),
        ..Report::default()
    };
    r.add("accepted (202)", accepted);
    r.add("Genesys calls", calls);
    r.add(
        "Genesys calls per webhook",
        format!("{:.2}", calls as f64 / plan.len() as f64),
    );
    r.add("429s from the simulator", stats.rate_limited);
    r.add("token requests", stats.token_requests);
    let budget_secs = calls as f64 / 5.0;
    match landed_all {
        Some(at) => {
            let took = at
                .duration_since(first_sent)
                .unwrap_or_default()
                .as_secs_f64();
            r.add("first webhook -> last attribute", format!("{took:.1} s"));
            r.add(
                "calls / budget (300 per min)",
                format!(
                    "{budget_secs:.1} s (landed at {:.0}% of it)",
                    took / budget_secs * 100.0
                ),
            );
        }
        None => r.add(
            "first webhook -> last attribute",
            "NOT ALL LANDED within 180 s",
        ),
    }
    r.add(
        "bridge peak RSS",
        format!("{:.1} MiB", h.peak_rss_mib().unwrap_or(f64::NAN)),
    );
    h.stop();
    Ok(r)
}

/// Waits until the bridge holds nothing pending or in flight (or `limit`); true when drained.
async fn drain(h: &harness::Harness, limit: Duration) -> bool {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let mut busy = false;
        for status in ["pending", "in_flight"] {
            let url = format!(
                "http://{}/deliveries?status={status}&limit=1",
                h.bridge_addr
            );
            let answer = client
                .get(url)
                .bearer_auth(harness::ADMIN_TOKEN)
                .send()
                .await;
            let items = match answer {
                Ok(r) => r
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["items"].as_array().map(Vec::len)),
                Err(_) => None,
            };
            busy |= items != Some(0);
        }
        if !busy {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// seq → when its PATCH reached the simulator (unix ms), from the simulator's request log.
fn landed_at(h: &harness::Harness) -> Vec<(u64, f64)> {
    h.sim
        .simulator
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .filter_map(|r| {
            let body: serde_json::Value = serde_json::from_str(&r.body).ok()?;
            let seq = body
                .pointer("/attributes/benchSeq")?
                .as_str()?
                .parse()
                .ok()?;
            let at = time::OffsetDateTime::parse(
                &r.received_at,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()?;
            Some((seq, at.unix_timestamp_nanos() as f64 / 1e6))
        })
        .collect()
}

fn summary(h: &harness::Harness, r: &mut Report, accepted: u64, drained: bool) {
    let stats = h.sim.simulator.stats();
    r.add(
        "all delivered",
        if drained { "yes" } else { "NO (timed out)" },
    );
    r.add(
        "Genesys calls per webhook",
        format!("{:.3}", stats.api_requests as f64 / accepted.max(1) as f64),
    );
    r.add("429s", stats.rate_limited);
    r.add("token requests", stats.token_requests);
    r.add(
        "bridge peak RSS",
        format!("{:.1} MiB", h.peak_rss_mib().unwrap_or(f64::NAN)),
    );
}
