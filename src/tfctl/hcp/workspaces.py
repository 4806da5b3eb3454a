"""The HCP Terraform workspace behind a tfctl workspace on the `hcp` backend.

tfctl runs terraform itself and HCP Terraform holds the state, so the HCP workspace must run
in execution mode `local`: `workspace create` (and `update`, when the HCP workspace changes)
creates it in that mode when it is missing, refuses one that runs terraform in HCP (`remote`,
`agent`) with what to change, and records its id in the workspace's backend settings
(`workspace_id`; the `cloud` block does not render it). Before a run's `terraform init`,
`check_ready` refuses a workspace that is gone, replaced, switched to remote execution, or
locked (naming who holds it). After an apply, `compare_state` reads HCP's current state
version to compare it with the one tfctl recorded.

The token is the one terraform itself will use (`credentials.terraform_token`), so tfctl
never passes a check that terraform then fails. Every HCP Terraform error leaves here as one
line naming the tfctl workspace, the HCP organization and workspace, and what to do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tfctl import errors
from tfctl.hcp.credentials import (
    DEFAULT_HOSTNAME,
    Token,
    missing_terraform_token_message,
    normalize_hostname,
    terraform_token,
)
from tfctl.hcp.errors import (
    HcpAuthError,
    HcpError,
    HcpInvalidRequest,
    HcpNotFound,
    HcpRateLimited,
    HcpUnavailable,
)

if TYPE_CHECKING:
    from tfctl.hcp.client import HcpClient
    from tfctl.hcp.models import Workspace as HcpWorkspace
    from tfctl.settings import Settings

#: Execution modes in which HCP Terraform, not tfctl, runs terraform.
REMOTE_MODES: Final = frozenset({"remote", "agent"})
#: The settings that name the HCP workspace; when one changes, it is another workspace.
IDENTITY: Final = ("hostname", "organization", "workspace")
#: The setting tfctl records the HCP workspace's id in.
WORKSPACE_ID: Final = "workspace_id"


@dataclass(frozen=True, slots=True)
class HcpTarget:
    """Which HCP workspace a tfctl workspace's settings name, and where."""

    tfctl_workspace: str
    hostname: str
    organization: str
    workspace: str
    project: str | None = None
    workspace_id: str | None = None

    @classmethod
    def of(cls, name: str, config: Mapping[str, Any], settings: Settings) -> HcpTarget:
        """The target of workspace `name`; the host is the settings' `hostname`, else
        `TFCTL_HCP_HOSTNAME` (Terraform Enterprise), else app.terraform.io."""
        hostname = config.get("hostname") or settings.hcp_hostname or DEFAULT_HOSTNAME
        return cls(
            tfctl_workspace=name,
            hostname=normalize_hostname(str(hostname)),
            organization=str(config.get("organization", "")),
            workspace=str(config.get("workspace", "")),
            project=config.get("project"),
            workspace_id=config.get(WORKSPACE_ID),
        )

    @property
    def where(self) -> str:
        return (
            f"HCP Terraform workspace '{self.workspace}' of organization "
            f"'{self.organization}' on {self.hostname}"
        )


@dataclass(frozen=True, slots=True)
class StateMatch:
    """HCP's current state version against the one tfctl recorded after an apply."""

    state_version_id: str | None
    serial: int | None
    lineage: str | None
    matches: bool


# --- workspace create and update -----------------------------------------------------------------


