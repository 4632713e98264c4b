# shellcheck shell=bash
# ci/lib-dev.sh — the functions of the local stack launcher. `ci/dev` is the command (see
# `ci/dev --help`); it sources ci/lib.sh and then this file.
#
# Everything a running stack needs to be found again lives in its state directory, so `down`,
# `status` and `logs` work from any terminal and after the launcher is gone:
#
#   STATE/stack.env          the settings of the last `up` (URL, ports, which infra was private)
#   STATE/run/lock           flock'd by the launcher while it starts (and while a foreground one runs)
#   STATE/run/NAME.pid       "PID STARTTIME" of every process the launcher started; STARTTIME
#                            (from /proc) tells a live process from a recycled PID
#   STATE/logs/NAME.log      every process's output (services, postgres, redis, rabbitmq, epmd)
#   STATE/secrets/           JWT signing key, cursor secret, admin password: generated once
#   STATE/postgres|redis|rabbitmq/   private infrastructure data
#
# Every process it starts runs in its own session (setsid), so a Ctrl-C in the terminal reaches
# only the launcher, which then stops them in order; stopping signals the leader and, after a
# deadline, SIGKILLs the whole process group, so nothing is orphaned.

# Services in start order; they stop in the reverse order.
DEV_SERVICES=(user product order web gateway)
# Services that own a database (one database each).
DEV_DB_SERVICES=(user product order)
# Per server: "reused" (the one on its standard port) or "private" (started in the state
# directory); decided by dev_choose_infra.
DEV_MODE_postgres=""
DEV_MODE_redis=""
DEV_MODE_rabbitmq=""

# Where the services listen, relative to --port; private infra follows them (RabbitMQ's Erlang
# distribution port and its epmd take the two ports after its AMQP port), then the gateway's
# ops listener (/healthz, /readyz, /metrics: never on its public port).
declare -A DEV_PORT_OFFSET=([gateway]=0 [user]=1 [product]=2 [order]=3 [web]=4
  [postgres]=5 [redis]=6 [rabbitmq]=7 [gateway-ops]=10)
# Standard ports of the infrastructure that `--infra reuse|auto` looks for.
declare -A DEV_STD_PORT=([postgres]=5432 [redis]=6379 [rabbitmq]=5672)

DEV_ADMIN_EMAIL="admin@shop.local"
DEV_ADMIN_NAME="Shop Admin"

# ---------------------------------------------------------------------------------------------
# Output

DEV_COLOR=0
if [[ -t 1 && -z "${NO_COLOR:-}" && "${TERM:-dumb}" != dumb ]]; then
  DEV_COLOR=1
fi
declare -A DEV_COLOR_CODE=([gateway]=36 [user]=32 [product]=33 [order]=35 [web]=34
  [postgres]=90 [redis]=90 [rabbitmq]=90 [epmd]=90)

dev_say() { printf '%s\n' "$*"; }
dev_warn() { printf 'ci/dev: warning: %s\n' "$*" >&2; }
# dev_die MESSAGE — fail with the one readable line the launcher's output ends with. The line
# is kept (in a file: a phase runs in a subshell) and printed once by the launcher's EXIT trap,
# after the teardown and the phase summary, with dev_error_line. The first failure wins.
dev_die() {
  [[ -s "$_CI_RUN_DIR/dev-error" ]] || printf 'ci/dev: error: %s\n' "$*" >"$_CI_RUN_DIR/dev-error"
  exit 1
}
# dev_error_line — the line dev_die kept (empty when none); read it before _ci_on_exit, which
# deletes the folder it is in.
dev_error_line() {
  [[ ! -s "$_CI_RUN_DIR/dev-error" ]] || cat "$_CI_RUN_DIR/dev-error"
}

# dev_prefix NAME — the "[name] " tag in front of a process's log lines (coloured on a terminal).
dev_prefix() {
  local name="$1" tag
  tag="$(printf '%-9s' "[$name]")"
  if ((DEV_COLOR)); then
    printf '\033[%sm%s\033[0m ' "${DEV_COLOR_CODE[$name]:-37}" "$tag"
  else
    printf '%s ' "$tag"
  fi
}

# ---------------------------------------------------------------------------------------------
# Settings

# dev_configure — derive everything from the options (DEV_STATE, DEV_PORT, ...). Idempotent.
dev_configure() {
  DEV_STATE="$(realpath -m -- "$DEV_STATE")"
  # On a shared server, every name the stack creates (databases, Redis keys, exchange, queue,
  # broker node) carries a hash of its state directory's path: two stacks, even the default ones
  # of two checkouts, never see each other's data, nor anyone else's.
  DEV_SUFFIX="$(printf '%s' "$DEV_STATE" | sha256sum | cut -c1-8)"
  DEV_STACK="ecommerce-dev-$DEV_SUFFIX"
  DEV_RUN="$DEV_STATE/run"
  DEV_LOGS="$DEV_STATE/logs"
  DEV_SECRETS="$DEV_STATE/secrets"
}

# dev_port NAME — the port a service or private server listens on.
dev_port() {
  case "$1" in
    postgres) printf '%s' "${DEV_PG_PORT:-$((DEV_PORT + DEV_PORT_OFFSET[postgres]))}" ;;
    redis) printf '%s' "${DEV_REDIS_PORT:-$((DEV_PORT + DEV_PORT_OFFSET[redis]))}" ;;
    rabbitmq) printf '%s' "${DEV_AMQP_PORT:-$((DEV_PORT + DEV_PORT_OFFSET[rabbitmq]))}" ;;
    rabbitmq-dist) printf '%s' "$(($(dev_port rabbitmq) + 1))" ;;
    epmd) printf '%s' "$(($(dev_port rabbitmq) + 2))" ;;
    *) printf '%s' "$((DEV_PORT + DEV_PORT_OFFSET[$1]))" ;;
  esac
}

# dev_ops_port SERVICE — where the service answers /readyz: the gateway on its ops listener,
# the others (not public) next to their API.
dev_ops_port() {
  if [[ "$1" == gateway ]]; then dev_port gateway-ops; else dev_port "$1"; fi
}

