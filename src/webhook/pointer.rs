//! JSON pointers (RFC 6901): checked once at startup, then walked and printed per webhook.
//!
//! `serde_json` has `Value::pointer`, but it accepts malformed escapes silently and cannot say
//! why a pointer is wrong; configuration mistakes should fail loudly at startup instead.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// A valid pointer, kept both as written (it is already in canonical form once valid, so it is
/// what error pointers are built from) and as unescaped reference tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pointer {
    text: String,
    tokens: Vec<String>,
}

impl Pointer {
    /// Parses `text`; `""` is the whole document.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Self {
                text: String::new(),
                tokens: Vec::new(),
            });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "\"{text}\" is not a JSON pointer: it must start with '/' (or be \"\" for the \
                 whole body)"
            ));
        };
        let tokens = rest
            .split('/')
            .map(unescape)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|bad| {
                format!(
                    "\"{text}\" is not a valid JSON pointer: \"{bad}\" has a '~' not followed by \
                     0 or 1; write ~0 for a literal '~' and ~1 for a '/' inside a name"
                )
            })?;
        Ok(Self {
            text: text.to_owned(),
            tokens,
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The first reference token: the top-level field this pointer reads from.
    pub(crate) fn first(&self) -> Option<&str> {
        self.tokens.first().map(String::as_str)
    }

    /// The value this pointer names inside `root`, if there is one.
    pub(crate) fn resolve<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        walk(root, &self.tokens)
    }

    /// Like [`resolve`](Self::resolve) with an object as the root, which spares the caller
    /// holding the fields object both as a `Map` and as a `Value`.
    pub(crate) fn resolve_in<'a>(&self, root: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.tokens.split_first()?;
        walk(root.get(first)?, rest)
    }
}

fn walk<'a>(root: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(root, |value, token| match value {
        Value::Object(map) => map.get(token),
        Value::Array(items) => array_index(token).and_then(|index| items.get(index)),
        _ => None,
    })
}

/// `~1` → `/`, `~0` → `~`; any other `~` is an error carrying the offending token.
fn unescape(token: &str) -> Result<String, &str> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(token),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Escapes one object key as a reference token.
pub(crate) fn escape(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

/// RFC 6901 array indices are plain decimals without leading zeros; `-` (past the end) never
/// names an existing element.
fn array_index(token: &str) -> Option<usize> {
    let canonical = token == "0"
        || (!token.starts_with('0')
            && !token.is_empty()
            && token.bytes().all(|b| b.is_ascii_digit()));
    if canonical { token.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unescapes_tilde_and_slash_in_that_order() {
        // "~01" is an escaped '~' followed by '1'; decoding ~0 first would wrongly yield '/'.
        let pointer = Pointer::parse("/a~1b/c~0d/~01").unwrap();
        assert_eq!(pointer.tokens, ["a/b", "c~d", "~1"]);
        assert_eq!(pointer.first(), Some("a/b"));
    }

    #[test]
    fn rejects_missing_slash_and_bad_escapes() {
        assert!(
            Pointer::parse("fields")
                .unwrap_err()
                .contains("must start with '/'")
        );
        for bad in ["/a~", "/a~2", "/ok/x~y"] {
            let message = Pointer::parse(bad).unwrap_err();
            assert!(message.contains("~0 for a literal"), "{bad}: {message}");
        }
    }

    #[test]
    fn escape_round_trips_through_parse() {
        let key = "a/b~c";
        let text = format!("/{}", escape(key));
        assert_eq!(text, "/a~1b~0c");
        assert_eq!(Pointer::parse(&text).unwrap().tokens, [key]);
    }

    #[test]
    fn resolves_objects_arrays_and_the_empty_key() {
        let body = json!({"a": [{"b": 1}, {"b": 2}], "": "empty", "01": "x"});
        let at = |p: &str| Pointer::parse(p).unwrap().resolve(&body).cloned();
        assert_eq!(at("/a/1/b"), Some(json!(2)));
        assert_eq!(at("/"), Some(json!("empty")));
        assert_eq!(at(""), Some(body.clone()));
        assert_eq!(at("/a/01/b"), None);
        assert_eq!(at("/a/-"), None);
        assert_eq!(at("/a/99999999999999999999999"), None);
        assert_eq!(at("/01"), Some(json!("x")));
        assert_eq!(at("/a/0/b/c"), None);
    }
}
