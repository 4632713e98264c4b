//! The request path as the gateway accepts it: in normal form already, or refused.
//!
//! The gateway routes on the raw path and forwards it unchanged. A hop behind it that
//! normalises paths (an Envoy sidecar resolves dot segments by default and can merge slashes;
//! some servers read a backslash as a slash, or decode `%2f` before they route) would then
//! deliver a request to another route than the one the gateway checked:
//! `/api/v1/products/../../internal/reservations` passes here as a public product route and
//! arrives at `/internal/reservations`. Rather than normalise, and so guess how every later hop
//! does it, the gateway refuses (400) every path that any of them could read differently:
//!
//! - a `.` or `..` segment (also with a `;parameter`, which some servers strip first);
//! - an empty segment (`//`), except the trailing one of a path ending in `/`;
//! - a backslash;
//! - an encoded dot, slash or backslash (`%2e`, `%2f`, `%5c`, in any case).
//!
//! No route of the shop needs any of these, so a client that sends one is probing.

use std::fmt;

/// Why a path is not in normal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotNormal {
    /// It does not start with `/`.
    Relative,
    /// A `.` or `..` segment.
    DotSegment,
    /// An empty segment: two slashes in a row.
    EmptySegment,
    /// A backslash.
    Backslash,
    /// `%2e`, `%2f` or `%5c`, in any case.
    EncodedSeparator,
}

impl fmt::Display for NotNormal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Relative => "it does not start with /",
            Self::DotSegment => "it has a . or .. segment",
            Self::EmptySegment => "it has an empty segment (//)",
            Self::Backslash => "it has a backslash",
            Self::EncodedSeparator => "it has an encoded dot, slash or backslash",
        })
    }
}

impl NotNormal {
    /// A short machine-readable name of the reason: the code of the problem's field error.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Relative => "relative",
            Self::DotSegment => "dot_segment",
            Self::EmptySegment => "empty_segment",
            Self::Backslash => "backslash",
            Self::EncodedSeparator => "encoded_separator",
        }
    }
}

/// Checks that `path` (a request's path, without the query) is in normal form.
pub fn check(path: &str) -> Result<(), NotNormal> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(NotNormal::Relative);
    };
    if path.contains('\\') {
        return Err(NotNormal::Backslash);
    }
    if has_encoded_separator(path.as_bytes()) {
        return Err(NotNormal::EncodedSeparator);
    }
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if segment.is_empty() && !last {
            return Err(NotNormal::EmptySegment);
        }
        let name = segment.split(';').next().unwrap_or_default();
        if name == "." || name == ".." {
            return Err(NotNormal::DotSegment);
        }
    }
    Ok(())
}

fn has_encoded_separator(path: &[u8]) -> bool {
    path.windows(3).any(|window| match window {
        [b'%', b'2', second] => matches!(second.to_ascii_lowercase(), b'e' | b'f'),
        [b'%', b'5', second] => second.eq_ignore_ascii_case(&b'c'),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_shops_paths_are_normal() {
        for path in [
            "/",
            "/api/v1/products",
            "/api/v1/products/",
            "/api/v1/products/0190a3b4-7c1d-7d2e-9f00-1234567890ab/image.svg",
            "/assets/app-1a2b3c.js",
            "/.well-known/jwks.json",
            "/api/v1/products/a.b",
            "/products/...",
            "/search/%20mouse%41",
        ] {
            assert_eq!(check(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn every_variant_of_a_path_a_later_hop_could_read_differently_is_refused() {
        for (path, reason) in [
            (
                "/api/v1/products/../../internal/reservations",
                NotNormal::DotSegment,
            ),
            ("/api/v1/products/..", NotNormal::DotSegment),
            ("/api/v1/./products", NotNormal::DotSegment),
            ("/.", NotNormal::DotSegment),
            ("/api/v1/products/..;/internal", NotNormal::DotSegment),
            ("/api/v1/products/.;x/y", NotNormal::DotSegment),
            ("//internal/reservations", NotNormal::EmptySegment),
            ("/api/v1//products", NotNormal::EmptySegment),
            ("/api/v1/products//", NotNormal::EmptySegment),
            ("/api/v1/products/..\\..\\internal", NotNormal::Backslash),
            ("/api\\v1/products", NotNormal::Backslash),
            (
                "/api/v1/products/%2e%2e/%2e%2e/internal",
                NotNormal::EncodedSeparator,
            ),
            (
                "/api/v1/products/%2E%2E/internal",
                NotNormal::EncodedSeparator,
            ),
            (
                "/api/v1/products/.%2e/internal",
                NotNormal::EncodedSeparator,
            ),
            (
                "/api/v1/products%2f..%2f..%2finternal",
                NotNormal::EncodedSeparator,
            ),
            (
                "/api/v1/products%2F..%2F..%2Finternal",
                NotNormal::EncodedSeparator,
            ),
            (
                "/api/v1/products%5c..%5cinternal",
                NotNormal::EncodedSeparator,
            ),
            (
                "/api/v1/products%5C..%5Cinternal",
                NotNormal::EncodedSeparator,
            ),
            ("api/v1/products", NotNormal::Relative),
            ("", NotNormal::Relative),
        ] {
            assert_eq!(check(path), Err(reason), "{path}");
        }
    }

    /// A segment that is normal on its own: letters, digits and the punctuation ids and file
    /// names use, never only dots.
    fn segment() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_~.-]{1,12}".prop_filter("not a dot segment", |s| s != "." && s != "..")
    }

    proptest! {
        #[test]
        fn the_check_never_panics(path in "\\PC{0,64}") {
            let _ = check(&path);
        }

        #[test]
        fn paths_of_normal_segments_pass(segments in prop::collection::vec(segment(), 0..6), trailing in any::<bool>()) {
            let mut path = format!("/{}", segments.join("/"));
            if trailing && !segments.is_empty() {
                path.push('/');
            }
            prop_assert_eq!(check(&path), Ok(()));
        }

        #[test]
        fn a_dot_segment_anywhere_is_refused(
            before in prop::collection::vec(segment(), 0..4),
            after in prop::collection::vec(segment(), 0..4),
            dots in prop::sample::select(vec![".", ".."]),
        ) {
            let mut segments = before;
            segments.push(dots.to_owned());
            segments.extend(after);
            let path = format!("/{}", segments.join("/"));
            prop_assert_eq!(check(&path), Err(NotNormal::DotSegment));
        }

        #[test]
        fn an_encoded_separator_anywhere_is_refused(
            before in "[A-Za-z0-9/]{0,16}",
            after in "[A-Za-z0-9/]{0,16}",
            encoded in prop::sample::select(vec!["%2e", "%2E", "%2f", "%2F", "%5c", "%5C"]),
        ) {
            let path = format!("/{before}{encoded}{after}");
            prop_assert!(check(&path).is_err());
        }
    }
}
