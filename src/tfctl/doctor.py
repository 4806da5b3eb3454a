"""Setting up and checking an installation: `tfctl init`, `tfctl db upgrade`, `tfctl doctor`."""

from __future__ import annotations

import math
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfctl import errors

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tfctl.settings import Settings

#: `wait_for_store`'s backoff: the first pause, doubled after each failed attempt up to the cap.
WAIT_FIRST_DELAY = 0.2
WAIT_MAX_DELAY = 5.0


def initialise(settings: Settings) -> dict[str, Any]:
    """Create the home directory (0700) and migrate the store; idempotent."""
    from tfctl.persistence.engine import create_store_engine
    from tfctl.persistence.schema import upgrade

    home = settings.home.expanduser()
    created = not home.exists()
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise errors.InvalidSetting(f"TFCTL_HOME={home}: cannot create it: {exc}") from exc
    engine = create_store_engine(settings.store_url)
    try:
        state = upgrade(engine)
    finally:
        engine.dispose()
    return {
        "home": str(home),
        "home_created": created,
        "url": _masked(settings),
        "schema": state.current,
    }


def upgrade_store(settings: Settings) -> dict[str, Any]:
    """Migrate the configured store to head; reports the revision before and after."""
    from tfctl.persistence.engine import create_store_engine
    from tfctl.persistence.schema import schema_state, upgrade

    engine = create_store_engine(settings.store_url, create_directory=settings.uses_embedded_store)
    try:
        before = schema_state(engine).current
        after = upgrade(engine).current
    finally:
        engine.dispose()
    return {"url": _masked(settings), "before": before, "after": after}


def diagnose(settings: Settings, *, actor: str | None = None) -> dict[str, Any]:
    """Settings with their sources and effective values, the terraform binary and its CLI
    configuration file, and the store's reachability and schema. `ok` is false when
    terraform or the store needs attention; a problem is reported, never raised. `actor`
    is who acts when `TFCTL_ACTOR` is not set."""
    from tfctl.policy.engines import engine_report
    from tfctl.settings import describe_settings

    terraform = _check_terraform(settings)
    store = _check_store(settings)
    hcp = _check_hcp(settings) if store["ok"] else None
    policy = engine_report(require_engine=settings.policy_require_engine)
    return {
        "ok": terraform["ok"] and store["ok"] and policy["ok"] and (hcp or {"ok": True})["ok"],
        "settings": [asdict(report) for report in describe_settings(settings, actor=actor)],
        "terraform": terraform,
        "store": store,
        "policy": policy,
        **({"hcp": hcp} if hcp else {}),
    }


def _check_terraform(settings: Settings) -> dict[str, Any]:
    from tfctl.settings import terraform_cli_config
    from tfctl.terraform.commands import TerraformEnv
    from tfctl.terraform.runner import TerraformExecutor

    config = terraform_cli_config(settings)
    result: dict[str, Any] = {
        "ok": False,
        "binary": settings.terraform_bin,
        "version": None,
        "path": None,
        "cli_config_file": config[1] if config else None,
    }
    problems = [cli_config_problem(*config)] if config else []
    try:
        version = TerraformExecutor(TerraformEnv(binary=settings.terraform_bin)).version()
        result.update(version=version.version, path=shutil.which(settings.terraform_bin))
    except errors.TfctlError as exc:
        problems.insert(0, exc.message)
    found = [problem for problem in problems if problem]
    result["ok"] = not found
    if found:
        result["error"] = "; ".join(found)
    return result


def _check_hcp(settings: Settings) -> dict[str, Any] | None:
    """HCP Terraform's reachability and the token's access to each organization named by a
    workspace on the `hcp` backend, with the error HCP returned; None without such workspaces."""
    from tfctl.hcp.workspaces import check_organizations
    from tfctl.persistence import store
    from tfctl.persistence.db import Store

    try:
        db = Store.open(settings.store_url, auto_upgrade=False)
    except errors.TfctlError as exc:  # reported in the store's section already
        return {"ok": False, "error": f"cannot list the workspaces: {exc.message}"}
    try:
        with db.read() as session:
            rows = store.list_workspaces(session=session)
            named = [(ws.name, dict(ws.backend_config)) for ws, _ in rows if ws.backend == "hcp"]
    finally:
        db.engine.dispose()
    return check_organizations(named, settings)


def cli_config_problem(variable: str, value: str) -> str | None:
    """What is wrong with terraform's CLI configuration file `value` (named by `variable`),
    and the fix; None when it is a readable file. terraform reads the path as given, in each
    run's own directory, and warns in every log when it cannot open it."""
    path = Path(value)
    if not path.is_absolute():
        tilde = " (terraform does not expand '~')" if value.startswith("~") else ""
        return (
            f"{variable}={value} is not an absolute path{tilde}: terraform runs in each run's "
            "own directory and cannot find it; set the full path"
        )
    if path.is_file():
        return None
    what = "is a directory" if path.is_dir() else "does not exist"
    return (
        f"{variable}={value} {what}, so terraform writes a warning about it into every "
        f"log; create the file (touch {shlex.quote(value)}), point {variable} at an existing "
        "file, or unset it"
    )


