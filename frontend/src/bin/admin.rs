//! The admin portal, under `/admin`: a bundle of its own, so shoppers never download it
//! (`trunk build admin.html` compiles this for wasm32).

#[cfg(target_arch = "wasm32")]
fn main() {
    frontend::start(frontend::pages::admin::switch);
}

/// Natively the crate is only a library for the component tests; there is nothing to run.
#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the admin portal runs in the browser: build it with ci/frontend-build (trunk)");
    std::process::exit(2);
}
