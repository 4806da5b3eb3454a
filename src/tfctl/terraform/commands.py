"""Terraform argv and environment, built by pure functions over frozen option objects.

Nothing here starts a process: `TerraformExecutor` runs what these functions build, and tests
assert the exact argv. Every command carries `-input=false` and `-no-color` wherever that
subcommand accepts them (checked against `terraform <cmd> -help` of 1.11: `show`, `output` and
`state pull` accept `-no-color` only). Paths are passed as `-flag=value` or, for positional plan
files, made unambiguous so that a name starting with `-` is never read as a flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: Variables tfctl always sets for terraform: no prompts, no upgrade nags, no version check.
AUTOMATION_ENV: Mapping[str, str] = {
    "TF_IN_AUTOMATION": "1",
    "TF_INPUT": "0",
    "CHECKPOINT_DISABLE": "1",
}

#: Inherited variables that are not passed on. `TF_CLI_ARGS*` would silently change the argv
#: built here (say, add `-json` and break parsing); tfctl's own settings may hold secrets such
#: as a database URL, which a `local-exec` provisioner would otherwise see; `TF_DATA_DIR`
#: would replace each run's `.terraform`, the workspace's initialised directory
#: (runs/workdir.py), by one directory shared by every configuration.
DROPPED_ENV_PREFIXES: tuple[str, ...] = (
    "TF_CLI_ARGS", "TFCTL_", "ALPHASWARM_TERRAFORM_", "TF_DATA_DIR",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TerraformEnv:
    """Which terraform to run and how to configure it (from settings).

    `extra` adds variables (e.g. backend credentials, `TF_VAR_*`); the automation variables
    above still win over them.
    """

    binary: str = "terraform"
    cli_config_file: str | None = None
    plugin_cache_dir: str | None = None
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class InitOptions:
    """`terraform init`. `backend_config` items are files or `key=value` pairs."""

    backend_config: tuple[str, ...] = ()
    reconfigure: bool = False
    upgrade: bool = False
    lock_timeout: int | None = None  # seconds

    def __post_init__(self) -> None:
        _check_lock_timeout(self.lock_timeout)


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """`terraform plan`. `destroy` and `refresh_only` are planning modes: pick at most one."""

    out: str | None = None
    destroy: bool = False
    refresh_only: bool = False
    var_files: tuple[str, ...] = ()
    lock_timeout: int | None = None  # seconds
    detailed_exitcode: bool = False
    parallelism: int | None = None
    #: False: read the state without taking terraform's state lock (`-lock=false`), so the
    #: plan never makes another operation fail on the lock (drift assessments).
    lock: bool = True

    def __post_init__(self) -> None:
        if self.destroy and self.refresh_only:
            raise ValueError("a plan is either destroy or refresh-only, not both")
        if not self.lock and self.lock_timeout is not None:
            raise ValueError("lock_timeout waits for a lock that lock=False does not take")
        _check_lock_timeout(self.lock_timeout)
        _check_parallelism(self.parallelism)


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    """`terraform apply`: of a saved plan file, or (without one) an auto-approved run.

    A saved plan already fixes the mode and the variables, so `refresh_only` and `var_files`
    are only for applies without one; and under `-input=false` terraform cannot ask for
    approval, so an apply without a plan file needs `auto_approve`.
    """

    plan_file: str | None = None
    auto_approve: bool = False
    refresh_only: bool = False
    var_files: tuple[str, ...] = ()
    lock_timeout: int | None = None  # seconds
    parallelism: int | None = None

    def __post_init__(self) -> None:
        if self.plan_file is not None and (self.refresh_only or self.var_files):
            raise ValueError("refresh_only and var_files cannot be combined with a saved plan")
        if self.plan_file is None and not self.auto_approve:
            raise ValueError("an apply without a saved plan needs auto_approve")
        _check_lock_timeout(self.lock_timeout)
        _check_parallelism(self.parallelism)


def init_argv(binary: str, opts: InitOptions) -> list[str]:
    """`terraform init -input=false -no-color [...]`."""
    argv = [binary, "init", "-input=false", "-no-color"]
    argv += [f"-backend-config={item}" for item in opts.backend_config]
    argv += ["-reconfigure"] if opts.reconfigure else []
    argv += ["-upgrade"] if opts.upgrade else []
    return argv + _lock_timeout(opts.lock_timeout)


def plan_argv(binary: str, opts: PlanOptions) -> list[str]:
    """`terraform plan -input=false -no-color [mode] [...] [-out=FILE]`."""
    argv = [binary, "plan", "-input=false", "-no-color"]
    argv += ["-destroy"] if opts.destroy else []
    argv += ["-refresh-only"] if opts.refresh_only else []
    argv += ["-detailed-exitcode"] if opts.detailed_exitcode else []
    argv += [] if opts.lock else ["-lock=false"]
    argv += _lock_timeout(opts.lock_timeout) + _parallelism(opts.parallelism)
    argv += [f"-var-file={path}" for path in opts.var_files]
    return argv + ([f"-out={opts.out}"] if opts.out is not None else [])


def apply_argv(binary: str, opts: ApplyOptions) -> list[str]:
    """`terraform apply -input=false -no-color [...] [PLAN_FILE]`."""
    argv = [binary, "apply", "-input=false", "-no-color"]
    argv += ["-auto-approve"] if opts.auto_approve else []
    argv += ["-refresh-only"] if opts.refresh_only else []
    argv += _lock_timeout(opts.lock_timeout) + _parallelism(opts.parallelism)
    argv += [f"-var-file={path}" for path in opts.var_files]
    return argv + ([_positional(opts.plan_file)] if opts.plan_file is not None else [])


def show_json_argv(binary: str, plan_file: str | None) -> list[str]:
    """`terraform show -json -no-color [PLAN_FILE]`: the plan, or the current state."""
    argv = [binary, "show", "-json", "-no-color"]
    return argv + ([_positional(plan_file)] if plan_file is not None else [])


def output_json_argv(binary: str) -> list[str]:
    """`terraform output -json -no-color` (sensitive values come out in clear text)."""
    return [binary, "output", "-json", "-no-color"]


def state_pull_argv(binary: str) -> list[str]:
    """`terraform state pull -no-color`: the raw state document on stdout."""
    return [binary, "state", "pull", "-no-color"]


def version_argv(binary: str) -> list[str]:
    """`terraform version -json`.

    No `-no-color`: the JSON has no colour, and with the bare flag even a binary too old to
    know `-json` still prints its version, so tfctl can say it is too old.
    """
    return [binary, "version", "-json"]


def build_env(config: TerraformEnv, base: Mapping[str, str]) -> dict[str, str]:
    """The environment for terraform: `base` (minus `DROPPED_ENV_PREFIXES`), then `extra`,
    the configured CLI config file and plugin cache, then `AUTOMATION_ENV`."""
    env = {k: v for k, v in base.items() if not k.startswith(DROPPED_ENV_PREFIXES)}
    env.update(config.extra)
    if config.cli_config_file is not None:
        env["TF_CLI_CONFIG_FILE"] = config.cli_config_file
    if config.plugin_cache_dir is not None:
        env["TF_PLUGIN_CACHE_DIR"] = config.plugin_cache_dir
    env.update(AUTOMATION_ENV)
    return env


def _lock_timeout(seconds: int | None) -> list[str]:
    return [] if seconds is None else [f"-lock-timeout={seconds}s"]


def _parallelism(n: int | None) -> list[str]:
    return [] if n is None else [f"-parallelism={n}"]


def _positional(path: str) -> str:
    # terraform would parse "-plan" as a flag; "./-plan" names the same file.
    return f"./{path}" if path.startswith("-") else path


def _check_lock_timeout(seconds: int | None) -> None:
    if seconds is not None and seconds < 0:
        raise ValueError(f"lock_timeout must be >= 0 seconds, not {seconds}")


def _check_parallelism(n: int | None) -> None:
    if n is not None and n < 1:
        raise ValueError(f"parallelism must be >= 1, not {n}")
