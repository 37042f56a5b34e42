//! Signed timestamps: parsing the three formats senders use and enforcing the window.
//!
//! The window applies both ways: an old timestamp is a replay, one far in the future is a
//! request signed ahead of time (or a clock so wrong that the window means nothing).

use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::{SignatureError, TimestampFormat};

/// Parses `text`, taken from `header`, in `format`.
pub(super) fn parse(
    format: TimestampFormat,
    header: &str,
    text: &str,
) -> Result<OffsetDateTime, SignatureError> {
    match format {
        TimestampFormat::Seconds => {
            let secs = digits(header, text)?;
            OffsetDateTime::from_unix_timestamp(secs)
                .map_err(|_| SignatureError::malformed(header, "timestamp out of range"))
        }
        TimestampFormat::Milliseconds => {
            let millis = digits(header, text)?;
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
                .map_err(|_| SignatureError::malformed(header, "timestamp out of range"))
        }
        TimestampFormat::Rfc3339 => OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|_| SignatureError::malformed(header, "timestamp is not RFC 3339")),
    }
}

/// Only plain digits: `i64::from_str` would also take `+` and `-`, which no sender writes.
fn digits(header: &str, text: &str) -> Result<i64, SignatureError> {
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let value = plain.then(|| text.parse::<i64>().ok()).flatten();
    value.ok_or_else(|| SignatureError::malformed(header, "timestamp is not a whole number"))
}

/// Rejects `signed_at` more than `tolerance` before or after `now`.
pub(super) fn check_window(
    signed_at: OffsetDateTime,
    now: OffsetDateTime,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let age = now - signed_at;
    let distance = age.unsigned_abs();
    if distance <= tolerance {
        return Ok(());
    }
    let tolerance_secs = tolerance.as_secs();
    if age.is_positive() {
        Err(SignatureError::StaleTimestamp {
            age_secs: distance.as_secs(),
            tolerance_secs,
        })
    } else {
        Err(SignatureError::FutureTimestamp {
            ahead_secs: distance.as_secs(),
            tolerance_secs,
        })
    }
}

/// Writes `now` the way a sender using `format` would; `header` only names it in an error.
pub(super) fn format(
    format: TimestampFormat,
    header: &str,
    now: OffsetDateTime,
) -> Result<String, SignatureError> {
    match format {
        TimestampFormat::Seconds => Ok(now.unix_timestamp().to_string()),
        TimestampFormat::Milliseconds => Ok((now.unix_timestamp_nanos() / 1_000_000).to_string()),
        // Whole seconds in UTC, like `2021-03-25T05:09:27Z`, as Zendesk sends them.
        TimestampFormat::Rfc3339 => now
            .checked_to_offset(UtcOffset::UTC)
            .and_then(|utc| utc.replace_nanosecond(0).ok())
            .and_then(|utc| utc.format(&Rfc3339).ok())
            .ok_or_else(|| SignatureError::malformed(header, "cannot write this time as RFC 3339")),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const FIVE_MIN: Duration = Duration::from_secs(300);

    #[test]
    fn parses_each_format() {
        let expected = datetime!(2021-03-25 05:09:27 UTC);
        let secs = parse(TimestampFormat::Seconds, "h", "1616648967").unwrap();
        let millis = parse(TimestampFormat::Milliseconds, "h", "1616648967000").unwrap();
        let rfc = parse(TimestampFormat::Rfc3339, "h", "2021-03-25T05:09:27Z").unwrap();
        assert_eq!((secs, millis, rfc), (expected, expected, expected));
    }

    #[test]
    fn rejects_signs_decimals_and_garbage_without_panicking() {
        for text in [
            "",
            "-5",
            "+5",
            "1.5",
            "1e9",
            "99999999999999999999999",
            "١٢٣",
        ] {
            let err = parse(TimestampFormat::Seconds, "x-ts", text).unwrap_err();
            assert_eq!(err.reason(), "malformed_header", "{text}");
        }
        for format in [TimestampFormat::Seconds, TimestampFormat::Milliseconds] {
            let far = parse(format, "x-ts", "999999999999999999").unwrap_err();
            assert!(far.to_string().contains("out of range"), "{far}");
        }
        assert!(parse(TimestampFormat::Rfc3339, "x-ts", "2021-03-25 05:09:27").is_err());
    }

    #[test]
    fn window_accepts_edges_and_rejects_beyond() {
        let now = datetime!(2024-01-01 12:00 UTC);
        assert!(check_window(now - FIVE_MIN, now, FIVE_MIN).is_ok());
        assert!(check_window(now + FIVE_MIN, now, FIVE_MIN).is_ok());
        assert_eq!(
            check_window(now - Duration::from_secs(301), now, FIVE_MIN).unwrap_err(),
            SignatureError::StaleTimestamp {
                age_secs: 301,
                tolerance_secs: 300
            }
        );
        assert_eq!(
            check_window(now + Duration::from_secs(3600), now, FIVE_MIN).unwrap_err(),
            SignatureError::FutureTimestamp {
                ahead_secs: 3600,
                tolerance_secs: 300
            }
        );
    }

    #[test]
    fn formats_as_senders_do() {
        let now = datetime!(2021-03-25 07:09:27.123 +02:00);
        assert_eq!(
            format(TimestampFormat::Seconds, "h", now).unwrap(),
            "1616648967"
        );
        assert_eq!(
            format(TimestampFormat::Milliseconds, "h", now).unwrap(),
            "1616648967123"
        );
        assert_eq!(
            format(TimestampFormat::Rfc3339, "h", now).unwrap(),
            "2021-03-25T05:09:27Z"
        );
    }
}
