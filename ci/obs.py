#!/usr/bin/env python3
"""The checks of ci/obs-check, each a function that returns the problems it finds (none: pass).

    obs.py rule-tests RULES TESTS                 every alert unit-tested firing and silent
    obs.py dashboards DIR                         the dashboards against Grafana's schema types
    obs.py names RULES DIR                        metric names the rules and dashboards use
    obs.py stack PROMETHEUS RULES DIR SERVICES [JOB [CHECKS]]
                                                  a running Prometheus scraping the local stack
                                                  (CHECKS: some of targets,red,exemplars,names,rules)
    obs.py logs DIR SECRETS_FILE                  the stack's log lines: JSON, ids, no secrets

Each prints one line per problem and exits 1 when there is any; ci/obs-check runs each on the
real thing and again on an input broken on purpose, which must fail.
Runs with the venv ci/obs-check installs (PyYAML, grafana-foundation-sdk).
"""

import enum
import inspect
import json
import math
import re
import sys
import types
import typing
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


def check_rule_tests(rules: Path, tests: Path) -> list[str]:
    """Every alert of RULES has a promtool test case where it fires and one where it does not."""
    firing, silent = set(), set()
    for test in yaml.safe_load(tests.read_text())["tests"]:
        for case in test.get("alert_rule_test") or []:
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    problems = []
    for rule in rule_file(rules):
        if "alert" in rule:
            if rule["alert"] not in firing:
                problems.append(f"{rule['alert']}: no test where it fires")
            if rule["alert"] not in silent:
                problems.append(f"{rule['alert']}: no test where it stays silent")
    return problems


# --- dashboards against the schema ------------------------------------------------------------

def check_dashboards(directory: Path) -> list[str]:
    """Each dashboard against the Grafana Foundation SDK's dashboard types: every value of the
    type the schema gives its field (enums, numbers, nested objects, the panel plugin's own
    options and the Prometheus query's fields included), and decoded and encoded again by the
    SDK without a key lost (one the schema does not know) or a value changed."""
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
        problems += [f"{path.name}: {p}" for p in typed(Dashboard, board, "")]
        problems += [f"{path.name}: {p}" for p in carried(board, again, "")]
        for key in ("uid", "title", "panels", "schemaVersion"):
            if key not in board:
                problems.append(f"{path.name}: no {key}")
    return problems


def json_fields(cls: type) -> dict[str, str]:
    """The JSON key -> constructor argument of a model class, as its generated `from_json` reads them."""
    source = inspect.getsource(cls.from_json)
    return dict(re.findall(r'if "([^"]+)" in data:(?:(?!\bif ").)*?args\["(\w+)"\]', source, re.S))


def typed(cls: type, data: object, path: str) -> list[str]:
    """The problems of `data` as a value of the model class `cls`."""
    from grafana_foundation_sdk.cog import runtime
    from grafana_foundation_sdk.models import prometheus

    if not isinstance(data, dict):
        return [f"{path or '/'}: {data!r} is not an object ({cls.__name__})"]
    hints = typing.get_type_hints(cls.__init__)
    problems = []
    for key, arg in json_fields(cls).items():
        if key not in data:
            continue
        hint = hints.get(arg)
        value = data[key]
        # A panel's options and its field defaults' custom part are the panel plugin's types.
        plugin = runtime.panelcfg_config(data.get("type", "")) if key in ("options", "fieldConfig") else None
        if key == "options" and plugin and plugin.options_from_json_hook:
            hint = plugin.options_from_json_hook.__self__
        if key == "targets" and isinstance(value, list):
            hint = list[prometheus.Dataquery]
        problems += of_type(hint, value, f"{path}/{key}")
        if key == "fieldConfig" and plugin and plugin.field_config_from_json_hook and isinstance(value, dict):
            custom = (value.get("defaults") or {}).get("custom")
            if custom is not None:
                problems += typed(plugin.field_config_from_json_hook.__self__, custom, f"{path}/{key}/defaults/custom")
    return problems


