"""Workspaces: one stack bound to one state, with its backend and variable overrides.

Create, update and delete check everything they can before they write: variable names
against what the stack's module or template declares, backend settings against the backend.
Update and delete run in one write transaction that first locks the workspace row, so no run
can start (or be queued) for the workspace while they decide.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence import runs as run_store
from tfctl.persistence import store
from tfctl.persistence.kinds import BACKENDS, RunStatus
from tfctl.persistence.types import utcnow
from tfctl.runs.status import ACTIVE, lease_cutoff, transition

if TYPE_CHECKING:
    from sqlmodel import Session

    from tfctl.codegen.render import DeclaredVariables
    from tfctl.persistence.db import Store
    from tfctl.persistence.models import Stack, Workspace
    from tfctl.runs.drift import DriftView
    from tfctl.secrets import Keyring

WORKSPACE_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    """A workspace as shown to users; `to_dict()` is the documented `--json` shape."""

    id: str
    name: str
    stack: str
    backend: str
    backend_config: dict[str, Any]
    variables: dict[str, Any]
    #: the names of its `--var-sensitive` variables; their values are never shown
    sensitive_variables: tuple[str, ...]
    locked_by_run_id: str | None
    created_at: str
    #: `drift`: its latest drift assessment (`DriftView.to_dict()` without the name);
    #: `assess`: whether scheduled assessments include it
    assess: bool = True
    drift: dict[str, Any] | None = None

    @classmethod
    def of(
        cls, workspace: Workspace, stack: Stack, drift: DriftView | None = None
    ) -> WorkspaceView:
        drift_dict = drift.to_dict() if drift is not None else None
        if drift_dict is not None:
            del drift_dict["workspace"], drift_dict["assess"]
        return cls(
            id=workspace.id,
            name=workspace.name,
            stack=stack.name,
            backend=workspace.backend,
            backend_config=dict(workspace.backend_config),
            variables=dict(workspace.variables),
            sensitive_variables=tuple(sorted(workspace.sensitive_variables)),
            locked_by_run_id=workspace.locked_by_run_id,
            created_at=workspace.created_at.isoformat(),
            assess=workspace.assess,
            drift=drift_dict,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "stack": self.stack,
            "backend": self.backend,
            "backend_config": self.backend_config,
            "variables": self.variables,
            "sensitive_variables": list(self.sensitive_variables),
            "locked_by_run_id": self.locked_by_run_id,
            "created_at": self.created_at,
            "assess": self.assess,
            "drift": self.drift,
        }


def parse_assignments(pairs: Iterable[str], *, option: str, dotted: bool = False) -> dict[str, Any]:
    """`["count=3", "name=web"]` → `{"count": 3, "name": "web"}`.

    A value that parses as JSON keeps its type (numbers, booleans, lists, objects, null);
    anything else is a string, so `--var region=eu-west-1` needs no quoting. With `dotted`,
    keys may be paths such as `endpoints.s3` (backend settings).
    """
    values: dict[str, Any] = {}
    pattern = SETTING_NAME if dotted else VARIABLE_NAME
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not pattern.match(key):
            raise errors.InvalidInput(
                f"{option} {pair!r}: expected NAME=VALUE with NAME of letters, digits, '_' or '-'"
            )
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    return values


def parse_names(names: Iterable[str], *, option: str, dotted: bool = False) -> tuple[str, ...]:
    """`--unset-var NAME` values, checked like the names of `parse_assignments`."""
    pattern = SETTING_NAME if dotted else VARIABLE_NAME
    for name in names:
        if not pattern.match(name):
            raise errors.InvalidInput(
                f"{option} {name!r}: expected a NAME of letters, digits, '_' or '-'"
            )
    return tuple(names)


def create_workspace(
    db: Store,
    name: str,
    *,
    stack: str,
    backend: str,
    backend_config: dict[str, Any],
    variables: dict[str, Any],
    sensitive_variables: Mapping[str, str] | None = None,
    keyring: Keyring | None = None,
) -> WorkspaceView:
    """Create workspace `name` for `stack`; nothing is written if any input is invalid.
    On the `hcp` backend the HCP Terraform workspace is made ready first (`bind_workspace`)."""
    from tfctl.codegen.wrapper import check_backend_config
    from tfctl.hcp.workspaces import bind_workspace

    _check_name(name)
    _check_backend(backend)
    # refused here, before anything is stored: credentials, unknown or missing settings
    backend_config = check_backend_config(backend, backend_config)
    _, declared = _declared(db, stack=stack)
    sensitive = dict(sensitive_variables or {})
    _check_sensitive(variables, sensitive)
    every = {**variables, **sensitive}
    check_variable_names(every, declared, stack=stack, given=set(every))
    backend_config = bind_workspace(name, backend, backend_config)
    with db.write() as session:
        stack_row = store.get_stack(session=session, name=stack)
        row = store.create_workspace(
            session=session,
            name=name,
            stack=stack_row,
            backend=backend,
            backend_config=backend_config,
            variables=variables,
        )
        _seal(row, sensitive, keyring)
        return _view(session, row, stack_row)


def list_workspaces(db: Store) -> list[WorkspaceView]:
    """Every workspace, by name, with its drift."""
    from tfctl.runs.drift import latest_drift

    with db.read() as session:
        rows = store.list_workspaces(session=session)
        drift = latest_drift(session, [ws for ws, _ in rows], every=True)
        return [WorkspaceView.of(ws, st, drift[ws.id]) for ws, st in rows]


def show_workspace(db: Store, name: str) -> WorkspaceView:
    with db.read() as session:
        workspace = store.get_workspace(session=session, name=name)
        stack = store.get_stack_by_id(session=session, stack_id=workspace.stack_id)
        return _view(session, workspace, stack)


# --- variable names ---------------------------------------------------------------------------


def check_variable_names(
    variables: Mapping[str, Any],
    declared: DeclaredVariables | None,
    *,
    stack: str,
    given: set[str],
) -> None:
    """Refuse a variable the stack's module or template does not let a workspace set, with
    the closest declared name ("did you mean"), or the declared names when none is close.
    `given` are the names the user passes now (`--var`); the others were stored before, and
    the message says how to remove them. Nothing is checked when `declared` is None."""
    if declared is None:
        return
    unknown = sorted(set(variables) - declared.settable)
    if not unknown:
        return
    name, others = unknown[0], unknown[1:]
    label = f"--var {name}" if name in given else f"variable {name} (set on the workspace)"
    whose = f"stack '{stack}' ({declared.where})"
    fixed = name in declared.fixed
    parts = [f"set by the spec of {whose}" if fixed else f"not declared by {whose}"]
    if name not in given:
        parts.append(f"remove it with --unset-var {name}")
    close = difflib.get_close_matches(name, sorted(declared.settable), n=1)
    if fixed:
        parts.append("change the spec and push it instead")
    elif close:
        parts.append(f"did you mean '{close[0]}'?")
    else:
        parts.append(f"it declares {', '.join(sorted(declared.settable)) or 'no variables'}")
    more = f" (also undeclared: {', '.join(others)})" if others else ""
    raise errors.InvalidInput(f"{label}: {'; '.join(parts)}{more}")


def _declared(
    db: Store, *, stack: str | None = None, workspace: str | None = None
) -> tuple[str, DeclaredVariables | None]:
    """The stack's name, and what a workspace of it may set (from its latest version)."""
    from tfctl.codegen.render import declared_variables
    from tfctl.spec import TerraformStackSpec

    with db.read() as session:
        if workspace is not None:
            stack_row = _stack_of(session, store.get_workspace(session=session, name=workspace))
        else:
            stack_row = store.get_stack(session=session, name=stack or "")
        version = store.get_spec_version(session=session, stack=stack_row)
    spec = TerraformStackSpec.model_validate_json(version.canonical_json)
    return stack_row.name, declared_variables(spec)


