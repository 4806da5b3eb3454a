"""A state version tfctl can store: what `terraform state pull` returned, with secrets removed.

`snapshot_state` keeps the identity of a state (serial, lineage, SHA-256 of the exact bytes),
its root outputs with sensitive values redacted, and the addresses of its resource instances.
`sensitive_values` collects the clear text of every sensitive value in the state, for a
`SecretScrubber`: terraform writes sensitive outputs and attributes into the state in clear
text, marked only by `sensitive: true` and each instance's `sensitive_attributes`.

Checked against Terraform 1.11 state (format version 4): `sensitive_attributes` is a list of
paths, each a list of steps such as `{"type": "get_attr", "value": "input"}` or
`{"type": "index", "value": {"value": 1, "type": "number"}}`; attributes of dynamic type
(`terraform_data`'s `input` and `output`) are stored wrapped as `{"value": ..., "type": ...}`.
Note that `terraform_data`'s `output` carries a copy of a sensitive `input` that terraform
does NOT list as sensitive: scrubbing by value, not by path, is what catches it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from tfctl import errors
from tfctl.terraform.redact import REDACTED, sensitive_strings

STATE_FORMAT_VERSION: Final = 4
_PRIMITIVE_TYPES: Final = frozenset({"string", "number", "bool", "dynamic"})
_COLLECTION_TYPES: Final = frozenset({"list", "set", "map", "object", "tuple"})


class OutputValue(BaseModel):
    """One root output of a state: its value (`REDACTED` when sensitive) and terraform type."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    value: Any = None
    type: Any = None
    sensitive: bool = False


