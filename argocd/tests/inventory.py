#!/usr/bin/env python3
"""Write argocd/tests/inventory.yaml: what each upstream chart creates, as its Application asks.

Usage: inventory.py CHARTS_DIR

CHARTS_DIR holds each upstream chart unpacked as CHARTS_DIR/<chart>-<version>/ (with its
dependencies under charts/), e.g. from
  helm pull --repo REPO CHART --version VERSION --untar --untardir /tmp/u && mv /tmp/u/CHART CHARTS_DIR/CHART-VERSION
For every Application of every environment with an upstream chart source, the chart is rendered
with the Helm SDK with the Application's release name, namespace and values, the chart's crds/
folder included (Argo CD applies it), and the inventory records the cluster-scoped kinds, the
namespaces, the CRDs it installs and the custom kinds it creates. The checks read it because the
charts cannot be fetched where they run; each entry is keyed by chart, version and a hash of the
values, so a bump without a new inventory fails the check.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gitops  # noqa: E402


# The API versions of Kubernetes 1.28 and newer (the chart's kubeVersion) that charts test for.
BUILTIN_APIS = {
    "v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1",
    "rbac.authorization.k8s.io/v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1",
    "storage.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "scheduling.k8s.io/v1",
    "node.k8s.io/v1", "certificates.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1",
}
API_HAS = re.compile(r'\$?\.Capabilities\.APIVersions\.Has\s+"([^"]+)"')


def with_cluster_apis(chart_dir: Path, apis: set[str], work: Path) -> Path:
    """A copy of the chart whose `.Capabilities.APIVersions.Has "X"` tests answer as the cluster
    will when the chart is synced: true for Kubernetes' own APIs and for the CRDs the platform
    installs (`apis`), false otherwise. Argo CD passes the cluster's API versions to
    `helm template`; the Helm SDK's offline render knows none, so a chart's ServiceMonitor, say,
    would silently be left out."""
    copy = work / chart_dir.name
    shutil.copytree(chart_dir, copy)

    def answer(m: re.Match) -> str:
        api = m.group(1)
        parts = api.split("/")
        group_version = "/".join(parts[:2]) if len(parts) >= 2 and "." in parts[0] else parts[0] if len(parts) == 1 else "/".join(parts[:2])
        return "true" if group_version in BUILTIN_APIS or group_version in apis else "false"

    for path in copy.rglob("templates/**/*"):
        if path.is_file() and path.suffix in (".yaml", ".tpl", ".yml", ".txt"):
            text = path.read_text()
            new = API_HAS.sub(answer, text)
            if new != text:
                path.write_text(new)
    return copy


def render_upstream(chart_dir: Path, release: str, namespace: str, values: dict) -> list[dict]:
    import helm_python as helm

    with helm.Chart.load(str(chart_dir)) as chart:
        out = chart.render(values, name=release, namespace=namespace)
    docs: list[dict] = []
    for path in sorted(out):
        if not path.endswith("NOTES.txt"):
            # A template that ends without a newline runs its `---` into the next line's text.
            text = re.sub(r"^---(?=\S)", "---\n", out[path], flags=re.M)
            docs += [d for d in yaml.load_all(text, Loader=gitops.crdschema._Loader) if d and isinstance(d, dict)]
    # Argo CD applies every chart's crds/ folders (helm template --include-crds), subcharts' too.
    for crd_file in sorted(chart_dir.rglob("crds/*.yaml")):
        if (crd_file.parent.parent / "Chart.yaml").is_file() and enabled(chart_dir, crd_file.parent.parent, values):
            docs += [d for d in yaml.load_all(crd_file.read_text(), Loader=gitops.crdschema._Loader)
                     if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
    return docs


def enabled(chart_dir: Path, sub: Path, values: dict) -> bool:
    """Whether the (sub)chart at `sub` is rendered: its `condition` in the parent's Chart.yaml,
    looked up in the values over the parent's defaults."""
    if sub == chart_dir:
        return True
    parent = sub.parent.parent
    meta = yaml.safe_load((parent / "Chart.yaml").read_text()) or {}
    defaults = yaml.safe_load((parent / "values.yaml").read_text()) or {} if (parent / "values.yaml").is_file() else {}
    for dep in meta.get("dependencies") or []:
        if dep.get("name") == sub.name and dep.get("condition"):
            for path in dep["condition"].split(","):
                found: object = None
                for source in (values if parent == chart_dir else {}, defaults):
                    node: object = source
                    for part in path.strip().split("."):
                        node = node.get(part) if isinstance(node, dict) else None
                    if isinstance(node, bool):
                        found = node
                        break
                if isinstance(found, bool):
                    return found and enabled(chart_dir, parent, values)
    return enabled(chart_dir, parent, values)


def provided_apis(objects: list[dict]) -> set[str]:
    out = set()
    for o in objects:
        if o.get("kind") == "CustomResourceDefinition":
            for v in o["spec"].get("versions") or []:
                out.add(f"{o['spec']['group']}/{v['name']}")
    return out


def main(charts_dir: str) -> int:
    root = Path(charts_dir)
    entries: dict[str, dict] = {}
    # Pass 1: the API versions the platform's CRDs add to the cluster.
    apis: set[str] = set()
    for env in gitops.environments():
        for app in gitops.applications(env):
            for source in gitops.sources(app):
                chart_dir = root / f"{source.get('chart')}-{source.get('targetRevision')}"
                if gitops.is_upstream(source) and (chart_dir / "Chart.yaml").is_file():
                    helm_cfg = source.get("helm") or {}
                    apis |= provided_apis(render_upstream(chart_dir, "x", "x", helm_cfg.get("valuesObject") or {}))
    work = Path(tempfile.mkdtemp(prefix="gitops-inventory."))
    for env in gitops.environments():
        for app in gitops.applications(env):
            for source in gitops.sources(app):
                if not gitops.is_upstream(source):
                    continue
                key = gitops.inventory_key(app, source)
                if key in entries:
                    entries[key]["environments"].append(env)
                    continue
                chart_dir = root / f"{source['chart']}-{source['targetRevision']}"
                if not (chart_dir / "Chart.yaml").is_file():
                    print(f"missing {chart_dir}/Chart.yaml", file=sys.stderr)
                    return 1
                helm_cfg = source.get("helm") or {}
                namespace = app["spec"]["destination"]["namespace"]
                patched = with_cluster_apis(chart_dir, apis, Path(tempfile.mkdtemp(dir=work)))
                objects = render_upstream(patched, helm_cfg.get("releaseName") or app["metadata"]["name"],
                                          namespace, helm_cfg.get("valuesObject") or {})
                fp = gitops.footprint_of_objects(objects, namespace, gitops.vendored_crd_scopes())
                entries[key] = {
                    "environments": [env],
                    "objects": len(objects),
                    "clusterKinds": sorted(fp.cluster_kinds),
                    "namespaces": sorted(fp.namespaces),
                    "crds": sorted(fp.crds),
                    "uses": sorted(fp.uses - fp.crds),
                }
                print(f"{key}: {len(objects)} objects")
    shutil.rmtree(work, ignore_errors=True)
    header = (
        "# What each upstream chart creates with its Application's values, rendered with the Helm\n"
        "# SDK from the chart at its pinned version. Written by ci/gitops-inventory; read by\n"
        "# ci/gitops-check (waves and AppProject allow-lists). Do not edit by hand.\n"
    )
    gitops.INVENTORY.write_text(header + yaml.safe_dump({"charts": entries}, sort_keys=True, width=120))
    print(f"wrote {gitops.INVENTORY.relative_to(gitops.ROOT)}: {len(entries)} renderings")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
