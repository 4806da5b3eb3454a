"""Webhook notifications: a JSON POST to each `TFCTL_NOTIFY_WEBHOOK_URL` (comma-separated)
when something needs a person: new drift, a plan awaiting approval, a failed run, a halt.

Delivery never blocks or fails what triggered it. `send` hands the body to a detached
`python -m tfctl.notify` process and returns: a CLI command that ends at once still gets its
notification out, and a webhook that hangs or fails costs the run nothing. That process
POSTs to every URL at the same time, with a timeout, retrying three times with backoff
(1 s, 2 s, 4 s) on a network error, a timeout, a 429 or a 5xx; what it could not deliver is
logged to `TFCTL_HOME/notify.log`, with the URL's secret part (its path) left out.

A body carries the event, the workspace, the run id, counts, resource addresses, a link
(when `TFCTL_PUBLIC_URL` is set) and a Slack-compatible `text`; never a variable's value, an
output, an error message or a webhook URL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

    from tfctl.settings import Settings

#: Events a webhook receives, as the body's `event`.
EVENTS = ("drift", "plan_awaiting_approval", "run_failed", "halt")
TIMEOUT = 5.0  # seconds per attempt
RETRIES = 3  # after the first attempt
BACKOFF = 1.0  # seconds before the first retry, doubled before each next one
RUN_PAGE = "/infra/terraform/runs/{id}"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification. `headline` is one line naming what happened (no secret: names,
    ids and counts); `details` are further body fields (e.g. the drifted resources)."""

    event: str
    headline: str
    workspace: str | None = None
    run_id: str | None = None
    summary: Mapping[str, int] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)


def body(notice: Notice, *, public_url: str | None, at: datetime) -> dict[str, Any]:
    """The JSON a webhook receives: `event`, `workspace`, `run_id`, `summary` (counts),
    `url` (the run's page, when `public_url` is set), `text` (for Slack and the like), `at`,
    then `details`."""
    url = run_url(public_url, notice.run_id)
    text = f"tfctl: {notice.headline}" + (f" {url}" if url else "")
    return {
        "event": notice.event,
        "workspace": notice.workspace,
        "run_id": notice.run_id,
        "summary": dict(notice.summary),
        "url": url,
        "text": text,
        "at": at.isoformat(),
        **notice.details,
    }


def run_url(public_url: str | None, run_id: str | None) -> str | None:
    """The run's page under the server's public address, else the server's home page."""
    if not public_url:
        return None
    base = public_url.rstrip("/")
    return base + (RUN_PAGE.format(id=run_id) if run_id else "/infra/terraform")


def webhook_urls(value: str | None) -> list[str]:
    """The http(s) URLs of a comma-separated `TFCTL_NOTIFY_WEBHOOK_URL`. Another entry is
    left out with a warning naming its position, never its text (a webhook URL is a
    secret)."""
    urls = []
    for position, entry in enumerate((value or "").split(","), start=1):
        entry = entry.strip()
        parts = urlsplit(entry)
        if parts.scheme in ("http", "https") and parts.hostname:
            urls.append(entry)
        elif entry:
            log.warning("TFCTL_NOTIFY_WEBHOOK_URL entry %d is not an http(s) URL; skipped",
                        position)  # fmt: skip
    return urls


def masked(url: str) -> str:
    """`https://hooks.example.com/…`: where a URL points, without its secret path."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def send(settings: Settings, notice: Notice) -> bool:
    """Hand `notice` to a detached delivery process and return at once; False when no
    webhook is set or the process could not start (logged). Never raises."""
    urls = webhook_urls(settings.notify_webhook_url)
    if not urls:
        return False
    message = {
        "urls": urls,
        "body": body(notice, public_url=settings.public_url, at=datetime.now(UTC)),
        "log": str(settings.home.expanduser() / "notify.log"),
    }
    from tfctl.terraform.process import start_detached

    try:
        start_detached([sys.executable, "-m", "tfctl.notify"], json.dumps(message).encode())
    except (OSError, ValueError) as exc:
        log.warning("could not start delivering the %s notification: %s", notice.event, exc)
        return False
    return True


def deliver(
    urls: Sequence[str],
    payload: Mapping[str, Any],
    *,
    timeout: float = TIMEOUT,
    retries: int = RETRIES,
    backoff: float = BACKOFF,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str | None]:
    """POST `payload` to every URL at once; for each, None when delivered, else why not
    (after `retries` retries for what may pass: a network error, a timeout, 429, 5xx)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from tfctl import __version__

    headers = {"User-Agent": f"tfctl/{__version__}"}
    with (
        httpx.Client(timeout=timeout, transport=transport, headers=headers) as client,
        ThreadPoolExecutor(max_workers=max(1, len(urls))) as pool,
    ):

        def post(url: str) -> str | None:
            return _post(client, url, payload, retries, backoff, sleep)

        return dict(zip(urls, pool.map(post, urls), strict=True))


def _post(
    client: httpx.Client,
    url: str,
    payload: Mapping[str, Any],
    retries: int,
    backoff: float,
    sleep: Callable[[float], None],
) -> str | None:
    import httpx

    problem = "not attempted"
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        try:
            response = client.post(url, json=payload)
        except httpx.HTTPError as exc:
            problem = type(exc).__name__
            continue
        if response.is_success:
            return None
        problem = f"HTTP {response.status_code}"
        if response.status_code < 500 and response.status_code != 429:
            return problem  # the receiver refuses it: retrying will not help
    return f"{problem} after {retries + 1} attempts"


def main() -> int:
    """`python -m tfctl.notify`: deliver the message `send` wrote to stdin."""
    message = json.load(sys.stdin)
    results = deliver(message["urls"], message["body"])
    failed = [(url, why) for url, why in results.items() if why is not None]
    if failed and message.get("log"):
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        event = message["body"].get("event")
        lines = "".join(f"{when} {event} to {masked(url)} not delivered: {why}\n"
                        for url, why in failed)  # fmt: skip
        with contextlib.suppress(OSError), Path(message["log"]).open("a") as handle:
            handle.write(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
