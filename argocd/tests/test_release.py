"""The release scripts the workflows call, run offline against fakes of the registry tools (nix,
skopeo, syft, cosign, podman, gh, kubeseal) that log how they were called."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from conftest import Tree, fake_tool

SERVICES = ["gateway", "order", "product", "user", "web"]
REGISTRY = "ghcr.io/ecommerce-platform"


def digest(n: int) -> str:
    return "sha256:" + f"{n:02x}" * 32


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def init_repo(tree: Tree) -> Path:
    """The copy as a git repository with a bare origin, as a CI checkout has."""
    origin = tree.root.parent / "origin.git"
    git(tree.root.parent, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tree.root, "init", "-q", "-b", "main")
    git(tree.root, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(tree.root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    git(tree.root, "remote", "add", "origin", str(origin))
    git(tree.root, "push", "-q", "origin", "main")
    return origin


def images(tree: Tree, env: str) -> dict:
    return yaml.safe_load(tree.read(f"argocd/environments/{env}/images.yaml"))


def write_digests(tree: Tree, images: dict) -> Path:
    path = tree.root / "digests.json"
    path.write_text(json.dumps({"registry": REGISTRY, "version": "0.1.0", "images": images}))
    return path


def test_bump_pins_the_environments_and_commits_only_their_files(tree: Tree) -> None:
    init_repo(tree)
    tree.write("unrelated.txt", "someone else's work in progress\n")
    path = write_digests(tree, {s: digest(i) for i, s in enumerate(SERVICES)})
    result = tree.run("ci/bump-image-digests", "--commit", str(path), "dev", "staging")
    assert result.returncode == 0, result.stderr
    for env in ("dev", "staging"):
        values = images(tree, env)
        assert values["image"]["registry"] == REGISTRY
        assert {s: values[s]["image"]["digest"] for s in SERVICES} == {s: digest(i) for i, s in enumerate(SERVICES)}
    assert images(tree, "production")["gateway"]["image"]["digest"] == ""
    changed = git(tree.root, "show", "--name-only", "--format=%s", "HEAD").split()
    assert changed[:2] == ["release:", "pin"] and set(changed) >= {
        "argocd/environments/dev/images.yaml", "argocd/environments/staging/images.yaml"}
    assert "unrelated.txt" not in changed and "argocd/environments/production/images.yaml" not in changed
    # The values render with the chart: the digests reach the Deployments.
    check = tree.check("sources")
    assert check.returncode == 0, check.stderr
    # The same digests again: nothing to commit.
    head = git(tree.root, "rev-parse", "HEAD")
    assert tree.run("ci/bump-image-digests", "--commit", str(path), "dev").returncode == 0
    assert git(tree.root, "rev-parse", "HEAD") == head


def test_bump_refuses_bad_digests_unknown_and_missing_services(tree: Tree) -> None:
    bad = {s: digest(1) for s in SERVICES}
    bad["web"] = "sha256:abc"
    bad["cart"] = digest(2)
    del bad["user"]
    before = tree.read("argocd/environments/dev/images.yaml")
    result = tree.run("ci/bump-image-digests", str(write_digests(tree, bad)), "dev", "qa")
    assert result.returncode == 1
    for needle in ("web: 'sha256:abc' is not sha256", "cart is no service", "no digest for user", "no environment qa"):
        assert needle in result.stderr
    assert tree.read("argocd/environments/dev/images.yaml") == before


def test_bump_push_refuses_a_dirty_work_tree(tree: Tree) -> None:
    init_repo(tree)
    tree.replace("argocd/platform/loki.yaml", "# Loki", "# Edited: Loki", 1)
    result = tree.run("ci/bump-image-digests", "--push", str(write_digests(tree, {s: digest(3) for s in SERVICES})), "dev")
    assert result.returncode == 1 and "--push needs a clean work tree" in result.stderr


def test_promotion_opens_a_pull_request_with_staging_digests(tree: Tree) -> None:
    origin = init_repo(tree)
    staging = {s: digest(10 + i) for i, s in enumerate(SERVICES)}
    assert tree.run("ci/bump-image-digests", "--commit", str(write_digests(tree, staging)), "staging").returncode == 0
    bin_dir, log = tree.root.parent / "bin", tree.root.parent / "fake.log"
    fake_tool(bin_dir, "gh", 'cp "${@: -1}" "$FAKE_LOG.body"')
    env = {"PATH": f"{bin_dir}:{__import__('os').environ['PATH']}", "FAKE_LOG": str(log)}
    result = tree.run("ci/promote-images", "--pull-request", "staging", "production", env=env)
    assert result.returncode == 0, result.stderr
    assert {s: images(tree, "production")[s]["image"]["digest"] for s in SERVICES} == staging
    branch = git(tree.root, "rev-parse", "--abbrev-ref", "HEAD").strip()
    assert branch.startswith("promote/production-")
    assert branch in git(origin, "branch", "--list", "promote/*")
    assert git(tree.root, "show", "--name-only", "--format=", "HEAD").split() == ["argocd/environments/production/images.yaml"]
    call = log.read_text()
    assert f"gh pr create --base main --head {branch}" in call
    body = Path(str(log) + ".body").read_text()
    assert f"| gateway | `tag` | `{staging['gateway']}` |" in body
    # Promoting again changes nothing and opens nothing.
    git(tree.root, "checkout", "-q", "main")
    git(tree.root, "merge", "-q", branch)
    log.write_text("")
    again = tree.run("ci/promote-images", "--pull-request", "staging", "production", env=env)
    assert again.returncode == 0 and "already runs staging's images" in again.stdout and log.read_text() == ""


def test_release_push_pushes_attests_and_signs_each_image(tree: Tree) -> None:
    out, bin_dir, log = tree.root / "target/release", tree.root.parent / "bin", tree.root.parent / "fake.log"
    result_dir = out / "result-aarch64-linux"
    result_dir.mkdir(parents=True)
    for s in SERVICES:
        (result_dir / f"{s}.tar").write_text(s)
    # skopeo answers a digest made of the archive's content, like a registry would.
    fake_tool(bin_dir, "skopeo", 'src="${@: -2:1}"; df=""; while (($#)); do [[ $1 == --digestfile ]] && df=$2; shift; done\n'
              'printf "sha256:%s" "$(sha256sum "${src#docker-archive:}" | cut -c1-64)" >"$df"')
    fake_tool(bin_dir, "syft", 'for a; do [[ $a == spdx-json=* ]] && echo "{}" >"${a#spdx-json=}"; done; true')
    fake_tool(bin_dir, "cosign", "true")
    fake_tool(bin_dir, "nix", "exit 1")
    env = {"PATH": f"{bin_dir}:{__import__('os').environ['PATH']}", "FAKE_LOG": str(log)}
    result = tree.run("ci/release-push", "--system", "aarch64-linux", "--registry", REGISTRY, "--out", str(out), "--no-build", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((out / "aarch64-linux/digests.json").read_text())
    assert data["system"] == "aarch64-linux" and data["version"] == "0.1.0" and sorted(data["images"]) == SERVICES
    calls = log.read_text().splitlines()
    for s in SERVICES:
        d = data["images"][s]
        ref = f"{REGISTRY}/ecommerce/{s}@{d}"
        assert any(c.startswith("skopeo copy") and c.endswith(f"docker://{REGISTRY}/ecommerce/{s}:0.1.0-arm64") for c in calls)
        attest = calls.index(f"cosign attest --yes --type spdxjson --predicate {out}/aarch64-linux/{s}.spdx.json {ref}")
        sign = calls.index(f"cosign sign --yes {ref}")
        assert attest < sign
    assert not any(c.startswith("nix ") for c in calls)


def test_release_push_stops_when_an_image_is_missing(tree: Tree) -> None:
    out = tree.root / "target/release"
    (out / "result-x86_64-linux").mkdir(parents=True)
    (out / "result-x86_64-linux/gateway.tar").write_text("x")
    bin_dir, log = tree.root.parent / "bin", tree.root.parent / "fake.log"
    for tool in ("skopeo", "syft", "cosign"):
        fake_tool(bin_dir, tool, "exit 0")
    env = {"PATH": f"{bin_dir}:{__import__('os').environ['PATH']}", "FAKE_LOG": str(log)}
    result = tree.run("ci/release-push", "--system", "x86_64-linux", "--registry", REGISTRY, "--out", str(out), "--no-build", env=env)
    assert result.returncode != 0


def test_release_manifest_builds_and_signs_one_index_per_service(tree: Tree) -> None:
    bin_dir, log = tree.root.parent / "bin", tree.root.parent / "fake.log"
    inputs = []
    for n, system in enumerate(("x86_64-linux", "aarch64-linux")):
        p = tree.root / f"{system}.json"
        p.write_text(json.dumps({"registry": REGISTRY, "version": "0.1.0", "system": system,
                                 "images": {s: digest(20 * n + i) for i, s in enumerate(SERVICES)}}))
        inputs.append(str(p))
    fake_tool(bin_dir, "podman", 'if [[ $1 == manifest && $2 == push ]]; then while (($#)); do [[ $1 == --digestfile ]] && printf "sha256:%s" "$(printf %s "$*" | sha256sum | cut -c1-64)" >"$2"; shift; done; fi; true')
    fake_tool(bin_dir, "cosign", "true")
    env = {"PATH": f"{bin_dir}:{__import__('os').environ['PATH']}", "FAKE_LOG": str(log)}
    out = tree.root / "digests.json"
    result = tree.run("ci/release-manifest", "--registry", REGISTRY, "--out", str(out), *inputs, env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    calls = log.read_text()
    for i, s in enumerate(SERVICES):
        assert f"docker://{REGISTRY}/ecommerce/{s}@{digest(i)}" in calls and f"docker://{REGISTRY}/ecommerce/{s}@{digest(20 + i)}" in calls
        assert f"cosign sign --yes {REGISTRY}/ecommerce/{s}@{data['images'][s]}" in calls
    # What it writes is what ci/bump-image-digests takes.
    assert tree.run("ci/bump-image-digests", str(out), "staging").returncode == 0


def test_seal_secrets_seals_the_charts_own_secrets_for_each_sealed_secret(tree: Tree) -> None:
    bin_dir, log = tree.root.parent / "bin", tree.root.parent / "fake.log"
    # A kubeseal that turns the Secret on stdin into a SealedSecret (values "encrypted" as base64).
    fake_tool(bin_dir, "kubeseal", '"$FAKE_PY" -c \'\nimport base64, sys, yaml\ns = yaml.safe_load(sys.stdin)\n'
              'print(yaml.safe_dump({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": s["metadata"]["name"], "namespace": s["metadata"]["namespace"]},'
              ' "spec": {"encryptedData": {k: "Ag" + base64.b64encode(v.encode()).decode() for k, v in s["stringData"].items()}, "template": {"metadata": s["metadata"], "type": s["type"]}}}))\'')
    creds = tree.root.parent / "velero-credentials"
    creds.write_text("[default]\naws_access_key_id=x\naws_secret_access_key=y\n")
    env = {"PATH": f"{bin_dir}:{__import__('os').environ['PATH']}", "FAKE_LOG": str(log),
           "FAKE_PY": __import__("sys").executable, "VELERO_CREDENTIALS_FILE": str(creds),
           "ECOMMERCE_TOOLS": str(Path(__import__("sys").executable).parents[2])}
    result = tree.run("ci/seal-secrets", "production", env=env)
    # Production's managed databases' URLs must come from the operator.
    assert result.returncode != 0 and "ECOMMERCE_USER_DATABASE_URL" in result.stderr
    for s in ("USER", "PRODUCT", "ORDER"):
        env[f"ECOMMERCE_{s}_DATABASE_URL"] = f"postgres://app:pw@{s.lower()}.db.example.com:5432/shop"
    result = tree.run("ci/seal-secrets", "production", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    sealed = yaml.safe_load(tree.read("argocd/environments/production/ecommerce-secrets/ecommerce-secrets.yaml"))
    plain = {k: __import__("base64").b64decode(v[2:]).decode() for k, v in sealed["spec"]["encryptedData"].items()}
    assert "BEGIN PRIVATE KEY" in plain["jwt-signing-key"] and plain["redis-url"].startswith("redis://:")
    assert "admin-password" not in plain  # production creates no admin
    assert "sealed-by-ci-seal-secrets" not in tree.read("argocd/environments/production/platform-secrets/velero-credentials.yaml")
    # What it wrote passes the schema and wiring checks, and no plain value reached the disk.
    for cmd in ("schemas", "wiring"):
        check = tree.check(cmd)
        assert check.returncode == 0, check.stderr
    everything = "".join(p.read_text(errors="ignore") for p in tree.root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".json", ".txt", ""))
    assert plain["internal-token"] not in everything
