"""`tfctl workspace`: bind a stack to a state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from tfctl.cli.context import JSON_OPTION, app_context, note, print_json, stdout_console, table

if TYPE_CHECKING:
    from tfctl.secrets import Keyring
    from tfctl.settings import Settings

app = typer.Typer(help="Workspaces: one stack bound to one state.", no_args_is_help=True)

Json = Annotated[bool, JSON_OPTION]
VarSensitive = Annotated[
    list[str] | None,
    typer.Option(
        "--var-sensitive",
        metavar="NAME=VALUE",
        help="A sensitive variable (repeatable): stored encrypted (TFCTL_SECRET_KEY, or the "
        "key file `tfctl init` creates), never shown, given to terraform as TF_VAR_NAME in "
        "its environment only and scrubbed from logs. NAME alone takes the value from the "
        "environment variable TF_VAR_NAME.",
    ),
]


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The workspace's name.", show_default=False)
    ],
    stack: Annotated[str, typer.Option("--stack", "-s", help="The stack it deploys.")],
    backend: Annotated[
        str | None,
        typer.Option(
            help="State backend: local, s3, azurerm, gcs or hcp "
            "(default: TFCTL_TERRAFORM_STATE_BACKEND, else local)."
        ),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            help="Variable override NAME=VALUE (repeatable). JSON values keep their type: "
            'count=3, enabled=true, zones=\'["a","b"]\'; anything else is a string.',
        ),
    ] = None,
    backend_config: Annotated[
        list[str] | None,
        typer.Option("--backend-config", help="Backend setting KEY=VALUE (repeatable)."),
    ] = None,
    var_sensitive: VarSensitive = None,
    as_json: Json = False,
) -> None:
    """Create a workspace for a stack."""
    from tfctl.workspaces import create_workspace, parse_assignments

    app_ctx = app_context(ctx)
    variables = parse_assignments(var or [], option="--var")
    sensitive = _sensitive(var_sensitive)
    config = parse_assignments(backend_config or [], option="--backend-config", dotted=True)
    view = create_workspace(
        app_ctx.store,
        name,
        stack=stack,
        backend=backend or app_ctx.settings.terraform_state_backend.value,
        backend_config=config,
        variables=variables,
        sensitive_variables=sensitive,
        keyring=_keyring(app_ctx.settings, sensitive),
    )
    if as_json:
        print_json(view.to_dict())
        return
    print(f"workspace {view.name} created: stack {view.stack}, backend {view.backend}")


@app.command("list")
def list_(ctx: typer.Context, as_json: Json = False) -> None:
    """List workspaces."""
    from tfctl.workspaces import list_workspaces

    views = list_workspaces(app_context(ctx).store)
    if as_json:
        print_json([view.to_dict() for view in views])
        return
    out = table("NAME", "STACK", "BACKEND", "VARIABLES", "LOCKED BY", "DRIFT")
    for view in views:
        out.add_row(
            view.name,
            view.stack,
            view.backend,
            str(len(view.variables) + len(view.sensitive_variables)),
            view.locked_by_run_id or "-",
            _drift_word(view.drift),
        )
    stdout_console().print(out)


@app.command()
def show(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The workspace's name.", show_default=False)
    ],
    as_json: Json = False,
) -> None:
    """Show a workspace: its stack, backend, variables, lock and drift."""
    from tfctl.workspaces import show_workspace

    view = show_workspace(app_context(ctx).store, name)
    if as_json:
        print_json(view.to_dict())
        return
    print(f"workspace: {view.name}")
    print(f"stack:     {view.stack}")
    print(f"backend:   {view.backend} {view.backend_config or ''}".rstrip())
    print(f"locked by: {view.locked_by_run_id or '-'}")
    _print_drift(view.name, view.drift, assess=view.assess)
    print(f"created:   {view.created_at}")
    print("variables:" + ("" if view.variables or view.sensitive_variables else " -"))
    for key, value in sorted(view.variables.items()):
        print(f"  {key} = {value!r}")
    for key in view.sensitive_variables:
        print(f"  {key} = (sensitive)")


@app.command()
def update(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The workspace's name.", show_default=False)
    ],
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            metavar="NAME=VALUE",
            help="Set or replace variable NAME=VALUE (repeatable); JSON values keep their type.",
        ),
    ] = None,
    unset_var: Annotated[
        list[str] | None,
        typer.Option("--unset-var", metavar="NAME", help="Remove a variable (repeatable)."),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            metavar="KIND",
            help="Move to another backend: local, s3, azurerm, gcs or hcp. Its settings start "
            "empty: give them with --backend-config.",
        ),
    ] = None,
    backend_config: Annotated[
        list[str] | None,
        typer.Option(
            "--backend-config",
            metavar="KEY=VALUE",
            help="Set a backend setting KEY=VALUE (repeatable; a dotted key sets one nested "
            "key, e.g. endpoints.s3=URL).",
        ),
    ] = None,
    unset_backend_config: Annotated[
        list[str] | None,
        typer.Option(
            "--unset-backend-config", metavar="KEY", help="Remove a backend setting (repeatable)."
        ),
    ] = None,
    var_sensitive: VarSensitive = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Change the backend or its settings although the latest state holds "
            "resources (you moved the state yourself).",
        ),
    ] = False,
    assess: Annotated[
        bool | None,
        typer.Option(
            "--assess/--no-assess",
            help="Include the workspace in scheduled drift assessments (`tfctl worker "
            "--assess-every`), or leave it out. `tfctl drift check NAME` still assesses it.",
            show_default=False,
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Change a workspace's variables, backend, or drift-assessment schedule.

    Variable names are checked against what the stack declares. Refused while a run of the
    workspace is queued or running. A plan awaiting approval was made with the old settings:
    it is discarded (plan again). Changing the backend or its settings while the state holds
    resources is refused without --force: tfctl does not move state between backends.
    """
    from tfctl.workspaces import WorkspaceChanges, parse_assignments, parse_names, update_workspace

    app_ctx = app_context(ctx)
    changes = WorkspaceChanges(
        set_variables=parse_assignments(var or [], option="--var"),
        unset_variables=parse_names(unset_var or [], option="--unset-var"),
        backend=backend,
        set_backend_config=parse_assignments(
            backend_config or [], option="--backend-config", dotted=True
        ),
        unset_backend_config=parse_names(
            unset_backend_config or [], option="--unset-backend-config", dotted=True
        ),
        set_sensitive=_sensitive(var_sensitive),
        assess=assess,
    )
    settings = app_ctx.settings
    updated = update_workspace(
        app_ctx.store, name, changes, home=settings.home, force=force,
        keyring=_keyring(settings, changes.set_sensitive),
        heartbeat_timeout=settings.heartbeat_timeout,
    )  # fmt: skip
    for plan_id in updated.discarded_plan_ids:
        note(f"plan {plan_id} was made with the old settings: discarded; plan again")
    if as_json:
        print_json(updated.workspace.to_dict())
        return
    view = updated.workspace
    shown = [*view.variables, *(f"{key} (sensitive)" for key in view.sensitive_variables)]
    names = ", ".join(sorted(shown)) or "none"
    schedule = "" if assess is None else (
        f", scheduled drift assessments {'on' if view.assess else 'off'}"
    )  # fmt: skip
    print(f"workspace {view.name} {'updated' if updated.changed else 'unchanged'}: "
          f"backend {view.backend}, variables {names}{schedule}")  # fmt: skip


