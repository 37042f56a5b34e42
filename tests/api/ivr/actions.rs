//! The Genesys kit end to end: `genesys-bridge data-actions` prints the two actions, the
//! simulator imports them (the contract rules of `genesys-ivr.md`) and executes them against
//! the running bridge as a flow's *Call Data Action* step would.

use std::time::Duration;

use genesys_bridge::simulator::{
    ActionCredentials, ActionOutcome, ActionRun, CredentialType, Exit, InboundCall,
};
use serde_json::{Map, Value, json};

use super::*;
use crate::binaries::{bridge, run};

/// The actions `data-actions` prints for this app's configuration, keyed by file name.
fn kit(app: &TestApp, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["data-actions", "--url", &app.address];
    args.extend_from_slice(extra);
    let done = run(
        bridge(&app.config_dir, "test", &args),
        Duration::from_secs(30),
    );
    assert!(done.status.success(), "{}", done.all());
    match serde_json::from_str::<Value>(&done.stdout).expect("JSON on stdout") {
        Value::Array(actions) => actions,
        one => vec![one],
    }
}

fn named<'a>(actions: &'a [Value], name: &str) -> &'a Value {
    actions
        .iter()
        .find(|a| a["name"].as_str().is_some_and(|n| n.starts_with(name)))
        .unwrap_or_else(|| panic!("no action {name} in {actions:?}"))
}

fn token() -> ActionCredentials {
    ActionCredentials {
        kind: CredentialType::UserDefined,
        fields: json!({"token": "test-ivr-token-0123456789"})
            .as_object()
            .cloned()
            .unwrap(),
    }
}

async fn execute(app: &TestApp, action: &Value, input: Value) -> ActionOutcome {
    execute_with(app, action, input, token()).await
}

async fn execute_with(
    app: &TestApp,
    action: &Value,
    input: Value,
    credentials: ActionCredentials,
) -> ActionOutcome {
    app.simulator
        .execute_action(&ActionRun {
            action: action.clone(),
            input: input.as_object().cloned().unwrap_or_default(),
            credentials,
        })
        .await
        .unwrap_or_else(|e| panic!("{} does not import: {e}", action["name"]))
}

