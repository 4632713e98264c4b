//! Product images generated in code: an SVG per product with a glyph for its category, colours
//! derived from its id, and its name. The demo catalog points `image_url` here, so the shop
//! looks complete without any file store or external URL.

use std::fmt::Write as _;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::{ApiResult, Path};
use uuid::Uuid;

use crate::AppState;
use crate::catalog::{self, Viewer};
use crate::categories;

/// Longest part of the name written on the image; the rest is cut with an ellipsis.
const MAX_LABEL_CHARS: usize = 26;

/// The generated images.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/products/{id}/image.svg", get(product_image))
}

/// The path of a product's generated image.
pub(crate) fn image_path(id: Uuid) -> String {
    format!("/api/v1/products/{id}/image.svg")
}

/// A product's generated image
#[utoipa::path(
    get,
    path = "/api/v1/products/{id}/image.svg",
    tag = "catalog",
    params(("id" = Uuid, Path, description = "The product's id")),
    responses(
        (status = 200, description = "The image", body = String, content_type = "image/svg+xml"),
        (status = 404, description = "No such product", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn product_image(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let product = catalog::visible(catalog::product_by_id(&state, id).await?, viewer)?;
    let categories = categories::all(&state).await?;
    let category = categories
        .iter()
        .find(|c| c.id == product.category_id)
        .map_or("", |c| c.slug.as_str());
    let svg = render(&product.name, category, product.id);
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            // An SVG opened on its own is a document; this one needs no script or fetch.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        svg,
    )
        .into_response())
}

/// The SVG of a product named `name` in the category `category` (a slug), coloured by `seed`.
pub(crate) fn render(name: &str, category: &str, seed: Uuid) -> String {
    let bytes = seed.as_bytes();
    let hue = u16::from_be_bytes([bytes[14], bytes[15]]) % 360;
    let second = (hue + 40 + u16::from(bytes[13] % 60)) % 360;
    let mut svg = String::with_capacity(2048);
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 400" width="400" height="400" role="img" aria-label="{label}"><defs><linearGradient id="bg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="hsl({hue},70%,58%)"/><stop offset="1" stop-color="hsl({second},65%,38%)"/></linearGradient></defs><rect width="400" height="400" rx="24" fill="url(#bg)"/><g fill="none" stroke="#fff" stroke-width="8" stroke-linecap="round" stroke-linejoin="round" opacity="0.92">"##,
        label = escape(name),
    );
    svg.push_str(glyph(category));
    let _ = write!(
        svg,
        r##"</g><text x="200" y="360" text-anchor="middle" font-family="system-ui,sans-serif" font-size="22" font-weight="600" fill="#fff">{}</text></svg>"##,
        escape(&label(name)),
    );
    svg
}

/// The drawing for a category, by the words its slug contains.
fn glyph(category: &str) -> &'static str {
    const KEYBOARD: &str = r#"<rect x="60" y="130" width="280" height="120" rx="14"/><path d="M95 165h20M135 165h20M175 165h20M215 165h20M255 165h20M295 165h10M95 195h20M135 195h20M175 195h20M215 195h20M255 195h40M130 222h140"/>"#;
    const MOUSE: &str = r#"<rect x="140" y="90" width="120" height="190" rx="60"/><path d="M200 90v70M140 160h120"/>"#;
    const MONITOR: &str = r#"<rect x="60" y="80" width="280" height="170" rx="10"/><path d="M200 250v40M150 295h100"/>"#;
    const HEADPHONES: &str = r#"<path d="M100 220v-40a100 100 0 0 1 200 0v40"/><rect x="85" y="210" width="45" height="80" rx="16"/><rect x="270" y="210" width="45" height="80" rx="16"/>"#;
    const LAPTOP: &str = r#"<rect x="95" y="90" width="210" height="140" rx="10"/><path d="M60 270h280l-25-40H85z"/>"#;
    const SPEAKER: &str = r#"<rect x="130" y="70" width="140" height="230" rx="18"/><circle cx="200" cy="125" r="22"/><circle cx="200" cy="225" r="45"/>"#;
    const PACKAGE: &str = r#"<path d="M200 80l120 55v130l-120 55-120-55V135z"/><path d="M80 135l120 55 120-55M200 190v130"/>"#;
    let has = |word: &str| category.contains(word);
    if has("keyboard") {
        KEYBOARD
    } else if has("mice") || has("mouse") {
        MOUSE
    } else if has("monitor") || has("display") {
        MONITOR
    } else if has("headphone") || has("audio") {
        HEADPHONES
    } else if has("laptop") || has("computer") {
        LAPTOP
    } else if has("speaker") {
        SPEAKER
    } else {
        PACKAGE
    }
}

/// The name as written on the image: short enough to fit.
fn label(name: &str) -> String {
    if name.chars().count() <= MAX_LABEL_CHARS {
        name.to_owned()
    } else {
        let cut: String = name.chars().take(MAX_LABEL_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

/// Text made safe for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_shortened() {
        let svg = render(
            "<script>alert('x')</script> & a very long product name",
            "keyboards",
            Uuid::from_u128(1),
        );
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains('…'));
    }

    #[test]
    fn images_are_deterministic_and_differ_by_product_and_category() {
        let a = render("Mouse", "mice", Uuid::from_u128(1));
        assert_eq!(a, render("Mouse", "mice", Uuid::from_u128(1)));
        assert_ne!(a, render("Mouse", "mice", Uuid::from_u128(2)));
        assert_ne!(a, render("Mouse", "keyboards", Uuid::from_u128(1)));
        assert_eq!(glyph("something-else"), glyph(""));
    }
}
