"""`TerraformStackSpec`: a stack described once, validated, and hashed canonically.

The hash is the SHA-256 of the spec's canonical JSON: every field present with defaults filled
in, keys sorted, no insignificant whitespace, UTF-8. Key order, file format and spelling of
defaults therefore never change the hash; any change of a value does.

Each kind has its own typed fields (`bucket`; `function` and `queues`; `bots`; `secret_store`
and `secret_mappings`; `module_source`), refused on every other kind, and runs on the clouds
`SUPPORTED_CLOUDS` lists. Rules that depend on the cloud (bucket names, storage classes, what
tags may hold) are checked here too, so a spec that validates renders.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from tfctl.persistence.kinds import Cloud, ModuleKind

#: Each pattern a spec field must match, in words: (what the value must be, its rule), as in
#: "'Web_App' is not a valid name (1 to 63 lowercase letters, ...)". Error messages use these
#: instead of showing the regular expression.
PATTERN_RULES: dict[str, tuple[str, str]] = {}


def _pattern(pattern: str, what: str, rule: str, **constraints: Any) -> Any:
    """`Field(pattern=...)`, with the rule in words registered for error messages."""
    PATTERN_RULES[pattern] = (what, rule)
    return Field(pattern=pattern, **constraints)


NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
NAME_RULE = "1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
Name = Annotated[str, _pattern(NAME_PATTERN, "a valid name", NAME_RULE)]
# Free text that travels to Terraform as data: anything printable, one line.
Text = Annotated[
    str,
    _pattern(
        r"^[^\x00-\x1f\x7f]*$",
        "one line of text",
        "printable characters only, no line breaks, tabs or other control characters",
        max_length=4096,
    ),
]
Image = Annotated[
    str,
    _pattern(
        r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$",
        "a valid image reference",
        "up to 255 letters, digits and . _ / : @ -, starting with a letter or digit",
    ),
]
EnvName = Annotated[
    str,
    _pattern(
        r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        "a valid environment variable name",
        "up to 128 letters, digits and '_', not starting with a digit",
    ),
]
SecretKey = Annotated[
    str,
    _pattern(
        r"^[-._a-zA-Z0-9]{1,253}$",
        "a valid secret key",
        "1 to 253 letters, digits, '-', '_' and '.'",
    ),
]
BucketName = Annotated[
    str,
    _pattern(
        r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        "a valid bucket name",
        "3 to 63 lowercase letters, digits, '.' and '-', starting and ending with a letter or "
        "digit",
    ),
]
KeyPath = Annotated[
    str,
    _pattern(
        r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
        "a valid path",
        "segments of letters, digits, '_', '.' and '-' separated by single '/'",
    ),
]
Days = Annotated[int, Field(ge=1, le=36500)]

#: Which clouds each kind has templates for.
SUPPORTED_CLOUDS: dict[ModuleKind, tuple[Cloud, ...]] = {
    ModuleKind.STORAGE: (Cloud.AWS, Cloud.GCP, Cloud.AZURE, Cloud.LOCAL),
    ModuleKind.FAAS: (Cloud.LOCAL,),
    ModuleKind.AGENTS: (Cloud.LOCAL,),
    ModuleKind.SECRETS: (Cloud.LOCAL,),
    ModuleKind.GENERIC: (Cloud.AWS, Cloud.GCP, Cloud.AZURE, Cloud.LOCAL),
}

#: The storage classes a lifecycle rule may move objects to, per cloud (local has none).
STORAGE_CLASSES: dict[Cloud, tuple[str, ...]] = {
    Cloud.AWS: (
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER_IR",
        "GLACIER",
        "DEEP_ARCHIVE",
    ),
    Cloud.GCP: ("NEARLINE", "COLDLINE", "ARCHIVE"),
    Cloud.AZURE: ("cool", "cold", "archive"),
}


class _Strict(BaseModel):
    """Unknown fields are errors, not silently ignored: a typo must not pass review."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=False, defer_build=True
    )


def _unique(items: list[Any], attribute: str, field: str) -> None:
    seen: set[Any] = set()
    for item in items:
        key = getattr(item, attribute)
        if key in seen:
            raise ValueError(f"{field}: {attribute} {key!r} appears twice")
        seen.add(key)


class SecretKeyRef(_Strict):
    """One key of an existing Kubernetes Secret; tfctl never holds the value itself."""

    name: Name
    key: SecretKey