# --- update ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkspaceChanges:
    """What `workspace update` changes: `--var`, `--unset-var`, `--backend`,
    `--backend-config` (dotted keys set one nested key) and `--unset-backend-config`."""

    set_variables: dict[str, Any] = field(default_factory=dict)
    unset_variables: tuple[str, ...] = ()
    backend: str | None = None
    set_backend_config: dict[str, Any] = field(default_factory=dict)
    unset_backend_config: tuple[str, ...] = ()
    #: `--var-sensitive`: set or replace, encrypted (a plain variable of the same name goes)
    set_sensitive: dict[str, str] = field(default_factory=dict)
    #: `--assess` / `--no-assess`: scheduled drift assessments include it or not
    assess: bool | None = None

    def __bool__(self) -> bool:
        return self.assess is not None or any((self.set_variables, self.unset_variables,
            self.backend, self.set_backend_config, self.unset_backend_config))  # fmt: skip


@dataclass(frozen=True, slots=True)
class UpdatedWorkspace:
    """The workspace after `update_workspace`; `changed` is False when it already had these
    settings; `discarded_plan_ids` are plans awaiting approval made with the old settings."""

    workspace: WorkspaceView
    changed: bool
    discarded_plan_ids: tuple[str, ...] = ()


def update_workspace(
    db: Store, name: str, changes: WorkspaceChanges, *, home: Path, heartbeat_timeout: float,
    force: bool = False, keyring: Keyring | None = None,
) -> UpdatedWorkspace:  # fmt: skip
    """Change a workspace's variables and backend, and whether scheduled drift assessments
    include it (`assess`: alone, a change that discards no plan and is made while runs are
    active too), in one transaction.

    Refused (`InvalidInput`, exit 2, nothing written): no change given; a name both set and
    unset; unsetting what the workspace does not set; a variable the stack does not declare
    (`check_variable_names`, on the resulting set); invalid backend settings; while a run of
    the workspace is queued or running; and, unless `force`, a backend or backend-settings
    change while the latest state holds resources (the next plan would start from another,
    empty state). A plan awaiting approval was made with the old settings: it is discarded.
    A changed `--backend` starts from no settings: give the new backend's with
    `--backend-config`. On the `hcp` backend, a changed HCP workspace is made ready as at
    create (`bind_workspace`)."""
    from tfctl.hcp.workspaces import bind_workspace

    _check_changes(changes)
    stack, declared = _declared(db, workspace=name)
    with db.write() as session:
        ws = store.get_workspace(session=session, name=name, for_update=True)
        assess_changed = _set_assess(session, ws, changes.assess)
        variables = _changed_variables(ws, changes)
        tokens = _changed_sensitive(ws, changes, keyring)
        given = set(changes.set_variables) | set(changes.set_sensitive)
        check_variable_names({**variables, **tokens}, declared, stack=stack, given=given)
        backend, config = _changed_backend(ws, changes)
        same = (variables, tokens, backend, config) == (
            ws.variables, ws.sensitive_variables, ws.backend, ws.backend_config
        )  # fmt: skip
        if same:
            return UpdatedWorkspace(_view(session, ws), changed=assess_changed)
        _refuse_while_busy(session, ws, heartbeat_timeout, doing="update")
        if (backend, config) != (ws.backend, ws.backend_config) and not force:
            _refuse_backend_change(session, ws, home)
        config = bind_workspace(name, backend, config, previous=ws.backend_config)
        discarded = _discard_pending_plans(session, ws)
        ws.sensitive_variables = tokens  # sealed; written with the rest
        row = store.update_workspace(session=session, workspace=ws, backend=backend,
                                     backend_config=config, variables=variables)  # fmt: skip
        return UpdatedWorkspace(_view(session, row), True, discarded)


