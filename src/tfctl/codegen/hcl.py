"""HCL helpers for code generation: safe literals, identifiers, and a module interface scanner.

`hcl_string` is the one way a Python string enters rendered HCL (the Jinja filter `hcl`):
whatever the string holds, the result is a single quoted literal that evaluates to exactly that
string, never to configuration or an interpolation.

`scan_module` reads the variables and outputs a local module declares. It is a scanner, not an
HCL parser: it tokenises just enough (comments, quoted strings with escapes and template
interpolations, heredocs, brackets) to find top-level `variable` and `output` blocks and the
attributes directly inside them, and evaluates nothing. Terraform still parses the module for
real when it runs. Not handled, because Terraform modules do not need them in practice: comments
inside a `${ ... }` interpolation, and the JSON syntax's array form of blocks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfctl import errors

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

# Escapes HCL's quoted-string syntax defines; every other control character becomes \uNNNN.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def hcl_string(value: str) -> str:
    """Render `value` as an HCL quoted string literal that evaluates to exactly `value`.

    Backslash, double quote and control characters are escaped, and the template sequences
    `${` and `%{` are doubled (`$${`, `%%{`), so no value can end the literal, start new
    configuration, or interpolate. Printable non-ASCII characters are kept as they are (HCL
    files are UTF-8).
    """
    escaped = "".join(_escape_char(char) for char in value)
    return '"' + escaped.replace("${", "$${").replace("%{", "%%{") + '"'


def _escape_char(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    # C0, DEL and C1 controls, and the Unicode line/paragraph separators: never raw in output.
    if code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029):
        return f"\\u{code:04x}"
    return char


def is_identifier(name: object) -> bool:
    """Whether `name` is a string matching `^[A-Za-z_][A-Za-z0-9_-]*$`."""
    return isinstance(name, str) and _IDENTIFIER.fullmatch(name) is not None


def hcl_identifier(name: str) -> str:
    """Return `name` if it is a valid HCL identifier (`^[A-Za-z_][A-Za-z0-9_-]*$`).

    Raises `errors.InvalidSpec` otherwise: names are rendered bare (block labels aside), so a
    name that is not an identifier could change the configuration's meaning.
    """
    if not is_identifier(name):
        raise errors.InvalidSpec(
            f"{name!r} is not a valid Terraform name; use letters, digits, '_' and '-', "
            "starting with a letter or '_'"
        )
    return name


# --- the module interface --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModuleVariable:
    """A module's `variable` block: required when it sets no `default`."""

    required: bool
    sensitive: bool = False


@dataclass(frozen=True, slots=True)
class ModuleOutput:
    """A module's `output` block."""

    sensitive: bool = False


@dataclass(frozen=True, slots=True)
class ModuleInterface:
    """What a module declares: its input variables and its outputs, by name."""

    variables: dict[str, ModuleVariable] = field(default_factory=dict)
    outputs: dict[str, ModuleOutput] = field(default_factory=dict)


def scan_module(path: Path) -> ModuleInterface:
    """Scan the top-level `*.tf` and `*.tf.json` files of the local module directory `path`.

    Finds `variable "NAME" { ... }` blocks (required unless the block sets `default`; sensitive
    when it sets `sensitive = true`) and `output "NAME" { ... }` blocks (sensitive when they set
    `sensitive = true`). Attributes of nested blocks (`validation { ... }`) are not the
    variable's. Subdirectories are other modules and are not read. Raises `errors.InvalidSpec`
    when `path` is not a directory or a file cannot be read or tokenised.
    """
    if not path.is_dir():
        raise errors.InvalidSpec(f"module {path}: not a directory")
    blocks: list[_Block] = []
    for file in sorted([*path.glob("*.tf"), *path.glob("*.tf.json")]):
        blocks += _json_blocks(file) if file.name.endswith(".json") else _hcl_blocks(file)
    return _interface(blocks)


