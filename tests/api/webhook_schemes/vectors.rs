//! The published vectors (`shared/webhook-signatures.md`): each verifies through HTTP at its
//! own time, and a one-byte change fails it.

use super::*;

/// A vector from `shared/webhook-signatures.md`: its exact body and headers, at its time.
struct Vector {
    source: &'static str,
    verifier: &'static str,
    secret: &'static str,
    at: i64,
    body: &'static str,
    headers: &'static [(&'static str, &'static str)],
    /// The body is not JSON (GitHub's and Slack's are not): verified, then refused as JSON.
    json: bool,
}

const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

const VECTORS: &[Vector] = &[
    Vector {
        source: "standard-vector-1",
        verifier: r#"{ type = "standard_webhooks" }"#,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        at: 1_614_265_330,
        body: r#"{"test": 2432232314}"#,
        headers: &[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ],
        json: true,
    },
    Vector {
        source: "standard-vector-2",
        verifier: r#"{ type = "standard_webhooks" }"#,
        secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        at: 1_649_367_553,
        body: r#"{"email":"test@example.com","username":"test_user"}"#,
        headers: &[
            ("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
            ("webhook-timestamp", "1649367553"),
            (
                "webhook-signature",
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            ),
        ],
        json: true,
    },
    Vector {
        source: "stripe-vector",
        verifier: r#"{ type = "stripe" }"#,
        secret: "whsec_test_secret",
        at: 1_492_774_577,
        body: r#"{"id":"evt_test_webhook","object":"event"}"#,
        headers: &[(
            "Stripe-Signature",
            "t=1492774577,v1=88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a",
        )],
        json: true,
    },
    Vector {
        source: "github-vector",
        verifier: r#"{ type = "github" }"#,
        secret: "It's a Secret to Everybody",
        at: 1_700_000_000,
        body: "Hello, World!",
        headers: &[(
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )],
        json: false,
    },
    Vector {
        source: "shopify-vector",
        verifier: r#"{ type = "shopify" }"#,
        secret: "hush",
        at: 1_700_000_000,
        body: r#"{"id":1}"#,
        headers: &[(
            "X-Shopify-Hmac-Sha256",
            "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=",
        )],
        json: true,
    },
    Vector {
        source: "hubspot-vector",
        verifier: r#"{ type = "hubspot_v3", public_url = "https://www.example.com/webhook_uri" }"#,
        secret: "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
        at: 1_700_000_000,
        body: r#"{"example_field":"example_value"}"#,
        headers: &[
            (
                "X-HubSpot-Signature-v3",
                "rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o=",
            ),
            ("X-HubSpot-Request-Timestamp", "1700000000000"),
        ],
        json: true,
    },
    Vector {
        source: "zendesk-vector",
        verifier: r#"{ type = "zendesk" }"#,
        secret: "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==",
        at: 1_616_648_967, // 2021-03-25T05:09:27Z
        body: r#"{"event":"ticket.updated","id":123}"#,
        headers: &[
            (
                "X-Zendesk-Webhook-Signature",
                "S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM=",
            ),
            (
                "X-Zendesk-Webhook-Signature-Timestamp",
                "2021-03-25T05:09:27Z",
            ),
        ],
        json: true,
    },
    Vector {
        source: "slack-vector",
        verifier: r#"{ type = "slack" }"#,
        secret: "8f742231b10e8888abcd99yyyzzz85a5",
        at: 1_531_420_618,
        body: SLACK_BODY,
        headers: &[
            (
                "X-Slack-Signature",
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
            ("X-Slack-Request-Timestamp", "1531420618"),
        ],
        json: false,
    },
];

fn vector_headers(vector: &Vector) -> Vec<(String, String)> {
    // Slack's body is a form, but the content type is checked before the signature, and the
    // signature covers the bytes alone.
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(
        vector
            .headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    headers
}

#[tokio::test]
async fn the_published_vectors_verify_through_http() {
    let toml: String = VECTORS
        .iter()
        .map(|v| source_toml(v.source, v.verifier, &secret_line(v.secret)))
        .collect();
    let clock = TestClock::default();
    let app = spawn_unpaced(&toml, Some(clock.clock())).await;
    for vector in VECTORS {
        let at = OffsetDateTime::from_unix_timestamp(vector.at + 30).unwrap();
        clock.set(Setting::At(at));
        let url = app.url(&format!("/webhooks/{}", vector.source));
        let headers = vector_headers(vector);
        let response = app.post_raw(&url, &headers, vector.body.as_bytes()).await;
        // Past the signature (a 401 would mean it failed); the body names no conversation.
        if vector.json {
            let problem = expect_problem(response, 422, "invalid-event").await;
            assert_eq!(
                problem["errors"][0]["pointer"], "/conversationId",
                "{}",
                vector.source
            );
            assert_eq!(problem["errors"][0]["code"], "missing", "{}", vector.source);
        } else {
            expect_problem(response, 400, "malformed-json").await;
        }

        // The control: the same request with one body byte changed fails the signature.
        let mut tampered = vector.body.as_bytes().to_vec();
        tampered[1] ^= 0x01;
        let response = app.post_raw(&url, &headers, &tampered).await;
        expect_rejected(response, "no_match", vector.source).await;
    }
}

#[tokio::test]
async fn zendesk_signatures_made_with_the_decoded_secret_are_refused() {
    let vector = VECTORS
        .iter()
        .find(|v| v.source == "zendesk-vector")
        .unwrap();
    let clock = TestClock::default();
    clock.set(Setting::At(
        OffsetDateTime::from_unix_timestamp(vector.at).unwrap(),
    ));
    let toml = source_toml(vector.source, vector.verifier, &secret_line(vector.secret));
    let app = spawn_unpaced(&toml, Some(clock.clock())).await;
    let mut headers = vector_headers(vector);
    headers[1].1 = "ElGlCykjczJm8dAh5YJyfzGb6ttTqrYPkC81bFc/ZSk=".to_owned();
    let url = app.url(&format!("/webhooks/{}", vector.source));
    let response = app.post_raw(&url, &headers, vector.body.as_bytes()).await;
    expect_rejected(response, "no_match", "decoded zendesk secret").await;
}