dev_db_name() { printf 'ecommerce_%s_%s' "$1" "$DEV_SUFFIX"; }
dev_exchange() { printf 'ecommerce.events.%s' "$DEV_SUFFIX"; }
dev_queue() { printf 'product.order-events.%s' "$DEV_SUFFIX"; }
dev_url() { printf 'http://127.0.0.1:%s' "$(dev_port gateway)"; }

# ---------------------------------------------------------------------------------------------
# Processes

# dev_starttime PID — the process's start time in clock ticks since boot (/proc/PID/stat field
# 22); fails for a process that is gone or a zombie.
dev_starttime() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }" # the command name may contain spaces and parentheses
  local -a f
  read -r -a f <<<"$stat"
  [[ "${f[0]}" != Z ]] || return 1
  printf '%s' "${f[19]}"
}

dev_pidfile() { printf '%s/%s.pid' "$DEV_RUN" "$1"; }

# dev_record NAME PID — remember a started process.
dev_record() {
  local st
  st="$(dev_starttime "$2")" || st=0
  printf '%s %s\n' "$2" "$st" >"$(dev_pidfile "$1")"
}

# dev_pid NAME — the PID of a recorded process that is still the one we started.
dev_pid() {
  local file pid st now
  file="$(dev_pidfile "$1")"
  [[ -s "$file" ]] || return 1
  read -r pid st <"$file" || return 1
  now="$(dev_starttime "$pid")" || return 1
  [[ "$now" == "$st" ]] || return 1
  printf '%s' "$pid"
}

# dev_recorded — names of every recorded process (pid file present), alive or not.
dev_recorded() {
  local f
  for f in "$DEV_RUN"/*.pid; do
    [[ -e "$f" ]] || continue
    f="${f##*/}"
    printf '%s\n' "${f%.pid}"
  done
}

# dev_group_alive PGID — true while a live (non-zombie) process is in the process group.
dev_group_alive() {
  local p
  for p in $(pgrep -g "$1" 2>/dev/null || true); do
    if dev_starttime "$p" >/dev/null; then
      return 0
    fi
  done
  return 1
}

# dev_spawn NAME CMD... — start CMD in a session of its own, output appended to STATE/logs/NAME.log,
# stdin from /dev/null, the launcher's lock descriptor closed, and record its PID. The launcher is
# a non-interactive shell, so its background children are not process group leaders and setsid
# makes CMD itself (same PID) the leader of a new session and group.
dev_spawn() {
  local name="$1"
  shift
  setsid "$@" </dev/null >>"$DEV_LOGS/$name.log" 2>&1 9>&- &
  dev_record "$name" "$!"
}

