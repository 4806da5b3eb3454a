"""One HTTP session with HCP Terraform: authentication, retries, rate limits, error translation.

`HcpSession.send` is the only place that talks to the network. It retries:

- a 429, for any method: the request was not processed. It waits what `Retry-After` (seconds or
  an HTTP date) or `X-RateLimit-Reset` (seconds, or a Unix time) says, else the backoff; a
  server asking for more than `RetryPolicy.max_rate_limit_wait` gets `HcpRateLimited` at once;
- a 5xx or a transport failure, for idempotent methods (GET, HEAD, PUT, DELETE) only, with
  exponential backoff. A POST (creating a run, locking a workspace) is never repeated after it
  may have reached the server: the first might have taken effect. It is repeated only when the
  connection was never made.

At most `max_retries` retries in all. What is still failing becomes an `HcpError` subclass.
Nothing here logs or raises the token, and pre-signed blob URLs are shown by host only.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from tfctl.hcp.credentials import Token
from tfctl.hcp.errors import HcpError, HcpUnavailable, build_error

API_PATH: Final = "/api/v2/"
JSONAPI: Final = "application/vnd.api+json"
IDEMPOTENT: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
PAGE_SIZE: Final = 100  # the API's maximum: fewest round trips

# The request never left: safe to repeat even a POST.
_NEVER_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_TRANSIENT: Final = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# X-RateLimit-Reset holds seconds to wait on HCP Terraform; anything this large is a Unix time.
_EPOCH_THRESHOLD: Final = 1_000_000_000

_log = logging.getLogger(__name__)


class _PresignedUrlFilter(logging.Filter):
    """httpx logs every request's full URL (INFO on the `httpx` logger). A pre-signed archivist
    URL grants access by itself, so while one is in flight its log argument is replaced by
    the host-only form."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.hidden and isinstance(record.args, tuple):
            record.args = tuple(self.hidden.get(str(arg), arg) for arg in record.args)
        return True


_PRESIGNED = _PresignedUrlFilter()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_rate_limit_wait: float = 60.0

    def backoff(self, retry: int) -> float:
        """Seconds before retry number `retry` (0-based): 0.5, 1, 2, 4, 8, 8, ..."""
        return min(self.max_delay, self.base_delay * 2.0**retry)


def retry_after(headers: httpx.Headers, *, now: float) -> float | None:
    """Seconds the server asked to wait, from `Retry-After` or `X-RateLimit-Reset`; None when
    neither says anything usable. Never negative."""
    raw = headers.get("retry-after")
    if raw is not None:
        seconds = _float(raw)
        if seconds is None:
            seconds = _date_seconds(raw, now=now)
        if seconds is not None:
            return max(0.0, seconds)
    reset = _float(headers.get("x-ratelimit-reset"))
    if reset is None:
        return None
    return max(0.0, reset - now if reset > _EPOCH_THRESHOLD else reset)


def _float(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _date_seconds(raw: str, *, now: float) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(raw).timestamp() - now
    except (TypeError, ValueError):
        return None


def next_page(document: Mapping[str, Any], current: int) -> int | None:
    """The next page number from `meta.pagination.next-page`, else from `links.next`; None on
    the last page, or when the server points backwards (which would loop forever)."""
    meta = document.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, Mapping) else None
    if isinstance(pagination, Mapping) and "next-page" in pagination:
        found: Any = pagination["next-page"]
    else:
        links = document.get("links")
        link = links.get("next") if isinstance(links, Mapping) else None
        found = httpx.URL(link).params.get("page[number]") if isinstance(link, str) else None
    number = _float(str(found)) if found is not None else None
    return int(number) if number is not None and number > current else None


def json_document(response: httpx.Response) -> dict[str, Any]:
    """The JSON object in `response`; `HcpError` when the body is something else."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise HcpError(f"HCP Terraform: {response.url.path} answered without a JSON document")
    return document


def resource_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The single resource in a document's `data`; `HcpError` when there is none."""
    data = document.get("data")
    if not isinstance(data, Mapping) or not data.get("id"):
        raise HcpError("HCP Terraform answered with a document that holds no resource")
    return data


