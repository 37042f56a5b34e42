//! Access tokens: issuing them, checking them, and reading the credentials that ask for them.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::HeaderValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::time::Instant;

/// What the simulator knows about a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenStatus {
    Valid,
    Unknown,
    Expired,
}

#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    /// Expired tokens are kept so a late caller learns `credentials.expired`, not
    /// `bad.credentials`; `None` means a TTL too large to represent, i.e. never.
    expiries: HashMap<String, Option<Instant>>,
}

impl TokenStore {
    pub(crate) fn issue(&mut self, ttl: Duration, now: Instant) -> String {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.expiries.insert(token.clone(), now.checked_add(ttl));
        token
    }

    pub(crate) fn status(&self, token: &str, now: Instant) -> TokenStatus {
        match self.expiries.get(token) {
            None => TokenStatus::Unknown,
            Some(Some(expires_at)) if *expires_at <= now => TokenStatus::Expired,
            Some(_) => TokenStatus::Valid,
        }
    }
}

/// Splits `Authorization: <scheme> <credentials>`, matching the scheme case-insensitively.
pub(crate) fn credentials<'a>(header: Option<&'a HeaderValue>, scheme: &str) -> Option<&'a str> {
    let value = header?.to_str().ok()?.trim();
    let (given, rest) = value.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| rest.trim_start())
}

/// The `(client_id, client_secret)` of a Basic header, if it decodes.
pub(crate) fn basic_credentials(header: Option<&HeaderValue>) -> Option<(String, String)> {
    let encoded = credentials(header, "basic")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The value of `key` in an `application/x-www-form-urlencoded` body (first occurrence).
pub(crate) fn form_value(body: &[u8], key: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k)? == key)
            .then(|| percent_decode(v))
            .flatten()
    })
}

/// Form decoding: `+` is a space and `%XX` a byte; malformed escapes make the pair unreadable.
fn percent_decode(input: &str) -> Option<String> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode_and_scheme_is_case_insensitive() {
        let header =
            HeaderValue::from_str(&format!("bAsIc {}", STANDARD.encode("id:se:cret"))).unwrap();
        assert_eq!(
            basic_credentials(Some(&header)),
            Some(("id".to_owned(), "se:cret".to_owned()))
        );
        let garbage = HeaderValue::from_static("Basic !!!");
        assert_eq!(basic_credentials(Some(&garbage)), None);
        assert_eq!(basic_credentials(None), None);
    }

    #[test]
    fn bearer_needs_the_bearer_scheme() {
        let header = HeaderValue::from_static("BEARER abc");
        assert_eq!(credentials(Some(&header), "bearer"), Some("abc"));
        let basic = HeaderValue::from_static("Basic abc");
        assert_eq!(credentials(Some(&basic), "bearer"), None);
        let bare = HeaderValue::from_static("abc");
        assert_eq!(credentials(Some(&bare), "bearer"), None);
    }

    #[test]
    fn form_values_are_decoded() {
        let body = b"scope=a+b&grant_type=client%5Fcredentials";
        assert_eq!(
            form_value(body, "grant_type").as_deref(),
            Some("client_credentials")
        );
        assert_eq!(form_value(body, "scope").as_deref(), Some("a b"));
        assert_eq!(form_value(body, "missing"), None);
        assert_eq!(form_value(b"grant_type=%zz", "grant_type"), None);
        assert_eq!(form_value(b"grant_type=%", "grant_type"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_expire_at_issue_plus_ttl() {
        let mut store = TokenStore::default();
        let token = store.issue(Duration::from_secs(10), Instant::now());
        assert_eq!(store.status(&token, Instant::now()), TokenStatus::Valid);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(store.status(&token, Instant::now()), TokenStatus::Expired);
        assert_eq!(store.status("other", Instant::now()), TokenStatus::Unknown);
    }
}
