"""Fixtures of the GitOps tests: a copy of the repository's relevant parts to break, and runners
for the checks and scripts inside that copy (they find the repository from their own path)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
COPIED = ["argocd", "charts/ecommerce", ".github", "ci", "nix/images.json", "Cargo.toml"]


class Tree:
    """A copy of the repository's GitOps-relevant files under a temporary folder."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, rel: str) -> Path:
        return self.root / rel

    def read(self, rel: str) -> str:
        return self.path(rel).read_text()

    def write(self, rel: str, text: str) -> None:
        self.path(rel).parent.mkdir(parents=True, exist_ok=True)
        self.path(rel).write_text(text)

    def replace(self, rel: str, old: str, new: str, count: int = 1) -> None:
        text = self.read(rel)
        assert old in text, f"{old!r} not in {rel}"
        self.write(rel, text.replace(old, new, count))

    def edit_yaml(self, rel: str, fn, index: int = 0) -> None:
        docs = list(yaml.safe_load_all(self.read(rel)))
        fn(docs[index])
        self.write(rel, yaml.safe_dump_all(docs, sort_keys=False))

    def check(self, cmd: str, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        return subprocess.run([PY, str(self.path("argocd/tests/check.py")), cmd, *args],
                              capture_output=True, text=True, env=env, cwd=self.root)

    def run(self, *argv: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), capture_output=True, text=True, cwd=cwd or self.root,
                              env=dict(os.environ, **(env or {})))


def _ignore(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n in ("__pycache__", ".pytest_cache")]


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    # The copy in its own folder: beside it, each test's fakes and bare origin.
    for rel in COPIED:
        src, dst = ROOT / rel, tmp_path / "repo" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=_ignore, symlinks=True)
        else:
            shutil.copy2(src, dst)
    return Tree(tmp_path / "repo")


def fake_tool(bin_dir: Path, name: str, body: str) -> None:
    """An executable NAME in bin_dir that logs its arguments to $FAKE_LOG and runs `body` (bash)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/usr/bin/env bash\nset -euo pipefail\n"
                    f'printf "%s\\n" "{name} $*" >>"$FAKE_LOG"\n' + body + "\n")
    path.chmod(0o755)
