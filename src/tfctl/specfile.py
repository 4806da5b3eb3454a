"""Reading a spec file (YAML, JSON or TOML) into a validated `TerraformStackSpec`.

Every failure is an `InvalidInput` whose one-line message names the file, the line or the field
path, and the problem, so the user can fix it without a traceback. Nothing here touches the
store: a spec that fails here is never persisted.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from tfctl import errors
from tfctl.spec import NAME_PATTERN, PATTERN_RULES, TerraformStackSpec

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}
_MAX_REPORTED_ERRORS = 3
_MAX_SHOWN_VALUE = 40


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
    if path.is_dir():
        raise errors.SpecFileError(f"{path}: is a directory; {_spec_files_in(path)}")
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
        return f"field '{path}': unknown field ({_known_fields(detail['loc'])})"
    if kind == "string_pattern_mismatch" and detail.get("ctx", {}).get("pattern") in PATTERN_RULES:
        return f"field '{path}': {_pattern_problem(detail['input'], detail['ctx']['pattern'])}"
    if kind == "missing":
        return f"field '{path}': required field is missing"
    if kind == "enum":
        expected = detail.get("ctx", {}).get("expected", "")
        value = detail.get("input")
        return f"field '{path}': unknown {path.split('.')[-1]} {value!r}; expected {expected}"
    message = detail["msg"].removeprefix("Value error, ")
    return f"field '{path}': {message}" if path else message


def _known_fields(loc: tuple[int | str, ...]) -> str:
    """Did you mean 'description'? for a near miss, else the fields allowed there."""
    known = field_names_at(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"expected one of {', '.join(known)}" if known else "no fields belong here"


def _pattern_problem(value: object, pattern: str) -> str:
    """The rule a value breaks, in words, not as the regular expression."""
    what, rule = PATTERN_RULES[pattern]
    shown = repr(value)
    if len(shown) > _MAX_SHOWN_VALUE:
        shown = shown[: _MAX_SHOWN_VALUE - 1] + "…"
    problem = f"{shown} is not {what} ({rule})"
    suggestion = suggest_name(value) if pattern == NAME_PATTERN and isinstance(value, str) else None
    return problem + (f", e.g. {suggestion!r}" if suggestion else "")


def _spec_files_in(directory: Path) -> str:
    """What to pass instead of a directory: the spec files in it, if any."""
    try:
        found = sorted(
            p.name for p in directory.iterdir() if p.suffix.lower() in FORMATS and p.is_file()
        )
    except OSError:
        found = []
    if len(found) == 1:
        return f"pass the spec file in it: {directory / found[0]}"
    if found:
        return f"pass one of the spec files in it: {', '.join(found[:5])}"
    return f"pass a spec file ({', '.join(FORMATS)})"


def field_names_at(loc: Sequence[int | str]) -> tuple[str, ...]:
    """The field names a spec allows inside the value at `loc` (a pydantic error location:
    field names, list indices, and tags of tagged unions such as `vault`), sorted; empty when
    `loc` does not lead to an object of fields."""
    models: list[type[BaseModel]] = [TerraformStackSpec]
    for part in loc:
        if isinstance(part, int):
            continue
        owners = [model for model in models if part in model.model_fields]
        if owners:
            models = [
                found
                for model in owners
                for found in _models_in(model.model_fields[part].annotation)
            ]
        else:  # the tag pydantic puts in the path of a tagged union's member
            models = [model for model in models if _has_tag(model, part)]
    return tuple(sorted({name for model in models for name in model.model_fields}))


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if get_origin(annotation) is dict:
        return  # a mapping's keys are data, not fields
    for argument in get_args(annotation):
        yield from _models_in(argument)


def _has_tag(model: type[BaseModel], tag: str) -> bool:
    return any(
        get_origin(field.annotation) is Literal and tag in get_args(field.annotation)
        for field in model.model_fields.values()
    )


def suggest_name(value: str) -> str | None:
    """A valid name close to `value` (`Web_App` → `web-app`), or None."""
    candidate = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:63].rstrip("-")
    valid = candidate != value and re.fullmatch(NAME_PATTERN, candidate) is not None
    return candidate if valid else None


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
