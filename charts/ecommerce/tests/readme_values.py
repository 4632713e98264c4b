#!/usr/bin/env python3
"""The README's values table, made from the `## @param` lines of values.yaml.

  readme_values.py          print the table
  readme_values.py --write  write it into ../README.md between the values markers
test_readme.py fails when the README's table differs from what this makes, or when a value of
values.yaml has no `@param` line.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parents[1]
START, END = "<!-- values:start -->", "<!-- values:end -->"
PARAM = re.compile(r"^\s*## @param (\S+) (.+)$")
SECTION = re.compile(r"^\s*## @section (.+)$")


def params(text: str) -> list[tuple[str, str, str]]:
    """(section, key path, description) in file order."""
    section, out = "", []
    for line in text.splitlines():
        if m := SECTION.match(line):
            section = m.group(1).strip()
        elif m := PARAM.match(line):
            out.append((section, m.group(1), m.group(2).strip()))
    return out


def leaves(values: dict, prefix: str = "") -> dict[str, object]:
    """Every documented unit of values: non-empty maps are walked, anything else is a leaf."""
    out: dict[str, object] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and not any(c in key for c in "./") and path not in OPAQUE:
            out.update(leaves(value, f"{path}."))
        else:
            out[path] = value
    return out


# Maps documented as one value: their keys are Kubernetes fields or labels, not chart settings.
OPAQUE = {
    "serviceDefaults.podSecurityContext", "serviceDefaults.containerSecurityContext",
    "istio.gateway.selector", "istio.ingressGateway.podLabels", "istio.controlPlane.podLabels",
    "networkPolicy.ingressController.podLabels", "networkPolicy.monitoring.podLabels",
    "networkPolicy.dns.podLabels", "networkPolicy.otelCollector.podLabels",
    "monitoring.labels", "monitoring.dashboards.labels",
}


def table() -> str:
    text = (CHART / "values.yaml").read_text()
    values = leaves(yaml.safe_load(text))
    out, current = [], None
    for section, key, description in params(text):
        if section != current:
            current = section
            out += ["", f"### {section}", "", "| Name | Description | Default |", "|---|---|---|"]
        value = json.dumps(values[key]) if key in values else "(see below)"
        escaped = description.replace("|", r"\|")
        out.append(f"| `{key}` | {escaped} | `{value}` |")
    return "\n".join(out[1:]) + "\n"


def readme_block() -> str:
    readme = (CHART / "README.md").read_text()
    return readme[readme.index(START) + len(START):readme.index(END)].strip("\n") + "\n"


def main() -> None:
    generated = table()
    if sys.argv[1:] == ["--write"]:
        path = CHART / "README.md"
        readme = path.read_text()
        head, rest = readme.split(START, 1)
        _, tail = rest.split(END, 1)
        path.write_text(f"{head}{START}\n{generated}{END}{tail}")
    else:
        sys.stdout.write(generated)


if __name__ == "__main__":
    main()