@app.command()
def delete(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The workspace's name.", show_default=False)
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete it although its latest state holds resources."),
    ] = False,
    as_json: Json = False,
) -> None:
    """Delete a workspace with its runs, logs, plans, state versions and policy attachments.

    Refused while a run of the workspace is queued or running, and while its latest state
    holds resources (destroy them first, or pass --force). A plan awaiting approval goes
    with it. Local backend: a state file that holds resources is moved to
    TFCTL_HOME/workspaces/.deleted/NAME-TIMESTAMP/ (a new workspace of the same name starts
    empty), an empty one is removed. A remote backend's state is never touched.
    """
    from tfctl.workspaces import delete_workspace

    app_ctx = app_context(ctx)
    settings = app_ctx.settings
    deleted = delete_workspace(
        app_ctx.store, name, home=settings.home, runs_dir=settings.runs_dir, force=force,
        heartbeat_timeout=settings.heartbeat_timeout,
    )  # fmt: skip
    if as_json:
        print_json(deleted.to_dict())
        return
    rows, held = deleted.deleted, _count(deleted.resources, "resource")
    print(f"workspace {name} deleted, with {_count(rows['runs'], 'run')}, "
          f"{_count(rows['state_versions'], 'state version')} and "
          f"{_count(rows['policy_attachments'], 'policy attachment')}")  # fmt: skip
    for plan_id in deleted.pending_plan_ids:
        print(f"its plan {plan_id}, awaiting approval, went with it")
    if deleted.state_moved_to:
        print(f"its local state ({held}) was moved to {deleted.state_moved_to}")
    elif deleted.resources:
        print(f"its state ({held}) stays in its {deleted.workspace.backend} backend, untouched")


def _drift_word(drift: dict[str, Any] | None) -> str:
    """`in sync`, `drifted (3)`, `failed`, `not assessed`."""
    if drift is None:
        return "-"
    word = str(drift["result"]).replace("_", " ")
    if drift["result"] == "drifted":
        counts = drift["counts"]
        word += f" ({counts['changed_outside'] + counts['would_change'] + counts['outputs']})"
    return word


def _print_drift(name: str, drift: dict[str, Any] | None, *, assess: bool) -> None:
    schedule = "on" if assess else f"off (`tfctl workspace update {name} --assess`)"
    if drift is None or drift["result"] == "not_assessed":
        print(f"drift:     not assessed (`tfctl drift check {name}`)")
    else:
        print(f"drift:     {_drift_word(drift)}, assessed {drift['assessed_at']} by run "
              f"{drift['run_id']}")  # fmt: skip
        for label, key in (("changed outside tfctl", "changed_outside"),
                           ("would change", "would_change")):  # fmt: skip
            for item in drift[key]:
                print(f"  {label}: {item['address']} ({item['action']})")
        for output in drift["outputs"]:
            print(f"  output would change: {output}")
    print(f"assess:    {schedule}")


def _sensitive(pairs: list[str] | None) -> dict[str, str]:
    from tfctl.secrets import parse_sensitive

    return parse_sensitive(pairs or [])


def _keyring(settings: Settings, sensitive: dict[str, str]) -> Keyring | None:
    """The key to seal `--var-sensitive` values with (created in the home if needed)."""
    if not sensitive:
        return None
    from tfctl.secrets import load_keyring

    return load_keyring(settings, create=True)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
