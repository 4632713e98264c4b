//! The storefront: browsing and the cart, the pages a visitor loads first (`trunk build`
//! compiles this for wasm32).

#[cfg(target_arch = "wasm32")]
fn main() {
    frontend::start(frontend::route::storefront);
}

/// Natively the crate is only a library for the component tests; there is nothing to run.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the frontend runs in the browser: build it with ci/frontend-build (trunk)");
    std::process::exit(2);
}
