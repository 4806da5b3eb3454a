"""`HcpClient`: HCP Terraform (and Terraform Enterprise) API v2 over httpx, without an HCP SDK.

The `hcp` backend manages workspaces and runs through this client. Importing it needs no
credentials: the token is looked up (`TFE_TOKEN`, `TF_TOKEN_<host>`, then terraform's
`~/.terraform.d/credentials.tfrc.json`) when the first request needs it, and a missing token is
an `HcpAuthError` (exit 2) naming those places. Nothing on the `tfctl --help` path imports this
module, so httpx stays unloaded there.

Every failure is an `HcpError` subclass (see `tfctl.hcp.errors`); retries and rate limits are
handled in `tfctl.hcp.session`. Tests pass `transport=httpx.MockTransport(...)` and a fake
`sleep`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote

import httpx

from tfctl import __version__, errors
from tfctl.hcp.credentials import (
    DEFAULT_HOSTNAME,
    Token,
    checked_token,
    find_token,
    hostname_of,
    missing_token_message,
    normalize_base_url,
)
from tfctl.hcp.errors import (
    HcpAuthError,
    HcpConflict,
    HcpError,
    HcpInvalidRequest,
    HcpNotFound,
    HcpNotReady,
    HcpRateLimited,
    HcpUnavailable,
)
from tfctl.hcp.models import (
    FINAL_RUN_STATUSES,
    ConfigurationVersion,
    Organization,
    Run,
    StateOutput,
    StateVersion,
    Workspace,
)
from tfctl.hcp.models import attributes as models_attributes
from tfctl.hcp.session import (
    API_PATH,
    JSONAPI,
    HcpSession,
    RetryPolicy,
    json_document,
    resource_of,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "FINAL_RUN_STATUSES",
    "ConfigurationVersion",
    "HcpAuthError",
    "HcpClient",
    "HcpConflict",
    "HcpError",
    "HcpInvalidRequest",
    "HcpNotFound",
    "HcpNotReady",
    "HcpRateLimited",
    "HcpUnavailable",
    "Organization",
    "Run",
    "StateOutput",
    "StateVersion",
    "Workspace",
]

DEFAULT_BASE_URL: Final = f"https://{DEFAULT_HOSTNAME}"


def _path(*segments: str) -> str:
    """An API path from ids and names, each percent-encoded so none can change the path."""
    if not all(segments):
        raise errors.InvalidInput(f"an HCP Terraform id or name is empty in {segments!r}")
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def _data(kind: str, attributes: dict[str, Any], **related: str | None) -> dict[str, Any]:
    """A JSON:API request document; `related` maps relationship names (whose resource type is
    the name plus "s", as in `workspace` → `workspaces`) to ids; None ids are left out."""
    relationships = {
        name: {"data": {"type": f"{name}s", "id": ident}}
        for name, ident in related.items()
        if ident
    }
    data: dict[str, Any] = {"type": kind, "attributes": attributes}
    if relationships:
        data["relationships"] = relationships
    return {"data": data}


class HcpClient:
    """A client for one HCP Terraform or Terraform Enterprise host.

    `token`: the API token; when None or empty it is looked up for the host (`TFE_TOKEN`,
    `TF_TOKEN_<host>`, terraform's credentials file) when a request first needs it.
    `base_url`: `https://app.terraform.io` by default; a Terraform Enterprise URL or bare
    hostname also works. `transport`, `sleep`: seams for tests. `max_retries`: retries of a
    rate-limited request, and of an idempotent one that failed with a 5xx or a transport error.
    `timeout`: seconds per HTTP request. Use as a context manager, or call `close()`.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 4,
        timeout: float = 30.0,
    ) -> None:
        if max_retries < 0 or timeout <= 0:
            raise errors.InvalidInput("max_retries must be >= 0 and timeout > 0")
        self.base_url = normalize_base_url(base_url)
        self.hostname = hostname_of(self.base_url)
        self._given = Token(token, "the token given to HcpClient") if token else None
        self._token: Token | None = None
        client = httpx.Client(
            base_url=self.base_url + API_PATH,
            transport=transport,
            timeout=timeout,
            follow_redirects=False,  # redirects go to pre-signed URLs: followed by hand, no token
            headers={"User-Agent": f"tfctl/{__version__}", "Accept": JSONAPI},
        )
        self._session = HcpSession(
            client=client,
            origin=self.base_url,
            token=self._resolve_token,
            policy=RetryPolicy(max_retries=max_retries),
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"HcpClient(base_url={self.base_url!r})"

    def __enter__(self) -> HcpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    def _resolve_token(self) -> Token:
        """The token, found and checked on first use; `HcpAuthError` when there is none."""
        if self._token is None:
            found = self._given or find_token(self.hostname)
            if found is None:
                raise HcpAuthError(missing_token_message(self.hostname))
            self._token = checked_token(found)
        return self._token

    def _get(self, path: str) -> Mapping[str, Any]:
        return resource_of(self._session.get_json(path))

    def _post(self, path: str, body: dict[str, Any] | None) -> Mapping[str, Any]:
        return resource_of(json_document(self._session.api("POST", path, body=body)))

    # --- organizations, projects, users --------------------------------------------------

    def get_organization(self, name: str) -> Organization:
        """The organization; `HcpNotFound` if there is none or the token may not see it."""
        return Organization.from_resource(self._get(_path("organizations", name)))

    def find_project_id(self, organization: str, name: str) -> str | None:
        """The id of the organization's project called `name`, or None."""
        path = _path("organizations", organization, "projects")
        for resource in self._session.iter_resources(path, {"filter[names]": name}):
            if models_attributes(resource).get("name") == name:
                return str(resource["id"])
        return None

    def get_user_name(self, user_id: str) -> str:
        """A user's username."""
        return str(models_attributes(self._get(_path("users", user_id))).get("username") or "")

    # --- workspaces ---------------------------------------------------------------------

    def get_workspace(self, organization: str, name: str) -> Workspace:
        """The workspace `name` of `organization`; `HcpNotFound` if there is none (or the
        token may not see it)."""
        return Workspace.from_resource(
            self._get(_path("organizations", organization, "workspaces", name))
        )

    def get_workspace_by_id(self, workspace_id: str) -> Workspace:
        return Workspace.from_resource(self._get(_path("workspaces", workspace_id)))

    def list_workspaces(
        self, organization: str, *, search: str | None = None
    ) -> Iterator[Workspace]:
        """Every workspace of `organization` (whose name contains `search`), page by page."""
        params = {"search[name]": search} if search else None
        path = _path("organizations", organization, "workspaces")
        return (Workspace.from_resource(r) for r in self._session.iter_resources(path, params))

    def create_workspace(
        self,
        organization: str,
        name: str,
        *,
        terraform_version: str | None = None,
        auto_apply: bool = False,
        execution_mode: str | None = None,
        description: str | None = None,
        project_id: str | None = None,
    ) -> Workspace:
        """Create a workspace; a taken name is `HcpInvalidRequest` (the API answers 422)."""
        optional = {
            "terraform-version": terraform_version,
            "execution-mode": execution_mode,
            "description": description,
        }
        attributes = {"name": name, "auto-apply": auto_apply}
        attributes.update({key: value for key, value in optional.items() if value is not None})
        body = _data("workspaces", attributes, project=project_id)
        path = _path("organizations", organization, "workspaces")
        return Workspace.from_resource(self._post(path, body))

    def lock_workspace(self, workspace_id: str, *, reason: str = "") -> Workspace:
        """Lock the workspace; `HcpConflict` if it is already locked."""
        return self._workspace_action(workspace_id, "lock", {"reason": reason})

    def unlock_workspace(self, workspace_id: str) -> Workspace:
        """Unlock the workspace; `HcpConflict` if it is unlocked or locked by someone else."""
        return self._workspace_action(workspace_id, "unlock")

    def force_unlock_workspace(self, workspace_id: str) -> Workspace:
        """Unlock whoever holds the lock (needs admin access); `HcpConflict` if unlocked."""
        return self._workspace_action(workspace_id, "force-unlock")

    def _workspace_action(
        self, workspace_id: str, action: str, body: dict[str, Any] | None = None
    ) -> Workspace:
        path = _path("workspaces", workspace_id, "actions", action)
        return Workspace.from_resource(self._post(path, body))

    # --- configuration versions -------------------------------------------------------------

    def create_configuration_version(
        self, workspace_id: str, *, auto_queue_runs: bool = False, speculative: bool = False
    ) -> ConfigurationVersion:
        """A new, pending configuration version, with the `upload_url` to upload it to.

        `auto_queue_runs` is off by default so that the caller creates the run, with its own
        message and options, once the upload is done."""
        attributes = {"auto-queue-runs": auto_queue_runs, "speculative": speculative}
        body = _data("configuration-versions", attributes)
        path = _path("workspaces", workspace_id, "configuration-versions")
        return ConfigurationVersion.from_resource(self._post(path, body))

    def get_configuration_version(self, configuration_version_id: str) -> ConfigurationVersion:
        """The configuration version; its status is `uploaded` once a run may use it."""
        path = _path("configuration-versions", configuration_version_id)
        return ConfigurationVersion.from_resource(self._get(path))

    def upload_configuration(
        self, configuration_version: ConfigurationVersion, archive: bytes | Path
    ) -> None:
        """PUT a `.tar.gz` of the configuration (bytes, or a file) to the version's upload URL.

        `InvalidInput` when the version carries no upload URL: the API returns it only from
        `create_configuration_version`."""
        if not configuration_version.upload_url:
            raise errors.InvalidInput(
                f"configuration version {configuration_version.id} has no upload URL; "
                "upload right after create_configuration_version"
            )
        content = archive.read_bytes() if isinstance(archive, Path) else archive
        self._session.blob(
            "PUT",
            configuration_version.upload_url,
            content=content,
            content_type="application/octet-stream",
        )

    # --- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        workspace_id: str,
        *,
        configuration_version_id: str | None = None,
        message: str | None = None,
        is_destroy: bool = False,
        refresh_only: bool = False,
        auto_apply: bool | None = None,
        plan_only: bool | None = None,
    ) -> Run:
        """Queue a run. Without `configuration_version_id` it uses the workspace's latest one;
        `auto_apply`/`plan_only` None leave the workspace's setting. Never retried after it may
        have reached the server, so a run is never created twice."""
        if is_destroy and refresh_only:
            raise errors.InvalidInput("a run cannot be both a destroy and a refresh-only run")
        attributes: dict[str, Any] = {"is-destroy": is_destroy, "refresh-only": refresh_only}
        optional = {"message": message, "auto-apply": auto_apply, "plan-only": plan_only}
        attributes.update({key: value for key, value in optional.items() if value is not None})
        body = _data(
            "runs",
            attributes,
            workspace=workspace_id,
            **{"configuration-version": configuration_version_id},
        )
        return Run.from_resource(self._post("/runs", body))

    def get_run(self, run_id: str) -> Run:
        return Run.from_resource(self._get(_path("runs", run_id)))

    def apply_run(self, run_id: str, *, comment: str | None = None) -> None:
        """Confirm a run waiting for it; `HcpConflict` if the run is not confirmable."""
        self._run_action(run_id, "apply", comment)

    def discard_run(self, run_id: str, *, comment: str | None = None) -> None:
        """Skip the rest of a run waiting for confirmation; `HcpConflict` if it is not."""
        self._run_action(run_id, "discard", comment)

    def cancel_run(self, run_id: str, *, comment: str | None = None) -> None:
        """Interrupt a planning or applying run (terraform gets SIGINT and stops safely)."""
        self._run_action(run_id, "cancel", comment)

    def force_cancel_run(self, run_id: str, *, comment: str | None = None) -> None:
        """End a run at once after `cancel_run` and its cool-off; in-flight state may be lost."""
        self._run_action(run_id, "force-cancel", comment)

    def _run_action(self, run_id: str, action: str, comment: str | None) -> None:
        body = {"comment": comment} if comment else None
        self._session.api("POST", _path("runs", run_id, "actions", action), body=body)

    # --- state ------------------------------------------------------------------------------

    def current_state_version(
        self, workspace_id: str, *, reveal_sensitive: bool = False, with_outputs: bool = True
    ) -> StateVersion:
        """The workspace's current state version with its outputs (none fetched unless
        `with_outputs`); `HcpNotFound` also when the workspace has no state yet. Sensitive
        values stay `REDACTED` unless `reveal_sensitive`."""
        path = _path("workspaces", workspace_id, "current-state-version")
        resource = self._get(path)
        if not with_outputs:
            return StateVersion.from_resource(resource)
        outputs = self.state_version_outputs(resource["id"], reveal_sensitive=reveal_sensitive)
        return StateVersion.from_resource(resource, tuple(outputs))

    def download_state(self, state_version: StateVersion) -> bytes:
        """The raw state of a state version (as `terraform state pull` prints it), from its
        pre-signed download URL. It holds secrets in clear text: keep it out of logs."""
        if not state_version.download_url:
            raise HcpNotReady(
                f"HCP Terraform: state version {state_version.id} has no download URL yet"
            )
        return self._session.blob("GET", state_version.download_url).content

    def state_version_outputs(
        self, state_version_id: str, *, reveal_sensitive: bool = False
    ) -> Iterator[StateOutput]:
        """The outputs of a state version, page by page. A sensitive value is fetched (one
        request each) only when `reveal_sensitive`; otherwise it is `REDACTED`."""
        path = _path("state-versions", state_version_id, "outputs")
        for resource in self._session.iter_resources(path):
            output = StateOutput.from_resource(resource, reveal=reveal_sensitive)
            if output.sensitive and reveal_sensitive and output.value is None:
                output = self._revealed_output(output.id)
            yield output

    def _revealed_output(self, output_id: str) -> StateOutput:
        resource = self._get(_path("state-version-outputs", output_id))
        return StateOutput.from_resource(resource, reveal=True)

    # --- plans ------------------------------------------------------------------------------

    def plan_json(self, plan_id: str) -> bytes:
        """The plan's JSON (as `terraform show -json` prints it), following the redirect to a
        short-lived download URL. `HcpNotReady` while the plan has not finished."""
        response = self._session.api("GET", _path("plans", plan_id, "json-output"))
        if response.status_code == 204:
            raise HcpNotReady(f"HCP Terraform: plan {plan_id} has no JSON output yet", status=204)
        if response.is_redirect:
            response = self._session.follow(response)
        return response.content

    def save_plan_json(self, plan_id: str, path: Path) -> Path:
        """Write the plan's JSON to `path` (atomically: a partial file never appears)."""
        content = self.plan_json(plan_id)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
