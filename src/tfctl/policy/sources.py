"""Reading a policy: one `.rego` file or a directory of them (recursively), its content hash,
and the Rego package each file declares.

A policy is named by a local path or a `file://` URI and stored by its absolute path; it is
re-read at every check, so the hash says whether it changed since it was attached.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
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


def resolve_source(value: str, *, cwd: Path | None = None) -> Path:
    """The absolute path a POLICY argument names: a path (relative to `cwd`) or a `file://`
    URI. Other URI schemes are refused: the policy must be readable at every check."""
    parsed = urlparse(value)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path)).resolve()
    if parsed.scheme and len(parsed.scheme) > 1:  # not a Windows drive letter
        raise errors.InvalidInput(
            f"policy {value!r}: only local paths and file:// URIs are supported; "
            "download the policy and attach the file"
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


def _read(path: Path) -> PolicyFile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise errors.InvalidInput(f"policy {path}: cannot be read ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.InvalidInput(f"policy {path}: not UTF-8 text ({exc.reason})") from exc
    return PolicyFile(path, text, hashlib.sha256(raw).hexdigest())
