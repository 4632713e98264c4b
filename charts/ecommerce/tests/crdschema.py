"""Validating custom resources against the upstream CRDs vendored under tests/crds/, offline.

What an API server does with `kubectl --validate=strict`, as far as the CRD's OpenAPI schema goes:
the schema of each (group/version, kind) is turned into JSON Schema (draft 7) with every object
that declares `properties` closed (`additionalProperties: false`), so a misspelt field fails;
nulls of non-nullable fields are dropped and defaults filled in before validating, as the API
server does. CEL rules (`x-kubernetes-validations`) are not evaluated.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml

CRDS = Path(__file__).resolve().parent / "crds"


class _Loader(yaml.SafeLoader):
    """PyYAML reads a bare `=` (an enum value in a Prometheus Operator CRD) as the YAML 1.1
    `!!value` tag; read it as the string it is."""


_Loader.add_constructor("tag:yaml.org,2002:value", _Loader.construct_yaml_str)


def _to_json_schema(node: Any, strict: bool) -> Any:
    if isinstance(node, list):
        return [_to_json_schema(n, strict) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _to_json_schema(v, strict) for k, v in value.items()}
        else:
            out[key] = _to_json_schema(value, strict)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "string"}, {"type": "integer"}]
    if node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = True
    elif strict and "properties" in node and "additionalProperties" not in node:
        out["additionalProperties"] = False
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def load_schemas(strict: bool = True) -> dict[tuple[str, str], dict]:
    """{(apiVersion, kind): JSON schema} of every CRD version under tests/crds/."""
    schemas: dict[tuple[str, str], dict] = {}
    for path in sorted(CRDS.rglob("*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=_Loader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                raw = version["schema"]["openAPIV3Schema"]
                schema = _to_json_schema(raw, strict)
                props = schema.setdefault("properties", {})
                # Istio's root schemas declare only spec/status; every object has these.
                props.setdefault("apiVersion", {"type": "string"})
                props.setdefault("kind", {"type": "string"})
                props.setdefault("metadata", {"type": "object"})
                schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = {
                    "schema": schema,
                    "raw": raw,
                }
    return schemas


def _prepare(obj: Any, raw: Any) -> Any:
    """Drop nulls of non-nullable fields and fill in defaults, as the API server does."""
    if not isinstance(raw, dict):
        return obj
    if isinstance(obj, dict):
        props = raw.get("properties", {})
        out = {}
        for key, value in obj.items():
            sub = props.get(key, raw.get("additionalProperties") if isinstance(raw.get("additionalProperties"), dict) else {})
            if value is None and not (sub or {}).get("nullable"):
                continue
            out[key] = _prepare(value, sub or {})
        for key, sub in props.items():
            if key not in out and isinstance(sub, dict) and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        return out
    if isinstance(obj, list):
        return [_prepare(v, raw.get("items", {})) for v in obj]
    return obj


class Validator:
    def __init__(self, strict: bool = True):
        self.schemas = load_schemas(strict)

    def knows(self, obj: dict) -> bool:
        return (obj.get("apiVersion"), obj.get("kind")) in self.schemas

    def errors(self, obj: dict) -> Iterator[str]:
        """Every schema violation of `obj`, as `path: message`."""
        entry = self.schemas[(obj["apiVersion"], obj["kind"])]
        prepared = _prepare(obj, entry["raw"])
        validator = jsonschema.Draft7Validator(entry["schema"])
        for error in sorted(validator.iter_errors(prepared), key=lambda e: list(e.path)):
            path = ".".join(str(p) for p in error.absolute_path) or "<root>"
            yield f"{path}: {error.message}"