/// The properties a success schema lists.
fn schema_keys(action: &Value) -> Vec<String> {
    action["contract"]["output"]["successSchema"]["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_flow_registers_the_crm_posts_by_number_and_the_flow_pulls_it() {
    let app = ivr_app().await;
    let actions = kit(&app, &[]);
    assert_eq!(actions.len(), 2);
    let conversation = app.simulator.start_call(InboundCall {
        ani: "+13175550142".into(),
        dnis: Some("+18005550100".into()),
        ..InboundCall::default()
    });
    let customer = &conversation.participants[1];
    assert_eq!(customer.purpose, "customer");
    assert_eq!(customer.ani.as_deref(), Some("tel:+13175550142"));

    // Register call, with what a flow has: Call.ConversationId and Call.Ani.
    let registered = execute(
        &app,
        named(&actions, "Bridge - Register call"),
        json!({"conversationId": conversation.id, "ani": "tel:+13175550142", "dnis": "tel:+18005550100"}),
    )
    .await;
    assert_eq!(registered.exit, Exit::Success, "{registered:?}");
    assert_eq!(registered.outputs["status"], "registered");
    assert_eq!(registered.outputs["ani"], "+13175550142");
    assert_eq!(registered.request.method, "POST");

    // Get CRM data before anything arrived, without waiting: pending, every key "".
    let pull = named(&actions, "Bridge - Get CRM data");
    let early = execute(
        &app,
        pull,
        json!({"conversationId": conversation.id, "waitMs": 0}),
    )
    .await;
    assert_eq!(early.exit, Exit::Success, "{early:?}");
    assert_eq!(early.outputs["status"], "pending");
    assert_eq!(early.outputs["found"], false);
    for key in ["customerTier", "crmAccountId", "crmOpenCase"] {
        assert_eq!(early.outputs[key], "", "{key} in {early:?}");
    }

    // The CRM posts by number while the flow waits.
    let waiting = {
        let pull = pull.clone();
        let simulator = app.simulator.clone();
        let id = conversation.id.clone();
        tokio::spawn(async move {
            simulator
                .execute_action(&ActionRun {
                    action: pull,
                    input: json!({"conversationId": id, "waitMs": 4000})
                        .as_object()
                        .cloned()
                        .unwrap(),
                    credentials: token(),
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, accepted) = webhook(
        &app,
        "phone",
        json!({"phone": "317.555.0142", "fields": fields(&[("tier", "gold"), ("accountId", "ACC-42")])}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let found = waiting.await.unwrap().expect("imports");
    assert_eq!(found.exit, Exit::Success, "{found:?}");
    assert_eq!(found.outputs["status"], "found");
    assert_eq!(found.outputs["found"], true);
    assert_eq!(found.outputs["customerTier"], "gold");
    assert_eq!(found.outputs["crmAccountId"], "ACC-42");
    assert!(
        found.elapsed_ms < 3000,
        "the pull answered when the webhook was committed, not at the end of its wait: {found:?}"
    );
    assert!(
        found
            .request
            .url
            .contains(&format!("/v1/calls/{}/data?waitMs=4000", conversation.id)),
        "{}",
        found.request.url
    );
    app.stop().await;
}

#[tokio::test]
async fn the_success_schema_lists_every_mapped_key_and_the_inputs_the_call_keys() {
    let app = ivr_app().await;
    let actions = kit(&app, &[]);
    let pull = named(&actions, "Bridge - Get CRM data");
    let mut keys = schema_keys(pull);
    keys.sort();
    assert_eq!(
        keys,
        [
            "ageSeconds",
            "crmAccountId",
            "crmOpenCase",
            "customerTier",
            "found",
            "status"
        ]
    );
    let register = named(&actions, "Bridge - Register call");
    let inputs = register["contract"]["input"]["inputSchema"]["properties"]
        .as_object()
        .unwrap();
    assert!(inputs.contains_key("accountNumber"), "{inputs:?}");
    assert_eq!(
        register["contract"]["input"]["inputSchema"]["required"],
        json!(["conversationId"])
    );
    // Above ivr.max_wait (5 s), within Genesys' 1-60.
    assert_eq!(pull["config"]["timeoutSeconds"], 8);
    assert_eq!(
        pull["config"]["request"]["headers"]["Authorization"],
        "Bearer ${credentials.token}"
    );

    // One source: its keys only, its name in the actions' names.
    let account = kit(&app, &["--source", "account"]);
    let pull = named(&account, "Bridge - Get CRM data (account)");
    let mut keys = schema_keys(pull);
    keys.sort();
    assert_eq!(keys, ["ageSeconds", "crmOpenCase", "found", "status"]);

    // One action: one importable object.
    let one = kit(&app, &["--action", "get-crm-data"]);
    assert_eq!(one.len(), 1);
    assert!(one[0]["name"].as_str().unwrap().contains("Get CRM data"));
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_call_is_a_success_with_a_status_and_a_wrong_token_is_a_failure() {
    let app = ivr_app().await;
    let actions = kit(&app, &[]);
    let pull = named(&actions, "Bridge - Get CRM data");
    let unknown = execute(
        &app,
        pull,
        json!({"conversationId": "never-registered", "waitMs": 0}),
    )
    .await;
    assert_eq!(unknown.exit, Exit::Success, "{unknown:?}");
    assert_eq!(unknown.outputs["status"], "unknown_call");

    let wrong = ActionCredentials {
        kind: CredentialType::UserDefined,
        fields: json!({"token": "not-the-token-at-all"})
            .as_object()
            .cloned()
            .unwrap(),
    };
    let refused = execute_with(
        &app,
        pull,
        json!({"conversationId": "never-registered", "waitMs": 0}),
        wrong,
    )
    .await;
    assert_eq!(refused.exit, Exit::Failure);
    assert_eq!(refused.status_code, Some(401));

    // A malformed conversation id is the bridge's 400: the Failure exit, right for a broken flow.
    let broken = execute(
        &app,
        named(&actions, "Bridge - Register call"),
        json!({"conversationId": "", "ani": "tel:+13175550142"}),
    )
    .await;
    assert_eq!(broken.exit, Exit::Failure, "{broken:?}");
    assert_eq!(broken.status_code, Some(400));
    app.stop().await;
}

#[tokio::test]
async fn a_pull_outlasting_the_action_timeout_takes_the_timeout_exit() {
    let app = ivr_app().await;
    let conversation = app.simulator.start_call(InboundCall {
        ani: "+13175550143".into(),
        ..InboundCall::default()
    });
    let actions = kit(&app, &[]);
    let (status, _) = register(
        &app,
        json!({"conversationId": conversation.id, "ani": "+13175550143"}),
    )
    .await;
    assert_eq!(status, 200);
    let mut impatient = named(&actions, "Bridge - Get CRM data").clone();
    impatient["config"]["timeoutSeconds"] = json!(1);
    let timed_out = execute(
        &app,
        &impatient,
        json!({"conversationId": conversation.id, "waitMs": 3000}),
    )
    .await;
    assert_eq!(timed_out.exit, Exit::Timeout, "{timed_out:?}");
    app.stop().await;
}

#[tokio::test]
async fn an_answer_that_breaks_the_success_schema_takes_the_failure_exit() {
    let app = ivr_app().await;
    let actions = kit(&app, &[]);
    let mut strict = named(&actions, "Bridge - Get CRM data").clone();
    strict["contract"]["output"]["successSchema"]["properties"]["ageSeconds"] =
        json!({"type": "string"});
    let failed = execute(
        &app,
        &strict,
        json!({"conversationId": "never-registered", "waitMs": 0}),
    )
    .await;
    assert_eq!(failed.exit, Exit::Failure, "{failed:?}");
    assert!(
        failed.error.as_deref().unwrap_or("").contains("ageSeconds"),
        "{failed:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_control_api_starts_calls_and_refuses_actions_that_would_not_import() {
    let app = ivr_app().await;
    let started: Value = app
        .http
        .post(format!("{}/sim/calls", app.sim_url))
        .json(&json!({"conversationId": "sim-call-1", "ani": "+13175550144"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(started["id"], "sim-call-1");
    assert_eq!(started["participants"][1]["ani"], "tel:+13175550144");

    let actions = kit(&app, &[]);
    let mut unescaped = named(&actions, "Bridge - Get CRM data").clone();
    unescaped["config"]["request"]["requestUrlTemplate"] = json!(format!(
        "{}/v1/calls/${{input.conversationId}}/data",
        app.address
    ));
    let answer = app
        .http
        .post(format!("{}/sim/actions/execute", app.sim_url))
        .json(&json!({"action": unescaped, "input": {"conversationId": "x", "waitMs": 0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let problem: Value = answer.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("must be escaped with $esc.url"),
        "{problem}"
    );

    // The HTTP twin of execute_action.
    let register = named(&actions, "Bridge - Register call");
    let outcome: Value = app
        .http
        .post(format!("{}/sim/actions/execute", app.sim_url))
        .json(&json!({
            "action": register,
            "input": {"conversationId": "sim-call-1", "ani": "tel:+13175550144"},
            "credentials": {"type": "userDefined", "token": "test-ivr-token-0123456789"},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(outcome["exit"], "success", "{outcome}");
    assert_eq!(outcome["outputs"]["conversationId"], "sim-call-1");
    let _: Map<String, Value> = outcome["outputs"].as_object().cloned().unwrap();
    app.stop().await;
}
