//! Reading the headers a scheme relies on, with one behaviour for every scheme.
//!
//! Names are case-insensitive (the `HeaderMap` sees to that); values are trimmed of surrounding
//! whitespace; a header sent twice is rejected rather than guessed at, since a proxy or attacker
//! adding a second copy must not change which one is checked.

use axum::http::HeaderMap;

use super::SignatureError;

/// The single value of `name`, trimmed, or `None` when absent.
pub(super) fn optional<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a str>, SignatureError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(SignatureError::DuplicateHeader {
            header: name.to_owned(),
        });
    }
    // UTF-8 rather than `to_str`'s visible ASCII, so an id with non-ASCII text is still read.
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| SignatureError::malformed(name, "value is not valid UTF-8"))?;
    Ok(Some(text.trim()))
}

/// The single, non-empty value of `name`, trimmed.
pub(super) fn required<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, SignatureError> {
    match optional(headers, name)? {
        None => Err(SignatureError::missing(name)),
        Some("") => Err(SignatureError::malformed(name, "value is empty")),
        Some(value) => Ok(value),
    }
}

/// An event id header: optional, and an empty one counts as absent.
pub(super) fn event_id(headers: &HeaderMap, name: &str) -> Result<Option<String>, SignatureError> {
    Ok(optional(headers, name)?
        .filter(|id| !id.is_empty())
        .map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn reads_value_in_any_case_and_trims_it() {
        let map = headers(&[("X-Hub-Signature-256", b"  sha256=abc \t")]);
        assert_eq!(required(&map, "x-hub-signature-256").unwrap(), "sha256=abc");
    }

    #[test]
    fn rejects_a_header_sent_twice() {
        let map = headers(&[("webhook-id", b"a"), ("Webhook-Id", b"b")]);
        let err = required(&map, "webhook-id").unwrap_err();
        assert_eq!(
            err,
            SignatureError::DuplicateHeader {
                header: "webhook-id".into()
            }
        );
        assert!(event_id(&map, "webhook-id").is_err());
    }

    #[test]
    fn missing_and_empty_are_told_apart() {
        let map = headers(&[("x-empty", b"   ")]);
        assert_eq!(
            required(&map, "x-absent").unwrap_err(),
            SignatureError::missing("x-absent")
        );
        assert_eq!(
            required(&map, "x-empty").unwrap_err().reason(),
            "malformed_header"
        );
        assert_eq!(event_id(&map, "x-empty").unwrap(), None);
    }

    #[test]
    fn non_utf8_value_is_malformed_not_a_panic() {
        let map = headers(&[("x-sig", b"\xff\xfe abc")]);
        let err = required(&map, "x-sig").unwrap_err();
        assert_eq!(err.reason(), "malformed_header");
        assert!(err.to_string().contains("x-sig"));
    }

    #[test]
    fn utf8_id_is_kept() {
        let map = headers(&[("x-id", "évt-1".as_bytes())]);
        assert_eq!(event_id(&map, "x-id").unwrap().as_deref(), Some("évt-1"));
    }
}
