"""Rendering the chart with the Helm SDK (PyPI helm-python-sdk, the Helm v4 Go SDK), shared by the
template tests (pytest) and the checks of `ci/chart-check` (check.py).

The values matrix is here, once: every named case is a list of values files, merged in order the
way `helm -f a.yaml -f b.yaml` merges them, plus optional inline values.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parents[1]
RELEASE = "ecommerce"
NAMESPACE = "ecommerce"

# The render matrix: default, each environment, Istio on (with canaries, monitoring, traces) and
# off, monitoring on and off, external databases, existing secrets, sealed secrets, and an explicit
# Certificate with digests, a private registry and HPAs.
MATRIX: dict[str, list[str]] = {
    "default": ["ci/default-values.yaml"],
    "dev": ["values-dev.yaml"],
    "staging": ["values-staging.yaml"],
    "production": ["values-production.yaml"],
    "istio": ["ci/istio-values.yaml"],
    "monitoring": ["ci/monitoring-values.yaml"],
    "external-database": ["ci/external-database-values.yaml"],
    "existing-secrets": ["ci/existing-secrets-values.yaml"],
    "sealed-secrets": ["ci/sealed-secrets-values.yaml"],
    "ingress-certificate": ["ci/ingress-certificate-values.yaml"],
}

# Kubernetes versions the renderings are checked against: the oldest the chart supports
# (Chart.yaml kubeVersion) and the Helm SDK's own, which renders for v1.36.
OLDEST_KUBE = "1.28.0"


def merge(base: dict, over: dict) -> dict:
    """`over` merged into a copy of `base`, maps recursively, as Helm merges values files."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def values_for(files: Iterable[str], extra: dict | None = None) -> dict:
    """The values of chart-relative `files` merged in order, then `extra`."""
    values: dict = {}
    for name in files:
        values = merge(values, yaml.safe_load((CHART / name).read_text()) or {})
    return merge(values, extra or {})


def case_values(case: str, extra: dict | None = None) -> dict:
    return values_for(MATRIX[case], extra)


_chart: Any = None


def chart() -> Any:
    """The loaded chart, loaded once per process."""
    global _chart
    if _chart is None:
        _chart = helm.Chart.load(str(CHART))
    return _chart


def render_text(values: dict, *, name: str = RELEASE, namespace: str = NAMESPACE) -> str:
    """The rendered manifests, every template in path order, hooks included, as one YAML stream."""
    out = chart().render(values, name=name, namespace=namespace)
    parts = []
    for path in sorted(out):
        text = out[path].strip()
        if text and not path.endswith("NOTES.txt"):
            parts.append(f"# Source: {path}\n{text}")
    return "\n---\n".join(parts) + "\n"


def notes(values: dict) -> str:
    out = chart().render(values, name=RELEASE, namespace=NAMESPACE)
    return next(text for path, text in out.items() if path.endswith("NOTES.txt"))


def render(values: dict, **kwargs: str) -> list[dict]:
    """The rendered objects (empty documents dropped)."""
    return [d for d in yaml.safe_load_all(render_text(values, **kwargs)) if d]


def find(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [
        o for o in objects
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: list[dict], kind: str, name: str) -> dict:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_specs(objects: list[dict]) -> list[tuple[dict, dict]]:
    """(object, pod spec) of every object that runs pods."""
    out = []
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
            out.append((o, o["spec"]["template"]["spec"]))
    return out
