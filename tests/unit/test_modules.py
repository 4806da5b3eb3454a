"""The operator modules (top-level `modules/`) say in their README what they declare.

Each module's README has an "Inputs" table (name, type, default — `required` when there is
none — and description) and an "Outputs" table; `scan_module` reads the `variable` and
`output` blocks. They must agree, so the README never documents a variable that is gone, a
default that is not there, or misses a new output.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tfctl.codegen import scan_module
from tfctl.resources import modules_dir

MODULES = modules_dir()
NAMES = ["storage", "terraform_runner"]


def table(readme: str, heading: str) -> dict[str, list[str]]:
    """The rows of the table under `## heading`: first cell (a `code` name) → other cells."""
    section = re.search(rf"^## {heading}\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert section is not None, f"no '## {heading}' section"
    rows: dict[str, list[str]] = {}
    for line in section.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`(\w+)`", cells[0]) if line.startswith("|") else None
        if name is not None:
            rows[name.group(1)] = cells[1:]
    assert rows, f"the '## {heading}' table is empty"
    return rows


def readme(name: str) -> str:
    return (MODULES / name / "README.md").read_text(encoding="utf-8")


def test_the_shipped_modules_are_the_ones_tested() -> None:
    assert sorted(p.name for p in MODULES.iterdir() if p.is_dir()) == NAMES
    index = (MODULES / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"[`{name}`]({name}/README.md)" in index


@pytest.mark.parametrize("name", NAMES)
def test_readme_inputs_are_the_module_variables(name: str) -> None:
    documented = table(readme(name), "Inputs")
    declared = scan_module(MODULES / name).variables
    assert sorted(documented) == sorted(declared)
    for variable, cells in documented.items():
        required = cells[1] == "required"
        assert required == declared[variable].required, f"{name}: {variable}'s default"


@pytest.mark.parametrize("name", NAMES)
def test_readme_outputs_are_the_module_outputs(name: str) -> None:
    documented = table(readme(name), "Outputs")
    assert sorted(documented) == sorted(scan_module(MODULES / name).outputs)


def test_the_runner_takes_what_it_must_from_secrets_and_the_rest_as_variables() -> None:
    variables = scan_module(MODULES / "terraform_runner").variables
    required = sorted(n for n, v in variables.items() if v.required)
    assert required == ["database_url_secret", "image"]
    assert {"replicas", "concurrency", "termination_grace_period_seconds", "resources"} <= set(
        variables
    )
    main = (MODULES / "terraform_runner" / "main.tf").read_text(encoding="utf-8")
    for setting in ("TFCTL_DATABASE_URL", "TFCTL_ARTIFACT_KEY"):
        block = main[main.index(f'name = "{setting}"') :][:300]
        assert "secret_key_ref" in block, f"{setting} must come from a Secret"
    assert "liveness_probe" in main
    assert 'args    = ["worker"' in main


def test_the_storage_module_needs_only_a_name() -> None:
    variables = scan_module(MODULES / "storage").variables
    assert [n for n, v in variables.items() if v.required] == ["name"]
    assert not any(v.sensitive for v in variables.values())


def test_table_reader_reads_names_and_defaults() -> None:
    text = "## Inputs\n\n| name | default |\n| --- | --- |\n| `a` | required |\n| `b` | `1` |\n"
    assert table(text, "Inputs") == {"a": ["required"], "b": ["`1`"]}


def test_readme_table_check_notices_a_missing_variable(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('variable "a" {}\nvariable "b" {\n  default = 1\n}\n')
    documented = table("## Inputs\n| `a` | string | required | A. |\n", "Inputs")
    assert sorted(documented) != sorted(scan_module(tmp_path).variables)
