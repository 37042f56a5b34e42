//! The routes: the router serves exactly the documented operations, each reaches its handler,
//! and other methods are a documented 405.

use std::path::Path;

use super::*;

#[test]
fn the_router_serves_exactly_the_operations_openapi_yaml_documents() {
    let routed = routed_operations();
    let documented = documented_operations(&spec());
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed in src/http/mod.rs but not in openapi.yaml: {undocumented:?}; \
         in openapi.yaml but not routed: {unrouted:?}"
    );
}

#[tokio::test]
async fn every_documented_operation_reaches_its_handler_and_other_methods_are_405() {
    let spec = spec();
    let app = spawn_app(SOURCES).await;
    let id = uuid::Uuid::now_v7().to_string();
    for (method, path) in documented_operations(&spec) {
        let concrete = path.replace("{source}", "crm").replace("{id}", &id);
        let answer = send(
            &app,
            &method,
            &concrete,
            &[("content-type", "application/json")],
        )
        .await;
        let body = conforms(&spec, &method, &path, &answer);
        assert_ne!(answer.status, 405, "{method} {path}: {body}");
        assert_ne!(body["type"], kind("not-found"), "{method} {path}: {body}");
    }
    let paths: BTreeSet<String> = documented_operations(&spec)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    for path in paths {
        let concrete = path.replace("{source}", "crm").replace("{id}", &id);
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if spec["paths"][&path].get(method.to_lowercase()).is_some() {
                continue;
            }
            let answer = send(&app, method, &concrete, &[]).await;
            assert_eq!(answer.status, 405, "{method} {path}: {}", answer.text());
            assert!(
                answer.header("allow").is_some(),
                "{method} {path}: no Allow"
            );
            expect_problem(&spec, &answer, "method-not-allowed");
        }
    }
    let answer = send(&app, "GET", "/no/such/endpoint", &[]).await;
    assert_eq!(answer.status, 404);
    expect_problem(&spec, &answer, "not-found");
    app.stop().await;
}

/// `(METHOD, /path/{param})` of every `.route("/path", get(..).post(..))` in `src/http/mod.rs`,
/// read as text. Anything this reading would miss makes it fail instead.
fn routed_operations() -> BTreeSet<(String, String)> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/mod.rs");
    let source: String = std::fs::read_to_string(&file)
        .expect("src/http/mod.rs")
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for unread in [".nest(", ".merge(", ".route_service(", ".nest_service("] {
        assert!(
            !source.contains(unread),
            "src/http/mod.rs uses {unread}: teach routed_operations() to read it"
        );
    }
    let mut operations = BTreeSet::new();
    let mut rest = source.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("a .route( call closes");
        let (arguments, after) = rest.split_at(end);
        let mut quoted = arguments.split('"');
        let path = quoted.nth(1).expect("the route's path is a string literal");
        let handlers = &arguments[arguments.find(',').expect("a handler after the path")..];
        for (at, _) in handlers.match_indices('(') {
            let name_start = handlers[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            let name = &handlers[name_start..at];
            assert!(
                !matches!(name, "any" | "on" | "any_service" | "on_service"),
                "route {path} uses {name}(): teach routed_operations() to read it"
            );
            if METHODS.contains(&name) {
                operations.insert((name.to_uppercase(), path.to_owned()));
            }
        }
        rest = after;
    }
    assert!(
        !operations.is_empty(),
        "no .route( found in src/http/mod.rs"
    );
    operations
}
