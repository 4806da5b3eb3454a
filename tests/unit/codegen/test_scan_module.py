"""`scan_module`: the variables and outputs of a local module, found despite tricky syntax."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfctl import errors
from tfctl.codegen import ModuleInterface, ModuleOutput, ModuleVariable, scan_module


def module(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / name.replace("_tf", ".tf")).write_text(text)
    return tmp_path


def test_required_optional_and_sensitive_variables_and_outputs(tmp_path: Path) -> None:
    path = module(
        tmp_path,
        main_tf="""
variable "name" {
  type = string
}

variable "size" {
  type    = number
  default = 3
}

variable "password" {
  type      = string
  sensitive = true
}

variable "maybe" {
  default   = null
  sensitive = false
}

output "id" {
  value = "x"
}

output "secret" {
  value     = var.password
  sensitive = true
}
""",
    )
    assert scan_module(path) == ModuleInterface(
        variables={
            "name": ModuleVariable(required=True, sensitive=False),
            "size": ModuleVariable(required=False, sensitive=False),
            "password": ModuleVariable(required=True, sensitive=True),
            "maybe": ModuleVariable(required=False, sensitive=False),
        },
        outputs={"id": ModuleOutput(sensitive=False), "secret": ModuleOutput(sensitive=True)},
    )


def test_comments_that_look_like_blocks_are_ignored(tmp_path: Path) -> None:
    path = module(
        tmp_path,
        main_tf="""
# variable "hash" {
// variable "slashes" {
/* variable "block" {
}
output "in_comment" { value = 1 }
*/
variable "real" { # default = 1
  // default = 2
  /* sensitive = true */
  type = string
}
""",
    )
    interface = scan_module(path)
    assert interface.variables == {"real": ModuleVariable(required=True, sensitive=False)}
    assert interface.outputs == {}


def test_strings_and_heredocs_with_braces_do_not_confuse_the_scanner(tmp_path: Path) -> None:
    path = module(
        tmp_path,
        main_tf=r"""
variable "quoted" {
  description = "a } brace, an escaped \" quote and variable \"x\" { inside"
  type        = string
}

variable "heredoc" {
  default = <<-EOT
    variable "not_a_variable" {
    }}} {{
    EOT
  sensitive = true
}

variable "plain_heredoc" {
  description = <<EOT
output "not_an_output" {
EOT
}

locals {
  template = "${join("}", ["{", "\"}"])} %{ if true }{%{ endif } $${literal"
}

variable "after_template" {
  default = 1
}

resource "terraform_data" "x" {
  input = "variable \"fake\" {"
}
""",
    )
    interface = scan_module(path)
    assert interface.variables == {
        "quoted": ModuleVariable(required=True, sensitive=False),
        "heredoc": ModuleVariable(required=False, sensitive=True),
        "plain_heredoc": ModuleVariable(required=True, sensitive=False),
        "after_template": ModuleVariable(required=False, sensitive=False),
    }
    assert interface.outputs == {}


def test_nested_blocks_and_expressions_do_not_lend_their_attributes(tmp_path: Path) -> None:
    path = module(
        tmp_path,
        main_tf="""
variable "checked" {
  type = object({
    default   = string
    sensitive = bool
  })

  validation {
    condition     = var.checked.default != ""
    error_message = "default must be set."
  }
}

variable "inline" { default = { a = "}", b = [1, 2] } }

variable bare_label {
  sensitive = true
  default = {
    sensitive = true
  }
}

output "nested" {
  value = {
    sensitive = true
  }

  precondition {
    condition     = var.inline != null
    error_message = "never"
  }
}
""",
    )
    interface = scan_module(path)
    assert interface.variables == {
        "checked": ModuleVariable(required=True, sensitive=False),
        "inline": ModuleVariable(required=False, sensitive=False),
        "bare_label": ModuleVariable(required=False, sensitive=True),
    }
    assert interface.outputs == {"nested": ModuleOutput(sensitive=False)}


def test_all_top_level_files_are_read_and_subdirectories_are_not(tmp_path: Path) -> None:
    path = module(
        tmp_path,
        variables_tf='variable "a" {}\n',
        outputs_tf='output "b" {\n  value = 1\n}\n',
        notes_txt='variable "txt" {}\n',
    )
    (path / "nested").mkdir()
    (path / "nested" / "main.tf").write_text('variable "child" {}\n')
    (path / "extra.tf.json").write_text(
        json.dumps(
            {
                "variable": {"j": {"type": "string", "sensitive": True}, "k": {"default": 1}},
                "output": {"jo": {"value": "x", "sensitive": True}},
            }
        )
    )
    interface = scan_module(path)
    assert interface.variables == {
        "a": ModuleVariable(required=True),
        "j": ModuleVariable(required=True, sensitive=True),
        "k": ModuleVariable(required=False),
    }
    assert interface.outputs == {"b": ModuleOutput(), "jo": ModuleOutput(sensitive=True)}


def test_crlf_line_endings(tmp_path: Path) -> None:
    text = 'variable "a" {\r\n  sensitive = true\r\n}\r\noutput "o" {\r\n  value = 1\r\n}\r\n'
    (tmp_path / "main.tf").write_bytes(text.encode())
    interface = scan_module(tmp_path)
    assert interface.variables == {"a": ModuleVariable(required=True, sensitive=True)}
    assert interface.outputs == {"o": ModuleOutput()}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('variable "a" {\n  description = "open\n}\n', "unterminated string"),
        ('variable "a" {}\n/* never closed\n', "unterminated /\\* comment"),
        ('variable "a" {\n  default = <<EOT\nno end\n}\n', "unterminated heredoc <<EOT"),
        ('variable "a" {\n  default = "${x"\n}\n', "unterminated"),
    ],
)
def test_unreadable_syntax_is_an_invalid_spec_naming_the_file(
    tmp_path: Path, text: str, problem: str
) -> None:
    (tmp_path / "broken.tf").write_text(text)
    with pytest.raises(errors.InvalidSpec, match=rf"broken\.tf: {problem}"):
        scan_module(tmp_path)


def test_missing_directory_is_an_invalid_spec(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidSpec, match="not a directory"):
        scan_module(tmp_path / "absent")
