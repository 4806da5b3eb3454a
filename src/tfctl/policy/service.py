"""Policy attachments (`tfctl policy attach | list | detach`) and trying a policy on a
recorded plan without attaching it (`tfctl policy test`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
from tfctl.policy.sources import load_bundle, load_data

if TYPE_CHECKING:
    from tfctl.persistence.db import Store
    from tfctl.persistence.models import PolicyAttachment
    from tfctl.policy.checker import PolicyChecker
    from tfctl.policy.engines import RegoEngine


@dataclass(frozen=True, slots=True)
class AttachmentView:
    """An attachment as users see it; `to_dict()` is the documented `--json` shape
    (`namespaces` null: every package). `changed_since_attach` (policy or data) is only
    computed by `list_attachments` (None: unreadable now); `note` is what `attach` has to
    say on stderr (rewritten constructs, or no engine), not part of the record."""

    id: str
    workspace: str
    policy: str
    kind: str
    level: str
    sha256: str
    actor: str
    created_at: str
    namespaces: list[str] | None = None
    data: list[str] = field(default_factory=list)
    data_sha256: str | None = None
    changed_since_attach: bool | None = None
    note: str | None = None

    @classmethod
    def of(cls, row: PolicyAttachment, workspace: str, **extra: Any) -> AttachmentView:
        return cls(
            id=row.id, workspace=workspace, policy=row.source, kind=row.kind, level=row.level,
            sha256=row.sha256, actor=row.actor, created_at=row.created_at.isoformat(),
            namespaces=row.namespaces, data=list(row.data_sources or []),
            data_sha256=row.data_sha256, **extra,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if name != "note"}


def attach(
    db: Store,
    workspace: str,
    policy: str,
    *,
    level: str | None,
    actor: str,
    namespaces: Sequence[str] = (),
    all_namespaces: bool = False,
    data: Sequence[str] = (),
    find_engine: Callable[[], RegoEngine | None] | None = None,
) -> AttachmentView:
    """Attach the policy `policy` (a `.rego` file or a directory of them, by path or
    `file://` URI) to `workspace` at `level`, with the conftest namespaces to read
    (`namespaces`, default `main`; or every package) and its data documents (`data`: JSON or
    YAML files or directories), recording their content hashes. The engine `find_engine`
    returns (default: opa, else regorus) checks the policy first (`inputs.verify`).
    `InvalidInput` (exit 2) for an unknown level or workspace, a missing file, a directory
    without `.rego` files, bad data, a namespace the policy does not declare, a construct the
    engine would evaluate differently from OPA, or a policy already attached to the
    workspace."""
    from tfctl.persistence import policies, store
    from tfctl.policy.engines import find_engine as default_engine
    from tfctl.policy.inputs import read_policy, selection, verify

    enforcement = parse_level(level)
    selected = selection(namespaces, all_namespaces)
    engine = (find_engine or default_engine)()
    checked = verify(read_policy(policy, namespaces=selected, data=data), engine)
    bundle, documents = checked.policy.bundle, checked.policy.data
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
            namespaces=None if selected is None else list(selected),
            data_sources=[str(p) for p in documents.sources] if documents else None,
            data_sha256=documents.sha256 if documents else None,
        )  # fmt: skip
        return AttachmentView.of(row, ws.name, changed_since_attach=False, note=checked.note)


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
    messages scrubbed with `scrub` (policies may quote plan values, secrets included) and of
    the plan's shorter sensitive values as whole tokens (`tfctl.policy.scrub`), the result
    lines given to `note` (the run log). Returns the document to store in
    `Run.policy_results`, or None when no policy is attached."""
    from tfctl.policy.gate import report_lines

    policies = attached_policies(db, workspace_id)
    if not policies:
        return None
    report = checker.check(policies, plan_json)
    if any(r.messages or r.warnings for r in report.results):
        scrub = _with_short_secrets(scrub, plan_json)
    results = report.scrubbed(scrub).to_dict()
    for line in report_lines(results):
        note(line)
    return results


def _with_short_secrets(scrub: Callable[[str], str], plan_json: Path) -> Callable[[str], str]:
    """`scrub`, then the plan's sensitive values too short for it (read only when a policy
    wrote a message: the plan JSON is parsed once more)."""
    from tfctl.policy.scrub import message_scrubber
    from tfctl.terraform.redact import sensitive_values_from_plan

    try:
        doc = json.loads(plan_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return scrub
    secrets = sensitive_values_from_plan(doc) if isinstance(doc, dict) else set()
    return message_scrubber(secrets, scrub)


def attached_policies(db: Store, workspace_id: str) -> list[PolicyRef]:
    """What a plan of the workspace is checked against, oldest attachment first."""
    from tfctl.persistence import policies

    with db.read() as session:
        rows = policies.list_attachments(session=session, workspace_id=workspace_id)
    return [_ref(row) for row, _ in rows]


def _ref(row: PolicyAttachment) -> PolicyRef:
    return PolicyRef(
        Path(row.source), EnforcementLevel(row.level), row.id, row.sha256,
        namespaces=None if row.namespaces is None else tuple(row.namespaces),
        data=tuple(Path(p) for p in row.data_sources or ()), data_sha256=row.data_sha256,
    )  # fmt: skip


def evaluate_policy(
    checker: PolicyChecker,
    policy: str,
    saved_plan: Callable[[], contextlib.AbstractContextManager[tuple[Path, set[str]]]],
    *,
    namespaces: Sequence[str] = (),
    all_namespaces: bool = False,
    data: Sequence[str] = (),
) -> PolicyReport:
    """Evaluate `policy` (with its namespaces and data documents, as `attach` takes them)
    against a plan without attaching it: exactly what the gate would record. `saved_plan`
    opens the plan's JSON (a recorded plan made again from its saved plan file and deleted
    afterwards, or a file, `inputs.input_plan`) with its sensitive values, which are
    scrubbed from the messages. `TfctlError` when no engine is available."""
    from tfctl.policy.inputs import read_policy, selection
    from tfctl.policy.scrub import message_scrubber

    selected = selection(namespaces, all_namespaces)
    read = read_policy(policy, namespaces=selected, data=data)  # exit 2 before terraform runs
    if checker.find_engine() is None:
        raise errors.TfctlError(NO_ENGINE_WARNING)
    ref = PolicyRef(read.bundle.source, namespaces=selected,
                    data=read.data.sources if read.data else ())  # fmt: skip
    with saved_plan() as (plan_json, secrets):
        report = checker.check([ref], plan_json)
    return report.scrubbed(message_scrubber(secrets))


def _changed(row: PolicyAttachment) -> bool | None:
    try:
        policy = load_bundle(Path(row.source)).sha256 != row.sha256
        documents = load_data([Path(p) for p in row.data_sources or ()])
    except errors.InvalidInput:
        return None
    return policy or (documents.sha256 if documents else None) != row.data_sha256
