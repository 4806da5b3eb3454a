"""Reading terraform's diagnostics: which error was it, and what should the user do about it.

Terraform prints each diagnostic (with `-no-color`) as::

    Error: <summary, possibly wrapped>

      with <address>,                 (runtime errors only)
      on <file> line <n>, in <block>:
       <n>: <source snippet>

    <detail paragraphs>

`classify_failure` turns the first error into one typed `TfctlError` with a one-line message.
The texts matched here were captured from Terraform 1.11 (see tests/unit/terraform).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tfctl import errors

#: Init failures worth retrying: registry, provider download and network trouble. A failed
#: init is retried only when every error it printed matches one of these.
TRANSIENT_INIT_ERRORS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"could not connect to registry",
        r"failed to request discovery document",
        r"no such host",
        r"temporary failure in name resolution",
        r"connection reset",
        r"connection refused",
        r"network is unreachable",
        r"TLS handshake timeout",
        r"i/o timeout",
        r"context deadline exceeded",
        r"Client\.Timeout exceeded",
        r"unexpected EOF",
        r"50[234] (Bad Gateway|Service Unavailable|Gateway Timeout)",
        r"429 Too Many Requests",
        r"timeout while waiting for plugin",
    )
)

# Summaries that mean "the configuration is wrong" even when terraform names a resource.
_CONFIG_SUMMARY = re.compile(
    r"^(Unsupported (argument|block type|attribute)|Missing required argument"
    r"|Invalid reference|Reference to undeclared|Argument or block definition required"
    r"|Unterminated template string|Invalid multi-line string|Duplicate \w+"
    r"|Invalid (expression|block definition|character|attribute name|resource type))"
)
_INIT_PREAMBLE = re.compile(r"^Terraform encountered problems during initiali[sz]ation")
_START = re.compile(r"^(Error|Warning): (.*)$")
_LOCATION = re.compile(r"^\s*on (.+?) line (\d+)")
_SUBJECT = re.compile(r"^\s*with (.+),$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_BOX = re.compile(r"^[│╷╵] ?")
_MAX_DETAIL = 300


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One parsed diagnostic. `paragraphs` is the detail prose, each whitespace-normalised."""

    severity: str
    summary: str
    body: str
    paragraphs: tuple[str, ...]
    filename: str | None = None
    line: int | None = None
    subject: str | None = None

    @property
    def location(self) -> str | None:
        return None if self.filename is None else f"{self.filename}:{self.line}"

    def describe(self) -> str:
        """`summary at file:line: first detail paragraph`, shortened to one readable line."""
        where = f" at {self.location}" if self.location else ""
        detail = self.paragraphs[0] if self.paragraphs else ""
        if len(detail) > _MAX_DETAIL:
            detail = detail[: _MAX_DETAIL - 1].rstrip() + "…"
        return f"{self.summary}{where}: {detail}" if detail else f"{self.summary}{where}"


def parse_diagnostics(text: str) -> list[Diagnostic]:
    """Every diagnostic in terraform's output, in order (colour and box borders removed)."""
    lines = [_BOX.sub("", _ANSI.sub("", raw)).rstrip() for raw in text.splitlines()]
    starts = [i for i, line in enumerate(lines) if _START.match(line)]
    ends = [*starts[1:], len(lines)] if starts else []
    return [_parse_one(lines[start:end]) for start, end in zip(starts, ends, strict=True)]


def error_diagnostics(text: str) -> list[Diagnostic]:
    """The errors, without init's "encountered problems" preamble (the real ones follow it)."""
    return [
        d
        for d in parse_diagnostics(text)
        if d.severity == "Error" and not _INIT_PREAMBLE.match(d.summary)
    ]


def describe_errors(errs: Sequence[Diagnostic]) -> str:
    """The first error described (see `Diagnostic.describe`), and how many more followed."""
    more = len(errs) - 1
    also = f" (and {more} more error{'s' if more > 1 else ''})" if more > 0 else ""
    return errs[0].describe() + also


def is_transient_init_failure(stderr_text: str) -> bool:
    """True when every error matches `TRANSIENT_INIT_ERRORS`, so trying again may work."""
    errs = error_diagnostics(stderr_text)
    return bool(errs) and all(_is_transient(d) for d in errs)


def classify_failure(
    stderr_text: str, operation: str, *, exit_code: int | None = None
) -> errors.TfctlError:
    """The typed error for a failed terraform `operation`, judged from its output.

    State lock held → `StateLocked`; stale or other-version plan → `StalePlan`; unset required
    variable → `MissingVariable`; invalid configuration → `InvalidConfiguration`; anything
    else → `TerraformError` with terraform's first error. Pure: it only reads the text.
    """
    errs, text = error_diagnostics(stderr_text), _normalise(stderr_text)
    for rule in _RULES:
        found = rule(errs, text)
        if found is not None:
            return found
    return _generic(errs, stderr_text, operation, exit_code)


def _parse_one(lines: Sequence[str]) -> Diagnostic:
    match = _START.match(lines[0])
    if match is None:  # parse_diagnostics only slices at start lines
        raise ValueError(f"not the start of a diagnostic: {lines[0]!r}")
    head = [match.group(2), *_until_blank(lines[1:])]
    body = lines[len(head) :]
    where = _first_match(_LOCATION, body)
    subject = _first_match(_SUBJECT, body)
    prose = [p for p in _paragraphs(body) if not (_LOCATION.match(p[0]) or _SUBJECT.match(p[0]))]
    return Diagnostic(
        severity=match.group(1),
        summary=" ".join(s.strip() for s in head),
        body="\n".join(body),
        paragraphs=tuple(" ".join(" ".join(p).split()) for p in prose),
        filename=where.group(1) if where else None,
        line=int(where.group(2)) if where else None,
        subject=subject.group(1) if subject else None,
    )


