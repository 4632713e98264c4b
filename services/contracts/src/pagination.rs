//! Cursor pagination: every list endpoint answers `{items, next_cursor}`.
//!
//! Cursors are opaque strings minted by the service (keyset positions, not offsets), so a page
//! stays stable while rows are inserted; clients only pass them back.

use serde::{Deserialize, Serialize};

/// The page size a list endpoint uses when the query has no `limit`.
pub const DEFAULT_LIMIT: u32 = 20;

/// The largest `limit` a list endpoint accepts.
pub const MAX_LIMIT: u32 = 100;

/// The page size of a list: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when the query has none.
///
/// Built only by [`PageLimit::parse`] (also when read from a query string), so a handler that
/// holds one holds a size it may pass to `LIMIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(minimum = 1, maximum = 100)
)]
pub struct PageLimit(u32);

impl PageLimit {
    /// `limit` as a page size, when it is 1 to [`MAX_LIMIT`].
    pub fn parse(limit: u32) -> Result<Self, PageLimitError> {
        if (1..=MAX_LIMIT).contains(&limit) {
            Ok(Self(limit))
        } else {
            Err(PageLimitError(limit))
        }
    }

    /// The `limit` of a query string: [`DEFAULT_LIMIT`] when absent.
    pub fn from_query(limit: Option<u32>) -> Result<Self, PageLimitError> {
        limit.map_or(Ok(Self(DEFAULT_LIMIT)), Self::parse)
    }

    /// The page size.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// How many rows to fetch: one more than the page holds tells whether another page
    /// follows.
    pub fn fetch(self) -> i64 {
        i64::from(self.0) + 1
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

impl TryFrom<u32> for PageLimit {
    type Error = PageLimitError;

    fn try_from(limit: u32) -> Result<Self, Self::Error> {
        Self::parse(limit)
    }
}

impl From<PageLimit> for u32 {
    fn from(limit: PageLimit) -> Self {
        limit.0
    }
}

/// A page size outside 1 to [`MAX_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to {MAX_LIMIT}, not {0}")]
pub struct PageLimitError(pub u32);

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items of this page, in the list's order.
    pub items: Vec<T>,
    /// The cursor of the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The last (or only) page: no cursor after it.
    pub fn last(items: Vec<T>) -> Self {
        Self {
            items,
            next_cursor: None,
        }
    }
}

/// The query of a list endpoint that has no filters: `?limit=&cursor=`.
///
/// Query strings accept unknown parameters (cache busters, tracking tags).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema, utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct PageQuery {
    /// The page size, at most [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page; absent for the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn page_always_names_next_cursor() {
        let last = Page::last(vec![1, 2]);
        assert_eq!(
            serde_json::to_value(&last).expect("serialize"),
            json!({"items": [1, 2], "next_cursor": null})
        );
        let more = Page {
            items: vec!["a"],
            next_cursor: Some("opaque".to_owned()),
        };
        assert_eq!(
            serde_json::to_value(&more).expect("serialize"),
            json!({"items": ["a"], "next_cursor": "opaque"})
        );
        let back: Page<String> =
            serde_json::from_value(json!({"items": ["a"], "next_cursor": "opaque"}))
                .expect("deserialize");
        assert_eq!(back.next_cursor.as_deref(), Some("opaque"));
    }

    #[test]
    fn page_limits_are_one_to_the_most() {
        assert_eq!(PageLimit::from_query(None), Ok(PageLimit::default()));
        assert_eq!(PageLimit::default().get(), DEFAULT_LIMIT);
        assert_eq!(PageLimit::from_query(Some(1)).map(PageLimit::get), Ok(1));
        assert_eq!(
            PageLimit::from_query(Some(MAX_LIMIT)).map(PageLimit::get),
            Ok(MAX_LIMIT)
        );
        assert_eq!(PageLimit::from_query(Some(0)), Err(PageLimitError(0)));
        assert_eq!(PageLimit::parse(MAX_LIMIT + 1), Err(PageLimitError(101)));
        assert_eq!(PageLimitError(0).to_string(), "must be 1 to 100, not 0");
        assert_eq!(PageLimit::parse(100).map(PageLimit::fetch), Ok(101));
        assert!(serde_json::from_value::<PageLimit>(json!(0)).is_err());
        assert_eq!(
            serde_json::from_value::<PageLimit>(json!(5))
                .map(u32::from)
                .ok(),
            Some(5)
        );
    }

    #[cfg(feature = "openapi")]
    #[test]
    fn the_page_limit_schema_is_the_bounded_integer_of_the_query() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(PageLimit::schema()).expect("serialize");
        assert_eq!(schema["type"], json!("integer"), "{schema}");
        assert_eq!(schema["minimum"], json!(1), "{schema}");
        assert_eq!(schema["maximum"], json!(100), "{schema}");
    }

    proptest::proptest! {
        #[test]
        fn a_page_limit_is_exactly_a_number_from_one_to_the_most(limit in proptest::prelude::any::<u32>()) {
            let parsed = PageLimit::parse(limit);
            proptest::prop_assert_eq!(parsed.is_ok(), (1..=MAX_LIMIT).contains(&limit));
            if let Ok(page) = parsed {
                proptest::prop_assert_eq!(page.get(), limit);
                proptest::prop_assert_eq!(page.fetch(), i64::from(limit) + 1);
                proptest::prop_assert_eq!(PageLimit::from_query(Some(limit)), Ok(page));
            }
        }
    }

    #[test]
    fn page_query_fields_are_optional() {
        let empty: PageQuery = serde_json::from_value(json!({})).expect("deserialize");
        assert_eq!(empty, PageQuery::default());
        assert_eq!(serde_json::to_value(&empty).expect("serialize"), json!({}));
        let full: PageQuery = serde_json::from_value(json!({"limit": 50, "cursor": "c", "_": 1}))
            .expect("unknown query parameters are ignored");
        assert_eq!(full.limit, Some(50));
        assert_eq!(full.cursor.as_deref(), Some("c"));
    }
}