class StateSnapshot(BaseModel):
    """What tfctl records about one state version; safe to store, log and print.

    `sha256` is of the bytes exactly as `terraform state pull` prints them: the state file
    as the backend stores it, and the newline terraform's UI adds. For the `local` backend
    tfctl reads the file itself (`local_state_file`, `state_file_as_pulled`) and hashes the
    same bytes, so a version recorded by either way has the same SHA-256. `resources` are
    the instance addresses in state order, data sources included, as `terraform state list`
    prints them (`module.m["k"].terraform_data.x[0]`). `resource_count` counts managed
    resource instances only: each count/for_each instance once, data sources and deposed
    objects not at all, which is the number a user compares with what a stack manages.
    Empty input (no state yet) gives serial 0, no lineage and nothing else.
    """

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    serial: int = 0
    lineage: str | None = None
    terraform_version: str | None = None
    sha256: str
    resource_count: int = 0
    outputs: dict[str, OutputValue] = {}
    resources: tuple[str, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict with stable field names."""
        return self.model_dump(mode="json")


def snapshot_state(
    state_pull_bytes: bytes, outputs_json: Mapping[str, Any] | None = None
) -> StateSnapshot:
    """Snapshot the output of `terraform state pull`.

    `outputs_json`, when given, is `terraform output -json` for the same state; its outputs
    are recorded instead of the state's (they agree whenever both are available). An output
    is redacted if either document marks it sensitive. Raises `TerraformError` if the bytes
    are not a version-4 state.
    """
    doc = parse_state(state_pull_bytes)
    sha256 = hashlib.sha256(state_pull_bytes).hexdigest()
    if not doc:
        return StateSnapshot(sha256=sha256)
    return StateSnapshot(
        serial=doc.get("serial", 0),
        lineage=doc.get("lineage"),
        terraform_version=doc.get("terraform_version"),
        sha256=sha256,
        resource_count=sum(1 for _ in _instances(doc, managed_only=True)),
        outputs=_outputs(doc.get("outputs") or {}, outputs_json),
        resources=tuple(address for address, _ in _instances(doc, managed_only=False)),
    )


def local_state_file(work: Path) -> Path | None:
    """The state file of the working directory `work` when its backend is `local`, as
    `terraform init` recorded it in `work/.terraform` (a link to the workspace's initialised
    directory); None for any other backend, a workspace other than `default`, or when
    unknown (then `terraform state pull` is the way to read the state)."""
    data = work / ".terraform"
    try:
        recorded = json.loads((data / "terraform.tfstate").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:  # no `environment` file: the default workspace
        environment = (data / "environment").read_text(encoding="utf-8").strip() or "default"
    except FileNotFoundError:
        environment = "default"
    except OSError:
        return None
    backend = recorded.get("backend") if isinstance(recorded, dict) else None
    if not isinstance(backend, dict) or backend.get("type") != "local":
        return None
    if environment != "default" or os.environ.get("TF_WORKSPACE", "default") != "default":
        return None
    config = backend.get("config") or {}
    path = Path(str(config.get("path") or "terraform.tfstate"))
    return path if path.is_absolute() else work / path


def state_file_as_pulled(path: Path) -> bytes | None:
    """The bytes `terraform state pull` prints for the local state file `path` (the file
    and one newline); None when there is no file (no state yet: ask terraform)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return data + b"\n" if data.strip() else b""


def parse_state(state_pull_bytes: bytes) -> dict[str, Any]:
    """The state document; `{}` for empty input (`state pull` prints nothing without state).

    Raises `TerraformError` if it is not JSON or not state format version 4.
    """
    if not state_pull_bytes.strip():
        return {}
    try:
        doc = json.loads(state_pull_bytes)
    except ValueError as exc:
        raise errors.TerraformError(f"terraform state is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("version") != STATE_FORMAT_VERSION:
        found = doc.get("version") if isinstance(doc, dict) else type(doc).__name__
        raise errors.TerraformError(
            f"terraform state has format version {found!r}; tfctl reads version 4"
        )
    return doc


def sensitive_values(state_doc: Mapping[str, Any] | bytes) -> set[str]:
    """Every sensitive value in a state, as clear text: sensitive outputs, and each instance's
    attributes at its `sensitive_attributes` paths (deposed objects included).

    Accepts the parsed document or the raw `state pull` bytes. A path that cannot be followed
    collects everything under the last attribute it reached: when in doubt, scrub more.
    """
    doc = parse_state(state_doc) if isinstance(state_doc, bytes) else state_doc
    found: set[str] = set()
    for output in (doc.get("outputs") or {}).values():
        if output.get("sensitive"):
            found.update(sensitive_strings(output.get("value"), True))
    for resource in doc.get("resources") or ():
        for instance in resource.get("instances") or ():
            found.update(_instance_secrets(instance))
    return found


def instance_address(resource: Mapping[str, Any], instance: Mapping[str, Any]) -> str:
    """The address terraform prints for one instance of a state resource."""
    module = resource.get("module")
    prefix = f"{module}." if module else ""
    mode = "data." if resource.get("mode") == "data" else ""
    key = instance.get("index_key")
    return f"{prefix}{mode}{resource['type']}.{resource['name']}{_index(key)}"


def hcl_quote(text: str) -> str:
    """`text` as a quoted HCL string, escaped the way terraform prints instance keys.

    Mirrors terraform's `toHCLQuotedString`: backslash escapes for `\\n \\r \\t " \\`, `${`
    and `%{` doubled so they are not template sequences, other unprintables as `\\u` escapes.
    """
    out = []
    for i, char in enumerate(text):
        if char in _HCL_ESCAPES:
            out.append(_HCL_ESCAPES[char])
        elif char in "$%" and text[i + 1 : i + 2] == "{":
            out.append(char * 2)
        elif not char.isprintable():
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_HCL_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}


def _index(key: Any) -> str:
    if key is None:
        return ""
    if isinstance(key, str):
        return f"[{hcl_quote(key)}]"
    return f"[{key}]"


def _instances(doc: Mapping[str, Any], *, managed_only: bool) -> Iterator[tuple[str, Any]]:
    """(address, instance) of each current (not deposed) instance, in state order."""
    for resource in doc.get("resources") or ():
        if managed_only and resource.get("mode") != "managed":
            continue
        for instance in resource.get("instances") or ():
            if "deposed" not in instance:
                yield instance_address(resource, instance), instance


def _outputs(
    state_outputs: Mapping[str, Any], outputs_json: Mapping[str, Any] | None
) -> dict[str, OutputValue]:
    source = state_outputs if outputs_json is None else outputs_json
    snapshot = {}
    for name, output in sorted(source.items()):
        sensitive = bool(output.get("sensitive")) or bool(
            (state_outputs.get(name) or {}).get("sensitive")
        )
        value = REDACTED if sensitive else output.get("value")
        snapshot[name] = OutputValue(value=value, type=output.get("type"), sensitive=sensitive)
    return snapshot


def _instance_secrets(instance: Mapping[str, Any]) -> Iterator[str]:
    attributes = instance.get("attributes") or {}
    for path in instance.get("sensitive_attributes") or ():
        yield from sensitive_strings(_follow(attributes, path), True)


def _follow(node: Any, path: list[Mapping[str, Any]]) -> Any:
    """The value at `path` (terraform's path steps) inside `node`, unwrapping dynamic values;
    where a step cannot be followed, the node reached so far."""
    for step in path:
        key = step.get("value")
        if step.get("type") == "index" and isinstance(key, Mapping):
            key = key.get("value")
        child = _child(_unwrap(node), key)
        if child is _MISSING:
            break
        node = child
    return _unwrap(node)


_MISSING: Final = object()


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, Mapping) and isinstance(key, str):
        return node.get(key, _MISSING)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return _MISSING


def _unwrap(node: Any) -> Any:
    """The value of an attribute of dynamic type, stored as `{"value": v, "type": t}`."""
    if isinstance(node, Mapping) and node.keys() == {"value", "type"} and _is_type(node["type"]):
        return node["value"]
    return node


def _is_type(expr: Any) -> bool:
    """Whether `expr` is a type as terraform writes it in JSON ("string", ["list", "number"])."""
    if isinstance(expr, str):
        return expr in _PRIMITIVE_TYPES
    return isinstance(expr, list) and len(expr) == 2 and expr[0] in _COLLECTION_TYPES
