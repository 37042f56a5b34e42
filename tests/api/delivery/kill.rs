//! A `202` survives `kill -9`: a real `genesys-bridge serve` is killed in the middle of a burst,
//! restarted on the same store, and every accepted webhook lands, in order.

use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use genesys_bridge::simulator::{
    Conversation, Fault, NewConversation, RecordedRequest, SimConfig, Simulator,
};
use reqwest::StatusCode;
use serde_json::Value;
use time::OffsetDateTime;

use super::process::{BridgeProcess, ProcessDir, child_profile};
use super::{ACCOUNT_KEY, Ops, Sender, webhook};
use crate::helpers::spawn_sim;

const LANES: usize = 30;
const PER_LANE: usize = 10;
const KILL_AFTER: usize = 100;

/// One conversation's webhooks, sent one after the other (each after the previous one's
/// answer), so their order is known.
#[derive(Debug, Default)]
struct Lane {
    conversation: String,
    customer: String,
    /// Delivery ids of the webhooks answered 202, in order (`None`: the body was cut short).
    accepted: Vec<Option<String>>,
    /// The webhook after the accepted ones got no answer: the bridge died with it in hand, so
    /// it may or may not have been committed.
    unanswered: bool,
    /// Answers other than 202 (there should be none).
    refused: Vec<u16>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_answered_202_survive_kill_9_in_the_middle_of_a_burst() {
    // The simulator lives in this process, so it outlives the bridge.
    let sim = spawn_sim(SimConfig {
        rate_limit: None,
        ..SimConfig::default()
    })
    .await;
    let mut lanes: Vec<Lane> = (0..LANES)
        .map(|i| {
            let conversation = format!("burst-{i:02}");
            let created = sim
                .simulator
                .create_conversation(NewConversation::with_id(&conversation));
            Lane {
                customer: customer_of(&created),
                conversation,
                ..Lane::default()
            }
        })
        .collect();
    // A slow first contact with each call: the first process dies before it writes anything.
    sim.simulator.inject_fault(
        Fault::new("/api/v2/conversations/*")
            .with_method("GET")
            .with_latency_ms(1_000)
            .times(LANES as u32),
    );
    // The slow first contacts take 1 s; the lease only has to outlast them, and bounds how
    // long the restart waits for the dead process's deliveries on PostgreSQL.
    let dir = ProcessDir::with_profile(&child_profile(&sim.base_url, "3s")).await;
    let mut first = BridgeProcess::start(&dir, "first").await;
    let sender = Arc::new(Sender::new(dir.path(), "crm", &first.base_url));

    let (count, mut counted) = tokio::sync::watch::channel(0usize);
    let count = Arc::new(count);
    let mut running = Vec::new();
    for lane in lanes.drain(..) {
        let (sender, count) = (Arc::clone(&sender), Arc::clone(&count));
        running.push(tokio::spawn(async move {
            let mut lane = lane;
            for k in 0..PER_LANE {
                let body = burst_webhook(&lane.conversation, k);
                match sender
                    .try_post(&body, None, OffsetDateTime::now_utc(), &[])
                    .await
                {
                    Ok(answer) if answer.status() == StatusCode::ACCEPTED => {
                        let id = answer
                            .json::<Value>()
                            .await
                            .ok()
                            .and_then(|b| b["delivery_id"].as_str().map(str::to_owned));
                        lane.accepted.push(id);
                        count.send_modify(|n| *n += 1);
                    }
                    Ok(answer) => {
                        lane.refused.push(answer.status().as_u16());
                        break;
                    }
                    Err(_) => {
                        lane.unanswered = true;
                        break;
                    }
                }
            }
            lane
        }));
    }
    tokio::time::timeout(
        Duration::from_secs(20),
        counted.wait_for(|n| *n >= KILL_AFTER),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{KILL_AFTER} webhooks were not accepted within 20 s:\n{}",
            first.log()
        )
    })
    .unwrap();
    let status = first.kill_9();
    assert_eq!(
        status.signal(),
        Some(9),
        "the bridge died of SIGKILL: {status:?}"
    );
    let patched_before_restart = successful_patches(&sim.simulator, "burst-").len();

    for lane in running {
        lanes.push(
            tokio::time::timeout(Duration::from_secs(20), lane)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let accepted: usize = lanes.iter().map(|l| l.accepted.len()).sum();
    let unanswered = lanes.iter().filter(|l| l.unanswered).count();
    assert!(accepted >= KILL_AFTER, "{accepted}");
    assert!(
        accepted < LANES * PER_LANE,
        "the kill came after the whole burst"
    );
    for lane in &lanes {
        assert!(
            lane.refused.is_empty(),
            "{}: refused {:?}",
            lane.conversation,
            lane.refused
        );
    }
    assert!(
        patched_before_restart < accepted,
        "the first process had delivered everything before it died ({patched_before_restart} PATCHes)"
    );

    let second = BridgeProcess::start(&dir, "second").await;
    let ops = Ops::new(&second.base_url);
    // Drained: one listing (one consistent snapshot) where every job is finished.
    let deadline = Instant::now() + Duration::from_secs(20);
    let all = loop {
        let (status, page) = ops.get("/deliveries?limit=500").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let unfinished: Vec<&Value> = items
            .iter()
            .filter(|d| d["status"] != "delivered" && d["status"] != "dead")
            .collect();
        if unfinished.is_empty() {
            break items;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted bridge left {} of {} jobs unfinished after 20 s, e.g. {}\n{}",
            unfinished.len(),
            items.len(),
            unfinished[0],
            second.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let dead: Vec<&Value> = all.iter().filter(|d| d["status"] == "dead").collect();
    assert!(dead.is_empty(), "dead letters: {dead:?}\n{}", second.log());
    // What is stored: every accepted webhook, plus at most the one per lane that died in hand.
    assert!(
        (accepted..=accepted + unanswered).contains(&all.len()),
        "{} jobs stored for {accepted} accepted and {unanswered} unanswered webhooks",
        all.len()
    );
    for id in lanes.iter().flat_map(|l| l.accepted.iter().flatten()) {
        assert!(
            all.iter()
                .any(|d| d["delivery_id"] == id.as_str() && d["status"] == "delivered"),
            "accepted delivery {id} is not delivered"
        );
    }
    // Webhook k of a lane writes its own key `seen{k}` and sets the shared account id to the
    // same value. PATCHes merge, so the participant's attributes are the union of every PATCH
    // that landed. Exact expectations per lane, with `a` webhooks answered 202:
    // - `seen0..seen{a-1}` are all there with their values: nothing accepted is lost;
    // - `seen{a}` may be there only if that request died in hand (committed, answer lost), and
    //   no later key is, since those were never sent;
    // - the account id is the value of the newest webhook that landed: order is kept.
    for lane in &lanes {
        let landed = sim
            .simulator
            .participant_attributes(&lane.conversation, &lane.customer)
            .unwrap_or_default();
        let a = lane.accepted.len();
        for k in 0..a {
            assert_eq!(
                landed.get(&format!("seen{k}")),
                Some(&burst_value(&lane.conversation, k)),
                "{}: accepted webhook {k} is lost; landed {landed:?}",
                lane.conversation
            );
        }
        let newest = if lane.unanswered && landed.contains_key(&format!("seen{a}")) {
            Some(a)
        } else {
            a.checked_sub(1)
        };
        for k in newest.map_or(0, |n| n + 1)..=PER_LANE {
            assert!(
                !landed.contains_key(&format!("seen{k}")),
                "{}: {landed:?}",
                lane.conversation
            );
        }
        assert_eq!(
            landed.get(ACCOUNT_KEY),
            newest.map(|n| burst_value(&lane.conversation, n)).as_ref(),
            "{}: the last accepted value is not the one left",
            lane.conversation
        );
    }
}

fn burst_value(conversation: &str, k: usize) -> String {
    format!("{conversation}#{k}")
}

fn burst_webhook(conversation: &str, k: usize) -> Vec<u8> {
    let value = burst_value(conversation, k);
    webhook(
        conversation,
        &[("accountId", &value), (&format!("seen{k}"), &value)],
    )
}

fn customer_of(conversation: &Conversation) -> String {
    conversation
        .participants
        .iter()
        .find(|p| p.purpose == "customer")
        .expect("default conversations have a customer")
        .id
        .clone()
}

/// Attributes PATCHes answered 202 on conversations whose id starts with `prefix`.
fn successful_patches(sim: &Simulator, prefix: &str) -> Vec<RecordedRequest> {
    let prefix = format!("/api/v2/conversations/{prefix}");
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.starts_with(&prefix) && r.status == 202)
        .collect()
}
