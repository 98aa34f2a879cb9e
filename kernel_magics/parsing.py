"""Pure text handling for the magics: splitting a magic line, reading a declaration cell.

Nothing here touches IPython or a database, so it is easy to test and to reuse
(the completion module uses the same scanner).
"""

from __future__ import annotations

import ast
import decimal
import re
import shlex
import textwrap
from dataclasses import dataclass, field

from dj_jupyter.errors import DataJointError


class CellSyntaxError(DataJointError):
    """A ``%%dj`` cell or ``%dj`` line that cannot be read."""


# ---------------------------------------------------------------------------------------------
# magic lines
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


_OPEN = {"(": ")", "[": "]", "{": "}"}


def scan(line: str) -> list[Token]:
    """Split ``line`` at whitespace outside quotes and brackets, keeping each piece verbatim.

    ``Session & 'species = "mouse"'`` gives three tokens; ``{"a": 1, "b": 2}`` stays one.
    Unclosed quotes or brackets run to the end of the line (useful while typing).
    """
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        depth: list[str] = []
        quote = None
        while i < n:
            char = line[i]
            if quote:
                if char == "\\":
                    i += 2
                    continue
                if char == quote:
                    quote = None
            elif char in "'\"":
                quote = char
            elif char in _OPEN:
                depth.append(_OPEN[char])
            elif depth and char == depth[-1]:
                depth.pop()
            elif char.isspace() and not depth:
                break
            i += 1
        i = min(i, n)
        tokens.append(Token(line[start:i], start, i))
    return tokens


def unquote(text: str) -> str:
    """``"a b"`` -> ``a b``; ``x`` stays ``x`` (for option values, never for expressions)."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            parts = shlex.split(text)
        except ValueError:
            return text[1:-1]
        return parts[0] if len(parts) == 1 else text[1:-1]
    return text


def split_options(line: str, parser) -> tuple[list[str], list[str], bool]:
    """Separate ``line`` into argparse options (values unquoted) and verbatim positional tokens.

    Returns (options, positionals, wants_help). Positionals keep their quotes, so a
    restriction such as ``'species = "mouse"'`` reaches Python exactly as typed.
    """
    actions = parser._option_string_actions  # noqa: SLF001 - argparse keeps no public map
    options: list[str] = []
    positionals: list[str] = []
    wants_help = False
    tokens = scan(line)
    index = 0
    while index < len(tokens):
        text = tokens[index].text
        index += 1
        if text in ("-h", "--help"):
            wants_help = True
            continue
        name, has_value, value = text.partition("=") if text.startswith("--") else (text, "", "")
        action = actions.get(name) if text.startswith("-") else None
        if action is None:
            positionals.append(text)
            continue
        options.append(name)
        if action.nargs == 0:
            continue
        if has_value:
            options.append(unquote(value))
        elif index < len(tokens):
            options.append(unquote(tokens[index].text))
            index += 1
    return options, positionals, wants_help


# ---------------------------------------------------------------------------------------------
# declaration cells
# ---------------------------------------------------------------------------------------------
PART_LINE = re.compile(r"^\s*part\s+([A-Za-z_][A-Za-z0-9_]*)\s*:?\s*(#.*)?$")
CONTENTS_LINE = re.compile(r"^\s*contents\s*:?\s*(#.*)?$")


@dataclass
class PartBlock:
    name: str
    definition: str


@dataclass
class DeclarationCell:
    definition: str
    parts: list[PartBlock] = field(default_factory=list)
    contents: list[list[object]] | None = None  # raw rows: quoted fields are str, the rest RawValue


class RawValue(str):
    """An unquoted contents field: converted by the attribute's type once the heading is known."""