# --- storage -----------------------------------------------------------------------------------


class LifecycleRule(_Strict):
    """Objects under `prefix` move to `storage_class` after `transition_days` and/or are
    deleted after `expire_days` (noncurrent versions too, when the bucket is versioned)."""

    id: Name
    prefix: Annotated[Text, Field(max_length=1024)] = ""
    expire_days: Days | None = None
    transition_days: Days | None = None
    storage_class: (
        Annotated[
            str, _pattern(r"^[A-Za-z_]{1,32}$", "a valid storage class", "1 to 32 letters and '_'")
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _actions(self) -> LifecycleRule:
        if self.expire_days is None and self.transition_days is None:
            raise ValueError("a lifecycle rule needs expire_days, transition_days or both")
        if (self.transition_days is None) != (self.storage_class is None):
            raise ValueError("transition_days and storage_class go together")
        if self.transition_days and self.expire_days and self.transition_days >= self.expire_days:
            raise ValueError("transition_days must be less than expire_days")
        return self


class BucketSpec(_Strict):
    """The bucket of a `storage` stack. `name` defaults to the stack's name."""

    name: BucketName | None = None
    versioning: bool = True
    force_destroy: bool = False
    lifecycle_rules: list[LifecycleRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_rules(self) -> BucketSpec:
        _unique(self.lifecycle_rules, "id", "lifecycle_rules")
        return self


# --- faas --------------------------------------------------------------------------------------


class QueueSpec(_Strict):
    """One queue of a `faas` stack: KEDA scales its consumer by queue length."""

    name: Name
    min_replicas: Annotated[int, Field(ge=0)] = 0
    max_replicas: Annotated[int, Field(ge=1)] = 10
    target_length: Annotated[int, Field(ge=1)] = 5
    polling_interval: Annotated[int, Field(ge=1, le=3600)] = 30
    cooldown_period: Annotated[int, Field(ge=0, le=86400)] = 300

    @model_validator(mode="after")
    def _replicas_ordered(self) -> QueueSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class RedisBroker(_Strict):
    """Queues are Redis lists; the password, if any, comes from an existing Secret."""

    type: Literal["redis"]
    address: Annotated[
        str,
        _pattern(
            r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?:[0-9]{1,5}$",
            "a valid address",
            "HOST:PORT, the host of letters, digits, '.' and '-' (e.g. 'redis:6379')",
        ),
    ]
    database: Annotated[int, Field(ge=0, le=15)] = 0
    secret: SecretKeyRef | None = None


class RabbitMQBroker(_Strict):
    """Queues are RabbitMQ queues; the AMQP URL (with credentials) comes from a Secret."""

    type: Literal["rabbitmq"]
    secret: SecretKeyRef


#: Environment variables tfctl sets on every consumer itself.
RESERVED_ENV = frozenset({"QUEUE_NAME", "REDIS_PASSWORD", "RABBITMQ_URL"})


class FunctionSpec(_Strict):
    """The consumer of a `faas` stack: one Deployment per queue runs `image`."""

    image: Image
    args: list[Text] = Field(default_factory=list)
    env: dict[EnvName, Text] = Field(default_factory=dict)
    broker: Annotated[RedisBroker | RabbitMQBroker, Field(discriminator="type")]

    @model_validator(mode="after")
    def _no_reserved_env(self) -> FunctionSpec:
        reserved = sorted(RESERVED_ENV & self.env.keys())
        if reserved:
            raise ValueError(f"env {', '.join(reserved)}: set by tfctl for every consumer")
        return self


# --- agents ------------------------------------------------------------------------------------


class SidecarSpec(_Strict):
    """The data sidecar of a bot: shares the `data` volume with the bot at `mount_path`."""

    image: Image
    args: list[Text] = Field(default_factory=list)
    env: dict[EnvName, Text] = Field(default_factory=dict)
    mount_path: Annotated[
        str,
        _pattern(
            r"^/[A-Za-z0-9._/-]{0,254}$",
            "a valid mount path",
            "an absolute path: '/' then up to 254 letters, digits and . _ / -",
        ),
    ] = "/data"


class BotSpec(_Strict):
    """One bot of an `agents` stack: a Deployment of pods running the bot and its sidecar."""

    name: Name
    image: Image
    args: list[Text] = Field(default_factory=list)
    replicas: Annotated[int, Field(ge=0, le=100)] = 1
    env: dict[EnvName, Text] = Field(default_factory=dict)
    sidecar: SidecarSpec


# --- secrets -----------------------------------------------------------------------------------


class _StoreBase(_Strict):
    name: Name | None = None  # the ClusterSecretStore's name; default: the stack's name
    refresh_interval: Annotated[
        str,
        _pattern(
            r"^[0-9]{1,6}[smh]$", "a valid interval", "a number then s, m or h (e.g. '30s', '1h')"
        ),
    ] = "1h"


class KubernetesStore(_StoreBase):
    """Secrets are copied from `remote_namespace` (default: the stack's name) of the cluster."""

    provider: Literal["kubernetes"]
    remote_namespace: Name | None = None


class VaultStore(_StoreBase):
    """Secrets come from Vault; the token is key `token_secret` of a Secret in the operator's
    namespace."""

    provider: Literal["vault"]
    server: Annotated[
        str,
        _pattern(
            r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$",
            "a valid server address",
            "http:// or https://, a host name and an optional :PORT, no path "
            "(e.g. 'https://vault:8200')",
        ),
    ]
    path: KeyPath = "secret"
    version: Literal["v1", "v2"] = "v2"
    token_secret: SecretKeyRef


SecretStore = Annotated[KubernetesStore | VaultStore, Field(discriminator="provider")]


class SecretMapping(_Strict):
    """One ExternalSecret of a `secrets` stack: a remote key copied into a Kubernetes Secret
    `name` (all its properties, or only `property`, kept under that key)."""

    name: Name
    remote_key: KeyPath
    property: SecretKey | None = None
    namespace: Name = "default"


# Which optional fields belong to which kind; a field set on another kind is an error.
_KIND_ONLY_FIELDS: dict[str, ModuleKind] = {
    "bucket": ModuleKind.STORAGE,
    "function": ModuleKind.FAAS,
    "queues": ModuleKind.FAAS,
    "bots": ModuleKind.AGENTS,
    "secret_store": ModuleKind.SECRETS,
    "secret_mappings": ModuleKind.SECRETS,
    "module_source": ModuleKind.GENERIC,
}

# Fields added after specs were first stored: left out of the canonical form while unset, so
# their arrival changed no existing spec's hash (and created no spurious versions).
_LATER_FIELDS = ("bucket", "function", "bots", "secret_store")

# Sections whose defaults are part of the spec when the kind is theirs ("defaults filled in").
_KIND_DEFAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    ModuleKind.STORAGE.value: ("bucket", {}),
    ModuleKind.SECRETS.value: ("secret_store", {"provider": "kubernetes"}),
}


class TerraformStackSpec(_Strict):
    """A Terraform stack as a platform team describes it (DESIGN.md "Spec file format")."""

    name: Name
    kind: ModuleKind
    cloud: Cloud = Cloud.LOCAL
    description: str = ""
    module_source: Annotated[str, Field(min_length=1)] | None = None
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    bucket: BucketSpec | None = None
    function: FunctionSpec | None = None
    queues: list[QueueSpec] = Field(default_factory=list)
    bots: list[BotSpec] = Field(default_factory=list)
    secret_store: SecretStore | None = None
    secret_mappings: list[SecretMapping] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _fill_kind_defaults(cls, data: Any) -> Any:
        """A storage spec without `bucket` means the default bucket, and so on: fill it in,
        so spelling a default out never changes the hash."""
        if not isinstance(data, dict):
            return data
        field, default = _KIND_DEFAULTS.get(str(data.get("kind", "")), ("", {}))
        if field and data.get(field) is None:
            return {**data, field: default}
        return data

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> TerraformStackSpec:
        if self.kind is ModuleKind.GENERIC and not self.module_source:
            raise ValueError("module_source is required when kind is 'generic'")
        for field, kind in _KIND_ONLY_FIELDS.items():
            if getattr(self, field) and self.kind is not kind:
                raise ValueError(f"{field} is only allowed when kind is '{kind.value}'")
        clouds = SUPPORTED_CLOUDS[self.kind]
        if self.cloud not in clouds:
            names = ", ".join(cloud.value for cloud in clouds)
            raise ValueError(
                f"field 'cloud': kind '{self.kind.value}' has templates for cloud {names} "
                f"only, not '{self.cloud.value}'"
            )
        _check_kind_rules(self)
        return self

    def canonical_json(self) -> str:
        """The spec as canonical JSON: all fields, defaults filled in, sorted keys, compact."""
        unset = {field for field in _LATER_FIELDS if getattr(self, field) in (None, [])}
        return canonical_json(self.model_dump(mode="json", exclude=unset))

    def spec_hash(self) -> str:
        """SHA-256 (hex) of `canonical_json()`; equal specs have equal hashes."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def canonical_json(document: Any) -> str:
    """Serialise a JSON-compatible document canonically (sorted keys, no whitespace)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- rules that depend on the kind and the cloud ------------------------------------------------


def _check_kind_rules(spec: TerraformStackSpec) -> None:
    if spec.bucket is not None:
        _check_bucket(spec.bucket, spec.cloud)
    if spec.queues and spec.function is None:
        raise ValueError("field 'function': required when queues are given (image and broker)")
    _unique(spec.queues, "name", "queues")
    _unique(spec.bots, "name", "bots")
    pairs = [(m.namespace, m.name) for m in spec.secret_mappings]
    if len(set(pairs)) != len(pairs):
        raise ValueError("secret_mappings: two mappings write the same namespace and name")
    if spec.kind is not ModuleKind.GENERIC:
        _check_tags(spec.tags, spec.cloud)


def bucket_name_problem(name: str, cloud: Cloud) -> str | None:
    """Why `name` cannot name a bucket on `cloud` (Azure: a storage account), or None."""
    if cloud is Cloud.AZURE and not re.fullmatch(r"[a-z0-9]{3,24}", name):
        return f"{name!r} names an Azure storage account: 3-24 lowercase letters and digits"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name) or ".." in name:
        return f"{name!r} is not a bucket name: 3-63 lowercase letters, digits, '.' and '-'"
    return None


def _check_bucket(bucket: BucketSpec, cloud: Cloud) -> None:
    problem = bucket.name and bucket_name_problem(bucket.name, cloud)
    if problem:
        raise ValueError(f"field 'bucket.name': {problem}")
    if bucket.lifecycle_rules and cloud not in STORAGE_CLASSES:
        raise ValueError(f"field 'bucket.lifecycle_rules': not supported on cloud '{cloud.value}'")
    for index, rule in enumerate(bucket.lifecycle_rules):
        where = f"field 'bucket.lifecycle_rules[{index}]"
        if cloud is Cloud.AZURE and not rule.id.isalnum():
            raise ValueError(f"{where}.id': Azure rule names are letters and digits only")
        classes = STORAGE_CLASSES[cloud]
        if rule.storage_class is not None and rule.storage_class not in classes:
            raise ValueError(
                f"{where}.storage_class': {rule.storage_class!r} is not a storage class on "
                f"{cloud.value}; expected one of {', '.join(classes)}"
            )


# What each cloud accepts as tag (label) keys and values: (key, value, description).
_K8S_LABEL = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)"
_TAG_RULES: dict[Cloud, tuple[str, str, str]] = {
    Cloud.AWS: (
        r"[\w .:/=+@-]{1,128}",
        r"[\w .:/=+@-]{0,256}",
        "AWS tags: letters, digits, spaces and _ . : / = + - @",
    ),
    Cloud.GCP: (
        r"[a-z][a-z0-9_-]{0,62}",
        r"[a-z0-9_-]{0,63}",
        "GCP labels: lowercase letters, digits, '_' and '-', at most 63 characters",
    ),
    Cloud.AZURE: (
        r"[^<>%&\\?/\x00-\x1f]{1,512}",
        r"[^\x00-\x1f]{0,256}",
        "Azure tags: no < > % & \\ ? / in names",
    ),
    Cloud.LOCAL: (
        rf"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_K8S_LABEL}",
        rf"{_K8S_LABEL}?",
        "Kubernetes labels: letters, digits, '-', '_' and '.', at most 63 characters",
    ),
}


def _check_tags(tags: dict[str, str], cloud: Cloud) -> None:
    key_rule, value_rule, described = _TAG_RULES[cloud]
    for key, value in tags.items():
        if not re.fullmatch(key_rule, key) or not re.fullmatch(value_rule, value):
            raise ValueError(f"field 'tags.{key}': {value!r} does not fit {described}")
