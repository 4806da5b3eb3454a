"""The job store's tables.

Ids are time-ordered strings (`ids.new_id`) so rows keep their identity when a bootstrap
SQLite store is copied into PostgreSQL. Statuses, kinds and operations are `StrEnum`s from
`kinds`, stored as short strings; the rules about them live in the services, not here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from tfctl.persistence.kinds import Operation, PlanMode, RunStatus
from tfctl.persistence.types import EnumText, JsonDocument, UTCDateTime, utcnow


def _when(*, nullable: bool = False, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=index))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _json(*, nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(JsonDocument, nullable=True))
    return Field(default_factory=dict, sa_column=Column(JsonDocument, nullable=False))


class Stack(SQLModel, table=True):
    """A named stack; its content lives in its versions."""

    __tablename__ = "stacks"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=63, unique=True)
    kind: str = Field(max_length=16)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class SpecVersion(SQLModel, table=True):
    """One version of a stack's spec: a new row only when the canonical hash changes."""

    __tablename__ = "spec_versions"
    __table_args__ = (
        UniqueConstraint("stack_id", "version", name="uq_spec_versions_stack_version"),
        Index("ix_spec_versions_stack_hash", "stack_id", "spec_hash"),
    )

    id: str = Field(primary_key=True, max_length=40)
    stack_id: str = Field(foreign_key="stacks.id", max_length=40, ondelete="CASCADE")
    version: int
    spec_hash: str = Field(max_length=64)
    canonical_json: str = Field(sa_column=Column(Text, nullable=False))
    author: str = Field(max_length=255)
    source: str | None = Field(default=None, max_length=1024)
    created_at: datetime = _when()


class Workspace(SQLModel, table=True):
    """One stack bound to one state: backend, variable overrides, the run that holds it."""

    __tablename__ = "workspaces"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=63, unique=True)
    stack_id: str = Field(foreign_key="stacks.id", max_length=40, index=True)
    backend: str = Field(max_length=16)
    backend_config: dict[str, Any] = _json()
    variables: dict[str, Any] = _json()
    #: `--var-sensitive`: name → encrypted token (tfctl.secrets); never a value in clear text
    sensitive_variables: dict[str, str] = _json()
    locked_by_run_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = _when()
    updated_at: datetime = _when()
    #: Scheduled drift assessments (`--assess-every`) include it; `workspace update --no-assess`.
    assess: bool = True
    #: When a scheduler may assess it next: a worker moves it on to claim an assessment.
    next_assessment_at: datetime | None = _when(nullable=True)


def _id_tail(context: Any) -> str:
    """The end of the new run's id that `Run.id_tail` holds (an INSERT's column default)."""
    return str(context.get_current_parameters()["id"])[-4:]


class Run(SQLModel, table=True):
    """One plan or apply of a workspace, from queued to its final status."""

    __tablename__ = "runs"
    __table_args__ = (
        # newest first, (created_at, id) descending, as keyset pages: one index range per
        # list whatever the filter (persistence/runs.py list_runs; migration 0011)
        Index("ix_runs_created_id", "created_at", "id"),
        Index("ix_runs_workspace_created_id", "workspace_id", "created_at", "id"),
        Index("ix_runs_status_created_id", "status", "created_at", "id"),
        Index("ix_runs_workspace_status_created_id", "workspace_id", "status", "created_at", "id"),
        Index("ix_runs_id_tail", "id_tail"),
    )

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=40)
    spec_version_id: str | None = Field(default=None, foreign_key="spec_versions.id", max_length=40)
    parent_run_id: str | None = Field(
        default=None, foreign_key="runs.id", max_length=40, index=True
    )
    operation: Operation = Field(sa_column=Column(EnumText(Operation, 16), nullable=False))
    plan_mode: PlanMode = Field(
        default=PlanMode.NORMAL, sa_column=Column(EnumText(PlanMode, 16), nullable=False)
    )
    status: RunStatus = Field(sa_column=Column(EnumText(RunStatus, 24), nullable=False))
    actor: str = Field(max_length=255)
    host: str = Field(max_length=255)
    terraform_bin: str | None = Field(default=None, max_length=1024)
    terraform_version: str | None = Field(default=None, max_length=32)
    exit_code: int | None = None
    message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    plan_sha256: str | None = Field(default=None, max_length=64)
    summary: dict[str, Any] | None = _json(nullable=True)
    policy_results: dict[str, Any] | None = _json(nullable=True)
    halted: bool = False
    halt_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    halted_by: str | None = Field(default=None, max_length=255)
    worker: str | None = Field(default=None, max_length=255)
    work_dir: str | None = Field(default=None, max_length=1024)
    auto_apply: bool = False
    #: SHA-256 over what `terraform init` depends on; equal hashes share an initialised
    #: data directory (runs/workdir.py). `reinit`: init again whatever the hash says.
    init_sha256: str | None = Field(default=None, max_length=64)
    reinit: bool = False
    experiment_id: str | None = Field(
        default=None, sa_column=Column(String(255), nullable=True, index=True)
    )
    test_id: str | None = Field(
        default=None, sa_column=Column(String(255), nullable=True, index=True)
    )
    #: The id's last 4 characters, indexed: a run named by the end of its id (as tables
    #: show it) is an index lookup, not a scan of every id. Set on every insert through
    #: SQLAlchemy; NULL only for rows written around it, which lookups still consider.
    id_tail: str | None = Field(
        default=None, sa_column=Column(String(4), nullable=True, default=_id_tail)
    )
    created_at: datetime = _when()
    started_at: datetime | None = _when(nullable=True)
    finished_at: datetime | None = _when(nullable=True)
    heartbeat_at: datetime | None = _when(nullable=True)