def _check_changes(changes: WorkspaceChanges) -> None:
    if not changes and not changes.set_sensitive:
        raise errors.InvalidInput(
            "nothing to update; pass --var, --unset-var, --backend, --backend-config, "
            "--unset-backend-config, --assess or --no-assess"
        )
    for option, names in (("var", set(changes.set_variables) & set(changes.unset_variables)),
                          ("backend-config", set(changes.set_backend_config)
                           & set(changes.unset_backend_config))):  # fmt: skip
        if names:
            name = sorted(names)[0]
            raise errors.InvalidInput(f"--{option} {name} and --unset-{option} {name}: pick one")
    _check_sensitive(changes.set_variables, changes.set_sensitive)
    both = sorted(set(changes.set_sensitive) & set(changes.unset_variables))
    if both:
        raise errors.InvalidInput(f"--var-sensitive {both[0]} and --unset-var {both[0]}: pick one")
    if changes.backend is not None:
        _check_backend(changes.backend)


def _changed_variables(ws: Workspace, changes: WorkspaceChanges) -> dict[str, Any]:
    variables = dict(ws.variables)
    for name in changes.unset_variables:
        if name in ws.sensitive_variables:
            continue  # a sensitive one: `_changed_sensitive` removes it
        if name not in variables:
            raise _not_set("--unset-var", name, ws.name, "variable", variables)
        del variables[name]
    merged = {**variables, **changes.set_variables}
    return {name: value for name, value in merged.items() if name not in changes.set_sensitive}


