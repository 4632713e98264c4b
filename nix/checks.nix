# The checks beside clippy and fmt (nix/rust.nix): the tests, against live servers started inside
# the build sandbox, and the chart once charts/ecommerce exists.
{
  pkgs,
  craneLib,
  commonArgs,
  cargoArtifacts,
}:
let
  inherit (pkgs) lib;

  # The tests talk to a real PostgreSQL, Redis and RabbitMQ (testkit gives each test its own
  # database, key prefix and AMQP names). The sandbox has its own loopback, so the standard
  # ports are free; everything keeps its state in $TMPDIR, and the sandbox ends whatever is
  # still running when the build does.
  startServers = ''
    state="$TMPDIR/servers"
    mkdir -p "$state"/{rabbitmq/mnesia,rabbitmq/log,redis}

    wait_for_port() { # NAME PORT LOG
      local waited=0
      until (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; do
        if ((waited >= 120)); then
          echo "$1 did not listen on 127.0.0.1:$2 within 120 s; its log:" >&2
          tail -n 50 "$3" >&2
          return 1
        fi
        sleep 1
        waited=$((waited + 1))
      done
      echo "$1 up on 127.0.0.1:$2 after ''${waited}s"
    }

    initdb -D "$state/postgres" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$state/initdb.log"
    postgres -D "$state/postgres" -p 5432 -c listen_addresses=127.0.0.1 \
      -c unix_socket_directories= -c max_connections=200 -c fsync=off >"$state/postgres.log" 2>&1 &
    wait_for_port postgres 5432 "$state/postgres.log"

    redis-server --bind 127.0.0.1 --port 6379 --dir "$state/redis" --save "" --appendonly no \
      >"$state/redis.log" 2>&1 &
    wait_for_port redis 6379 "$state/redis.log"

    printf '[].\n' >"$state/rabbitmq/enabled_plugins"
    printf 'loopback_users.guest = true\n' >"$state/rabbitmq/rabbitmq.conf"
    HOME="$state/rabbitmq" \
      RABBITMQ_NODENAME=rabbit@localhost \
      RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      RABBITMQ_NODE_PORT=5672 \
      RABBITMQ_CONF_ENV_FILE="$state/rabbitmq/rabbitmq-env.conf" \
      RABBITMQ_CONFIG_FILE="$state/rabbitmq/rabbitmq.conf" \
      RABBITMQ_ADVANCED_CONFIG_FILE="$state/rabbitmq/advanced.config" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$state/rabbitmq/enabled_plugins" \
      RABBITMQ_MNESIA_BASE="$state/rabbitmq/mnesia" \
      RABBITMQ_LOG_BASE="$state/rabbitmq/log" \
      RABBITMQ_LOGS=- \
      RABBITMQ_PID_FILE="$state/rabbitmq/rabbitmq.pid" \
      rabbitmq-server >"$state/rabbitmq.log" 2>&1 &
    wait_for_port rabbitmq 5672 "$state/rabbitmq.log"

    export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
    export TEST_REDIS_URL=redis://127.0.0.1:6379
    export TEST_AMQP_URL='amqp://guest:guest@127.0.0.1:5672/%2f'
  '';

  chartDir = ../charts/ecommerce;
  # The chart's own lint and rendering, and every rendered object validated against Kubernetes'
  # schemas. kubernetes-validate, not kubeconform: kubeconform downloads its schemas, which the
  # sandbox cannot, and the only offline copy in nixpkgs (kubernetes-validate's) refers to its
  # definitions by a path kubeconform resolves from the filesystem root.
  kubeVersion = "1.30.0";
  # Kinds of the platform's CRDs, for which Kubernetes has no schema: the chart's own tests check
  # those against the vendored CRDs. Any other kind without a schema fails the check (a typo).
  crdKinds = pkgs.writeText "crd-kinds" ''
    AuthorizationPolicy
    Certificate
    ClusterIssuer
    DestinationRule
    Gateway
    PeerAuthentication
    PrometheusRule
    SealedSecret
    ServiceMonitor
    VirtualService
  '';
  chart =
    pkgs.runCommand "ecommerce-chart-check"
      {
        nativeBuildInputs = [
          pkgs.kubernetes-helm
          pkgs.python3Packages.kubernetes-validate
        ];
        src = lib.fileset.toSource {
          root = chartDir;
          fileset = chartDir;
        };
      }
      ''
        export HOME="$TMPDIR"
        cp -R --no-preserve=mode "$src" chart
        # Local (file://) subcharts only: nothing to download.
        if grep -q '^dependencies:' chart/Chart.yaml; then
          helm dependency build chart
        fi
        shopt -s nullglob
        # Each values file over the chart's defaults, as helm -f applies it: the environments and
        # the CI matrix. Not the defaults alone: they leave payment.provider to be chosen, and the
        # chart refuses to render without one.
        for values in chart/values-*.yaml chart/ci/*.yaml; do
          echo "== $values"
          helm lint --strict chart --kube-version ${kubeVersion} -f "$values"
          helm template ecommerce chart --namespace ecommerce --kube-version ${kubeVersion} \
            -f "$values" >rendered.yaml
          if ! kubernetes-validate --strict --quiet -k ${kubeVersion} rendered.yaml >validate.log 2>&1; then
            cat validate.log >&2
            exit 1
          fi
          cat validate.log
          unknown="$(sed -n "s/.*Couldn't find schema for kind \([A-Za-z0-9]*\) .*/\1/p" validate.log |
            sort -u | grep -vxF -f ${crdKinds} || true)"
          if [ -n "$unknown" ]; then
            echo "$values: no Kubernetes schema for kind(s) $unknown (not a CRD kind the chart may use)" >&2
            exit 1
          fi
        done
        touch $out
      '';
in
{
  nextest = craneLib.cargoNextest (
    commonArgs
    // {
      inherit cargoArtifacts;
      pname = "ecommerce";
      nativeBuildInputs = [
        pkgs.postgresql
        pkgs.redis
        pkgs.rabbitmq-server
      ];
      preCheck = startServers;
      # As ci/test runs them: the whole workspace, every feature, nextest's `ci` profile
      # (.config/nextest.toml: no fail-fast, no retries).
      cargoNextestExtraArgs = "--workspace --profile ci";
    }
  );
}
// lib.optionalAttrs (builtins.pathExists (chartDir + "/Chart.yaml")) { inherit chart; }
