//! `sign` → `serve`: the `curl` command `sign` prints is accepted by a running bridge, its
//! attributes land on the simulator, and the bridge stops cleanly on SIGTERM.

use std::net::TcpListener;
use std::thread;
use std::time::Instant;

use crate::binaries::{LoggedChild, tool, wait_for_exit};

use super::*;

/// Two distinct ports that were free a moment ago.
fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// `curl -sS`, bounded; the status and body, or `None` when nothing answered.
fn curl_get(url: &str) -> Option<(u16, String)> {
    let mut command = tool("curl");
    command.args(["-sS", "--max-time", "2", "-w", "\n%{http_code}", url]);
    let out = run(command, Duration::from_secs(5));
    let (body, status) = out.stdout.rsplit_once('\n')?;
    let status: u16 = status.trim().parse().ok()?;
    (status != 0).then(|| (status, body.to_owned()))
}

#[test]
fn a_signed_curl_command_is_accepted_by_a_running_bridge_which_stops_cleanly_on_sigterm() {
    let (port, sim_port) = free_ports();
    let dir = ConfigDir::with(&[(
        "test.toml",
        &format!(
            r#"
[server]
port = {port}
shutdown_grace = "3s"

[simulator]
enabled = true
port = {sim_port}

[genesys]
client_id = "sim-client"
client_secret = "sim-secret"

[sources.demo]
verifier = {{ type = "standard_webhooks" }}
secret = "{DEMO_SECRET}"

[sources.demo.mapping]
fields = "/fields"

[sources.demo.mapping.keys]
accountId = "crmAccountId"
tier = "customerTier"
openCase = "crmOpenCase"
"/owner/name" = "crmOwner"
"#
        ),
    )]);
    let mut serve = bridge(dir.path(), "test", &["serve"]);
    serve.current_dir(dir.path());
    let server = LoggedChild::spawn(serve, dir.path().join("serve.log"));
    let base = format!("http://127.0.0.1:{port}");

    let deadline = Instant::now() + Duration::from_secs(15);
    while curl_get(&format!("{base}/health/live")).map(|(s, _)| s) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "the bridge did not come up within 15 s:\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(100));
    }

    let signed = run(
        bridge(
            dir.path(),
            "test",
            &["sign", "--source", "demo", "--curl", "--url", &base],
        ),
        QUICK,
    );
    assert!(signed.status.success(), "{}", signed.all());
    let mut sh = tool("sh");
    sh.args(["-c", &signed.stdout]);
    let sent = run(sh, QUICK);
    assert!(
        sent.stdout.starts_with("HTTP/1.1 202"),
        "the bridge accepts what sign printed:\n{}\n{}\n{}",
        sent.all(),
        signed.stdout,
        server.log()
    );

    let attributes_url = format!(
        "http://127.0.0.1:{sim_port}/sim/conversations/demo-conversation/participants/demo-customer/attributes"
    );
    let expected = serde_json::json!({
        "crmAccountId": "ACC-123",
        "customerTier": "gold",
        "crmOpenCase": "42",
        "crmOwner": "Ann Lee",
    });
    let deadline = Instant::now() + Duration::from_secs(3);
    let landed = loop {
        let attributes = curl_get(&attributes_url)
            .filter(|(status, _)| *status == 200)
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .map(|body| body["attributes"].clone());
        match attributes {
            Some(a) if a.as_object().is_some_and(|m| !m.is_empty()) => break a,
            _ if Instant::now() >= deadline => panic!(
                "nothing landed on demo-customer within 3 s:\n{}",
                server.log()
            ),
            _ => thread::sleep(Duration::from_millis(50)),
        }
    };
    assert_eq!(landed, expected, "{}", server.log());

    let mut server = server;
    let kill = server.signal("TERM");
    assert!(kill.status.success(), "{}", kill.all());
    let status = wait_for_exit(&mut server.child, Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM ends the bridge with exit 0 within 5 s, got {status:?}:\n{}",
        server.log()
    );
}
