//! `bare-http`: an axum server that answers every request with `200 ok` and does nothing else —
//! the local limit of a Rust HTTP service on this machine, which the benchmarks set beside
//! nginx's `return 200` and the shop's own services.
//!
//! ```sh
//! bare-http 127.0.0.1:9999
//! ```

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9999".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let app = axum::Router::new().fallback(|| async { "ok" });
    axum::serve(listener, app).await?;
    Ok(())
}
