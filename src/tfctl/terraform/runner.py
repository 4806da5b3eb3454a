"""TerraformExecutor: the one place in tfctl that starts terraform.

`run` executes an argv built by `commands` (its own process group, streamed output, cancel and
timeout) and returns a `ProcessResult` whatever happened. The operation methods (`version`,
`init`, `plan`, `apply`, `show_json`, `output_json`, `state_pull`) build the argv, run it, and
raise a typed `TfctlError` when terraform failed, was cancelled (`TerraformCancelled`) or timed
out (`TerraformTimeout`); see `diagnostics.classify_failure` for how failures are told apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypedDict, Unpack

from tfctl import errors
from tfctl.terraform.commands import (
    ApplyOptions,
    InitOptions,
    PlanOptions,
    TerraformEnv,
    apply_argv,
    build_env,
    init_argv,
    output_json_argv,
    plan_argv,
    show_json_argv,
    state_pull_argv,
    version_argv,
)
from tfctl.terraform.diagnostics import (
    classify_failure,
    describe_errors,
    error_diagnostics,
    is_transient_init_failure,
)
from tfctl.terraform.process import (
    GRACE_PERIOD,
    POLL_INTERVAL,
    LineSink,
    ProcessResult,
    StopControl,
    run_process,
)

__all__ = [
    "MIN_VERSION",
    "ProcessResult",
    "RunOptions",
    "TerraformExecutor",
    "TerraformVersion",
    "backoff_delay",
    "classify_failure",
]

#: The oldest terraform tfctl runs: `terraform_data` and today's plan JSON need 1.4.
MIN_VERSION = (1, 4, 0)
_MIN = ".".join(map(str, MIN_VERSION))


class RunOptions(TypedDict, total=False):
    """The keyword arguments of `TerraformExecutor.run` that operation methods pass through."""

    on_line: LineSink | None
    timeout: float | None
    should_cancel: Callable[[], bool] | None
    poll_interval: float
    grace_period: float
    extra_env: Mapping[str, str] | None


@dataclass(frozen=True, slots=True)
class TerraformVersion:
    """What `terraform version -json` reported."""

    version: str
    platform: str | None


def backoff_delay(
    retry: int, *, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry number `retry` (0-based): exponential with full jitter,
    uniform in [0, min(cap, base * 2**retry)), so workers retrying together spread out."""
    return rand() * min(cap, base * 2.0**retry)


