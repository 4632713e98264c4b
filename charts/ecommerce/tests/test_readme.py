"""Every value is documented where it is declared, and the README's values table says the same."""

from __future__ import annotations

import yaml

import readme_values
from readme_values import CHART


def test_every_value_has_a_param_line_and_every_param_line_a_value():
    text = (CHART / "values.yaml").read_text()
    documented = [key for _, key, _ in readme_values.params(text)]
    values = readme_values.leaves(yaml.safe_load(text))
    assert len(documented) == len(set(documented)), "a value documented twice"
    assert sorted(set(values) - set(documented)) == [], "values without a `## @param` line"
    assert sorted(set(documented) - set(values)) == [], "`## @param` lines naming no value"


def test_the_readme_table_is_the_one_values_yaml_makes():
    assert readme_values.readme_block() == readme_values.table(), (
        "README.md's values table is out of date: run charts/ecommerce/tests/readme_values.py --write")
