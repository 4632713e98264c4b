//! Cursor pagination: every list endpoint answers `{items, next_cursor}`.
//!
//! Cursors are opaque strings minted by the service (keyset positions, not offsets), so a page
//! stays stable while rows are inserted; clients only pass them back.

use serde::{Deserialize, Serialize};

/// The page size a list endpoint uses when the query has no `limit`.
pub const DEFAULT_LIMIT: u32 = 20;

/// The largest `limit` a list endpoint accepts.
pub const MAX_LIMIT: u32 = 100;

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
