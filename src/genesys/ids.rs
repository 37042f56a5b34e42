//! Conversation and participant ids: parsed once, safe to put in a URL path.

use std::fmt;

/// Why a string is not a usable Genesys id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidId {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} is {len} characters long; at most {max} are accepted")]
    TooLong {
        kind: &'static str,
        len: usize,
        max: usize,
    },
    #[error(
        "{kind} contains {ch:?}; only letters, digits, '-', '_' and '.' are accepted (Genesys ids are UUIDs)"
    )]
    BadCharacter { kind: &'static str, ch: char },
}

const MAX_ID_LEN: usize = 128;

/// Genesys ids are UUIDs; we accept a slightly wider alphabet (the simulator and demos use readable
/// ids) but never anything that could change the meaning of a URL path.
fn check(kind: &'static str, raw: &str) -> Result<(), InvalidId> {
    if raw.is_empty() {
        return Err(InvalidId::Empty { kind });
    }
    if raw.len() > MAX_ID_LEN {
        return Err(InvalidId::TooLong {
            kind,
            len: raw.len(),
            max: MAX_ID_LEN,
        });
    }
    match raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(ch) => Err(InvalidId::BadCharacter { kind, ch }),
        None if raw == "." || raw == ".." => Err(InvalidId::BadCharacter { kind, ch: '.' }),
        None => Ok(()),
    }
}

macro_rules! id_type {
    ($name:ident, $kind:literal) => {
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: impl Into<String>) -> Result<Self, InvalidId> {
                let raw = raw.into();
                check($kind, &raw)?;
                Ok(Self(raw))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(ConversationId, "conversation id");
id_type!(ParticipantId, "participant id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuids_and_readable_ids() {
        assert!(ConversationId::parse("5d8f6a3c-1b7e-4c1a-9f0e-2a6b7c8d9e0f").is_ok());
        assert_eq!(
            ParticipantId::parse("demo-customer_1.a").unwrap().as_str(),
            "demo-customer_1.a"
        );
    }

    #[test]
    fn refuses_what_would_change_a_url_path() {
        for bad in ["a/b", "..", "a?b", "a b", "a%2Fb", "."] {
            assert!(ConversationId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ConversationId::parse("").unwrap_err(),
            InvalidId::Empty {
                kind: "conversation id"
            }
        );
        assert!(matches!(
            ParticipantId::parse("x".repeat(129)),
            Err(InvalidId::TooLong { len: 129, .. })
        ));
    }
}
