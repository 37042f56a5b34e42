//! How a CRM names a live call when it does not know the conversation id: the caller's number
//! (Genesys' `Call.Ani`, usually `tel:+E164`) or a CRM key the IVR collected (an account number
//! entered with DTMF). Both sides — the flow registering the call and the CRM's webhook — are
//! normalised here, the same way, so a number written `(555) 123-4567` by the CRM finds the call
//! Genesys announced as `tel:+15551234567`.

use std::fmt;

use serde::Serialize;

/// Why a string is not a phone number the bridge can match.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidPhone {
    #[error("the phone number is empty")]
    Empty,
    // The messages never quote the number: it is customer data, and they reach logs and answers.
    #[error(
        "not a phone number: only digits, a leading '+', spaces, '-', '.' and parentheses are accepted"
    )]
    NotANumber,
    #[error("the phone number has {0} digits; an E.164 number has 7 to 15")]
    Length(usize),
    #[error(
        "a national number (no '+' or '00' prefix), and no ivr.default_country_code is set to complete it"
    )]
    NationalWithoutCountry,
}

/// A country calling code (`1`, `44`, `353`), for numbers written without one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountryCode(String);

impl CountryCode {
    /// `"44"` or `"+44"`; one to three digits, not starting with 0.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let digits = raw.trim().trim_start_matches('+');
        let ok = (1..=3).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(digits.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not a country calling code (1 to 3 digits, like \"1\" or \"44\")"
            ))
        }
    }
}

/// A phone number in E.164 form (`+15551234567`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts `tel:` URIs, `+` or `00` international prefixes and the usual separators;
    /// a national number takes `default_country` (its trunk `0` dropped, or NANP's `1`).
    pub fn parse(raw: &str, default_country: Option<&CountryCode>) -> Result<Self, InvalidPhone> {
        let trimmed = raw.trim();
        let lower = trimmed.to_ascii_lowercase();
        let bare = if lower.starts_with("tel:") {
            &trimmed[4..]
        } else {
            trimmed
        };
        // A tel: URI may carry parameters (`;phone-context=`): they do not change the number.
        let bare = bare.split(';').next().unwrap_or("").trim();
        if bare.is_empty() {
            return Err(InvalidPhone::Empty);
        }
        let (international, rest) = match bare.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, bare),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(InvalidPhone::NotANumber),
            }
        }
        let e164 = if international {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_owned()
        } else {
            let Some(country) = default_country else {
                return Err(InvalidPhone::NationalWithoutCountry);
            };
            national(&digits, country)
        };
        if !(7..=15).contains(&e164.len()) || e164.starts_with('0') {
            return Err(InvalidPhone::Length(e164.len()));
        }
        Ok(Self(format!("+{e164}")))
    }

    /// `+15551234567`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `tel:+15551234567`, as Genesys writes `Call.Ani`.
    pub fn tel_uri(&self) -> String {
        format!("tel:{}", self.0)
    }
}

/// The digits after the country code of a number written nationally.
fn national(digits: &str, country: &CountryCode) -> String {
    if country.0 == "1" {
        // NANP: ten digits, sometimes written with the leading 1.
        match digits.strip_prefix('1') {
            Some(rest) if digits.len() == 11 => format!("1{rest}"),
            _ => format!("1{digits}"),
        }
    } else {
        format!(
            "{}{}",
            country.0,
            digits.strip_prefix('0').unwrap_or(digits)
        )
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest CRM key value kept for a call (an account number, a case id).
pub const MAX_KEY_VALUE_CHARS: usize = 256;

/// What a CRM knows about a call other than its conversation id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallAddress {
    /// The caller's number.
    Ani(PhoneNumber),
    /// A key the call registered with: `name` as the flow sent it, the value as a string.
    Key { name: String, value: String },
}

impl CallAddress {
    /// `ani` or `key`, as the source's `conversation.by` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            CallAddress::Ani(_) => "ani",
            CallAddress::Key { .. } => "key",
        }
    }

    /// The stored form: `ani:+15551234567`, `key:<name>=<value>`.
    pub fn stored(&self) -> String {
        match self {
            CallAddress::Ani(number) => format!("ani:{number}"),
            CallAddress::Key { name, value } => format!("key:{name}={value}"),
        }
    }

    /// Reads [`CallAddress::stored`] back.
    pub fn from_stored(text: &str) -> Option<Self> {
        if let Some(number) = text.strip_prefix("ani:") {
            return PhoneNumber::parse(number, None).ok().map(CallAddress::Ani);
        }
        let (name, value) = text.strip_prefix("key:")?.split_once('=')?;
        Some(CallAddress::Key {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }

    /// The value alone, as operators search for it.
    pub fn value(&self) -> &str {
        match self {
            CallAddress::Ani(number) => number.as_str(),
            CallAddress::Key { value, .. } => value,
        }
    }
}

impl Serialize for CallAddress {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.stored())
    }
}

