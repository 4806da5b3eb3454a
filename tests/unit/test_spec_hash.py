"""The spec hash depends on the spec's content only: not on key order, not on file format."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfctl.persistence.kinds import ModuleKind
from tfctl.spec import SUPPORTED_CLOUDS, TerraformStackSpec
from tfctl.specfile import load_spec_file

names = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)
# TOML has no null, and floats spell differently across formats; variables here use types
# that every format writes exactly.
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(alphabet=string.ascii_letters + string.digits + " -_./:", max_size=12),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(names, children, max_size=3)
    ),
    max_leaves=8,
)
queues = st.lists(
    st.fixed_dictionaries(
        {"name": names},
        optional={
            "min_replicas": st.integers(0, 2),
            "max_replicas": st.integers(3, 9),
            "target_length": st.integers(1, 50),
        },
    ),
    max_size=3,
    unique_by=lambda q: q["name"],
)


@st.composite
def spec_documents(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["generic", "faas", "storage"]))
    doc: dict[str, Any] = {"name": draw(names), "kind": kind}
    if kind == "generic":
        doc["module_source"] = draw(st.sampled_from(["app.example/mod/x", "git::https://e/x"]))
    if kind == "faas":
        doc["queues"] = draw(queues)
        doc["function"] = {"image": "worker:1", "broker": {"type": "redis", "address": "r:6379"}}
    if draw(st.booleans()):
        doc["cloud"] = draw(st.sampled_from([c.value for c in SUPPORTED_CLOUDS[ModuleKind(kind)]]))
    doc["variables"] = draw(st.dictionaries(names, values, max_size=4))
    # Lowercase: on gcp, tags become labels, whose values are lowercase.
    doc["tags"] = draw(st.dictionaries(names, st.text(string.ascii_lowercase, max_size=6)))
    return doc


def shuffled(document: Any, rng: random.Random) -> Any:
    """The same document with every mapping's keys in another order."""
    if isinstance(document, dict):
        items = list(document.items())
        rng.shuffle(items)
        return {key: shuffled(value, rng) for key, value in items}
    if isinstance(document, list):
        return [shuffled(item, rng) for item in document]
    return document


def write(path: Path, document: dict[str, Any]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(document, indent=3))
    elif path.suffix == ".yaml":
        path.write_text(yaml.safe_dump(document, sort_keys=False, default_flow_style=False))
    else:
        path.write_text(to_toml(document))
    return path


def to_toml(document: dict[str, Any]) -> str:
    """Inline-table TOML (enough for these documents; stdlib has no TOML writer)."""
    return "\n".join(f"{json.dumps(key)} = {toml_value(value)}" for key, value in document.items())


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)


slow = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@slow
@given(document=spec_documents(), seed=st.integers())
def test_hash_ignores_key_order(document: dict[str, Any], seed: int) -> None:
    original = TerraformStackSpec.model_validate(document)
    reordered = TerraformStackSpec.model_validate(shuffled(document, random.Random(seed)))
    assert reordered.spec_hash() == original.spec_hash()


@slow
@given(document=spec_documents(), seed=st.integers())
def test_hash_is_the_same_in_yaml_json_and_toml(
    document: dict[str, Any], seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("formats")
    rng = random.Random(seed)
    hashes = {
        suffix: load_spec_file(write(folder / f"spec{suffix}", shuffled(document, rng))).spec_hash()
        for suffix in (".yaml", ".json", ".toml")
    }
    assert len(set(hashes.values())) == 1, hashes


@slow
@given(document=spec_documents(), data=st.data())
def test_any_changed_value_changes_the_hash(document: dict[str, Any], data: st.DataObject) -> None:
    before = TerraformStackSpec.model_validate(document)
    key = data.draw(names.filter(lambda k: k not in document["variables"]))
    changed = dict(document, variables={**document["variables"], key: data.draw(values)})
    assert TerraformStackSpec.model_validate(changed).spec_hash() != before.spec_hash()

    tags = dict(document["tags"])
    tags["owner"] = tags.get("owner", "") + "x"
    assert TerraformStackSpec.model_validate(dict(document, tags=tags)).spec_hash() != (
        before.spec_hash()
    )


def test_spelling_out_a_default_does_not_change_the_hash() -> None:
    short = TerraformStackSpec.model_validate({"name": "a", "kind": "storage"})
    spelled = TerraformStackSpec.model_validate(
        {"name": "a", "kind": "storage", "cloud": "local", "variables": {}, "queues": []}
    )
    assert spelled.spec_hash() == short.spec_hash()


def test_canonical_json_is_compact_and_sorted() -> None:
    spec = TerraformStackSpec.model_validate(
        {"name": "a", "kind": "generic", "module_source": "x/y", "variables": {"b": 1, "a": 2}}
    )
    text = spec.canonical_json()
    assert " " not in text
    assert text.index('"a":2') < text.index('"b":1')
    assert json.loads(text)["cloud"] == "local"  # defaults are part of the canonical form