def parse_declaration(body: str) -> DeclarationCell:
    """Split a declaration cell into the master's definition, ``part NAME`` blocks and ``contents`` rows."""
    blocks: list[tuple[str, str | None, list[str]]] = [("master", None, [])]
    contents: list[list[object]] | None = None
    for number, line in enumerate(body.splitlines(), start=1):
        part = PART_LINE.match(line)
        if part:
            blocks.append(("part", part.group(1), []))
            continue
        if CONTENTS_LINE.match(line):
            if blocks[-1][0] == "part":
                raise CellSyntaxError(f"Line {number}: `contents` follows part {blocks[-1][1]}.",
                                      hint="Put the contents rows right after the master's definition.")
            if contents is not None:
                raise CellSyntaxError(f"Line {number}: a second `contents` block.")
            blocks.append(("contents", None, []))
            contents = []
            continue
        kind = blocks[-1][0]
        if kind == "contents":
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            contents.append(parse_row(stripped, number))
        else:
            blocks[-1][2].append(line)
    master = _block_text(blocks[0][2])
    if not master:
        raise CellSyntaxError("The cell has no table definition.",
                              hint="Write the definition below the %%dj line, e.g.\n"
                                   "%%dj manual Subject\nsubject_id : int32\n---\nspecies : varchar(32)")
    parts = []
    seen = set()
    for kind, name, lines in blocks[1:]:
        if kind != "part":
            continue
        if name in seen:
            raise CellSyntaxError(f"Part {name} is declared twice in this cell.")
        seen.add(name)
        text = _block_text(lines)
        if not text:
            raise CellSyntaxError(f"Part {name} has no definition.", hint="Follow `part NAME` with its lines, "
                                                                           "starting with `-> master`.")
        parts.append(PartBlock(name, text))
    return DeclarationCell(master, parts, contents)


def _block_text(lines: list[str]) -> str:
    text = textwrap.dedent("\n".join(lines)).strip("\n")
    return text + "\n" if text.strip() else ""


def parse_row(line: str, number: int = 0) -> list[object]:
    """One CSV-like contents row: ``1, 'mouse', 3.5``. Quoted fields are strings; others are RawValue."""
    fields: list[object] = []
    current: list[str] = []
    quoted_field: str | None = None
    i = 0
    while i <= len(line):
        char = line[i] if i < len(line) else ","
        if char in "'\"" and not "".join(current).strip():
            end = _closing_quote(line, i)
            if end < 0:
                raise CellSyntaxError(f"Line {number}: unclosed quote in contents row: {line}")
            inner, quote = line[i + 1:end], line[i]
            if quote * 2 in inner:  # SQL/CSV style: '' stands for one quote
                quoted_field = inner.replace(quote * 2, quote)
            else:
                try:
                    quoted_field = ast.literal_eval(line[i:end + 1])
                except (SyntaxError, ValueError):
                    quoted_field = inner
            i = end + 1
            continue
        if char == ",":
            if quoted_field is not None:
                if "".join(current).strip():
                    raise CellSyntaxError(f"Line {number}: text after a quoted value: {line}")
                fields.append(quoted_field)
            else:
                fields.append(RawValue("".join(current).strip()))
            current, quoted_field = [], None
        else:
            current.append(char)
        i += 1
    return fields


def _closing_quote(text: str, start: int) -> int:
    quote = text[start]
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            if i + 1 < len(text) and text[i + 1] == quote:  # '' inside '...', as in SQL and CSV
                i += 2
                continue
            return i
        i += 1
    return -1


_INT = re.compile(r"[+-]?\d+")
_NULLS = {"", "null", "none", "NULL", "None"}


def convert_row(row: list[object], attributes: list, number: int = 0) -> dict:
    """Match a row to the heading's attributes (in order) and convert unquoted values by type."""
    if len(row) != len(attributes):
        names = ", ".join(a.name for a in attributes)
        raise CellSyntaxError(f"Contents row {number} has {len(row)} values; the table has {len(attributes)} "
                              f"attributes ({names}).", hint="Give one value per attribute, in heading order; "
                                                             "quote text that contains commas.")
    values = {}
    for value, attribute in zip(row, attributes):
        if isinstance(value, RawValue):
            value = _convert(str(value), attribute)
        values[attribute.name] = value
    return values


def _convert(text: str, attribute) -> object:
    if text in _NULLS:
        return None
    kind = attribute.type
    name = (kind.name or "").lower()
    if name in ("bool", "boolean"):
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        return text
    numeric = getattr(attribute, "numeric", False) or (
        kind.category == "native" and re.match(r"(tiny|small|medium|big)?int|integer|float|double|real|dec|numeric",
                                               name))
    if numeric:
        if name == "decimal":
            try:
                return decimal.Decimal(text)
            except decimal.InvalidOperation:
                return text
        if _INT.fullmatch(text):
            return int(text)
        try:
            return float(text)
        except ValueError:
            return text
    return text
