"""Reading a policy: one `.rego` file or a directory of them (recursively), its content hash,
the Rego package each file declares, and the data documents attached with it.

A policy (and each data document) is named by a local path or a `file://` URI and stored by
its absolute path; it is re-read at every check, so the hash says whether it changed since it
was attached.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from tfctl import errors

SUFFIX = ".rego"
_PACKAGE = re.compile(r"^[ \t]*package[ \t]+([^\s#]+)", re.MULTILINE)
_SEGMENT = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_]*)|\["((?:[^"\\]|\\.)*)"\]')


@dataclass(frozen=True, slots=True)
class PolicyFile:
    path: Path
    text: str
    sha256: str  # of the bytes on disk


@dataclass(frozen=True, slots=True)
class PolicyBundle:
    """A policy as read now: its files (sorted by path) and their combined SHA-256."""

    source: Path
    kind: str  # "file" | "directory"
    files: tuple[PolicyFile, ...]
    sha256: str


def resolve_source(value: str, *, cwd: Path | None = None, what: str = "policy") -> Path:
    """The absolute path a POLICY (or `--data`) argument names: a path (relative to `cwd`) or
    a `file://` URI. Other URI schemes are refused: it must be readable at every check."""
    parsed = urlparse(value)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).resolve()
    if parsed.scheme and len(parsed.scheme) > 1:  # not a Windows drive letter
        raise errors.InvalidInput(
            f"{what} {value!r}: only local paths and file:// URIs are supported; "
            f"download the {what} and attach the file"
        )
    return ((cwd or Path.cwd()) / Path(value).expanduser()).resolve()


def load_bundle(source: Path) -> PolicyBundle:
    """Read the policy at `source`, or `InvalidInput` naming it and the problem (missing,
    not a .rego file, a directory without .rego files, unreadable, not UTF-8)."""
    if source.is_dir():
        paths = sorted(p for p in source.rglob(f"*{SUFFIX}") if p.is_file())
        if not paths:
            raise errors.InvalidInput(f"policy {source}: no {SUFFIX} files in this directory")
        kind = "directory"
    elif source.is_file():
        if source.suffix != SUFFIX:
            raise errors.InvalidInput(f"policy {source}: not a {SUFFIX} file or a directory")
        paths, kind = [source], "file"
    else:
        raise errors.InvalidInput(f"policy {source}: no such file or directory")
    files = tuple(_read(path) for path in paths)
    return PolicyBundle(source, kind, files, bundle_sha256(source, files))


def bundle_sha256(source: Path, files: tuple[PolicyFile, ...]) -> str:
    """A single file's hash is its content's SHA-256 (what `sha256sum` prints); a directory's
    hashes each file's relative path and content hash, in order, so a rename counts."""
    if len(files) == 1 and files[0].path == source:
        return files[0].sha256
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.path.relative_to(source).as_posix()}\0{file.sha256}\n".encode())
    return digest.hexdigest()


def package_path(text: str) -> tuple[str, ...] | None:
    """The segments of the file's `package` (`a.b["c-d"]` → `("a", "b", "c-d")`), or None
    when it declares none (the engine reports that as a compile error)."""
    found = _PACKAGE.search(text)
    if found is None:
        return None
    ref, segments, position = found.group(1), [], 0
    while position < len(ref):
        match = _SEGMENT.match(ref, position)
        if match is None:
            return None
        segments.append(match.group(1) or match.group(2))
        position = match.end()
    return tuple(segments)


def _read(path: Path, *, what: str = "policy") -> PolicyFile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise errors.InvalidInput(f"{what} {path}: cannot be read ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.InvalidInput(f"{what} {path}: not UTF-8 text ({exc.reason})") from exc
    return PolicyFile(path, text, hashlib.sha256(raw).hexdigest())


# --- data documents (conftest --data) -------------------------------------------------------

DATA_SUFFIXES: tuple[str, ...] = (".json", ".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class DataFile:
    path: Path
    sha256: str  # of the bytes on disk
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DataBundle:
    """A policy's data documents as read now: every file merged at the root of `data`, as
    conftest loads `--data` (a file's directory does not prefix its keys)."""

    sources: tuple[Path, ...]
    files: tuple[DataFile, ...]
    sha256: str
    document: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.document, separators=(",", ":"))


def resolve_data(values: Sequence[str], *, cwd: Path | None = None) -> tuple[Path, ...]:
    """The absolute paths `--data` values name (files or directories), in order, once each."""
    return tuple(dict.fromkeys(resolve_source(value, cwd=cwd, what="data") for value in values))


def load_data(sources: Sequence[Path]) -> DataBundle | None:
    """Read the data documents at `sources` (JSON or YAML files, or directories of them,
    recursively) and merge them, or `InvalidInput` naming the file and the problem (missing,
    not JSON/YAML, not an object at the top, two documents defining the same key). None when
    there are no sources."""
    if not sources:
        return None
    files = tuple(_read_data(path) for source in sources for path in _data_paths(source))
    merged: dict[str, Any] = {}
    for file in files:
        _merge(merged, file.document, file.path, ())
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.path}\0{file.sha256}\n".encode())
    return DataBundle(tuple(sources), files, digest.hexdigest(), merged)


def _data_paths(source: Path) -> list[Path]:
    if source.is_dir():
        found = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES)
        if not found:
            raise errors.InvalidInput(f"data {source}: no .json, .yaml or .yml files in it")
        return found
    if not source.is_file():
        raise errors.InvalidInput(f"data {source}: no such file or directory")
    if source.suffix not in DATA_SUFFIXES:
        raise errors.InvalidInput(f"data {source}: not a .json, .yaml or .yml file")
    return [source]


def _read_data(path: Path) -> DataFile:
    import yaml

    read = _read(path, what="data")
    try:
        text = read.text
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        problem = " ".join(str(exc).split())
        raise errors.InvalidInput(f"data {path}: not valid {_kind(path)} ({problem})") from exc
    if not isinstance(document, dict):
        raise errors.InvalidInput(
            f"data {path}: the document must be an object (a mapping of keys) at the top; "
            "its keys become data.KEY in the policy"
        )
    return DataFile(path, read.sha256, document)


def _kind(path: Path) -> str:
    return "JSON" if path.suffix == ".json" else "YAML"


def _merge(into: dict[str, Any], document: dict[str, Any], path: Path, at: tuple[str, ...]) -> None:
    """Merge `document` into `into` the way OPA merges data files: objects merge key by key;
    the same key with any other value in two documents is a conflict."""
    for key, value in document.items():
        key = str(key)
        if key not in into:
            into[key] = value
        elif isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value, path, (*at, key))
        else:
            where = ".".join((*at, key))
            raise errors.InvalidInput(
                f"data {path}: data.{where} is also defined by an earlier data document; "
                "give each key one document"
            )
