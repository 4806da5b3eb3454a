"""Setting up and checking an installation: `tfctl init`, `tfctl db upgrade`, `tfctl doctor`."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from tfctl import errors

if TYPE_CHECKING:
    from tfctl.settings import Settings


def initialise(settings: Settings) -> dict[str, Any]:
    """Create the home directory (0700) and migrate the store; idempotent."""
    from tfctl.persistence.db import create_store_engine
    from tfctl.persistence.schema import upgrade

    home = settings.home.expanduser()
    created = not home.exists()
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise errors.InvalidSetting(f"TFCTL_HOME={home}: cannot create it: {exc}") from exc
    engine = create_store_engine(settings.store_url)
    state = upgrade(engine)
    return {
        "home": str(home),
        "home_created": created,
        "url": _masked(settings),
        "schema": state.current,
    }


def upgrade_store(settings: Settings) -> dict[str, Any]:
    """Migrate the configured store to head; reports the revision before and after."""
    from tfctl.persistence.db import create_store_engine
    from tfctl.persistence.schema import schema_state, upgrade

    engine = create_store_engine(settings.store_url)
    before = schema_state(engine).current
    after = upgrade(engine).current
    return {"url": _masked(settings), "before": before, "after": after}


def diagnose(settings: Settings) -> dict[str, Any]:
    """Settings with their sources, the terraform binary, and the store's reachability and
    schema. `ok` is false when terraform or the store needs attention."""
    from tfctl.settings import describe_settings

    terraform = _check_terraform(settings)
    store = _check_store(settings)
    return {
        "ok": terraform["ok"] and store["ok"],
        "settings": [asdict(report) for report in describe_settings(settings)],
        "terraform": terraform,
        "store": store,
    }


def _check_terraform(settings: Settings) -> dict[str, Any]:
    from tfctl.terraform.commands import TerraformEnv
    from tfctl.terraform.runner import TerraformExecutor

    result: dict[str, Any] = {"ok": False, "binary": settings.terraform_bin, "version": None}
    try:
        version = TerraformExecutor(TerraformEnv(binary=settings.terraform_bin)).version()
    except errors.TfctlError as exc:
        result["error"] = exc.message
        return result
    result.update(ok=True, version=version.version, path=shutil.which(settings.terraform_bin))
    return result


def _check_store(settings: Settings) -> dict[str, Any]:
    from tfctl.persistence.db import create_store_engine
    from tfctl.persistence.schema import HEAD, schema_state

    result: dict[str, Any] = {"ok": False, "url": _masked(settings), "schema": None, "head": HEAD}
    if settings.uses_embedded_store and not settings.sqlite_path.exists():
        result["error"] = "the embedded store does not exist yet; run `tfctl init`"
        return result
    try:
        state = schema_state(create_store_engine(settings.store_url))
    except errors.TfctlError as exc:
        result["error"] = exc.message
        return result
    result.update(schema=state.current, reachable=True, ok=state.up_to_date)
    if state.too_new:
        result["error"] = "the store was migrated by a newer tfctl; upgrade tfctl"
    elif not state.up_to_date:
        result["error"] = "the store's schema is behind; run `tfctl init` or `tfctl db upgrade`"
    return result


def _masked(settings: Settings) -> str:
    from tfctl.settings import mask_url_password

    return mask_url_password(settings.store_url)
