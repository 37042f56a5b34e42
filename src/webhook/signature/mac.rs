//! HMAC-SHA256 over the signed parts, and the checks every MAC scheme shares once its headers
//! are read: timestamp window, any signature against any active secret, replay key.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{Encoding, Secret, SignatureError, Verified, timestamp};

type HmacSha256 = Hmac<Sha256>;

/// Padding carries no information, so a sender that drops it is not turned away.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The signed bytes in pieces, so the body is hashed in place rather than copied.
pub(super) type Message<'a> = Vec<Cow<'a, [u8]>>;

/// What a MAC scheme found in a request, before any secret is tried.
#[derive(Debug)]
pub(super) struct Presented<'a> {
    pub message: Message<'a>,
    /// Decoded signatures of an accepted version; entries that did not decode are already gone.
    pub signatures: Vec<Vec<u8>>,
    pub timestamp: Option<OffsetDateTime>,
    pub event_id: Option<String>,
    /// Whether the signature covers `event_id`, making it safe as a replay key.
    pub id_is_signed: bool,
}

impl Presented<'_> {
    /// Checks the window first, so a stale request is reported as stale, then the MACs.
    pub(super) fn check(
        self,
        keys: &[&Secret],
        now: OffsetDateTime,
        tolerance: Duration,
    ) -> Result<Verified, SignatureError> {
        if let Some(signed_at) = self.timestamp {
            timestamp::check_window(signed_at, now, tolerance)?;
        }
        let matched =
            find_match(keys, &self.message, &self.signatures).ok_or(SignatureError::NoMatch)?;
        let replay_key = match &self.event_id {
            Some(id) if self.id_is_signed => id.clone(),
            _ => sha256_hex(matched),
        };
        Ok(Verified {
            event_id: self.event_id,
            timestamp: self.timestamp,
            replay_key: Some(replay_key),
        })
    }
}

/// The first presented signature that any key produces for `message`.
fn find_match<'s>(
    keys: &[&Secret],
    message: &[Cow<'_, [u8]>],
    signatures: &'s [Vec<u8>],
) -> Option<&'s [u8]> {
    keys.iter().find_map(|key| {
        let mac = keyed(key.bytes(), message)?;
        signatures
            .iter()
            .find(|signature| mac.clone().verify_slice(signature).is_ok())
            .map(Vec::as_slice)
    })
}

/// The MAC of `message` under `key`, for signing.
pub(super) fn tag(key: &[u8], message: &[Cow<'_, [u8]>]) -> Result<Vec<u8>, SignatureError> {
    // Unreachable (see `keyed`), but reported as "no usable secret" rather than a panic.
    let mac = keyed(key, message).ok_or(SignatureError::NoActiveSecret)?;
    Ok(mac.finalize().into_bytes().to_vec())
}

fn keyed(key: &[u8], message: &[Cow<'_, [u8]>]) -> Option<HmacSha256> {
    // HMAC takes keys of any length (longer ones are hashed first), so this is always `Some`.
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    for part in message {
        mac.update(part);
    }
    Some(mac)
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `None` for text that does not decode, and for empty text: no valid signature is empty.
pub(super) fn decode(encoding: Encoding, text: &str) -> Option<Vec<u8>> {
    if text.is_empty() {
        return None;
    }
    match encoding {
        Encoding::Hex => hex::decode(text).ok(),
        Encoding::Base64 => BASE64_LENIENT.decode(text).ok(),
    }
}

pub(super) fn encode(encoding: Encoding, bytes: &[u8]) -> String {
    match encoding {
        Encoding::Hex => hex::encode(bytes),
        Encoding::Base64 => STANDARD.encode(bytes),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::webhook::signature::Scheme;

    fn message(body: &[u8]) -> Message<'_> {
        vec![Cow::Borrowed(b"prefix.".as_slice()), Cow::Borrowed(body)]
    }

    #[test]
    fn any_signature_against_any_key_matches() {
        let old = Secret::parse(&Scheme::Github, "old", None).unwrap();
        let new = Secret::parse(&Scheme::Github, "new", None).unwrap();
        let signed = tag(b"new", &message(b"body")).unwrap();
        let signatures = vec![vec![0; 32], b"short".to_vec(), signed.clone()];
        let found = find_match(&[&old, &new], &message(b"body"), &signatures);
        assert_eq!(found, Some(signed.as_slice()));
        assert_eq!(find_match(&[&old], &message(b"body"), &signatures), None);
    }

    #[test]
    fn replay_key_is_the_signature_hash_unless_the_id_is_signed() {
        let key = Secret::parse(&Scheme::Github, "k", None).unwrap();
        let signature = tag(b"k", &message(b"b")).unwrap();
        let presented = |id_is_signed| Presented {
            message: message(b"b"),
            signatures: vec![signature.clone()],
            timestamp: None,
            event_id: Some("evt_1".to_owned()),
            id_is_signed,
        };
        let now = datetime!(2024-01-01 0:00 UTC);
        let tolerance = Duration::from_secs(300);
        let unsigned = presented(false).check(&[&key], now, tolerance).unwrap();
        assert_eq!(unsigned.replay_key, Some(sha256_hex(&signature)));
        assert_eq!(unsigned.event_id.as_deref(), Some("evt_1"));
        let signed = presented(true).check(&[&key], now, tolerance).unwrap();
        assert_eq!(signed.replay_key.as_deref(), Some("evt_1"));
    }

    #[test]
    fn decodes_hex_in_either_case_and_base64_with_or_without_padding() {
        assert_eq!(decode(Encoding::Hex, "aBcD"), Some(vec![0xab, 0xcd]));
        assert_eq!(decode(Encoding::Hex, "xyz"), None);
        assert_eq!(decode(Encoding::Base64, "aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode(Encoding::Base64, "aGk"), Some(b"hi".to_vec()));
        assert_eq!(decode(Encoding::Base64, "a*Gk"), None);
        assert_eq!(decode(Encoding::Hex, ""), None);
        assert_eq!(encode(Encoding::Base64, b"hi"), "aGk=");
    }
}
