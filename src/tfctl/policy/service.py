"""Policy attachments (`tfctl policy attach | list | detach`) and trying a policy on a
recorded plan without attaching it (`tfctl policy test`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.policy.model import (
    NO_ENGINE_WARNING,
    EnforcementLevel,
    PolicyRef,
    PolicyReport,
    parse_level,
)
from tfctl.policy.sources import load_bundle, resolve_source

if TYPE_CHECKING:
    from tfctl.persistence.db import Store
    from tfctl.persistence.models import PolicyAttachment
    from tfctl.policy.checker import PolicyChecker


@dataclass(frozen=True, slots=True)
class AttachmentView:
    """An attachment as users see it; `to_dict()` is the documented `--json` shape.
    `changed_since_attach` is only computed by `list_attachments` (None: unreadable now)."""

    id: str
    workspace: str
    policy: str
    kind: str
    level: str
    sha256: str
    actor: str
    created_at: str
    changed_since_attach: bool | None = None

    @classmethod
    def of(cls, row: PolicyAttachment, workspace: str, **extra: Any) -> AttachmentView:
        return cls(
            id=row.id, workspace=workspace, policy=row.source, kind=row.kind, level=row.level,
            sha256=row.sha256, actor=row.actor, created_at=row.created_at.isoformat(), **extra,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def attach(
    db: Store, workspace: str, policy: str, *, level: str | None, actor: str
) -> AttachmentView:
    """Attach the policy `policy` (a `.rego` file or a directory of them, by path or
    `file://` URI) to `workspace` at `level`, recording its content hash. `InvalidInput`
    (exit 2) for an unknown level or workspace, a missing file, a directory without `.rego`
    files, or a policy already attached to the workspace."""
    from tfctl.persistence import policies, store

    enforcement = parse_level(level)
    bundle = load_bundle(resolve_source(policy))
    with db.write() as session:
        ws = store.get_workspace(session=session, name=workspace)
        found = policies.find_attachment(
            session=session, workspace_id=ws.id, source=str(bundle.source)
        )
        if found is not None:
            raise errors.AlreadyExists(
                f"policy {bundle.source} is already attached to workspace '{ws.name}' as "
                f"{found.id} ({found.level}); `tfctl policy detach {found.id}` first"
            )
        row = policies.create_attachment(
            session=session, workspace_id=ws.id, source=str(bundle.source), kind=bundle.kind,
            level=enforcement.value, sha256=bundle.sha256, actor=actor,
        )  # fmt: skip
        return AttachmentView.of(row, ws.name, changed_since_attach=False)


def list_attachments(db: Store, workspace: str | None = None) -> list[AttachmentView]:
    """Attachments (of `workspace`, or all), each saying whether its policy changed since."""
    from tfctl.persistence import policies, store

    with db.read() as session:
        workspace_id = None
        if workspace is not None:
            workspace_id = store.get_workspace(session=session, name=workspace).id
        rows = policies.list_attachments(session=session, workspace_id=workspace_id)
    return [AttachmentView.of(row, name, changed_since_attach=_changed(row)) for row, name in rows]


def detach(db: Store, attachment_id: str) -> AttachmentView:
    """Remove an attachment (by id or unique prefix); later plans no longer check it."""
    from tfctl.persistence import policies, store

    with db.write() as session:
        row = policies.get_attachment(session=session, attachment_id=attachment_id)
        ws = store.get_workspace_by_id(session=session, workspace_id=row.workspace_id)
        view = AttachmentView.of(row, ws.name)
        policies.delete_attachment(session=session, attachment=row)
    return view


def check_plan(
    db: Store,
    checker: PolicyChecker,
    workspace_id: str,
    plan_json: Path,
    *,
    scrub: Callable[[str], str],
    note: Callable[[str], None],
) -> dict[str, Any] | None:
    """The policy gate after a plan: the workspace's policies checked against `plan_json`,
    messages scrubbed with `scrub` (policies may quote plan values, secrets included), the
    result lines given to `note` (the run log). Returns the document to store in
    `Run.policy_results`, or None when no policy is attached."""
    from tfctl.policy.gate import report_lines

    policies = attached_policies(db, workspace_id)
    if not policies:
        return None
    results = checker.check(policies, plan_json).scrubbed(scrub).to_dict()
    for line in report_lines(results):
        note(line)
    return results


def attached_policies(db: Store, workspace_id: str) -> list[PolicyRef]:
    """What a plan of the workspace is checked against, oldest attachment first."""
    from tfctl.persistence import policies

    with db.read() as session:
        rows = policies.list_attachments(session=session, workspace_id=workspace_id)
    return [
        PolicyRef(Path(row.source), EnforcementLevel(row.level), row.id, row.sha256)
        for row, _ in rows
    ]


def evaluate_policy(
    checker: PolicyChecker,
    policy: str,
    saved_plan: Callable[[], contextlib.AbstractContextManager[tuple[Path, set[str]]]],
) -> PolicyReport:
    """Evaluate `policy` against a recorded plan without attaching it. `saved_plan` opens
    the plan's JSON (made again from its saved plan file, deleted afterwards) with its
    sensitive values, which are scrubbed from the messages. `TfctlError` when no engine is
    available."""
    from tfctl.terraform.redact import SecretScrubber

    source = resolve_source(policy)
    load_bundle(source)  # refuse a bad POLICY (exit 2) before any terraform runs
    if checker.find_engine() is None:
        raise errors.TfctlError(NO_ENGINE_WARNING)
    with saved_plan() as (plan_json, secrets):
        report = checker.check([PolicyRef(source)], plan_json)
    return report.scrubbed(SecretScrubber(secrets).scrub)


def _changed(row: PolicyAttachment) -> bool | None:
    try:
        return load_bundle(Path(row.source)).sha256 != row.sha256
    except errors.InvalidInput:
        return None