class HcpSession:
    """Sends requests for `HcpClient`; `token` is called when a request needs authentication,
    so a missing token fails the first request, not the constructor."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        origin: str,
        token: Callable[[], Token],
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._origin = httpx.URL(origin)
        self._token = token
        self._policy = policy
        self._sleep = sleep
        self._clock = clock
        httpx_logger = logging.getLogger("httpx")
        if _PRESIGNED not in httpx_logger.filters:
            httpx_logger.addFilter(_PRESIGNED)

    def close(self) -> None:
        self._client.close()

    def api(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        """A JSON:API request to `path` (relative to /api/v2). Returns a 2xx or 3xx response;
        raises the matching `HcpError` otherwise."""
        headers = {"Content-Type": JSONAPI, **self._auth()}
        content = None if body is None else json.dumps(body).encode()
        request = self._client.build_request(
            method, path, params=params, content=content, headers=headers
        )
        return self._checked(self.send(request), request)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON document a GET of `path` returns."""
        return json_document(self.api("GET", path, params=params))

    def iter_resources(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[Mapping[str, Any]]:
        """Every resource of a paginated list, fetching page after page as it is consumed."""
        page: int | None = 1
        while page is not None:
            query = {**(params or {}), "page[number]": page, "page[size]": PAGE_SIZE}
            document = self.get_json(path, query)
            data = document.get("data")
            yield from (item for item in data or () if isinstance(item, Mapping))
            page = next_page(document, page)

    def blob(
        self, method: str, url: str, *, content: bytes | None = None, content_type: str = ""
    ) -> httpx.Response:
        """A request to a pre-signed archivist URL (upload, download). The token goes along only
        to HCP Terraform's own origin, as an HTTP client does on redirects."""
        target = httpx.URL(url)
        headers = {"Content-Type": content_type} if content_type else {}
        if self._same_origin(target):
            headers.update(self._auth())
        request = self._client.build_request(method, target, content=content, headers=headers)
        _PRESIGNED.hidden[str(target)] = self.shown(target)
        try:
            return self._checked(self.send(request), request)
        finally:
            _PRESIGNED.hidden.pop(str(target), None)

    def follow(self, response: httpx.Response) -> httpx.Response:
        """GET the `Location` a redirect response points to (relative or absolute); one hop,
        as the API documents."""
        location = response.headers.get("location")
        if not location:
            raise HcpError(f"HCP Terraform: {response.url.path} redirected nowhere")
        followed = self.blob("GET", str(response.url.join(location)))
        if followed.is_redirect:
            raise HcpError(f"HCP Terraform: {response.url.path} redirected more than once")
        return followed

    def send(self, request: httpx.Request) -> httpx.Response:
        """Send `request`, retrying as the module docstring says; the last response is returned
        whatever its status, and a transport failure that is not retried is `HcpUnavailable`."""
        retry = 0
        while True:
            try:
                response = self._client.send(request)
            except httpx.TransportError as exc:
                if not self._may_retry_failure(request.method, exc, retry):
                    raise self._unreachable(request, exc, retry) from exc
                delay = self._policy.backoff(retry)
            else:
                _log.debug("%s %s -> %s", request.method, self.shown(request.url), response)
                found = self._delay(request.method, response, retry)
                if found is None:
                    return response
                delay = found
            self._sleep(delay)
            retry += 1

    def shown(self, url: httpx.URL) -> str:
        """`url` as logs and errors may show it: API paths in full, other URLs by host only."""
        if self._same_origin(url) and url.path.startswith(API_PATH):
            return url.path
        return f"{url.scheme}://{url.netloc.decode('ascii')}/…"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token().value}"}

    def _same_origin(self, url: httpx.URL) -> bool:
        return (url.scheme, url.netloc) == (self._origin.scheme, self._origin.netloc)

    def _may_retry_failure(self, method: str, exc: httpx.TransportError, retry: int) -> bool:
        if retry >= self._policy.max_retries:
            return False
        retryable = _TRANSIENT if method in IDEMPOTENT else _NEVER_SENT
        return isinstance(exc, retryable)

    def _delay(self, method: str, response: httpx.Response, retry: int) -> float | None:
        """Seconds to wait before retrying `response`, or None to keep it as the answer."""
        status = response.status_code
        idempotent_failure = status >= 500 and method in IDEMPOTENT
        if retry >= self._policy.max_retries or not (status == 429 or idempotent_failure):
            return None
        asked = retry_after(response.headers, now=self._clock())
        if asked is None:
            return self._policy.backoff(retry)
        return asked if asked <= self._policy.max_rate_limit_wait else None

    def _checked(self, response: httpx.Response, request: httpx.Request) -> httpx.Response:
        if response.is_success or response.is_redirect:
            return response
        where = f"{request.method} {self.shown(request.url)}"
        raise build_error(
            response.status_code,
            response.reason_phrase,
            response.content,
            where=where,
            hint=self._hint(request, response),
        )

    def _hint(self, request: httpx.Request, response: httpx.Response) -> str:
        status, method = response.status_code, request.method
        if status in (401, 403) and "authorization" in request.headers:
            return f"check the token from {self._token().source}"
        if status == 404:
            return "HCP Terraform also answers 404 when the token may not see it"
        if status == 429:
            wait = retry_after(response.headers, now=self._clock())
            asked = f"; it asks to wait {wait:.0f}s" if wait is not None else ""
            return f"rate limited{asked}"
        if status >= 500 and method not in IDEMPOTENT:
            return f"a {method} is not retried: it may have taken effect, check before repeating"
        return ""

    def _unreachable(
        self, request: httpx.Request, exc: httpx.TransportError, retry: int
    ) -> HcpUnavailable:
        tries = f" after {retry + 1} attempts" if retry else ""
        # Only network and timeout messages are quoted: a protocol error can quote headers.
        said = f" ({exc})" if isinstance(exc, _TRANSIENT) and str(exc) else ""
        return HcpUnavailable(
            f"HCP Terraform: {request.method} {self.shown(request.url)} failed{tries}: "
            f"{type(exc).__name__}{said}"
        )