def scan_hcl(text: str, *, origin: str) -> ModuleInterface:
    """What `scan_module` finds, read from HCL `text` instead of files (e.g. a configuration
    tfctl rendered itself). Raises `errors.InvalidSpec` naming `origin` if it cannot tokenise."""
    return _interface(_text_blocks(text, origin))


def _interface(blocks: list[_Block]) -> ModuleInterface:
    variables: dict[str, ModuleVariable] = {}
    outputs: dict[str, ModuleOutput] = {}
    for block_type, name, attributes in blocks:
        sensitive = _is_true(attributes.get("sensitive"))
        if block_type == "variable":
            variables[name] = ModuleVariable("default" not in attributes, sensitive)
        else:
            outputs[name] = ModuleOutput(sensitive)
    return ModuleInterface(variables=variables, outputs=outputs)


# A block found by the scanner: its type, its label, and its attributes. An attribute's value
# is kept only far enough to answer "is it literally true?".
_Block = tuple[str, str, dict[str, Any]]
_WANTED = ("variable", "output")


def _is_true(value: Any) -> bool:
    return value is True or value == "true"


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.InvalidSpec(f"module file {file}: cannot read it: {exc}") from exc


def _hcl_blocks(file: Path) -> list[_Block]:
    return _text_blocks(_read(file), f"module file {file}")


def _text_blocks(text: str, origin: str) -> list[_Block]:
    try:
        tokens = _Lexer(text).tokens()
    except _ScanError as exc:
        raise errors.InvalidSpec(f"{origin}: {exc}") from exc
    return [block for block in map(_wanted_block, _statements(tokens)) if block is not None]


def _wanted_block(statement: list[_Token]) -> _Block | None:
    """`variable|output LABEL { BODY }` → the block; any other statement → None."""
    if len(statement) < 4 or statement[0].kind != "ident" or statement[0].text not in _WANTED:
        return None
    label, opening, closing = statement[1], statement[2], statement[-1]
    braced = (opening.kind, opening.text, closing.kind) == ("open", "{", "close")
    if label.kind not in ("ident", "string") or not braced:
        return None
    return statement[0].text, label.text, _attributes(statement[3:-1])


def _json_blocks(file: Path) -> list[_Block]:
    """Terraform's JSON syntax: `{"variable": {"NAME": {...}}, "output": {...}}`."""
    try:
        document = json.loads(_read(file))
    except json.JSONDecodeError as exc:
        raise errors.InvalidSpec(f"module file {file}: invalid JSON: {exc}") from exc
    blocks: list[_Block] = []
    for block_type in _WANTED:
        declared = document.get(block_type, {}) if isinstance(document, dict) else {}
        for name, body in (declared if isinstance(declared, dict) else {}).items():
            blocks.append((block_type, name, body if isinstance(body, dict) else {}))
    return blocks


# --- tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    """kind: ident | string | open | close | eq | newline | other. `text` is the identifier,
    the bracket, or the string's decoded value (empty for heredocs and templates)."""

    kind: str
    text: str = ""


class _ScanError(ValueError):
    pass


_HEREDOC = re.compile(r"<<(-?)([^\W\d][\w-]*)[ \t]*\r?\n")
_WORD = re.compile(r"[^\W\d][\w-]*")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