def _changed_sensitive(
    ws: Workspace, changes: WorkspaceChanges, keyring: Keyring | None
) -> dict[str, str]:
    """The workspace's sensitive variables (name -> token) after `changes`: `--unset-var`
    and `--var` of a name remove it, `--var-sensitive` (re)seals it. Values are never
    compared: setting one always counts as a change."""
    from tfctl.secrets import seal_all

    gone = set(changes.unset_variables) | set(changes.set_variables)
    tokens = {name: token for name, token in ws.sensitive_variables.items() if name not in gone}
    if changes.set_sensitive:
        if keyring is None:
            raise errors.InvalidInput("--var-sensitive needs the secret key (tfctl.secrets)")
        tokens.update(seal_all(keyring, ws.id, changes.set_sensitive))
    return tokens


def _check_sensitive(variables: Mapping[str, Any], sensitive: Mapping[str, str]) -> None:
    both = sorted(set(variables) & set(sensitive))
    if both:
        raise errors.InvalidInput(
            f"--var {both[0]} and --var-sensitive {both[0]}: pick one (a sensitive variable "
            "is stored encrypted and never shown)"
        )


def _seal(row: Workspace, sensitive: Mapping[str, str], keyring: Keyring | None) -> None:
    """Store the sensitive values of a new workspace, encrypted (bound to its id)."""
    from tfctl.secrets import seal_all

    if not sensitive:
        return
    if keyring is None:
        raise errors.InvalidInput("--var-sensitive needs the secret key (tfctl.secrets)")
    row.sensitive_variables = seal_all(keyring, row.id, sensitive)


def _changed_backend(ws: Workspace, changes: WorkspaceChanges) -> tuple[str, dict[str, Any]]:
    """The backend and its checked settings after `changes`."""
    from tfctl.codegen.wrapper import check_backend_config

    backend = changes.backend or ws.backend
    config: dict[str, Any] = {}
    if backend == ws.backend:
        config = json.loads(json.dumps(ws.backend_config))  # a deep copy
    elif changes.unset_backend_config:
        raise errors.InvalidInput(
            f"--unset-backend-config with --backend {backend}: the new backend starts with "
            "no settings; give its settings with --backend-config"
        )
    for key in changes.unset_backend_config:
        parent, _, child = key.partition(".")
        holder = config.get(parent) if child else config
        if not isinstance(holder, dict) or (child or parent) not in holder:
            raise _not_set("--unset-backend-config", key, ws.name, "backend setting", config)
        del holder[child or parent]
        if child and not holder:
            del config[parent]
    for key, value in changes.set_backend_config.items():
        parent, _, child = key.partition(".")
        if child:
            nested = config.get(parent)
            config[parent] = {**(nested if isinstance(nested, dict) else {}), child: value}
        else:
            config[key] = value
    return backend, check_backend_config(backend, config)


def _not_set(
    option: str, name: str, workspace: str, what: str, current: Mapping[str, Any]
) -> errors.InvalidInput:
    close = difflib.get_close_matches(name, sorted(current), n=1)
    hint = (
        f"did you mean '{close[0]}'?"
        if close
        else f"it sets {', '.join(sorted(current)) or 'none'}"
    )
    return errors.InvalidInput(f"{option} {name}: workspace '{workspace}' sets no {what}; {hint}")


def _refuse_backend_change(session: Session, ws: Workspace, home: Path) -> None:
    resources, where = _resources_in_state(session, ws, home)
    if resources:
        raise errors.InvalidInput(
            f"workspace '{ws.name}': {where} holds {_count(resources, 'resource')} in backend "
            f"{ws.backend}; with another backend or settings the next plan would start from "
            "another state and create them again. Move the state yourself, then pass --force; "
            f"or destroy them first (`tfctl destroy {ws.name}`)"
        )


