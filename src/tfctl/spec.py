"""`TerraformStackSpec`: a stack described once, validated, and hashed canonically.

The hash is the SHA-256 of the spec's canonical JSON: every field present with defaults filled
in, keys sorted, no insignificant whitespace, UTF-8. Key order, file format and spelling of
defaults therefore never change the hash; any change of a value does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from tfctl.persistence.kinds import Cloud, ModuleKind

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lowercase letters, digits, '-'")]


class _Strict(BaseModel):
    """Unknown fields are errors, not silently ignored: a typo must not pass review."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class QueueSpec(_Strict):
    """One queue of a `faas` stack: KEDA scales its consumer by queue length."""

    name: Name
    min_replicas: Annotated[int, Field(ge=0)] = 0
    max_replicas: Annotated[int, Field(ge=1)] = 10
    target_length: Annotated[int, Field(ge=1)] = 5

    @model_validator(mode="after")
    def _replicas_ordered(self) -> QueueSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class SecretMapping(_Strict):
    """One ExternalSecret of a `secrets` stack: a remote key copied into a Kubernetes Secret."""

    name: Name
    remote_key: Annotated[str, Field(min_length=1)]
    property: str | None = None
    namespace: Name = "default"


# Which optional collections belong to which kind; a field set on another kind is an error.
_KIND_ONLY_FIELDS: dict[str, ModuleKind] = {
    "queues": ModuleKind.FAAS,
    "secret_mappings": ModuleKind.SECRETS,
    "module_source": ModuleKind.GENERIC,
}


class TerraformStackSpec(_Strict):
    """A Terraform stack as a platform team describes it (DESIGN.md "Spec file format")."""

    name: Name
    kind: ModuleKind
    cloud: Cloud = Cloud.LOCAL
    description: str = ""
    module_source: Annotated[str, Field(min_length=1)] | None = None
    variables: dict[str, JsonValue] = Field(default_factory=dict)
    queues: list[QueueSpec] = Field(default_factory=list)
    secret_mappings: list[SecretMapping] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> TerraformStackSpec:
        if self.kind is ModuleKind.GENERIC and not self.module_source:
            raise ValueError("module_source is required when kind is 'generic'")
        for field, kind in _KIND_ONLY_FIELDS.items():
            if getattr(self, field) and self.kind is not kind:
                raise ValueError(f"{field} is only allowed when kind is '{kind.value}'")
        return self

    def canonical_json(self) -> str:
        """The spec as canonical JSON: all fields, defaults filled in, sorted keys, compact."""
        return canonical_json(self.model_dump(mode="json"))

    def spec_hash(self) -> str:
        """SHA-256 (hex) of `canonical_json()`; equal specs have equal hashes."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


def canonical_json(document: Any) -> str:
    """Serialise a JSON-compatible document canonically (sorted keys, no whitespace)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
