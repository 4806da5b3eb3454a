"""Render the Terraform configuration a run uses, from a stack spec and a workspace's settings.

One Jinja2 environment over `templates/` (built on first use: jinja2 costs ~75 ms and commands
that render nothing must not pay it). Every file is deterministic and `terraform fmt`-clean.

User values never enter HCL: they are written to `terraform.tfvars.json` and reach the module
(generic) or the kind's resources (every other kind, see `codegen.kinds`) through root
variables, so no value can become configuration. The only strings rendered into HCL are the
module source, backend settings and the stack's name, through `hcl_string` (the `hcl` filter),
and names, which must be identifiers. Kind templates choose their structure from switches
(enum values and booleans), never from user text.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.codegen.hcl import (
    ModuleInterface,
    hcl_identifier,
    hcl_string,
    scan_hcl,
    scan_module,
)
from tfctl.codegen.kinds import KindPlan, plan_kind
from tfctl.codegen.wrapper import render_backend
from tfctl.persistence.kinds import ModuleKind
from tfctl.resources import templates_dir

if TYPE_CHECKING:
    import jinja2

    from tfctl.spec import TerraformStackSpec

TFVARS_FILE = "terraform.tfvars.json"
_KIND_BLOCKS = ("main", "variables", "outputs")


@dataclass(frozen=True, slots=True)
class RenderResult:
    """What `render_workspace` wrote: file names relative to `out_dir`, sorted, and the root
    variables (all declared, and the sensitive ones) and outputs of the configuration."""

    out_dir: Path
    files: tuple[str, ...]
    variables: tuple[str, ...]
    sensitive_variables: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Named:
    """A root variable or output as the templates see it."""

    name: str
    sensitive: bool = False


def render_workspace(
    *,
    spec: TerraformStackSpec,
    variables: Mapping[str, Any],
    backend: str,
    backend_config: Mapping[str, Any],
    local_state_path: Path,
    out_dir: Path,
    from_environment: Collection[str] = (),
) -> RenderResult:
    """Write the configuration for `spec` into `out_dir` (created if missing) and describe it.

    `variables` are the values the run uses (the spec's merged with the workspace's); they are
    written to `terraform.tfvars.json` only. `from_environment` names variables whose values
    the run passes as `TF_VAR_<name>` (sensitive workspace variables): declared and checked
    like the others, marked sensitive, and written to no file. Files written: `main.tf`
    (backend or `cloud` block, providers and resources, or `module "stack"` for a generic
    stack), `variables.tf`,
    `outputs.tf`, `terraform.tfvars.json`; existing files of those names are overwritten,
    nothing else in `out_dir` is touched. Rendering the same inputs twice gives byte-identical
    files.

    A generic stack's variables are checked against the module it calls; a kind's against the
    settings its template declares (`codegen.kinds`). Every check runs before anything is
    written: a bad variable raises `errors.InvalidSpec`; see `render_backend` for the backend
    settings and their errors.
    """
    backend_block = render_backend(backend, backend_config, local_state_path=local_state_path)
    build = _generic_files if spec.kind is ModuleKind.GENERIC else _kind_files
    files, root_variables, outputs = build(
        spec, variables, backend_block.rstrip("\n"), frozenset(from_environment)
    )
    _write(out_dir, files)
    return RenderResult(
        out_dir=out_dir,
        files=tuple(sorted(files)),
        variables=tuple(variable.name for variable in root_variables),
        sensitive_variables=tuple(v.name for v in root_variables if v.sensitive),
        outputs=tuple(output.name for output in outputs),
    )


_Files = tuple[dict[str, str], tuple["_Named", ...], tuple["_Named", ...]]


def _generic_files(
    spec: TerraformStackSpec,
    variables: Mapping[str, Any],
    backend_block: str,
    from_environment: frozenset[str],
) -> _Files:
    """`module "stack"` calling `spec.module_source`, with its variables and outputs."""
    source = spec.module_source or ""
    interface = _module_interface(source)
    root_variables = _root_variables(variables, interface, source, from_environment)
    outputs = _root_outputs(interface)
    main = _render(
        "generic.tf.j2",
        stack=spec.name,
        backend_block=backend_block,
        module_source=source,
        variables=[variable.name for variable in root_variables],
    )
    files = {"main.tf": main, **_shared_files(root_variables, outputs, variables)}
    return files, root_variables, outputs


def _kind_files(
    spec: TerraformStackSpec,
    variables: Mapping[str, Any],
    backend_block: str,
    from_environment: frozenset[str],
) -> _Files:
    """The kind's template, one file per block, and its values (see `codegen.kinds`)."""
    plan = plan_kind(spec)
    context = {"stack": spec.name, "backend_block": backend_block, **plan.switches}
    files = _render_blocks(plan.template, context)
    declared = scan_hcl(files["variables.tf"] + files["outputs.tf"], origin=plan.template)
    _kind_values(spec, plan, dict.fromkeys(from_environment), declared)  # checked, not written
    values = _kind_values(spec, plan, variables, declared)
    files[TFVARS_FILE] = _tfvars(values)
    root_variables = tuple(_Named(n, v.sensitive) for n, v in sorted(declared.variables.items()))
    outputs = tuple(_Named(n, o.sensitive) for n, o in sorted(declared.outputs.items()))
    return files, root_variables, outputs