def _discard_pending_plans(session: Session, ws: Workspace) -> tuple[str, ...]:
    pending = run_store.runs_in_status(
        session=session, statuses=[RunStatus.AWAITING_APPROVAL], workspace_id=ws.id
    )
    message = f"discarded: workspace '{ws.name}' was updated after this plan was made"
    discarded = []
    for run in pending:
        if transition(session=session, run_id=run.id, to=RunStatus.DISCARDED,
                      message=message, finished_at=utcnow()):  # fmt: skip
            discarded.append(run.id)
    return tuple(discarded)


# --- delete ----------------------------------------------------------------------------------

DELETED_STATES = Path("workspaces") / ".deleted"


@dataclass(frozen=True, slots=True)
class DeletedWorkspace:
    """What `delete_workspace` removed; `to_dict()` is the documented `--json` shape.

    `deleted` counts rows by kind; `resources` is what the workspace's latest state held
    (only non-zero with `force`); `state_moved_to` is the directory its local state was moved
    to (None when there was no local state, or it held no resources and was removed)."""

    workspace: WorkspaceView
    deleted: dict[str, int]
    pending_plan_ids: tuple[str, ...]
    resources: int
    state_moved_to: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace.to_dict(),
            "deleted": dict(self.deleted),
            "pending_plan_ids": list(self.pending_plan_ids),
            "resources": self.resources,
            "state_moved_to": self.state_moved_to,
        }


def delete_workspace(
    db: Store, name: str, *, home: Path, runs_dir: Path, heartbeat_timeout: float,
    force: bool = False,
) -> DeletedWorkspace:  # fmt: skip
    """Delete workspace `name` with its runs (logs, plan artifacts, a plan awaiting approval),
    state versions and policy attachments, in one transaction that first locks its row.

    Refused (`InvalidInput`, exit 2, nothing changed) while a run of the workspace is queued
    or running, or still holds it; and, unless `force`, while its latest state holds
    resources (the recorded state version, and for the `local` backend the state file).
    The local state directory is moved to `TFCTL_HOME/workspaces/.deleted/NAME-TIMESTAMP/`
    when its state file holds resources (so a new workspace of the same name starts empty),
    else removed; a remote backend's state is never touched. Run directories are removed
    after the commit. If anything fails, the rows and the state file stay as they were."""
    state_dir = _local_state_path(home, name).parent
    aside: Path | None = None
    try:
        with db.write() as session:
            ws = store.get_workspace(session=session, name=name, for_update=True)
            _refuse_while_busy(session, ws, heartbeat_timeout, doing="delete")
            resources, where = _resources_in_state(session, ws, home)
            if resources and not force:
                raise _holds_resources(ws, resources, where)
            view = _view(session, ws)
            pending = run_store.runs_in_status(
                session=session, statuses=[RunStatus.AWAITING_APPROVAL], workspace_id=ws.id
            )
            run_ids = store.workspace_run_ids(session=session, workspace_id=ws.id)
            deleted = store.delete_workspace(session=session, workspace=ws)
            aside = _move_aside(state_dir, home.expanduser() / DELETED_STATES, name)
    except BaseException:
        if aside is not None:  # the commit failed: put the state back
            aside.rename(state_dir)
        raise
    for run_id in run_ids:
        shutil.rmtree(runs_dir / run_id, ignore_errors=True)
    kept = _keep_if_it_holds_resources(aside, _local_state_path(home, name).name)
    pending_ids = tuple(run.id for run in pending)
    return DeletedWorkspace(view, deleted, pending_ids, resources, kept)


def _holds_resources(ws: Workspace, resources: int, where: str) -> errors.InvalidInput:
    kept = (
        "its local state file is moved aside"
        if ws.backend == "local"
        else f"its state stays in the {ws.backend} backend"
    )
    return errors.InvalidInput(
        f"workspace '{ws.name}': {where} holds {_count(resources, 'resource')}; destroy them "
        f"first (`tfctl destroy {ws.name}`), or pass --force to delete the workspace anyway "
        f"({kept})"
    )


def _local_state_path(home: Path, name: str) -> Path:
    from tfctl.settings import local_state_path

    return local_state_path(home, name)