def _check_store(settings: Settings) -> dict[str, Any]:
    from tfctl.persistence.engine import create_store_engine
    from tfctl.persistence.schema import HEAD, schema_state

    result: dict[str, Any] = {"ok": False, "url": _masked(settings), "schema": None, "head": HEAD}
    if settings.uses_embedded_store and not settings.sqlite_path.exists():
        result["error"] = "the embedded store does not exist yet; run `tfctl init`"
        return result
    try:
        engine = create_store_engine(settings.store_url)
    except errors.TfctlError as exc:  # a URL that does not parse, a missing directory
        result["error"] = exc.message
        return result
    missing = _missing_sqlite_file(engine)
    if missing:
        engine.dispose()
        result["error"] = f"there is no store at {missing} yet; run `tfctl init`"
        return result
    try:
        state = schema_state(engine)
    except errors.TfctlError as exc:
        result["error"] = exc.message
        return result
    finally:
        engine.dispose()
    result.update(schema=state.current, reachable=True, ok=state.up_to_date)
    if state.too_new:
        result["error"] = "the store was migrated by a newer tfctl; upgrade tfctl"
    elif not state.up_to_date:
        result["error"] = "the store's schema is behind; run `tfctl init` or `tfctl db upgrade`"
    return result


def wait_for_store(
    url: str,
    timeout: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    probe: Callable[[str, float], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> float:
    """Wait until the store at `url` answers `SELECT 1`; returns the seconds waited.

    Retries with exponential backoff (0.2 s, doubling, at most 5 s between attempts) and
    never sleeps past the deadline; when `timeout` seconds pass without an answer, raises
    `StoreUnavailable` naming the (password-masked) URL and the last error. A bad URL is
    raised at once (`InvalidSetting`). A SQLite store has no server to come up, so it is not
    waited for (connecting would create the file). `probe(url, seconds_left)` makes one
    attempt (default: a real connection); `notify` receives a line per failed attempt.
    """
    if url.startswith("sqlite"):
        return 0.0
    attempt = probe or _connecting_probe(url)
    start = clock()
    deadline, delay = start + timeout, WAIT_FIRST_DELAY
    while True:
        try:
            attempt(url, deadline - clock())
            return clock() - start
        except errors.StoreUnavailable as exc:
            pause = min(delay, deadline - clock())
            if pause <= 0:
                raise _gave_up(url, timeout, exc) from exc
            if notify is not None:
                notify(f"waiting for the job store: {exc.message} (retrying in {pause:.1f}s)")
        sleep(pause)
        delay = min(delay * 2, WAIT_MAX_DELAY)


def _gave_up(url: str, timeout: float, last: errors.StoreUnavailable) -> errors.StoreUnavailable:
    from tfctl.settings import mask_url_password

    return errors.StoreUnavailable(
        f"the job store at {mask_url_password(url)} did not answer within {timeout:g}s; "
        f"last error: {last.message}"
    )


def _connecting_probe(url: str) -> Callable[[str, float], None]:
    """The real probe, ready to go: a bad URL fails here, and loading SQLAlchemy and the
    driver (tfctl's start-up, not waiting for the store) happens before the clock starts."""
    from tfctl.persistence.engine import create_store_engine

    create_store_engine(url).dispose()
    return _probe_store


def _probe_store(url: str, seconds_left: float) -> None:
    """One connection attempt and `SELECT 1`; any failure to get an answer (no server yet,
    still starting, the database not created yet) is `StoreUnavailable`."""
    from sqlalchemy import event, text
    from sqlalchemy.exc import DBAPIError

    from tfctl.persistence.engine import create_store_engine

    engine = create_store_engine(url)
    # libpq's connect timeout (10 s by default here) would overrun a short deadline.
    event.listen(engine, "do_connect", _connect_timeout(seconds_left))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise errors.StoreUnavailable(reason) from exc
    finally:
        engine.dispose()


def _connect_timeout(seconds_left: float) -> Callable[..., None]:
    def cap(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["connect_timeout"] = max(2, math.ceil(seconds_left))  # libpq's minimum is 2

    return cap


def _missing_sqlite_file(engine: Engine) -> str | None:
    """A SQLite store's file when it does not exist (connecting would create it)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database.startswith((":", "file:")):
        return None
    return None if Path(database).exists() else database


def _masked(settings: Settings) -> str:
    from tfctl.settings import mask_url_password

    return mask_url_password(settings.store_url)
