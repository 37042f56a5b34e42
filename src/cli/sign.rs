//! `genesys-bridge sign`: signs a payload with a source's scheme and current secret, as headers
//! or as a complete curl command — how developers replay payloads.

use std::fmt::Write as _;

use axum::http::Method;
use time::OffsetDateTime;

use serde_json::Value;

use crate::webhook::event::CallBy;
use crate::webhook::signature::{SignRequest, SignatureError, SignedParts};
use crate::webhook::source::Source;

/// Signed when no `--file` is given: a payload for the local demo's source and conversation.
pub const SAMPLE_PAYLOAD: &str = r#"{"conversationId":"demo-conversation","fields":{"accountId":"ACC-123","tier":"gold","openCase":42,"owner":{"name":"Ann Lee"}}}"#;

/// The sample for `source`: [`SAMPLE_PAYLOAD`], with the call named the way the source reaches
/// it — the demo conversation, the demo caller's number written as a CRM might (`caller`, E.164),
/// or an account number.
pub fn sample_payload(source: &Source, caller: Option<&str>) -> String {
    let extraction = source.extraction();
    let pointer = extraction.conversation_pointer();
    let name = match extraction.call_by() {
        CallBy::ConversationId if pointer == "/conversationId" => return SAMPLE_PAYLOAD.to_owned(),
        CallBy::ConversationId => Value::from("demo-conversation"),
        CallBy::Ani { .. } => Value::from(national(caller.unwrap_or("+13175550100"))),
        CallBy::Key { .. } => Value::from("ACC-123"),
    };
    let mut sample: Value = serde_json::from_str(SAMPLE_PAYLOAD).unwrap_or_default();
    if let Some(object) = sample.as_object_mut() {
        object.remove("conversationId");
    }
    set(&mut sample, pointer, name);
    sample.to_string()
}

/// `+13175550100` as `(317) 555-0100`: the bridge normalises it back.
fn national(e164: &str) -> String {
    match e164.strip_prefix("+1") {
        Some(n) if n.len() == 10 => format!("({}) {}-{}", &n[..3], &n[3..6], &n[6..]),
        _ => e164.to_owned(),
    }
}

/// Puts `value` at the JSON pointer, creating objects on the way.
fn set(target: &mut Value, pointer: &str, value: Value) {
    let mut at = target;
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        if !at.is_object() {
            *at = Value::Object(serde_json::Map::new());
        }
        let Some(object) = at.as_object_mut() else {
            return;
        };
        if i + 1 == tokens.len() {
            object.insert(token.clone(), value);
            return;
        }
        at = object.entry(token.clone()).or_insert(Value::Null);
    }
}

#[derive(Debug)]
pub struct SignOptions<'a> {
    /// Where the bridge listens, e.g. `http://127.0.0.1:8080`.
    pub base_url: &'a str,
    pub event_id: Option<&'a str>,
    pub dry_run: bool,
}

#[derive(Debug)]
pub struct Signed {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

pub fn sign(
    source: &Source,
    body: &[u8],
    options: &SignOptions<'_>,
    now: OffsetDateTime,
) -> Result<Signed, SignatureError> {
    let path = format!(
        "/webhooks/{}{}",
        source.name(),
        if options.dry_run { "?dry_run=true" } else { "" }
    );
    let parts: SignedParts = source.verifier().sign(
        &SignRequest {
            method: &Method::POST,
            path_and_query: &path,
            body,
            event_id: options.event_id,
        },
        now,
    )?;
    let mut url = format!("{}{path}", options.base_url.trim_end_matches('/'));
    if let Some((name, value)) = &parts.query {
        let joiner = if url.contains('?') { '&' } else { '?' };
        let _ = write!(url, "{joiner}{}={}", encode(name), encode(value));
    }
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(parts.headers);
    Ok(Signed { url, headers })
}

impl Signed {
    /// `name: value` lines.
    pub fn header_lines(&self) -> String {
        self.headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}\n"))
            .collect()
    }

    /// A copy-pasteable command that sends exactly the signed bytes: from `body_file` when the
    /// payload came from one, else inline.
    pub fn curl(&self, body: &[u8], body_file: Option<&str>) -> String {
        let mut out = format!("curl -sS -i -X POST {}", quote(&self.url));
        for (name, value) in &self.headers {
            let _ = write!(out, " \\\n  -H {}", quote(&format!("{name}: {value}")));
        }
        match body_file {
            Some(path) => {
                let _ = write!(out, " \\\n  --data-binary @{}", quote(path));
            }
            None => {
                let _ = write!(
                    out,
                    " \\\n  --data-binary {}",
                    quote(&String::from_utf8_lossy(body))
                );
            }
        }
        out.push('\n');
        out
    }
}

/// POSIX single quotes: safe for any text, including quotes inside it.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive_single_quotes_and_encoding_is_strict() {
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(encode("a b/c=d"), "a%20b%2Fc%3Dd");
    }
}
