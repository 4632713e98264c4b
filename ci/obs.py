#!/usr/bin/env python3
"""The checks of ci/obs-check, each a function that returns the problems it finds (none: pass).

    obs.py dashboards DIR                         the dashboards against Grafana's schema types
    obs.py names RULES DIR                        metric names the rules and dashboards use
    obs.py stack PROMETHEUS RULES DIR SERVICES    a running Prometheus scraping the local stack
    obs.py logs DIR SECRETS_FILE                  the stack's log lines: JSON, ids, no secrets

Each prints one line per problem and exits 1 when there is any; ci/obs-check runs each on the
real thing and again on an input broken on purpose, which must fail.
Runs with the venv ci/obs-check installs (PyYAML, grafana-foundation-sdk).
"""

import json
import math
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

# --- PromQL: which metrics an expression reads ----------------------------------------------

KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (recording rules included), without a parser:
    strings, label matchers, ranges, grouping clauses and numbers are removed first; what is
    left of the identifiers and is neither a function, an aggregation nor a keyword is a name."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"(?<![A-Za-z0-9_:.])\d+(\.\d+)?([eE][+-]?\d+)?", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        if s[m.end():].lstrip().startswith("("):
            continue
        if m.group() not in KEYWORDS:
            names.add(m.group())
    return names


def rule_file(path: Path) -> list[dict]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def dashboard_exprs(directory: Path) -> dict[str, list[str]]:
    """Every panel query of every dashboard, by file name (rows' panels included)."""
    out = {}
    for path in sorted(directory.glob("*.json")):
        board = json.loads(path.read_text())
        panels = list(board.get("panels") or [])
        for panel in list(panels):
            panels.extend(panel.get("panels") or [])
        exprs = [t["expr"] for p in panels for t in (p.get("targets") or []) if "expr" in t]
        exprs += [v["query"] for v in board.get("templating", {}).get("list", [])
                  if v.get("type") == "query" and isinstance(v.get("query"), str)]
        out[path.name] = exprs
    return out


def used_names(rules: Path, dashboards: Path) -> dict[str, set[str]]:
    """Metric name -> where it is used ("rules: ALERT", "dashboard: FILE")."""
    used: dict[str, set[str]] = {}
    for rule in rule_file(rules):
        for name in metric_names(rule["expr"]):
            used.setdefault(name, set()).add(f"rules: {rule.get('alert') or rule.get('record')}")
    for file, exprs in dashboard_exprs(dashboards).items():
        for expr in exprs:
            for name in metric_names(re.sub(r"label_values\((.*),\s*\w+\)", r"\1", expr)):
                used.setdefault(name, set()).add(f"dashboard: {file}")
    return used


# --- dashboards against the schema ------------------------------------------------------------

def check_dashboards(directory: Path) -> list[str]:
    """Each dashboard decoded by the Grafana Foundation SDK's types and encoded again: a key the
    schema does not know is dropped and a value of the wrong type changes, so anything not
    carried through unchanged is a problem."""
    from grafana_foundation_sdk.cog import plugins
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    plugins.register_default_plugins()
    problems = []
    files = sorted(directory.glob("*.json"))
    if not files:
        return [f"{directory}: no dashboards"]
    for path in files:
        try:
            board = json.loads(path.read_text())
            again = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
        except Exception as error:  # the SDK raises whatever the field's decoder raises
            problems.append(f"{path.name}: not a dashboard: {type(error).__name__}: {error}")
            continue
        problems += [f"{path.name}: {p}" for p in carried(board, again, "")]
        for key in ("uid", "title", "panels", "schemaVersion"):
            if key not in board:
                problems.append(f"{path.name}: no {key}")
    return problems


def carried(given, again, path: str) -> list[str]:
    if isinstance(given, dict):
        if not isinstance(again, dict):
            return [f"{path or '/'}: not an object in the schema"]
        out = []
        for key, value in given.items():
            if key not in again:
                out.append(f"{path}/{key}: not in the schema")
            else:
                out += carried(value, again[key], f"{path}/{key}")
        return out
    if isinstance(given, list):
        if not isinstance(again, list) or len(again) != len(given):
            return [f"{path}: not carried as a list"]
        return [p for i, (g, a) in enumerate(zip(given, again)) for p in carried(g, a, f"{path}[{i}]")]
    return [] if given == again else [f"{path}: {given!r} became {again!r}"]


# --- a running Prometheus ----------------------------------------------------------------------

def api(prometheus: str, path: str, **params) -> object:
    url = f"{prometheus}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = json.load(answer)
    if body.get("status") != "success":
        raise RuntimeError(f"{url}: {body}")
    return body["data"]


def check_stack(prometheus: str, rules: Path, dashboards: Path, services: list[str], job: str = "ecommerce") -> list[str]:
    problems = []
    # Every service's target is up.
    targets = api(prometheus, "query", query=f'up{{job="{job}"}}')["result"]
    up = {t["metric"].get("service"): t["value"][1] for t in targets}
    for service in services:
        if up.get(service) != "1":
            problems.append(f"target {service}: not up ({up.get(service, 'no target')})")
    # The RED series of every service, and a trace id as exemplar on its latency.
    for service in services:
        found = api(prometheus, "query", query=f'count(http_requests_total{{job="{job}", service="{service}"}})')["result"]
        if not found:
            problems.append(f"{service}: no http_requests_total series")
    exemplars = api(prometheus, "query_exemplars", query=f'http_request_duration_seconds_bucket{{job="{job}"}}',
                    start="0", end="9999999999")
    with_trace = {e["seriesLabels"].get("service") for e in exemplars
                  if any(re.fullmatch(r"[0-9a-f]{32}", x["labels"].get("trace_id", "")) for x in e["exemplars"])}
    for service in services:
        if service not in with_trace:
            problems.append(f"{service}: no latency exemplar with a trace id")
    # Every metric the rules and dashboards use is scraped, or is one of the recording rules.
    scraped = set(api(prometheus, "label/__name__/values", **{"match[]": f'{{job="{job}"}}'}))
    recorded = {r["record"] for r in rule_file(rules) if "record" in r}
    for name, where in sorted(used_names(rules, dashboards).items()):
        if name not in scraped and name not in recorded:
            problems.append(f"{name}: used by {', '.join(sorted(where))}, but no service exports it")
    # Each recording rule evaluates to a value.
    for rule in rule_file(rules):
        if "record" not in rule:
            continue
        matchers = ", ".join(f'{k}="{v}"' for k, v in (rule.get("labels") or {}).items())
        result = api(prometheus, "query", query=f"{rule['record']}{{{matchers}}}")["result"]
        values = [float(r["value"][1]) for r in result]
        if not any(math.isfinite(v) for v in values):
            problems.append(f"recording rule {rule['record']}{{{matchers}}}: no value ({values or 'no series'})")
    return problems


# --- the stack's logs --------------------------------------------------------------------------

# Shapes of secrets, whatever their value: a JWT, a bearer credential, a password or CVC field,
# a card number (13 to 19 digits, with spaces or dashes, passing the Luhn check).
PATTERNS = {
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    "a bearer credential": re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/-]{16,}"),
    "a password field": re.compile(r'(?i)"?\bpassword"?\s*[:=]\s*"[^"]'),
    "a CVC field": re.compile(r'(?i)"?\bcvc"?\s*[:=]\s*"?\d'),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def check_logs(directory: Path, secrets_file: Path) -> list[str]:
    """Every line of every log is one JSON object; a line written inside a request carries the
    trace and span ids; no line holds a secret: any value listed in SECRETS_FILE (one a line:
    the shopper's password and tokens, the stack's generated secrets) or anything shaped like
    one (PATTERNS, a Luhn-valid card number)."""
    secrets = [s for s in secrets_file.read_text().splitlines() if len(s) >= 8]
    problems = []
    logs = sorted(directory.glob("*.log"))
    if not logs:
        return [f"{directory}: no logs"]
    lines = 0
    for log in logs:
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            lines += 1
            where = f"{log.name}:{number}"
            for secret in secrets:
                if secret in line:
                    problems.append(f"{where}: holds a secret of the run ({secret[:4]}...)")
            for what, pattern in PATTERNS.items():
                if pattern.search(line):
                    problems.append(f"{where}: holds {what}")
            for match in CARD.finditer(line):
                digits = re.sub(r"\D", "", match.group())
                if luhn(digits) and len(set(digits)) > 2:
                    problems.append(f"{where}: holds a card number ({digits[:4]}...)")
            try:
                entry = json.loads(line)
            except ValueError:
                problems.append(f"{where}: not a JSON line: {line[:80]}")
                continue
            if not isinstance(entry, dict):
                problems.append(f"{where}: not a JSON object")
                continue
            in_request = any(s.get("name") == "request" for s in entry.get("spans") or [])
            ids = entry.get("openTelemetry") or {}
            if in_request and not (re.fullmatch(r"[0-9a-f]{32}", ids.get("traceId", ""))
                                   and re.fullmatch(r"[0-9a-f]{16}", ids.get("spanId", ""))):
                problems.append(f"{where}: inside a request without its trace and span ids")
    if lines == 0:
        problems.append(f"{directory}: the logs are empty")
    return problems


def main(argv: list[str]) -> int:
    match argv:
        case ["dashboards", directory]:
            problems = check_dashboards(Path(directory))
        case ["names", rules, directory]:
            for name, where in sorted(used_names(Path(rules), Path(directory)).items()):
                print(f"{name}\t{', '.join(sorted(where))}")
            return 0
        case ["stack", prometheus, rules, directory, services, *job]:
            problems = check_stack(prometheus, Path(rules), Path(directory), services.split(","), *job)
        case ["logs", directory, secrets]:
            problems = check_logs(Path(directory), Path(secrets))
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    for problem in problems:
        print(f"  problem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
