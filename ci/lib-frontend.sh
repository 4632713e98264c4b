# shellcheck shell=bash
# ci/lib-frontend.sh — building, serving and testing the Yew frontend. Source it after ci/lib.sh,
# from the repository root:
#
#   source ci/lib.sh
#   source ci/lib-frontend.sh
#
# Functions (each usable as a `phase` command):
#   ensure_frontend_tools   Debian rustc-web (debian-web), trunk, wasm-bindgen-cli (the Cargo.lock
#                           version), binaryen's wasm-opt; each installed once into $ECOMMERCE_TOOLS
#   ensure_browser          Debian chromium, and playwright-core in frontend/e2e/node_modules
#   frontend_fetch          the crates the offline build needs: Cargo.lock's and the wasm
#                           standard library's own (dlmalloc, ...), which -Zbuild-std compiles
#   frontend_build          trunk build of the storefront into frontend/dist, of the account app
#                           (signing in, the signed-in pages) into frontend/dist/account and of the
#                           admin portal into frontend/dist/admin (bundles of their own, so the
#                           storefront's first page loads neither), then precompress them all
#                           (.br/.gz twins) with the release web binary (FRONTEND_WEB_BIN, else
#                           release_build's)
#   frontend_smoke          serve frontend/dist with the web service; every page loads in Chromium
#                           without console errors or CSP violations (screenshots as artifacts)
#   frontend_e2e URL        the shop scenarios in Chromium against the whole stack at URL
#                           (ci/dev-test runs it on the stack the launcher started)
#   frontend_report [URL]   wasm/JS sizes (raw, gzip, brotli) and time to first render; the time
#                           to the first catalog render needs the whole stack (URL; ci/dev-test
#                           passes the launcher's)
#
# Knobs (environment):
#   FRONTEND_DIST_DIR              where frontend_build writes the site (default frontend/dist)
#   ECOMMERCE_FRONTEND_TARGET_DIR  the wasm build's target dir (default $CARGO_TARGET_DIR-frontend-wasm,
#                                  else target/frontend-wasm): its own, since flags and toolchain differ
#   ARTIFACTS_DIR                  screenshots and reports (default target/e2e-artifacts)
#   CHROMIUM                       the browser binary (default /usr/bin/chromium)
#   SHOP_ADMIN_EMAIL, SHOP_ADMIN_PASSWORD   an admin account of the stack under test (e2e only;
#                                  default admin@shop.local and the password ci/dev generated in
#                                  ${ECOMMERCE_DEV_STATE_DIR:-.state/dev}/secrets/admin-password)

FRONTEND_TRUNK_VERSION=0.22.1
FRONTEND_BINARYEN_VERSION=132.0.0

# The wasm-bindgen version Cargo.lock resolves: the CLI must be exactly this one.
frontend_wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

# Trunk.toml pins the wasm-bindgen CLI; a Cargo.lock update that moves the crate must move it too.
frontend_check_pins() {
  local locked pinned
  locked="$(frontend_wasm_bindgen_version)"
  pinned="$(sed -n 's/^wasm_bindgen = "\(.*\)"/\1/p' frontend/Trunk.toml)"
  if [[ -z "$locked" || "$locked" != "$pinned" ]]; then
    _ci_err "frontend/Trunk.toml pins wasm_bindgen = \"$pinned\" but Cargo.lock has wasm-bindgen $locked: update Trunk.toml"
    return 1
  fi
}