def bind_workspace(
    name: str,
    backend: str,
    config: dict[str, Any],
    *,
    previous: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """`config` with the HCP workspace's id (and `TFCTL_HCP_HOSTNAME` as `hostname`, when it
    named the host), after making sure that workspace exists in execution mode `local`.

    Any backend but `hcp` is returned as it is, and so is an `hcp` config whose HCP workspace
    is the `previous` one with its id already recorded (no request is made). Raises
    `InvalidInput` for a workspace in remote or agent execution mode, `HcpAuthError` without
    a token terraform would find, and another `HcpError` when HCP Terraform refuses."""
    if backend != "hcp":
        return config
    if previous and config.get(WORKSPACE_ID) and _same_workspace(config, previous):
        return config
    settings = settings or _settings()
    target = HcpTarget.of(name, config, settings)
    with _connected(target, settings, doing="setting up") as client:
        remote = ensure_workspace(client, target)
    bound = {**config, WORKSPACE_ID: remote.id}
    if "hostname" not in config and target.hostname != DEFAULT_HOSTNAME:
        bound["hostname"] = target.hostname  # rendered, so terraform goes to the same host
    return bound


def ensure_workspace(client: HcpClient, target: HcpTarget) -> HcpWorkspace:
    """The HCP workspace `target` names, created in execution mode `local` (in its project,
    if one is named) when it is missing; `InvalidInput` when it runs terraform in HCP."""
    try:
        remote = client.get_workspace(target.organization, target.workspace)
    except HcpNotFound:
        remote = _create(client, target)
    _refuse_remote_execution(target, remote)
    return remote


def _create(client: HcpClient, target: HcpTarget) -> HcpWorkspace:
    project_id = None
    if target.project:
        project_id = client.find_project_id(target.organization, target.project)
        if project_id is None:
            raise errors.InvalidInput(
                f"workspace '{target.tfctl_workspace}': organization '{target.organization}' "
                f"on {target.hostname} has no project '{target.project}'; create it in HCP "
                "Terraform, or drop --backend-config project"
            )
    try:
        return client.create_workspace(
            target.organization,
            target.workspace,
            execution_mode="local",
            project_id=project_id,
            description=f"State of tfctl workspace {target.tfctl_workspace}",
        )
    except HcpInvalidRequest:  # created meanwhile (name taken): use that one
        return client.get_workspace(target.organization, target.workspace)


def _refuse_remote_execution(target: HcpTarget, remote: HcpWorkspace) -> None:
    if remote.execution_mode not in REMOTE_MODES:
        return
    raise errors.InvalidInput(
        f"workspace '{target.tfctl_workspace}': {target.where} runs terraform in HCP "
        f"(execution mode {remote.execution_mode}), but tfctl runs terraform itself and keeps "
        "only the state there; set its execution mode to local (HCP Terraform: the "
        "workspace's Settings > General > Execution Mode > Local), or name another workspace "
        "with --backend-config workspace=NAME"
    )


def _same_workspace(config: Mapping[str, Any], previous: Mapping[str, Any]) -> bool:
    named = all(config.get(key) == previous.get(key) for key in IDENTITY)
    return named and config.get(WORKSPACE_ID) == previous.get(WORKSPACE_ID)


# --- runs ---------------------------------------------------------------------------------------


def check_ready(name: str, config: Mapping[str, Any], settings: Settings) -> HcpWorkspace:
    """Before `terraform init`: the HCP workspace exists, is the one tfctl recorded, runs
    terraform locally and is unlocked. Raises `InvalidInput` (exit 2) for a missing,
    replaced or remote-execution workspace, `StateLocked` (exit 1) naming who holds the lock,
    and the `HcpError` (one line) when HCP Terraform cannot answer."""
    target = HcpTarget.of(name, config, settings)
    with _connected(target, settings, doing="checking") as client:
        try:
            remote = client.get_workspace(target.organization, target.workspace)
        except HcpNotFound as exc:
            raise _gone(target) from exc
        _refuse_replaced(target, remote)
        _refuse_remote_execution(target, remote)
        if remote.locked:
            holder = _holder(client, remote)
            raise errors.StateLocked(
                f"workspace '{name}': {target.where} is locked by {holder}; wait for it to be "
                "unlocked, or unlock it in HCP Terraform (the workspace's Settings > Locking), "
                "then run again",
                holder=holder,
                workspace=name,
            )
    return remote


def _gone(target: HcpTarget) -> errors.InvalidInput:
    return errors.InvalidInput(
        f"workspace '{target.tfctl_workspace}': {target.where} does not exist (or the token "
        "may not see it); terraform would create it to run in HCP. Create it again in "
        f"execution mode local with `tfctl workspace update {target.tfctl_workspace} "
        f"--unset-backend-config {WORKSPACE_ID}`"
    )


def _refuse_replaced(target: HcpTarget, remote: HcpWorkspace) -> None:
    if target.workspace_id is None or remote.id == target.workspace_id:
        return
    raise errors.InvalidInput(
        f"workspace '{target.tfctl_workspace}': {target.where} is now {remote.id}, not the "
        f"{target.workspace_id} tfctl recorded: it was deleted and made again, and its state "
        "is not the one tfctl recorded. If that is what you want, record the new one with "
        f"`tfctl workspace update {target.tfctl_workspace} --unset-backend-config "
        f"{WORKSPACE_ID}`"
    )


def _holder(client: HcpClient, remote: HcpWorkspace) -> str:
    """Who holds the lock, in words: `user alice`, `run run-…`, `team team-…`."""
    if remote.locked_by is None:
        return "someone (HCP Terraform does not say who)"
    kind, ident = remote.locked_by
    if kind == "users":
        try:
            return f"user {client.get_user_name(ident) or ident}"
        except HcpError:
            return f"user {ident}"
    return f"{kind.removesuffix('s')} {ident}"


def compare_state(
    name: str, config: Mapping[str, Any], settings: Settings, *, serial: int, lineage: str
) -> StateMatch:
    """HCP's current state version of the workspace, compared with the `serial` and
    `lineage` of the state tfctl recorded. HCP Terraform's API does not report a state's
    lineage, so it is read from the state itself (downloaded, parsed, dropped: it holds
    secrets). `HcpError` (one line) when HCP Terraform cannot answer."""
    target = HcpTarget.of(name, config, settings)
    with _connected(target, settings, doing="reading the current state of") as client:
        remote_id = (
            target.workspace_id or client.get_workspace(target.organization, target.workspace).id
        )
        try:
            current = client.current_state_version(remote_id, with_outputs=False)
        except HcpNotFound:
            return StateMatch(None, None, None, matches=False)
        found_lineage = current.lineage
        if found_lineage is None:
            found_lineage = _lineage_of(client.download_state(current))
    same = (current.serial, found_lineage) == (serial, lineage)
    return StateMatch(current.id, current.serial, found_lineage, matches=same)


def _lineage_of(raw_state: bytes) -> str | None:
    try:
        document = json.loads(raw_state)
    except ValueError:
        return None
    found = document.get("lineage") if isinstance(document, dict) else None
    return str(found) if found else None


# --- doctor ------------------------------------------------------------------------------------


def check_organizations(
    workspaces: Iterable[tuple[str, Mapping[str, Any]]], settings: Settings
) -> dict[str, Any] | None:
    """`tfctl doctor`'s HCP section for the `(name, backend settings)` of the workspaces on
    the `hcp` backend: for each host and organization they name, whether HCP Terraform
    answers and the token may see the organization, with HCP's error if not. None when
    there are no such workspaces."""
    named: dict[tuple[str, str], list[HcpTarget]] = {}
    for name, config in workspaces:
        target = HcpTarget.of(name, config, settings)
        named.setdefault((target.hostname, target.organization), []).append(target)
    if not named:
        return None
    checks = [
        {"hostname": host, "organization": organization,
         "workspaces": [t.tfctl_workspace for t in targets],
         **check_access(targets[0], settings)}
        for (host, organization), targets in sorted(named.items())
    ]  # fmt: skip
    report: dict[str, Any] = {"ok": all(check["ok"] for check in checks), "organizations": checks}
    if not report["ok"]:
        report["error"] = "; ".join(check["error"] for check in checks if not check["ok"])
    return report


def check_access(target: HcpTarget, settings: Settings) -> dict[str, Any]:
    """Whether HCP Terraform answers and the token may see the organization: `{"ok": True}`,
    or `{"ok": False, "error": <one line>}`. Never raises."""
    try:
        with _connected(target, settings, doing="reaching") as client:
            client.get_organization(target.organization)
    except errors.TfctlError as exc:
        return {"ok": False, "error": exc.message}
    return {"ok": True}


# --- connecting, and what an error says -------------------------------------------------------


@contextmanager
def _connected(target: HcpTarget, settings: Settings, *, doing: str) -> Iterator[HcpClient]:
    """A client for the target's host with the token terraform will use; every `HcpError`
    raised inside becomes one line saying what failed, with what, and what to do."""
    from tfctl.hcp.client import HcpClient

    token = _token(target, settings)
    try:
        with HcpClient(token.value, base_url=target.hostname, sleep=_pause) as client:
            yield client
    except HcpError as exc:
        raise _explained(exc, target, token, doing) from exc


def _token(target: HcpTarget, settings: Settings) -> Token:
    config_file = _cli_config_file(settings)
    found = terraform_token(target.hostname, cli_config_file=config_file)
    if found is None:
        missing = missing_terraform_token_message(target.hostname, cli_config_file=config_file)
        raise HcpAuthError(
            f"workspace '{target.tfctl_workspace}' (HCP Terraform organization "
            f"'{target.organization}', workspace '{target.workspace}'): {missing}"
        )
    return found


def _explained(exc: HcpError, target: HcpTarget, token: Token, doing: str) -> HcpError:
    said = f"{exc.status} {exc.title or ''}".strip() if exc.status else exc.message
    if exc.detail and exc.detail != exc.title:
        said += f": {exc.detail}"
    message = (
        f"workspace '{target.tfctl_workspace}': {doing} {target.where} failed ({said}); "
        f"{_what_to_do(exc, target, token)}"
    )
    return type(exc)(
        " ".join(message.split()), status=exc.status, title=exc.title, detail=exc.detail
    )


def _what_to_do(exc: HcpError, target: HcpTarget, token: Token) -> str:
    if isinstance(exc, HcpAuthError):
        return (
            f"check the API token from {token.source}: it must be valid for {target.hostname} "
            f"and may use organization '{target.organization}'"
        )
    if isinstance(exc, HcpNotFound):
        return (
            f"check the organization name '{target.organization}' and that the token's user "
            "belongs to it (HCP Terraform answers 404 for what a token may not see)"
        )
    if isinstance(exc, HcpUnavailable):
        return (
            f"check that {target.hostname} is reachable from here (TFCTL_HCP_HOSTNAME or "
            "--backend-config hostname for Terraform Enterprise), then try again"
        )
    if isinstance(exc, HcpRateLimited):
        return "wait a minute, then try again"
    if isinstance(exc, HcpInvalidRequest):
        return "fix what HCP Terraform names, then try again"
    return "try again; if it keeps failing, check HCP Terraform's status page"


def _cli_config_file(settings: Settings) -> Path | None:
    """The CLI configuration file terraform runs are given (and so the only one they read)."""
    from tfctl.settings import terraform_cli_config

    found = terraform_cli_config(settings)
    return Path(found[1]) if found else None


def _settings() -> Settings:
    from tfctl.settings import get_settings

    return get_settings()


def _pause(seconds: float) -> None:
    """Between retries (tests make it instant)."""
    time.sleep(seconds)
