//! The `ivr` scenario: the IVR handshake under load. Flows register calls at 500 a second
//! (most with their participant id, the rest looked up once), CRMs post by the caller's number
//! while the flows pull with a wait, and then pull again with the data there. It measures how
//! soon a waiting pull answers after its webhook's commit, how fast a pull with data answers,
//! and what Genesys is asked for; then the realistic load by number, at Genesys' 300 a minute,
//! for the Genesys calls each webhook costs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::harness::{self, Harness, IVR_TOKEN, Setup};
use super::load::{Connection, caller, p50_p99, webhook_by_number};
use super::report::Report;

/// Calls registered in the first part.
const CALLS: usize = 2_000;
const REGISTRATIONS_PER_SECOND: u64 = 500;
/// One call in this many registers without its participant id (the bridge looks it up).
const WITHOUT_PARTICIPANT: usize = 5;
/// Calls whose flow pulls with a wait while their CRM posts.
const PULLED: usize = 1_000;
/// A new pull-then-webhook pair starts this often.
const PAIR_EVERY: Duration = Duration::from_millis(4);
/// How long after its pull the webhook leaves: the pull is waiting by then.
const WEBHOOK_AFTER: Duration = Duration::from_millis(50);
const WAIT_MS: u64 = 5_000;

const GET_CONVERSATION: &str = "GET /api/v2/conversations/{conversationId}";

pub async fn run(setup: Setup<'_>) -> anyhow::Result<Report> {
    let h = harness::start(setup, None, None, CALLS).await?;
    let replicas = h.addrs();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let mut r = Report::new(format!(
        "ivr: {CALLS} calls registered at {REGISTRATIONS_PER_SECOND}/s, {PULLED} pulls waiting \
         for a webhook by number, simulator limit lifted; then the realistic load by number"
    ));

    // 1. Registrations, open loop.
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(CALLS);
    for call in 0..CALLS {
        let (http, addr) = (http.clone(), replicas[call % replicas.len()]);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(
                start + Duration::from_micros(call as u64 * 1_000_000 / REGISTRATIONS_PER_SECOND),
            )
            .await;
            let mut body = serde_json::json!({
                "conversationId": format!("bench-{call}"),
                "ani": format!("tel:{}", caller(call)),
            });
            if call % WITHOUT_PARTICIPANT != 0 {
                body["participantId"] = format!("customer-{call}").into();
            }
            let sent = Instant::now();
            let answer = http
                .post(format!("http://{addr}/v1/calls"))
                .bearer_auth(IVR_TOKEN)
                .json(&body)
                .send()
                .await?;
            let status = answer.status().as_u16();
            answer.bytes().await?;
            anyhow::Ok((status, sent.elapsed().as_secs_f64() * 1000.0))
        }));
    }
    let mut latencies = Vec::with_capacity(CALLS);
    let mut refused = 0;
    for task in tasks {
        let (status, ms) = task.await??;
        if status == 200 {
            latencies.push(ms);
        } else {
            refused += 1;
        }
    }
    latencies.sort_by(f64::total_cmp);
    r.add(
        "registrations answered 200",
        format!("{} of {CALLS} ({refused} other)", latencies.len()),
    );
    r.add("registration latency p50 / p99 (ms)", p50_p99(&latencies));
    // The lookups run after the answer; give them a moment.
    let lookups_expected = CALLS.div_ceil(WITHOUT_PARTICIPANT) as u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while gets(&h) < lookups_expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after_registrations = h.sim.simulator.stats();
    r.add(
        "Genesys calls for the registrations",
        format!(
            "{} ({} conversation GETs; {lookups_expected} calls came without a participant id)",
            after_registrations.api_requests,
            gets(&h)
        ),
    );

    // 2. A flow pulls with a wait; its CRM's webhook by number follows.
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(PULLED);
    for call in 0..PULLED {
        let (http, addr) = (http.clone(), replicas[call % replicas.len()]);
        let other = replicas[(call + 1) % replicas.len()];
        let verifier = h.verifier.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start + PAIR_EVERY * call as u32).await;
            let pull = tokio::spawn({
                let url = format!("http://{addr}/v1/calls/bench-{call}/data?waitMs={WAIT_MS}");
                async move {
                    let answer = http.get(url).bearer_auth(IVR_TOKEN).send().await?;
                    let body: serde_json::Value = answer.json().await?;
                    anyhow::Ok((body, Instant::now()))
                }
            });
            tokio::time::sleep(WEBHOOK_AFTER).await;
            // The webhook goes to the other replica, when there is one.
            let mut conn = Connection::open(other).await?;
            let (status, _) = conn
                .send(&webhook_by_number(&verifier, call, call as u64)?)
                .await?;
            let committed = Instant::now();
            let (body, answered) = pull.await??;
            let found = body["status"] == "found"
                && body["benchSeq"].as_str() == Some(call.to_string().as_str());
            // The 202 leaves after the commit, so a pull can be answered before the client
            // has it: that counts as 0.
            let after = answered.saturating_duration_since(committed);
            anyhow::Ok((status, found, after.as_secs_f64() * 1000.0))
        }));
    }
    let mut wake = Vec::with_capacity(PULLED);
    let (mut accepted, mut found) = (0, 0);
    for task in tasks {
        let (status, was_found, ms) = task.await??;
        accepted += usize::from(status == 202);
        found += usize::from(was_found);
        wake.push(ms);
    }
    wake.sort_by(f64::total_cmp);
    r.add("webhooks by number accepted (202)", accepted);
    r.add(
        "waiting pulls answered found, with their webhook's value",
        format!("{found} of {PULLED}"),
    );
    r.add(
        "waiting pull answered after its webhook's 202, p50 / p99 (ms)",
        p50_p99(&wake),
    );

    // 3. Pulls with the data there: 8 flows at a time, back to back.
    let mut tasks = Vec::new();
    for lane in 0..8 {
        let (http, replicas) = (http.clone(), replicas.clone());
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::new();
            for call in (lane..PULLED).step_by(8) {
                let addr = replicas[call % replicas.len()];
                let sent = Instant::now();
                let answer = http
                    .get(format!("http://{addr}/v1/calls/bench-{call}/data?waitMs=0"))
                    .bearer_auth(IVR_TOKEN)
                    .send()
                    .await?;
                let body: serde_json::Value = answer.json().await?;
                anyhow::ensure!(body["status"] == "found", "call {call}: {body}");
                took.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(took)
        }));
    }
    let mut there = Vec::new();
    for task in tasks {
        there.extend(task.await??);
    }
    there.sort_by(f64::total_cmp);
    r.add(
        "pulls with the data there, p50 / p99 (ms)",
        format!("{} (over {})", p50_p99(&there), there.len()),
    );
    let drained = drained(&h, PULLED as u64, Duration::from_secs(60)).await;
    let stats = h.sim.simulator.stats();
    let webhook_gets = gets(&h) - count(&after_registrations.requests_by_route, GET_CONVERSATION);
    r.add(
        "Genesys calls for the webhooks",
        format!(
            "{} ({} conversation GETs; all delivered: {})",
            stats.api_requests - after_registrations.api_requests,
            webhook_gets,
            if drained { "yes" } else { "NO" }
        ),
    );
    r.add_peak_rss(&h.peak_rss_mib());
    drop(h);

    realistic_by_number(setup, &mut r).await?;
    Ok(r)
}

