//! Secret rotation: during a rotation the old and the new secret verify; an old secret past its
//! `not_after` is refused; a source whose every secret expired refuses everything.

use super::*;

/// Every scheme that has secrets to rotate.
fn rotating() -> impl Iterator<Item = &'static Case> {
    CASES.iter().filter(|case| case.old.is_some())
}

const LONG_AGO: &str = "2020-01-01T00:00:00Z";

/// Per scheme: `-rotating` (old still accepted, new current), `-retired` (old expired), and the
/// signers `-old` and `-new` that hold one secret each.
fn rotation_sources() -> String {
    let mut toml = String::new();
    for case in rotating() {
        let (s, verifier) = (case.source, case.verifier);
        let (old, new) = (case.old.unwrap(), case.secret.unwrap());
        let (old_toml, new_toml) = (toml_string(old), toml_string(new));
        let rotating = format!("secrets = [{{ value = {old_toml} }}]\nsecret = {new_toml}");
        let retired = format!(
            "secrets = [{{ value = {old_toml}, not_after = \"{LONG_AGO}\" }}]\nsecret = {new_toml}"
        );
        toml += &source_toml(&format!("{s}-rotating"), verifier, &rotating);
        toml += &source_toml(&format!("{s}-retired"), verifier, &retired);
        toml += &source_toml(&format!("{s}-old"), verifier, &secret_line(old));
        toml += &source_toml(&format!("{s}-new"), verifier, &secret_line(new));
    }
    let github = r#"{ type = "github" }"#;
    let retiring = r#"secrets = [{ value = "an older secret", not_after = "2999-01-01T00:00:00Z" }]
secret = "It's a Secret to Everybody""#;
    toml += &source_toml("github-retiring", github, retiring);
    let expired =
        format!(r#"secrets = [{{ value = "an older secret", not_after = "{LONG_AGO}" }}]"#);
    toml += &source_toml("github-expired", github, &expired);
    toml
}

/// Signs as `signer` would, and sends to `target`: same scheme, another secret list.
async fn send_signed_as(
    app: &TestApp,
    signer: &str,
    target: &str,
    conversation: &str,
) -> reqwest::Response {
    let body = event(conversation, "ACC-1");
    let (url, headers) = app.sign_for(signer, &body, "");
    let url = url.replacen(
        &format!("/webhooks/{signer}"),
        &format!("/webhooks/{target}"),
        1,
    );
    app.post_raw(&url, &headers, &body).await
}

#[tokio::test]
async fn during_a_rotation_old_and_new_secrets_both_verify() {
    let app = spawn_unpaced(&rotation_sources(), None).await;
    let mut landings = Vec::new();
    for case in rotating() {
        let target = format!("{}-rotating", case.source);
        for signer in ["old", "new"] {
            let conversation = format!("{}-{signer}", target);
            let account = [(account_of(&target), "ACC-1")];
            landings.push(Landing::expect(&app, &conversation, &account));
            let signer = format!("{}-{signer}", case.source);
            let response = send_signed_as(&app, &signer, &target, &conversation).await;
            expect_accepted(response, &format!("{signer} -> {target}")).await;
        }
    }
    expect_landed(&app, &landings).await;
}

#[tokio::test]
async fn an_old_secret_past_not_after_is_refused_and_the_new_one_still_works() {
    let app = spawn_unpaced(&rotation_sources(), None).await;
    let mut landings = Vec::new();
    for case in rotating() {
        let target = format!("{}-retired", case.source);
        let old = format!("{}-old", case.source);
        let conversation = format!("{target}-old");
        let response = send_signed_as(&app, &old, &target, &conversation).await;
        let reason = match case.auth {
            Auth::Credential => "invalid_credential",
            Auth::Mac { .. } | Auth::Open => "no_match",
        };
        expect_rejected(response, reason, &format!("{old} -> {target}")).await;

        let new = format!("{}-new", case.source);
        let conversation = format!("{target}-new");
        let account = [(account_of(&target), "ACC-1")];
        landings.push(Landing::expect(&app, &conversation, &account));
        let response = send_signed_as(&app, &new, &target, &conversation).await;
        expect_accepted(response, &format!("{new} -> {target}")).await;
    }
    expect_landed(&app, &landings).await;
    // An expiry still ahead changes nothing yet.
    let response = send_signed_as(&app, "github-old", "github-retiring", "retiring-old").await;
    expect_accepted(response, "github-old -> github-retiring").await;
}

#[tokio::test]
async fn a_source_whose_every_secret_expired_refuses_everything() {
    let app = spawn_unpaced(&rotation_sources(), None).await;
    for signer in ["github-old", "github-new"] {
        let response = send_signed_as(&app, signer, "github-expired", signer).await;
        expect_rejected(response, "no_active_secret", signer).await;
    }
}
