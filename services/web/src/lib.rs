//! The web service: serves the built Yew frontend.
//!
//! - [`site`]: files from `WEB_ROOT` with their precompressed `.br`/`.gz` twins, immutable
//!   caching for content-hashed assets, `no-cache` for `index.html`, and `index.html` for every
//!   client route (the single-page app's fallback), while a missing asset stays a 404;
//! - [`security`]: the headers every answer carries (CSP without inline scripts, nosniff, ...);
//! - [`precompress`]: the `web precompress DIR` step of the build, writing those twins.
//!
//! The gateway proxies `/` here and `/api/v1` to the services, so the app and its API share
//! one origin and the CSP can stay at `'self'`.

pub mod config;
pub mod precompress;
pub mod security;
pub mod site;
pub mod startup;

pub use site::{Site, app};