class TerraformExecutor:
    """Runs terraform for tfctl. `sleep` and `clock` are seams for tests; `init` is tried at
    most `init_attempts` times, waiting `backoff_delay(...)` (at most `init_backoff_cap` s)."""

    def __init__(
        self,
        env: TerraformEnv | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        init_attempts: int = 4,
        init_backoff_cap: float = 30.0,
        init_backoff_base: float = 1.0,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        if init_attempts < 1:
            raise ValueError(f"init_attempts must be >= 1, not {init_attempts}")
        self.env = env or TerraformEnv()
        self._sleep, self._clock = sleep, clock
        self._init_attempts, self._init_backoff_base = init_attempts, init_backoff_base
        self._init_backoff_cap = init_backoff_cap
        self._base_env = base_env

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str],
        on_line: LineSink | None = None,
        stdout_path: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        should_cancel: Callable[[], bool] | None = None,
        poll_interval: float = POLL_INTERVAL,
        grace_period: float = GRACE_PERIOD,
        extra_env: Mapping[str, str] | None = None,
    ) -> ProcessResult:
        """Run `argv` in `cwd` with terraform's environment and return how it ended; a
        non-zero exit, a cancel or a timeout is reported in the result, not raised. Raises
        `TerraformNotFound` when `argv[0]` cannot be found, `TerraformError` when it cannot
        be started. See `process.run_process` for streaming and stopping."""
        config = self.env  # `extra_env`: this command's own, e.g. a run's TF_VAR_ secrets
        if extra_env:
            config = replace(config, extra=(*config.extra, *extra_env.items()))
        env = build_env(config, os.environ if self._base_env is None else self._base_env)
        binary = self._resolve(argv[0], env)
        control = StopControl(timeout, should_cancel, poll_interval, grace_period)
        out = None if stdout_path is None else Path(stdout_path)
        try:
            return run_process(
                [binary, *argv[1:]], cwd=Path(cwd), env=env, control=control,
                on_line=on_line, stdout_path=out, clock=self._clock,
            )  # fmt: skip
        except OSError as exc:
            raise errors.TerraformError(f"cannot start {binary} in {cwd}: {exc}") from exc

    def version(
        self,
        cwd: str | os.PathLike[str] = ".",
        *,
        cache: Path | None = None,
        **kw: Unpack[RunOptions],
    ) -> TerraformVersion:
        """The binary's version; `TerraformTooOld` when it is older than `MIN_VERSION`.

        With `cache` (a JSON file), the answer is remembered for this exact binary file
        (path, inode, size, modification time), so each command does not start terraform
        once more just to ask; a replaced or upgraded binary is asked again."""
        if cache is not None:
            key = _binary_key(self._resolve(self.env.binary, build_env(self.env, os.environ)))
            remembered = _read_version_cache(cache).get(key)
            if remembered is not None:
                cached = TerraformVersion(remembered["version"], remembered.get("platform"))
                _require_supported(self.env.binary, cached.version)
                return cached
            asked = self.version(cwd, **kw)
            _remember_version(cache, key, asked)
            return asked
        kw.setdefault("timeout", 60.0)
        result = self.run(version_argv(self.env.binary), cwd=cwd, **kw)
        found = _parse_version(result.stdout_tail) or _parse_version(result.stderr_text)
        if found is None:
            self._check("version", result)
            raise errors.TerraformError(
                f"cannot tell which version {self.env.binary} is; `version -json` printed "
                f"{result.stdout_tail[:100]!r}. Is TFCTL_TERRAFORM_BIN a terraform binary?"
            )
        _require_supported(self.env.binary, found.version)
        return found

    def init(
        self, cwd: str | os.PathLike[str], opts: InitOptions | None = None, **kw: Unpack[RunOptions]
    ) -> ProcessResult:
        """`terraform init`, retried with backoff while it fails only on registry, download
        or network trouble; any other failure raises `InitFailed` at once. A `timeout`
        applies to each attempt."""
        argv = init_argv(self.env.binary, opts or InitOptions())
        for attempt in range(1, self._init_attempts + 1):
            result = self._check("init", self.run(argv, cwd=cwd, **kw), raise_failure=False)
            if result.exit_code == 0:
                return result
            if not is_transient_init_failure(result.stderr_text):
                raise errors.InitFailed(f"terraform init failed: {_first_error(result, 'init')}")
            if attempt < self._init_attempts:
                self._back_off(attempt, kw.get("should_cancel"))
        raise errors.InitFailed(
            f"terraform init failed {self._init_attempts} times on a transient error, last: "
            f"{_first_error(result, 'init')}; check network access to the registry, or point "
            "TFCTL_TERRAFORM_CLI_CONFIG_FILE at a CLI configuration with a provider mirror"
        )

    def plan(
        self, cwd: str | os.PathLike[str], opts: PlanOptions, **kw: Unpack[RunOptions]
    ) -> ProcessResult:
        """`terraform plan`; exit 0 (no changes) and 2 (changes, with -detailed-exitcode)
        are success, so `result.exit_code == 2` means there is something to apply."""
        result = self.run(plan_argv(self.env.binary, opts), cwd=cwd, **kw)
        return self._check("plan", result, ok=(0, 2))

    def apply(
        self, cwd: str | os.PathLike[str], opts: ApplyOptions, **kw: Unpack[RunOptions]
    ) -> ProcessResult:
        """`terraform apply` (of `opts.plan_file` when set)."""
        return self._check("apply", self.run(apply_argv(self.env.binary, opts), cwd=cwd, **kw))

    def show_json(
        self,
        cwd: str | os.PathLike[str],
        plan_file: str | None,
        out_path: str | os.PathLike[str],
        **kw: Unpack[RunOptions],
    ) -> ProcessResult:
        """`terraform show -json` of `plan_file` (or of the state when None), written to
        `out_path` as it streams (plans reach megabytes; they are never held in memory)."""
        argv = show_json_argv(self.env.binary, plan_file)
        return self._check("show", self.run(argv, cwd=cwd, stdout_path=out_path, **kw))

    def output_json(self, cwd: str | os.PathLike[str], **kw: Unpack[RunOptions]) -> bytes:
        """`terraform output -json`: the raw bytes (sensitive values are in clear text)."""
        return self._stdout_of("output", output_json_argv(self.env.binary), cwd, kw)

    def state_pull(self, cwd: str | os.PathLike[str], **kw: Unpack[RunOptions]) -> bytes:
        """`terraform state pull`: the raw state document (empty when there is no state)."""
        return self._stdout_of("state pull", state_pull_argv(self.env.binary), cwd, kw)

    def _stdout_of(
        self, operation: str, argv: list[str], cwd: str | os.PathLike[str], kw: RunOptions
    ) -> bytes:
        with tempfile.TemporaryDirectory(prefix="tfctl-") as tmp:
            out = Path(tmp) / "stdout"
            self._check(operation, self.run(argv, cwd=cwd, stdout_path=out, **kw))
            return out.read_bytes()

    def _check(
        self,
        operation: str,
        result: ProcessResult,
        *,
        ok: tuple[int, ...] = (0,),
        raise_failure: bool = True,
    ) -> ProcessResult:
        if result.cancelled:
            raise errors.TerraformCancelled(
                f"terraform {operation} was interrupted after {result.duration:.1f} s because "
                "the run was cancelled or halted"
            )
        if result.timed_out:
            raise errors.TerraformTimeout(
                f"terraform {operation} did not finish in time and was stopped after "
                f"{result.duration:.0f} s; look at its log for what it was waiting on, or allow "
                "it more time"
            )
        if raise_failure and result.exit_code not in ok:
            raise classify_failure(_diagnostic_text(result), operation, exit_code=result.exit_code)
        return result

    def _back_off(self, attempt: int, should_cancel: Callable[[], bool] | None) -> None:
        if should_cancel is not None and should_cancel():
            raise errors.TerraformCancelled(
                "terraform init was not retried because the run was cancelled or halted"
            )
        base, cap = self._init_backoff_base, self._init_backoff_cap
        self._sleep(backoff_delay(attempt - 1, base=base, cap=cap))

    @staticmethod
    def _resolve(binary: str, env: Mapping[str, str]) -> str:
        found = shutil.which(binary, path=env.get("PATH", os.defpath))
        if found is None:
            raise errors.TerraformNotFound(
                f"the terraform binary {binary!r} was not found; install Terraform "
                f"{_MIN} or newer, or set TFCTL_TERRAFORM_BIN to its path"
            )
        return found


