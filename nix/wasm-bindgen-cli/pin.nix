# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock (and of
# the pin in frontend/Trunk.toml); ci/flake-check checks all three agree. `checksum` is the
# registry's sha256 of the published crate, as a Cargo.lock records it.
{
  version = "0.2.130";
  checksum = "c37f6904387d19a319525c74af274c73912f3871c35555aa49f3ea64ebb2fc7a";
}
