//! The account app: signing in, registering, the signed-in pages (checkout, orders, account)
//! and the storefront's, a bundle of its own so that the storefront's first page is smaller
//! (`trunk build account.html` compiles this for wasm32).

#[cfg(target_arch = "wasm32")]
fn main() {
    frontend::start(frontend::route::account);
}

/// Natively the crate is only a library for the component tests; there is nothing to run.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the account app runs in the browser: build it with ci/frontend-build (trunk)");
    std::process::exit(2);
}
