//! The refresh token as browsers keep it: the `refresh_token` cookie.
//!
//! Register, login and a cookie-borne refresh set it `HttpOnly` (no script on the page can read
//! it, so an XSS hole cannot carry it off), `Secure` (never over plain HTTP; browsers treat
//! `localhost` as secure), `SameSite=Strict` (no other site's page makes the browser send it) and
//! `Path=/api/v1/auth` (only refresh and logout, which need it, and register and login, which
//! set it, ever see it; no other API request carries it).
//!
//! A request that authenticates with the cookie rather than a body token is one a browser sent
//! on its own: beside `SameSite`, its `Origin` must be the shop's own origin (the host the
//! gateway was asked for, `X-Forwarded-Host`), or it is refused with 403. That closes cross-site
//! request forgery for browsers that ignore `SameSite` and for subdomains, which count as the
//! same site. Non-browser clients keep sending the token in the body and get it back there.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};
use kit::ApiError;

/// The cookie's name.
const NAME: &str = "refresh_token";

/// The paths the browser sends it to: the auth endpoints.
const PATH: &str = "/api/v1/auth";

/// The `Set-Cookie` value that hands the browser `token`, valid for `ttl`.
pub(crate) fn set(token: &str, ttl: Duration) -> Result<HeaderValue, ApiError> {
    let max_age = cookie::time::Duration::seconds(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
    render(Cookie::build((NAME, token.to_owned())).max_age(max_age))
}

/// The `Set-Cookie` value that makes the browser forget the token.
pub(crate) fn clear() -> Result<HeaderValue, ApiError> {
    render(Cookie::build((NAME, "")).max_age(cookie::time::Duration::ZERO))
}

fn render(cookie: cookie::CookieBuilder<'static>) -> Result<HeaderValue, ApiError> {
    let cookie = cookie
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path(PATH)
        .build();
    HeaderValue::try_from(cookie.to_string())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("unusable refresh token cookie: {e}")))
}

/// The refresh token a browser sent in the cookie, if the request authenticates that way: its
/// `Origin` must be the shop's own (403 otherwise).
pub(crate) fn token(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let sent = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == NAME)
        .map(|cookie| cookie.value().to_owned())
        .filter(|token| !token.is_empty());
    let Some(token) = sent else {
        return Ok(None);
    };
    if !same_origin(headers) {
        return Err(ApiError::Forbidden(
            "A request authenticated by the refresh token cookie must come from the shop's own \
             pages (its Origin header)."
                .to_owned(),
        ));
    }
    Ok(Some(token))
}

/// Whether the request's `Origin` names the host the request was sent to (as the gateway
/// reports it in `X-Forwarded-Host`, or `Host` when called directly). The scheme is not
/// compared: TLS may end in front of the gateway, which then speaks plain HTTP.
fn same_origin(headers: &HeaderMap) -> bool {
    let value = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let Some(origin) = value(header::ORIGIN) else {
        return false;
    };
    let Some(origin_host) = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .filter(|host| !host.is_empty() && !host.contains('/'))
    else {
        return false;
    };
    let requested =
        value(header::HeaderName::from_static("x-forwarded-host")).or_else(|| value(header::HOST));
    requested.is_some_and(|host| host.eq_ignore_ascii_case(origin_host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers
    }

    #[test]
    fn the_cookie_is_out_of_scripts_and_other_sites_reach() {
        let set = set("abc", Duration::from_secs(60)).expect("a header");
        let set = set.to_str().expect("ascii").to_owned();
        for attribute in [
            "refresh_token=abc",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/api/v1/auth",
            "Max-Age=60",
        ] {
            assert!(set.contains(attribute), "{attribute} in {set}");
        }
        let cleared = clear().expect("a header");
        let cleared = cleared.to_str().expect("ascii").to_owned();
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
    }

    #[test]
    fn a_cookie_from_another_origin_is_refused() {
        let cookie = ("cookie", "theme=dark; refresh_token=abc");
        let from = |origin: Option<&str>| {
            let mut pairs = vec![cookie, ("x-forwarded-host", "shop.example")];
            if let Some(origin) = origin {
                pairs.push(("origin", origin));
            }
            token(&headers(&pairs)).map_err(|e| e.status().as_u16())
        };
        assert_eq!(
            from(Some("https://shop.example")),
            Ok(Some("abc".to_owned()))
        );
        assert_eq!(
            from(Some("http://SHOP.example")),
            Ok(Some("abc".to_owned()))
        );
        for origin in [
            None,
            Some("https://evil.example"),
            Some("https://shop.example.evil.example"),
            Some("https://evil.example/https://shop.example"),
            Some("null"),
        ] {
            assert_eq!(from(origin), Err(403), "{origin:?}");
        }
        // Without the cookie there is nothing to guard.
        let bare = token(&headers(&[("origin", "https://evil.example")]));
        assert_eq!(bare.map_err(|e| e.status().as_u16()), Ok(None));
    }
}
