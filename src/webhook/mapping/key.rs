//! What makes a string acceptable as a Genesys attribute key.
//!
//! The same checks run on configured target keys at startup and on CRM keys passed through at
//! request time, so a pass-through key can never be something the table itself would refuse.

/// One reason a key is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyProblem {
    Empty,
    TooLong { chars: usize, limit: usize },
    Control,
    Whitespace,
}

impl KeyProblem {
    /// The `FieldError` code for a pass-through key.
    pub(super) fn code(self) -> &'static str {
        match self {
            Self::TooLong { .. } => "key_too_long",
            Self::Empty | Self::Control | Self::Whitespace => "invalid_key",
        }
    }

    /// Why, in words that fit after "the key …".
    pub(super) fn describe(self) -> String {
        match self {
            Self::Empty => "is empty".to_owned(),
            Self::TooLong { chars, limit } => {
                format!("is {chars} characters long; the limit is {limit}")
            }
            Self::Control => "contains a control character".to_owned(),
            Self::Whitespace => "starts or ends with whitespace".to_owned(),
        }
    }
}

/// Every problem with `key`, none if it is fine.
pub(super) fn check(key: &str, max_chars: usize) -> Vec<KeyProblem> {
    if key.is_empty() {
        return vec![KeyProblem::Empty];
    }
    let mut problems = Vec::new();
    let chars = key.chars().count();
    if chars > max_chars {
        problems.push(KeyProblem::TooLong {
            chars,
            limit: max_chars,
        });
    }
    if key.chars().any(char::is_control) {
        problems.push(KeyProblem::Control);
    }
    if key.starts_with(char::is_whitespace) || key.ends_with(char::is_whitespace) {
        problems.push(KeyProblem::Whitespace);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_problem_of_a_key() {
        assert_eq!(check("crmAccountId", 256), []);
        assert_eq!(check("", 256), [KeyProblem::Empty]);
        assert_eq!(
            check(" a\tb", 3),
            [
                KeyProblem::TooLong { chars: 4, limit: 3 },
                KeyProblem::Control,
                KeyProblem::Whitespace
            ]
        );
        // Counted in characters: three non-ASCII letters fit a three-character limit.
        assert_eq!(check("äöü", 3), []);
        assert_eq!(check("\u{a0}nbsp", 256), [KeyProblem::Whitespace]);
    }
}
