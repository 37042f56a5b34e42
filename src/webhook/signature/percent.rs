//! Percent-decoding, shared by HubSpot's URI rule and query-key credentials.

/// Decodes each `%XX` whose byte `wanted` accepts; other escapes, malformed ones included, stay
/// as sent. `+` is never turned into a space: neither use is form decoding.
pub(super) fn decode(text: &[u8], wanted: impl Fn(u8) -> bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&first, tail)) = rest.split_first() {
        let escaped = match tail {
            [hi, lo, ..] if first == b'%' => hex_pair(*hi, *lo).filter(|&b| wanted(b)),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                rest = tail.get(2..).unwrap_or_default();
            }
            None => {
                out.push(first);
                rest = tail;
            }
        }
    }
    out
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    u8::try_from(digit(hi)? * 16 + digit(lo)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<u8> {
        decode(text.as_bytes(), |_| true)
    }

    #[test]
    fn decodes_escapes_in_either_case() {
        assert_eq!(all("a%41%2f%2F+b"), b"aA//+b");
        assert_eq!(all("%ff%FE"), [0xff, 0xfe]);
    }

    #[test]
    fn keeps_malformed_escapes_literal_without_panicking() {
        for odd in ["%", "%%", "%4", "%G1", "%2F%", "a%", "é%3A"] {
            let _ = all(odd);
        }
        assert_eq!(all("a%41%4"), b"aA%4");
        assert_eq!(all("%%41"), b"%A");
        assert_eq!(all("é%3A"), "é:".as_bytes());
    }

    #[test]
    fn decodes_only_wanted_bytes() {
        let colon_only = decode(b"%3A%20%3a", |b| b == b':');
        assert_eq!(colon_only, b":%20:");
    }
}
