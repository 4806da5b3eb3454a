"""What each module kind renders: its template, and the values its root variables receive.

A kind's template declares every root variable itself (typed, in its `variables` block). Values
reach those variables only through `terraform.tfvars.json`, in two groups:

- **spec values**, built here from the spec's typed fields (`bucket`, `queues`, `bots`, ...):
  validated by the spec, versioned with it, and never overridable, so a workspace cannot
  bypass the spec's validation;
- **settings** (region, namespace, chart versions, ...): every other declared variable. The
  spec's `variables` and the workspace's `--var` may set them; a few have defaults that depend
  on the spec (a namespace named after the stack), the rest are defaulted in the template.

Templates also receive a few *switches*: choices of structure (which broker, which secret
store provider, whether the data must survive a destroy) that HCL cannot express with one set
of resources. Switches are enum values and booleans, never user text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tfctl import errors
from tfctl.persistence.kinds import Cloud, ModuleKind

if TYPE_CHECKING:
    from tfctl.spec import TerraformStackSpec


@dataclass(frozen=True, slots=True)
class KindPlan:
    """How to render one non-generic spec."""

    template: str
    spec_values: dict[str, Any]
    setting_defaults: dict[str, Any] = field(default_factory=dict)
    switches: dict[str, str | bool] = field(default_factory=dict)


def template_name(kind: ModuleKind, cloud: Cloud) -> str:
    """`storage_aws.tf.j2`, `faas_local.tf.j2`, ...: one template per supported pair."""
    return f"{kind.value}_{cloud.value}.tf.j2"


def plan_kind(spec: TerraformStackSpec) -> KindPlan:
    """The template, values and switches for `spec` (any kind but `generic`)."""
    return _BUILDERS[spec.kind](spec)


def _storage(spec: TerraformStackSpec) -> KindPlan:
    if spec.bucket is None:  # filled in by the spec for every storage stack
        raise errors.InvalidSpec(f"stack '{spec.name}': a storage stack needs `bucket`")
    bucket = spec.bucket.model_dump(mode="json")
    bucket["name"] = spec.bucket.name or _default_bucket_name(spec)
    values: dict[str, Any] = {"bucket": bucket}
    defaults: dict[str, Any] = {}
    if spec.cloud is Cloud.LOCAL:
        values |= {"stack": spec.name, "labels": dict(spec.tags)}
        defaults["namespace"] = spec.name
    else:
        values["labels" if spec.cloud is Cloud.GCP else "tags"] = dict(spec.tags)
    switches: dict[str, str | bool] = {"protect_data": not spec.bucket.force_destroy}
    return KindPlan(template_name(spec.kind, spec.cloud), values, defaults, switches)


def _default_bucket_name(spec: TerraformStackSpec) -> str:
    """The stack's name, when it is a valid bucket name on the spec's cloud (a stack name may
    be shorter than a bucket name, and Azure account names have no '-')."""
    from tfctl.spec import bucket_name_problem

    problem = bucket_name_problem(spec.name, spec.cloud)
    if problem:
        raise errors.InvalidSpec(
            f"stack {spec.name}: field 'bucket.name' defaults to the stack's name, but {problem}; "
            "set bucket.name"
        )
    return spec.name


def _faas(spec: TerraformStackSpec) -> KindPlan:
    template = template_name(spec.kind, spec.cloud)
    if spec.function is None:  # no queues either: the stack only installs KEDA
        return KindPlan(
            template, _kubernetes_values(spec), {"namespace": spec.name}, {"broker": "none"}
        )
    values = {
        **_kubernetes_values(spec),
        "function": spec.function.model_dump(mode="json"),
        "queues": [queue.model_dump(mode="json") for queue in spec.queues],
    }
    switches: dict[str, str | bool] = {"broker": spec.function.broker.type}
    return KindPlan(template, values, {"namespace": spec.name}, switches)


def _agents(spec: TerraformStackSpec) -> KindPlan:
    values = {
        **_kubernetes_values(spec),
        "bots": [bot.model_dump(mode="json") for bot in spec.bots],
    }
    return KindPlan(template_name(spec.kind, spec.cloud), values, {"namespace": spec.name})


def _secrets(spec: TerraformStackSpec) -> KindPlan:
    if spec.secret_store is None:  # filled in by the spec for every secrets stack
        raise errors.InvalidSpec(f"stack '{spec.name}': a secrets stack needs `secret_store`")
    store = spec.secret_store.model_dump(mode="json")
    store["name"] = store["name"] or spec.name
    if store["provider"] == "kubernetes":
        store["remote_namespace"] = store["remote_namespace"] or spec.name
    values = {
        **_kubernetes_values(spec),
        "secret_store": store,
        "secret_mappings": [mapping.model_dump(mode="json") for mapping in spec.secret_mappings],
    }
    switches: dict[str, str | bool] = {"store": store["provider"]}
    defaults = {"namespace": "external-secrets"}  # the operator's, shared by the cluster
    return KindPlan(template_name(spec.kind, spec.cloud), values, defaults, switches)


def _kubernetes_values(spec: TerraformStackSpec) -> dict[str, Any]:
    """Every Kubernetes template labels what it creates with the stack and the spec's tags."""
    return {"stack": spec.name, "labels": dict(spec.tags)}


_BUILDERS: dict[ModuleKind, Callable[[TerraformStackSpec], KindPlan]] = {
    ModuleKind.STORAGE: _storage,
    ModuleKind.FAAS: _faas,
    ModuleKind.AGENTS: _agents,
    ModuleKind.SECRETS: _secrets,
}
