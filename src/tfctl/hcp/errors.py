"""The errors `HcpClient` raises, translated from HCP Terraform's JSON:API error bodies.

Every failed request ends as one `HcpError` subclass that carries the HTTP `status` and the
`title` and `detail` of the body's error objects (`{"errors": [{"status", "title", "detail"}]}`)
and says, in its message, which request failed and what the server said. Messages never contain
the API token, and name only the host of a pre-signed upload or download URL, which is a secret
of its own.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from tfctl import errors


class HcpError(errors.TfctlError):
    """HCP Terraform refused the request."""

    exit_code: ClassVar[int] = 1

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.detail = detail


class HcpAuthError(HcpError):
    """No usable HCP Terraform API token: set TFE_TOKEN, or run `terraform login`, which writes
    ~/.terraform.d/credentials.tfrc.json."""

    exit_code: ClassVar[int] = 2


class HcpNotFound(HcpError):
    """Not found on HCP Terraform (it also answers 404 for what the token may not see)."""

    exit_code: ClassVar[int] = 2


class HcpInvalidRequest(HcpError):
    """HCP Terraform rejected the request as invalid."""

    exit_code: ClassVar[int] = 2


class HcpConflict(HcpError):
    """HCP Terraform refused: the resource is not in a state that allows this (for example, the
    workspace is already locked, or the run is not waiting for confirmation)."""


class HcpNotReady(HcpError):
    """HCP Terraform has not produced it yet; try again once the run has finished planning."""


class HcpRateLimited(HcpError):
    """HCP Terraform kept rate-limiting the requests; try again in a little while."""


class HcpUnavailable(HcpError):
    """HCP Terraform could not be reached, or kept failing; try again later."""


_BY_STATUS: dict[int, type[HcpError]] = {
    400: HcpInvalidRequest,
    401: HcpAuthError,
    403: HcpAuthError,
    404: HcpNotFound,
    409: HcpConflict,
    422: HcpInvalidRequest,
    429: HcpRateLimited,
}


def error_class(status: int) -> type[HcpError]:
    """The `HcpError` subclass for an HTTP status: every 5xx is `HcpUnavailable`."""
    if status >= 500:
        return HcpUnavailable
    return _BY_STATUS.get(status, HcpError)


def parse_error_body(content: bytes) -> tuple[str | None, str | None]:
    """`(title, detail)` of a JSON:API error document; several errors are joined with "; ".

    A body that is not a JSON:API error document (an HTML page from a proxy, an empty body)
    gives `(None, None)`: the caller falls back on the HTTP reason phrase.
    """
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None, None
    objects = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(objects, list):
        return None, None
    found = [item for item in objects if isinstance(item, dict)]
    return _joined(found, "title"), _joined(found, "detail")


def _joined(objects: list[dict[str, Any]], key: str) -> str | None:
    parts = list(dict.fromkeys(str(item[key]) for item in objects if item.get(key)))
    return "; ".join(parts) or None


def build_error(
    status: int, reason: str, content: bytes, *, where: str, hint: str = ""
) -> HcpError:
    """The error for a failed response: its class from `status`, its message naming the request
    (`where`, e.g. "GET /api/v2/runs/run-1"), the server's title and detail, and a `hint`."""
    title, detail = parse_error_body(content)
    said = f"{status} {title or reason}".strip()
    message = f"HCP Terraform: {where} failed with {said}"
    if detail and detail != title:
        message += f": {detail}"
    if hint:
        message += f" ({hint})"
    return error_class(status)(message, status=status, title=title, detail=detail)
