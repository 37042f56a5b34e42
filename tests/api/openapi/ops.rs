//! The ops API: every documented answer of `/deliveries…`, provoked.

use genesys_bridge::simulator::Fault;

use super::*;

#[tokio::test]
async fn every_ops_answer_is_documented_and_matches_its_schema() {
    let app = spawn_app(SOURCES).await;
    app.call_with_customer("oa-ops-ok");
    let ok = accepted(&app, "oa-ops-ok").await;
    app.call_with_customer("oa-ops-dead");
    let fault = Fault::new("/api/v2/conversations/oa-ops-dead/*").with_method("PATCH");
    app.simulator.inject_fault(fault.with_status(400));
    let dead = accepted(&app, "oa-ops-dead").await;
    settled(&app, &ok, "delivered").await;
    settled(&app, &dead, "dead").await;
    let page = admin(&app, "GET", "/deliveries?status=dead&limit=1")
        .await
        .json();
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a full page has a next_cursor");
    let unknown = uuid::Uuid::now_v7();

    let wrong = "Bearer not-the-admin-token";
    #[rustfmt::skip]
    let cases: [(String, &str, u16); 23] = [
        ("GET /deliveries".into(), ADMIN, 200),
        ("GET /deliveries?status=dead&source=crm&limit=1".into(), ADMIN, 200),
        (format!("GET /deliveries?limit=1&cursor={cursor}"), ADMIN, 200),
        ("GET /deliveries?limit=0".into(), ADMIN, 400),
        ("GET /deliveries?colour=red".into(), ADMIN, 400),
        ("GET /deliveries".into(), "", 401),
        ("GET /deliveries".into(), wrong, 401),
        (format!("GET /deliveries/{ok}"), ADMIN, 200),
        (format!("GET /deliveries/{dead}"), ADMIN, 200),
        ("GET /deliveries/%FF".into(), ADMIN, 400),
        (format!("GET /deliveries/{ok}"), wrong, 401),
        (format!("GET /deliveries/{unknown}"), ADMIN, 404),
        ("GET /deliveries/not-an-id".into(), ADMIN, 404),
        (format!("POST /deliveries/{ok}/replay"), ADMIN, 409),
        (format!("POST /deliveries/{dead}/replay"), ADMIN, 200),
        ("POST /deliveries/%FF/replay".into(), ADMIN, 400),
        (format!("POST /deliveries/{dead}/replay"), "", 401),
        (format!("POST /deliveries/{unknown}/replay"), ADMIN, 404),
        ("POST /deliveries/replay?source=crm".into(), ADMIN, 200),
        ("POST /deliveries/replay?status=pending".into(), ADMIN, 400),
        ("POST /deliveries/replay?source=crm&limit=10".into(), ADMIN, 200),
        (format!("POST /deliveries/replay?cursor={cursor}"), ADMIN, 400),
        ("POST /deliveries/replay".into(), wrong, 401),
    ];
    let spec = spec();
    let mut contracts: Vec<Contract> = Vec::new();
    for (request, authorization, status) in cases {
        let (method, path) = request.split_once(' ').unwrap();
        let headers = [("authorization", authorization)];
        let headers = &headers[..usize::from(!authorization.is_empty())];
        let answer = send(&app, method, path, headers).await;
        let operation = operation_of(&spec, method, path);
        if !contracts.iter().any(|c| c.operation == operation) {
            contracts.push(Contract::new(&operation));
        }
        let contract = contracts.iter_mut().find(|c| c.operation == operation);
        let body = contract.unwrap().expect(&request, status, &answer);
        if request == format!("GET /deliveries/{dead}") {
            assert!(body["last_error"]["message"].is_string(), "{body}");
        }
    }
    for contract in contracts {
        contract.covered_except(&[
            (408, "the webhook's 408: one timeout layer"),
            (500, "a bug"),
            (503, "the webhook's 503: the same store_problem"),
        ]);
    }
    app.stop().await;
}
