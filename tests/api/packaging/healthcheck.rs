//! `genesys-bridge healthcheck`, which every probe of the files runs: 0 against a ready bridge,
//! 1 when nothing listens, its URL from `BRIDGE_HEALTHCHECK_URL`.

use super::*;

#[tokio::test]
async fn healthcheck_exits_0_against_a_ready_bridge() {
    let app = spawn_app("").await;

    let probe = run_beside(
        BRIDGE,
        strings(&["healthcheck", "--url", &app.url("/health/ready")]),
    )
    .await;

    assert!(probe.status.success(), "{}", probe.all());
    assert_eq!(
        probe.stdout,
        format!("healthy: 200 OK from {}\n", app.url("/health/ready"))
    );
}

#[tokio::test]
async fn healthcheck_exits_1_when_nothing_listens() {
    let url = format!("http://127.0.0.1:{}/health/ready", closed_port());

    let probe = run_beside(BRIDGE, strings(&["healthcheck", "--url", &url])).await;

    assert_eq!(probe.status.code(), Some(1), "{}", probe.all());
    assert!(
        probe
            .stdout
            .starts_with(&format!("unhealthy: cannot reach {url}: ")),
        "{}",
        probe.all()
    );
    assert_eq!(probe.stdout.lines().count(), 1, "{}", probe.stdout);
}

#[tokio::test]
async fn healthcheck_reads_its_url_from_bridge_healthcheck_url() {
    let url = format!("http://127.0.0.1:{}/health/ready", closed_port());
    let env = BTreeMap::from([("BRIDGE_HEALTHCHECK_URL".to_owned(), url.clone())]);

    let probe = tokio::task::spawn_blocking(move || run(BRIDGE, &strings(&["healthcheck"]), &env))
        .await
        .unwrap();

    assert_eq!(probe.status.code(), Some(1), "{}", probe.all());
    assert!(probe.stdout.contains(&url), "{}", probe.all());
}
