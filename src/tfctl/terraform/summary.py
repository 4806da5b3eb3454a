"""What a plan will do, read from `terraform show -json PLAN`, with sensitive values redacted.

`summarize_plan` summarises a parsed document; `load_plan_summary` streams the file: it decodes
one resource change at a time and skips, undecoded, what a summary does not use
(`planned_values`, `prior_state`, ...). Peak memory is twice the file size (`json.load`: 6x).
`read_plan` also collects the plan's secrets in the same pass.

Counting: a replacement (`["delete", "create"]` or `["create", "delete"]`) counts once, in
`replace`, and not also in `add` and `destroy` as terraform's "Plan: N to add" line does; a
deleted deposed object counts in `destroy`. `import` counts resources being imported whatever
their action, as terraform's own summary does, so an import that also updates counts in both
`import` and `change`; `move` counts resources at a new address (a `moved` block, or an
implicit move such as adding `count`) the same way, and `forget` those a `removed` block with
`destroy = false` drops from state without destroying them. Terraform's "Plan:" line counts
neither moves nor forgets; its diff shows them.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

from tfctl import errors
from tfctl.terraform.redact import (
    any_marked,
    change_secrets,
    output_secrets,
    redact_by_mask,
    resource_secrets,
    variable_secrets,
)

Action = Literal["create", "update", "delete", "replace", "read", "no-op", "forget"]

_SIMPLE_ACTIONS: Final[dict[tuple[str, ...], Action]] = {
    (a,): a for a in ("create", "update", "delete", "read", "no-op", "forget")
}
_COUNTED: Final = dict(  # action -> the count it adds to
    create="add", update="change", delete="destroy", replace="replace", read="read", forget="forget"
)
_META_KEYS: Final = ("format_version", "terraform_version", "applyable", "complete", "errored")
_CHANGE_LISTS: Final = {"resource_changes": "resources", "resource_drift": "drift"}


_CONFIG: Final = ConfigDict(hide_input_in_errors=True)  # an input may be a secret


# Slotted dataclasses rather than models: a 50,000-resource plan holds 50,000 of these, and a
# model instance costs about seven times the memory (its __dict__ and fields-set).
@dataclass(frozen=True, slots=True, config=_CONFIG)
class ResourceChange:
    """One resource instance in a plan's `resource_changes` or `resource_drift`.

    `action` is the single word for `actions`: a two-step replacement is `replace` whatever
    its order (`actions` keeps it: `["create", "delete"]` is create_before_destroy). The
    deposed object of an earlier create_before_destroy has `deposed` set. `action_reason` is
    terraform's own explanation, e.g. `replace_because_cannot_update`,
    `delete_because_count_index`, `read_because_config_unknown`; `replace_paths` lists the
    attributes that forced a replacement. Attribute values are not kept.
    """

    address: str
    action: Action
    actions: tuple[str, ...]
    type: str
    name: str
    mode: str = "managed"
    module_address: str | None = None
    index: int | str | None = None
    previous_address: str | None = None
    deposed: str | None = None
    importing: bool = False
    action_reason: str | None = None
    replace_paths: tuple[tuple[str | int, ...], ...] = ()

    @property
    def moved(self) -> bool:
        """The object was at `previous_address` before this plan (terraform's "has moved to")."""
        return self.previous_address is not None and self.previous_address != self.address

    @property
    def replace_reason(self) -> str | None:
        """Why the instance is replaced (`action_reason` of a replacement), else None."""
        return self.action_reason if self.action == "replace" else None


@dataclass(frozen=True, slots=True, config=_CONFIG)
class OutputChange:
    """One root output in a plan's `output_changes`.

    `before` / `after` have every sensitive part replaced by `REDACTED`; `sensitive` is true
    when any part of either side is. `after_unknown` is true when some part of the new value
    is known only after apply (that part is null in `after`).
    """

    name: str
    action: Action
    actions: tuple[str, ...]
    sensitive: bool
    before: Any = None
    after: Any = None
    after_unknown: bool = False


class PlanSummary(BaseModel):
    """What a saved plan will do; safe to store, log and print.

    `has_changes` is terraform's own test for "this plan changes something" (the one behind
    `plan -detailed-exitcode` exiting 2): a resource action other than no-op (data-source
    reads and forgets included), a moved or imported resource, or a root output change; a
    plan whose only change is a move, an import or a forget has changes. It is computed
    from the changes rather than copied from `applyable`, which also covers refresh-only
    drift and which Terraform 1.11 sets at random in refresh-only plans of resources with two
    or more sensitive attributes. For a refresh-only plan, what terraform would exit 2 for is
    `has_changes or has_drift`; `has_drift` is true when an object changed outside terraform
    (a drift entry whose action is not no-op: a moved object alone is not drift).
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, hide_input_in_errors=True)

    format_version: str | None = None
    terraform_version: str | None = None
    add: int = 0
    change: int = 0
    destroy: int = 0
    replace: int = 0
    import_: int = Field(default=0, alias="import")
    read: int = 0
    forget: int = 0
    move: int = 0
    has_changes: bool = False
    has_drift: bool = False
    applyable: bool = False
    complete: bool = True
    errored: bool = False
    resources: tuple[ResourceChange, ...] = ()
    drift: tuple[ResourceChange, ...] = ()
    outputs: tuple[OutputChange, ...] = ()

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict with the stable field names of `--json` (`import`, not
        `import_`); `PlanSummary.from_json_dict` reads it back."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> PlanSummary:
        """The summary that `to_json_dict` returned `data` for (e.g. read back from the store)."""
        return cls.model_validate(data)


def summarize_plan(doc: Mapping[str, Any]) -> PlanSummary:
    """Summarise a parsed `terraform show -json PLAN` document.

    Any top-level key may be missing (a refresh-only plan without drift has no
    `resource_changes`). Raises `TerraformError` if `doc` is not plan JSON of format 1.x.
    """
    builder = _Builder()
    try:
        for key, entries in ((key, doc.get(key)) for key in _CHANGE_LISTS):
            for entry in entries or ():
                builder.add_resource(key, entry)
        for name, change in (doc.get("output_changes") or {}).items():
            builder.add_output(name, change)
    except ValueError as exc:  # pydantic's ValidationError is one
        raise errors.TerraformError(f"not terraform plan JSON: {exc}") from exc
    builder.meta.update((key, doc[key]) for key in _META_KEYS if key in doc)
    builder.is_plan = "planned_values" in doc
    return builder.build()


def load_plan_summary(path: Path) -> PlanSummary:
    """Summarise the `terraform show -json PLAN` output saved at `path`, streaming.

    Same result as `summarize_plan(json.load(...))`. Raises `TerraformError` naming the file if
    it is not valid plan JSON (truncated, not JSON, not UTF-8, not a plan).
    """
    return _load(path, None)


def read_plan(path: Path) -> tuple[PlanSummary, set[str]]:
    """`load_plan_summary(path)` and `sensitive_values_from_plan` of the same document, read in
    one streaming pass: what a run needs from its plan. Peak memory is twice the file size
    plus the largest single resource, which is decoded whole for its secrets."""
    secrets: set[str] = set()
    return _load(path, secrets), secrets


def _load(path: Path, secrets: set[str] | None) -> PlanSummary:
    builder = _Builder(secrets)
    try:
        cursor = _Cursor(_read_ascii(path))
        for key in cursor.members():
            _feed(builder, key, cursor)
        cursor.finish()
    except (ValueError, IndexError) as exc:  # JSONDecodeError and UnicodeError are ValueErrors
        raise errors.TerraformError(f"{path} is not terraform plan JSON: {exc}") from exc
    return builder.build()


class _Builder:
    """Accumulates a summary from plan parts, one resource change at a time."""

    def __init__(self, secrets: set[str] | None = None) -> None:
        self.meta: dict[str, Any] = {}
        self.is_plan = False  # every plan document has `planned_values`; state JSON has not
        self.lists: dict[str, list[ResourceChange]] = {"resources": [], "drift": []}
        self.outputs: list[OutputChange] = []
        self.secrets = secrets  # collected too when not None
        self.variables: dict[str, Any] = {}  # values and declarations, for the secrets
        self.declared: dict[str, Any] = {}

    def add_resource(self, key: str, entry: Mapping[str, Any]) -> None:
        self.lists[_CHANGE_LISTS[key]].append(_resource_change(entry))
        if self.secrets is not None:
            self.secrets.update(change_secrets(entry.get("change") or {}))

    def add_output(self, name: str, change: Mapping[str, Any]) -> None:
        self.outputs.append(_output_change(name, change))
        if self.secrets is not None:
            self.secrets.update(change_secrets(change))

    def build(self) -> PlanSummary:
        version = self.meta.get("format_version")
        if not (self.is_plan and isinstance(version, str) and version.startswith("1.")):
            problem = f"format_version {version!r}" if self.is_plan else "no planned_values"
            raise errors.TerraformError(f"not terraform plan JSON of format 1.x: {problem}")
        if self.secrets is not None:
            self.secrets.update(variable_secrets(self.declared, self.variables))
        resources, drift = self.lists["resources"], self.lists["drift"]
        return PlanSummary(
            **self.meta,
            **_counts(resources),
            has_changes=_has_changes(resources, self.outputs),
            has_drift=any(d.action != "no-op" for d in drift),
            resources=tuple(resources),
            drift=tuple(drift),
            outputs=tuple(sorted(self.outputs, key=lambda o: o.name)),
        )


def _action(actions: tuple[str, ...]) -> Action:
    if actions in _SIMPLE_ACTIONS:
        return _SIMPLE_ACTIONS[actions]
    if "create" in actions and len(actions) > 1:  # delete+create either way, create+forget
        return "replace"
    raise errors.TerraformError(
        f"terraform planned actions {list(actions)}, which this tfctl does not know; upgrade tfctl"
    )


def _resource_change(entry: Mapping[str, Any]) -> ResourceChange:
    change, address = entry.get("change") or {}, entry.get("address")
    if not isinstance(address, str):
        # Never quote the entry: its before/after values may be secrets.
        raise errors.TerraformError("not terraform plan JSON: a resource change has no address")
    actions = tuple(map(_shared, change.get("actions") or ("no-op",)))
    return ResourceChange(
        address=address,
        action=_action(actions),
        actions=actions,
        type=_shared(entry.get("type", "")),
        name=_shared(entry.get("name", "")),
        mode=_shared(entry.get("mode", "managed")),
        module_address=_shared(entry.get("module_address")),
        index=entry.get("index"),
        previous_address=entry.get("previous_address"),
        deposed=entry.get("deposed"),
        importing=bool(change.get("importing")),
        action_reason=_shared(entry.get("action_reason")),
        replace_paths=tuple(tuple(map(_shared, p)) for p in change.get("replace_paths") or ()),
    )


def _shared(text: Any) -> Any:
    """One string object for the values repeated across thousands of instances (types,
    names, actions, attribute names); anything else is left for validation to reject."""
    return sys.intern(text) if isinstance(text, str) else text


def _output_change(name: str, change: Mapping[str, Any]) -> OutputChange:
    before_mask, after_mask = change.get("before_sensitive"), change.get("after_sensitive")
    actions = tuple(change.get("actions") or ("no-op",))
    return OutputChange(
        name=name,
        action=_action(actions),
        actions=actions,
        sensitive=any_marked(before_mask) or any_marked(after_mask),
        before=redact_by_mask(change.get("before"), before_mask),
        after=redact_by_mask(change.get("after"), after_mask),
        after_unknown=any_marked(change.get("after_unknown")),
    )


def _counts(resources: list[ResourceChange]) -> dict[str, int]:
    counts = dict.fromkeys((*_COUNTED.values(), "import_", "move"), 0)
    for change in resources:
        if change.action in _COUNTED:
            counts[_COUNTED[change.action]] += 1
        counts["import_"] += change.importing
        counts["move"] += change.moved
    return counts


def _has_changes(resources: list[ResourceChange], outputs: list[OutputChange]) -> bool:
    """terraform's `Changes.Empty()`, negated (internal/plans/changes.go): a move, an
    import or a forget alone is a change to apply."""
    acting = any(r.action != "no-op" or r.importing or r.moved for r in resources)
    return acting or any(o.action != "no-op" for o in outputs)


# --- streaming ------------------------------------------------------------------------------


def _feed(builder: _Builder, key: str, cursor: _Cursor) -> None:
    """Route one top-level member of the plan document; skip what is not needed."""
    if key in _CHANGE_LISTS:
        for _ in cursor.elements():
            builder.add_resource(key, cursor.value())
    elif key == "output_changes":
        for name in cursor.members():
            builder.add_output(name, cursor.value())
    elif key in _META_KEYS:
        builder.meta[key] = cursor.value()
    else:
        builder.is_plan = builder.is_plan or key == "planned_values"
        if builder.secrets is None or key not in _SECRET_PARTS:
            cursor.skip()
        else:
            _SECRET_PARTS[key](builder, cursor)


def _variables(builder: _Builder, cursor: _Cursor) -> None:
    builder.variables = cursor.value()


def _configuration(builder: _Builder, cursor: _Cursor) -> None:
    # Small whatever the plan's size: count and for_each are not expanded in it.
    builder.declared = (cursor.value().get("root_module") or {}).get("variables") or {}


def _planned_values(builder: _Builder, cursor: _Cursor) -> None:
    """Secrets of a `planned_values` / `prior_state.values` object, a resource at a time."""
    if builder.secrets is None:  # only called when secrets are being collected
        raise ValueError("planned values read without a secret collector")
    for key in cursor.members():
        if key == "outputs":
            builder.secrets.update(output_secrets(cursor.value()))
        elif key == "root_module":
            _module(builder.secrets, cursor)
        else:
            cursor.skip()


def _prior_state(builder: _Builder, cursor: _Cursor) -> None:
    for key in cursor.members():
        if key == "values":
            _planned_values(builder, cursor)
        else:
            cursor.skip()


def _module(secrets: set[str], cursor: _Cursor) -> None:
    for key in cursor.members():
        if key == "resources":
            for _ in cursor.elements():
                secrets.update(resource_secrets(cursor.value()))
        elif key == "child_modules":
            for _ in cursor.elements():
                _module(secrets, cursor)
        else:
            cursor.skip()


_SECRET_PARTS: Final = {
    "variables": _variables,
    "configuration": _configuration,
    "planned_values": _planned_values,
    "prior_state": _prior_state,
}


_NON_ASCII: Final = re.compile(rb"[\x80-\xff]+")


def _read_ascii(path: Path) -> str:
    """The file as an ASCII str (1 byte a character; one emoji would make Python use 4 for
    all), non-ASCII turned into JSON `\\u` escapes, which mean the same inside JSON strings."""
    raw = path.read_bytes()
    if not raw.isascii():
        raw = _NON_ASCII.sub(_escape_utf8, raw)
    return raw.decode("ascii")


def _escape_utf8(match: re.Match[bytes]) -> bytes:
    text = match.group().decode("utf-8")
    return json.dumps(text)[1:-1].encode("ascii")


_WHITESPACE: Final = re.compile(r"[ \t\n\r]*")
# Everything up to the next bracket that is not inside a string. Possessive quantifiers: with
# plain ones the regex engine keeps backtracking state for every string it passes, 300 MB for
# a list of a million strings.
_TO_BRACKET: Final = re.compile(
    r'[^"\[\]{}]*+(?:"[^"\\]*+(?:\\.[^"\\]*+)*+"[^"\[\]{}]*+)*+', re.DOTALL
)
_DECODER: Final = json.JSONDecoder()


class _Cursor:
    """Walks JSON text, decoding only the values it is asked for.

    `members()` / `elements()` yield once per object key / array element; the caller must
    consume each value with `value()`, `skip()` or a nested `members()` / `elements()` before
    asking for the next. Errors surface as ValueError or IndexError.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def value(self) -> Any:
        self._peek()
        decoded, self.pos = _DECODER.raw_decode(self.text, self.pos)
        return decoded

    def members(self) -> Iterator[str]:
        for _ in self._items("{", "}"):
            key = self.value()
            if not isinstance(key, str):
                raise ValueError(f"expected an object key at offset {self.pos}")
            self._expect(":")
            yield key

    def elements(self) -> Iterator[None]:
        yield from self._items("[", "]")

    def skip(self) -> None:
        """Step over the next value without building it."""
        if self._peek() not in "[{":
            self.value()
            return
        depth = 0
        while True:
            self.pos = _match_end(_TO_BRACKET, self.text, self.pos)
            bracket = self.text[self.pos]
            if bracket not in "[]{}":
                raise ValueError(f"unterminated string at offset {self.pos}")
            depth += 1 if bracket in "[{" else -1
            self.pos += 1
            if depth == 0:
                return

    def finish(self) -> None:
        self.pos = _match_end(_WHITESPACE, self.text, self.pos)
        if self.pos != len(self.text):
            raise ValueError(f"extra data at offset {self.pos}")

    def _items(self, opening: str, closing: str) -> Iterator[None]:
        if self._peek() == "n":  # a null where a container was expected: no items
            self.value()
            return
        self._expect(opening)
        if self._peek() == closing:
            self.pos += 1
            return
        while True:
            yield
            if self._peek() == closing:
                self.pos += 1
                return
            self._expect(",")

    def _peek(self) -> str:
        self.pos = _match_end(_WHITESPACE, self.text, self.pos)
        return self.text[self.pos]

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise ValueError(f"expected {char!r} at offset {self.pos}")
        self.pos += 1


def _match_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    match = pattern.match(text, pos)
    return pos if match is None else match.end()  # both patterns match the empty string