def _diagnostic_text(result: ProcessResult) -> str:
    # Diagnostics go to stderr; stdout's tail is the fallback for anything that does not.
    if error_diagnostics(result.stderr_text):
        return result.stderr_text
    return "\n".join(t for t in (result.stderr_text, result.stdout_tail) if t)


def _first_error(result: ProcessResult, operation: str) -> str:
    errs = error_diagnostics(result.stderr_text)
    if not errs:
        failure = classify_failure(_diagnostic_text(result), operation, exit_code=result.exit_code)
        return failure.message.removeprefix(f"terraform {operation} failed: ")
    return describe_errors(errs)


def _binary_key(path: str) -> str:
    stat = os.stat(path)
    return f"{os.path.realpath(path)}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"


def _read_version_cache(cache: Path) -> dict[str, dict[str, str]]:
    try:
        loaded = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {k: v for k, v in loaded.items() if isinstance(v, dict) and "version" in v}


def _remember_version(cache: Path, key: str, found: TerraformVersion) -> None:
    """Add `key` to the cache file atomically; a cache that cannot be written is no error."""
    entries = _read_version_cache(cache)
    entries[key] = {
        "version": found.version,
        **({"platform": found.platform} if found.platform else {}),
    }
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=cache.parent, delete=False, suffix=".tmp") as out:
            json.dump(entries, out)
    except OSError:
        return
    try:
        os.replace(out.name, cache)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(out.name)


def _parse_version(text: str) -> TerraformVersion | None:
    with_platform = None
    try:
        doc = json.loads(text)
        version, with_platform = str(doc["terraform_version"]), doc.get("platform")
    except (ValueError, KeyError, TypeError):
        # Binaries too old for `-json` print "Terraform v0.12.31"; enough to refuse them.
        match = re.search(r"\bv(\d+\.\d+\.\d+\S*)", text)
        if match is None:
            return None
        version = match.group(1)
    return TerraformVersion(version, None if with_platform is None else str(with_platform))


def _require_supported(binary: str, version: str) -> None:
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:3])
    if numbers < MIN_VERSION:
        raise errors.TerraformTooOld(
            f"{binary} is Terraform {version}, but tfctl needs {_MIN} or newer; install a newer "
            "terraform or point TFCTL_TERRAFORM_BIN at one"
        )
