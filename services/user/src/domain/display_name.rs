//! The name shown in the shop.

use super::Invalid;

/// The longest display name, in characters.
pub(crate) const MAX_LEN: usize = 100;

/// A display name: trimmed, 1 to 100 characters, no control characters (which would let a
/// name break the layout of pages, emails or logs it is shown in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DisplayName(String);

impl DisplayName {
    /// Trims and checks `raw`.
    pub(crate) fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Invalid::new("required", "Enter a name."));
        }
        if trimmed.chars().count() > MAX_LEN {
            return Err(Invalid::new(
                "too_long",
                format!("Use at most {MAX_LEN} characters."),
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(Invalid::new(
                "invalid",
                "A name cannot contain control characters.",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn trims_and_keeps_unicode() {
        assert_eq!(
            DisplayName::parse("  Ada Lovelace ")
                .expect("valid")
                .as_str(),
            "Ada Lovelace"
        );
        assert!(DisplayName::parse("李小龍").is_ok());
        assert!(DisplayName::parse("Zoë O'Brien-Smith").is_ok());
    }

    #[test]
    fn refuses_blank_long_and_control_characters() {
        assert_eq!(
            DisplayName::parse(" \t ").map_err(|e| e.code),
            Err("required")
        );
        assert!(DisplayName::parse(&"a".repeat(MAX_LEN)).is_ok());
        assert_eq!(
            DisplayName::parse(&"a".repeat(MAX_LEN + 1)).map_err(|e| e.code),
            Err("too_long")
        );
        for bad in ["Ada\nLovelace", "Ada\u{7}", "A\u{1b}[31mda"] {
            assert_eq!(
                DisplayName::parse(bad).map_err(|e| e.code),
                Err("invalid"),
                "{bad:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn parsed_names_are_trimmed_non_empty_and_stable(raw in "\\PC{0,120}") {
            if let Ok(name) = DisplayName::parse(&raw) {
                prop_assert_eq!(name.as_str(), name.as_str().trim());
                prop_assert!(!name.as_str().is_empty());
                prop_assert_eq!(DisplayName::parse(name.as_str()), Ok(name.clone()));
            }
        }
    }
}
