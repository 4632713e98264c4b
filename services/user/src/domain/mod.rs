//! Domain types that can only hold valid values: holding an [`Email`] means holding a
//! normalised, well-formed address ("parse, don't validate").

mod display_name;
mod email;
mod password;

pub(crate) use display_name::DisplayName;
pub(crate) use email::Email;
pub(crate) use password::Password;

use contracts::problem::FieldError;

/// Why a value was refused: a stable code for programs and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// The rule broken, such as `too_short`.
    pub(crate) code: &'static str,
    /// What a valid value looks like.
    pub(crate) message: String,
}

impl Invalid {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The problem entry naming `field`.
    pub(crate) fn on(self, field: &str) -> FieldError {
        kit::error::field_error(field, self.code, self.message)
    }
}

/// Collects the errors of several fields, so one answer names every field at fault.
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<FieldError>);

impl Fields {
    /// Keeps the value, or records its error against `field`.
    pub(crate) fn check<T>(&mut self, field: &str, parsed: Result<T, Invalid>) -> Option<T> {
        parsed
            .map_err(|invalid| self.0.push(invalid.on(field)))
            .ok()
    }

    /// Records an error against `field`.
    pub(crate) fn push(&mut self, field: &str, invalid: Invalid) {
        self.0.push(invalid.on(field));
    }

    /// A 422 naming every recorded field, if any.
    pub(crate) fn finish(self) -> Result<(), kit::ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    /// The 422 naming every recorded field; for when a value is missing, so one was recorded.
    pub(crate) fn into_error(self) -> kit::ApiError {
        kit::ApiError::Validation(self.0)
    }

    /// The recorded errors.
    pub(crate) fn into_errors(self) -> Vec<FieldError> {
        self.0
    }
}
