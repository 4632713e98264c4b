//! Sign-in email addresses.

use email_address::{EmailAddress, Options};

use super::Invalid;

/// The longest address that fits an SMTP path (RFC 5321 §4.5.3.1.3).
const MAX_LEN: usize = 254;

/// A normalised email address: trimmed, lowercased, and well-formed per RFC 5322 with a dotted
/// domain name (no `user@localhost`, no IP literals, no display names).
///
/// Lowercasing the local part is stricter than the RFC, which lets a mail server treat it as
/// case-sensitive, but no real provider does, and one account per address regardless of case is
/// what people expect.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Email(String);

impl Email {
    /// Normalises and checks `raw`.
    pub(crate) fn parse(raw: &str) -> Result<Self, Invalid> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(Invalid::new("required", "Enter an email address."));
        }
        if normalised.len() > MAX_LEN {
            return Err(Invalid::new(
                "too_long",
                format!("An email address has at most {MAX_LEN} characters."),
            ));
        }
        let options = Options {
            minimum_sub_domains: 2,
            allow_domain_literal: false,
            allow_display_text: false,
            allow_long_local_parts: false,
        };
        EmailAddress::parse_with_options(&normalised, options)
            .map(|_| Self(normalised))
            .map_err(|_| Invalid::new("invalid", "Enter an email address such as ada@example.com."))
    }

    /// The normalised address.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn normalises_case_and_surrounding_space() {
        let email = Email::parse("  Ada.Lovelace@Example.COM \n").expect("valid");
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn accepts_common_real_addresses() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "o'reilly@example.ie",
            "user_name-1@xn--bcher-kva.example",
            "jürgen@münchen.de",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "plainaddress",
            "@example.com",
            "ada@",
            "ada@localhost",
            "ada@@example.com",
            "ada@example..com",
            "ada@.example.com",
            "a b@example.com",
            ".ada@example.com",
            "ada.@example.com",
            "ada@[127.0.0.1]",
            "Ada <ada@example.com>",
            "ada@example.com\u{0}",
        ] {
            assert_eq!(
                Email::parse(bad).map_err(|e| e.code),
                Err("invalid"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn empty_and_overlong_have_their_own_codes() {
        assert_eq!(Email::parse("   ").map_err(|e| e.code), Err("required"));
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert_eq!(Email::parse(&long).map_err(|e| e.code), Err("too_long"));
        let local_too_long = format!("{}@example.com", "a".repeat(65));
        assert_eq!(
            Email::parse(&local_too_long).map_err(|e| e.code),
            Err("invalid")
        );
    }

    proptest! {
        #[test]
        fn simple_addresses_parse_to_their_lowercase_form(
            local in "[A-Za-z0-9][A-Za-z0-9._+-]{0,20}[A-Za-z0-9]",
            domain in "[A-Za-z][A-Za-z0-9-]{0,20}[A-Za-z0-9]",
            tld in "[A-Za-z]{2,6}",
            pad in " {0,3}",
        ) {
            prop_assume!(!local.contains(".."));
            let raw = format!("{pad}{local}@{domain}.{tld}{pad}");
            let email = Email::parse(&raw).expect("valid");
            prop_assert_eq!(email.as_str(), raw.trim().to_lowercase());
        }

        #[test]
        fn parsing_is_idempotent_and_never_panics(raw in "\\PC{0,80}") {
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
            }
        }

        #[test]
        fn addresses_without_an_at_sign_are_refused(raw in "[^@]{0,60}") {
            prop_assert!(Email::parse(&raw).is_err());
        }
    }
}
