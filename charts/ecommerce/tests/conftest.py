"""Fixtures of the template tests: renderings of the chart with the Helm SDK, cached per values."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chartlib  # noqa: E402

_cache: dict[str, list[dict]] = {}


def render_cached(values: dict) -> list[dict]:
    key = json.dumps(values, sort_keys=True)
    if key not in _cache:
        _cache[key] = chartlib.render(values)
    return _cache[key]


@pytest.fixture(scope="session")
def render():
    """render(values) -> objects, for values given in full (merge with chartlib.case_values)."""
    return render_cached


@pytest.fixture(scope="session", params=list(chartlib.MATRIX))
def case(request):
    """(name, values, objects) of every case of the render matrix."""
    values = chartlib.case_values(request.param)
    return request.param, values, render_cached(values)
