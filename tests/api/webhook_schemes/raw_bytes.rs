//! Signatures cover the bytes as sent: awkward JSON verifies and its values land decoded; the
//! same JSON re-serialised no longer matches.

use super::*;

/// JSON whose bytes a re-serialiser would change: CRLF, tabs, `\/`, `\u0026`, a raw and an
/// escaped emoji, and a trailing newline after the document.
fn awkward_event(conversation: &str) -> Vec<u8> {
    [
        "{\r\n  \"conversationId\" :\t\"",
        conversation,
        "\" ,\n  \"fields\" : { \"path\": \"a\\/b\", \"amp\": \"\\u0026\",\n\t",
        "\"emoji\": \"😀\", \"escapedEmoji\": \"\\ud83d\\ude00\", \"spaced\": \"  x \\n\" }  \n}\n\n",
    ]
    .concat()
    .into_bytes()
}

#[tokio::test]
async fn raw_bytes_are_verified_as_sent_and_values_land_decoded() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    let mut landings = Vec::new();
    for case in CASES {
        let conversation = format!("{}-awkward", case.source);
        let key = |field: &str| format!("{}.{field}", case.source);
        let decoded = [
            (key("path"), "a/b"),
            (key("amp"), "&"),
            (key("emoji"), "😀"),
            (key("escapedEmoji"), "😀"),
            (key("spaced"), "  x \n"),
        ];
        landings.push(Landing::expect(&app, &conversation, &decoded));
        let response = app
            .send_signed(case.source, &awkward_event(&conversation))
            .await;
        expect_accepted(response, case.source).await;
    }
    expect_landed(&app, &landings).await;
}

#[tokio::test]
async fn a_re_serialised_body_no_longer_matches_its_signature() {
    let app = spawn_unpaced(&all_schemes(), None).await;
    for case in CASES.iter().filter(|c| matches!(c.auth, Auth::Mac { .. })) {
        let conversation = format!("{}-reserialised", case.source);
        let body = awkward_event(&conversation);
        let (url, headers) = app.sign_for(case.source, &body, "");
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        let compact = serde_json::to_vec(&parsed).unwrap();
        assert_ne!(compact, body);
        let response = app.post_raw(&url, &headers, &compact).await;
        expect_rejected(response, "no_match", case.source).await;
    }
}
