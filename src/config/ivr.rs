//! `[ivr]`: the IVR handshake — the credential the Genesys Data Actions send, how long a
//! registered call is kept, how long a pull may wait, and how national numbers are read.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{Problems, optional_secret};
use crate::genesys::CountryCode;
use crate::ivr::{IvrCredential, IvrSettings};

/// The local profile's IVR token: public, so production refuses it.
pub const DEMO_IVR_TOKEN: &str = "local-demo-ivr-token";

/// A Data Action times out after at most 60 s; a pull must answer well before.
const MAX_WAIT_CEILING: Duration = Duration::from_secs(55);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIvr {
    token: SecretString,
    token_file: String,
    basic_user: String,
    basic_password: SecretString,
    basic_password_file: String,
    call_ttl: String,
    max_wait: String,
    default_country_code: String,
}

pub(super) fn ivr(
    raw: RawIvr,
    production: bool,
    admin_token: Option<&SecretString>,
    write_ended: bool,
    problems: &mut Problems,
) -> IvrSettings {
    let token = optional_secret(problems, "ivr.token", &raw.token, &raw.token_file);
    let password = optional_secret(
        problems,
        "ivr.basic_password",
        &raw.basic_password,
        &raw.basic_password_file,
    );
    let user = raw.basic_user.trim().to_owned();
    let credential = match (token, user.is_empty(), password) {
        (None, true, None) => None,
        (Some(token), true, None) => {
            check_strength(problems, "ivr.token", &token);
            if production && token == DEMO_IVR_TOKEN {
                problems.add(
                    "ivr.token",
                    "is the public local token; the production profile refuses it",
                );
            }
            if admin_token.is_some_and(|admin| admin.expose_secret() == token) {
                problems.add(
                    "ivr.token",
                    "is the admin token: the IVR gets a credential of its own",
                );
            }
            Some(IvrCredential::Bearer(SecretString::from(token)))
        }
        (None, false, Some(password)) => {
            check_strength(problems, "ivr.basic_password", &password);
            if user.contains(':') {
                problems.add(
                    "ivr.basic_user",
                    "cannot contain ':' (Basic auth separates user and password with it)",
                );
            }
            Some(IvrCredential::Basic {
                user,
                password: SecretString::from(password),
            })
        }
        (None, false, None) => {
            problems.add("ivr.basic_password", "is required with ivr.basic_user");
            None
        }
        (None, true, Some(_)) => {
            problems.add("ivr.basic_user", "is required with ivr.basic_password");
            None
        }
        (Some(_), _, _) => {
            problems.add(
                "ivr.token",
                "set either ivr.token or ivr.basic_user and ivr.basic_password, not both",
            );
            None
        }
    };
    let call_ttl = problems.duration("ivr.call_ttl", &raw.call_ttl);
    if call_ttl < Duration::from_secs(60) {
        problems.add(
            "ivr.call_ttl",
            "must be at least 1m: a call outlives its IVR stage",
        );
    }
    let max_wait = problems.duration("ivr.max_wait", &raw.max_wait);
    if max_wait > MAX_WAIT_CEILING {
        problems.add(
            "ivr.max_wait",
            "must be at most 55s: a Data Action times out after 60 s at the most",
        );
    }
    let default_country = match raw.default_country_code.trim() {
        "" => None,
        code => CountryCode::parse(code)
            .map_err(|e| problems.add("ivr.default_country_code", e))
            .ok(),
    };
    IvrSettings {
        credential,
        call_ttl,
        max_wait,
        default_country,
        include_ended: write_ended,
    }
}

fn check_strength(problems: &mut Problems, key: &str, secret: &str) {
    if secret.len() < 16 {
        problems.add(key, "is shorter than 16 characters: too easy to guess");
    }
}
