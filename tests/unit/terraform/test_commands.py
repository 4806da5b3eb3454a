"""The exact terraform argv and environment tfctl builds; nothing is run."""

from __future__ import annotations

import dataclasses

import pytest

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

TF = "/opt/tf/terraform"


def test_init_defaults_disable_input_and_colour() -> None:
    assert init_argv(TF, InitOptions()) == [TF, "init", "-input=false", "-no-color"]


def test_init_with_backend_config_reconfigure_upgrade_and_lock_timeout() -> None:
    opts = InitOptions(
        backend_config=("backend.hcl", "key=envs/dev.tfstate"),
        reconfigure=True,
        upgrade=True,
        lock_timeout=20,
    )
    assert init_argv(TF, opts) == [
        TF,
        "init",
        "-input=false",
        "-no-color",
        "-backend-config=backend.hcl",
        "-backend-config=key=envs/dev.tfstate",
        "-reconfigure",
        "-upgrade",
        "-lock-timeout=20s",
    ]


def test_plan_defaults() -> None:
    assert plan_argv(TF, PlanOptions()) == [TF, "plan", "-input=false", "-no-color"]


def test_plan_with_every_option_saves_the_plan_last() -> None:
    opts = PlanOptions(
        out="tfplan.binary",
        destroy=True,
        var_files=("terraform.tfvars.json", "extra.tfvars"),
        lock_timeout=30,
        detailed_exitcode=True,
        parallelism=4,
    )
    assert plan_argv(TF, opts) == [
        TF,
        "plan",
        "-input=false",
        "-no-color",
        "-destroy",
        "-detailed-exitcode",
        "-lock-timeout=30s",
        "-parallelism=4",
        "-var-file=terraform.tfvars.json",
        "-var-file=extra.tfvars",
        "-out=tfplan.binary",
    ]


def test_refresh_only_plan() -> None:
    opts = PlanOptions(refresh_only=True, out="p")
    assert plan_argv(TF, opts) == [
        TF,
        "plan",
        "-input=false",
        "-no-color",
        "-refresh-only",
        "-out=p",
    ]


def test_a_plan_cannot_be_both_destroy_and_refresh_only() -> None:
    with pytest.raises(ValueError, match="destroy or refresh-only"):
        PlanOptions(destroy=True, refresh_only=True)


@pytest.mark.parametrize(
    ("field", "value"), [("parallelism", 0), ("lock_timeout", -1)], ids=["parallelism", "lock"]
)
def test_plan_rejects_out_of_range_numbers(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=field):
        PlanOptions(**{field: value})  # type: ignore[arg-type]


def test_apply_of_a_saved_plan_passes_the_file_last() -> None:
    opts = ApplyOptions(plan_file="tfplan.binary", lock_timeout=5, parallelism=2)
    assert apply_argv(TF, opts) == [
        TF,
        "apply",
        "-input=false",
        "-no-color",
        "-lock-timeout=5s",
        "-parallelism=2",
        "tfplan.binary",
    ]


def test_a_plan_file_named_like_a_flag_is_not_read_as_one() -> None:
    assert apply_argv(TF, ApplyOptions(plan_file="-destroy"))[-1] == "./-destroy"
    assert show_json_argv(TF, "-destroy")[-1] == "./-destroy"


def test_refresh_only_apply_without_a_plan_file() -> None:
    opts = ApplyOptions(auto_approve=True, refresh_only=True, var_files=("v.tfvars",))
    assert apply_argv(TF, opts) == [
        TF,
        "apply",
        "-input=false",
        "-no-color",
        "-auto-approve",
        "-refresh-only",
        "-var-file=v.tfvars",
    ]


def test_apply_without_a_plan_file_must_be_auto_approved() -> None:
    # Under -input=false terraform cannot ask, so it would fail; say so before running it.
    with pytest.raises(ValueError, match="auto_approve"):
        ApplyOptions()


@pytest.mark.parametrize(
    "extra", [{"refresh_only": True}, {"var_files": ("v.tfvars",)}], ids=["refresh", "vars"]
)
def test_a_saved_plan_fixes_mode_and_variables(extra: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="saved plan"):
        ApplyOptions(plan_file="p", **extra)  # type: ignore[arg-type]


def test_show_json_of_a_plan_and_of_the_state() -> None:
    assert show_json_argv(TF, "tfplan.binary") == [
        TF,
        "show",
        "-json",
        "-no-color",
        "tfplan.binary",
    ]
    assert show_json_argv(TF, None) == [TF, "show", "-json", "-no-color"]


def test_read_only_commands() -> None:
    assert output_json_argv(TF) == [TF, "output", "-json", "-no-color"]
    assert state_pull_argv(TF) == [TF, "state", "pull", "-no-color"]
    assert version_argv(TF) == [TF, "version", "-json"]


def test_option_objects_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PlanOptions().destroy = True  # type: ignore[misc]


BASE = {"PATH": "/usr/bin", "HOME": "/home/op", "TF_INPUT": "1", "TF_IN_AUTOMATION": "0"}


def test_env_forces_automation_mode_over_inherited_values() -> None:
    env = build_env(TerraformEnv(), BASE)
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/op",
        "TF_INPUT": "0",
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
    }


def test_env_passes_cli_config_and_plugin_cache_when_configured() -> None:
    config = TerraformEnv(
        cli_config_file="/etc/tfctl/mirror.tfrc", plugin_cache_dir="/var/cache/tf"
    )
    env = build_env(config, {"TF_CLI_CONFIG_FILE": "/home/op/.terraformrc"})
    assert env["TF_CLI_CONFIG_FILE"] == "/etc/tfctl/mirror.tfrc"
    assert env["TF_PLUGIN_CACHE_DIR"] == "/var/cache/tf"


def test_env_keeps_the_users_cli_config_when_none_is_configured() -> None:
    env = build_env(TerraformEnv(), {"TF_CLI_CONFIG_FILE": "/home/op/.terraformrc"})
    assert env["TF_CLI_CONFIG_FILE"] == "/home/op/.terraformrc"
    assert "TF_PLUGIN_CACHE_DIR" not in env


def test_env_extra_variables_cannot_turn_automation_off() -> None:
    config = TerraformEnv(extra=(("TF_VAR_region", "eu-west-1"), ("TF_INPUT", "1")))
    env = build_env(config, {})
    assert env["TF_VAR_region"] == "eu-west-1"
    assert env["TF_INPUT"] == "0"


def test_env_drops_argv_injection_and_tfctl_secrets() -> None:
    base = {
        "TF_CLI_ARGS": "-json",
        "TF_CLI_ARGS_plan": "-refresh=false",
        "TFCTL_DATABASE_URL": "postgresql://u:secret@db/tfctl",
        "ALPHASWARM_TERRAFORM_STATE_BACKEND": "s3",
        "AWS_PROFILE": "ops",
    }
    env = build_env(TerraformEnv(), base)
    assert {k for k in env if k in base} == {"AWS_PROFILE"}


def test_build_env_does_not_modify_its_input() -> None:
    base = dict(BASE)
    build_env(TerraformEnv(cli_config_file="/x"), base)
    assert base == BASE