impl fmt::Display for CallAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallAddress::Ani(number) => write!(f, "caller number {number}"),
            CallAddress::Key { name, value } => write!(f, "{name} {value:?}"),
        }
    }
}

/// When an address names several live calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Several {
    /// The most recently registered call.
    #[default]
    Latest,
    /// None of them: a dead letter naming the calls.
    Refuse,
}

/// Names of CRM keys a call registers with: what a Data Action input may be called.
pub fn is_key_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> CountryCode {
        CountryCode::parse("1").unwrap()
    }

    #[test]
    fn every_common_writing_of_one_number_is_the_same_number() {
        let expected = "+15551234567";
        for raw in [
            "tel:+15551234567",
            "TEL:+1 555 123 4567",
            "+1 (555) 123-4567",
            "+1.555.123.4567",
            "0015551234567",
            "tel:+15551234567;phone-context=example.com",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw, None).unwrap().as_str(),
                expected,
                "{raw}"
            );
        }
        for raw in ["(555) 123-4567", "555-123-4567", "1 555 123 4567"] {
            assert_eq!(
                PhoneNumber::parse(raw, Some(&us())).unwrap().as_str(),
                expected,
                "{raw}"
            );
        }
    }

    #[test]
    fn a_national_number_takes_the_default_country_without_its_trunk_zero() {
        let uk = CountryCode::parse("+44").unwrap();
        assert_eq!(
            PhoneNumber::parse("020 7946 0018", Some(&uk))
                .unwrap()
                .as_str(),
            "+442079460018"
        );
        assert_eq!(
            PhoneNumber::parse("020 7946 0018", None),
            Err(InvalidPhone::NationalWithoutCountry)
        );
    }

    #[test]
    fn what_is_not_a_number_says_why() {
        assert_eq!(PhoneNumber::parse(" ", None), Err(InvalidPhone::Empty));
        assert!(matches!(
            PhoneNumber::parse("sip:alice@example.com", None),
            Err(InvalidPhone::NotANumber)
        ));
        assert!(matches!(
            PhoneNumber::parse("+12", None),
            Err(InvalidPhone::Length(2))
        ));
        assert!(matches!(
            PhoneNumber::parse("+1234567890123456", None),
            Err(InvalidPhone::Length(16))
        ));
        assert!(CountryCode::parse("0").is_err());
        assert!(CountryCode::parse("1234").is_err());
    }

    #[test]
    fn addresses_read_back_as_they_were_stored() {
        let ani = CallAddress::Ani(PhoneNumber::parse("+15551234567", None).unwrap());
        let key = CallAddress::Key {
            name: "accountNumber".into(),
            value: "ACC=1".into(),
        };
        for address in [ani, key] {
            assert_eq!(CallAddress::from_stored(&address.stored()), Some(address));
        }
        assert_eq!(CallAddress::from_stored("conversation:x"), None);
        assert!(is_key_name("accountNumber"));
        assert!(!is_key_name("1abc"));
        assert!(!is_key_name("a.b"));
    }
}
