"""`--var` names against what a stack declares: the generic stack's module, a kind's template;
"did you mean" for a typo, the declared names when nothing is close."""

from __future__ import annotations

from pathlib import Path

import pytest

from filestack import FILES_MODULE
from tfctl import errors
from tfctl.codegen.render import DeclaredVariables, declared_variables
from tfctl.spec import TerraformStackSpec
from tfctl.workspaces import check_variable_names

FILES = DeclaredVariables(
    frozenset({"dir", "names", "content", "token", "sleep_seconds"}),
    frozenset(),
    "module /m/files",
)
STORAGE = DeclaredVariables(
    frozenset({"location", "project"}), frozenset({"bucket", "labels"}),
    "the storage template for cloud gcp",
)  # fmt: skip


def refusal(variables: dict[str, object], declared: DeclaredVariables, **kw: object) -> str:
    given = kw.pop("given", set(variables))
    with pytest.raises(errors.InvalidInput) as refused:
        check_variable_names(variables, declared, stack="files", given=given)  # type: ignore[arg-type]
    assert refused.value.exit_code == 2
    assert "\n" not in str(refused.value)
    return str(refused.value)


def test_a_typo_names_the_variable_the_stack_and_the_close_match() -> None:
    assert refusal({"dri": "/tmp"}, FILES) == (
        "--var dri: not declared by stack 'files' (module /m/files); did you mean 'dir'?"
    )
    assert "did you mean 'sleep_seconds'?" in refusal({"sleep_second": 1}, FILES)


def test_no_close_match_lists_the_declared_names() -> None:
    assert refusal({"region": "eu"}, FILES) == (
        "--var region: not declared by stack 'files' (module /m/files); "
        "it declares content, dir, names, sleep_seconds, token"
    )
    nothing = DeclaredVariables(frozenset(), frozenset(), "module /m/empty")
    assert refusal({"x": 1}, nothing).endswith("it declares no variables")


def test_a_variable_the_spec_sets_itself_is_refused_with_what_to_do() -> None:
    assert refusal({"bucket": "b"}, STORAGE) == (
        "--var bucket: set by the spec of stack 'files' (the storage template for cloud gcp); "
        "change the spec and push it instead"
    )


def test_a_stored_variable_says_how_to_remove_it_and_others_are_counted() -> None:
    line = refusal({"dri": "/tmp", "zzz": 1, "content": "x"}, FILES, given={"content"})
    assert line == (
        "variable dri (set on the workspace): not declared by stack 'files' (module /m/files); "
        "remove it with --unset-var dri; did you mean 'dir'? (also undeclared: zzz)"
    )


def test_declared_names_pass_and_unknown_modules_are_not_checked() -> None:
    check_variable_names({"dir": "/tmp", "token": "t"}, FILES, stack="files", given={"dir"})
    check_variable_names({"anything": 1}, None, stack="files", given={"anything"})


def test_a_generic_stack_declares_what_its_local_module_declares(tmp_path: Path) -> None:
    spec = TerraformStackSpec.model_validate(
        {"name": "files", "kind": "generic", "module_source": str(FILES_MODULE)}
    )
    declared = declared_variables(spec)
    assert declared is not None
    assert declared.settable == {"dir", "names", "content", "token", "sleep_seconds"}
    assert declared.where == f"module {FILES_MODULE}"
    for source in ("hashicorp/consul/aws", "git::https://example.com/m.git", str(tmp_path / "no")):
        remote = TerraformStackSpec.model_validate(
            {"name": "r", "kind": "generic", "module_source": source}
        )
        assert declared_variables(remote) is None


def test_a_kind_declares_its_template_settings_and_fixes_its_spec_values() -> None:
    spec = TerraformStackSpec.model_validate(
        {"name": "assets", "kind": "storage", "cloud": "gcp", "bucket": {"name": "acme-a"}}
    )
    declared = declared_variables(spec)
    assert declared is not None
    assert declared.settable == {"location", "project"}
    assert declared.fixed == {"bucket", "labels"}
    assert declared.where == "the storage template for cloud gcp"