def _kind_values(
    spec: TerraformStackSpec,
    plan: KindPlan,
    variables: Mapping[str, Any],
    declared: ModuleInterface,
) -> dict[str, Any]:
    """Settings from `variables` over their defaults, then the spec's own values, which
    `variables` may not replace (they would bypass the spec's validation)."""
    for name in variables:
        hcl_identifier(name)
    settings = sorted(declared.variables.keys() - plan.spec_values.keys())
    where = f"the {spec.kind.value} template for cloud {spec.cloud.value}"
    accepted = f"its settings are {', '.join(settings) or 'none'}"
    fixed = sorted(variables.keys() & plan.spec_values.keys())
    if fixed:
        names = ", ".join(repr(name) for name in fixed)
        raise errors.InvalidSpec(f"variable {names}: set by the spec's own fields; {accepted}")
    unknown = sorted(variables.keys() - declared.variables.keys())
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise errors.InvalidSpec(f"variable {names}: not declared by {where}; {accepted}")
    return {**plan.setting_defaults, **variables, **plan.spec_values}


@dataclass(frozen=True, slots=True)
class DeclaredVariables:
    """What a workspace's `--var` may set for a spec: `settable` names; `fixed` names the
    template declares but the spec's own fields set (kinds only); `where` says whose
    declarations they are ("module /path", "the storage template for cloud aws")."""

    settable: frozenset[str]
    fixed: frozenset[str]
    where: str


def declared_variables(spec: TerraformStackSpec) -> DeclaredVariables | None:
    """The root variables a workspace of `spec` may set, read without writing anything: a
    generic stack's are those its local module declares, a kind's those its rendered template
    declares. None when they cannot be known here: a registry, git or relative module
    source, or a module directory that does not exist on this machine."""
    if spec.kind is not ModuleKind.GENERIC:
        plan = plan_kind(spec)
        context = {"stack": spec.name, "backend_block": "", **plan.switches}
        files = _render_blocks(plan.template, context)
        declared = scan_hcl(files["variables.tf"], origin=plan.template).variables.keys()
        return DeclaredVariables(
            settable=frozenset(declared - plan.spec_values.keys()),
            fixed=frozenset(declared & plan.spec_values.keys()),
            where=f"the {spec.kind.value} template for cloud {spec.cloud.value}",
        )
    source = Path(spec.module_source or "")
    if not source.is_absolute() or not source.is_dir():
        return None
    names = scan_module(source).variables.keys()
    return DeclaredVariables(frozenset(names), frozenset(), f"module {source}")


def _render_blocks(template_name: str, context: Mapping[str, Any]) -> dict[str, str]:
    """A kind template holds one Jinja block per file: `main`, `variables` and `outputs`."""
    template = _environment().get_template(template_name)
    files = {}
    for block in _KIND_BLOCKS:
        render_block = template.blocks[block]
        files[f"{block}.tf"] = "".join(render_block(template.new_context(dict(context))))
    return files


def _tfvars(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), indent=2, sort_keys=True) + "\n"


def _shared_files(
    root_variables: tuple[_Named, ...], outputs: tuple[_Named, ...], values: Mapping[str, Any]
) -> dict[str, str]:
    """The files beside main.tf: root variables, outputs, and the values as JSON."""
    return {
        "variables.tf": _render("_variables.tf.j2", variables=root_variables),
        "outputs.tf": _render("_outputs.tf.j2", outputs=outputs),
        TFVARS_FILE: _tfvars(values),
    }


def _module_interface(source: str) -> ModuleInterface | None:
    """Scan a local module; `None` for registry, git and other addresses, which tfctl cannot
    read before `terraform init` fetches them."""
    if source.startswith(("./", "../")):
        # A relative path would resolve against out_dir, not against the spec file.
        raise errors.InvalidSpec(
            f"module_source {hcl_string(source)}: a relative path cannot be rendered; "
            "load the spec from its file (`load_spec_file`) so the path becomes absolute"
        )
    if not Path(source).is_absolute():
        return None
    return scan_module(Path(source))


def _root_variables(
    values: Mapping[str, Any],
    interface: ModuleInterface | None,
    source: str,
    from_environment: frozenset[str] = frozenset(),
) -> tuple[_Named, ...]:
    """Every variable with a value (in the tfvars file or, `from_environment`, as TF_VAR_),
    plus every variable the module requires (so terraform itself reports a missing one, and
    TF_VAR_<name> can supply it), with the module's sensitivity (always, from the
    environment)."""
    values = {**values, **dict.fromkeys(from_environment)}
    for name in values:
        hcl_identifier(name)
    if interface is None:
        return tuple(_Named(name, name in from_environment) for name in sorted(values))
    undeclared = sorted(set(values) - interface.variables.keys())
    if undeclared:
        names = ", ".join(repr(name) for name in undeclared)
        raise errors.InvalidSpec(
            f"variable {names}: not declared by module {source}; "
            f"it declares {', '.join(sorted(interface.variables)) or 'no variables'}"
        )
    required = {name for name, variable in interface.variables.items() if variable.required}
    declared = sorted(values.keys() | required)
    return tuple(
        _Named(hcl_identifier(n), interface.variables[n].sensitive or n in from_environment)
        for n in declared
    )


def _root_outputs(interface: ModuleInterface | None) -> tuple[_Named, ...]:
    if interface is None:
        return ()
    outputs = sorted(interface.outputs.items())
    return tuple(_Named(hcl_identifier(name), output.sensitive) for name, output in outputs)


def _render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(**context)


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - HCL, not HTML: strings go through the `hcl` filter
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["hcl"] = hcl_string
    environment.filters["hcl_identifier"] = hcl_identifier
    return environment


def _write(out_dir: Path, files: Mapping[str, str]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(files.items()):
        (out_dir / name).write_text(text, encoding="utf-8")
    # Values may be secrets the user passed explicitly; keep them from other local users.
    (out_dir / TFVARS_FILE).chmod(0o600)
