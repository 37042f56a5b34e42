//! What each scheme's proof holds a request to: a fresh request lands; a flipped body byte fails
//! every MAC; a missing, repeated, empty or garbled proof is refused by name; a signed timestamp
//! outside the window is stale or future.

use super::*;

/// `headers` without the scheme's proof, and `url` without a query credential.
fn strip_proof(
    case: &Case,
    url: &str,
    headers: &[(String, String)],
) -> (String, Vec<(String, String)>) {
    match case.proof {
        Proof::Header(name) => {
            let kept = headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
                .cloned()
                .collect::<Vec<_>>();
            assert!(kept.len() < headers.len(), "{} signs {name}", case.source);
            (url.to_owned(), kept)
        }
        Proof::Query(param) => {
            let (path, query) = url.split_once('?').expect("a query credential");
            assert!(query.starts_with(&format!("{param}=")), "{url}");
            (path.to_owned(), headers.to_vec())
        }
        Proof::Nothing => (url.to_owned(), headers.to_vec()),
    }
}

#[tokio::test]
async fn every_scheme_accepts_a_fresh_request_and_the_fields_land() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-fresh", case.source);
        let account = [(account_of(case.source), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let response = app
            .send_signed(case.source, &event(&conversation, "ACC-1"))
            .await;
        expect_accepted(response, case.source).await;
    }
    expect_landed(&app, &landings).await;
}

#[tokio::test]
async fn a_flipped_body_byte_fails_every_mac_and_passes_credentials() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-tampered", case.source);
        let body = event(&conversation, "ACC-1");
        let (url, headers) = app.sign_for(case.source, &body, "");
        let mut tampered = body.clone();
        let at = tampered.windows(5).position(|w| w == b"ACC-1").unwrap() + 4;
        tampered[at] ^= 0x01; // "ACC-1" becomes "ACC-0"
        let response = app.post_raw(&url, &headers, &tampered).await;
        match case.auth {
            Auth::Mac { .. } => {
                expect_rejected(response, "no_match", case.source).await;
            }
            // A credential does not cover the body, so the altered value is what lands.
            Auth::Credential | Auth::Open => {
                let account = [(account_of(case.source), "ACC-0")];
                landings.push(Landing::expect(&app, &conversation, &account));
                expect_accepted(response, case.source).await;
            }
        }
    }
    expect_landed(&app, &landings).await;
    let written: Vec<_> = CASES
        .iter()
        .map(|case| format!("{}-tampered", case.source))
        .filter(|conversation| patches_to(&app, conversation) > 0)
        .collect();
    let expected: Vec<_> = landings.iter().map(|l| l.conversation.clone()).collect();
    assert_eq!(written, expected, "no tampered MAC request was written");
}

#[tokio::test]
async fn a_missing_signature_or_credential_is_refused_by_name() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    for case in CASES {
        let conversation = format!("{}-unsigned", case.source);
        app.call_with_customer(&conversation);
        let body = event(&conversation, "ACC-1");
        let (url, headers) = app.sign_for(case.source, &body, "");
        let (url, headers) = strip_proof(case, &url, &headers);
        let response = app.post_raw(&url, &headers, &body).await;
        match (case.auth, case.proof) {
            (Auth::Mac { .. }, Proof::Header(name)) => {
                let problem = expect_rejected(response, "missing_header", case.source).await;
                let detail = problem["detail"].as_str().unwrap();
                assert!(detail.contains(name), "{}: {detail}", case.source);
            }
            (Auth::Credential, _) => {
                expect_rejected(response, "missing_credential", case.source).await;
            }
            // `none` has nothing to leave out: it takes the request as it is.
            (Auth::Open, _) => {
                expect_accepted(response, case.source).await;
            }
            (auth, proof) => panic!("{}: no expectation for {auth:?} {proof:?}", case.source),
        }
    }
}

#[tokio::test]
async fn a_signature_or_credential_sent_twice_is_refused() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    for case in CASES {
        let body = event(&format!("{}-twice", case.source), "ACC-1");
        let (url, mut headers) = app.sign_for(case.source, &body, "");
        match case.proof {
            Proof::Header(name) => {
                let sent = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .cloned()
                    .expect("the proof header is signed");
                headers.push(sent);
                let response = app.post_raw(&url, &headers, &body).await;
                let problem = expect_rejected(response, "duplicate_header", case.source).await;
                let detail = problem["detail"].as_str().unwrap().to_ascii_lowercase();
                assert!(detail.contains(name), "{}: {detail}", case.source);
            }
            Proof::Query(param) => {
                let (_, query) = url.split_once('?').unwrap();
                let response = app
                    .post_raw(&format!("{url}&{query}"), &headers, &body)
                    .await;
                let problem = expect_rejected(response, "duplicate_parameter", case.source).await;
                let detail = problem["detail"].as_str().unwrap();
                assert!(detail.contains(param), "{}: {detail}", case.source);
                assert!(!detail.contains("k/ey"), "never echoes the key: {detail}");
            }
            Proof::Nothing => {}
        }
    }
}

#[tokio::test]
async fn timestamps_outside_the_window_are_stale_or_future() {
    let clock = TestClock::default();
    let app = spawn_unpaced(&all_schemes(), Some(clock.clock())).await;
    let cases = [
        (time::Duration::minutes(10), "stale"),
        (time::Duration::minutes(-10), "future"),
        (time::Duration::minutes(4), "late-but-inside"),
        (time::Duration::minutes(-4), "early-but-inside"),
    ];
    for (shift, label) in cases {
        // Signed now; the bridge's clock reads now + shift.
        clock.set(Setting::Shifted(shift));
        for case in CASES {
            let conversation = format!("{}-{label}", case.source);
            app.call_with_customer(&conversation);
            let what = format!("{} {label}", case.source);
            let response = app
                .send_signed(case.source, &event(&conversation, "ACC-1"))
                .await;
            match (case.auth, label) {
                (Auth::Mac { timestamped: true }, "stale") => {
                    let problem = expect_rejected(response, "stale_timestamp", &what).await;
                    let detail = problem["detail"].as_str().unwrap();
                    assert!(detail.contains("300s tolerance"), "{what}: {detail}");
                }
                (Auth::Mac { timestamped: true }, "future") => {
                    expect_rejected(response, "future_timestamp", &what).await;
                }
                // Inside the window, or a scheme without a signed time: the clock does not matter.
                _ => {
                    expect_accepted(response, &what).await;
                }
            }
        }
    }
}

#[tokio::test]
async fn a_proof_header_that_is_empty_or_not_utf8_is_refused() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    for case in CASES {
        let Proof::Header(name) = case.proof else {
            continue;
        };
        let body = event(&format!("{}-garbled", case.source), "ACC-1");
        let (url, headers) = app.sign_for(case.source, &body, "");
        for (label, value) in [("empty", &b""[..]), ("not UTF-8", &b"\xff\xfe\xfd"[..])] {
            let what = format!("{} {label}", case.source);
            let mut request = app.http.post(&url).body(body.clone());
            for (n, v) in headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
            {
                request = request.header(n, v);
            }
            let value = reqwest::header::HeaderValue::from_bytes(value).unwrap();
            let response = request.header(name, value).send().await.unwrap();
            let reason = match (case.auth, label) {
                (Auth::Credential, "empty") => "missing_credential",
                _ => "malformed_header",
            };
            expect_rejected(response, reason, &what).await;
        }
    }
}
