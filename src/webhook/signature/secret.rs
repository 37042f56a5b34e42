//! Secrets as the schemes use them, validated and normalised once at startup.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretSlice};
use time::OffsetDateTime;

use super::Scheme;

/// A secret ready for one scheme: the HMAC key, or the credential to compare against.
#[derive(Clone)]
pub struct Secret {
    value: SecretSlice<u8>,
    not_after: Option<OffsetDateTime>,
    scheme: &'static str,
}

/// Why a configured secret was refused. Never contains the secret.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SecretError {
    #[error("secret is empty")]
    Empty,
    #[error(
        "secret starts with `{prefix}`, which looks like a pasted signature header; \
         use the signing secret from the sender's settings"
    )]
    SignaturePrefix { prefix: &'static str },
    #[error("standard webhooks secret is not valid base64 after the `whsec_` prefix")]
    InvalidBase64,
    #[error("basic secret must be written as username:password")]
    MissingColon,
    #[error("header token contains characters not allowed in an HTTP header value")]
    InvalidHeaderValue,
    #[error("scheme none takes no secrets")]
    NotUsed,
}

/// Prefixes of signature headers people paste by mistake; none starts a real signing secret.
const SIGNATURE_PREFIXES: [&str; 5] = ["v1,", "v1=", "v0=", "sha256=", "t="];

impl Secret {
    /// Validates and normalises a secret as written in config, for `scheme`.
    ///
    /// Trailing whitespace is trimmed (env vars and files end in newlines). Standard Webhooks
    /// secrets are base64-decoded after `whsec_`; Stripe's are used verbatim, `whsec_` included;
    /// Zendesk's look like base64 but are used as typed.
    ///
    /// # Errors
    ///
    /// An empty secret, one pasted with a signature prefix (`v1,`, `sha256=`, `v0=`, ...), a
    /// `whsec_` secret that is not base64, a Basic secret without `:`, or any secret for `none`.
    pub fn parse(
        scheme: &Scheme,
        raw: &str,
        not_after: Option<OffsetDateTime>,
    ) -> Result<Self, SecretError> {
        let text = raw.trim_end();
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        let value = match scheme {
            Scheme::None => return Err(SecretError::NotUsed),
            Scheme::Basic if !text.contains(':') => return Err(SecretError::MissingColon),
            Scheme::HeaderToken { .. } if !is_header_value(text) => {
                return Err(SecretError::InvalidHeaderValue);
            }
            // Credentials are opaque: any text the sender is configured with is valid.
            Scheme::Basic | Scheme::HeaderToken { .. } | Scheme::QueryKey { .. } => {
                text.as_bytes().to_vec()
            }
            Scheme::StandardWebhooks { .. } => {
                reject_signature_prefix(text)?;
                let encoded = text.strip_prefix("whsec_").unwrap_or(text);
                let key = STANDARD
                    .decode(encoded)
                    .map_err(|_| SecretError::InvalidBase64)?;
                if key.is_empty() {
                    return Err(SecretError::Empty);
                }
                key
            }
            Scheme::Stripe
            | Scheme::Github
            | Scheme::Shopify
            | Scheme::HubspotV3 { .. }
            | Scheme::Zendesk
            | Scheme::Slack
            | Scheme::Hmac(_) => {
                reject_signature_prefix(text)?;
                text.as_bytes().to_vec()
            }
        };
        Ok(Self {
            value: value.into(),
            not_after,
            scheme: scheme.name(),
        })
    }

    /// Whether the secret may still verify at `now`; it stops at the end of `not_after`.
    #[must_use]
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.not_after.is_none_or(|end| now <= end)
    }

    #[must_use]
    pub fn not_after(&self) -> Option<OffsetDateTime> {
        self.not_after
    }

    /// The HMAC key or credential bytes.
    pub(super) fn bytes(&self) -> &[u8] {
        self.value.expose_secret()
    }

    /// The scheme this secret was normalised for: a `whsec_` secret means different bytes to
    /// Standard Webhooks and to Stripe, so a verifier refuses secrets parsed for another scheme.
    pub(super) fn scheme(&self) -> &'static str {
        self.scheme
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("scheme", &self.scheme)
            .field("not_after", &self.not_after)
            .field("value", &"[redacted]")
            .finish()
    }
}

fn reject_signature_prefix(text: &str) -> Result<(), SecretError> {
    let found = SIGNATURE_PREFIXES.into_iter().find(|prefix| {
        text.get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    });
    match found {
        Some(prefix) => Err(SecretError::SignaturePrefix { prefix }),
        None => Ok(()),
    }
}

