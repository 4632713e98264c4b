"""What the Argo CD tree under argocd/ asks a cluster to run, computed offline.

Shared by the checks of `ci/gitops-check` (check.py), their tests (pytest) and
`ci/gitops-inventory`. Each environment is one cluster: its root Application
(argocd/bootstrap/<env>.yaml) renders argocd/environments/<env> with kustomize into AppProjects
and Applications. What an Application creates is computed from its source:
  - this repository's chart (charts/ecommerce): rendered with the Helm SDK and the Application's
    value files, as Argo CD renders it;
  - a folder of this repository: its YAML files;
  - an upstream chart: argocd/tests/inventory.yaml, written by `ci/gitops-inventory` from a
    rendering of that chart at its pinned version with the Application's values (there is no
    network here to fetch it; the check refuses an inventory that is not of the pinned version
    and values).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

TESTS = Path(__file__).resolve().parent
ARGOCD = TESTS.parent
ROOT = ARGOCD.parent
CHART_TESTS = ROOT / "charts" / "ecommerce" / "tests"
REPO_URL = "https://github.com/ecommerce-platform/ecommerce.git"
INVENTORY = TESTS / "inventory.yaml"
IN_CLUSTER = "https://kubernetes.default.svc"

# The chart's validator of custom resources (charts/ecommerce/tests/crdschema.py), reused with the
# CRDs vendored here (tests/crds) added to the chart's own (charts/ecommerce/tests/crds).
sys.path.insert(0, str(CHART_TESTS))
import crdschema  # noqa: E402

# Kinds of Kubernetes itself that are cluster-scoped (group/Kind, "" for the core group). A custom
# kind's scope comes from its CRD.
BUILTIN_CLUSTER_KINDS = {
    "/Namespace", "/Node", "/PersistentVolume", "/ComponentStatus",
    "rbac.authorization.k8s.io/ClusterRole", "rbac.authorization.k8s.io/ClusterRoleBinding",
    "apiextensions.k8s.io/CustomResourceDefinition", "apiregistration.k8s.io/APIService",
    "admissionregistration.k8s.io/ValidatingWebhookConfiguration",
    "admissionregistration.k8s.io/MutatingWebhookConfiguration",
    "admissionregistration.k8s.io/ValidatingAdmissionPolicy",
    "admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding",
    "storage.k8s.io/StorageClass", "storage.k8s.io/CSIDriver", "storage.k8s.io/CSINode",
    "storage.k8s.io/VolumeAttachment", "scheduling.k8s.io/PriorityClass",
    "node.k8s.io/RuntimeClass", "networking.k8s.io/IngressClass",
    "certificates.k8s.io/CertificateSigningRequest", "flowcontrol.apiserver.k8s.io/FlowSchema",
    "flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration",
}
# Groups of Kubernetes itself: an object of another group is a custom resource, needing a CRD.
BUILTIN_GROUPS = {
    "", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "apiextensions.k8s.io", "apiregistration.k8s.io", "admissionregistration.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "node.k8s.io", "coordination.k8s.io",
    "discovery.k8s.io", "certificates.k8s.io", "flowcontrol.apiserver.k8s.io", "events.k8s.io",
}


class GitOpsError(Exception):
    """A finding of a check: what is wrong and where."""


def group_of(api_version: str) -> str:
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def gk(obj: dict) -> str:
    """group/Kind of an object."""
    return f"{group_of(obj.get('apiVersion', ''))}/{obj.get('kind')}"


def load_yaml_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def values_hash(values: Any) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# The tree

def environments() -> list[str]:
    return sorted(p.parent.name for p in (ARGOCD / "environments").glob("*/kustomization.yaml"))


def kubectl() -> str:
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not found:
        raise GitOpsError("no kubectl (for `kubectl kustomize`): ci/gitops-check installs one")
    return found


def kustomize(path: Path) -> list[dict]:
    """`kubectl kustomize PATH`, the objects it renders, as Argo CD's kustomize build does."""
    out = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        raise GitOpsError(f"kustomize {path.relative_to(ROOT)}: {out.stderr.strip()}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@lru_cache(maxsize=None)
def cluster(env: str) -> tuple[dict, ...]:
    """Every object the root Application of `env` creates (AppProjects and Applications)."""
    return tuple(kustomize(ARGOCD / "environments" / env))


def applications(env: str) -> list[dict]:
    return [o for o in cluster(env) if o["kind"] == "Application"]


def projects(env: str) -> list[dict]:
    return [o for o in cluster(env) if o["kind"] == "AppProject"]


def root_application(env: str) -> dict:
    docs = load_yaml_docs(ARGOCD / "bootstrap" / f"{env}.yaml")
    roots = [d for d in docs if d["kind"] == "Application"]
    if len(roots) != 1:
        raise GitOpsError(f"argocd/bootstrap/{env}.yaml: expected one Application, found {len(roots)}")
    return roots[0]


def bootstrap_objects(env: str) -> list[dict]:
    return load_yaml_docs(ARGOCD / "bootstrap" / f"{env}.yaml")


def wave(obj: dict) -> int:
    return int(((obj.get("metadata") or {}).get("annotations") or {}).get("argocd.argoproj.io/sync-wave", "0"))


def sources(app: dict) -> list[dict]:
    spec = app["spec"]
    return list(spec.get("sources") or ([spec["source"]] if "source" in spec else []))


def is_upstream(source: dict) -> bool:
    return "chart" in source


def points_here(source: dict) -> bool:
    return source.get("repoURL", "").rstrip("/").removesuffix(".git") == REPO_URL.removesuffix(".git")


def sync_options(app: dict) -> list[str]:
    return list(((app["spec"].get("syncPolicy") or {}).get("syncOptions")) or [])


# ---------------------------------------------------------------------------------------------
# What an Application creates

def helm_values(source: dict, chart_dir: Path) -> dict:
    """The Application's Helm values: its value files (relative to the chart, as Argo CD reads
    them), then `values` (a string) and `valuesObject` over them."""
    sys.path.insert(0, str(CHART_TESTS))
    import chartlib

    helm = source.get("helm") or {}
    values: dict = {}
    for name in helm.get("valueFiles") or []:
        path = (chart_dir / name).resolve()
        if not path.is_relative_to(ROOT):
            raise GitOpsError(f"value file {name} of {chart_dir.relative_to(ROOT)} is outside the repository")
        if not path.is_file():
            raise GitOpsError(f"value file {name} of {chart_dir.relative_to(ROOT)} does not exist")
        values = chartlib.merge(values, yaml.safe_load(path.read_text()) or {})
    if helm.get("values"):
        values = chartlib.merge(values, yaml.safe_load(helm["values"]) or {})
    if helm.get("valuesObject"):
        values = chartlib.merge(values, helm["valuesObject"])
    return values


_render_cache: dict[str, list[dict]] = {}


def render_repo_chart(app: dict, source: dict) -> list[dict]:
    """This repository's chart as Argo CD renders it for `app` (Helm SDK)."""
    import helm_python as helm

    chart_dir = ROOT / source["path"]
    values = helm_values(source, chart_dir)
    release = (source.get("helm") or {}).get("releaseName") or app["metadata"]["name"]
    namespace = app["spec"]["destination"]["namespace"]
    key = json.dumps([str(chart_dir), release, namespace, values], sort_keys=True)
    if key not in _render_cache:
        with helm.Chart.load(str(chart_dir)) as chart:
            out = chart.render(values, name=release, namespace=namespace)
        docs: list[dict] = []
        for path in sorted(out):
            if path.endswith("NOTES.txt"):
                continue
            docs += [d for d in yaml.safe_load_all(out[path]) if d]
        _render_cache[key] = docs
    return _render_cache[key]


def directory_objects(source: dict) -> list[dict]:
    folder = ROOT / source["path"]
    recurse = ((source.get("directory") or {}).get("recurse")) is True
    files = sorted(folder.rglob("*.yaml") if recurse else folder.glob("*.yaml"))
    files += sorted(folder.rglob("*.yml") if recurse else folder.glob("*.yml"))
    docs: list[dict] = []
    for f in files:
        docs += load_yaml_docs(f)
    return docs


@lru_cache(maxsize=None)
def inventory() -> dict:
    if not INVENTORY.is_file():
        return {}
    return (yaml.safe_load(INVENTORY.read_text()) or {}).get("charts") or {}


def inventory_key(app: dict, source: dict) -> str:
    values = (source.get("helm") or {}).get("valuesObject") or {}
    return (f"{app['metadata']['name']} {source['repoURL']} {source['chart']}@{source['targetRevision']}"
            f" values:{values_hash(values)}")


def upstream_entry(app: dict, source: dict) -> dict:
    key = inventory_key(app, source)
    entry = inventory().get(key)
    if entry is None:
        raise GitOpsError(
            f"Application {app['metadata']['name']}: argocd/tests/inventory.yaml has no rendering of "
            f"{source['chart']} {source['targetRevision']} with these values ({key}): "
            "run ci/gitops-inventory after changing an upstream chart's version or values")
    return entry


class Footprint:
    """What an Application puts in the cluster: its objects' kinds and namespaces, the CRDs it
    provides and the custom kinds it uses."""

    def __init__(self) -> None:
        self.cluster_kinds: set[str] = set()
        self.namespaces: set[str] = set()
        self.crds: set[str] = set()          # group/Kind of the CRDs it installs
        self.uses: set[str] = set()          # group/Kind of the custom resources it creates
        self.objects: list[dict] = []        # objects, for this repository's sources only


def scope_of_crds(objects: Iterable[dict]) -> dict[str, str]:
    out = {}
    for o in objects:
        if o.get("kind") == "CustomResourceDefinition":
            spec = o["spec"]
            out[f"{spec['group']}/{spec['names']['kind']}"] = spec.get("scope", "Namespaced")
    return out


@lru_cache(maxsize=None)
def _c_loader():
    class _CLoader(yaml.CSafeLoader):
        """libyaml, reading a bare `=` as the string it is (see crdschema._Loader)."""
    _CLoader.add_constructor("tag:yaml.org,2002:value", _CLoader.construct_yaml_str)
    return _CLoader


@lru_cache(maxsize=None)
def vendored_crd_scopes() -> dict[str, str]:
    out: dict[str, str] = {}
    for root in (TESTS / "crds", CHART_TESTS / "crds"):
        for path in root.rglob("*.yaml"):
            text = path.read_text()
            if "kind: CustomResourceDefinition" in text:
                loader = getattr(yaml, "CSafeLoader", None) and _c_loader() or crdschema._Loader
                out.update(scope_of_crds(yaml.load_all(text, Loader=loader)))
    return out


def footprint_of_objects(objects: list[dict], default_ns: str, crd_scopes: dict[str, str]) -> Footprint:
    fp = Footprint()
    fp.objects = objects
    scopes = {**crd_scopes, **scope_of_crds(objects)}
    for o in objects:
        if not isinstance(o, dict) or not o.get("kind") or not o.get("apiVersion"):
            raise GitOpsError(f"an object without apiVersion or kind: {str(o)[:120]}")
        o.setdefault("metadata", {})
        kind = gk(o)
        group = group_of(o["apiVersion"])
        if kind == "apiextensions.k8s.io/CustomResourceDefinition":
            fp.crds.add(f"{o['spec']['group']}/{o['spec']['names']['kind']}")
        if group not in BUILTIN_GROUPS:
            fp.uses.add(kind)
            if kind not in scopes:
                raise GitOpsError(f"{kind} {o['metadata'].get('name')}: no CRD known for this kind")
            cluster_scoped = scopes[kind] == "Cluster"
        else:
            cluster_scoped = kind in BUILTIN_CLUSTER_KINDS
        if cluster_scoped:
            fp.cluster_kinds.add(kind)
        else:
            fp.namespaces.add(o["metadata"].get("namespace") or default_ns)
    return fp


def footprint(app: dict) -> Footprint:
    """What `app` creates, from all of its sources."""
    total = Footprint()
    dest_ns = app["spec"]["destination"].get("namespace", "")
    for source in sources(app):
        if is_upstream(source):
            entry = upstream_entry(app, source)
            fp = Footprint()
            fp.cluster_kinds = set(entry.get("clusterKinds") or [])
            fp.namespaces = set(entry.get("namespaces") or [])
            fp.crds = set(entry.get("crds") or [])
            fp.uses = set(entry.get("uses") or [])
        elif points_here(source):
            path = ROOT / source.get("path", "")
            if not source.get("path") or not path.is_dir():
                raise GitOpsError(f"Application {app['metadata']['name']}: path {source.get('path')!r} does not exist in this repository")
            if (path / "Chart.yaml").is_file():
                objects = render_repo_chart(app, source)
            else:
                objects = directory_objects(source)
                if not objects:
                    raise GitOpsError(f"Application {app['metadata']['name']}: {source['path']} holds no manifest")
            fp = footprint_of_objects(objects, dest_ns, vendored_crd_scopes())
        else:
            raise GitOpsError(f"Application {app['metadata']['name']}: a Git source of another repository ({source.get('repoURL')})")
        total.cluster_kinds |= fp.cluster_kinds
        total.namespaces |= fp.namespaces
        total.crds |= fp.crds
        total.uses |= fp.uses
        total.objects += fp.objects
    if "CreateNamespace=true" in sync_options(app):
        total.cluster_kinds.add("/Namespace")
        total.namespaces.add(dest_ns)
    return total


# ---------------------------------------------------------------------------------------------
# Custom resources against their CRDs

@lru_cache(maxsize=None)
def validator() -> "crdschema.Validator":
    """The chart's strict CRD validator over the CRDs vendored here and the chart's own.
    crdschema.load_schemas reads the folder in its module's CRDS; it is pointed at each in turn
    (a `root` parameter there would make this simpler)."""
    v = crdschema.Validator.__new__(crdschema.Validator)
    v.schemas = {}
    saved = crdschema.CRDS, crdschema._Loader
    # libyaml's parser reads the 3 MB of Chaos Mesh CRDs in a fraction of the pure-Python time.
    if getattr(yaml, "CSafeLoader", None):
        crdschema._Loader = _c_loader()
    try:
        for root in (CHART_TESTS / "crds", TESTS / "crds"):
            crdschema.CRDS = root
            v.schemas.update(crdschema.load_schemas(strict=True))
    finally:
        crdschema.CRDS, crdschema._Loader = saved
    return v
