#!/usr/bin/env python3
"""The checks of `ci/gitops-check`, one subcommand each; each exits non-zero on a finding.

  render      every environment's root renders (kustomize) into AppProjects and Applications,
              the bootstrap files hold exactly the root Application and its project
  schemas     every object under argocd/ and every rendered one validated strictly against its
              upstream CRD (Argo CD, cert-manager, SealedSecret, Velero, Chaos Mesh); no Secret
  sources     each Application pointing here names an existing path, its value files exist and
              render with the chart (Helm SDK); each upstream chart is pinned to an exact version
              and has a rendering of that version and values in the inventory; syncPolicy
              automated with prune, selfHeal and a retry with backoff
  waves       every custom resource an Application creates has its CRD installed by an
              Application of an earlier wave (computed from the rendered objects and the CRDs)
  projects    each AppProject allows exactly the repositories, namespaces and cluster-scoped
              kinds its Applications use
  wiring      every Secret the shop's pods read is a SealedSecret of that environment with those
              keys; the shop's OTLP endpoint, Prometheus labels and principal and the Istio
              gateway's labels and principal are the platform Applications'
  workflows   .github/workflows/*.yaml valid against the GitHub workflow schema
              (check-jsonschema) and every `run:` step calls a script under ci/ that exists

Each prints what it checked; a finding is printed as `FAIL ...`.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gitops  # noqa: E402
from gitops import ARGOCD, ROOT, GitOpsError  # noqa: E402

findings: list[str] = []


def fail(message: str) -> None:
    findings.append(message)
    print(f"FAIL {message}", file=sys.stderr)


def done(what: str) -> int:
    if findings:
        print(f"{what}: {len(findings)} findings", file=sys.stderr)
        return 1
    print(what)
    return 0


def guarded(fn):
    def run(*args):
        try:
            fn(*args)
        except GitOpsError as e:
            fail(str(e))
    return run


# ---------------------------------------------------------------------------------------------

def cmd_render() -> int:
    for env in gitops.environments():
        try:
            objs = gitops.cluster(env)
        except GitOpsError as e:
            fail(str(e))
            continue
        apps = gitops.applications(env)
        names = [a["metadata"]["name"] for a in apps]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            fail(f"{env}: Applications named twice: {sorted(dup)}")
        for o in objs:
            if o["kind"] not in ("Application", "AppProject"):
                fail(f"{env}: the root renders a {o['kind']} ({o['metadata'].get('name')}): only Applications and AppProjects belong there")
            if o["metadata"].get("namespace") != "argocd":
                fail(f"{env}: {o['kind']} {o['metadata'].get('name')} is not in the argocd namespace")
        root = gitops.root_application(env)
        if root["spec"]["source"].get("path") != f"argocd/environments/{env}":
            fail(f"argocd/bootstrap/{env}.yaml: the root's path is {root['spec']['source'].get('path')}, not argocd/environments/{env}")
        boot_projects = [d for d in gitops.bootstrap_objects(env) if d["kind"] == "AppProject"]
        synced = {p["metadata"]["name"]: p["spec"] for p in gitops.projects(env)}
        for p in boot_projects:
            if synced.get(p["metadata"]["name"]) != p["spec"]:
                fail(f"argocd/bootstrap/{env}.yaml: AppProject {p['metadata']['name']} differs from the one the root syncs (argocd/projects)")
        if root["spec"]["project"] not in {p["metadata"]["name"] for p in boot_projects}:
            fail(f"argocd/bootstrap/{env}.yaml: the root's project {root['spec']['project']} is not applied with it")
        print(f"{env}: {len(apps)} Applications, {len(objs) - len(apps)} AppProjects")
    return done(f"rendered {len(gitops.environments())} environments")


def all_manifests() -> list[tuple[str, dict]]:
    """(where, object) of every Kubernetes object in a YAML file under argocd/ (Helm value files,
    kustomizations and the tests' data aside) and of every object the roots render."""
    out = []
    skip_dirs = {ARGOCD / "tests"}
    for path in sorted(ARGOCD.rglob("*.yaml")):
        if any(path.is_relative_to(d) for d in skip_dirs) or path.name == "kustomization.yaml":
            continue
        docs = gitops.load_yaml_docs(path)
        if path.name in ("values.yaml", "images.yaml"):
            continue
        for d in docs:
            out.append((str(path.relative_to(ROOT)), d))
    for env in gitops.environments():
        for o in gitops.cluster(env):
            out.append((f"environments/{env} (rendered)", o))
    return out


def cmd_schemas() -> int:
    validator = gitops.validator()
    counts: dict[str, int] = {}
    for where, obj in all_manifests():
        if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
            fail(f"{where}: a document that is no Kubernetes object")
            continue
        if obj["kind"] == "Secret":
            fail(f"{where}: a plain Secret {obj['metadata'].get('name')} in git: seal it (SealedSecret)")
            continue
        if not validator.knows(obj):
            fail(f"{where}: {obj['apiVersion']} {obj['kind']} has no vendored CRD to validate it against")
            continue
        for error in validator.errors(obj):
            fail(f"{where}: {obj['kind']} {obj['metadata'].get('name')}: {error}")
        counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
    return done("validated against their CRDs: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


def cmd_sources() -> int:
    checked = 0
    for env in gitops.environments():
        apps = gitops.applications(env) + [gitops.root_application(env)]
        for app in apps:
            name = f"{env}/{app['metadata']['name']}"
            policy = app["spec"].get("syncPolicy") or {}
            auto = policy.get("automated") or {}
            if not (auto.get("prune") and auto.get("selfHeal")):
                fail(f"{name}: syncPolicy.automated needs prune and selfHeal")
            backoff = (policy.get("retry") or {}).get("backoff") or {}
            if not (policy.get("retry", {}).get("limit") and backoff.get("duration") and backoff.get("factor")):
                fail(f"{name}: syncPolicy.retry needs a limit and a backoff (duration, factor)")
            if app["spec"].get("ignoreDifferences") and "RespectIgnoreDifferences=true" not in gitops.sync_options(app):
                fail(f"{name}: ignoreDifferences without RespectIgnoreDifferences=true is overwritten on every sync")
            for source in gitops.sources(app):
                checked += 1
                if gitops.is_upstream(source):
                    rev = str(source.get("targetRevision", ""))
                    if not EXACT_VERSION.match(rev):
                        fail(f"{name}: {source['chart']} targetRevision {rev!r} is not a pinned chart version")
                        continue
                    try:
                        gitops.upstream_entry(app, source)
                    except GitOpsError as e:
                        fail(f"{name}: {e}")
                elif gitops.points_here(source):
                    path = source.get("path")
                    if source.get("targetRevision") not in ("main", "HEAD") and not EXACT_VERSION.match(str(source.get("targetRevision"))):
                        fail(f"{name}: targetRevision {source.get('targetRevision')!r} of this repository is neither main nor a release")
                    if not path or not (ROOT / path).is_dir():
                        fail(f"{name}: path {path!r} does not exist in this repository")
                        continue
                    if (ROOT / path / "Chart.yaml").is_file():
                        try:
                            objects = gitops.render_repo_chart(app, source)
                        except GitOpsError as e:
                            fail(f"{name}: {e}")
                            continue
                        except Exception as e:  # the Helm SDK's render errors
                            fail(f"{name}: the chart does not render with its value files: {e}")
                            continue
                        print(f"{name}: {path} with {', '.join((source.get('helm') or {}).get('valueFiles') or [])}: {len(objects)} objects")
                    elif app is not apps[-1] and not gitops.directory_objects(source):
                        fail(f"{name}: {path} holds no manifest")
                else:
                    fail(f"{name}: source {source.get('repoURL')} is neither an upstream chart nor this repository")
    return done(f"{checked} sources checked")


def cmd_waves() -> int:
    pairs = 0
    for env in gitops.environments():
        apps = gitops.applications(env)
        prints = {}
        for app in apps:
            try:
                prints[app["metadata"]["name"]] = gitops.footprint(app)
            except GitOpsError as e:
                fail(f"{env}: {e}")
        providers: dict[str, list[dict]] = {}
        for app in apps:
            for crd in prints.get(app["metadata"]["name"], gitops.Footprint()).crds:
                providers.setdefault(crd, []).append(app)
        for crd, owners in providers.items():
            if len(owners) > 1:
                fail(f"{env}: CRD {crd} installed by {len(owners)} Applications: {[a['metadata']['name'] for a in owners]}")
        for app in apps:
            name = app["metadata"]["name"]
            fp = prints.get(name)
            if fp is None:
                continue
            for kind in sorted(fp.uses - fp.crds):
                owners = providers.get(kind)
                if not owners:
                    fail(f"{env}: {name} creates {kind}, whose CRD no Application of this cluster installs")
                    continue
                owner = owners[0]
                pairs += 1
                if gitops.wave(owner) >= gitops.wave(app):
                    fail(f"{env}: {name} (wave {gitops.wave(app)}) creates {kind}, but its CRD comes with "
                         f"{owner['metadata']['name']} (wave {gitops.wave(owner)}): the CRD's wave must be earlier")
        print(f"{env}: waves " + ", ".join(f"{a['metadata']['name']}={gitops.wave(a)}" for a in sorted(apps, key=gitops.wave)))
    return done(f"{pairs} (CRD user, CRD provider) pairs in order")


def cmd_projects() -> int:
    for env in gitops.environments():
        apps = gitops.applications(env) + [gitops.root_application(env)]
        root_objs = list(gitops.cluster(env))
        for project in gitops.projects(env):
            pname = project["metadata"]["name"]
            members = [a for a in apps if a["spec"]["project"] == pname]
            repos, namespaces, kinds, ns_kinds = set(), set(), set(), set()
            for app in members:
                for source in gitops.sources(app):
                    repos.add(source["repoURL"])
                if app["spec"]["destination"].get("server") != gitops.IN_CLUSTER:
                    fail(f"{env}/{app['metadata']['name']}: destination server is not {gitops.IN_CLUSTER}")
                if app["metadata"]["name"] == "root":
                    namespaces.add("argocd")
                    ns_kinds |= {f"{gitops.group_of(o['apiVersion'])}/{o['kind']}" for o in root_objs}
                    continue
                try:
                    fp = gitops.footprint(app)
                except GitOpsError as e:
                    fail(f"{env}: {e}")
                    continue
                kinds |= fp.cluster_kinds
                namespaces |= fp.namespaces
            spec = project["spec"]
            allowed_repos = set(spec.get("sourceRepos") or [])
            allowed_ns = {d.get("namespace") for d in spec.get("destinations") or []}
            allowed_kinds = {f"{k.get('group', '')}/{k['kind']}" for k in spec.get("clusterResourceWhitelist") or []}
            if any("*" in str(x) for x in allowed_repos | allowed_ns | allowed_kinds):
                fail(f"{env}: AppProject {pname} uses a wildcard: every entry must be named")
            for what, allowed, used in (("repositories", allowed_repos, repos),
                                        ("namespaces", allowed_ns, namespaces),
                                        ("cluster-scoped kinds", allowed_kinds, kinds)):
                if allowed - used:
                    fail(f"{env}: AppProject {pname} allows {what} no Application of it uses: {sorted(allowed - used)}")
                if used - allowed:
                    fail(f"{env}: AppProject {pname} lacks {what} its Applications use: {sorted(used - allowed)}")
            if "namespaceResourceWhitelist" in spec:
                allowed_ns_kinds = {f"{k.get('group', '')}/{k['kind']}" for k in spec["namespaceResourceWhitelist"]}
                if pname == "bootstrap" and allowed_ns_kinds != ns_kinds:
                    fail(f"{env}: AppProject bootstrap allows namespaced kinds {sorted(allowed_ns_kinds)}, the root creates {sorted(ns_kinds)}")
            print(f"{env}: AppProject {pname}: {len(members)} Applications, {len(repos)} repositories, "
                  f"{len(namespaces)} namespaces, {len(kinds)} cluster-scoped kinds")
        used_projects = {a["spec"]["project"] for a in apps}
        known = {p["metadata"]["name"] for p in gitops.projects(env)}
        for p in sorted(used_projects - known):
            fail(f"{env}: Applications in project {p}, which the root does not create")
    return done("AppProjects allow exactly what their Applications use")


def pod_secret_refs(objects: list[dict]) -> dict[str, set[str]]:
    """{Secret name: keys read} of every pod template in `objects` (volumes with items, env
    secretKeyRef, envFrom; a whole-Secret mount reads no named key)."""
    refs: dict[str, set[str]] = {}
    for o in objects:
        spec = (o.get("spec") or {})
        pod = (spec.get("template") or {}).get("spec") or (spec.get("jobTemplate") or {}).get("spec", {}).get("template", {}).get("spec")
        if not pod:
            continue
        for v in pod.get("volumes") or []:
            if "secret" in v:
                s = v["secret"]
                refs.setdefault(s["secretName"], set()).update(i["key"] for i in s.get("items") or [])
            for src in (v.get("projected") or {}).get("sources") or []:
                if "secret" in src:
                    refs.setdefault(src["secret"]["name"], set()).update(i["key"] for i in src["secret"].get("items") or [])
        for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.setdefault(ref["name"], set()).add(ref["key"])
            for e in c.get("envFrom") or []:
                if "secretRef" in e:
                    refs.setdefault(e["secretRef"]["name"], set())
    return refs


def cmd_wiring() -> int:
    for env in gitops.environments():
        apps = {a["metadata"]["name"]: a for a in gitops.applications(env)}
        shop = apps.get("ecommerce")
        if not shop:
            fail(f"{env}: no Application named ecommerce")
            continue
        rendered = gitops.render_repo_chart(shop, shop["spec"]["source"])
        generated = {o["metadata"]["name"] for o in rendered if o["kind"] in ("Secret", "SealedSecret")}
        sealed: dict[str, set[str]] = {}
        for app in apps.values():
            for source in gitops.sources(app):
                if gitops.points_here(source) and not (ROOT / source["path"] / "Chart.yaml").is_file():
                    for o in gitops.directory_objects(source):
                        if o["kind"] == "SealedSecret" and (o["metadata"].get("namespace") or app["spec"]["destination"]["namespace"]) == "ecommerce":
                            sealed[o["metadata"]["name"]] = set(o["spec"].get("encryptedData") or {})
        for name, keys in sorted(pod_secret_refs(rendered).items()):
            if name in generated:
                continue
            if name not in sealed:
                fail(f"{env}: the shop's pods read Secret {name}, which no SealedSecret of this environment provides")
            elif keys - sealed[name]:
                fail(f"{env}: SealedSecret {name} lacks keys the shop's pods read: {sorted(keys - sealed[name])}")
            else:
                print(f"{env}: Secret {name}: {len(keys)} keys read, all sealed")

        # Traces: the endpoint is the collector's Service, on its OTLP/HTTP port.
        values = gitops.helm_values(shop["spec"]["source"], ROOT / shop["spec"]["source"]["path"])
        endpoint = (values.get("telemetry") or {}).get("otlpEndpoint", "")
        collector = apps.get("opentelemetry-collector")
        if collector:
            cvals = collector["spec"]["source"]["helm"]["valuesObject"]
            want = f"http://{cvals.get('fullnameOverride')}.{collector['spec']['destination']['namespace']}:4318"
            if endpoint != want:
                fail(f"{env}: the shop's telemetry.otlpEndpoint is {endpoint!r}, the collector listens at {want}")
            np = (values.get("networkPolicy") or {}).get("otelCollector") or {}
            if np.get("namespace", "observability") != collector["spec"]["destination"]["namespace"]:
                fail(f"{env}: networkPolicy.otelCollector.namespace is not the collector's namespace")
        # Metrics: ServiceMonitors carry the label kube-prometheus-stack selects by, and Istio
        # admits its Prometheus.
        kps = apps.get("kube-prometheus-stack")
        if kps and (values.get("monitoring") or {}).get("enabled"):
            release = kps["spec"]["source"]["helm"]["releaseName"]
            ns = kps["spec"]["destination"]["namespace"]
            labels = (values.get("monitoring") or {}).get("labels") or {"release": "kube-prometheus-stack"}
            if labels.get("release") != release:
                fail(f"{env}: monitoring.labels.release {labels.get('release')!r} is not the kube-prometheus-stack release {release!r}")
            principal = (values.get("monitoring") or {}).get("prometheusPrincipal") or f"cluster.local/ns/monitoring/sa/kube-prometheus-stack-prometheus"
            if principal != f"cluster.local/ns/{ns}/sa/{release}-prometheus":
                fail(f"{env}: monitoring.prometheusPrincipal {principal!r} is not Prometheus' service account")
        # The Istio edge: the Gateway's selector and the AuthorizationPolicy's principal.
        gw = apps.get("istio-ingressgateway")
        if gw and (values.get("istio") or {}).get("enabled"):
            gvals = gw["spec"]["source"]["helm"]["valuesObject"]
            istio = values.get("istio") or {}
            selector = (istio.get("gateway") or {}).get("selector") or {"istio": "ingressgateway"}
            if any((gvals.get("labels") or {}).get(k) != v for k, v in selector.items()):
                fail(f"{env}: istio.gateway.selector {selector} does not select the gateway's labels {gvals.get('labels')}")
            principal = (istio.get("ingressGateway") or {}).get("principal") or "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
            want = f"cluster.local/ns/{gw['spec']['destination']['namespace']}/sa/{(gvals.get('serviceAccount') or {}).get('name')}"
            if principal != want:
                fail(f"{env}: istio.ingressGateway.principal {principal!r} is not the gateway's service account {want!r}")
    return done("the shop's secrets, traces, metrics and edge are wired to the platform")


# ---------------------------------------------------------------------------------------------

def workflow_files() -> list[Path]:
    folder = ROOT / ".github" / "workflows"
    return sorted(list(folder.glob("*.yaml")) + list(folder.glob("*.yml")))


CI_SCRIPT = re.compile(r"^(?:bash\s+)?(ci/[A-Za-z0-9_.-]+)(?:\s|$)")


def run_step_problems(path: Path) -> list[str]:
    """Every `run:` step must be one call of a script under ci/ that exists (the logic lives in
    ci/, never in the workflow). Lines continued with a backslash are one command."""
    problems = []
    doc = yaml.safe_load(path.read_text()) or {}
    for job_name, job in (doc.get("jobs") or {}).items():
        for i, step in enumerate(job.get("steps") or []):
            if "run" not in step:
                continue
            text = re.sub(r"\\\n\s*", " ", str(step["run"])).strip()
            lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
            where = f"{path.relative_to(ROOT)}: job {job_name}, step {step.get('name') or i}"
            if len(lines) != 1:
                problems.append(f"{where}: a run step must be one call of a ci/ script, not {len(lines)} lines")
                continue
            m = CI_SCRIPT.match(lines[0])
            if not m:
                problems.append(f"{where}: `{lines[0]}` does not call a script under ci/")
                continue
            script = ROOT / m.group(1)
            if not script.is_file():
                problems.append(f"{where}: {m.group(1)} does not exist")
            elif not (script.stat().st_mode & 0o111):
                problems.append(f"{where}: {m.group(1)} is not executable")
            try:
                shlex.split(lines[0])
            except ValueError as e:
                problems.append(f"{where}: {e}")
    return problems


def cmd_workflows(check_jsonschema: str) -> int:
    files = workflow_files()
    if not files:
        fail("no workflow under .github/workflows")
    else:
        out = subprocess.run([check_jsonschema, "--builtin-schema", "vendor.github-workflows", *map(str, files)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            fail(f"check-jsonschema: {out.stdout.strip()} {out.stderr.strip()}")
        for path in files:
            for problem in run_step_problems(path):
                fail(problem)
    return done(f"{len(files)} workflows valid, every run step calls a script in ci/")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    table = {"render": cmd_render, "schemas": cmd_schemas, "sources": cmd_sources, "waves": cmd_waves,
             "projects": cmd_projects, "wiring": cmd_wiring, "workflows": cmd_workflows}
    if cmd not in table:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return table[cmd](*args)
    except GitOpsError as e:
        fail(str(e))
        return done(cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