class RunLog(SQLModel, table=True):
    """One line of a run's output, so any machine can follow the log (`runs logs --follow`)."""

    __tablename__ = "run_logs"
    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_run_logs_run_seq"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    run_id: str = Field(foreign_key="runs.id", max_length=40, ondelete="CASCADE")
    seq: int
    stream: str = Field(max_length=8)
    line: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _when()


class StateVersion(SQLModel, table=True):
    """A snapshot of a workspace's state after a run: identity and shape, never raw values.

    Sensitive output values are redacted before they reach this row; the raw state (which
    holds secrets in clear text) stays in the backend.
    """

    __tablename__ = "state_versions"
    __table_args__ = (Index("ix_state_versions_workspace_created", "workspace_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=40)
    run_id: str | None = Field(default=None, foreign_key="runs.id", max_length=40, index=True)
    serial: int
    lineage: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    terraform_version: str | None = Field(default=None, max_length=32)
    resource_count: int
    resources: list[str] = Field(
        default_factory=list, sa_column=Column(JsonDocument, nullable=False)
    )
    outputs: dict[str, Any] = _json()
    created_at: datetime = _when()
    #: `hcp` backend: HCP Terraform's state version holding this same state (serial, lineage)
    hcp_state_version_id: str | None = Field(default=None, max_length=64)


class Worker(SQLModel, table=True):
    """A `tfctl worker` process: who it is, where, and whether it is alive (its heartbeat)."""

    __tablename__ = "workers"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=255)
    host: str = Field(max_length=255)
    pid: int
    concurrency: int = 1
    status: str = Field(default="running", max_length=16)
    runs_done: int = 0
    started_at: datetime = _when()
    heartbeat_at: datetime | None = _when(nullable=True, index=True)
    stopped_at: datetime | None = _when(nullable=True)


class RunArtifact(SQLModel, table=True):
    """What an apply needs of a plan's working directory, so another machine can apply it:
    the plan file and rendered configuration (not `.terraform/`, which `init` recreates).

    Plan files carry variable values in clear text; when the plan has sensitive values the
    archive is encrypted with TFCTL_ARTIFACT_KEY, or not stored at all.
    """

    __tablename__ = "run_artifacts"

    run_id: str = Field(foreign_key="runs.id", primary_key=True, max_length=40, ondelete="CASCADE")
    name: str = Field(primary_key=True, max_length=64)
    encrypted: bool = False
    sha256: str = Field(max_length=64)
    size: int
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _when()


class PolicyAttachment(SQLModel, table=True):
    """A Rego policy (one `.rego` file or a directory of them) bound to a workspace with an
    enforcement level (DESIGN.md "Policy gate").

    The policy is stored by its absolute path and re-read at every check; `sha256` is its
    content hash at attach time, so a check can say that the policy changed since. The
    conftest namespaces to read (`namespaces`; NULL: every package, as `--all-namespaces` and
    as attachments made before namespaces were recorded) and the data documents
    (`data_sources`, absolute paths, with their combined hash `data_sha256`) go with it.
    """

    __tablename__ = "policy_attachments"
    __table_args__ = (
        UniqueConstraint("workspace_id", "source", name="uq_policy_attachments_workspace_source"),
    )

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(
        foreign_key="workspaces.id", max_length=40, index=True, ondelete="CASCADE"
    )
    source: str = Field(max_length=1024)
    kind: str = Field(max_length=16)
    level: str = Field(max_length=16)
    sha256: str = Field(max_length=64)
    actor: str = Field(max_length=255)
    created_at: datetime = _when()
    namespaces: list[str] | None = _json(nullable=True)
    data_sources: list[str] | None = _json(nullable=True)
    data_sha256: str | None = Field(default=None, max_length=64)


class ApiToken(SQLModel, table=True):
    """A `tfctl serve` API token: its name (the actor of what it does), its role, and the
    SHA-256 of its secret. The secret itself is shown once, at creation, and never stored."""

    __tablename__ = "api_tokens"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=63, unique=True)
    role: str = Field(max_length=16)
    sha256: str = Field(max_length=64, unique=True)
    created_by: str = Field(max_length=255)
    created_at: datetime = _when()
