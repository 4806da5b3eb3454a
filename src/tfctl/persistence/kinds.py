"""Enumerations shared by the store and the spec: the one list of module kinds, and statuses.

This module imports nothing heavy, so the spec and the CLI can use it without pulling in
SQLAlchemy.
"""

from __future__ import annotations

from enum import StrEnum


class ModuleKind(StrEnum):
    """What a stack deploys; selects the template family (DESIGN.md "Code generation")."""

    STORAGE = "storage"
    FAAS = "faas"
    AGENTS = "agents"
    SECRETS = "secrets"
    GENERIC = "generic"


#: The module kinds, in the order they are documented. The one list every layer uses.
MODULE_KINDS: tuple[str, ...] = tuple(kind.value for kind in ModuleKind)


class Cloud(StrEnum):
    AWS = "aws"
    GCP = "gcp"
    AZURE = "azure"
    LOCAL = "local"


class Backend(StrEnum):
    """Where a workspace keeps its terraform state."""

    LOCAL = "local"
    S3 = "s3"
    AZURERM = "azurerm"
    GCS = "gcs"
    HCP = "hcp"


BACKENDS: tuple[str, ...] = tuple(backend.value for backend in Backend)


class Operation(StrEnum):
    """What a run does. A plan run carries its mode; apply runs are children of plan runs."""

    PLAN = "plan"
    APPLY = "apply"


class PlanMode(StrEnum):
    NORMAL = "normal"
    DESTROY = "destroy"
    REFRESH_ONLY = "refresh-only"
    #: A drift assessment (`tfctl drift check`): a normal plan that is never applied.
    ASSESSMENT = "assessment"


class RunStatus(StrEnum):
    """A run's status (DESIGN.md "Lifecycle").

    queued → running → awaiting_approval | no_changes | errored | cancelled; an awaiting plan
    ends applied | discarded | superseded | cancelled; an apply child ends applied | errored |
    cancelled. A drift assessment ends no_changes (in sync) | drifted | superseded (a
    state-changing run overlapped it) | errored | cancelled.
    """

    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    NO_CHANGES = "no_changes"
    DRIFTED = "drifted"
    APPLIED = "applied"
    DISCARDED = "discarded"
    SUPERSEDED = "superseded"
    ERRORED = "errored"
    CANCELLED = "cancelled"