/// Visible ASCII, space and tab: what a sender can put in a header value and we can read back.
fn is_header_value(text: &str) -> bool {
    text.bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::webhook::signature::StandardHeaderNames;

    const STANDARD_SCHEME: Scheme = Scheme::StandardWebhooks {
        header_names: StandardHeaderNames::Webhook,
    };

    fn parse(scheme: &Scheme, raw: &str) -> Result<Secret, SecretError> {
        Secret::parse(scheme, raw, None)
    }

    #[test]
    fn trims_trailing_newline_from_env_and_files() {
        let secret = parse(&Scheme::Github, "It's a Secret to Everybody\r\n").unwrap();
        assert_eq!(secret.bytes(), b"It's a Secret to Everybody");
        let standard = parse(&STANDARD_SCHEME, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").unwrap();
        assert_eq!(standard.bytes().len(), 24);
    }

    #[test]
    fn rejects_empty_and_blank_secrets() {
        for scheme in [
            Scheme::Github,
            Scheme::Stripe,
            Scheme::Basic,
            STANDARD_SCHEME,
        ] {
            assert_eq!(parse(&scheme, "").unwrap_err(), SecretError::Empty);
            assert_eq!(parse(&scheme, " \n").unwrap_err(), SecretError::Empty);
        }
        assert_eq!(
            parse(&STANDARD_SCHEME, "whsec_").unwrap_err(),
            SecretError::Empty
        );
    }

    #[test]
    fn rejects_secret_pasted_with_signature_prefix() {
        let cases = [
            (
                &STANDARD_SCHEME,
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                "v1,",
            ),
            (&Scheme::Github, "sha256=757107ea0eb2509fc2", "sha256="),
            (&Scheme::Slack, "v0=a2114d57b48eac39b9ad", "v0="),
            (&Scheme::Stripe, "t=1492774577,v1=88a0", "t="),
        ];
        for (scheme, raw, prefix) in cases {
            let err = parse(scheme, raw).unwrap_err();
            assert_eq!(err, SecretError::SignaturePrefix { prefix });
            assert!(err.to_string().contains(prefix), "{err}");
        }
    }

    #[test]
    fn standard_webhooks_secret_is_base64_decoded() {
        let secret = parse(&STANDARD_SCHEME, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let expected = STANDARD.decode("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(secret.bytes(), expected.as_slice());
    }

    #[test]
    fn rejects_whsec_secret_with_invalid_base64() {
        let err = parse(&STANDARD_SCHEME, "whsec_not*base64!").unwrap_err();
        assert_eq!(err, SecretError::InvalidBase64);
    }

    #[test]
    fn stripe_and_zendesk_secrets_are_used_as_typed() {
        let stripe = parse(&Scheme::Stripe, "whsec_test_secret").unwrap();
        assert_eq!(stripe.bytes(), b"whsec_test_secret");
        let typed = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
        let zendesk = parse(&Scheme::Zendesk, typed).unwrap();
        assert_eq!(zendesk.bytes(), typed.as_bytes());
    }

    #[test]
    fn basic_secret_needs_a_colon() {
        assert_eq!(
            parse(&Scheme::Basic, "justapassword").unwrap_err(),
            SecretError::MissingColon
        );
        assert_eq!(
            parse(&Scheme::Basic, "user:pa:ss").unwrap().bytes(),
            b"user:pa:ss"
        );
    }

    #[test]
    fn header_token_must_fit_in_a_header() {
        let scheme = Scheme::HeaderToken {
            header: "x-api-key".to_owned(),
        };
        assert_eq!(
            parse(&scheme, "tok\u{7}en").unwrap_err(),
            SecretError::InvalidHeaderValue
        );
        assert!(parse(&scheme, "Bearer abc.def").is_ok());
    }

    #[test]
    fn none_takes_no_secret() {
        assert_eq!(parse(&Scheme::None, "x").unwrap_err(), SecretError::NotUsed);
    }

    #[test]
    fn expires_after_not_after() {
        let end = datetime!(2024-01-01 00:00 UTC);
        let secret = Secret::parse(&Scheme::Github, "s", Some(end)).unwrap();
        assert!(secret.is_active(end));
        assert!(!secret.is_active(end + time::Duration::SECOND));
        assert!(parse(&Scheme::Github, "s").unwrap().is_active(end));
    }

    #[test]
    fn debug_never_prints_the_value() {
        let secret = parse(&Scheme::Github, "hunter2-very-secret").unwrap();
        let shown = format!("{secret:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
