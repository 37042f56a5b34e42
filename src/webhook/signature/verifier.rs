//! A source's verifier: its scheme, its secrets (several during rotation) and its window.

use std::time::Duration;

use axum::http::HeaderName;
use time::OffsetDateTime;

use super::{
    ConfigError, IncomingRequest, Scheme, Secret, SignRequest, SignatureError, SignedParts,
    Verified, credential, generic, github, hubspot, shopify, slack, standard, stripe, zendesk,
};

/// How far a signed timestamp may be from `now`, either way, unless configured otherwise.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_mins(5);

/// Checks (and, for the CLI and tests, produces) one source's signatures.
#[derive(Clone, Debug)]
pub struct Verifier {
    scheme: Scheme,
    secrets: Vec<Secret>,
    tolerance: Duration,
    /// The generic scheme's recipe, compiled once; `None` for every other scheme.
    recipe: Option<generic::Recipe>,
}

impl Verifier {
    /// Builds a source's verifier; `tolerance` bounds how old or how far ahead a signed
    /// timestamp may be ([`DEFAULT_TOLERANCE`] unless configured).
    ///
    /// # Errors
    ///
    /// Fails closed, at startup: a signing or credential scheme without secrets, `none` with
    /// secrets, secrets normalised for another scheme, or an unusable scheme config.
    pub fn new(
        scheme: Scheme,
        secrets: Vec<Secret>,
        tolerance: Duration,
    ) -> Result<Self, ConfigError> {
        let open = scheme == Scheme::None;
        if open && !secrets.is_empty() {
            return Err(ConfigError::SecretsNotAllowed);
        }
        if !open && secrets.is_empty() {
            return Err(ConfigError::NoSecrets {
                scheme: scheme.name(),
            });
        }
        if let Some(stray) = secrets.iter().find(|s| s.scheme() != scheme.name()) {
            return Err(ConfigError::SecretSchemeMismatch {
                scheme: scheme.name(),
                parsed_for: stray.scheme(),
            });
        }
        let recipe = match &scheme {
            Scheme::Hmac(config) => Some(generic::validate(config)?),
            Scheme::HubspotV3 { public_url } => {
                hubspot::validate_public_url(public_url)?;
                None
            }
            Scheme::HeaderToken { header } => {
                HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| ConfigError::InvalidHeaderName { field: "header" })?;
                None
            }
            Scheme::QueryKey { param } if param.is_empty() => {
                return Err(ConfigError::EmptyParameter);
            }
            _ => None,
        };
        Ok(Self {
            scheme,
            secrets,
            tolerance,
            recipe,
        })
    }

    #[must_use]
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    #[must_use]
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Verifies `req` on its raw bytes. Passes when any accepted signature matches any secret
    /// active at `now`.
    ///
    /// # Errors
    ///
    /// Why the request is refused; the message names the header at fault, never a secret.
    pub fn verify(
        &self,
        req: &IncomingRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<Verified, SignatureError> {
        if self.scheme == Scheme::None {
            return Ok(Verified::default());
        }
        let keys: Vec<&Secret> = self.secrets.iter().filter(|s| s.is_active(now)).collect();
        if keys.is_empty() {
            return Err(SignatureError::NoActiveSecret);
        }
        let presented = match &self.scheme {
            Scheme::StandardWebhooks { header_names } => standard::presented(*header_names, req)?,
            Scheme::Stripe => stripe::presented(req)?,
            Scheme::Github => github::presented(req)?,
            Scheme::Shopify => shopify::presented(req)?,
            Scheme::HubspotV3 { public_url } => hubspot::presented(public_url, req)?,
            Scheme::Zendesk => zendesk::presented(req)?,
            Scheme::Slack => slack::presented(req)?,
            Scheme::Hmac(config) => {
                // Always compiled by `new`; failing closed if not keeps this panic-free.
                let recipe = self.recipe.as_ref().ok_or(SignatureError::NoMatch)?;
                generic::presented(config, recipe, req)?
            }
            Scheme::Basic => return credential::verify_basic(req, &keys),
            Scheme::HeaderToken { header } => {
                return credential::verify_header(header, req, &keys);
            }
            Scheme::QueryKey { param } => return credential::verify_query(param, req, &keys),
            Scheme::None => return Ok(Verified::default()),
        };
        presented.check(&keys, now, self.tolerance)
    }

    /// Signs with the newest active secret: the last in the list that is active at `now`.
    ///
    /// # Errors
    ///
    /// [`SignatureError::NoActiveSecret`] when every secret has expired at `now`.
    pub fn sign(
        &self,
        req: &SignRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<SignedParts, SignatureError> {
        if self.scheme == Scheme::None {
            return Ok(SignedParts::default());
        }
        let secret = self.secrets.iter().rev().find(|s| s.is_active(now));
        let key = secret.ok_or(SignatureError::NoActiveSecret)?.bytes();
        match &self.scheme {
            Scheme::StandardWebhooks { header_names } => {
                standard::sign(*header_names, key, req, now)
            }
            Scheme::Stripe => stripe::sign(key, req, now),
            Scheme::Github => github::sign(key, req),
            Scheme::Shopify => shopify::sign(key, req),
            Scheme::HubspotV3 { public_url } => hubspot::sign(public_url, key, req, now),
            Scheme::Zendesk => zendesk::sign(key, req, now),
            Scheme::Slack => slack::sign(key, req, now),
            Scheme::Hmac(config) => {
                let recipe = self.recipe.as_ref().ok_or(SignatureError::NoMatch)?;
                generic::sign(config, recipe, key, req, now)
            }
            Scheme::Basic => Ok(credential::sign_basic(key)),
            Scheme::HeaderToken { header } => Ok(credential::sign_header(header, key)),
            Scheme::QueryKey { param } => Ok(credential::sign_query(param, key)),
            Scheme::None => Ok(SignedParts::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;

    use super::*;
    use crate::webhook::signature::test_support::{NOW, TestRequest, expired, secret, verifier};

    #[test]
    fn rejects_a_signing_scheme_without_secrets() {
        for scheme in [Scheme::Github, Scheme::Stripe, Scheme::Basic] {
            let err = Verifier::new(scheme, Vec::new(), DEFAULT_TOLERANCE).unwrap_err();
            assert!(matches!(err, ConfigError::NoSecrets { .. }), "{err}");
        }
    }

    #[test]
    fn none_takes_no_secrets_and_accepts_everything() {
        let stray = secret(&Scheme::Github, "s");
        let err = Verifier::new(Scheme::None, vec![stray], DEFAULT_TOLERANCE).unwrap_err();
        assert_eq!(err, ConfigError::SecretsNotAllowed);
        let open = Verifier::new(Scheme::None, Vec::new(), DEFAULT_TOLERANCE).unwrap();
        let req = TestRequest::new(Method::POST, "/hook", b"anything");
        assert_eq!(
            open.verify(&req.incoming(), NOW).unwrap(),
            Verified::default()
        );
        let parts = open.sign(&req.sign_request(), NOW).unwrap();
        assert_eq!(parts, SignedParts::default());
    }

    #[test]
    fn rejects_secrets_normalised_for_another_scheme() {
        let stripe_secret = secret(&Scheme::Stripe, "whsec_dGVzdA==");
        let scheme = Scheme::StandardWebhooks {
            header_names: Default::default(),
        };
        let err = Verifier::new(scheme, vec![stripe_secret], DEFAULT_TOLERANCE).unwrap_err();
        assert_eq!(
            err,
            ConfigError::SecretSchemeMismatch {
                scheme: "standard_webhooks",
                parsed_for: "stripe"
            }
        );
    }

    #[test]
    fn rejects_invalid_header_token_name_and_empty_query_param() {
        let bad_header = Scheme::HeaderToken {
            header: "x api key".to_owned(),
        };
        let token = secret(&bad_header, "t");
        let err = Verifier::new(bad_header, vec![token], DEFAULT_TOLERANCE).unwrap_err();
        assert_eq!(err, ConfigError::InvalidHeaderName { field: "header" });
        let empty = Scheme::QueryKey {
            param: String::new(),
        };
        let key = secret(&empty, "k");
        let err = Verifier::new(empty, vec![key], DEFAULT_TOLERANCE).unwrap_err();
        assert_eq!(err, ConfigError::EmptyParameter);
    }

    #[test]
    fn signs_with_the_newest_active_secret() {
        let scheme = Scheme::Github;
        let both = verifier(&scheme, &["old", "new"]);
        let only_new = verifier(&scheme, &["new"]);
        let req = TestRequest::new(Method::POST, "/hook", b"{}");
        let signed = both.sign(&req.sign_request(), NOW).unwrap();
        assert_eq!(signed, only_new.sign(&req.sign_request(), NOW).unwrap());
        let new_expired = Verifier::new(
            scheme.clone(),
            vec![secret(&scheme, "old"), expired(&scheme, "new")],
            DEFAULT_TOLERANCE,
        )
        .unwrap();
        let only_old = verifier(&scheme, &["old"]);
        assert_eq!(
            new_expired.sign(&req.sign_request(), NOW).unwrap(),
            only_old.sign(&req.sign_request(), NOW).unwrap()
        );
    }

    #[test]
    fn reports_no_active_secret_when_all_expired() {
        let scheme = Scheme::Github;
        let all_expired = Verifier::new(
            scheme.clone(),
            vec![expired(&scheme, "old")],
            DEFAULT_TOLERANCE,
        )
        .unwrap();
        let req = TestRequest::new(Method::POST, "/hook", b"{}");
        assert_eq!(
            all_expired.verify(&req.incoming(), NOW).unwrap_err(),
            SignatureError::NoActiveSecret
        );
        assert_eq!(
            all_expired.sign(&req.sign_request(), NOW).unwrap_err(),
            SignatureError::NoActiveSecret
        );
    }

    #[test]
    fn debug_does_not_leak_secrets() {
        let shown = format!("{:?}", verifier(&Scheme::Github, &["hunter2-secret"]));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
