# `nix run .#dev`: the local stack (ci/dev, from the checkout it is run in, so its state stays in
# that checkout's .state/dev) on the flake's binaries and storefront, with PostgreSQL, Redis and
# RabbitMQ from nixpkgs. Nothing is built with cargo and nothing is installed with apt. Arguments
# go to ci/dev: `nix run .#dev -- up --port 9000`, `nix run .#dev -- down`.
{
  pkgs,
  binaries,
  frontend,
}:
let
  inherit (pkgs) lib;
  binDir = pkgs.symlinkJoin {
    name = "ecommerce-services";
    paths = builtins.attrValues binaries;
  };
in
pkgs.writeShellApplication {
  name = "ecommerce-dev";
  # ci/dev's own commands (it would otherwise install their Debian packages).
  runtimeInputs = with pkgs; [
    bash
    coreutils
    curl
    findutils
    gawk
    git
    gnugrep
    gnused
    iproute2
    jq
    procps
    util-linux
  ];
  text = ''
    root="$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
    if [[ ! -x "$root/ci/dev" ]]; then
      echo "nix run .#dev: run it inside a checkout of ecommerce (there is no ci/dev in $root)" >&2
      exit 1
    fi
    export ECOMMERCE_DEV_BIN_DIR=${binDir}/bin
    export ECOMMERCE_DEV_WEB_ROOT=${frontend}
    export ECOMMERCE_DEV_INFRA_PATH=${
      lib.makeBinPath [
        pkgs.postgresql
        pkgs.redis
        pkgs.rabbitmq-server
        pkgs.erlang
      ]
    }
    export ECOMMERCE_DEV_NO_INSTALL=1
    exec "$root/ci/dev" "$@"
  '';
}