def of_type(hint: object, value: object, path: str) -> list[str]:
    if hint is None or hint is typing.Any or hint is object:
        return []
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return []
        members = [a for a in args if a is not type(None)]
        models = [a for a in members if isinstance(a, type) and hasattr(a, "from_json")]
        if isinstance(value, dict) and models:
            # An object is checked as the model that knows most of its keys (a panel as a
            # Panel, not as a RowPanel that would ignore what it does not know).
            return typed(max(models, key=lambda m: len(json_fields(m).keys() & value.keys())), value, path)
        tried = [of_type(a, value, path) for a in members]
        return [] if any(not t for t in tried) else (tried[0] if len(tried) == 1 else [f"{path}: {value!r} is none of {hint}"])
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: {value!r} is not a list"]
        return [p for i, v in enumerate(value) for p in of_type(args[0] if args else None, v, f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: {value!r} is not an object"]
        return [p for k, v in value.items() for p in of_type(args[1] if len(args) > 1 else None, v, f"{path}/{k}")]
    if origin is typing.Literal:
        return [] if value in args else [f"{path}: {value!r} is not one of {args}"]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        allowed = [e.value for e in hint]
        return [] if value in allowed else [f"{path}: {value!r} is not one of {allowed}"]
    if isinstance(hint, type) and hasattr(hint, "from_json"):
        return typed(hint, value, path)
    if hint is bool:
        return [] if isinstance(value, bool) else [f"{path}: {value!r} is not a boolean"]
    if hint is int:
        return [] if isinstance(value, int) and not isinstance(value, bool) else [f"{path}: {value!r} is not an integer"]
    if hint is float:
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else [f"{path}: {value!r} is not a number"]
    if hint is str:
        return [] if isinstance(value, str) else [f"{path}: {value!r} is not a string"]
    return []


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


STACK_CHECKS = ("targets", "red", "exemplars", "names", "rules")


def check_stack(prometheus: str, rules: Path, dashboards: Path, services: list[str],
                job: str = "ecommerce", checks: tuple[str, ...] = STACK_CHECKS) -> list[str]:
    problems = []
    if "targets" in checks:
        problems += check_targets(prometheus, services, job)
    if "red" in checks:
        problems += check_red(prometheus, services, job)
    if "exemplars" in checks:
        problems += check_exemplars(prometheus, services, job)
    if "names" in checks:
        problems += check_names(prometheus, rules, dashboards, job)
    if "rules" in checks:
        problems += check_recording_rules(prometheus, rules)
    return problems


def check_targets(prometheus: str, services: list[str], job: str) -> list[str]:
    """Every service's target is up."""
    problems = []
    targets = api(prometheus, "query", query=f'up{{job="{job}"}}')["result"]
    up = {t["metric"].get("service"): t["value"][1] for t in targets}
    for service in services:
        if up.get(service) != "1":
            problems.append(f"target {service}: not up ({up.get(service, 'no target')})")
    return problems


def check_red(prometheus: str, services: list[str], job: str) -> list[str]:
    """The RED series of every service."""
    problems = []
    for service in services:
        found = api(prometheus, "query", query=f'count(http_requests_total{{job="{job}", service="{service}"}})')["result"]
        if not found:
            problems.append(f"{service}: no http_requests_total series")
        found = api(prometheus, "query", query=f'count(http_request_duration_seconds_bucket{{job="{job}", service="{service}"}})')["result"]
        if not found:
            problems.append(f"{service}: no http_request_duration_seconds series")
    return problems


def check_exemplars(prometheus: str, services: list[str], job: str) -> list[str]:
    """A trace id as exemplar on every service's latency."""
    problems = []
    exemplars = api(prometheus, "query_exemplars", query=f'http_request_duration_seconds_bucket{{job="{job}"}}',
                    start="0", end="9999999999")
    with_trace = {e["seriesLabels"].get("service") for e in exemplars
                  if any(re.fullmatch(r"[0-9a-f]{32}", x["labels"].get("trace_id", "")) for x in e["exemplars"])}
    for service in services:
        if service not in with_trace:
            problems.append(f"{service}: no latency exemplar with a trace id")
    return problems


def check_names(prometheus: str, rules: Path, dashboards: Path, job: str) -> list[str]:
    """Every metric the rules and dashboards use is scraped, or is one of the recording rules."""
    problems = []
    scraped = set(api(prometheus, "label/__name__/values", **{"match[]": f'{{job="{job}"}}'}))
    recorded = {r["record"] for r in rule_file(rules) if "record" in r}
    for name, where in sorted(used_names(rules, dashboards).items()):
        if name not in scraped and name not in recorded:
            problems.append(f"{name}: used by {', '.join(sorted(where))}, but no service exports it")
    return problems


def check_recording_rules(prometheus: str, rules: Path) -> list[str]:
    """Each recording rule evaluates to a value."""
    problems = []
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
# a card number (13 to 19 digits, passing the Luhn check).
PATTERNS = {
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    "a bearer credential": re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/-]{16,}"),
    "a password field": re.compile(r'(?i)"?\bpassword"?\s*[:=]\s*"[^"]'),
    "a CVC field": re.compile(r'(?i)"?\bcvc"?\s*[:=]\s*"?\d'),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
# Digits alone or in groups split by single spaces, not part of a word, a number or an id
# (UUIDs and trace ids hold long runs of digits between letters and dashes).
CARD = re.compile(r"(?<![0-9A-Za-z.:_-])(?:\d ?){12,18}\d(?![0-9A-Za-z.:_-])")
# The trace and span ids, set aside before looking for card numbers: a span id is 16 hex digits,
# and about one in 2,000 has only decimal ones, a tenth of which pass the Luhn check.
IDS = re.compile(r'"(?:traceId|spanId|trace_id|span_id|parent_span_id)":"[0-9a-f]+"')


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


# The Argo CD Application whose Grafana links a log line to its trace in Tempo.
GRAFANA_APP = Path(__file__).resolve().parent.parent / "argocd/platform/kube-prometheus-stack.yaml"


def trace_link_pattern() -> re.Pattern:
    """The regex by which Grafana finds a Loki line's trace id (the Loki data source's derived
    field), as the Argo CD Application configures it."""
    values = yaml.safe_load(GRAFANA_APP.read_text())["spec"]["source"]["helm"]["valuesObject"]
    loki = next(s for s in values["grafana"]["additionalDataSources"] if s["name"] == "Loki")
    field = next(f for f in loki["jsonData"]["derivedFields"] if f["name"] == "TraceID")
    return re.compile(field["matcherRegex"])


def check_logs(directory: Path, secrets_file: Path) -> list[str]:
    """Every line of every log is one JSON object; a line written inside a request carries the
    trace and span ids, and Grafana's link to Tempo finds that trace id in it; no line holds a
    secret: any value listed in SECRETS_FILE (one a line: the shopper's password and tokens, the
    stack's generated secrets) or anything shaped like one (PATTERNS, a Luhn-valid card number)."""
    secrets = [s for s in secrets_file.read_text().splitlines() if len(s) >= 8]
    trace_link = trace_link_pattern()
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
            for match in CARD.finditer(IDS.sub('""', line)):
                digits = re.sub(r"\D", "", match.group())
                if luhn(digits) and len(set(digits)) > 1:
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
            elif in_request and ((link := trace_link.search(line)) is None
                                 or link.group(1) != ids["traceId"]):
                problems.append(f"{where}: Grafana's link to Tempo ({trace_link.pattern}) "
                                "does not find its trace id")
    if lines == 0:
        problems.append(f"{directory}: the logs are empty")
    return problems


def main(argv: list[str]) -> int:
    match argv:
        case ["rule-tests", rules, tests]:
            problems = check_rule_tests(Path(rules), Path(tests))
        case ["dashboards", directory]:
            problems = check_dashboards(Path(directory))
        case ["names", rules, directory]:
            for name, where in sorted(used_names(Path(rules), Path(directory)).items()):
                print(f"{name}\t{', '.join(sorted(where))}")
            return 0
        case ["stack", prometheus, rules, directory, services, *rest] if len(rest) <= 2:
            job = rest[0] if rest else "ecommerce"
            checks = tuple(rest[1].split(",")) if len(rest) == 2 else STACK_CHECKS
            problems = check_stack(prometheus, Path(rules), Path(directory), services.split(","), job, checks)
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
