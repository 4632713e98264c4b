#!/usr/bin/env python3
"""The chart checks of `ci/chart-check`, one subcommand each; each exits non-zero on a failure.

  render OUT    render every case of the matrix (chartlib.MATRIX) with the Helm SDK, for the SDK's
                Kubernetes (v1.36) and for the oldest supported (1.28), into OUT/<case>[-k1.28].yaml
  lint          `helm lint --strict` of every case, for both Kubernetes versions
  install       a client dry-run `helm install` of every case, which parses what it renders
  kubeval OUT   `kubernetes-validate --strict` of OUT/*-k1.28.yaml for 1.28 and OUT/*.yaml for the
                newest Kubernetes it bundles; only the custom resources may be skipped
  crds OUT      every custom resource in OUT validated against its vendored upstream CRD
  checkov OUT   checkov over every rendering: 0 failed checks (skips are annotations with reasons)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import helm_python as helm
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chartlib  # noqa: E402
from chartlib import CHART, MATRIX, NAMESPACE, OLDEST_KUBE, RELEASE  # noqa: E402

EMPTY_KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"


def fail(message: str) -> None:
    print(f"FAIL {message}", file=sys.stderr)
    sys.exit(1)


def cases() -> list[tuple[str, dict, str]]:
    """(file stem, values, kubernetes version) for every rendering."""
    out = []
    for case in MATRIX:
        out.append((case, chartlib.case_values(case), "1.36.0"))
        out.append((f"{case}-k1.28", chartlib.case_values(case, {"kubeVersion": OLDEST_KUBE}), OLDEST_KUBE))
    return out


def cmd_render(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.yaml"):
        old.unlink()
    total = 0
    for stem, values, _ in cases():
        text = chartlib.render_text(values)
        objects = [d for d in yaml.safe_load_all(text) if d]
        if not objects:
            fail(f"{stem}: rendered nothing")
        (out / f"{stem}.yaml").write_text(text)
        total += len(objects)
        print(f"{stem}: {len(objects)} objects")
    print(f"rendered {len(cases())} cases, {total} objects, into {out}")


def cmd_lint() -> None:
    findings = 0
    for case in MATRIX:
        for kube in (OLDEST_KUBE, "1.36.0"):
            report = helm.lint(str(CHART), chartlib.case_values(case), strict=True,
                               namespace=NAMESPACE, kube_version=f"v{kube}")
            problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
            problems += [{"error": e} for e in report.get("errors", [])]
            for p in problems:
                print(f"{case} (Kubernetes {kube}): {p.get('path', '')} {p['error']}")
            findings += len(problems)
            if report.get("total_charts_linted") != 1:
                fail(f"{case}: lint linted {report.get('total_charts_linted')} charts, expected 1")
    if findings:
        fail(f"helm lint --strict: {findings} findings")
    print(f"helm lint --strict: {len(MATRIX)} cases x 2 Kubernetes versions, 0 findings")


def cmd_install() -> None:
    for case in MATRIX:
        values = chartlib.case_values(case)
        config = helm.Config(storage_driver="memory", kubeconfig_content=EMPTY_KUBECONFIG,
                             namespace=NAMESPACE)
        try:
            release = config.install(str(CHART), RELEASE, values, dry_run="client", namespace=NAMESPACE)
        finally:
            config.close()
        manifest = release["manifest"]
        objects = [d for d in yaml.safe_load_all(manifest) if d]
        hooks = [o for o in chartlib.render(values)
                 if "helm.sh/hook" in (o["metadata"].get("annotations") or {})]
        expected = len(chartlib.render(values)) - len(hooks)
        if len(objects) != expected:
            fail(f"{case}: the dry-run install holds {len(objects)} objects, the render {expected} (hooks aside)")
        print(f"{case}: dry-run install parsed, {len(objects)} objects + {len(hooks)} hooks")


def crd_kinds() -> set[str]:
    import crdschema
    return {kind for (_, kind) in crdschema.load_schemas()}


def cmd_kubeval(out_dir: str) -> None:
    out = Path(out_dir)
    custom = crd_kinds()
    exe = Path(sys.executable).with_name("kubernetes-validate")
    runs = [(OLDEST_KUBE.rsplit(".", 1)[0], sorted(out.glob("*-k1.28.yaml"))),
            ("latest", sorted(p for p in out.glob("*.yaml") if not p.stem.endswith("-k1.28")))]
    import kubernetes_validate.utils as kv
    newest = kv.latest_version()
    for version, files in runs:
        version = newest if version == "latest" else version
        if not files:
            fail(f"no renderings to validate for Kubernetes {version}")
        proc = subprocess.run([str(exe), "--strict", "--quiet", "-k", version, *map(str, files)],
                              capture_output=True, text=True)
        output = proc.stdout + proc.stderr
        skipped = re.findall(r"Couldn't find schema for kind (\S+) with api version (\S+)", output)
        unexpected = sorted({f"{k} {a}" for k, a in skipped if k not in custom})
        errors = [line for line in output.splitlines() if line.startswith(("ERROR", "FATAL"))]
        for line in errors:
            print(line)
        if unexpected:
            fail(f"kubernetes-validate has no schema for {unexpected}: not a Kubernetes {version} API")
        if proc.returncode != 0 or errors:
            fail(f"kubernetes-validate --strict -k {version}: {len(errors)} errors (exit {proc.returncode})")
        objects = sum(len([d for d in yaml.safe_load_all(f.read_text()) if d]) for f in files)
        print(f"kubernetes-validate --strict -k {version}: {len(files)} files, {objects} objects, "
              f"0 errors ({len(skipped)} custom resources left to the CRD check)")


def cmd_crds(out_dir: str) -> None:
    import crdschema
    validator = crdschema.Validator(strict=True)
    custom = crd_kinds()
    checked = 0
    problems = 0
    by_kind: dict[str, int] = {}
    for path in sorted(Path(out_dir).glob("*.yaml")):
        for obj in (d for d in yaml.safe_load_all(path.read_text()) if d):
            group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
            if not validator.knows(obj):
                if obj["kind"] in custom or "." in group and not group.endswith("k8s.io"):
                    fail(f"{path.name}: {obj['apiVersion']} {obj['kind']} has no vendored CRD schema")
                continue
            for error in validator.errors(obj):
                print(f"{path.name}: {obj['kind']}/{obj['metadata']['name']}: {error}")
                problems += 1
            checked += 1
            by_kind[obj["kind"]] = by_kind.get(obj["kind"], 0) + 1
    if problems:
        fail(f"CRD schemas: {problems} violations")
    if not checked:
        fail("CRD schemas: the renderings hold no custom resource; the matrix lost its Istio/monitoring cases")
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items()))
    print(f"CRD schemas (strict): {checked} custom resources valid ({kinds})")


def cmd_checkov(out_dir: str) -> None:
    exe = Path(sys.executable).with_name("checkov")
    # --skip-download: checkov would otherwise fetch policy updates from the internet.
    proc = subprocess.run(
        [str(exe), "-d", out_dir, "--framework", "kubernetes", "--compact", "--skip-download",
         "--output", "cli"],
        capture_output=True, text=True)
    summary = re.search(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", proc.stdout)
    if not summary:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        fail(f"checkov printed no summary (exit {proc.returncode})")
    passed, failed, skipped = map(int, summary.groups())
    if failed or proc.returncode != 0:
        blocks = re.findall(r"Check: (CKV\S+): \"([^\"]*)\"\n\s+FAILED for resource: (\S+)\n\s+File: (\S+)", proc.stdout)
        for check, title, resource, file in blocks:
            print(f"{file}: {resource}: {check} {title}")
        fail(f"checkov: {failed} failed checks (exit {proc.returncode})")
    if not passed:
        fail("checkov passed no check: it read no manifest")
    print(f"checkov: {passed} passed, {failed} failed, {skipped} skipped (each skip an annotated reason)")


def main() -> None:
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    command, *args = sys.argv[1:]
    commands = {"render": cmd_render, "lint": cmd_lint, "install": cmd_install,
                "kubeval": cmd_kubeval, "crds": cmd_crds, "checkov": cmd_checkov}
    if command not in commands:
        print(__doc__)
        sys.exit(2)
    commands[command](*args)


if __name__ == "__main__":
    main()
