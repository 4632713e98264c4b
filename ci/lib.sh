# shellcheck shell=bash
# ci/lib.sh — helpers shared by the scripts under ci/. Source it, don't run it:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Safe under `set -euo pipefail`. Sourcing it:
#   - sets ECOMMERCE_TOOLS (default $HOME/.cache/ecommerce-tools) and puts $ECOMMERCE_TOOLS/bin
#     (created on demand) and ~/.cargo/bin on PATH;
#   - installs an EXIT trap that prints the phase summary and removes this run's scratch folder.
#
# Functions:
#   phase NAME CMD...          run CMD as a timed, recorded phase (see below)
#   phase_skip NAME [WHY]      record a phase as skipped in the summary
#   phase_note TEXT            add a closing line under the summary
#   background NAME CMD...     start CMD now at the lowest priority; background_wait NAME waits
#   ensure_apt PKG...          install missing Debian packages
#   ensure_postgres            PostgreSQL on 127.0.0.1:5432, trust auth for user postgres
#   ensure_redis               Redis on 127.0.0.1:6379
#   ensure_rabbitmq            RabbitMQ on 127.0.0.1:5672 (guest/guest)
#   ensure_wasm_toolchain      Debian's rustc-web linked as rustup toolchain `debian-web`
#   ensure_cargo_tool NAME VERSION [cargo install args...]
#   ensure_npm_tool PKG VERSION
#   fetch_crates               download every crate Cargo.lock names, for every platform
#   with_progress LABEL TOTAL CMD...   a long compile as one progress line (see below)
#   release_build [PKG...]     the one static release build of the services (default: all five)
#   release_dir                where release_build puts the binaries
#
# Knobs (environment): ECOMMERCE_TOOLS, ECOMMERCE_INFRA_TIMEOUT (seconds to wait for a service, 60).

if [[ -n "${_ECOMMERCE_CI_LIB:-}" ]]; then
  return 0
fi
_ECOMMERCE_CI_LIB=1

ECOMMERCE_TOOLS="${ECOMMERCE_TOOLS:-${HOME:-/tmp}/.cache/ecommerce-tools}"
export ECOMMERCE_TOOLS
case ":$PATH:" in
  *":$ECOMMERCE_TOOLS/bin:"*) ;;
  *) PATH="$ECOMMERCE_TOOLS/bin:$PATH" ;;
esac
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${HOME:-/nonexistent}/.cargo/bin/cargo" ]]; then
  PATH="$HOME/.cargo/bin:$PATH"
fi
export PATH

ECOMMERCE_INFRA_TIMEOUT="${ECOMMERCE_INFRA_TIMEOUT:-60}"

# Scratch folder for this run (apt stamp, daemon start logs). Files rather than variables, because
# phases run in subshells and cannot hand variables back.
_CI_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ecommerce-ci.XXXXXX")"

