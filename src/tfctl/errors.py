"""Every error tfctl raises on purpose.

One root, `TfctlError`, carries the process exit code; the CLI entry point is the only place
that turns an error into a message and an exit status. A subclass's docstring is its default
message, so `raise StackNotFound()` already says something useful, and
`raise StackNotFound("no stack named 'web'; ...")` says more.

Exit codes follow DESIGN.md: 1 a run or terraform failed, 2 bad usage or invalid input,
3 blocked by policy, 4 cancelled or halted.
"""

from __future__ import annotations

from typing import ClassVar


class TfctlError(Exception):
    """tfctl failed.

    Besides its message, an error carries the facts it is about as fields, for front ends
    that answer with more than text (the API's error objects): `workspace`, `run_id`."""

    exit_code: ClassVar[int] = 1

    def __init__(
        self,
        message: str | None = None,
        *,
        workspace: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self.message = message or (self.__doc__ or type(self).__name__).strip()
        self.workspace = workspace
        self.run_id = run_id
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


# --- exit code 2: the user's input is wrong ------------------------------------------------


class InvalidInput(TfctlError):
    """Invalid input."""

    exit_code: ClassVar[int] = 2


class SpecFileError(InvalidInput):
    """The spec file cannot be read."""


class InvalidSpec(InvalidInput):
    """The spec is not valid."""


class NotFound(InvalidInput):
    """Not found."""


class StackNotFound(NotFound):
    """No such stack; `tfctl stack list` shows the stacks, `tfctl stack push FILE` adds one."""


class SpecVersionNotFound(NotFound):
    """No such version of the stack; `tfctl stack show NAME` shows the latest."""


class WorkspaceNotFound(NotFound):
    """No such workspace; `tfctl workspace list` shows the workspaces."""


class RunNotFound(NotFound):
    """No such run; `tfctl runs list` shows the runs."""


class AlreadyExists(InvalidInput):
    """It already exists."""


class InvalidSetting(InvalidInput):
    """A setting has an invalid value."""


# --- the store -------------------------------------------------------------------------------


class StoreError(TfctlError):
    """The job store failed."""


class StoreUnavailable(StoreError):
    """The job store cannot be reached; check TFCTL_DATABASE_URL and `tfctl doctor`."""


class SchemaTooNew(StoreError):
    """The store was migrated by a newer tfctl; upgrade tfctl to use it."""

    exit_code: ClassVar[int] = 2


class SchemaOutdated(StoreError):
    """The store's schema is older than this tfctl; run `tfctl db upgrade`."""

    exit_code: ClassVar[int] = 2


# --- terraform -------------------------------------------------------------------------------


class TerraformError(TfctlError):
    """terraform failed."""


class TerraformNotFound(TerraformError):
    """The terraform binary was not found; install it or set TFCTL_TERRAFORM_BIN."""

    exit_code: ClassVar[int] = 2


class TerraformTooOld(TerraformError):
    """The terraform binary is too old for tfctl."""

    exit_code: ClassVar[int] = 2


class TerraformTimeout(TerraformError):
    """terraform did not finish in time and was stopped."""


class TerraformCancelled(TerraformError):
    """terraform was interrupted: the run was cancelled or halted."""

    exit_code: ClassVar[int] = 4


class StateLocked(TerraformError):
    """The workspace's state is locked by another operation. Its facts: `lock_id`, `holder`
    (terraform's "Who"), `since`, `operation` — None when terraform did not say."""

    def __init__(
        self,
        message: str | None = None,
        *,
        lock_id: str | None = None,
        holder: str | None = None,
        since: str | None = None,
        operation: str | None = None,
        workspace: str | None = None,
        run_id: str | None = None,
    ) -> None:
        super().__init__(message, workspace=workspace, run_id=run_id)
        self.lock_id, self.holder, self.since, self.operation = lock_id, holder, since, operation


class StalePlan(TerraformError):
    """The saved plan is stale: the state changed after it was made. Run a new plan."""


class MissingVariable(TerraformError):
    """A required terraform variable has no value; set it with `--var NAME=VALUE`."""

    exit_code: ClassVar[int] = 2


class InvalidConfiguration(TerraformError):
    """The terraform configuration is invalid."""

    exit_code: ClassVar[int] = 2


class InitFailed(TerraformError):
    """`terraform init` failed."""


# --- runs --------------------------------------------------------------------------------


class RunError(TfctlError):
    """The run cannot proceed."""


class RunRefused(RunError):
    """The run was refused."""

    exit_code: ClassVar[int] = 2


class WorkspaceBusy(RunError):
    """Another state-changing run holds the workspace; wait for it, or pass --queue."""


class ConfirmationRequired(RunRefused):
    """Applying a destroy plan needs the workspace's name typed again (`--confirm NAME`)."""


class PlanMismatch(RunRefused):
    """The plan is not the one that was reviewed: its SHA-256 differs."""


class PolicyBlocked(RunError):
    """The plan is blocked by policy."""

    exit_code: ClassVar[int] = 3


class Cancelled(RunError):
    """The run was cancelled."""

    exit_code: ClassVar[int] = 4
