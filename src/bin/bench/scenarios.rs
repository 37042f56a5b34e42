//! The scenarios: the load each one drives, spread round robin over the replicas, and what it
//! measures.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Mutex;

use super::harness::{self, Harness, Setup};
use super::load::{Connection, RoundRobin, p50_p99, percentile, unix_ms, webhook};
use super::report::Report;
use super::{GenesysLimit, Options, Scenario};

pub async fn run(
    scenario: Scenario,
    setup: Setup<'_>,
    options: &Options,
) -> anyhow::Result<Report> {
    let seconds = options.seconds;
    match scenario {
        Scenario::Max => max(setup, seconds, options.connections, options.genesys_limit).await,
        Scenario::Steady => steady(setup, seconds.min(Duration::from_secs(9))).await,
        Scenario::Realistic => realistic(setup).await,
        Scenario::Ivr => super::ivr::run(setup).await,
    }
}

const CONVERSATIONS: usize = 1_000;

/// Genesys' rate limit: requests a minute per token (the simulator's), and the bridge's budget.
const GENESYS_LIMIT: u32 = 300;

async fn max(
    setup: Setup<'_>,
    seconds: Duration,
    connections: usize,
    genesys: GenesysLimit,
) -> anyhow::Result<Report> {
    let limit = match genesys {
        GenesysLimit::Held => Some(GENESYS_LIMIT),
        GenesysLimit::Lifted => None,
    };
    let h = harness::start(setup, limit, limit, CONVERSATIONS).await?;
    let verifier = Arc::new(h.verifier.clone());
    let replicas = h.addrs();
    let deadline = Instant::now() + seconds;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (verifier, replicas) = (Arc::clone(&verifier), replicas.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = RoundRobin::open(&replicas, c).await?;
            let mut latencies = Vec::new();
            let mut per_replica = vec![0u64; replicas.len()];
            let mut other = 0u64;
            let mut seq = c as u64;
            while Instant::now() < deadline {
                let request = webhook(&verifier, (seq as usize) % CONVERSATIONS, seq)?;
                let (replica, status, took) = client.send(&request).await?;
                if status == 202 {
                    latencies.push(took.as_secs_f64() * 1000.0);
                    per_replica[replica] += 1;
                } else {
                    other += 1;
                }
                seq += connections as u64;
            }
            anyhow::Ok((latencies, per_replica, other))
        }));
    }
    let mut latencies = Vec::new();
    let mut per_replica = vec![0u64; replicas.len()];
    let mut other = 0;
    for task in tasks {
        let (l, p, o) = task.await??;
        latencies.extend(l);
        per_replica.iter_mut().zip(p).for_each(|(sum, n)| *sum += n);
        other += o;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let accepted = latencies.len();
    let mut r = Report::new(format!(
        "max: {connections} connections, {}s, Genesys limit {}",
        seconds.as_secs(),
        match genesys {
            GenesysLimit::Held => format!("{GENESYS_LIMIT}/min per token"),
            GenesysLimit::Lifted => "lifted".to_owned(),
        }
    ));
    r.add(
        "durable accepted webhooks/s",
        format!("{:.0}", accepted as f64 / elapsed),
    );
    r.add("accepted (202)", accepted);
    if per_replica.len() > 1 {
        let counts: Vec<String> = per_replica.iter().map(u64::to_string).collect();
        r.add("accepted per replica", counts.join(" / "));
    }
    r.add("other answers", other);
    r.add("intake latency p50 / p99 (ms)", p50_p99(&latencies));
    match genesys {
        GenesysLimit::Lifted => {
            let drained = drain(&h, Duration::from_secs(120)).await;
            summary(&h, &mut r, accepted as u64, drained);
        }
        // Delivering the burst at 300 calls a minute takes minutes; what the run checks is that
        // every 202 left a row, and how far the deliveries got meanwhile.
        GenesysLimit::Held => {
            let counts = h.count_jobs().await?;
            r.add(
                "rows in the store",
                format!(
                    "{} ({})",
                    counts.total(),
                    if counts.total() == accepted as u64 {
                        "one per 202"
                    } else {
                        "NOT one per 202"
                    }
                ),
            );
            r.add(
                "delivered / dead / open at the end",
                format!("{} / {} / {}", counts.delivered, counts.dead, counts.open),
            );
            let stats = h.sim.simulator.stats();
            r.add("Genesys calls", stats.api_requests);
            r.add("429s", stats.rate_limited);
            r.add("token requests", stats.token_requests);
            finish(&h, &mut r);
        }
    }
    Ok(r)
}

