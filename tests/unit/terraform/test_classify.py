"""Telling terraform failures apart from what terraform printed.

Every fixture is real stderr of Terraform 1.11.4 (`-no-color`, TF_IN_AUTOMATION=1), captured by
running terraform on `terraform_data` configurations in a temporary directory:

- LOCKED: `apply` while another `apply` (local-exec `sleep 6`) held the local state lock.
- STALE: two plans saved from the same state, the first applied, then the second applied.
- OTHER_VERSION: a saved plan whose recorded version was rewritten to 1.10.9, then applied.
- MISSING_VARS: `plan` of two `variable` blocks without defaults or values.
- the invalid configurations: `plan` (and `init`) of the configuration shown in the text.
- REGISTRY_DOWN: `init` of a config requiring hashicorp/null, with no network.
- PROVISIONER_FAILED: `apply` whose local-exec ran `echo boom >&2; exit 3`.
"""

from __future__ import annotations

import pytest

from tfctl import errors
from tfctl.terraform.diagnostics import (
    classify_failure,
    is_transient_init_failure,
    parse_diagnostics,
)

LOCKED = """
Error: Error acquiring the state lock

Error message: resource temporarily unavailable
Lock Info:
  ID:        439ecaa0-f6a5-beb3-eb81-43d373b625c8
  Path:      terraform.tfstate
  Operation: OperationTypeApply
  Who:       root@vm
  Version:   1.11.4
  Created:   2026-11-27 15:50:57.630099799 +0000 UTC
  Info:     \x20


Terraform acquires a state lock to protect the state from being written
by multiple users at the same time. Please resolve the issue above and try
again. For most commands, you can disable locking with the "-lock=false"
flag, but this is not recommended.
"""

STALE = """
Error: Saved plan is stale

The given plan file can no longer be applied because the state was changed by
another operation after the plan was created.
"""

OTHER_VERSION = """
Error: Failed to read plan from plan file

Cannot read the plan from the given plan file: plan file was created by
Terraform 1.10.9, but this is 1.11.4; plan files cannot be transferred
between different Terraform versions.
"""

OTHER_VERSION_SHOW = """
Error: Couldn't show local plan

Plan read error: plan file was created by Terraform 1.10.9, but this is
1.11.4; plan files cannot be transferred between different Terraform versions
"""

MISSING_VARS = """
Error: No value for required variable

  on main.tf line 1:
   1: variable "region" { type = string }

The root module input variable "region" is not set, and has no default value.
Use a -var or -var-file command line argument to provide a value for this
variable.

Error: No value for required variable

  on main.tf line 2:
   2: variable "zone" { type = string }

The root module input variable "zone" is not set, and has no default value.
Use a -var or -var-file command line argument to provide a value for this
variable.
"""

UNSUPPORTED_ARGUMENT = """
Error: Unsupported argument

  on main.tf line 3, in resource "terraform_data" "a":
   3:   bogus = 1

An argument named "bogus" is not expected here.
"""

UNDECLARED_VARIABLE = """
Error: Reference to undeclared input variable

  on main.tf line 2, in resource "terraform_data" "a":
   2:   input = var.nope

An input variable with the name "nope" has not been declared. This variable
can be declared with a variable "nope" {} block.
"""

UNDECLARED_RESOURCE = """
Error: Reference to undeclared resource

  on other.tf line 1, in output "o":
   1: output "o" { value = terraform_data.b.output }

A managed resource "terraform_data" "b" has not been declared in the root
module.
"""

SYNTAX_ERROR_AT_INIT = """
Error: Terraform encountered problems during initialisation, including problems
with the configuration, described below.

The Terraform configuration must be valid before initialization so that
Terraform can determine which modules and providers need to be installed.


Error: Invalid multi-line string

  on main.tf line 2, in resource "terraform_data" "a":
   2:   input = "x
   3: }

Quoted strings may not be split over multiple lines. To produce a multi-line
string, either use the \\n escape to represent a newline character or use the
"heredoc" multi-line template syntax.

Error: Unterminated template string

  on main.tf line 2, in resource "terraform_data" "a":
   2:   input = "x
   3: }

No closing marker was found for the string.
"""