def _until_blank(lines: Sequence[str]) -> list[str]:
    taken: list[str] = []
    for line in lines:
        if not line.strip():
            break
        taken.append(line)
    return taken


def _paragraphs(lines: Sequence[str]) -> list[list[str]]:
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def _first_match(pattern: re.Pattern[str], lines: Sequence[str]) -> re.Match[str] | None:
    return next((m for m in map(pattern.match, lines) if m is not None), None)


def _normalise(text: str) -> str:
    return " ".join(_ANSI.sub("", text).split())


def _is_transient(diag: Diagnostic) -> bool:
    text = _normalise(f"{diag.summary} {' '.join(diag.paragraphs)}")
    return any(p.search(text) for p in TRANSIENT_INIT_ERRORS)


def _state_locked(errs: Sequence[Diagnostic], text: str) -> errors.TfctlError | None:
    diag = next((d for d in errs if "acquiring the state lock" in d.summary), None)
    if diag is None:
        return None
    info = dict(re.findall(r"^\s*(ID|Operation|Who|Created):\s*(.*?)\s*$", diag.body, re.M))
    if not info.get("ID"):
        reason = diag.paragraphs[0] if diag.paragraphs else diag.summary
        return errors.StateLocked(
            f"the state is locked by another operation ({reason}); wait for it to finish and "
            "try again"
        )
    return errors.StateLocked(
        f"the state is locked by {info.get('Who') or 'someone'} since "
        f"{_short_time(info.get('Created', '?'))} ({info.get('Operation', '?')}, lock ID "
        f"{info['ID']}); wait for that run to finish, or if it died, release the lock with "
        f"`terraform force-unlock {info['ID']}`",
        lock_id=info["ID"], holder=info.get("Who"), since=info.get("Created"),
        operation=info.get("Operation"),
    )  # fmt: skip


def _short_time(created: str) -> str:
    # "2026-11-27 15:50:57.630099799 +0000 UTC" → "2026-11-27 15:50:57 UTC"
    return re.sub(r"\.\d+", "", created).replace(" +0000 UTC", " UTC")


def _stale_plan(errs: Sequence[Diagnostic], text: str) -> errors.TfctlError | None:
    if not any(d.summary == "Saved plan is stale" for d in errs):
        return None
    return errors.StalePlan(
        "the saved plan can no longer be applied: the state was changed by another operation "
        "after the plan was made; run a new plan"
    )


def _plan_version(errs: Sequence[Diagnostic], text: str) -> errors.TfctlError | None:
    match = re.search(r"plan file was created by Terraform (\S+), but this is (\S+?);", text)
    if match is None:
        return None
    made, this = match.groups()
    return errors.StalePlan(
        f"the saved plan was made by Terraform {made} but this is Terraform {this}, and plan "
        "files do not carry across versions; run a new plan with this terraform"
    )


def _missing_variable(errs: Sequence[Diagnostic], text: str) -> errors.TfctlError | None:
    found = [d for d in errs if d.summary == "No value for required variable"]
    if not found:
        return None
    detail = " ".join(p for d in found for p in d.paragraphs)
    names = re.findall(r'input variable "([^"]+)" is not set', detail)
    if len(names) == 1:
        return errors.MissingVariable(
            f"the terraform variable '{names[0]}' has no value; set it with "
            f"`--var {names[0]}=VALUE` or give it a default in the configuration"
        )
    listed = ", ".join(f"'{n}'" for n in names) or "(unnamed)"
    return errors.MissingVariable(
        f"the terraform variables {listed} have no value; set each with `--var NAME=VALUE` "
        "or give them defaults in the configuration"
    )


def _invalid_configuration(errs: Sequence[Diagnostic], text: str) -> errors.TfctlError | None:
    first = next((i for i, d in enumerate(errs) if _is_config_error(d)), None)
    if first is None:
        return None
    return errors.InvalidConfiguration(
        f"the terraform configuration is invalid: {describe_errors(errs[first:])}; fix the "
        "configuration (or the spec it is rendered from) and try again"
    )


def _is_config_error(diag: Diagnostic) -> bool:
    # A diagnostic pointing at a file line but at no resource instance ("with ...") comes from
    # reading the configuration, not from doing something with it.
    if _CONFIG_SUMMARY.match(diag.summary):
        return True
    return diag.filename is not None and diag.subject is None


def _generic(
    errs: Sequence[Diagnostic], text: str, operation: str, exit_code: int | None
) -> errors.TfctlError:
    if errs:
        return errors.TerraformError(f"terraform {operation} failed: {errs[0].describe()}")
    lines = [ln.strip() for ln in _ANSI.sub("", text).splitlines() if ln.strip()]
    # Without a diagnostic (e.g. a flag error or a crash), the line naming an error says most.
    line = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "")
    if line:
        return errors.TerraformError(f"terraform {operation} failed: {line}")
    code = f" with exit code {exit_code}" if exit_code is not None else ""
    return errors.TerraformError(
        f"terraform {operation} failed{code} and printed no error; see its output in the log"
    )


_Rule = Callable[[Sequence[Diagnostic], str], "errors.TfctlError | None"]
_RULES: tuple[_Rule, ...] = (
    _state_locked,
    _stale_plan,
    _plan_version,
    _missing_variable,
    _invalid_configuration,
)
