# The wasm-bindgen CLI at the version Cargo.lock needs, built from the published crate. Cargo.lock
# beside this file is this crate's dependency resolution (cargo generate-lockfile in the unpacked
# crate): the one the crate ships names a webpki-roots release cargo cannot fetch (`cargo install
# --locked` fails on it).
{ pkgs, craneLib }:
let
  pin = import ./pin.nix;
in
pkgs.rustPlatform.buildRustPackage {
  pname = "wasm-bindgen-cli";
  inherit (pin) version;
  src = craneLib.downloadCargoPackage {
    name = "wasm-bindgen-cli";
    inherit (pin) version checksum;
    source = "registry+https://github.com/rust-lang/crates.io-index";
  };
  cargoLock.lockFile = ./Cargo.lock;
  postPatch = ''
    cp ${./Cargo.lock} Cargo.lock
  '';
  # Its tests need the whole wasm-bindgen repository.
  doCheck = false;
  meta.mainProgram = "wasm-bindgen";
}
