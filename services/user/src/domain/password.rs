//! Passwords chosen by people.

use std::fmt;

use super::{Email, Invalid};

/// The shortest password accepted, in characters.
pub(crate) const MIN_LEN: usize = 10;
/// The longest password accepted, in characters: room for any passphrase, but bounded so a
/// request cannot make hashing arbitrarily expensive.
pub(crate) const MAX_LEN: usize = 256;

/// A password that meets the policy: 10 to 256 characters and not the account's email.
///
/// It is kept exactly as typed (no trimming or normalisation), and `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Password(String);

impl Password {
    /// Checks `raw` against the policy for the account with `email`.
    pub(crate) fn parse(raw: &str, email: Option<&Email>) -> Result<Self, Invalid> {
        let length = raw.chars().count();
        if length < MIN_LEN {
            return Err(Invalid::new(
                "too_short",
                format!("Use at least {MIN_LEN} characters."),
            ));
        }
        if length > MAX_LEN {
            return Err(Invalid::new(
                "too_long",
                format!("Use at most {MAX_LEN} characters."),
            ));
        }
        if email.is_some_and(|email| raw.trim().to_lowercase() == email.as_str()) {
            return Err(Invalid::new(
                "equals_email",
                "Choose a password other than your email address.",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password, for hashing.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn email() -> Email {
        Email::parse("ada@example.com").expect("valid")
    }

    #[test]
    fn length_is_counted_in_characters_at_both_ends() {
        assert_eq!(
            Password::parse("123456789", None).map_err(|e| e.code),
            Err("too_short")
        );
        assert!(Password::parse("1234567890", None).is_ok());
        // Ten characters, twenty bytes.
        assert!(Password::parse("éééééééééé", None).is_ok());
        assert!(Password::parse(&"x".repeat(MAX_LEN), None).is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(MAX_LEN + 1), None).map_err(|e| e.code),
            Err("too_long")
        );
    }

    #[test]
    fn the_email_is_not_a_password() {
        for same in ["ada@example.com", "ADA@example.com", " ada@example.com "] {
            assert_eq!(
                Password::parse(same, Some(&email())).map_err(|e| e.code),
                Err("equals_email"),
                "{same:?}"
            );
        }
        assert!(Password::parse("ada@example.com!", Some(&email())).is_ok());
    }

    #[test]
    fn kept_as_typed_and_hidden_from_debug() {
        let password = Password::parse("  spaced secret  ", None).expect("valid");
        assert_eq!(password.expose(), "  spaced secret  ");
        assert_eq!(format!("{password:?}"), "Password([redacted])");
    }

    proptest! {
        #[test]
        fn accepted_exactly_when_the_length_fits(raw in "\\PC{0,300}") {
            let length = raw.chars().count();
            prop_assert_eq!(
                Password::parse(&raw, None).is_ok(),
                (MIN_LEN..=MAX_LEN).contains(&length)
            );
        }
    }
}
