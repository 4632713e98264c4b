# `nix develop`: every tool a contributor runs, at the versions the flake builds with.
{
  pkgs,
  craneLib,
  wasm-bindgen-cli,
}:
craneLib.devShell {
  # craneLib.devShell brings the flake's Rust toolchain (with the musl and wasm32 targets, clippy
  # and rustfmt).
  packages = with pkgs; [
    # the browser app
    trunk
    wasm-bindgen-cli
    binaryen
    nodejs
    chromium
    # tests and the local stack
    cargo-nextest
    sqlx-cli
    postgresql
    redis
    rabbitmq-server
    curl
    jq
    # the cluster
    kubernetes-helm
    kubectl
    kustomize
    kubeconform
    argocd
    istioctl
    # images
    skopeo
    podman
  ];
  # Trunk.toml pins the wasm-bindgen and wasm-opt the Debian build installs; here the shell's own
  # are the right ones, and Trunk uses a tool on PATH only when its version is the pinned one.
  TRUNK_TOOLS_WASM_BINDGEN = wasm-bindgen-cli.version;
  TRUNK_TOOLS_WASM_OPT = "version_${pkgs.binaryen.version}";
}