def _move_aside(state_dir: Path, parent: Path, name: str) -> Path | None:
    """Rename the workspace's local state directory out of the way, into `parent` (a
    same-name workspace created later must not find it); None when there is none."""
    if not state_dir.exists():
        return None
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    target = parent / f"{name}-{stamp}"
    suffix = 1
    while target.exists():
        suffix += 1
        target = parent / f"{name}-{stamp}-{suffix}"
    return state_dir.rename(target)


def _keep_if_it_holds_resources(aside: Path | None, state_file: str) -> str | None:
    """Keep a moved-aside state directory whose state file holds resources, whatever the
    workspace's backend (the file may be from before a backend change); remove it else."""
    if aside is None:
        return None
    if _local_resources(aside / state_file) > 0:
        return str(aside)
    shutil.rmtree(aside, ignore_errors=True)
    return None


# --- shared ----------------------------------------------------------------------------------


def _refuse_while_busy(
    session: Session, ws: Workspace, heartbeat_timeout: float, *, doing: str
) -> None:
    """Refuse while a run of `ws` is queued or running, or a run that ended still holds the
    workspace and heartbeated recently (its process is still stopping terraform)."""
    from tfctl.persistence.models import Run

    active = run_store.runs_in_status(session=session, statuses=ACTIVE, workspace_id=ws.id)
    holder = active[0] if active else None
    locker = session.get(Run, ws.locked_by_run_id) if ws.locked_by_run_id else None
    if holder is None and locker is not None:
        beat = locker.heartbeat_at or locker.started_at
        if beat is not None and beat > lease_cutoff(heartbeat_timeout):
            holder = locker
    if holder is None:
        return
    raise errors.InvalidInput(
        f"cannot {doing} workspace '{ws.name}': run {holder.id} ({holder.operation}, "
        f"{holder.status}, by {holder.actor} on {holder.host}) is using it; wait for it to "
        f"end or cancel it (`tfctl runs cancel {holder.id}`), then {doing} again"
    )


def _resources_in_state(session: Session, ws: Workspace, home: Path) -> tuple[int, str]:
    """How many resources the workspace's state holds, and which state said so: the latest
    recorded state version, or the local state file when it holds more (e.g. an apply whose
    state could not be recorded)."""
    latest = run_store.state_versions(session=session, workspace_id=ws.id, limit=1)
    recorded = latest[0].resource_count if latest else 0
    where = f"its latest state (serial {latest[0].serial})" if latest else "its state"
    if ws.backend == "local":
        path = _local_state_path(home, ws.name)
        on_disk = _local_resources(path)
        if on_disk > recorded:
            return on_disk, f"its local state file {path}"
    return recorded, where


def _local_resources(path: Path) -> int:
    """Managed resources in a local state file; 0 when there is none. A file that cannot be
    read as state counts as 1: tfctl cannot tell, so it keeps it."""
    from tfctl.terraform.state import snapshot_state

    try:
        return snapshot_state(path.read_bytes()).resource_count
    except FileNotFoundError:
        return 0
    except (OSError, errors.TerraformError):
        return 1


def _set_assess(session: Session, ws: Workspace, assess: bool | None) -> bool:
    """Take the workspace in or out of scheduled drift assessments; True if that changed."""
    from tfctl.persistence.drift import set_assess

    if assess is None or assess == ws.assess:
        return False
    set_assess(session=session, workspace=ws, assess=assess)
    return True


def _view(session: Session, ws: Workspace, stack: Stack | None = None) -> WorkspaceView:
    """The workspace as shown, with its drift (its latest assessment)."""
    from tfctl.runs.drift import latest_drift

    drift = latest_drift(session, [ws])[ws.id]
    return WorkspaceView.of(ws, stack or _stack_of(session, ws), drift)


def _stack_of(session: Session, ws: Workspace) -> Stack:
    return store.get_stack_by_id(session=session, stack_id=ws.stack_id)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise errors.InvalidInput(
            f"--backend {backend!r}: unknown backend; expected one of {', '.join(BACKENDS)}"
        )


def _check_name(name: str) -> None:
    if not WORKSPACE_NAME.match(name):
        raise errors.InvalidInput(
            f"workspace name {name!r}: use 1-63 lowercase letters, digits, '-' or '_', "
            "starting and ending with a letter or digit"
        )
