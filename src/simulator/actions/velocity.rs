//! The part of Apache Velocity a Data Action's templates use: `${input.x}`, `$!{input.x}`,
//! `$input.x`, `${credentials.x}`, `${input.rawRequest}`, `$esc.url(…)` and `$esc.jsonString(…)`.
//! An unknown reference stays as written, as Velocity leaves it (which is what makes an
//! action with a misspelt input fail at Genesys).

use serde_json::{Map, Value};

/// What a template can reference.
pub(super) struct Context<'a> {
    pub input: &'a Map<String, Value>,
    pub credentials: &'a Map<String, Value>,
}

/// A reference found in a template, and how it was written.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Reference {
    /// `input.conversationId`, `credentials.token`.
    pub name: String,
    /// Inside `$esc.url(…)` or `$esc.jsonString(…)`.
    pub escape: Option<Escape>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Escape {
    Url,
    JsonString,
}

const ESCAPES: [(&str, Escape); 2] = [
    ("$esc.url(", Escape::Url),
    ("$esc.jsonString(", Escape::JsonString),
];

/// Renders the template.
pub(super) fn render(template: &str, context: &Context<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    walk(template, |piece| match piece {
        Piece::Text(text) => out.push_str(text),
        Piece::Reference {
            written,
            name,
            quiet,
            escape,
        } => match lookup(context, &name) {
            Some(value) => out.push_str(&match escape {
                None => value,
                Some(Escape::Url) => url_escape(&value),
                Some(Escape::JsonString) => json_escape(&value),
            }),
            None if quiet => {}
            None => out.push_str(written),
        },
    });
    out
}

/// Every reference in the template, for the import checks.
pub(super) fn references(template: &str) -> Vec<Reference> {
    let mut found = Vec::new();
    walk(template, |piece| {
        if let Piece::Reference { name, escape, .. } = piece {
            found.push(Reference { name, escape });
        }
    });
    found
}

enum Piece<'t> {
    Text(&'t str),
    Reference {
        written: &'t str,
        name: String,
        quiet: bool,
        escape: Option<Escape>,
    },
}

fn walk<'t>(template: &'t str, mut emit: impl FnMut(Piece<'t>)) {
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        emit(Piece::Text(&rest[..at]));
        let tail = &rest[at..];
        if let Some((len, name, quiet, escape)) = escaped(tail).or_else(|| plain(tail)) {
            emit(Piece::Reference {
                written: &tail[..len],
                name,
                quiet,
                escape,
            });
            rest = &tail[len..];
        } else {
            emit(Piece::Text("$"));
            rest = &tail[1..];
        }
    }
    emit(Piece::Text(rest));
}

/// `$esc.url(${input.x})`: the length consumed, the name and the escape.
fn escaped(tail: &str) -> Option<(usize, String, bool, Option<Escape>)> {
    let (prefix, escape) = ESCAPES.iter().find(|(p, _)| tail.starts_with(p))?;
    let inner = &tail[prefix.len()..];
    let (len, name, quiet, _) = plain(inner)?;
    inner[len..]
        .starts_with(')')
        .then(|| (prefix.len() + len + 1, name, quiet, Some(*escape)))
}

/// `${a.b}`, `$!{a.b}` or `$a.b`.
fn plain(tail: &str) -> Option<(usize, String, bool, Option<Escape>)> {
    let (quiet, after) = match tail.strip_prefix("$!") {
        Some(after) => (true, after),
        None => (false, tail.strip_prefix('$')?),
    };
    let start = tail.len() - after.len();
    if let Some(body) = after.strip_prefix('{') {
        let end = body.find('}')?;
        let name = &body[..end];
        is_name(name).then(|| (start + 1 + end + 1, name.to_owned(), quiet, None))
    } else {
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'))
            .unwrap_or(after.len());
        let name = after[..end].trim_end_matches('.');
        (is_name(name) && !name.starts_with("esc."))
            .then(|| (start + name.len(), name.to_owned(), quiet, None))
    }
}

fn is_name(name: &str) -> bool {
    name.split('.').all(|part| {
        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })
}

fn lookup(context: &Context<'_>, name: &str) -> Option<String> {
    if name == "input.rawRequest" {
        return Some(Value::Object(context.input.clone()).to_string());
    }
    let (scope, field) = name.split_once('.')?;
    let map = match scope {
        "input" => context.input,
        "credentials" => context.credentials,
        _ => return None,
    };
    match map.get(field)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `$esc.url`: form encoding, as Velocity's EscapeTool (java.net.URLEncoder) does it.
fn url_escape(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn json_escape(value: &str) -> String {
    let quoted = Value::String(value.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render_with(template: &str, input: Value) -> String {
        let input = input.as_object().cloned().unwrap_or_default();
        let credentials = json!({"token": "t0k"}).as_object().cloned().unwrap();
        render(
            template,
            &Context {
                input: &input,
                credentials: &credentials,
            },
        )
    }

    #[test]
    fn references_are_replaced_and_escaped() {
        let input = json!({"id": "a b/c", "n": 5, "q": "say \"hi\""});
        assert_eq!(
            render_with("/x/$esc.url(${input.id})?n=${input.n}", input.clone()),
            "/x/a+b%2Fc?n=5"
        );
        assert_eq!(
            render_with(r#"{"q":"$esc.jsonString(${input.q})"}"#, input.clone()),
            r#"{"q":"say \"hi\""}"#
        );
        assert_eq!(
            render_with("Bearer ${credentials.token}", input),
            "Bearer t0k"
        );
    }

    #[test]
    fn raw_request_is_the_whole_input() {
        let out = render_with("${input.rawRequest}", json!({"a": "1", "b": 2}));
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            json!({"a": "1", "b": 2})
        );
    }

    #[test]
    fn unknown_references_stay_as_written_unless_quiet() {
        assert_eq!(
            render_with(
                "a=${input.missing}&b=$!{input.missing}&c=$input.missing",
                json!({})
            ),
            "a=${input.missing}&b=&c=$input.missing"
        );
        assert_eq!(render_with("costs $5", json!({})), "costs $5");
    }

    #[test]
    fn references_report_their_escape() {
        let found = references("/c/$esc.url(${input.id})/d?w=${input.w}&t=$input.t");
        assert_eq!(
            found,
            vec![
                Reference {
                    name: "input.id".into(),
                    escape: Some(Escape::Url)
                },
                Reference {
                    name: "input.w".into(),
                    escape: None
                },
                Reference {
                    name: "input.t".into(),
                    escape: None
                },
            ]
        );
    }
}
