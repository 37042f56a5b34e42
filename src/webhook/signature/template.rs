//! The generic scheme's description of its signed bytes, e.g. `{timestamp}.{body}`.

use std::borrow::Cow;

use super::ConfigError;
use super::mac::Message;

/// A template compiled once at startup, so a typo fails there rather than on every request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Template {
    segments: Vec<Segment>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Body,
    Timestamp,
    Method,
    Path,
}

/// What the placeholders stand for in one request.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fields<'a> {
    pub body: &'a [u8],
    /// The timestamp header's value as sent (trimmed), never re-formatted.
    pub timestamp: &'a str,
    pub method: &'a str,
    /// Path and query as received.
    pub path: &'a str,
}

impl Template {
    pub(super) fn compile(text: &str) -> Result<Self, ConfigError> {
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let (literal, from_brace) = rest.split_at(open);
            if !literal.is_empty() {
                segments.push(Segment::Literal(literal.to_owned()));
            }
            let close = from_brace
                .find('}')
                .ok_or_else(|| invalid("has an unclosed {"))?;
            let name = from_brace.get(1..close).unwrap_or_default();
            segments.push(match name {
                "body" => Segment::Body,
                "timestamp" => Segment::Timestamp,
                "method" => Segment::Method,
                "path" => Segment::Path,
                _ => {
                    return Err(invalid(&format!(
                        "has unknown placeholder {{{name}}}; use {{body}}, {{timestamp}}, {{method}} or {{path}}"
                    )));
                }
            });
            rest = from_brace.get(close + 1..).unwrap_or_default();
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_owned()));
        }
        if !segments.contains(&Segment::Body) {
            return Err(invalid("must sign {body}"));
        }
        Ok(Self { segments })
    }

    pub(super) fn signs_timestamp(&self) -> bool {
        self.segments.contains(&Segment::Timestamp)
    }

    pub(super) fn message<'a>(&'a self, fields: Fields<'a>) -> Message<'a> {
        let part = |segment: &'a Segment| -> Cow<'a, [u8]> {
            Cow::Borrowed(match segment {
                Segment::Literal(text) => text.as_bytes(),
                Segment::Body => fields.body,
                Segment::Timestamp => fields.timestamp.as_bytes(),
                Segment::Method => fields.method.as_bytes(),
                Segment::Path => fields.path.as_bytes(),
            })
        };
        self.segments.iter().map(part).collect()
    }
}

fn invalid(reason: &str) -> ConfigError {
    ConfigError::InvalidTemplate {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str) -> Vec<u8> {
        let fields = Fields {
            body: b"{\"a\":1}",
            timestamp: "1700000000",
            method: "POST",
            path: "/hooks/x?y=1",
        };
        Template::compile(template)
            .unwrap()
            .message(fields)
            .concat()
    }

    #[test]
    fn substitutes_placeholders_and_keeps_literals() {
        assert_eq!(render("{body}"), b"{\"a\":1}");
        assert_eq!(render("{timestamp}.{body}"), b"1700000000.{\"a\":1}");
        assert_eq!(render("v0:{timestamp}:{body}"), b"v0:1700000000:{\"a\":1}");
        assert_eq!(
            render("{method}\n{path}\n{body}}"),
            b"POST\n/hooks/x?y=1\n{\"a\":1}}"
        );
    }

    #[test]
    fn rejects_unknown_unclosed_and_bodyless_templates() {
        for bad in [
            "{body",
            "{Body}",
            "{ts}.{body}",
            "{timestamp}",
            "",
            "{}{body}",
        ] {
            let err = Template::compile(bad).unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidTemplate { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn knows_whether_the_timestamp_is_signed() {
        assert!(
            Template::compile("{timestamp}{body}")
                .unwrap()
                .signs_timestamp()
        );
        assert!(!Template::compile("{body}").unwrap().signs_timestamp());
    }
}