# dev_stop NAME... — stop recorded processes together: the first signal (SIGINT for postgres,
# a fast shutdown; SIGTERM for the rest) to each leader, then SIGKILL to what is left of their
# process groups after the deadline (adding their names to DEV_STOP_FORCED). Forgets them.
DEV_STOP_FORCED=()
dev_stop() {
  local name pid deadline=$((SECONDS + ${DEV_STOP_TIMEOUT:-20}))
  local -A group=()
  for name in "$@"; do
    if pid="$(dev_pid "$name")"; then
      group[$name]="$pid"
      if [[ "$name" == postgres ]]; then
        kill -INT "$pid" 2>/dev/null || true
      else
        kill -TERM "$pid" 2>/dev/null || true
      fi
    fi
  done
  local left
  while :; do
    left=()
    for name in "${!group[@]}"; do
      if dev_group_alive "${group[$name]}"; then
        left+=("$name")
      fi
    done
    ((${#left[@]} > 0)) || break
    if ((SECONDS >= deadline)); then
      dev_warn "still running after ${DEV_STOP_TIMEOUT:-20}s, killing: ${left[*]}"
      DEV_STOP_FORCED+=("${left[@]}")
      for name in "${left[@]}"; do
        kill -KILL -- "-${group[$name]}" 2>/dev/null || kill -KILL "${group[$name]}" 2>/dev/null || true
      done
      local until=$((SECONDS + 5))
      while ((SECONDS < until)); do
        local any=0
        for name in "${left[@]}"; do
          if dev_group_alive "${group[$name]}"; then any=1; fi
        done
        ((any)) || break
        sleep 0.2
      done
      break
    fi
    sleep 0.2
  done
  for name in "$@"; do
    rm -f "$(dev_pidfile "$name")"
  done
}

# dev_stop_everything — services first (newest first), then the private infrastructure.
dev_stop_everything() {
  local running=() name
  for name in gateway web order product user; do
    if dev_pid "$name" >/dev/null; then running+=("$name"); fi
  done
  if ((${#running[@]} > 0)); then
    dev_say "stopping ${running[*]}"
    dev_stop "${running[@]}"
  fi
  running=()
  for name in rabbitmq redis postgres; do
    if dev_pid "$name" >/dev/null; then running+=("$name"); fi
  done
  if ((${#running[@]} > 0)); then
    dev_say "stopping private ${running[*]}"
    dev_stop "${running[@]}"
  fi
  # epmd last: the broker unregisters from it on its way down.
  if dev_pid epmd >/dev/null; then dev_stop epmd; fi
  # Whatever is left recorded is stale (dead processes): forget it.
  for name in $(dev_recorded); do
    [[ "$name" != launcher ]] || continue
    if dev_pid "$name" >/dev/null; then
      dev_stop "$name"
    else
      rm -f "$(dev_pidfile "$name")"
    fi
  done
}

# dev_running — names of recorded processes that are alive.
dev_running() {
  local name
  for name in $(dev_recorded); do
    [[ "$name" != launcher ]] || continue
    if dev_pid "$name" >/dev/null; then printf '%s\n' "$name"; fi
  done
}

# ---------------------------------------------------------------------------------------------
# Ports and probes

# dev_port_holder PORT — true when a socket holds PORT so that a listen on it would fail; prints
# who, when ss can tell.
dev_port_holder() {
  local port="$1" out
  if command -v ss >/dev/null 2>&1; then
    # Not only listeners: an outgoing connection whose local port is PORT makes a listen on it
    # fail too. TIME_WAIT does not (the services listen with SO_REUSEADDR).
    out="$(ss -tanpH exclude time-wait "sport = :$port" 2>/dev/null | head -n 1 || true)"
    [[ -n "$out" ]] || return 1
    if [[ "$out" =~ users:\(\(\"([^\"]+)\",pid=([0-9]+) ]]; then
      printf '%s (pid %s)' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    else
      printf 'another process (run ss -tanp as root to see which)'
    fi
    return 0
  fi
  if _ci_tcp_open 127.0.0.1 "$port"; then
    printf 'another process'
    return 0
  fi
  return 1
}

dev_tcp_open() { _ci_tcp_open 127.0.0.1 "$1"; }

dev_pg_ready() { # PORT
  "$DEV_PSQL" "postgresql://postgres@127.0.0.1:$1/postgres?connect_timeout=2" -XAtqc 'select 1' >/dev/null 2>&1
}

dev_redis_ready() { # PORT
  local reply
  # shellcheck disable=SC2016 # expanded by the inner bash
  reply="$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "PING\r\n" >&3 && read -r l <&3 && printf "%s" "$l"' _ "$1" 2>/dev/null || true)"
  [[ "${reply%$'\r'}" == +PONG ]]
}

# The AMQP 0-9-1 listener answers the protocol header with connection.start (a method frame,
# type 1) once the broker has booted.
dev_amqp_ready() { # PORT
  local first
  # shellcheck disable=SC2016 # expanded by the inner bash
  first="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "AMQP\x00\x00\x09\x01" >&3 && head -c 1 <&3 | od -An -tx1' _ "$1" 2>/dev/null || true)"
  [[ "${first// /}" == 01 ]]
}

# dev_wait_for WHAT TIMEOUT LOGNAME CMD... — poll CMD until it succeeds; on timeout (or when the
# recorded process LOGNAME dies) show the last lines of its log and fail.
dev_wait_for() {
  local what="$1" timeout="$2" name="$3"
  shift 3
  local start=$SECONDS
  until "$@"; do
    if [[ -n "$name" ]] && ! dev_pid "$name" >/dev/null; then
      dev_show_log "$name"
      dev_die "$what exited while starting (its log: $DEV_LOGS/$name.log)"
    fi
    if ((SECONDS - start >= timeout)); then
      [[ -z "$name" ]] || dev_show_log "$name"
      dev_die "$what not ready after ${timeout}s${name:+ (its log: $DEV_LOGS/$name.log)}"
    fi
    sleep 0.5
  done
  dev_say "$what ready after $((SECONDS - start))s"
}

# dev_show_log NAME [LINES] — the last lines of a process's log, on stderr, without the access
# lines of the launcher's own /readyz polling.
dev_show_log() {
  local log="$DEV_LOGS/$1.log"
  [[ -s "$log" ]] || return 0
  printf -- '--- last %s lines of %s (without /readyz requests) ---\n' "${2:-20}" "$log" >&2
  grep -v '/readyz' "$log" | tail -n "${2:-20}" >&2 || true
  printf -- '---\n' >&2
}

# dev_mark_log NAME — a line in the log where this run's output starts.
dev_mark_log() {
  printf '===== ci/dev up: %s started %s =====\n' "$1" "$(date '+%F %T')" >>"$DEV_LOGS/$1.log"
}

# ---------------------------------------------------------------------------------------------
# Infrastructure: which servers, and their binaries

# dev_apt MISSING OTHERWISE PACKAGE... — install Debian packages for something missing
# (MISSING says what, as "jq is not installed"), or fail with one line saying what to do;
# OTHERWISE, when not empty, is the way around it ("or use ...") that ends the advice.
dev_apt() {
  local missing="$1" otherwise="${2:+, $2}"
  shift 2
  if ((DEV_INSTALL == 0)); then
    dev_die "$missing and --no-install forbids installing packages: install the Debian package(s) $* (apt-get install $*)$otherwise"
  fi
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    dev_die "$missing and there is no apt-get here to install the Debian package(s) $*: install them with this system's package manager$otherwise"
  fi
  if [[ "$(id -u)" != 0 ]] && ! command -v sudo >/dev/null 2>&1; then
    dev_die "$missing and installing the Debian package(s) $* needs root (no sudo): run apt-get install $* as root$otherwise"
  fi
  dev_say "$missing: installing the Debian package(s) $*"
  if ! (ensure_apt "$@") >>"$DEV_LOGS/apt.log" 2>&1; then
    tail -n 15 "$DEV_LOGS/apt.log" >&2 || true
    dev_die "$missing and \`apt-get install $*\` failed (log: $DEV_LOGS/apt.log)$otherwise"
  fi
  hash -r
}

# dev_install WHAT PACKAGE... — install the Debian packages of a missing server binary, or fail
# with one line saying what to do.
dev_install() {
  local what="$1"
  shift
  local otherwise="or use --infra reuse with a server on its standard port"
  if [[ -n "${ECOMMERCE_DEV_INFRA_PATH:-}" ]]; then
    local where="is not in ECOMMERCE_DEV_INFRA_PATH ($ECOMMERCE_DEV_INFRA_PATH)"
    local advice="put it in one of those folders, or unset ECOMMERCE_DEV_INFRA_PATH"
    if ((DEV_INSTALL == 0)); then
      dev_die "$what $where and --no-install forbids installing it: $advice, $otherwise"
    fi
    dev_die "$what $where, where installing packages would not put it: $advice, $otherwise"
  fi
  dev_apt "$what is not installed" \
    "or put a folder holding it in ECOMMERCE_DEV_INFRA_PATH, $otherwise" "$@"
}

# The commands the launcher itself runs, and the Debian packages they come in.
DEV_TOOLS=(curl jq setsid flock setpriv pgrep)
declare -A DEV_TOOL_PACKAGE=([curl]=curl [jq]=jq [setsid]=util-linux [flock]=util-linux
  [setpriv]=util-linux [pgrep]=procps)

# dev_ensure_tools — install the packages of the launcher's own commands that are missing.
dev_ensure_tools() {
  local tool missing=() packages=()
  for tool in "${DEV_TOOLS[@]}"; do
    command -v "$tool" >/dev/null 2>&1 && continue
    missing+=("$tool")
    [[ " ${packages[*]} " == *" ${DEV_TOOL_PACKAGE[$tool]} "* ]] || packages+=("${DEV_TOOL_PACKAGE[$tool]}")
  done
  ((${#missing[@]} > 0)) || return 0
  local subject="${missing[*]} (run by ci/dev) is not installed"
  ((${#missing[@]} == 1)) || subject="${missing[*]} (run by ci/dev) are not installed"
  dev_apt "$subject" "" "${packages[@]}"
  for tool in "${missing[@]}"; do
    command -v "$tool" >/dev/null 2>&1 ||
      dev_die "$tool is still not found after installing the Debian package(s) ${packages[*]}"
  done
}

# dev_ensure_node — node and npm, which the frontend build runs (wasm-opt from npm).
dev_ensure_node() {
  local tool missing=()
  for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  ((${#missing[@]} > 0)) || return 0
  local subject="${missing[*]} (needed to build the frontend) is not installed"
  ((${#missing[@]} == 1)) || subject="node and npm (needed to build the frontend) are not installed"
  dev_apt "$subject" "or build the frontend elsewhere and use --no-build" nodejs npm
  for tool in "${missing[@]}"; do
    command -v "$tool" >/dev/null 2>&1 ||
      dev_die "$tool is still not found after installing the Debian packages nodejs npm"
  done
}

# dev_which NAME — an executable NAME for the infrastructure: only from the folders of
# ECOMMERCE_DEV_INFRA_PATH when it is set (a custom build; the test's machine without servers),
# else from PATH.
dev_which() {
  if [[ -z "${ECOMMERCE_DEV_INFRA_PATH:-}" ]]; then
    command -v "$1" 2>/dev/null
    return
  fi
  local dir dirs
  IFS=: read -r -a dirs <<<"$ECOMMERCE_DEV_INFRA_PATH"
  for dir in "${dirs[@]}"; do
    if [[ -n "$dir" && -f "$dir/$1" && -x "$dir/$1" ]]; then
      printf '%s' "$dir/$1"
      return 0
    fi
  done
  return 1
}

# dev_system_folders — whether Debian's own install folders are searched too (not when
# ECOMMERCE_DEV_INFRA_PATH names the only places to look).
dev_system_folders() { [[ -z "${ECOMMERCE_DEV_INFRA_PATH:-}" ]]; }

# The newest PostgreSQL server binaries: initdb on PATH (or in ECOMMERCE_DEV_INFRA_PATH), else
# Debian's folders.
dev_pg_bindir() {
  local p d best=""
  if p="$(dev_which initdb)"; then
    p="$(readlink -f "$p")"
    printf '%s' "${p%/initdb}"
    return 0
  fi
  dev_system_folders || return 1
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
    [[ -x "$d/initdb" && -x "$d/postgres" ]] && best="$d"
  done
  [[ -n "$best" ]] || return 1
  printf '%s' "$best"
}

# The real rabbitmq-server script (Debian's /usr/sbin one is a wrapper that switches to the
# rabbitmq user and sends the output to /var/log).
dev_rabbitmq_bin() {
  local p
  if dev_system_folders && [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]]; then
    printf '%s' /usr/lib/rabbitmq/bin/rabbitmq-server
    return 0
  fi
  p="$(dev_which rabbitmq-server)" || return 1
  [[ "$(readlink -f "$p")" != *rabbitmq-script-wrapper ]] || return 1
  printf '%s' "$p"
}

dev_epmd_bin() {
  local p
  if p="$(dev_which epmd)"; then
    printf '%s' "$p"
    return 0
  fi
  dev_system_folders || return 1
  for p in /usr/lib/erlang/erts-*/bin/epmd; do
    [[ -x "$p" ]] && { printf '%s' "$p"; return 0; }
  done
  return 1
}

# dev_choose_infra — decide, per server, between reusing the one on the standard port and a
# private one (DEV_MODE_postgres etc.), and find or install the binaries the choice needs.
# Runs before anything is started, so every failure here leaves the machine as it was.
dev_choose_infra() {
  local server port
  for server in postgres redis rabbitmq; do
    port="${DEV_STD_PORT[$server]}"
    case "$DEV_INFRA_MODE" in
      reuse)
        dev_tcp_open "$port" ||
          dev_die "--infra reuse: no $server answers on 127.0.0.1:$port (start it, or use --infra auto|private)"
        printf -v "DEV_MODE_$server" reused
        ;;
      private) printf -v "DEV_MODE_$server" private ;;
      auto)
        if dev_tcp_open "$port"; then
          printf -v "DEV_MODE_$server" reused
        else
          printf -v "DEV_MODE_$server" private
        fi
        ;;
    esac
  done

  # psql creates the databases in either case.
  if [[ "$DEV_MODE_postgres" == private ]]; then
    DEV_PG_BIN="$(dev_pg_bindir)" || {
      dev_install "PostgreSQL (initdb, postgres)" postgresql
      DEV_PG_BIN="$(dev_pg_bindir)" || dev_die "PostgreSQL: no initdb found even after installing postgresql"
    }
    if [[ "$(id -u)" == 0 ]]; then
      # PostgreSQL refuses to run as root: the private server runs as the postgres user.
      id postgres >/dev/null 2>&1 ||
        dev_die "PostgreSQL refuses to run as root and there is no 'postgres' user: run ci/dev as a normal user, or use --infra reuse"
      DEV_PG_AS=(setpriv --reuid=postgres --regid=postgres --init-groups)
    else
      DEV_PG_AS=()
    fi
  fi
  if [[ -n "${DEV_PG_BIN:-}" && -x "$DEV_PG_BIN/psql" ]]; then
    DEV_PSQL="$DEV_PG_BIN/psql"
  else
    DEV_PSQL="$(dev_which psql)" || {
      dev_install "psql (PostgreSQL client)" postgresql-client
      DEV_PSQL="$(dev_which psql)" || dev_die "psql not found even after installing postgresql-client"
    }
  fi

  if [[ "$DEV_MODE_redis" == private ]]; then
    DEV_REDIS_BIN="$(dev_which redis-server)" || {
      dev_install "Redis (redis-server)" redis-server
      DEV_REDIS_BIN="$(dev_which redis-server)" || dev_die "redis-server not found even after installing it"
    }
  fi

  if [[ "$DEV_MODE_rabbitmq" == private ]]; then
    DEV_RABBITMQ_BIN="$(dev_rabbitmq_bin)" || {
      dev_install "RabbitMQ (rabbitmq-server)" rabbitmq-server
      DEV_RABBITMQ_BIN="$(dev_rabbitmq_bin)" || dev_die "rabbitmq-server not found even after installing it"
    }
    DEV_EPMD_BIN="$(dev_epmd_bin)" || dev_die "RabbitMQ is installed but Erlang's epmd is not found"
  fi
}

# dev_infra_urls — the connection URLs, once the modes are chosen.
dev_infra_urls() {
  local pg redis amqp
  if [[ "$DEV_MODE_postgres" == private ]]; then pg="$(dev_port postgres)"; else pg=5432; fi
  if [[ "$DEV_MODE_redis" == private ]]; then redis="$(dev_port redis)"; else redis=6379; fi
  if [[ "$DEV_MODE_rabbitmq" == private ]]; then amqp="$(dev_port rabbitmq)"; else amqp=5672; fi
  DEV_PG_AT="$pg"
  DEV_REDIS_AT="$redis"
  DEV_AMQP_AT="$amqp"
  DEV_REDIS_URL="redis://127.0.0.1:$redis"
  DEV_AMQP_URL="amqp://guest:guest@127.0.0.1:$amqp/%2f"
}

# dev_check_ports — every port this run will listen on must be free; fail naming the first taken.
dev_check_ports() {
  local name port holder names=("${DEV_RUN_SERVICES[@]}" gateway-ops)
  [[ "$DEV_MODE_postgres" != private ]] || names+=(postgres)
  [[ "$DEV_MODE_redis" != private ]] || names+=(redis)
  [[ "$DEV_MODE_rabbitmq" != private ]] || names+=(rabbitmq rabbitmq-dist epmd)
  for name in "${names[@]}"; do
    port="$(dev_port "$name")"
    if ((port < 1 || port > 65535)); then
      dev_die "port $port for $name is out of range (choose another --port)"
    fi
    if holder="$(dev_port_holder "$port")"; then
      dev_die "port $port (for $name) is in use by $holder: stop it or choose another --port$(dev_port_flag_hint "$name")"
    fi
  done
}

dev_port_flag_hint() {
  case "$1" in
    postgres) printf ' or --pg-port' ;;
    redis) printf ' or --redis-port' ;;
    rabbitmq | rabbitmq-dist | epmd) printf ' or --amqp-port' ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Infrastructure: private servers

dev_start_postgres() {
  local dir="$DEV_STATE/postgres" port
  port="$(dev_port postgres)"
  mkdir -p "$dir"
  if ((${#DEV_PG_AS[@]} > 0)); then
    chown postgres: "$dir"
    chmod 700 "$dir"
    "${DEV_PG_AS[@]}" test -w "$dir" ||
      dev_die "the postgres user cannot write $dir (a parent folder is not searchable by others): use another --state-dir"
  fi
  if [[ ! -s "$dir/data/PG_VERSION" ]]; then
    dev_say "postgres: initdb $dir/data"
    # cd: initdb complains when it cannot read the working directory as the postgres user.
    if ! (cd "$dir" && "${DEV_PG_AS[@]}" "$DEV_PG_BIN/initdb" -D "$dir/data" -U postgres \
      --auth=trust --encoding=UTF8 --no-locale) >>"$DEV_LOGS/postgres.log" 2>&1; then
      dev_show_log postgres
      dev_die "postgres: initdb failed (log: $DEV_LOGS/postgres.log)"
    fi
  fi
  dev_mark_log postgres
  # No Unix socket: the system server owns the default socket folder; TCP on loopback only.
  (cd "$dir" && dev_spawn postgres "${DEV_PG_AS[@]}" "$DEV_PG_BIN/postgres" -D "$dir/data" \
    -p "$port" -c listen_addresses=127.0.0.1 -c unix_socket_directories= \
    -c max_connections=200)
  dev_wait_for "postgres on 127.0.0.1:$port" "$ECOMMERCE_INFRA_TIMEOUT" postgres dev_pg_ready "$port"
}

dev_start_redis() {
  local dir="$DEV_STATE/redis" port
  port="$(dev_port redis)"
  mkdir -p "$dir"
  dev_mark_log redis
  # Snapshots in the state directory keep carts of sessions and the cache across runs.
  dev_spawn redis "$DEV_REDIS_BIN" --bind 127.0.0.1 --port "$port" --dir "$dir" \
    --daemonize no --save 60 1 --appendonly no --protected-mode yes
  dev_wait_for "redis on 127.0.0.1:$port" "$ECOMMERCE_INFRA_TIMEOUT" redis dev_redis_ready "$port"
}

# RabbitMQ with everything in the state directory: its own node name, data, cookie (HOME), no
# config or plugins from /etc, and its own epmd on a private port (Erlang would otherwise start a
# daemonized epmd that outlives the stack).
dev_start_rabbitmq() {
  local dir="$DEV_STATE/rabbitmq" port dist epmd
  port="$(dev_port rabbitmq)"
  dist="$(dev_port rabbitmq-dist)"
  epmd="$(dev_port epmd)"
  mkdir -p "$dir/mnesia" "$dir/log"
  [[ -f "$dir/enabled_plugins" ]] || printf '[].\n' >"$dir/enabled_plugins"
  [[ -f "$dir/rabbitmq.conf" ]] || printf '%s\n' \
    '# written by ci/dev: a private development broker; the guest user works on loopback only' \
    'loopback_users.guest = true' >"$dir/rabbitmq.conf"

  dev_mark_log epmd
  dev_spawn epmd "$DEV_EPMD_BIN" -port "$epmd" -address 127.0.0.1
  dev_wait_for "epmd on 127.0.0.1:$epmd" 10 epmd dev_tcp_open "$epmd"

  dev_mark_log rabbitmq
  dev_spawn rabbitmq env \
    HOME="$dir" \
    ERL_EPMD_PORT="$epmd" \
    RABBITMQ_NODENAME="$DEV_STACK@localhost" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$port" \
    RABBITMQ_DIST_PORT="$dist" \
    RABBITMQ_SERVER_START_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_LOGS=- \
    RABBITMQ_PID_FILE="$dir/rabbitmq.pid" \
    ERL_CRASH_DUMP="$dir/erl_crash.dump" \
    "$DEV_RABBITMQ_BIN"
  dev_wait_for "rabbitmq on 127.0.0.1:$port" "$ECOMMERCE_INFRA_TIMEOUT" rabbitmq dev_amqp_ready "$port"
}

# dev_start_infra — start the private servers, check the reused ones.
dev_start_infra() {
  if [[ "$DEV_MODE_postgres" == private ]]; then
    dev_start_postgres
  else
    dev_pg_ready 5432 || dev_die "postgres on 127.0.0.1:5432 does not let user postgres in without a password: $(dev_pg_error 5432); use --infra private"
    dev_say "postgres: reusing 127.0.0.1:5432"
  fi
  if [[ "$DEV_MODE_redis" == private ]]; then
    dev_start_redis
  else
    dev_redis_ready 6379 || dev_die "something listens on 127.0.0.1:6379 but does not answer PING like Redis: use --infra private"
    dev_say "redis: reusing 127.0.0.1:6379"
  fi
  if [[ "$DEV_MODE_rabbitmq" == private ]]; then
    dev_start_rabbitmq
  else
    dev_amqp_ready 5672 || dev_die "something listens on 127.0.0.1:5672 but does not speak AMQP: use --infra private"
    dev_say "rabbitmq: reusing 127.0.0.1:5672 (as guest)"
  fi
}

dev_pg_error() {
  "$DEV_PSQL" "postgresql://postgres@127.0.0.1:$1/postgres?connect_timeout=2" -XAtqc 'select 1' 2>&1 >/dev/null | head -n 1
}

# dev_create_databases — one database per service, created when missing.
dev_create_databases() {
  local svc db exists
  for svc in "${DEV_DB_SERVICES[@]}"; do
    db="$(dev_db_name "$svc")"
    exists="$("$DEV_PSQL" "postgresql://postgres@127.0.0.1:$DEV_PG_AT/postgres" -XAtq \
      -c "select 1 from pg_database where datname = '$db'")" ||
      dev_die "postgres on 127.0.0.1:$DEV_PG_AT: cannot list databases"
    if [[ "$exists" != 1 ]]; then
      "$DEV_PSQL" "postgresql://postgres@127.0.0.1:$DEV_PG_AT/postgres" -XAtq -v ON_ERROR_STOP=1 \
        -c "create database \"$db\"" >/dev/null ||
        dev_die "postgres on 127.0.0.1:$DEV_PG_AT: cannot create database $db"
      dev_say "postgres: created database $db"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# Binaries, secrets, environment

# dev_bin SERVICE — the service's binary.
dev_bin() { printf '%s/%s' "$DEV_BIN_DIR" "$1"; }

dev_build() {
  (cd "$DEV_ROOT" && fetch_crates && release_build)
}

# dev_plan — before anything starts, one line per step with what it installs or compiles and a
# rough time on a 2-core machine (measured on a fresh one: README, quick start), so that a first
# run's long compiles are announced instead of silent.
dev_plan() {
  local steps=() line
  if ((DEV_BUILD)); then
    if [[ -x "$(dev_bin gateway)" ]]; then
      steps+=("build the services (release): seconds when they have not changed")
    else
      steps+=("compile the five services (release, static, about 490 units): about 11 min the first time")
    fi
    if [[ -x "$DEV_ROOT/ci/frontend-build" ]]; then
      while IFS= read -r line; do steps+=("$line"); done < <(cd "$DEV_ROOT" && frontend_plan)
    fi
  fi
  steps+=("start or reuse PostgreSQL, Redis and RabbitMQ, migrate, seed, start the services: under a minute")
  dev_say "ci/dev up will:"
  local i
  for i in "${!steps[@]}"; do
    printf '  %d. %s\n' "$((i + 1))" "${steps[i]}"
  done
}

# dev_random BYTES — URL-safe random text.
dev_random() {
  head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='
}

# dev_secret NAME BYTES — a random secret generated on the first run and kept.
dev_secret() {
  local file="$DEV_SECRETS/$1"
  if [[ ! -s "$file" ]]; then
    (umask 077 && dev_random "$2" >"$file")
  fi
  cat "$file"
}

# dev_secrets — the JWT signing key (from `user generate-key`) and the other secrets.
dev_secrets() {
  mkdir -p "$DEV_SECRETS"
  chmod 700 "$DEV_SECRETS"
  local key="$DEV_SECRETS/jwt-signing-key.pem"
  if [[ ! -s "$key" ]]; then
    (umask 077 && "$(dev_bin user)" generate-key >"$key.tmp" </dev/null) ||
      dev_die "user generate-key failed"
    mv "$key.tmp" "$key"
  fi
  dev_secret cursor-secret 32 >/dev/null
  dev_secret idempotency-secret 32 >/dev/null
  # The admin password is generated by dev_seed: with --no-seed there is no admin account.
}

# dev_env SERVICE — fill DEV_ENV with the service's environment.
dev_env() {
  local svc="$1"
  DEV_ENV=(
    "BIND_ADDR=127.0.0.1:$(dev_port "$svc")"
    "RUST_LOG=$DEV_LOG_LEVEL"
    "LOG_FORMAT=$DEV_LOG_FORMAT"
    "SHUTDOWN_DRAIN_SECS=${DEV_DRAIN_SECS:-5}"
  )
  case "$svc" in
    user | product | order)
      DEV_ENV+=(
        "DATABASE_URL=postgres://postgres@127.0.0.1:$DEV_PG_AT/$(dev_db_name "$svc")"
        "REDIS_URL=$DEV_REDIS_URL"
        "REDIS_KEY_PREFIX=$DEV_STACK:$svc:"
        "AMQP_URL=$DEV_AMQP_URL"
        "AMQP_EXCHANGE=$(dev_exchange)"
        "MIGRATE_ON_START=false"
      )
      ;;
  esac
  case "$svc" in
    user)
      DEV_ENV+=(
        "INTERNAL_TOKEN=$(dev_secret internal-token 32)"
        "JWT_SIGNING_KEY_FILE=$DEV_SECRETS/jwt-signing-key.pem"
        "JWT_SIGNING_KEY_ID=$DEV_STACK-$(sha256sum "$DEV_SECRETS/jwt-signing-key.pem" | cut -c1-8)"
      )
      ;;
    product)
      DEV_ENV+=(
        "CURSOR_SECRET=$(dev_secret cursor-secret 32)"
        "INTERNAL_TOKEN=$(dev_secret internal-token 32)"
        "ORDER_EVENTS_QUEUE=$(dev_queue)"
      )
      ;;
    order)
      DEV_ENV+=(
        "PRODUCT_URL=http://127.0.0.1:$(dev_port product)"
        "IDEMPOTENCY_SECRET=$(dev_secret idempotency-secret 32)"
        "INTERNAL_TOKEN=$(dev_secret internal-token 32)"
        "PAYMENT_PROVIDER=test"
      )
      ;;
    web)
      DEV_ENV+=("WEB_ROOT=$DEV_WEB_ROOT")
      ;;
    gateway)
      DEV_ENV+=(
        "USER_URL=http://127.0.0.1:$(dev_port user)"
        "PRODUCT_URL=http://127.0.0.1:$(dev_port product)"
        "ORDER_URL=http://127.0.0.1:$(dev_port order)"
        "OPS_BIND_ADDR=127.0.0.1:$(dev_port gateway-ops)"
        # An event loop per core, as nginx runs a worker process per core: the gateway's
        # upstream pools are per thread (see HttpConfig::event_loops).
        "HTTP_EVENT_LOOPS=$(nproc)"
      )
      if dev_runs web; then
        DEV_ENV+=("WEB_URL=http://127.0.0.1:$(dev_port web)")
      fi
      ;;
  esac
  # Last, so that they win: the --env settings for this service.
  local setting
  for setting in "${DEV_SERVICE_ENV[@]}"; do
    [[ "${setting%%:*}" != "$svc" ]] || DEV_ENV+=("${setting#*:}")
  done
}

dev_runs() { # SERVICE — whether this run starts the service
  local s
  for s in "${DEV_RUN_SERVICES[@]}"; do [[ "$s" == "$1" ]] && return 0; done
  return 1
}

# dev_run_tool SERVICE ARGS... — a one-shot subcommand with the service's environment (plus
# DEV_EXTRA_ENV); its output goes to the terminal and to the service's log.
DEV_EXTRA_ENV=()
dev_run_tool() {
  local svc="$1"
  shift
  dev_env "$svc"
  printf '===== ci/dev: %s %s =====\n' "$svc" "$*" >>"$DEV_LOGS/$svc.log"
  env "${DEV_ENV[@]}" "${DEV_EXTRA_ENV[@]}" "$(dev_bin "$svc")" "$@" </dev/null 9>&- 2>&1 |
    tee -a "$DEV_LOGS/$svc.log"
}

dev_migrate() {
  local svc
  for svc in "${DEV_DB_SERVICES[@]}"; do
    dev_run_tool "$svc" migrate || dev_die "$svc migrate failed (log: $DEV_LOGS/$svc.log)"
  done
}

dev_seed() {
  dev_run_tool product seed || dev_die "product seed failed (log: $DEV_LOGS/product.log)"
  # The password travels in the environment, out of the process list.
  DEV_EXTRA_ENV=("ADMIN_PASSWORD=$(dev_secret admin-password 15)")
  dev_run_tool user create-admin --email "$DEV_ADMIN_EMAIL" --display-name "$DEV_ADMIN_NAME" ||
    dev_die "user create-admin failed (log: $DEV_LOGS/user.log)"
  DEV_EXTRA_ENV=()
}

# ---------------------------------------------------------------------------------------------
# Services

dev_start_services() {
  local svc
  for svc in "${DEV_RUN_SERVICES[@]}"; do
    dev_env "$svc"
    dev_mark_log "$svc"
    (cd "$DEV_STATE" && dev_spawn "$svc" env "${DEV_ENV[@]}" "$(dev_bin "$svc")")
  done
}

# dev_ready SERVICE — /readyz answers 200.
dev_ready() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$(dev_ops_port "$1")/readyz" 2>/dev/null
}

# dev_not_ready_reason SERVICE — why /readyz is not 200, in one line.
dev_not_ready_reason() {
  local body code
  body="$(curl -sS --max-time 2 -w '\n%{http_code}' "http://127.0.0.1:$(dev_ops_port "$1")/readyz" 2>&1 || true)"
  code="${body##*$'\n'}"
  body="${body%$'\n'*}"
  if [[ "$code" == 000 ]]; then
    printf 'nothing answers on 127.0.0.1:%s' "$(dev_ops_port "$1")"
    return 0
  fi
  local failing
  failing="$(jq -r '[.checks[]? | select(.status != "up") | "\(.name): \(.error // .status)"] | join("; ")' <<<"$body" 2>/dev/null || true)"
  printf '/readyz answered %s%s' "$code" "${failing:+ ($failing)}"
}

# dev_wait_services — wait for every service's /readyz with a progress line; on a timeout or an
# early exit, show that service's last log lines and fail.
dev_wait_services() {
  local start=$SECONDS svc line all
  local -A ready=()
  while :; do
    all=1
    line=""
    for svc in "${DEV_RUN_SERVICES[@]}"; do
      if [[ -z "${ready[$svc]:-}" ]]; then
        if ! dev_pid "$svc" >/dev/null; then
          ((DEV_COLOR == 0)) || printf '\n'
          dev_show_log "$svc"
          dev_die "$svc exited while starting (log: $DEV_LOGS/$svc.log)"
        fi
        if dev_ready "$svc"; then
          ready[$svc]=$((SECONDS - start))
          ((DEV_COLOR)) || dev_say "  $svc ready after ${ready[$svc]}s"
        else
          all=0
        fi
      fi
      if [[ -n "${ready[$svc]:-}" ]]; then line+=" $svc ok"; else line+=" $svc .."; fi
    done
    if ((DEV_COLOR)); then
      printf '\r\033[K  waiting for readiness (%ss):%s' "$((SECONDS - start))" "$line"
    fi
    ((all == 0)) || break
    if ((SECONDS - start >= DEV_READY_TIMEOUT)); then
      ((DEV_COLOR == 0)) || printf '\n'
      for svc in "${DEV_RUN_SERVICES[@]}"; do
        if [[ -z "${ready[$svc]:-}" ]]; then
          dev_show_log "$svc"
          dev_die "$svc not ready after ${DEV_READY_TIMEOUT}s: $(dev_not_ready_reason "$svc") (log: $DEV_LOGS/$svc.log)"
        fi
      done
    fi
    sleep 0.5
  done
  ((DEV_COLOR == 0)) || printf '\n'
  dev_say "all services ready after $((SECONDS - start))s"
}

# dev_follow NAME... — print the new lines of the logs, prefixed, until the launcher exits.
dev_follow() {
  local name size prefix
  for name in "$@"; do
    size="$(stat -c %s "$DEV_LOGS/$name.log" 2>/dev/null || echo 0)"
    prefix="$(dev_prefix "$name")"
    tail -c "+$((size + 1))" -F --pid=$$ "$DEV_LOGS/$name.log" 2>/dev/null 9>&- |
      sed -u "s/^/$prefix/" 9>&- &
  done
}

# ---------------------------------------------------------------------------------------------
# The stack record

# dev_write_stack_env MODE — what `status`, `down` and `reset` need to know later.
dev_write_stack_env() {
  {
    printf '# written by ci/dev up; read by ci/dev status and ci/dev reset\n'
    printf 'DEV_URL=%q\n' "$(dev_url)"
    printf 'DEV_RUN_MODE=%q\n' "$1"
    printf 'DEV_STARTED=%q\n' "$(date '+%F %T')"
    printf 'DEV_RUN_SERVICES=(%s)\n' "${DEV_RUN_SERVICES[*]}"
    local svc
    for svc in "${DEV_SERVICES[@]}"; do
      printf 'DEV_PORT_%s=%q\nDEV_OPS_PORT_%s=%q\n' "$svc" "$(dev_port "$svc")" "$svc" "$(dev_ops_port "$svc")"
    done
    printf 'DEV_MODE_postgres=%q\nDEV_PG_AT=%q\n' "$DEV_MODE_postgres" "$DEV_PG_AT"
    printf 'DEV_MODE_redis=%q\nDEV_REDIS_AT=%q\n' "$DEV_MODE_redis" "$DEV_REDIS_AT"
    printf 'DEV_MODE_rabbitmq=%q\nDEV_AMQP_AT=%q\n' "$DEV_MODE_rabbitmq" "$DEV_AMQP_AT"
    printf 'DEV_STACK=%q\nDEV_SUFFIX=%q\n' "$DEV_STACK" "$DEV_SUFFIX"
    printf 'DEV_PSQL=%q\n' "$DEV_PSQL"
    printf 'DEV_SEEDED=%q\n' "$DEV_SEED"
  } >"$DEV_STATE/stack.env"
}

# dev_banner — the end of a successful start.
dev_banner() {
  local bold="" reset=""
  if ((DEV_COLOR)); then
    bold=$'\033[1m'
    reset=$'\033[0m'
  fi
  dev_say ""
  dev_say "${bold}The shop is up: $(dev_url)${reset}"
  if [[ "$DEV_SEED" == 1 ]]; then
    dev_say "  admin login   $DEV_ADMIN_EMAIL / $(cat "$DEV_SECRETS/admin-password")"
  fi
  local svc services=""
  for svc in "${DEV_RUN_SERVICES[@]}"; do services+=" $svc :$(dev_port "$svc")"; done
  services+=" (gateway ops :$(dev_port gateway-ops))"
  dev_say "  services     $services"
  dev_say "  infra         postgres $DEV_MODE_postgres :$DEV_PG_AT, redis $DEV_MODE_redis :$DEV_REDIS_AT, rabbitmq $DEV_MODE_rabbitmq :$DEV_AMQP_AT"
  dev_say "  logs          $DEV_LOGS/ (ci/dev logs [-f] [SERVICE]$(dev_state_flag))"
  if ((DEV_DETACH)); then
    dev_say "  stop          ci/dev down$(dev_state_flag)"
  else
    dev_say "  stop          Ctrl-C here, or ci/dev down$(dev_state_flag) from another terminal"
  fi
  dev_say ""
}

# dev_state_flag — " --state-dir DIR" unless it is the default one.
dev_state_flag() {
  if [[ "$DEV_STATE" != "$(realpath -m -- "$DEV_DEFAULT_STATE")" ]]; then
    printf ' --state-dir %q' "$DEV_STATE"
  fi
}
