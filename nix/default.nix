# Everything the flake builds for one system; flake.nix only arranges it into outputs.
{
  self,
  nixpkgs,
  crane,
  rust-overlay,
  system,
}:
let
  pkgs = import nixpkgs {
    inherit system;
    overlays = [ rust-overlay.overlays.default ];
  };
  inherit (import ./services.nix) services tools;
  meta = import ./meta.nix { inherit self; };

  rust = import ./rust.nix {
    inherit
      pkgs
      crane
      services
      tools
      ;
    inherit (meta) version;
    target = (import ./systems.nix).${system};
  };
  frontend = import ./frontend.nix {
    inherit pkgs;
    inherit (rust) craneLib cargoSources;
    inherit (meta) version;
    web = rust.packages.web;
  };
  images = import ./images.nix {
    inherit pkgs services;
    inherit (meta) version revision source;
    binaries = rust.packages;
    site = frontend.frontend;
  };
in
{
  inherit (rust) packages;
  inherit (images) images;
  allImages = images.all;
  inherit (frontend) frontend;
  checks =
    rust.checks
    // import ./checks.nix {
      inherit pkgs;
      inherit (rust) craneLib commonArgs cargoArtifacts;
    };
  devShell = import ./devshell.nix {
    inherit pkgs;
    inherit (rust) craneLib;
    inherit (frontend) wasm-bindgen-cli;
  };
  devApp = import ./dev-app.nix {
    inherit pkgs;
    binaries = rust.packages;
    inherit (frontend) frontend;
  };
}
