# The browser apps: Trunk builds them for wasm32 (crane's buildTrunkPackage), the storefront into
# dist, the account app and the admin portal (bundles of their own, served under /account and
# /admin) into dist/account and dist/admin, then the web service's own `precompress` writes the
# .br/.gz twins, as ci/frontend-build does.
# packages.frontend is exactly the site the web image serves.
{
  pkgs,
  craneLib,
  cargoSources,
  version,
  web,
}:
let
  inherit (pkgs) lib;
  root = ../.;
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      cargoSources
      (root + "/frontend/index.html")
      (root + "/frontend/account.html")
      (root + "/frontend/admin.html")
      (root + "/frontend/boot.js")
      (root + "/frontend/assets")
      (root + "/frontend/styles")
    ];
  };

  locked = lib.findFirst (p: p.name == "wasm-bindgen") (throw "Cargo.lock has no wasm-bindgen") (
    builtins.fromTOML (builtins.readFile ../Cargo.lock)
  ).package;
  pin = import ./wasm-bindgen-cli/pin.nix;
  wasm-bindgen-cli =
    assert lib.assertMsg (pin.version == locked.version)
      "nix/wasm-bindgen-cli/pin.nix has ${pin.version}, Cargo.lock has wasm-bindgen ${locked.version}: update the pin and nix/wasm-bindgen-cli/Cargo.lock";
    import ./wasm-bindgen-cli { inherit pkgs craneLib; };

  wasmArgs = {
    inherit src version;
    pname = "ecommerce-frontend";
    strictDeps = true;
    cargoExtraArgs = "--locked --package frontend";
    CARGO_BUILD_TARGET = "wasm32-unknown-unknown";
    # Size over speed, as ci/lib-frontend.sh builds it: the workspace's release profile stays
    # tuned for the services, so these come from the environment.
    CARGO_PROFILE_RELEASE_OPT_LEVEL = "z";
    CARGO_PROFILE_RELEASE_LTO = "true";
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS = "1";
    CARGO_PROFILE_RELEASE_PANIC = "abort";
    CARGO_PROFILE_RELEASE_STRIP = "false";
  };

  # The browser app's dependencies are compiled for another target and profile than the services',
  # so they cannot share the services' dependency build: this is the only other one.
  wasmArtifacts = craneLib.buildDepsOnly (wasmArgs // { doCheck = false; });

  site = craneLib.buildTrunkPackage (
    wasmArgs
    // {
      cargoArtifacts = wasmArtifacts;
      inherit wasm-bindgen-cli;
      # Trunk runs in the crate's folder, where Trunk.toml and index.html are.
      preBuild = ''
        cd frontend
      '';
      # The other apps after the storefront, whose build empties dist first (ci/lib-frontend.sh).
      postBuild = ''
        trunk build --release --dist dist/account --public-url /account/ account.html
        trunk build --release --dist dist/admin --public-url /admin/ admin.html
        mv dist ..
        cd ..
      '';
    }
  );
in
{
  inherit wasm-bindgen-cli;
  # allowedReferences = [ ]: a store path left in the site (a source path in the wasm, say) would
  # pull that path into the web image, so the build fails on one instead.
  frontend = pkgs.runCommand "ecommerce-frontend-${version}" { allowedReferences = [ ]; } ''
    cp -R --no-preserve=mode ${site} $out
    ${lib.getExe web} precompress $out
  '';
}