async fn steady(setup: Setup<'_>, seconds: Duration) -> anyhow::Result<Report> {
    const RATE: u64 = 1_000;
    const CONNECTIONS: u64 = 50;
    let conversations = 200;
    let h = harness::start(setup, None, None, conversations).await?;
    let verifier = Arc::new(h.verifier.clone());
    let replicas = h.addrs();
    let total = RATE * seconds.as_secs();
    let sent: Arc<Mutex<HashMap<u64, f64>>> = Arc::default();
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (verifier, replicas, sent) =
            (Arc::clone(&verifier), replicas.clone(), Arc::clone(&sent));
        tasks.push(tokio::spawn(async move {
            let mut client = RoundRobin::open(&replicas, c as usize).await?;
            let mut latencies = Vec::new();
            let mut seq = c;
            while seq < total {
                // Open loop: each webhook leaves at its own time, late or not.
                tokio::time::sleep_until(start + Duration::from_micros(seq * 1_000_000 / RATE))
                    .await;
                let request = webhook(&verifier, (seq as usize) % conversations, seq)?;
                sent.lock().await.insert(seq, unix_ms(SystemTime::now()));
                let (_, status, took) = client.send(&request).await?;
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
    let mut r = Report::new(format!(
        "steady: {RATE} webhooks/s for {}s, simulator limit lifted",
        seconds.as_secs()
    ));
    r.add("accepted (202)", format!("{accepted} of {total}"));
    r.add("intake latency p50 / p99 (ms)", p50_p99(&latencies));
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
    Ok(r)
}

async fn realistic(setup: Setup<'_>) -> anyhow::Result<Report> {
    const CALLS: usize = 50;
    const LIMIT: u32 = GENESYS_LIMIT;
    // Genesys' limit, and the simulator's, is per token; each replica fetches its own and keeps
    // its own budget of 300 a minute (see the README's "Running more than one replica").
    let replicas = setup.replicas;
    let h = harness::start(setup, Some(LIMIT), Some(LIMIT), CALLS).await?;
    let verifier = Arc::new(h.verifier.clone());
    let addrs = h.addrs();
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
    for (index, (at, call, seq)) in plan.iter().copied().enumerate() {
        let (verifier, addr) = (Arc::clone(&verifier), addrs[index % addrs.len()]);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start + at).await;
            // A connection per webhook, to each replica in turn.
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
    let mut r = Report::new(format!(
        "realistic: {CALLS} calls, {} webhooks, Genesys limit {LIMIT}/min per token",
        plan.len()
    ));
    r.add("accepted (202)", accepted);
    r.add("Genesys calls", calls);
    r.add(
        "Genesys calls per webhook",
        format!("{:.2}", calls as f64 / plan.len() as f64),
    );
    r.add("429s from the simulator", stats.rate_limited);
    r.add("token requests", stats.token_requests);
    // The replicas' budgets together: 300 a minute each.
    let per_minute = f64::from(LIMIT) * replicas as f64;
    let budget_secs = calls as f64 / (per_minute / 60.0);
    match landed_all {
        Some(at) => {
            let took = at
                .duration_since(first_sent)
                .unwrap_or_default()
                .as_secs_f64();
            r.add("first webhook -> last attribute", format!("{took:.1} s"));
            r.add(
                &format!("calls / budget ({per_minute:.0} per min)"),
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
    finish(&h, &mut r);
    Ok(r)
}

/// Waits until the store holds nothing pending or in flight (or `limit`); true when drained.
/// Any replica sees the whole store, so the first is asked.
async fn drain(h: &Harness, limit: Duration) -> bool {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let mut busy = false;
        for status in ["pending", "in_flight"] {
            let url = format!("http://{}/deliveries?status={status}&limit=1", h.first());
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
fn landed_at(h: &Harness) -> Vec<(u64, f64)> {
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

fn summary(h: &Harness, r: &mut Report, accepted: u64, drained: bool) {
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
    finish(h, r);
}

/// The lines every scenario ends with: memory, and where the kept files are.
fn finish(h: &Harness, r: &mut Report) {
    r.add_peak_rss(&h.peak_rss_mib());
    if let Some(dir) = h.kept_dir() {
        r.add("kept logs and files", dir.display());
    }
}
