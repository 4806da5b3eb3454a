"""State snapshots and state secrets, from real `terraform state pull` output (Terraform 1.11.4).

Captured by tests/fixtures/tf/summary_capture.py: `state_stack.*` after applying the summary
stack, `state_deposed.tfstate.json` holding a tainted object and a deposed one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.tf.summary_capture import (
    FIXTURE_API_TOKEN,
    FIXTURE_DB_PASSWORD,
    FIXTURE_DEPOSED_SECRET,
)
from tfctl import errors
from tfctl.terraform.redact import REDACTED, SecretScrubber
from tfctl.terraform.state import (
    StateSnapshot,
    hcl_quote,
    instance_address,
    parse_state,
    sensitive_values,
    snapshot_state,
)

PLANS = Path(__file__).resolve().parents[2] / "fixtures" / "plans"
STATE = (PLANS / "state_stack.tfstate.json").read_bytes()
OUTPUTS: dict[str, Any] = json.loads((PLANS / "state_stack.outputs.json").read_text())
DEPOSED = (PLANS / "state_deposed.tfstate.json").read_bytes()


def test_snapshot_identifies_the_state_by_serial_lineage_and_exact_bytes() -> None:
    doc = json.loads(STATE)

    snap = snapshot_state(STATE)

    assert (snap.serial, snap.lineage) == (doc["serial"], doc["lineage"])
    assert snap.terraform_version == "1.11.4"
    assert snap.sha256 == hashlib.sha256(STATE).hexdigest()


def test_resources_are_listed_as_terraform_state_list_prints_them() -> None:
    expected = (PLANS / "state_stack.list.txt").read_text().splitlines()

    assert list(snapshot_state(STATE).resources) == expected


def test_resource_count_counts_managed_instances_only() -> None:
    snap = snapshot_state(STATE)

    data_sources = [a for a in snap.resources if a.startswith("data.")]
    assert len(data_sources) == 2
    assert snap.resource_count == len(snap.resources) - 2 == 14


def test_a_deposed_object_is_neither_counted_nor_listed_twice() -> None:
    doc = json.loads(DEPOSED)
    [resource] = doc["resources"]
    assert [bool(i.get("deposed")) for i in resource["instances"]] == [False, True]

    snap = snapshot_state(DEPOSED)

    assert snap.resources == ("terraform_data.blue_green",)
    assert snap.resource_count == 1


def test_outputs_keep_plain_values_and_redact_sensitive_ones() -> None:
    outputs = snapshot_state(STATE, OUTPUTS).outputs

    assert outputs["greeting"].model_dump() == {
        "value": "hello",
        "type": "string",
        "sensitive": False,
    }
    assert outputs["api_token"].model_dump() == {
        "value": REDACTED,
        "type": "string",
        "sensitive": True,
    }
    assert outputs["database"].value == REDACTED
    assert outputs["database"].type[0] == "object"
    assert outputs["worker_ids"].value == OUTPUTS["worker_ids"]["value"]


def test_outputs_from_the_state_alone_match_output_json() -> None:
    assert snapshot_state(STATE).outputs == snapshot_state(STATE, OUTPUTS).outputs


def test_an_output_sensitive_in_either_document_is_redacted() -> None:
    relaxed = json.loads(json.dumps(OUTPUTS))
    relaxed["api_token"]["sensitive"] = False

    assert snapshot_state(STATE, relaxed).outputs["api_token"].value == REDACTED


@pytest.mark.parametrize("raw", [STATE, DEPOSED], ids=["stack", "deposed"])
def test_no_secret_survives_in_the_snapshot(raw: bytes) -> None:
    secrets = (FIXTURE_API_TOKEN, FIXTURE_DB_PASSWORD, FIXTURE_DEPOSED_SECRET)
    assert any(secret.encode() in raw for secret in secrets)

    text = snapshot_state(raw, None).model_dump_json()

    assert not [secret for secret in secrets if secret in text]


def test_snapshot_json_has_stable_field_names() -> None:
    data = snapshot_state(STATE).to_json_dict()

    assert list(data) == [
        "serial",
        "lineage",
        "terraform_version",
        "sha256",
        "resource_count",
        "outputs",
        "resources",
    ]
    assert StateSnapshot.model_validate(json.loads(json.dumps(data))) == snapshot_state(STATE)


def test_no_state_yet_gives_an_empty_snapshot() -> None:
    # `terraform state pull` prints nothing for a workspace that was never applied.
    snap = snapshot_state(b"")

    assert (snap.serial, snap.lineage, snap.resource_count) == (0, None, 0)
    assert (snap.outputs, snap.resources) == ({}, ())
    assert snap.sha256 == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"<html>", "not JSON"),
        (b"[]", "format version 'list'"),
        (b'{"version": 3, "serial": 1, "modules": []}', "format version 3"),
    ],
)
def test_what_is_not_a_version_4_state_is_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(errors.TerraformError, match=problem):
        snapshot_state(raw)


# --- sensitive values -------------------------------------------------------------------------


def test_state_secrets_come_from_sensitive_outputs_and_attribute_paths() -> None:
    found = sensitive_values(STATE)

    assert {FIXTURE_API_TOKEN, FIXTURE_DB_PASSWORD, "5432"} <= found
    assert not {"hello", "eu", "svc-eu", "worker-0", "string", "number", "eu-west"} & found
    assert sensitive_values(parse_state(STATE)) == found


def test_sensitive_attributes_have_the_shape_terraform_1_11_writes() -> None:
    region = next(r for r in json.loads(STATE)["resources"] if r["name"] == "region")
    paths = region["instances"][0]["sensitive_attributes"]

    assert sorted(paths, key=len) == [
        [{"type": "get_attr", "value": "input"}, {"type": "get_attr", "value": "port"}],
        [
            {"type": "get_attr", "value": "input"},
            {"type": "get_attr", "value": "credentials"},
            {"type": "index", "value": {"value": 1, "type": "number"}},
        ],
    ]


def test_terraform_leaves_a_copy_of_a_sensitive_input_unmarked_and_scrubbing_catches_it() -> None:
    region = next(r for r in json.loads(STATE)["resources"] if r["name"] == "region")
    instance = region["instances"][0]
    # terraform_data.output mirrors input, but only input's paths are marked sensitive.
    assert FIXTURE_API_TOKEN in instance["attributes"]["output"]["value"]["credentials"]
    assert all(path[0]["value"] == "input" for path in instance["sensitive_attributes"])

    scrubbed = SecretScrubber(sensitive_values(STATE)).scrub(STATE.decode())

    assert FIXTURE_API_TOKEN not in scrubbed
    assert FIXTURE_DB_PASSWORD not in scrubbed
    assert '"value": "hello"' in scrubbed


def test_deposed_objects_secrets_are_collected() -> None:
    found = sensitive_values(DEPOSED)

    # generation 1 lives only in the deposed object, generation 2 in the tainted current one
    assert {f"{FIXTURE_DEPOSED_SECRET}-1", f"{FIXTURE_DEPOSED_SECRET}-2"} <= found


def test_a_path_that_cannot_be_followed_collects_everything_below_where_it_stopped() -> None:
    doc: dict[str, Any] = {
        "version": 4,
        "resources": [
            {
                "mode": "managed",
                "type": "terraform_data",
                "name": "x",
                "instances": [
                    {
                        "attributes": {"input": {"value": {"a": "alpha-1", "b": "beta-22"}}},
                        "sensitive_attributes": [
                            [
                                {"type": "get_attr", "value": "input"},
                                {"type": "get_attr", "value": "missing"},
                            ]
                        ],
                    }
                ],
            }
        ],
    }

    assert sensitive_values(doc) == {"alpha-1", "beta-22"}


# --- addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "quoted"),
    [
        ("plain", '"plain"'),
        ('with "quotes" and \\ backslash', '"with \\"quotes\\" and \\\\ backslash"'),
        ("tmpl ${x} and %{y}", '"tmpl $${x} and %%{y}"'),
        ("cost $5 and 100%", '"cost $5 and 100%"'),
        ("tab\tnew\nline", '"tab\\tnew\\nline"'),
        ("bell\x07", '"bell\\u0007"'),
        ("zürich ☃ 🚀", '"zürich ☃ 🚀"'),
    ],
)
def test_instance_keys_are_quoted_as_terraform_prints_them(key: str, quoted: str) -> None:
    assert hcl_quote(key) == quoted


def test_instance_address_of_module_data_and_indexed_resources() -> None:
    module = {"module": 'module.app["blue"]', "mode": "managed", "type": "t", "name": "n"}
    data = {"mode": "data", "type": "terraform_remote_state", "name": "up"}

    assert instance_address(module, {"index_key": "k"}) == 'module.app["blue"].t.n["k"]'
    assert instance_address(module, {"index_key": 0}) == 'module.app["blue"].t.n[0]'
    assert instance_address(data, {}) == "data.terraform_remote_state.up"