REGISTRY_DOWN = """
Error: Failed to query available provider packages

Could not retrieve the list of available versions for provider
hashicorp/null: could not connect to registry.terraform.io: failed to request
discovery document: Get
"https://registry.terraform.io/.well-known/terraform.json": dial tcp: lookup
registry.terraform.io on 10.255.255.53:53: no such host

To see which modules are currently depending on hashicorp/null and what
versions are specified, run the following command:
    terraform providers
"""

PROVISIONER_FAILED = """
Error: local-exec provisioner error

  with terraform_data.a,
  on main.tf line 2, in resource "terraform_data" "a":
   2:   provisioner "local-exec" {

Error running command 'echo boom >&2; exit 3': exit status 3. Output: boom
"""

# The same missing variable without -no-color: ANSI colours and box borders.
MISSING_VAR_COLOURED = (
    "\x1b[31m╷\x1b[0m\x1b[0m\n\x1b[31m│\x1b[0m \x1b[0m\x1b[1m\x1b[31mError: \x1b[0m\x1b[0m\x1b[1m"
    "No value for required variable\x1b[0m\n\x1b[31m│\x1b[0m \x1b[0m\n\x1b[31m│\x1b[0m \x1b[0m"
    '\x1b[0m  on main.tf line 1:\n\x1b[31m│\x1b[0m \x1b[0m   1: \x1b[4mvariable "region"\x1b[0m'
    " { type = string }\x1b[0m\n\x1b[31m│\x1b[0m \x1b[0m\n\x1b[31m│\x1b[0m \x1b[0mThe root module "
    'input variable "region" is not set, and has no default\n\x1b[31m│\x1b[0m \x1b[0mvalue. Use a '
    "-var or -var-file command line argument to provide a value for\n\x1b[31m│\x1b[0m \x1b[0mthis "
    "variable.\n\x1b[31m╵\x1b[0m\x1b[0m\n"
)


def test_lock_held_says_who_holds_it_since_when_and_how_to_release_it() -> None:
    err = classify_failure(LOCKED, "apply")
    assert isinstance(err, errors.StateLocked)
    assert err.message == (
        "the state is locked by root@vm since 2026-11-27 15:50:57 UTC (OperationTypeApply, "
        "lock ID 439ecaa0-f6a5-beb3-eb81-43d373b625c8); wait for that run to finish, or if it "
        "died, release the lock with `terraform force-unlock 439ecaa0-f6a5-beb3-eb81-43d373b625c8`"
    )
    # the facts, as fields, for front ends that answer with more than text
    assert err.lock_id == "439ecaa0-f6a5-beb3-eb81-43d373b625c8"
    assert err.holder == "root@vm"
    assert err.operation == "OperationTypeApply"
    assert err.since is not None


def test_lock_error_without_lock_info_still_reports_a_lock() -> None:
    text = "\nError: Error acquiring the state lock\n\nError message: 412 PreconditionFailed\n"
    err = classify_failure(text, "plan")
    assert isinstance(err, errors.StateLocked)
    assert "412 PreconditionFailed" in err.message
    assert err.lock_id is None


def test_stale_plan() -> None:
    err = classify_failure(STALE, "apply")
    assert isinstance(err, errors.StalePlan)
    assert "run a new plan" in err.message


@pytest.mark.parametrize("text", [OTHER_VERSION, OTHER_VERSION_SHOW], ids=["apply", "show"])
def test_plan_from_another_terraform_version_is_stale_and_says_why(text: str) -> None:
    err = classify_failure(text, "apply")
    assert isinstance(err, errors.StalePlan)
    assert "made by Terraform 1.10.9 but this is Terraform 1.11.4" in err.message


def test_missing_variables_are_named() -> None:
    err = classify_failure(MISSING_VARS, "plan")
    assert isinstance(err, errors.MissingVariable)
    assert err.exit_code == 2
    assert "'region', 'zone' have no value" in err.message


