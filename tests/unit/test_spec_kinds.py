"""Each kind's typed fields: validated, refused on other kinds, refused on clouds the kind has
no templates for, with messages naming the field; hostile names never validate."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tfctl import errors
from tfctl.resources import examples_dir
from tfctl.spec import SUPPORTED_CLOUDS, TerraformStackSpec
from tfctl.specfile import describe_validation_error, load_spec_file

HOSTILE = '"} resource "x" "y" { ${file("/etc/passwd")}'

FUNCTION = {"image": "ghcr.io/acme/worker:1", "broker": {"type": "redis", "address": "r:6379"}}
BOT = {"name": "triage", "image": "bot:1", "sidecar": {"image": "sync:1"}}

# A valid document per kind, the base every test below changes one thing in.
VALID: dict[str, dict[str, Any]] = {
    "storage": {"name": "assets", "kind": "storage", "cloud": "aws", "bucket": {"name": "b-1"}},
    "faas": {"name": "w", "kind": "faas", "function": FUNCTION, "queues": [{"name": "q"}]},
    "agents": {"name": "bots", "kind": "agents", "bots": [BOT]},
    "secrets": {
        "name": "s",
        "kind": "secrets",
        "secret_mappings": [{"name": "db", "remote_key": "postgres", "property": "password"}],
    },
    "generic": {"name": "g", "kind": "generic", "module_source": "acme/net/aws"},
}


def problem(document: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        TerraformStackSpec.model_validate(document)
    return describe_validation_error(caught.value)


def changed(kind: str, path: str, value: Any) -> dict[str, Any]:
    """VALID[kind] with the value at a dotted path (list indexes as numbers) replaced."""
    document = copy.deepcopy(VALID[kind])
    *parents, last = path.split(".")
    target: Any = document
    for part in parents:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    target[int(last) if last.isdigit() else last] = value
    return document


@pytest.mark.parametrize("kind", sorted(VALID))
def test_the_valid_documents_are_valid(kind: str) -> None:
    TerraformStackSpec.model_validate(VALID[kind])


@pytest.mark.parametrize(
    "path", sorted(p for p in examples_dir().glob("*/*.yaml") if p.parent.name != "hello")
)
def test_every_example_spec_validates(path: Path) -> None:
    spec = load_spec_file(path)
    assert spec.kind.value == path.parent.name


@pytest.mark.parametrize(
    ("kind", "cloud"),
    [(k, c) for k in ("faas", "agents", "secrets") for c in ("aws", "gcp", "azure")],
)
def test_kinds_without_templates_for_a_cloud_are_refused(kind: str, cloud: str) -> None:
    message = problem({**VALID[kind], "cloud": cloud})
    assert message == (
        f"field 'cloud': kind '{kind}' has templates for cloud local only, not '{cloud}'"
    )


def test_storage_and_generic_run_on_every_cloud() -> None:
    for kind in ("storage", "generic"):
        assert [c.value for c in SUPPORTED_CLOUDS[kind]] == ["aws", "gcp", "azure", "local"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("field", "value", "owner"),
    [
        ("bucket", {"name": "abc"}, "storage"),
        ("function", FUNCTION, "faas"),
        ("queues", [{"name": "q"}], "faas"),
        ("bots", [BOT], "agents"),
        ("secret_store", {"provider": "kubernetes"}, "secrets"),
        ("secret_mappings", [{"name": "a", "remote_key": "b"}], "secrets"),
        ("module_source", "acme/x/y", "generic"),
    ],
)
def test_kind_only_fields_are_refused_on_other_kinds(field: str, value: Any, owner: str) -> None:
    for kind in VALID:
        if kind != owner:
            document = {**VALID[kind], field: value}
            assert f"{field} is only allowed when kind is '{owner}'" in problem(document)


def test_kind_only_field_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: a\nkind: agents\nbucket: {name: abc}\n")
    with pytest.raises(errors.InvalidSpec) as caught:
        load_spec_file(path)
    assert caught.value.message == f"{path}: bucket is only allowed when kind is 'storage'"


def test_defaults_of_a_kind_are_filled_in_and_hash_the_same() -> None:
    bare = TerraformStackSpec.model_validate({"name": "s", "kind": "secrets"})
    spelled = TerraformStackSpec.model_validate(
        {
            "name": "s",
            "kind": "secrets",
            "secret_store": {"provider": "kubernetes", "refresh_interval": "1h", "name": None},
        }
    )
    assert bare.secret_store is not None
    assert bare.secret_store.provider == "kubernetes"
    assert bare.spec_hash() == spelled.spec_hash()
    storage = TerraformStackSpec.model_validate({"name": "s", "kind": "storage"})
    assert storage.bucket is not None
    assert storage.bucket.versioning is True
    assert storage.spec_hash() == (
        TerraformStackSpec.model_validate(
            {"name": "s", "kind": "storage", "bucket": {"versioning": True, "force_destroy": False}}
        ).spec_hash()
    )


def test_a_generic_spec_hashes_as_before_the_kinds_arrived() -> None:
    """Stored generic versions keep their hash: pushing them again creates no new version."""
    spec = TerraformStackSpec.model_validate(
        {
            "name": "hello",
            "kind": "generic",
            "module_source": "/m",
            "variables": {"greeting": "hi"},
            "tags": {"team": "platform"},
        }
    )
    assert spec.canonical_json() == (
        '{"cloud":"local","description":"","kind":"generic","module_source":"/m",'
        '"name":"hello","queues":[],"secret_mappings":[],"tags":{"team":"platform"},'
        '"variables":{"greeting":"hi"}}'
    )
    assert spec.spec_hash() == "d8325cb870235c8e45968e83e863c20bbb49d62b187b18894a9c17df9eac44c1"


def test_changing_a_kind_field_changes_the_hash() -> None:
    before = TerraformStackSpec.model_validate(VALID["agents"])
    after = TerraformStackSpec.model_validate(changed("agents", "bots.0.replicas", 3))
    assert before.spec_hash() != after.spec_hash()


# --- storage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cloud", "name", "fragment"),
    [
        ("aws", "ab", "3 to 63 lowercase letters, digits"),
        ("aws", "a..b", "is not a bucket name"),
        ("gcp", "Upper", "field 'bucket.name'"),
        ("azure", "has-dash", "names an Azure storage account: 3-24 lowercase letters and digits"),
        ("azure", "a" * 25, "names an Azure storage account"),
    ],
)
def test_bucket_names_follow_the_cloud(cloud: str, name: str, fragment: str) -> None:
    message = problem({**changed("storage", "bucket.name", name), "cloud": cloud})
    assert "field 'bucket.name'" in message
    assert fragment in message


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ({"id": "r"}, "needs expire_days, transition_days or both"),
        ({"id": "r", "transition_days": 30}, "transition_days and storage_class go together"),
        ({"id": "r", "expire_days": 5, "storage_class": "GLACIER"}, "go together"),
        (
            {"id": "r", "expire_days": 30, "transition_days": 30, "storage_class": "GLACIER"},
            "transition_days must be less than expire_days",
        ),
        ({"id": "r", "expire_days": 0}, "bucket.lifecycle_rules[0].expire_days"),
        ({"id": "r", "expire_days": 1, "extra": 1}, "lifecycle_rules[0].extra': unknown field"),
    ],
)
def test_lifecycle_rules_are_checked(rule: dict[str, Any], fragment: str) -> None:
    assert fragment in problem(changed("storage", "bucket.lifecycle_rules", [rule]))


@pytest.mark.parametrize(
    ("cloud", "storage_class", "accepted"),
    [
        ("aws", "GLACIER", True),
        ("aws", "COLDLINE", False),
        ("gcp", "COLDLINE", True),
        ("gcp", "cool", False),
        ("azure", "archive", True),
        ("azure", "GLACIER", False),
    ],
)
def test_storage_classes_belong_to_the_cloud(
    cloud: str, storage_class: str, accepted: bool
) -> None:
    rule = {"id": "logs", "transition_days": 30, "storage_class": storage_class}
    document = {**changed("storage", "bucket.lifecycle_rules", [rule]), "cloud": cloud}
    document["bucket"]["name"] = "logs1"
    if accepted:
        TerraformStackSpec.model_validate(document)
    else:
        assert f"{storage_class!r} is not a storage class on {cloud}" in problem(document)


def test_local_storage_has_no_lifecycle_rules_and_azure_rule_ids_are_alphanumeric() -> None:
    rules = [{"id": "tmp-files", "expire_days": 3}]
    local = {**changed("storage", "bucket.lifecycle_rules", rules), "cloud": "local"}
    assert "field 'bucket.lifecycle_rules': not supported on cloud 'local'" in problem(local)
    azure = {**changed("storage", "bucket.lifecycle_rules", rules), "cloud": "azure"}
    azure["bucket"]["name"] = "acme1"
    assert "Azure rule names are letters and digits only" in problem(azure)


def test_lifecycle_rule_ids_are_unique() -> None:
    rules = [{"id": "a", "expire_days": 3}, {"id": "a", "expire_days": 4}]
    assert "id 'a' appears twice" in problem(changed("storage", "bucket.lifecycle_rules", rules))


@pytest.mark.parametrize(
    ("cloud", "tags", "accepted"),
    [
        ("aws", {"Team": "Platform Ops"}, True),
        ("aws", {"team": "a{b}"}, False),
        ("gcp", {"team": "platform"}, True),
        ("gcp", {"team": "Platform"}, False),
        ("gcp", {"Team": "platform"}, False),
        ("azure", {"Team": HOSTILE}, True),
        ("azure", {"a/b": "x"}, False),
        ("local", {"example.com/team": "platform"}, True),
        ("local", {"team": "plat form"}, False),
    ],
)
def test_tags_fit_the_cloud(cloud: str, tags: dict[str, str], accepted: bool) -> None:
    document = {**VALID["storage"], "cloud": cloud, "tags": tags, "bucket": {"name": "acme1"}}
    if accepted:
        TerraformStackSpec.model_validate(document)
    else:
        assert f"field 'tags.{next(iter(tags))}'" in problem(document)


def test_generic_tags_are_free_text() -> None:
    TerraformStackSpec.model_validate({**VALID["generic"], "tags": {"a b": HOSTILE}})


# --- faas, agents, secrets ---------------------------------------------------------------------


def test_queues_need_a_function() -> None:
    document = {"name": "w", "kind": "faas", "queues": [{"name": "q"}]}
    assert problem(document) == (
        "field 'function': required when queues are given (image and broker)"
    )
    TerraformStackSpec.model_validate({"name": "w", "kind": "faas"})  # KEDA only


@pytest.mark.parametrize(
    ("broker", "fragment"),
    [
        ({"type": "kafka"}, "field 'function.broker': Input tag 'kafka'"),
        ({"type": "redis"}, "field 'function.broker.redis.address': required field is missing"),
        ({"type": "redis", "address": "no-port"}, "function.broker.redis.address"),
        ({"type": "rabbitmq"}, "field 'function.broker.rabbitmq.secret': required field"),
        (
            {"type": "rabbitmq", "secret": {"name": "amqp", "key": "url"}, "address": "r:1"},
            "unknown",
        ),
    ],
)
def test_brokers_are_checked(broker: dict[str, Any], fragment: str) -> None:
    assert fragment in problem(changed("faas", "function.broker", broker))


def test_tfctl_sets_some_consumer_environment_itself() -> None:
    message = problem(changed("faas", "function.env", {"QUEUE_NAME": "x", "OK": "y"}))
    assert "env QUEUE_NAME: set by tfctl for every consumer" in message


def test_queue_bot_and_mapping_names_are_unique() -> None:
    function = changed("faas", "queues", [{"name": "q"}, {"name": "q"}])
    assert "queues: name 'q' appears twice" in problem(function)
    assert "bots: name 'triage' appears twice" in problem(changed("agents", "bots", [BOT, BOT]))
    mapping = {"name": "db", "remote_key": "a"}
    twice = changed("secrets", "secret_mappings", [mapping, {**mapping, "remote_key": "b"}])
    assert "two mappings write the same namespace and name" in problem(twice)


def test_bots_need_a_sidecar() -> None:
    bot = {key: value for key, value in BOT.items() if key != "sidecar"}
    assert "field 'bots[0].sidecar': required field is missing" in problem(
        changed("agents", "bots", [bot])
    )


def test_vault_store_needs_server_and_token() -> None:
    message = problem(changed("secrets", "secret_store", {"provider": "vault"}))
    assert "field 'secret_store.vault.server': required field is missing" in message
    assert "field 'secret_store.vault.token_secret': required field is missing" in message


# --- hostile names -------------------------------------------------------------------------------

# Not "UPPER": images, remote keys and properties may hold capitals.
HOSTILE_NAMES = [HOSTILE, "a b", "a\nb", "${x}", "%{x}", 'a"b', "a\\b", "a'b", ""]


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("storage", "name"),
        ("storage", "bucket.name"),
        ("storage", "bucket.lifecycle_rules.0.id"),
        ("faas", "queues.0.name"),
        ("faas", "function.image"),
        ("faas", "function.broker.address"),
        ("agents", "bots.0.name"),
        ("agents", "bots.0.image"),
        ("agents", "bots.0.sidecar.image"),
        ("agents", "bots.0.sidecar.mount_path"),
        ("secrets", "secret_mappings.0.name"),
        ("secrets", "secret_mappings.0.namespace"),
        ("secrets", "secret_mappings.0.remote_key"),
        ("secrets", "secret_mappings.0.property"),
    ],
)
def test_hostile_names_never_validate(kind: str, path: str) -> None:
    document = VALID[kind]
    if path.startswith("bucket.lifecycle_rules"):
        document = changed(kind, "bucket.lifecycle_rules", [{"id": "a", "expire_days": 1}])
    for name in HOSTILE_NAMES:
        if path.endswith("mount_path") and name.startswith("/"):
            continue
        broken = copy.deepcopy(document)
        *parents, last = path.split(".")
        target: Any = broken
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = name
        with pytest.raises(ValidationError):
            TerraformStackSpec.model_validate(broken)


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("faas", "function.env", {HOSTILE: "x"}),
        ("agents", "bots.0.env", {"A B": "x"}),
        ("faas", "function.broker.secret", {"name": "ok", "key": HOSTILE}),
        (
            "secrets",
            "secret_store",
            {"provider": "vault", "server": HOSTILE, "token_secret": {"name": "t", "key": "k"}},
        ),
        ("secrets", "secret_store", {"provider": "kubernetes", "refresh_interval": HOSTILE}),
        ("faas", "function.args", ["line\nbreak"]),
    ],
)
def test_hostile_keys_and_references_never_validate(kind: str, path: str, value: Any) -> None:
    message = problem(changed(kind, path, value))
    assert re.search(r"field '[\w.\[\]]+", message), message
