"""`tfctl init` and `tfctl doctor`: set up the home and store, and check the setup."""

from __future__ import annotations

from typing import Annotated

import typer

from tfctl.cli.context import JSON_OPTION, app_context, note, print_json, stdout_console, table

Json = Annotated[bool, JSON_OPTION]
WaitForDb = Annotated[
    float | None,
    typer.Option(
        "--wait-for-db",
        metavar="SECONDS",
        min=0,
        help=(
            "First wait up to SECONDS for the store's database to answer (retrying with "
            "backoff), e.g. while a bootstrap brings PostgreSQL up; exit 1 if it does not."
        ),
    ),
]


def init(ctx: typer.Context, as_json: Json = False) -> None:
    """Create the tfctl home and the job store, migrated to the latest schema.

    Running it again is harmless.
    """
    from tfctl.doctor import initialise
    from tfctl.secrets import ensure_key

    settings = app_context(ctx).settings
    result = initialise(settings)
    result["sensitive_key"] = ensure_key(settings)  # for --var-sensitive
    if as_json:
        print_json(result)
        return
    print(f"tfctl home: {result['home']} ({'created' if result['home_created'] else 'exists'})")
    print(f"job store:  {result['url']} (schema {result['schema']})")
    key = result["sensitive_key"]
    print(f"secret key: {key['source']} ({'created' if key['created'] else 'in use'})")


def doctor(ctx: typer.Context, as_json: Json = False, wait_for_db: WaitForDb = None) -> None:
    """Report each setting and where it came from, the terraform binary, and the store.

    Exits 1 when something needs attention.
    """
    from tfctl import errors
    from tfctl.doctor import diagnose, wait_for_store

    app_ctx = app_context(ctx)
    settings = app_ctx.settings
    if wait_for_db is not None:
        try:
            waited = wait_for_store(settings.store_url, wait_for_db, notify=note)
            note(f"the job store answered after {waited:.1f}s")
        except errors.InvalidSetting:
            pass  # a URL that cannot work: nothing to wait for; the report names the problem
    report = diagnose(settings, actor=app_ctx.actor)
    if as_json:
        print_json(report)
    else:
        _render(report)
    if not report["ok"]:
        raise typer.Exit(1)


def _render(report: dict[str, object]) -> None:
    console = stdout_console()
    settings = table("SETTING", "VALUE", "SOURCE")
    for item in report["settings"]:  # type: ignore[attr-defined]
        settings.add_row(item["env_var"], item["value"] or "-", item["source"])
    console.print(settings)
    for section in ("terraform", "store", "policy", "hcp"):
        if section not in report:  # hcp: only when a workspace uses it
            continue
        data: dict[str, object] = report[section]  # type: ignore[assignment]
        status = "ok" if data["ok"] else "PROBLEM"
        details = _details(section, data)
        console.print(f"{section}: {status}  {details}", markup=False)
        if data.get("error"):
            console.print(f"  {data['error']}", markup=False)


def _details(section: str, data: dict[str, object]) -> str:
    if section == "hcp":  # per organization: "acme on app.terraform.io (web, db): ok"
        return "; ".join(
            f"{o['organization']} on {o['hostname']} ({', '.join(o['workspaces'])}): "
            f"{'ok' if o['ok'] else 'PROBLEM'}"
            for o in data.get("organizations", [])  # type: ignore[attr-defined]
        )
    return ", ".join(f"{k}={v}" for k, v in data.items() if k not in ("ok", "error"))
