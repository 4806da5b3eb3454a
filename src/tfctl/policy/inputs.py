"""What `policy attach` and `policy test` are given — a policy, its namespaces, its data
documents, a plan JSON file — read and checked before anything is stored or evaluated.

Before a policy is attached, the engine in use checks it (`RegoEngine.verify`): it parses,
its namespaces exist and hold conftest rules, and it uses no construct the engine would
evaluate differently from OPA (refused with the file, line and what to write instead).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tfctl import errors
from tfctl.policy import conftest
from tfctl.policy.engines import Policy, PolicyRefused, RegoEngine, RegoError
from tfctl.policy.model import Finding, summarise
from tfctl.policy.sources import (
    load_bundle,
    load_data,
    package_path,
    resolve_data,
    resolve_source,
)

_SHOWN_PROBLEMS = 3


@dataclass(frozen=True, slots=True)
class Checked:
    """A policy ready to attach: what was read, by which engine it was checked (None: no
    engine, not checked) and what the engine rewrote or could not check."""

    policy: Policy
    engine: str | None
    findings: tuple[Finding, ...] = ()

    @property
    def note(self) -> str | None:
        """One line for stderr: the rewritten constructs, or that nothing checked it."""
        if self.engine is None:
            return ("warning: no Rego engine: the policy was not checked; it is at every plan "
                    "once opa or the in-process engine is installed")  # fmt: skip
        return summarise(self.findings)


def selection(namespaces: Sequence[str], all_namespaces: bool) -> tuple[str, ...] | None:
    """The namespaces `--namespace` (repeatable) and `--all-namespaces` select (None: every
    package), `main` when neither is given."""
    if all_namespaces and namespaces:
        raise errors.InvalidInput("--namespace and --all-namespaces exclude each other")
    if all_namespaces:
        return None
    for namespace in namespaces:
        if not namespace or any(not part for part in namespace.split(".")):
            raise errors.InvalidInput(
                f"--namespace {namespace!r}: not a package name (e.g. main, terraform.aws)"
            )
    return tuple(dict.fromkeys(namespaces)) or conftest.DEFAULT_NAMESPACES


def read_policy(
    policy: str, *, namespaces: tuple[str, ...] | None, data: Sequence[str] = ()
) -> Policy:
    """The policy `policy` names and its data documents, read now (`InvalidInput` naming
    the file and problem)."""
    bundle = load_bundle(resolve_source(policy))
    return Policy(bundle, namespaces, load_data(resolve_data(data)))


def verify(policy: Policy, engine: RegoEngine | None) -> Checked:
    """Check `policy` with `engine` before it is attached: `InvalidInput` (exit 2) in one
    line naming the file, line and construct of the first problems. Without an engine only
    the namespaces are checked, against the files' `package` lines."""
    source = str(policy.bundle.source)
    if engine is None:
        packages = [".".join(p) for f in policy.bundle.files if (p := package_path(f.text))]
        conftest.select_namespaces(source, packages, policy.namespaces)
        return Checked(policy, None)
    try:
        program = engine.verify(policy)
    except PolicyRefused as exc:
        raise errors.InvalidInput(_refusal(source, exc.problems)) from None
    except RegoError as exc:
        message = str(exc)
        if not message.startswith(f"policy {source}:"):
            message = f"policy {source} cannot be attached: {message}"
        raise errors.InvalidInput(message) from None
    return Checked(policy, engine.name, program.findings)


def _refusal(source: str, problems: Sequence[str]) -> str:
    shown = "; ".join(problems[:_SHOWN_PROBLEMS])
    hidden = len(problems) - _SHOWN_PROBLEMS
    more = f"; and {hidden} more (`tfctl policy test` lists them all)" if hidden > 0 else ""
    return f"policy {source} cannot be attached: {shown}{more}"


def input_plan(path: str) -> Callable[[], contextlib.AbstractContextManager[tuple[Path, set[str]]]]:
    """`policy test --input FILE`: the plan JSON file as `evaluate_policy` takes a saved
    plan, with its sensitive values (when it is a `terraform show -json` document).
    `InvalidInput` when the file is missing or not JSON."""
    file = resolve_source(path, what="input")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise errors.InvalidInput(f"--input {file}: cannot be read ({exc.strerror})") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        problem = " ".join(str(exc).split())
        raise errors.InvalidInput(f"--input {file}: not a JSON document ({problem})") from exc

    @contextlib.contextmanager
    def opened() -> Iterator[tuple[Path, set[str]]]:
        from tfctl.terraform.redact import sensitive_values_from_plan

        yield file, sensitive_values_from_plan(doc) if isinstance(doc, dict) else set()

    return opened
