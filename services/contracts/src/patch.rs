//! Deserializers for JSON merge-patch fields (RFC 7396), used with `#[serde(default)]` so an
//! absent field is `None`: "leave it as it is".

use serde::{Deserialize, Deserializer};

/// A present field of a required value; `null` is an error naming the field, not "unchanged".
pub(crate) fn required<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    T::deserialize(d).map(Some)
}

/// A present field of an optional value: `null` becomes `Some(None)`, "clear it".
pub(crate) fn nullable<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
