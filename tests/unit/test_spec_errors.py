"""A bad spec file is one line naming the file, the line or field path, and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfctl import errors
from tfctl.specfile import load_spec_file


def error_for(tmp_path: Path, name: str, text: str) -> errors.TfctlError:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(errors.InvalidInput) as caught:
        load_spec_file(path)
    assert caught.value.exit_code == 2
    assert "\n" not in caught.value.message
    assert str(path) in caught.value.message
    return caught.value


def test_unknown_kind_lists_the_known_ones(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.yaml", "name: a\nkind: lambda\n")
    assert "field 'kind'" in error.message
    assert "'lambda'" in error.message
    for kind in ("storage", "faas", "agents", "secrets", "generic"):
        assert kind in error.message


def test_wrong_type_names_the_nested_field_path(tmp_path: Path) -> None:
    error = error_for(
        tmp_path, "s.yaml", "name: a\nkind: faas\nqueues:\n  - name: q\n    max_replicas: lots\n"
    )
    assert "field 'queues[0].max_replicas'" in error.message
    assert "integer" in error.message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.yaml", "name: a\nkind: generic\nvariables: {a: 1\n")
    assert isinstance(error, errors.SpecFileError)
    assert "YAML syntax error" in error.message
    assert f"{tmp_path / 's.yaml'}:4:" in error.message


def test_json_and_toml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    json_error = error_for(tmp_path, "s.json", '{"name": "a",\n "kind": }')
    assert f"{tmp_path / 's.json'}:2:" in json_error.message
    toml_error = error_for(tmp_path, "s.toml", 'name = "a"\nkind = \n')
    assert "line 2" in toml_error.message


def test_unknown_field_is_rejected_not_ignored(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.yaml", "name: a\nkind: storage\nvariabels: {}\n")
    assert "field 'variabels': unknown field" in error.message


def test_missing_required_field(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.json", '{"kind": "storage"}')
    assert "field 'name': required field is missing" in error.message


def test_generic_needs_module_source(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.yaml", "name: a\nkind: generic\n")
    assert "module_source is required" in error.message


def test_kind_specific_fields_are_refused_on_other_kinds(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.yaml", "name: a\nkind: storage\nqueues: [{name: q}]\n")
    assert "queues is only allowed when kind is 'faas'" in error.message


def test_bad_stack_name(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.yaml", "name: Web_App\nkind: storage\n")
    assert "field 'name'" in error.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(errors.SpecFileError, match="no such file") as caught:
        load_spec_file(tmp_path / "absent.yaml")
    assert str(tmp_path / "absent.yaml") in caught.value.message


def test_unknown_format(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.ini", "name=a")
    assert "unknown spec format '.ini'" in error.message


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    yaml_error = error_for(tmp_path, "s.yaml", "name: a\nkind: storage\nname: b\n")
    assert "duplicate key 'name'" in yaml_error.message
    json_error = error_for(tmp_path, "s.json", '{"name": "a", "kind": "storage", "name": "b"}')
    assert "duplicate key 'name'" in json_error.message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.yaml", "- name: a\n")
    assert "must be a mapping" in error.message
    empty = error_for(tmp_path, "e.yaml", "")
    assert "empty document" in empty.message


def test_local_module_source_resolves_against_the_spec_file(tmp_path: Path) -> None:
    (tmp_path / "modules" / "web").mkdir(parents=True)
    spec_dir = tmp_path / "stacks"
    spec_dir.mkdir()
    (spec_dir / "s.yaml").write_text("name: a\nkind: generic\nmodule_source: ../modules/web\n")
    spec = load_spec_file(spec_dir / "s.yaml")
    assert spec.module_source == str(tmp_path / "modules" / "web")


def test_missing_local_module_is_an_error(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.yaml", "name: a\nkind: generic\nmodule_source: ./nowhere\n")
    assert "field 'module_source'" in error.message
    assert "does not exist" in error.message


def test_registry_module_source_passes_through(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: a\nkind: generic\nmodule_source: terraform-aws-modules/s3-bucket/aws\n")
    assert load_spec_file(path).module_source == "terraform-aws-modules/s3-bucket/aws"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("descripton: x\n", "field 'descripton': unknown field (did you mean 'description'?)"),
        ("bucket: {versionin: true}\n", "field 'bucket.versionin': unknown field "
         "(did you mean 'versioning'?)"),
        ("bucket: {lifecycle_rules: [{id: r, expire_day: 3}]}\n",
         "field 'bucket.lifecycle_rules[0].expire_day': unknown field "
         "(did you mean 'expire_days'?)"),
    ],
)  # fmt: skip
def test_unknown_field_suggests_the_field_meant(tmp_path: Path, text: str, expected: str) -> None:
    error = error_for(tmp_path, "s.yaml", "name: a\nkind: storage\n" + text)
    assert expected in error.message


def test_unknown_field_in_a_tagged_union_suggests_from_that_member(tmp_path: Path) -> None:
    text = "name: a\nkind: secrets\nsecret_store: {provider: vault, servr: 'https://v'}\n"
    error = error_for(tmp_path, "s.yaml", text)
    assert "field 'secret_store.vault.servr': unknown field (did you mean 'server'?)" in (
        error.message
    )


def test_unknown_field_far_from_any_lists_the_fields(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.yaml", "name: a\nkind: storage\nbucket: {zzz: 1}\n")
    assert (
        "field 'bucket.zzz': unknown field "
        "(expected one of force_destroy, lifecycle_rules, name, versioning)"
    ) in error.message


def test_bad_stack_name_states_the_rule_in_words(tmp_path: Path) -> None:
    error = error_for(tmp_path, "s.yaml", "name: Web_App\nkind: storage\n")
    assert (
        "field 'name': 'Web_App' is not a valid name (1 to 63 lowercase letters, digits and "
        "'-', starting and ending with a letter or digit), e.g. 'web-app'"
    ) in error.message
    assert "^" not in error.message
    assert "pattern" not in error.message


def test_every_pattern_of_a_spec_has_its_rule_in_words() -> None:
    from tfctl.spec import PATTERN_RULES, TerraformStackSpec

    def patterns(node: object) -> set[str]:
        if isinstance(node, dict):
            found = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
            return found.union(*(patterns(value) for value in node.values()))
        if isinstance(node, list):
            return set().union(*(patterns(value) for value in node))
        return set()

    used = patterns(TerraformStackSpec.model_json_schema())
    assert len(used) >= 10
    assert used <= PATTERN_RULES.keys()


def test_a_directory_names_the_spec_file_to_pass(tmp_path: Path) -> None:
    (tmp_path / "hello").mkdir()
    (tmp_path / "hello" / "stack.yaml").write_text("name: hello\nkind: storage\n")
    (tmp_path / "hello" / "main.tf").write_text("")
    with pytest.raises(errors.SpecFileError) as caught:
        load_spec_file(tmp_path / "hello")
    assert caught.value.message == (
        f"{tmp_path / 'hello'}: is a directory; pass the spec file in it: "
        f"{tmp_path / 'hello' / 'stack.yaml'}"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(errors.SpecFileError, match="is a directory; pass a spec file"):
        load_spec_file(tmp_path / "empty")
