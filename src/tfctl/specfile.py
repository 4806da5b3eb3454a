"""Reading a spec file (YAML, JSON or TOML) into a validated `TerraformStackSpec`.

Every failure is an `InvalidInput` whose one-line message names the file, the line or the field
path, and the problem, so the user can fix it without a traceback. Nothing here touches the
store: a spec that fails here is never persisted.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tfctl import errors
from tfctl.spec import TerraformStackSpec

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}
_MAX_REPORTED_ERRORS = 3


def load_spec_file(path: Path) -> TerraformStackSpec:
    """Parse and validate the spec at `path`; local `module_source` paths become absolute."""
    document = parse_spec_document(path)
    try:
        spec = TerraformStackSpec.model_validate(document)
    except ValidationError as exc:
        raise errors.InvalidSpec(f"{path}: {describe_validation_error(exc)}") from exc
    return _resolve_module_source(spec, path)


def parse_spec_document(path: Path) -> dict[str, Any]:
    """Read `path` as YAML, JSON or TOML (by its suffix) into a mapping."""
    parser = _PARSERS.get(FORMATS.get(path.suffix.lower(), ""))
    if parser is None:
        known = ", ".join(FORMATS)
        raise errors.SpecFileError(f"{path}: unknown spec format '{path.suffix}'; use {known}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise errors.SpecFileError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.SpecFileError(f"{path}: cannot read the file: {exc}") from exc
    document = parser(path, text)
    if not isinstance(document, dict):
        found = type(document).__name__ if document is not None else "an empty document"
        raise errors.InvalidSpec(f"{path}: the spec must be a mapping of fields, found {found}")
    return document


def _parse_yaml(path: Path, text: str) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise errors.SpecFileError(f"{where}: YAML syntax error: {problem}") from exc
    except yaml.YAMLError as exc:
        raise errors.SpecFileError(f"{path}: YAML syntax error: {exc}") from exc


def _parse_json(path: Path, text: str) -> Any:
    def reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise errors.SpecFileError(f"{path}: duplicate key '{key}'")
            seen[key] = value
        return seen

    try:
        return json.loads(text, object_pairs_hook=reject_duplicates)
    except json.JSONDecodeError as exc:
        raise errors.SpecFileError(
            f"{path}:{exc.lineno}:{exc.colno}: JSON syntax error: {exc.msg}"
        ) from exc


def _parse_toml(path: Path, text: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise errors.SpecFileError(f"{path}: TOML syntax error: {exc}") from exc


_PARSERS: dict[str, Callable[[Path, str], Any]] = {
    "yaml": _parse_yaml,
    "json": _parse_json,
    "toml": _parse_toml,
}


def _unique_key_loader() -> type[Any]:
    """A SafeLoader that rejects duplicate mapping keys (YAML silently keeps the last one)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
            for index, key in enumerate(keys):
                if key in keys[:index]:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}'", node.start_mark
                    )
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field path and its problem (the first few, then a count)."""
    details = exc.errors(include_url=False)
    shown = "; ".join(_describe(detail) for detail in details[:_MAX_REPORTED_ERRORS])
    hidden = len(details) - _MAX_REPORTED_ERRORS
    return shown + (f"; and {hidden} more" if hidden > 0 else "")


def _describe(detail: ErrorDetails) -> str:
    path = field_path(detail["loc"])
    kind = detail["type"]
    if kind == "extra_forbidden":
        return f"field '{path}': unknown field"
    if kind == "missing":
        return f"field '{path}': required field is missing"
    if kind == "enum":
        expected = detail.get("ctx", {}).get("expected", "")
        value = detail.get("input")
        return f"field '{path}': unknown {path.split('.')[-1]} {value!r}; expected {expected}"
    message = detail["msg"].removeprefix("Value error, ")
    return f"field '{path}': {message}" if path else message


def field_path(loc: Iterable[int | str]) -> str:
    """`("queues", 0, "name")` → `queues[0].name`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _resolve_module_source(spec: TerraformStackSpec, path: Path) -> TerraformStackSpec:
    """Local module paths are relative to the spec file; store them absolute so a run finds
    them wherever it executes. Registry, git and other addresses pass through unchanged."""
    source = spec.module_source
    if source is None or not (source.startswith(("./", "../")) or Path(source).is_absolute()):
        return spec
    resolved = (path.parent / source).resolve()
    if not resolved.is_dir():
        raise errors.InvalidSpec(
            f"{path}: field 'module_source': local module directory {resolved} does not exist"
        )
    return spec.model_copy(update={"module_source": str(resolved)})
