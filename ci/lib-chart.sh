# ci/lib-chart.sh — helpers of ci/chart-check and ci/chart-run (sourced, not run).
# shellcheck shell=bash

CHART_DIR="${CHART_DIR:-charts/ecommerce}"
ECOMMERCE_TOOLS="${ECOMMERCE_TOOLS:-$HOME/.cache/ecommerce-tools}"
CHART_VENV="$ECOMMERCE_TOOLS/venv-chart"
CHART_PY="$CHART_VENV/bin/python"

_chart_now_ms() { date +%s%3N; }

_chart_sudo() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# chart_tools — the Python venv of the chart checks, with the pinned versions of
# charts/ecommerce/tests/requirements.txt; installed once, again only when that file changes.
chart_tools() {
  local req="$CHART_DIR/tests/requirements.txt" stamp="$CHART_VENV/.requirements"
  if [[ -x "$CHART_PY" ]] && cmp -s "$req" "$stamp"; then
    return 0
  fi
  echo "installing the chart check tools into $CHART_VENV (once)"
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    _chart_sudo apt-get update -qq && _chart_sudo apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$CHART_VENV"
  python3 -m venv "$CHART_VENV"
  "$CHART_PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$CHART_PY" -m pip install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
}

_CHART_STEPS=()
_CHART_RESULTS=()
_CHART_TIMES=()

# chart_step NAME CMD... — runs CMD, prints its time, records the result; never stops the run.
chart_step() {
  local name="$1" start rc=0
  shift
  echo "--> $name"
  start="$(_chart_now_ms)"
  "$@" || rc=$?
  local ms=$(($(_chart_now_ms) - start))
  local t
  t="$(printf '%d.%ds' $((ms / 1000)) $(((ms % 1000) / 100)))"
  _CHART_STEPS+=("$name")
  _CHART_TIMES+=("$t")
  if ((rc == 0)); then
    _CHART_RESULTS+=("ok")
    echo "--> $name: ok in $t"
  else
    _CHART_RESULTS+=("FAILED ($rc)")
    echo "--> $name: FAILED (exit $rc) after $t"
  fi
}

# chart_summary — the table of steps; returns 1 when any failed.
chart_summary() {
  local i failed=0
  echo
  printf '%-10s %-12s %s\n' step result time
  for i in "${!_CHART_STEPS[@]}"; do
    printf '%-10s %-12s %s\n' "${_CHART_STEPS[$i]}" "${_CHART_RESULTS[$i]}" "${_CHART_TIMES[$i]}"
    [[ "${_CHART_RESULTS[$i]}" == ok ]] || failed=1
  done
  return "$failed"
}