frontend_wasm_target_dir() {
  if [[ -n "${ECOMMERCE_FRONTEND_TARGET_DIR:-}" ]]; then
    printf '%s' "$ECOMMERCE_FRONTEND_TARGET_DIR"
  elif [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    printf '%s' "${CARGO_TARGET_DIR%/}-frontend-wasm"
  else
    printf '%s' "$PWD/target/frontend-wasm"
  fi
}

frontend_artifacts_dir() {
  local dir="${ARTIFACTS_DIR:-$PWD/target/e2e-artifacts}"
  mkdir -p "$dir"
  (cd "$dir" && pwd)
}

# frontend_plan — one line per step of the frontend build that has work to do, with a rough
# time on a 2-core machine (measured on a fresh one: README, quick start).
frontend_plan() {
  local missing=() pkg
  for pkg in rustc-web cargo-web rust-web-src rust-web-llvm lld-22; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" == "install ok installed" ]] || missing+=("$pkg")
  done
  if ((${#missing[@]} > 0)); then
    printf '%s\n' "Debian packages for the wasm build (${missing[*]}): about 1 min, once"
  fi
  cargo_tool_installed trunk "$FRONTEND_TRUNK_VERSION" ||
    printf '%s\n' "compile trunk $FRONTEND_TRUNK_VERSION (cargo install, about 480 crates): about 15 min, once"
  cargo_tool_installed wasm-bindgen-cli "$(frontend_wasm_bindgen_version)" ||
    printf '%s\n' "compile wasm-bindgen-cli $(frontend_wasm_bindgen_version) (cargo install, about 160 crates): about 7 min, once"
  npm_tool_installed binaryen "$FRONTEND_BINARYEN_VERSION" ||
    printf '%s\n' "binaryen $FRONTEND_BINARYEN_VERSION (wasm-opt, from npm): seconds, once"
  if [[ -d "$(frontend_wasm_target_dir)/wasm32-unknown-unknown/release" ]]; then
    printf '%s\n' "build the storefront (wasm): seconds when it has not changed"
  else
    printf '%s\n' "compile the storefront and the wasm standard library (about 120 crates): about 3 min the first time"
  fi
}

ensure_frontend_tools() {
  frontend_check_pins
  ensure_wasm_toolchain
  # trunk 0.22 declares rust-version 1.96.1; Debian's 1.96.0 builds it fine.
  RUSTUP_TOOLCHAIN=debian-web ensure_cargo_tool trunk "$FRONTEND_TRUNK_VERSION" --locked --ignore-rust-version
  # No --locked: its lock file names a webpki-roots version the registry no longer has.
  ensure_cargo_tool wasm-bindgen-cli "$(frontend_wasm_bindgen_version)"
  # Debian's binaryen (108) cannot parse what rustc 1.96 emits.
  ensure_npm_tool binaryen "$FRONTEND_BINARYEN_VERSION"
}

ensure_browser() {
  ensure_apt chromium
  local e2e=frontend/e2e
  # npm ci only when node_modules is missing or older than the lock file.
  if [[ ! -d "$e2e/node_modules/playwright-core" || "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]]; then
    (cd "$e2e" && npm ci --no-audit --no-fund)
  fi
}

# The web service binary: FRONTEND_WEB_BIN, else the one release build every consumer shares
# (built here if it is not yet; ci/test and ci/dev have built it already).
frontend_web_binary() {
  if [[ -n "${FRONTEND_WEB_BIN:-}" ]]; then
    printf '%s' "$FRONTEND_WEB_BIN"
    return 0
  fi
  release_build web >&2
  printf '%s/web' "$(release_dir)"
}

# _frontend_cargo CMD... — CMD in frontend/ with the browser build's toolchain and settings.
# Size over speed for the browser build; the workspace release profile stays as it is for the
# services, so these come from the environment. build-std needs RUSTC_BOOTSTRAP on the Debian
# compiler, and only this build may see it (never in a repo-wide .cargo/config.toml). The
# standard library is compiled with the app, so these reach it too: panic=immediate-abort (a
# panic traps at once, without the message formatting and panic machinery), no file/line/column
# strings for panics and #[track_caller], and {:?} formatting compiled to nothing (the app shows
# people Display text only; Debug output would go nowhere but a console): docs/performance.md,
# section 4, has the sizes. Target-scoped rustflags: build scripts and proc macros keep theirs.
_frontend_cargo() {
  local target_dir
  target_dir="$(frontend_wasm_target_dir)"
  (
    cd frontend || return
    export RUSTUP_TOOLCHAIN=debian-web RUSTC_BOOTSTRAP=1 \
      CARGO_UNSTABLE_BUILD_STD=std,panic_abort \
      CARGO_TARGET_DIR="$target_dir" \
      CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
      CARGO_PROFILE_RELEASE_LTO=true \
      CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
      CARGO_UNSTABLE_PANIC_IMMEDIATE_ABORT=true \
      CARGO_PROFILE_RELEASE_PANIC=immediate-abort \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zlocation-detail=none -Zfmt-debug=none" \
      CARGO_PROFILE_RELEASE_STRIP=false
    "$@"
  )
}

# trunk builds offline (no tool downloads, no registry): everything it compiles must be in the
# cargo cache first. A plain `cargo fetch` covers Cargo.lock for every platform (build scripts
# and proc macros run on the host); the one with -Zbuild-std adds the wasm standard library's
# own dependencies, which no lock file of ours names.
frontend_fetch() {
  fetch_crates
  _frontend_cargo cargo fetch --locked --quiet --target wasm32-unknown-unknown
}

frontend_build() {
  frontend_fetch
  local total
  total="$(_frontend_cargo cargo_package_count --release --target wasm32-unknown-unknown)"
  local dist="${FRONTEND_DIST_DIR:-$PWD/frontend/dist}"
  with_progress "trunk build" "$total" _frontend_cargo trunk build --release --offline --dist "$dist"
  # After the storefront: trunk empties its dist folder first, so the other apps' folders
  # inside it must come after. Only each app's binary is left to compile and link.
  local app
  for app in account admin; do
    with_progress "trunk build $app.html" 1 _frontend_cargo trunk build --release --offline \
      --dist "$dist/$app" --public-url "/$app/" "$app.html"
  done
  local web
  web="$(frontend_web_binary)"
  "$web" precompress "$dist"
}

# _frontend_serve_dist LOG — starts the web service on a free port serving frontend/dist; prints
# "PID URL". The caller stops it with `kill PID`.
_frontend_serve_dist() {
  local log="$1" web port pid
  [[ -f frontend/dist/index.html ]] || { _ci_err "frontend/dist is missing: run ci/frontend-build"; return 1; }
  web="$(frontend_web_binary)"
  # A random free port above the ones services and stacks use by default.
  port=$((20000 + RANDOM % 40000))
  while _ci_tcp_open 127.0.0.1 "$port"; do port=$((20000 + RANDOM % 40000)); done
  WEB_ROOT=frontend/dist BIND_ADDR="127.0.0.1:$port" SHUTDOWN_DRAIN_SECS=2 RUST_LOG=warn \
    "$web" serve >"$log" 2>&1 &
  pid=$!
  if ! _ci_wait_for "web service on port $port" 30 _ci_tcp_open 127.0.0.1 "$port" >&2; then
    _ci_show_log "$log"
    kill "$pid" 2>/dev/null || true
    return 1
  fi
  printf '%s http://127.0.0.1:%s' "$pid" "$port"
}

# _frontend_with_web SCRIPT [ARGS...] — runs frontend/e2e/SCRIPT with SHOP_URL pointing at a web
# service serving frontend/dist, then stops the service.
_frontend_with_web() {
  local script="$1"
  shift
  local log="$_CI_RUN_DIR/web.log" started pid url rc=0
  started="$(_frontend_serve_dist "$log")" || return 1
  pid="${started%% *}"
  url="${started#* }"
  SHOP_URL="$url" _frontend_node "$script" "$@" || rc=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return "$rc"
}

_frontend_node() {
  local script="$1"
  shift
  ARTIFACTS_DIR="$(frontend_artifacts_dir)" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" \
    node "frontend/e2e/$script" "$@"
}

frontend_smoke() {
  ensure_browser
  _frontend_with_web smoke.mjs
}

frontend_e2e() {
  local url="${1:-${SHOP_URL:-}}"
  [[ -n "$url" ]] || { _ci_err "frontend_e2e needs the shop's URL (SHOP_URL)"; return 1; }
  ensure_browser
  # A stack started by ci/dev keeps its generated admin password in its state directory.
  local secret="${ECOMMERCE_DEV_STATE_DIR:-$PWD/.state/dev}/secrets/admin-password"
  local admin_email="${SHOP_ADMIN_EMAIL:-admin@shop.local}" admin_password="${SHOP_ADMIN_PASSWORD:-}"
  if [[ -z "$admin_password" && -f "$secret" ]]; then
    admin_password="$(<"$secret")"
  fi
  SHOP_URL="$url" SHOP_ADMIN_EMAIL="$admin_email" SHOP_ADMIN_PASSWORD="$admin_password" \
    _frontend_node shop.mjs
}

frontend_report() {
  local url="${1:-${SHOP_URL:-}}"
  ensure_browser
  if [[ -n "$url" ]]; then
    SHOP_URL="$url" _frontend_node report.mjs
  else
    _frontend_with_web report.mjs
  fi
}
