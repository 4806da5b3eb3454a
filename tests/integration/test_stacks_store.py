"""Specs, versions and workspaces in the job store — the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tfctl import errors
from tfctl.persistence.db import Store
from tfctl.persistence.models import SpecVersion, Stack, Workspace
from tfctl.spec import TerraformStackSpec
from tfctl.stacks import diff_versions, list_stacks, persist_spec, push_spec_file, show_version
from tfctl.workspaces import create_workspace, list_workspaces, show_workspace


def spec(**changes: object) -> TerraformStackSpec:
    document = {"name": "web", "kind": "storage", "variables": {"size": 1}, **changes}
    return TerraformStackSpec.model_validate(document)


def count(store: Store, model: type) -> int:
    with store.read() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_new_version_only_when_the_hash_changes(store: Store) -> None:
    with store.write() as session:
        first = persist_spec(session=session, spec=spec(), author="alice")
    with store.write() as session:
        again = persist_spec(session=session, spec=spec(), author="bob")
    with store.write() as session:
        second = persist_spec(session=session, spec=spec(variables={"size": 2}), author="bob")

    assert (first.version, first.created) == (1, True)
    assert (again.version, again.created, again.hash) == (1, False, first.hash)
    assert again.author == "alice"  # unchanged means the existing row, not a new author
    assert (second.version, second.created) == (2, True)
    assert count(store, SpecVersion) == 2


def test_reverting_a_spec_is_a_new_version(store: Store) -> None:
    for size in (1, 2, 1):
        with store.write() as session:
            latest = persist_spec(session=session, spec=spec(variables={"size": size}), author="a")
    assert latest.version == 3
    assert show_version(store, "web", 1).hash == latest.hash


def test_push_of_reordered_yaml_json_and_toml_is_one_version(store: Store, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: storage\nname: web\nvariables: {b: 2, a: 1}\n")
    (tmp_path / "a.json").write_text(
        '{"variables": {"a": 1, "b": 2}, "name": "web", "kind": "storage"}'
    )
    (tmp_path / "a.toml").write_text('name = "web"\nkind = "storage"\n[variables]\nb = 2\na = 1\n')
    views = [
        push_spec_file(store, tmp_path / f, author="ci") for f in ("a.yaml", "a.json", "a.toml")
    ]
    assert [(v.version, v.created) for v in views] == [(1, True), (1, False), (1, False)]


def test_invalid_spec_writes_nothing(store: Store, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: web\nkind: storage\nvariables: [1, 2]\n")
    with pytest.raises(errors.InvalidSpec):
        push_spec_file(store, tmp_path / "bad.yaml", author="ci")
    assert count(store, Stack) == 0
    assert count(store, SpecVersion) == 0


def test_a_stack_keeps_its_kind(store: Store) -> None:
    with store.write() as session:
        persist_spec(session=session, spec=spec(), author="a")
    with pytest.raises(errors.InvalidSpec, match="is a 'storage' stack"), store.write() as session:
        persist_spec(session=session, spec=spec(kind="secrets"), author="a")
    assert count(store, SpecVersion) == 1


def test_concurrent_pushes_of_one_change_make_one_version(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "web.yaml"
    path.write_text("name: web\nkind: storage\nvariables: {size: 9}\n")
    results: list[object] = []

    def push() -> None:
        try:
            results.append(push_spec_file(store, path, author="racer"))
        except Exception as exc:  # recorded so the assertion shows it
            results.append(exc)

    threads = [threading.Thread(target=push) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(not isinstance(r, Exception) for r in results), results
    assert count(store, SpecVersion) == 1
    assert sum(1 for r in results if r.created) == 1  # type: ignore[attr-defined]


def test_list_show_and_diff(store: Store) -> None:
    for size in (1, 2):
        with store.write() as session:
            persist_spec(session=session, spec=spec(variables={"size": size}), author="a")
    with store.write() as session:
        persist_spec(session=session, spec=spec(name="api", kind="secrets"), author="a")

    listed = list_stacks(store)
    assert [(s["name"], s["version"]) for s in listed] == [("api", 1), ("web", 2)]
    assert show_version(store, "web").spec["variables"] == {"size": 2}  # type: ignore[index]
    assert show_version(store, "web", 1).spec["variables"] == {"size": 1}  # type: ignore[index]
    diff = diff_versions(store, "web", 1, 2)
    assert diff.changes == [
        {"path": "variables.size", "change": "changed", "before": 1, "after": 2}
    ]
    assert '-    "size": 1' in diff.unified
    assert '+    "size": 2' in diff.unified

    with pytest.raises(errors.SpecVersionNotFound, match="has no version 7"):
        show_version(store, "web", 7)
    with pytest.raises(errors.StackNotFound, match="no stack named 'nope'"):
        show_version(store, "nope")


def test_workspaces(store: Store) -> None:
    with store.write() as session:
        persist_spec(session=session, spec=spec(), author="a")
    created = create_workspace(
        store, "web-dev", stack="web", backend="local", backend_config={}, variables={"memory": 3}
    )
    assert created.stack == "web"
    assert show_workspace(store, "web-dev").variables == {"memory": 3}
    assert [w.name for w in list_workspaces(store)] == ["web-dev"]

    with pytest.raises(errors.AlreadyExists):
        create_workspace(
            store, "web-dev", stack="web", backend="local", backend_config={}, variables={}
        )
    with pytest.raises(errors.StackNotFound):
        create_workspace(store, "x", stack="nope", backend="local", backend_config={}, variables={})
    with pytest.raises(errors.InvalidInput, match="unknown backend"):
        create_workspace(store, "y", stack="web", backend="ftp", backend_config={}, variables={})
    with pytest.raises(errors.InvalidInput, match="workspace name"):
        create_workspace(
            store, "Bad Name", stack="web", backend="local", backend_config={}, variables={}
        )
    with pytest.raises(errors.WorkspaceNotFound):
        show_workspace(store, "nope")
    assert count(store, Workspace) == 1


def test_timestamps_come_back_as_aware_utc(store: Store) -> None:
    with store.write() as session:
        persist_spec(session=session, spec=spec(), author="a")
    created_at = show_version(store, "web").created_at
    assert created_at.tzinfo is not None
    assert created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
