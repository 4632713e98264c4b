//! Search cursors: opaque, signed keyset positions.
//!
//! A cursor names the last row of a page by its sort key and id, so the next page starts
//! strictly after it and rows inserted meanwhile cause neither duplicates nor gaps. It is the
//! base64url JSON of that position, a dot, and a truncated HMAC-SHA256 tag. The tag covers the
//! position *and* the query it was minted for (sort and filters), so a cursor that was edited,
//! or replayed against another query, is refused instead of silently paging wrong.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

/// Bytes of the HMAC-SHA256 tag kept: 128 bits is far beyond guessing, and keeps URLs short.
const TAG_LEN: usize = 16;

/// The sort key and id of the last row of a page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub(crate) enum Position {
    /// `price_asc` / `price_desc`.
    Price {
        /// The price in minor units.
        amount: i64,
        /// The product id, the tie-breaker.
        id: Uuid,
    },
    /// `newest`, and `relevance` without a text query.
    Newest {
        /// Creation time in microseconds since the epoch (Postgres' precision).
        created_us: i64,
        /// The product id, the tie-breaker.
        id: Uuid,
    },
    /// `relevance` with a text query.
    Rank {
        /// Whether the name equals the query.
        exact: bool,
        /// The full-text rank.
        rank: f32,
        /// The product id, the tie-breaker.
        id: Uuid,
    },
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cursor {
    /// The text the first page searched for: the query, or its typo correction. Later pages
    /// search for the same, even if the words known for correction changed meanwhile.
    pub(crate) text: Option<String>,
    /// The last row of the previous page.
    pub(crate) after: Position,
}

/// A cursor that was not minted by this service for this query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidCursor;

/// Mints and checks cursors with one secret.
#[derive(Clone)]
pub(crate) struct CursorCodec {
    secret: Vec<u8>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec(<redacted>)")
    }
}

impl CursorCodec {
    /// A codec signing with `secret`.
    pub(crate) fn new(secret: &[u8]) -> Self {
        Self {
            secret: secret.to_vec(),
        }
    }

    /// The cursor for `cursor` within the query identified by `scope`.
    pub(crate) fn encode(&self, scope: &[u8], cursor: &Cursor) -> String {
        // Serializing plain data to JSON cannot fail; an empty payload would fail to decode.
        let payload = serde_json::to_vec(cursor).unwrap_or_default();
        let tag = self.tag(scope, &payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN])
        )
    }

    /// The position `token` names, if this service minted it for the query `scope`.
    pub(crate) fn decode(&self, scope: &[u8], token: &str) -> Result<Cursor, InvalidCursor> {
        let (payload, tag) = token.split_once('.').ok_or(InvalidCursor)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| InvalidCursor)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InvalidCursor)?;
        if tag.len() != TAG_LEN {
            return Err(InvalidCursor);
        }
        // Constant-time comparison, so the tag cannot be found byte by byte from timings.
        self.mac(scope, &payload)
            .verify_truncated_left(&tag)
            .map_err(|_| InvalidCursor)?;
        serde_json::from_slice(&payload).map_err(|_| InvalidCursor)
    }

    fn tag(&self, scope: &[u8], payload: &[u8]) -> Vec<u8> {
        self.mac(scope, payload).finalize().into_bytes().to_vec()
    }

    fn mac(&self, scope: &[u8], payload: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        // The scope is length-prefixed so no (scope, payload) pair can pose as another.
        mac.update(&(scope.len() as u64).to_be_bytes());
        mac.update(scope);
        mac.update(payload);
        mac
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn codec() -> CursorCodec {
        CursorCodec::new(b"a secret that is long enough for tests")
    }

    fn position() -> impl Strategy<Value = Position> {
        let id = any::<u128>().prop_map(Uuid::from_u128);
        prop_oneof![
            (any::<i64>(), id.clone()).prop_map(|(amount, id)| Position::Price { amount, id }),
            (any::<i64>(), id.clone())
                .prop_map(|(created_us, id)| Position::Newest { created_us, id }),
            (any::<bool>(), 0.0_f32..1000.0, id).prop_map(|(exact, rank, id)| Position::Rank {
                exact,
                rank,
                id
            }),
        ]
    }

    fn cursor() -> impl Strategy<Value = Cursor> {
        (proptest::option::of("\\PC{0,40}"), position())
            .prop_map(|(text, after)| Cursor { text, after })
    }

    #[test]
    fn a_cursor_is_url_safe_and_opaque() {
        let token = codec().encode(
            b"scope",
            &Cursor {
                text: Some("keyboard".to_owned()),
                after: Position::Price {
                    amount: 1999,
                    id: Uuid::from_u128(7),
                },
            },
        );
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{token}"
        );
        assert!(!token.contains("1999") && !token.contains("keyboard"));
    }

    #[test]
    fn garbage_is_refused() {
        for token in ["", ".", "abc", "abc.def", "a.b.c", "%%%.%%%"] {
            assert_eq!(
                codec().decode(b"scope", token),
                Err(InvalidCursor),
                "{token}"
            );
        }
    }

    proptest! {
        #[test]
        fn round_trips_exactly(cursor in cursor(), scope in proptest::collection::vec(any::<u8>(), 0..64)) {
            let token = codec().encode(&scope, &cursor);
            prop_assert_eq!(codec().decode(&scope, &token), Ok(cursor.clone()));
        }

        #[test]
        fn any_edit_is_refused(cursor in cursor(), index in any::<prop::sample::Index>(), bit in 0_u8..6) {
            let token = codec().encode(b"scope", &cursor);
            let mut bytes = token.into_bytes();
            let at = index.index(bytes.len());
            // Flip a bit of one base64 character, keeping it in the alphabet when possible.
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            if let Some(value) = alphabet.iter().position(|&c| c == bytes[at]) {
                bytes[at] = alphabet[value ^ (1 << bit)];
                let edited = String::from_utf8(bytes).expect("ascii");
                prop_assert_eq!(codec().decode(b"scope", &edited), Err(InvalidCursor));
            }
        }

        #[test]
        fn forged_cursor_tokens_are_refused_without_panicking(token in "\\PC{0,200}|[A-Za-z0-9_.-]{0,200}") {
            prop_assert_eq!(codec().decode(b"scope", &token), Err(InvalidCursor));
        }

        #[test]
        fn another_query_or_key_is_refused(cursor in cursor()) {
            let token = codec().encode(b"sort=price_asc", &cursor);
            prop_assert_eq!(codec().decode(b"sort=price_desc", &token), Err(InvalidCursor));
            let other = CursorCodec::new(b"another secret, also long enough");
            prop_assert_eq!(other.decode(b"sort=price_asc", &token), Err(InvalidCursor));
        }
    }
}
