//! The same event again: a repeated or freshly signed copy is a duplicate, written once (also when
//! the copies arrive together); a captured signature under a new event id is refused.

use genesys_bridge::cli::sign::{SignOptions, sign};
use genesys_bridge::config::{LoadOptions, load};

use super::*;

#[tokio::test]
async fn the_same_request_twice_is_answered_as_a_duplicate_and_written_once() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-repeated", case.source);
        let account = [(account_of(case.source), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let body = event(&conversation, "ACC-1");
        let (url, headers) = app.sign_for(case.source, &body, "");
        let first = app.post_raw(&url, &headers, &body).await;
        let delivery = expect_accepted(first, case.source).await;
        let second = app.post_raw(&url, &headers, &body).await;
        expect_duplicate(second, &delivery, case.source).await;
    }
    expect_landed(&app, &landings).await;
}

#[tokio::test]
async fn a_freshly_signed_retry_of_the_same_event_is_a_duplicate() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let now = OffsetDateTime::now_utc();
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-retried", case.source);
        let account = [(account_of(case.source), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let body = event(&conversation, "ACC-1");
        let id = format!("evt-{}", case.source);
        let (url, first) = sign_with_id(&app, case.source, &body, &id, now);
        let delivery = expect_accepted(app.post_raw(&url, &first, &body).await, case.source).await;
        // The sender missed the answer and retries a few seconds later: same event, new
        // timestamp (and so a new signature where the scheme signs one).
        let later = now + time::Duration::seconds(3);
        let (url, retry) = sign_with_id(&app, case.source, &body, &id, later);
        let response = app.post_raw(&url, &retry, &body).await;
        expect_duplicate(response, &delivery, case.source).await;
    }
    expect_landed(&app, &landings).await;
}

/// The header each scheme's event id travels in, and whether its signature covers it.
const ID_HEADERS: [(&str, &str, bool); 5] = [
    ("standard", "webhook-id", true),
    ("svix", "svix-id", true),
    ("github", "x-github-delivery", false),
    ("shopify", "x-shopify-webhook-id", false),
    ("zendesk", "x-zendesk-webhook-invocation-id", false),
];

#[tokio::test]
async fn a_captured_signature_sent_under_a_new_event_id_is_refused() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for (source, id_header, signed) in ID_HEADERS {
        let conversation = format!("{source}-relabelled");
        let account = [(account_of(source), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let body = event(&conversation, "ACC-1");
        let now = OffsetDateTime::now_utc();
        let (url, headers) = sign_with_id(&app, source, &body, "evt-1", now);
        assert!(
            headers.iter().any(|(n, _)| n == id_header),
            "{source}: {headers:?}"
        );
        expect_accepted(app.post_raw(&url, &headers, &body).await, source).await;
        // An attacker resends the captured request as a "new" event.
        let relabelled: Vec<_> = headers
            .iter()
            .map(|(n, v)| {
                let v = if n == id_header { "evt-2" } else { v.as_str() };
                (n.clone(), v.to_owned())
            })
            .collect();
        let response = app.post_raw(&url, &relabelled, &body).await;
        if signed {
            expect_rejected(response, "no_match", source).await;
        } else {
            let problem = expect_problem(response, 401, "replay").await;
            assert_eq!(problem["reason"], "replay", "{source}");
        }
    }
    expect_landed(&app, &landings).await;
}

/// Signs as `genesys-bridge sign --event-id ID` would at `at`.
fn sign_with_id(
    app: &TestApp,
    source: &str,
    body: &[u8],
    event_id: &str,
    at: OffsetDateTime,
) -> (String, Vec<(String, String)>) {
    let settings = load(&LoadOptions {
        config_dir: app.config_dir.clone(),
        profile: "test".to_owned(),
        env: Some(Default::default()),
    })
    .unwrap();
    let source = settings
        .sources
        .iter()
        .find(|s| s.name() == source)
        .unwrap();
    let options = SignOptions {
        base_url: &app.address,
        event_id: Some(event_id),
        dry_run: false,
    };
    let signed = sign(source, body, &options, at).unwrap();
    (signed.url, signed.headers)
}

#[tokio::test]
async fn copies_of_one_request_arriving_together_are_duplicates_not_replays() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-burst", case.source);
        let account = [(account_of(case.source), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let body = event(&conversation, "ACC-1");
        let (url, headers) = app.sign_for(case.source, &body, "");
        let copies: Vec<_> = (0..8)
            .map(|_| {
                let request = app.http.post(&url).body(body.clone());
                let request = headers.iter().fold(request, |request, (name, value)| {
                    request.header(name, value)
                });
                tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
            })
            .collect();
        let mut statuses = Vec::new();
        for copy in copies {
            statuses.push(copy.await.unwrap());
        }
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 200, 200, 200, 200, 200, 200, 202],
            "{}",
            case.source
        );
    }
    expect_landed(&app, &landings).await;
}
