"""What `HcpClient` returns: small frozen views of HCP Terraform's JSON:API resources.

Each model keeps the fields tfctl uses and is built by `from_resource` from one resource object
(`{"id", "type", "attributes", "relationships"}`). Missing attributes take neutral defaults, so
an older Terraform Enterprise that lacks a newer attribute still parses. Secrets stay out of
reprs: a configuration version's pre-signed upload URL, and sensitive output values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from tfctl.terraform.redact import REDACTED

Resource = Mapping[str, Any]

#: Run statuses after which nothing more happens to the run.
FINAL_RUN_STATUSES: Final = frozenset(
    {
        "applied",
        "planned_and_finished",
        "discarded",
        "errored",
        "canceled",
        "force_canceled",
        "policy_soft_failed",
    }
)


def attributes(resource: Resource) -> Mapping[str, Any]:
    value = resource.get("attributes")
    return value if isinstance(value, Mapping) else {}


def related_id(resource: Resource, name: str) -> str | None:
    """The id in `relationships.<name>.data`, or None when the relationship is empty."""
    relationships = resource.get("relationships")
    link = relationships.get(name) if isinstance(relationships, Mapping) else None
    data = link.get("data") if isinstance(link, Mapping) else None
    found = data.get("id") if isinstance(data, Mapping) else None
    return str(found) if found is not None else None


def related_ref(resource: Resource, name: str) -> tuple[str, str] | None:
    """`(type, id)` of `relationships.<name>.data`, e.g. `("users", "user-…")`, or None."""
    relationships = resource.get("relationships")
    link = relationships.get(name) if isinstance(relationships, Mapping) else None
    data = link.get("data") if isinstance(link, Mapping) else None
    if not isinstance(data, Mapping) or data.get("id") is None:
        return None
    return str(data.get("type", "")), str(data["id"])


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    name: str
    organization: str | None
    locked: bool
    terraform_version: str | None
    auto_apply: bool
    execution_mode: str | None
    resource_count: int
    current_run_id: str | None
    current_state_version_id: str | None
    #: who holds the lock: `(type, id)`, the type `users`, `runs` or `teams`
    locked_by: tuple[str, str] | None = None

    @classmethod
    def from_resource(cls, resource: Resource) -> Workspace:
        attrs = attributes(resource)
        return cls(
            id=str(resource["id"]),
            name=str(attrs.get("name", "")),
            organization=related_id(resource, "organization"),
            locked=bool(attrs.get("locked", False)),
            terraform_version=_text(attrs.get("terraform-version")),
            auto_apply=bool(attrs.get("auto-apply", False)),
            execution_mode=_text(attrs.get("execution-mode")),
            resource_count=int(attrs.get("resource-count") or 0),
            current_run_id=related_id(resource, "current-run"),
            current_state_version_id=related_id(resource, "current-state-version"),
            locked_by=related_ref(resource, "locked-by"),
        )


@dataclass(frozen=True, slots=True)
class Organization:
    name: str
    email: str | None

    @classmethod
    def from_resource(cls, resource: Resource) -> Organization:
        attrs = attributes(resource)
        return cls(name=str(attrs.get("name") or resource["id"]), email=_text(attrs.get("email")))


@dataclass(frozen=True, slots=True)
class ConfigurationVersion:
    """`upload_url` is pre-signed, a secret in itself, and only present right after creation."""

    id: str
    status: str
    speculative: bool
    auto_queue_runs: bool
    upload_url: str | None = field(default=None, repr=False)

    @classmethod
    def from_resource(cls, resource: Resource) -> ConfigurationVersion:
        attrs = attributes(resource)
        return cls(
            id=str(resource["id"]),
            status=str(attrs.get("status", "")),
            speculative=bool(attrs.get("speculative", False)),
            auto_queue_runs=bool(attrs.get("auto-queue-runs", False)),
            upload_url=_text(attrs.get("upload-url")),
        )


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    status: str
    message: str | None
    has_changes: bool
    is_destroy: bool
    refresh_only: bool
    plan_only: bool
    auto_apply: bool
    is_confirmable: bool
    is_cancelable: bool
    is_discardable: bool
    is_force_cancelable: bool
    plan_id: str | None
    apply_id: str | None
    workspace_id: str | None
    configuration_version_id: str | None
    created_at: datetime | None

    @property
    def is_final(self) -> bool:
        """True once the run can change no more (applied, errored, discarded, canceled, ...)."""
        return self.status in FINAL_RUN_STATUSES

    @classmethod
    def from_resource(cls, resource: Resource) -> Run:
        attrs = attributes(resource)
        actions = attrs.get("actions")
        act = actions if isinstance(actions, Mapping) else {}
        return cls(
            id=str(resource["id"]),
            status=str(attrs.get("status", "")),
            message=_text(attrs.get("message")),
            has_changes=bool(attrs.get("has-changes", False)),
            is_destroy=bool(attrs.get("is-destroy", False)),
            refresh_only=bool(attrs.get("refresh-only", False)),
            plan_only=bool(attrs.get("plan-only", False)),
            auto_apply=bool(attrs.get("auto-apply", False)),
            is_confirmable=bool(act.get("is-confirmable", False)),
            is_cancelable=bool(act.get("is-cancelable", False)),
            is_discardable=bool(act.get("is-discardable", False)),
            is_force_cancelable=bool(act.get("is-force-cancelable", False)),
            plan_id=related_id(resource, "plan"),
            apply_id=related_id(resource, "apply"),
            workspace_id=related_id(resource, "workspace"),
            configuration_version_id=related_id(resource, "configuration-version"),
            created_at=_timestamp(attrs.get("created-at")),
        )


@dataclass(frozen=True, slots=True)
class StateOutput:
    """One root output. A sensitive output's `value` is `REDACTED` unless it was asked for; its
    repr shows `REDACTED` either way, so a revealed secret never reaches a log by accident."""

    id: str
    name: str
    sensitive: bool
    type: str | None
    value: Any

    def __repr__(self) -> str:
        shown = REDACTED if self.sensitive else self.value
        return (
            f"StateOutput(id={self.id!r}, name={self.name!r}, sensitive={self.sensitive!r}, "
            f"type={self.type!r}, value={shown!r})"
        )

    @classmethod
    def from_resource(cls, resource: Resource, *, reveal: bool = False) -> StateOutput:
        """Built from a `state-version-outputs` resource; a sensitive value is replaced by
        `REDACTED` unless `reveal`, whatever the API returned."""
        attrs = attributes(resource)
        sensitive = bool(attrs.get("sensitive", False))
        value = attrs.get("value")
        return cls(
            id=str(resource["id"]),
            name=str(attrs.get("name", "")),
            sensitive=sensitive,
            type=_text(attrs.get("type")),
            value=REDACTED if sensitive and not reveal else value,
        )


@dataclass(frozen=True, slots=True)
class StateVersion:
    """A workspace's state version. `lineage` is None where the API does not report it;
    `resources_processed` False means HCP Terraform may still be filling in the outputs.
    `download_url` (pre-signed, so kept out of the repr) serves the raw state."""

    id: str
    serial: int
    lineage: str | None
    terraform_version: str | None
    created_at: datetime | None
    resources_processed: bool
    run_id: str | None
    outputs: tuple[StateOutput, ...] = ()
    download_url: str | None = field(default=None, repr=False)

    @property
    def output_values(self) -> dict[str, Any]:
        """`{name: value}`, sensitive values as they are held (redacted unless revealed)."""
        return {output.name: output.value for output in self.outputs}

    @classmethod
    def from_resource(
        cls, resource: Resource, outputs: tuple[StateOutput, ...] = ()
    ) -> StateVersion:
        attrs = attributes(resource)
        return cls(
            id=str(resource["id"]),
            serial=int(attrs.get("serial") or 0),
            lineage=_text(attrs.get("lineage")),
            terraform_version=_text(attrs.get("terraform-version")),
            created_at=_timestamp(attrs.get("created-at")),
            resources_processed=bool(attrs.get("resources-processed", False)),
            run_id=related_id(resource, "run"),
            outputs=outputs,
            download_url=_text(attrs.get("hosted-state-download-url")),
        )