# Commands that need root get sudo when we are not root (and sudo exists).
_CI_SUDO=()
if [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null 2>&1; then
  _CI_SUDO=(sudo)
fi

# ---------------------------------------------------------------------------------------------
# Logging and timing

_ci_log() { printf '%s\n' "$*"; }
_ci_err() { printf 'error: %s\n' "$*" >&2; }

# Wall clock in microseconds (EPOCHREALTIME's decimal separator follows the locale: strip it).
_ci_now_us() {
  local t="${EPOCHREALTIME//[!0-9]/}"
  printf '%s' "$((10#$t))"
}

# 12345678 (µs) -> "12.3s"
_ci_fmt_us() {
  local us="$1"
  printf '%d.%01ds' "$((us / 1000000))" "$(((us % 1000000) / 100000))"
}

_CI_PHASE_NAMES=()
_CI_PHASE_RESULTS=()
_CI_PHASE_TIMES=()
_CI_FAILED_PHASE=""
_CI_START_US="$(_ci_now_us)"

# phase NAME CMD...
# Prints `==> NAME`, runs CMD, prints `==> NAME: ok|FAILED ... in N.Ns` and records the result
# for the summary. CMD runs in a subshell with `set -e`, so a shell function fails at its first
# failing command even though phase itself tests the exit status; variables CMD sets do not
# survive it. Returns CMD's exit status (so a `set -e` caller stops at the first failing phase).
phase() {
  local name="$1"
  shift
  _ci_log "==> $name"
  local start rc=0 errexit=0
  [[ $- == *e* ]] && errexit=1
  start="$(_ci_now_us)"
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  ((errexit == 0)) || set -e
  local elapsed=$(($(_ci_now_us) - start))
  _CI_PHASE_NAMES+=("$name")
  _CI_PHASE_TIMES+=("$(_ci_fmt_us "$elapsed")")
  if ((rc == 0)); then
    _CI_PHASE_RESULTS+=("ok")
    _ci_log "==> $name: ok in $(_ci_fmt_us "$elapsed")"
  else
    _CI_PHASE_RESULTS+=("FAILED ($rc)")
    [[ -n "$_CI_FAILED_PHASE" ]] || _CI_FAILED_PHASE="$name"
    _ci_log "==> $name: FAILED (exit $rc) after $(_ci_fmt_us "$elapsed")"
  fi
  return "$rc"
}

# phase_note TEXT — a line to print at the very end of the summary (works from inside a phase).
phase_note() {
  printf '%s\n' "$*" >>"$_CI_RUN_DIR/notes"
}

# phase_skip NAME [WHY] — list a phase as skipped in the summary.
phase_skip() {
  _CI_PHASE_NAMES+=("$1")
  _CI_PHASE_RESULTS+=("skipped${2:+ ($2)}")
  _CI_PHASE_TIMES+=("-")
}

# Print the table of phases; called from the EXIT trap (only if at least one phase was recorded).
phase_summary() {
  ((${#_CI_PHASE_NAMES[@]} > 0)) || return 0
  local i width=5
  for i in "${!_CI_PHASE_NAMES[@]}"; do
    ((${#_CI_PHASE_NAMES[i]} <= width)) || width=${#_CI_PHASE_NAMES[i]}
  done
  _ci_log ""
  _ci_log "==> summary"
  printf '  %-*s  %-18s %9s\n' "$width" "phase" "result" "time"
  for i in "${!_CI_PHASE_NAMES[@]}"; do
    printf '  %-*s  %-18s %9s\n' "$width" "${_CI_PHASE_NAMES[i]}" "${_CI_PHASE_RESULTS[i]}" "${_CI_PHASE_TIMES[i]}"
  done
  printf '  %-*s  %-18s %9s\n' "$width" "total" "" "$(_ci_fmt_us "$(($(_ci_now_us) - _CI_START_US))")"
  if [[ -n "$_CI_FAILED_PHASE" ]]; then
    _ci_log "==> FAILED in phase: $_CI_FAILED_PHASE"
  fi
  if [[ -s "$_CI_RUN_DIR/notes" ]]; then
    cat "$_CI_RUN_DIR/notes"
  fi
}

_ci_on_exit() {
  local rc=$?
  background_stop_all
  phase_summary || true
  rm -rf "$_CI_RUN_DIR" || true
  return "$rc"
}
trap _ci_on_exit EXIT

# background NAME CMD... — starts CMD now, at the lowest CPU priority, its output to a log, so a
# long install overlaps the phases before the one that needs it and takes mostly the CPU they leave
# idle (they compile and test at normal priority). `background_wait NAME`, usable as a phase,
# waits for it, shows its output and fails as it failed. Whatever still runs at exit is stopped.
background() {
  local name="$1"
  shift
  local base="$_CI_RUN_DIR/bg-$name"
  (
    renice -n 19 -p "$BASHPID" >/dev/null 2>&1 || true
    rc=0
    (
      set -e
      "$@"
    ) </dev/null >"$base.log" 2>&1 || rc=$?
    printf '%s' "$rc" >"$base.status"
  ) &
  printf '%s' "$!" >"$base.pid"
}

background_wait() {
  local base="$_CI_RUN_DIR/bg-$1"
  [[ -f "$base.pid" ]] || { _ci_err "no background job $1"; return 1; }
  local waited=0
  until [[ -f "$base.status" ]]; do
    if ! kill -0 "$(<"$base.pid")" 2>/dev/null && [[ ! -f "$base.status" ]]; then
      _ci_err "background job $1 ended without a status"
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
    ((waited % 60 != 0)) || _ci_log "  waiting for $1 (background): $(grep -v '^{' "$base.log" | tail -n 1)"
  done
  cat "$base.log"
  return "$(<"$base.status")"
}

# background_stop_all — stop every background job that still runs, with its children.
background_stop_all() {
  local pidfile
  for pidfile in "$_CI_RUN_DIR"/bg-*.pid; do
    [[ -f "$pidfile" && ! -f "${pidfile%.pid}.status" ]] || continue
    _ci_kill_tree "$(<"$pidfile")"
  done
}

_ci_kill_tree() { # PID — the process and its descendants, children first
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do _ci_kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}

# _ci_wait_for DESCRIPTION TIMEOUT_SECONDS CMD... — poll CMD once a second until it succeeds.
_ci_wait_for() {
  local what="$1" timeout="$2"
  shift 2
  local waited=0
  until "$@"; do
    if ((waited >= timeout)); then
      _ci_err "$what not ready after ${timeout}s"
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  if ((waited > 0)); then
    _ci_log "$what ready after ${waited}s"
  fi
}

# _ci_tcp_open HOST PORT — true if something accepts TCP connections there.
_ci_tcp_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# _ci_show_log FILE — print the tail of a start log after a failed start.
_ci_show_log() {
  if [[ -s "$1" ]]; then
    _ci_err "last lines of $1:"
    tail -n 30 "$1" >&2 || true
  fi
}

# ---------------------------------------------------------------------------------------------
# Debian packages

# ensure_apt PKG... — install the packages that dpkg does not list as installed. Runs
# `apt-get update` at most once per run, and only when something has to be installed.
ensure_apt() {
  local pkg missing=()
  for pkg in "$@"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
      missing+=("$pkg")
    fi
  done
  ((${#missing[@]} > 0)) || return 0
  _ci_log "installing Debian packages: ${missing[*]}"
  # A background install (see `background`) may hold dpkg's lock: wait for it rather than fail.
  local lock=(-o DPkg::Lock::Timeout=900)
  if [[ ! -e "$_CI_RUN_DIR/apt-updated" ]]; then
    "${_CI_SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" update -q
    : >"$_CI_RUN_DIR/apt-updated"
  fi
  "${_CI_SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get "${lock[@]}" install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

_pg_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p 5432
  else
    _ci_tcp_open 127.0.0.1 5432
  fi
}

# Newest installed cluster version (normally there is exactly one: $(ls /etc/postgresql)).
_pg_version() {
  local d v=""
  for d in /etc/postgresql/*/main; do
    [[ -d "$d" ]] || continue
    d="${d%/main}"
    v="${d##*/}"
  done
  printf '%s' "$v"
}

# A freshly installed Debian cluster authenticates local socket users by `peer` and TCP users by
# password (scram-sha-256); the test suite connects as postgres@127.0.0.1 without a password, as on
# the project's machines and CI. This server is a throwaway local test database listening on
# loopback only, so we put trust rules first in pg_hba.conf (the first matching line wins).
_pg_trust_local() { # PG_HBA_CONF
  local hba="$1"
  [[ -f "$hba" ]] || return 0
  if grep -q 'ecommerce ci/lib.sh' "$hba"; then
    return 0
  fi
  _ci_log "postgres: allowing passwordless local connections in $hba (test server)"
  local tmp="$_CI_RUN_DIR/pg_hba.conf"
  {
    printf '%s\n' \
      '# added by ecommerce ci/lib.sh: throwaway local test server, passwordless on loopback only' \
      'local   all   all                  trust' \
      'host    all   all   127.0.0.1/32   trust' \
      'host    all   all   ::1/128        trust' \
      ''
    cat "$hba"
  } >"$tmp"
  "${_CI_SUDO[@]}" cp "$tmp" "$hba"
}

ensure_postgres() {
  if _pg_ready; then
    _ci_log "postgres: up on 127.0.0.1:5432"
    return 0
  fi
  local fresh=0 ver
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ -z "$(_pg_version)" ]]; then
    ensure_apt postgresql
    fresh=1
    if [[ -z "$(_pg_version)" ]]; then
      # Installed, but no cluster was created (create_main_cluster = false): create one.
      local d bin_ver=""
      for d in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x "$d" ]] || continue
        d="${d%/bin/postgres}"
        bin_ver="${d##*/}"
      done
      [[ -n "$bin_ver" ]] || { _ci_err "postgres: no server found after installing postgresql"; return 1; }
      "${_CI_SUDO[@]}" pg_createcluster "$bin_ver" main
    fi
  fi
  ver="$(_pg_version)"
  if ((fresh)); then
    _pg_trust_local "/etc/postgresql/$ver/main/pg_hba.conf"
    # The package's maintainer script may already have started it: reload picks up pg_hba.conf.
    "${_CI_SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >/dev/null 2>&1 || true
  fi
  if ! _pg_ready; then
    local log="$_CI_RUN_DIR/postgres-start.log"
    _ci_log "postgres: starting cluster $ver/main"
    if ! "${_CI_SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$ver" main start </dev/null >"$log" 2>&1; then
      # "already running" while not accepting yet is fine: the wait below decides.
      _ci_log "postgres: pg_ctlcluster start: $(tail -n 1 "$log" 2>/dev/null || true)"
    fi
    if ! _ci_wait_for "postgres on 127.0.0.1:5432" "$ECOMMERCE_INFRA_TIMEOUT" _pg_ready; then
      _ci_show_log "$log"
      _ci_err "see /var/log/postgresql/postgresql-$ver-main.log"
      return 1
    fi
  fi
}

# ---------------------------------------------------------------------------------------------
# Redis

_redis_ready() {
  local reply
  if command -v redis-cli >/dev/null 2>&1; then
    reply="$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null || true)"
  else # speak the protocol ourselves
    # shellcheck disable=SC2016 # expanded by the inner bash
    reply="$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6379 && printf "PING\r\n" >&3 && read -r l <&3 && printf "%s" "${l#+}"' 2>/dev/null || true)"
  fi
  [[ "${reply%$'\r'}" == PONG ]]
}

ensure_redis() {
  if _redis_ready; then
    _ci_log "redis: up on 127.0.0.1:6379"
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    ensure_apt redis-server
    ! _redis_ready || return 0 # the package's maintainer script may have started it
  fi
  local log="$_CI_RUN_DIR/redis-start.log"
  _ci_log "redis: starting"
  # Nothing kept on disk: it is a test cache. Output goes to a file so that no daemon holds the
  # caller's stdout open.
  if ! redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    </dev/null >"$log" 2>&1; then
    _ci_show_log "$log"
    _ci_err "redis: redis-server failed to start"
    return 1
  fi
  _ci_wait_for "redis on 127.0.0.1:6379" "$ECOMMERCE_INFRA_TIMEOUT" _redis_ready || {
    _ci_show_log "$log"
    return 1
  }
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ

# Ready = the AMQP listener answers the 0-9-1 protocol header with a method frame (type 1,
# connection.start). The listener opens only once the broker has booted.
_rabbitmq_ready() {
  local first
  # shellcheck disable=SC2016 # expanded by the inner bash
  first="$(timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672 && printf "AMQP\x00\x00\x09\x01" >&3 && head -c 1 <&3 | od -An -tx1' 2>/dev/null || true)"
  [[ "${first// /}" == 01 ]]
}

_rabbitmq_bin() {
  local b
  for b in "$(command -v rabbitmq-server 2>/dev/null || true)" /usr/sbin/rabbitmq-server; do
    if [[ -n "$b" && -x "$b" ]]; then
      printf '%s' "$b"
      return 0
    fi
  done
  return 1
}

ensure_rabbitmq() {
  if _rabbitmq_ready; then
    _ci_log "rabbitmq: up on 127.0.0.1:5672"
    return 0
  fi
  if ! _rabbitmq_bin >/dev/null; then
    ensure_apt rabbitmq-server
    if _rabbitmq_ready; then # the package's maintainer script may have started it
      _ci_log "rabbitmq: up on 127.0.0.1:5672"
      return 0
    fi
  fi
  local log="$_CI_RUN_DIR/rabbitmq-start.log" bin
  bin="$(_rabbitmq_bin)"
  _ci_log "rabbitmq: starting (takes a few seconds)"
  if ! "${_CI_SUDO[@]}" "$bin" -detached </dev/null >"$log" 2>&1; then
    _ci_show_log "$log"
    _ci_err "rabbitmq: rabbitmq-server -detached failed"
    return 1
  fi
  if ! _ci_wait_for "rabbitmq on 127.0.0.1:5672" "$ECOMMERCE_INFRA_TIMEOUT" _rabbitmq_ready; then
    _ci_show_log "$log"
    _ci_err "see /var/log/rabbitmq/ for the broker's own logs"
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# Toolchains and tools

# Debian's rustc-web (a newer compiler than the rustup one, with rust-src) builds the wasm32
# standard library from source; rustup cannot download targets here. See the wasm toolchain note.
ensure_wasm_toolchain() {
  # lld-22 must be named: rust-web-llvm ships /usr/bin/rust-lld -> lld-22 without depending on it.
  ensure_apt rustc-web cargo-web rust-web-src rust-web-llvm lld-22
  local toolchains
  toolchains="$(rustup toolchain list)"
  if ! grep -q '^debian-web' <<<"$toolchains"; then
    _ci_log "linking rustup toolchain debian-web -> /usr"
    rustup toolchain link debian-web /usr
  fi
  RUSTUP_TOOLCHAIN=debian-web rustc --version
}

# _ci_version_re VERSION — VERSION as an ERE matching it as a whole version number.
_ci_version_re() {
  local v="${1#=}"
  v="${v//./\\.}"
  printf '(^|[^0-9.])%s([^0-9.]|$)' "$v"
}

# ensure_cargo_tool NAME VERSION [cargo install args...]
# Installs crate NAME at exactly VERSION into $ECOMMERCE_TOOLS (binaries in $ECOMMERCE_TOOLS/bin)
# unless `$ECOMMERCE_TOOLS/bin/NAME --version` already reports VERSION. For a crate whose binary
# has another name (wasm-bindgen-cli -> wasm-bindgen), cargo's install record is consulted too.
# The toolchain follows the caller: `RUSTUP_TOOLCHAIN=debian-web ensure_cargo_tool trunk 0.22.1 --locked`.
ensure_cargo_tool() {
  local name="$1" version="${2#=}"
  shift 2
  ! cargo_tool_installed "$name" "$version" || return 0
  mkdir -p "$ECOMMERCE_TOOLS/bin"
  _ci_log "cargo install $name $version -> $ECOMMERCE_TOOLS"
  # Its own scratch build folder: in the project's CARGO_TARGET_DIR it would hold that folder's
  # lock for its whole build, and a background install would stall the foreground phases.
  with_progress "cargo install $name" "" \
    env -u CARGO_TARGET_DIR cargo install --root "$ECOMMERCE_TOOLS" "$name" --version "$version" "$@"
}

# cargo_tool_installed NAME VERSION — whether ensure_cargo_tool has nothing to do.
cargo_tool_installed() {
  local name="$1" version="${2#=}" re reported
  re="$(_ci_version_re "$version")"
  if [[ -x "$ECOMMERCE_TOOLS/bin/$name" ]]; then
    reported="$("$ECOMMERCE_TOOLS/bin/$name" --version 2>/dev/null || true)"
    if grep -Eq "$re" <<<"$reported"; then
      return 0
    fi
  fi
  [[ ! -x "$ECOMMERCE_TOOLS/bin/$name" && -f "$ECOMMERCE_TOOLS/.crates.toml" ]] &&
    grep -Fq "\"$name $version (" "$ECOMMERCE_TOOLS/.crates.toml"
}

# ensure_npm_tool PKG VERSION — `npm install -g` into $ECOMMERCE_TOOLS (binaries in
# $ECOMMERCE_TOOLS/bin) unless that exact version is already there.
ensure_npm_tool() {
  local pkg="$1" version="${2#=}"
  ! npm_tool_installed "$pkg" "$version" || return 0
  mkdir -p "$ECOMMERCE_TOOLS/bin"
  _ci_log "npm install $pkg@$version -> $ECOMMERCE_TOOLS"
  npm install --global --prefix "$ECOMMERCE_TOOLS" --no-audit --no-fund "$pkg@$version"
}

# npm_tool_installed PKG VERSION — whether ensure_npm_tool has nothing to do.
npm_tool_installed() {
  local manifest="$ECOMMERCE_TOOLS/lib/node_modules/$1/package.json" version="${2#=}"
  [[ -f "$manifest" ]] && grep -Eq "\"version\": *\"${version//./\\.}\"" "$manifest"
}

# ---------------------------------------------------------------------------------------------
# Crates, long compiles and the release build

# fetch_crates — download every crate Cargo.lock names, for every platform, so that later builds
# may run offline (trunk builds the frontend with --offline).
fetch_crates() {
  cargo fetch --locked --quiet
}

# with_progress LABEL TOTAL CMD... — runs a long compile with its output in a log instead of the
# terminal, and shows one progress line: crates compiled so far (of TOTAL, when TOTAL is not
# empty) and the time taken. On a terminal the line is rewritten in place; in a log (CI) a line
# is printed every 30 s. Cargo's JSON messages (--message-format=json...) count every unit,
# fresh ones too; other output counts its `Compiling` lines. When CMD fails, the last lines of
# the log are shown.
with_progress() {
  local label="$1" total="$2"
  shift 2
  local log="$_CI_RUN_DIR/${label//[^A-Za-z0-9_.-]/_}.log" tty=0
  [[ -t 1 ]] && tty=1
  : >"$log"
  local -a status
  set +e
  "$@" 2>&1 | _ci_progress_lines "$label" "$total" "$tty" "$log"
  status=("${PIPESTATUS[@]}")
  set -e
  if ((status[0] != 0)); then
    _ci_err "$label failed (exit ${status[0]}); the last lines of its output:"
    grep -v '^{' "$log" | tail -n 60 >&2 || true
    return "${status[0]}"
  fi
}

_ci_progress_lines() { # LABEL TOTAL TTY LOG
  local label="$1" total="$2" tty="$3" log="$4"
  local line count=0 start last_print now shown rc
  start="$(_ci_now_us)"
  last_print="$start"
  while :; do
    # A time-out (status > 128) only refreshes the line: one crate can compile for minutes.
    rc=0
    IFS= read -r -t 10 line || rc=$?
    if ((rc > 128)); then
      line=""
    elif ((rc != 0)); then
      break
    fi
    case "$line" in
      '{"reason":"compiler-artifact"'*) count=$((count + 1)) ;;
      '{'*) ;;
      *Compiling\ *) count=$((count + 1)) ;;
    esac
    [[ -z "$line" || "${line:0:1}" == '{' ]] || printf '%s\n' "$line" >>"$log"
    now="$(_ci_now_us)"
    shown="$count"
    [[ -z "$total" ]] || ((count <= total)) || shown="$total"
    if ((tty)); then
      if ((now - last_print >= 200000)); then
        printf '\r  %s: %s crates, %s\033[K' "$label" "$shown${total:+/$total}" "$(_ci_fmt_us "$((now - start))")"
        last_print="$now"
      fi
    elif ((now - last_print >= 30000000)); then
      printf '  %s: %s crates, %s\n' "$label" "$shown${total:+/$total}" "$(_ci_fmt_us "$((now - start))")"
      last_print="$now"
    fi
  done
  ((tty == 0)) || printf '\r\033[K'
  printf '  %s: %s crates compiled or fresh\n' "$label" "$count"
}

# cargo_unit_count CARGO_BUILD_ARGS... — how many units (crates, build scripts) `cargo build
# ARGS` consists of, fresh or not; empty when cargo cannot tell. The unit graph is an unstable
# cargo flag: RUSTC_BOOTSTRAP lets this one read-only query use it on a stable toolchain.
cargo_unit_count() {
  _ci_unit_graph "$@" | jq '[.units[] | select(.mode != "run-custom-build")] | length' 2>/dev/null || true
}

# cargo_package_count CARGO_BUILD_ARGS... — how many packages it compiles: what cargo's
# `Compiling` lines count (one per package). Empty when cargo cannot tell.
cargo_package_count() {
  _ci_unit_graph "$@" | jq '[.units[].pkg_id] | unique | length' 2>/dev/null || true
}

_ci_unit_graph() {
  RUSTC_BOOTSTRAP=1 cargo build "$@" --unit-graph -Z unstable-options 2>/dev/null || true
}

ECOMMERCE_SERVICES=(gateway user product order web)

# The host's target triple: release builds name it, which keeps their flags off build scripts
# and proc macros (a static proc macro cannot be loaded by the compiler).
ci_host_target() {
  rustc -vV | sed -n 's/^host: //p'
}

release_dir() {
  printf '%s/%s/release' "${CARGO_TARGET_DIR:-$PWD/target}" "$(ci_host_target)"
}

# release_build [PKG...] — the one release build of the services, shared by the launcher
# (ci/dev), the images (ci/images), the chart's run under podman and the frontend's precompress
# step. Statically linked (glibc static-pie), so an image needs nothing but the binary and CA
# certificates.
release_build() {
  local pkgs=("$@") args=() pkg
  ((${#pkgs[@]} > 0)) || pkgs=("${ECOMMERCE_SERVICES[@]}")
  for pkg in "${pkgs[@]}"; do args+=(-p "$pkg"); done
  args+=(--release --locked --target "$(ci_host_target)")
  local total
  total="$(RUSTFLAGS="-C target-feature=+crt-static" cargo_unit_count "${args[@]}")"
  RUSTFLAGS="-C target-feature=+crt-static" with_progress "release build" "$total" \
    cargo build --message-format=json-render-diagnostics -q "${args[@]}"
}
