"""Configuration versions: create one, then PUT the tar.gz to its pre-signed upload URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfctl import errors
from tfctl.hcp.client import ConfigurationVersion, HcpClient
from unit.hcp.fakehcp import FakeHcp, fixture, reply

WS = "ws-SihZTyXKfNXUWuUa"
UPLOAD_URL = fixture("configuration_version_created")["data"]["attributes"]["upload-url"]
ARCHIVE = b"\x1f\x8b\x08\x00fake-tar-gz\x00\xff"


def created(fake: FakeHcp, client: HcpClient) -> ConfigurationVersion:
    fake.on(
        "POST",
        f"/workspaces/{WS}/configuration-versions",
        reply(201, "configuration_version_created"),
    )
    return client.create_configuration_version(WS)


def test_create_asks_not_to_queue_runs_and_returns_the_upload_url(
    fake: FakeHcp, client: HcpClient
) -> None:
    version = created(fake, client)

    assert (version.id, version.status, version.upload_url) == (
        "cv-UYwHEakurukz85nW",
        "pending",
        UPLOAD_URL,
    )
    assert fake.body() == {
        "data": {
            "type": "configuration-versions",
            "attributes": {"auto-queue-runs": False, "speculative": False},
        }
    }


def test_the_upload_url_stays_out_of_the_repr(fake: FakeHcp, client: HcpClient) -> None:
    assert "archivist" not in repr(created(fake, client))


def test_upload_puts_the_bytes_as_octet_stream_without_the_token(
    fake: FakeHcp, client: HcpClient
) -> None:
    version = created(fake, client)
    fake.on("PUT", UPLOAD_URL, reply(200))

    client.upload_configuration(version, ARCHIVE)

    upload = fake.requests[-1]
    assert (upload.method, str(upload.url)) == ("PUT", UPLOAD_URL)
    assert upload.content == ARCHIVE
    assert upload.headers["Content-Type"] == "application/octet-stream"
    assert "Authorization" not in upload.headers


def test_upload_reads_an_archive_file(fake: FakeHcp, client: HcpClient, tmp_path: Path) -> None:
    version = created(fake, client)
    fake.on("PUT", UPLOAD_URL, reply(200))
    archive = tmp_path / "config.tar.gz"
    archive.write_bytes(ARCHIVE)

    client.upload_configuration(version, archive)

    assert fake.requests[-1].content == ARCHIVE


def test_an_upload_that_meets_a_503_is_retried(
    fake: FakeHcp, client: HcpClient, sleeps: list[float]
) -> None:
    version = created(fake, client)
    fake.on("PUT", UPLOAD_URL, reply(503, "error_503"), reply(200))

    client.upload_configuration(version, ARCHIVE)

    assert [r.method for r in fake.requests] == ["POST", "PUT", "PUT"]
    assert fake.requests[-1].content == ARCHIVE
    assert sleeps == [0.5]


def test_a_version_without_upload_url_cannot_be_uploaded(fake: FakeHcp, client: HcpClient) -> None:
    fake.on(
        "GET",
        "/configuration-versions/cv-UYwHEakurukz85nW",
        reply(200, "configuration_version_uploaded"),
    )
    version = client.get_configuration_version("cv-UYwHEakurukz85nW")

    assert (version.status, version.upload_url) == ("uploaded", None)
    with pytest.raises(errors.InvalidInput, match="no upload URL"):
        client.upload_configuration(version, ARCHIVE)