/// The realistic scenario's load — 50 calls, 1 to 4 webhooks each within 3 s, Genesys' 300 a
/// minute — with the calls registered with their participant id and the CRM posting by number.
async fn realistic_by_number(setup: Setup<'_>, r: &mut Report) -> anyhow::Result<()> {
    const CALLS: usize = 50;
    const LIMIT: u32 = 300;
    let h = harness::start(setup, Some(LIMIT), Some(LIMIT), CALLS).await?;
    let http = reqwest::Client::new();
    let addrs = h.addrs();
    for call in 0..CALLS {
        let answer = http
            .post(format!("http://{}/v1/calls", addrs[call % addrs.len()]))
            .bearer_auth(IVR_TOKEN)
            .json(&serde_json::json!({
                "conversationId": format!("bench-{call}"),
                "participantId": format!("customer-{call}"),
                "ani": format!("tel:{}", caller(call)),
            }))
            .send()
            .await?;
        anyhow::ensure!(answer.status() == 200, "registration {call}");
    }
    let mut plan: Vec<(Duration, usize, u64)> = Vec::new();
    // Event ids of their own: on PostgreSQL this part shares the first part's database, whose
    // idempotency keys would make these duplicates.
    let mut seq = 1_000_000u64;
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
    let verifier = Arc::new(h.verifier.clone());
    let start = tokio::time::Instant::now();
    let first_sent = Instant::now();
    let mut tasks = Vec::new();
    for (index, (at, call, seq)) in plan.iter().copied().enumerate() {
        let (verifier, addr) = (Arc::clone(&verifier), addrs[index % addrs.len()]);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start + at).await;
            let mut conn = Connection::open(addr).await?;
            let (status, _) = conn.send(&webhook_by_number(&verifier, call, seq)?).await?;
            anyhow::Ok(status)
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += usize::from(task.await?? == 202);
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut landed = None;
    while Instant::now() < deadline {
        let done = last_seq.iter().all(|(call, seq)| {
            h.sim
                .simulator
                .participant_attributes(&format!("bench-{call}"), &format!("customer-{call}"))
                .and_then(|a| a.get("benchSeq").cloned())
                == Some(seq.to_string())
        });
        if done {
            landed = Some(first_sent.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = h.sim.simulator.stats();
    r.add(
        "realistic by number: webhooks accepted (202)",
        format!("{accepted} of {} for {CALLS} registered calls", plan.len()),
    );
    r.add(
        "realistic by number: Genesys calls per webhook",
        format!(
            "{:.2} ({} calls: {} conversation GETs, 429s {})",
            stats.api_requests as f64 / plan.len() as f64,
            stats.api_requests,
            gets(&h),
            stats.rate_limited
        ),
    );
    r.add(
        "realistic by number: first webhook -> last attribute",
        match landed {
            Some(took) => format!("{:.1} s", took.as_secs_f64()),
            None => "NOT ALL LANDED within 180 s".to_owned(),
        },
    );
    Ok(())
}

fn gets(h: &Harness) -> u64 {
    count(&h.sim.simulator.stats().requests_by_route, GET_CONVERSATION)
}

fn count(routes: &std::collections::BTreeMap<String, u64>, route: &str) -> u64 {
    routes.get(route).copied().unwrap_or(0)
}

/// Until `expected` jobs are delivered (or `limit`).
async fn drained(h: &Harness, expected: u64, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(counts) = h.count_jobs().await
            && counts.delivered + counts.dead >= expected
        {
            return counts.dead == 0;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