class _Lexer:
    """Splits HCL native syntax into the few token kinds the scanner needs; comments dropped."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.out: list[_Token] = []

    def tokens(self) -> list[_Token]:
        while self.pos < len(self.text):
            self._step()
        return self.out

    def _step(self) -> None:
        text, pos = self.text, self.pos
        char = text[pos]
        if text.startswith(("#", "//"), pos):
            end = text.find("\n", pos)
            self.pos = len(text) if end < 0 else end
        elif text.startswith("/*", pos):
            self.pos = self._find("*/", pos + 2, "unterminated /* comment") + 2
        elif char == '"':
            self.out.append(_Token("string", self._string()))
        elif (heredoc := _HEREDOC.match(text, pos)) is not None:
            self._skip_heredoc(heredoc)
        else:
            self._punctuation_or_word(char)

    def _punctuation_or_word(self, char: str) -> None:
        if (word := _WORD.match(self.text, self.pos)) is not None:
            self.out.append(_Token("ident", word.group()))
            self.pos = word.end()
            return
        pair = self.text[self.pos : self.pos + 2]
        if pair in ("==", "=>", "!=", "<=", ">="):
            self.out.append(_Token("other", pair))
            self.pos += 2
            return
        kinds = {"\n": "newline", "=": "eq", "{": "open", "(": "open", "[": "open"}
        kind = kinds.get(char) or ("close" if char in "})]" else "other")
        if char not in " \t\r":
            self.out.append(_Token(kind, char))
        self.pos += 1

    def _find(self, needle: str, start: int, problem: str) -> int:
        found = self.text.find(needle, start)
        if found < 0:
            raise _ScanError(f"{problem} (line {self._line(start)})")
        return found

    def _line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def _skip_heredoc(self, heredoc: re.Match[str]) -> None:
        marker = re.escape(heredoc.group(2))
        closing = re.compile(rf"^[ \t]*{marker}[ \t]*\r?$", re.MULTILINE)
        end = closing.search(self.text, heredoc.end())
        if end is None:
            raise _ScanError(
                f"unterminated heredoc <<{heredoc.group(2)} (line {self._line(self.pos)})"
            )
        self.out.append(_Token("string"))
        self.pos = end.end()  # the newline after the marker becomes a newline token

    def _string(self) -> str:
        """Read a quoted string starting at `pos` (the opening quote); return its value."""
        start = self.pos
        value: list[str] = []
        self.pos += 1
        while self.pos < len(self.text):
            text, pos = self.text, self.pos
            if text[pos] == '"':
                self.pos += 1
                return "".join(value)
            if text[pos] == "\n":
                break
            value.append(self._string_part(text, pos))
        raise _ScanError(f"unterminated string (line {self._line(start)})")

    def _string_part(self, text: str, pos: int) -> str:
        """One character or escape of a quoted string; `\\uNNNN` is not decoded (labels that
        matter are identifiers), only skipped over correctly."""
        if text[pos] == "\\":
            self.pos += 2
            return _SIMPLE_ESCAPES.get(text[pos + 1 : pos + 2], "")
        if text.startswith(("$${", "%%{"), pos):
            self.pos += 3
            return text[pos + 1 : pos + 3]
        if text.startswith(("${", "%{"), pos):
            self._skip_template(pos + 2)
            return ""
        self.pos += 1
        return text[pos]

    def _skip_template(self, start: int) -> None:
        """Skip an interpolation or directive body up to its matching `}`."""
        self.pos, depth = start, 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self._string()
                continue
            depth += {"{": 1, "}": -1}.get(char, 0)
            self.pos += 1
            if depth == 0:
                return
        raise _ScanError(f"unterminated template sequence (line {self._line(start)})")


def _statements(tokens: list[_Token]) -> list[list[_Token]]:
    """Split tokens into statements. A newline ends a statement only outside brackets; inside
    them it is kept, so a block's body can be split into its own statements in turn."""
    statements: list[list[_Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.kind == "newline" and depth == 0:
            statements.append([])
            continue
        depth += {"open": 1, "close": -1}.get(token.kind, 0)
        statements[-1].append(token)
    return [statement for statement in statements if statement]


def _attributes(body: list[_Token]) -> dict[str, Any]:
    """The attributes directly in a block body: `NAME = VALUE` statements, nested blocks not.

    A value is reported as its single token's text (`true`, a string) or `None` for anything
    longer; the scanner only ever asks whether a value is literally `true`.
    """
    attributes: dict[str, Any] = {}
    for statement in _statements(body):
        if len(statement) >= 2 and statement[0].kind == "ident" and statement[1].kind == "eq":
            value = [token for token in statement[2:] if token.kind != "newline"]
            attributes[statement[0].text] = value[0].text if len(value) == 1 else None
    return attributes