def test_one_missing_variable_says_how_to_set_it_even_in_colour() -> None:
    err = classify_failure(MISSING_VAR_COLOURED, "plan")
    assert isinstance(err, errors.MissingVariable)
    assert "'region' has no value; set it with `--var region=VALUE`" in err.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            UNSUPPORTED_ARGUMENT,
            'Unsupported argument at main.tf:3: An argument named "bogus" is not expected here.',
        ),
        (UNDECLARED_VARIABLE, "Reference to undeclared input variable at main.tf:2: An input"),
        (UNDECLARED_RESOURCE, "Reference to undeclared resource at other.tf:1: A managed"),
    ],
    ids=["unsupported-argument", "undeclared-variable", "undeclared-resource"],
)
def test_invalid_configuration_gives_terraforms_error_with_file_and_line(
    text: str, expected: str
) -> None:
    err = classify_failure(text, "plan")
    assert isinstance(err, errors.InvalidConfiguration)
    assert err.exit_code == 2
    assert err.message.startswith(f"the terraform configuration is invalid: {expected}")


def test_syntax_error_at_init_skips_the_preamble_and_counts_the_rest() -> None:
    err = classify_failure(SYNTAX_ERROR_AT_INIT, "init")
    assert isinstance(err, errors.InvalidConfiguration)
    assert "Invalid multi-line string at main.tf:2: Quoted strings may not" in err.message
    assert "(and 1 more error)" in err.message


def test_a_runtime_error_in_a_resource_is_a_terraform_error_not_a_config_error() -> None:
    err = classify_failure(PROVISIONER_FAILED, "apply")
    assert type(err) is errors.TerraformError
    assert err.message == (
        "terraform apply failed: local-exec provisioner error at main.tf:2: Error running "
        "command 'echo boom >&2; exit 3': exit status 3. Output: boom"
    )


def test_output_without_diagnostics_falls_back_to_the_line_naming_the_error() -> None:
    text = (
        "Error parsing command-line flags: flag provided but not defined: -bogus\n\n"
        "For more help on using this command, run:\n  terraform output -help\n"
    )
    err = classify_failure(text, "output")
    assert err.message == (
        "terraform output failed: Error parsing command-line flags: flag provided but not "
        "defined: -bogus"
    )


def test_silent_failure_reports_the_exit_code() -> None:
    err = classify_failure("", "apply", exit_code=-9)
    assert err.message == (
        "terraform apply failed with exit code -9 and printed no error; see its output in the log"
    )


def test_messages_are_one_line() -> None:
    texts = [LOCKED, STALE, OTHER_VERSION, MISSING_VARS, SYNTAX_ERROR_AT_INIT, REGISTRY_DOWN]
    for text in [*texts, PROVISIONER_FAILED, UNSUPPORTED_ARGUMENT]:
        assert "\n" not in classify_failure(text, "plan").message


def test_long_details_are_shortened() -> None:
    text = "\nError: Something broke\n\n" + "word " * 200 + "\n"
    message = classify_failure(text, "plan").message
    assert message.endswith("…")
    assert len(message) < 400


def test_parse_diagnostics_reads_wrapped_summary_location_subject_and_detail() -> None:
    preamble, first, second = parse_diagnostics(SYNTAX_ERROR_AT_INIT)
    assert preamble.summary.endswith("including problems with the configuration, described below.")
    assert (first.location, first.subject) == ("main.tf:2", None)
    assert second.paragraphs == ("No closing marker was found for the string.",)
    (provisioner,) = parse_diagnostics(PROVISIONER_FAILED)
    assert provisioner.subject == "terraform_data.a"


def test_registry_unreachable_is_transient() -> None:
    assert is_transient_init_failure(REGISTRY_DOWN)


@pytest.mark.parametrize(
    "text", [SYNTAX_ERROR_AT_INIT, UNSUPPORTED_ARGUMENT, LOCKED, "", "Killed"],
    ids=["syntax", "argument", "lock", "empty", "no-diagnostic"],
)  # fmt: skip
def test_everything_else_is_not_transient(text: str) -> None:
    assert not is_transient_init_failure(text)


def test_a_network_error_next_to_a_real_error_is_not_transient() -> None:
    assert not is_transient_init_failure(REGISTRY_DOWN + UNSUPPORTED_ARGUMENT)
