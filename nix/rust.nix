# The Rust builds of one system with crane: the static service binaries, and the clippy and fmt
# checks. Everything shares one `commonArgs` and one `buildDepsOnly`, so the dependencies are
# compiled once for the binaries, clippy and the tests (nix/checks.nix) alike.
{
  pkgs,
  crane,
  target,
  services,
  tools,
  version,
}:
let
  inherit (pkgs) lib;

  # One toolchain for the services (static, musl) and the browser app (wasm32).
  toolchain =
    p:
    p.rust-bin.stable.latest.default.override {
      targets = [
        target
        "wasm32-unknown-unknown"
      ];
    };
  craneLib = (crane.mkLib pkgs).overrideToolchain toolchain;

  root = ../.;
  # What cargo reads: manifests, the lock file, Rust sources and TOML (.config/nextest.toml
  # included), the SQL migrations that sqlx::migrate! embeds at compile time (the services'
  # migrations/ and kit's test migrations), and the query data sqlx's checked macros read offline
  # (services/*/.sqlx, written by ci/sqlx-prepare; .cargo/config.toml sets SQLX_OFFLINE).
  cargoSources = lib.fileset.unions (
    [
      (craneLib.fileset.commonCargoSources root)
      (lib.fileset.fileFilter (file: file.hasExt "sql") (root + "/services"))
    ]
    ++ map (service: lib.fileset.maybeMissing (root + "/services/${service}/.sqlx")) [
      "user"
      "product"
      "order"
    ]
  );
  src = lib.fileset.toSource {
    inherit root;
    fileset = cargoSources;
  };

  # The C code some crates carry (ring, under rustls) must be compiled against musl's headers,
  # like the Rust code around it, not against the build machine's glibc.
  staticCc = pkgs.pkgsStatic.stdenv.cc;
  targetEnvName = builtins.replaceStrings [ "-" ] [ "_" ] target;

  commonArgs = {
    inherit src version;
    pname = "ecommerce";
    strictDeps = true;
    # The whole workspace with every feature, as ci/test builds it, so the one dependency build
    # below fits the binaries, clippy and the tests.
    cargoExtraArgs = "--locked --all-features";
    CARGO_BUILD_TARGET = target;
    # With an explicit target these flags reach only the target's code, never build scripts or
    # proc macros (a static proc macro cannot be loaded by the compiler).
    CARGO_BUILD_RUSTFLAGS = "-C target-feature=+crt-static";
    # sqlx's checked macros read the committed services/*/.sqlx, never a database (as
    # .cargo/config.toml says for every other build).
    SQLX_OFFLINE = "true";
    "CC_${targetEnvName}" = "${staticCc}/bin/${staticCc.targetPrefix}cc";
  };

  cargoArtifacts = craneLib.buildDepsOnly commonArgs;

  # The five services in one cargo build: the workspace crates they share (kit, contracts,
  # tokens) compile once instead of once per service.
  serviceBuild = craneLib.buildPackage (
    commonArgs
    // {
      inherit cargoArtifacts;
      pname = "ecommerce-services";
      cargoExtraArgs = "--locked --all-features " + lib.concatMapStringsSep " " (s: "-p ${s}") services;
      # The tests need live servers: checks.nextest runs them.
      doCheck = false;
    }
  );

  # The tools in a cargo build of their own: built with the services, their dependencies'
  # features would be the services' too (goose turns on reqwest's TLS), and the services'
  # binaries would no longer be the ones ci/lib.sh's release build and the images ship.
  toolBuild = craneLib.buildPackage (
    commonArgs
    // {
      inherit cargoArtifacts;
      pname = "ecommerce-tools";
      cargoExtraArgs = "--locked " + lib.concatMapStringsSep " " (t: "-p ${t}") (builtins.attrNames tools);
      doCheck = false;
    }
  );

  # packages.<service>: just that binary. allowedReferences = [ ] makes the build fail if the
  # binary still points into the Nix store: the images carry nothing but the binary.
  binary =
    service:
    pkgs.runCommand "${service}-${version}"
      {
        allowedReferences = [ ];
        meta.mainProgram = service;
      }
      ''
        install -Dm555 ${serviceBuild}/bin/${service} $out/bin/${service}
      '';
in
{
  inherit
    craneLib
    commonArgs
    cargoArtifacts
    cargoSources
    ;
  packages =
    lib.genAttrs services binary
    // builtins.mapAttrs (
      tool: bins:
      pkgs.runCommand "${tool}-${version}"
        {
          allowedReferences = [ ];
          meta.mainProgram = tool;
        }
        (lib.concatMapStrings (bin: "install -Dm555 ${toolBuild}/bin/${bin} $out/bin/${bin}\n") bins)
    ) tools;
  checks = {
    clippy = craneLib.cargoClippy (
      commonArgs
      // {
        inherit cargoArtifacts;
        cargoClippyExtraArgs = "--workspace --all-targets -- -D warnings";
      }
    );
    fmt = craneLib.cargoFmt {
      inherit src version;
      pname = "ecommerce";
      cargoExtraArgs = "--all";
    };
  };
}
