"""Rate limits and retries: what is repeated, how long it waits, and when it gives up."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import formatdate

import httpx
import pytest

from tfctl.hcp.client import HcpClient, HcpRateLimited, HcpUnavailable
from tfctl.hcp.session import RetryPolicy, next_page, retry_after
from unit.hcp.fakehcp import FakeHcp, fail, reply

RUN = "run-CZcmD7eagjhyX0vN"
RUN_PATH = f"/runs/{RUN}"


def test_a_429_waits_what_retry_after_says_then_succeeds(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    fake.on(
        "GET",
        RUN_PATH,
        reply(429, "error_429", headers={"Retry-After": "7"}),
        reply(200, "run_planned"),
    )

    assert client.get_run(RUN).status == "planned"
    assert sleeps == [7.0]
    assert len(fake.requests) == 2


def test_a_429_waits_what_x_ratelimit_reset_says(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    fake.on(
        "GET",
        RUN_PATH,
        reply(429, "error_429", headers={"X-RateLimit-Reset": "0.25"}),
        reply(200, "run_planned"),
    )

    client.get_run(RUN)

    assert sleeps == [0.25]


def test_a_429_without_a_hint_backs_off_exponentially(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    fake.on("GET", RUN_PATH, reply(429), reply(429), reply(200, "run_planned"))

    client.get_run(RUN)

    assert sleeps == [0.5, 1.0]


def test_a_rate_limited_post_is_retried_because_it_was_not_processed(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    fake.on("POST", "/runs", reply(429, headers={"Retry-After": "1"}), reply(201, "run_created"))

    assert client.create_run("ws-SihZTyXKfNXUWuUa").status == "pending"
    assert sleeps == [1.0]


def test_rate_limited_past_max_retries_is_hcp_rate_limited(
    fake: FakeHcp, make_client: Callable[..., HcpClient], sleeps: list[float]
) -> None:
    client = make_client(max_retries=2)
    fake.on("GET", RUN_PATH, reply(429, "error_429", headers={"Retry-After": "3"}))

    with pytest.raises(HcpRateLimited) as caught:
        client.get_run(RUN)

    assert len(fake.requests) == 3
    assert sleeps == [3.0, 3.0]
    assert caught.value.status == 429
    assert "Too many requests: You have exceeded the API's rate limit." in str(caught.value)


def test_a_wait_longer_than_the_bound_gives_up_at_once(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    fake.on("GET", RUN_PATH, reply(429, "error_429", headers={"Retry-After": "3600"}))

    with pytest.raises(HcpRateLimited, match="asks to wait 3600s"):
        client.get_run(RUN)

    assert sleeps == []
    assert len(fake.requests) == 1


def test_a_5xx_on_a_get_is_retried_with_backoff_then_succeeds(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    fake.on("GET", RUN_PATH, reply(502), reply(500, "error_500"), reply(200, "run_planned"))

    assert client.get_run(RUN).id == RUN
    assert sleeps == [0.5, 1.0]


def test_5xx_until_retries_run_out_is_hcp_unavailable(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    fake.on("GET", RUN_PATH, reply(503, "error_503"))

    with pytest.raises(HcpUnavailable) as caught:
        client.get_run(RUN)

    assert len(fake.requests) == 5  # the first try and max_retries=4 retries
    assert sleeps == [0.5, 1.0, 2.0, 4.0]
    error = caught.value
    assert (error.status, error.title) == (503, "service unavailable")
    assert error.detail == "The service is temporarily unavailable."
    assert str(error).startswith(f"HCP Terraform: GET /api/v2{RUN_PATH} failed with 503")
    assert error.exit_code == 1


def test_a_transport_error_on_a_get_is_retried(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    fake.on("GET", RUN_PATH, fail(httpx.ReadTimeout), reply(200, "run_planned"))

    assert client.get_run(RUN).status == "planned"
    assert sleeps == [0.5]


def test_transport_errors_until_retries_run_out_are_hcp_unavailable(
    fake: FakeHcp, make_client: Callable[..., HcpClient]
) -> None:
    client = make_client(max_retries=1)
    fake.on("GET", RUN_PATH, fail(httpx.ConnectError))

    with pytest.raises(HcpUnavailable) as caught:
        client.get_run(RUN)

    assert len(fake.requests) == 2
    assert "after 2 attempts: ConnectError (simulated failure)" in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_a_post_that_timed_out_reading_is_not_repeated(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    fake.on("POST", "/runs", fail(httpx.ReadTimeout), reply(201, "run_created"))

    with pytest.raises(HcpUnavailable, match="ReadTimeout"):
        client.create_run("ws-SihZTyXKfNXUWuUa")

    assert len(fake.requests) == 1
    assert sleeps == []


def test_a_post_whose_connection_failed_is_repeated(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    fake.on("POST", "/runs", fail(httpx.ConnectError), reply(201, "run_created"))

    assert client.create_run("ws-SihZTyXKfNXUWuUa").status == "pending"
    assert len(fake.requests) == 2


def test_max_retries_zero_means_one_attempt(
    fake: FakeHcp, make_client: Callable[..., HcpClient], sleeps: list[float]
) -> None:
    client = make_client(max_retries=0)
    fake.on("GET", RUN_PATH, reply(500), reply(200, "run_planned"))

    with pytest.raises(HcpUnavailable):
        client.get_run(RUN)
    assert sleeps == []


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy()
    assert [policy.backoff(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": formatdate(1_700_000_030, usegmt=True)}, 30.0),
        ({"Retry-After": "soon", "X-RateLimit-Reset": "2.5"}, 2.5),
        ({"X-RateLimit-Reset": "1700000004"}, 4.0),  # a Unix time
        ({"X-RateLimit-Reset": "0.031"}, 0.031),
        ({}, None),
    ],
)
def test_retry_after_reads_seconds_dates_and_reset_times(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after(httpx.Headers(headers), now=1_700_000_000.0) == expected


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"meta": {"pagination": {"current-page": 1, "next-page": 2}}}, 2),
        ({"meta": {"pagination": {"current-page": 1, "next-page": None}}}, None),
        ({"links": {"next": "https://h/api/v2/x?page%5Bnumber%5D=2&page%5Bsize%5D=20"}}, 2),
        ({"links": {"next": None}}, None),
        ({"data": []}, None),
        ({"meta": {"pagination": {"next-page": 1}}}, None),  # pointing back would loop forever
    ],
)
def test_next_page_from_meta_or_links(document: dict[str, object], expected: int | None) -> None:
    assert next_page(document, 1) == expected
