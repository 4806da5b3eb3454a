"""Fixtures for the HcpClient tests: a fake HCP Terraform and clients wired to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tfctl.hcp.client import HcpClient
from unit.hcp.fakehcp import TOKEN, FakeHcp


@pytest.fixture
def fake() -> FakeHcp:
    return FakeHcp()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(fake: FakeHcp, sleeps: list[float]) -> Iterator[Callable[..., HcpClient]]:
    """Builds clients wired to the fake (token `TOKEN` unless told otherwise); closes them."""
    made: list[HcpClient] = []

    def build(**kwargs: Any) -> HcpClient:
        kwargs.setdefault("token", TOKEN)
        client = HcpClient(
            transport=httpx.MockTransport(fake.handle), sleep=sleeps.append, **kwargs
        )
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., HcpClient]) -> HcpClient:
    return make_client()
