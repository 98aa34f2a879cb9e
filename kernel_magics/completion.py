"""Completion inside ``%%dj`` cells and on ``%dj`` lines.

:func:`complete` is a pure function of (cell text, cursor offset, namespace): the
IPython matcher registered by the extension calls it, and so can any front end
that has the cell text (the JupyterLab extension asks the kernel, which ends here).

What it completes:

* the subcommand and its options on the ``%%dj`` / ``%dj`` line;
* table classes after ``->`` in a declaration (``master`` inside a ``part`` block,
  part tables after ``Master.``);
* core types and codecs after ``:`` in a declaration;
* table classes in query expressions, part tables and attribute names after
  ``TableName.``, and attribute names inside restriction strings
  (``Session & 'sess|'``) of the tables the expression mentions.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .parsing import CONTENTS_LINE, PART_LINE, scan

DECLARATION_KINDS = ("manual", "lookup", "imported", "computed")
CELL_KINDS = DECLARATION_KINDS + ("query", "delete")
LINE_SUBCOMMANDS = ("connect", "schema", "populate", "jobs", "status", "describe", "diagram", "delete", "query")

OPTIONS = {
    "connect": ["--backend", "--host", "--user", "--port", "--path", "--prompt", "--help"],
    "schema": ["--as", "--spawn", "--help"],
    "populate": ["--processes", "--reserve-jobs", "--suppress-errors", "--max-calls", "--help"],
    "jobs": ["--all", "--help"],
    "status": ["--help"],
    "describe": ["--help"],
    "diagram": ["--help"],
    "delete": ["--part-integrity", "--confirm", "--help"],
    "query": ["-o", "--limit", "--order-by", "--help"],
    "manual": ["--schema", "--confirm", "--help"],
    "lookup": ["--schema", "--confirm", "--help"],
    "imported": ["--schema", "--make", "--confirm", "--help"],
    "computed": ["--schema", "--make", "--confirm", "--help"],
}
CHOICES = {"--backend": ["sqlite", "postgresql", "mysql"], "--part-integrity": ["enforce", "ignore", "cascade"]}
EXPRESSION_SUBCOMMANDS = ("populate", "delete", "describe", "jobs", "diagram", "query", "status")

CORE_TYPES = ("int8", "int16", "int32", "int64", "float32", "float64", "bool", "decimal", "char", "varchar",
              "enum", "date", "datetime", "uuid", "json", "bytes")
TABLE_METHODS = ("proj", "aggr", "join", "extend", "restrict", "to_dicts", "to_pandas", "to_arrays", "keys",
                 "fetch", "fetch1", "head", "tail", "insert", "insert1", "update1", "describe", "heading",
                 "primary_key", "populate", "progress", "jobs", "delete", "drop", "parents", "children")

_IDENTIFIER_TAIL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_DOTTED_TAIL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\.([A-Za-z0-9_]*)$")
_REFERENCE_LINE = re.compile(r"^\s*->\s*(?:\[[^\]]*\]\s*)?([A-Za-z0-9_.]*)$")
_TYPE_LINE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*(?:=[^:#]*)?:\s*(<?[A-Za-z0-9_@]*)$")
_IDENTIFIERS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class Completions:
    """Candidates that replace ``text[start:end]`` (``end`` is the cursor)."""

    matches: list[str]
    start: int
    end: int
    kind: str  # "subcommand", "option", "value", "table", "attribute", "type"
    exclusive: bool = True  # False: other completers (Python names) may add theirs
    types: dict[str, str] = field(default_factory=dict)  # match -> "table" | "part" | "attribute" | ...

    @property
    def fragment_length(self) -> int:
        return self.end - self.start


def complete(text: str, cursor: int, namespace: Mapping[str, Any]) -> Completions | None:
    """Completions at ``cursor`` in ``text`` (a whole cell), or None outside ``%dj`` / ``%%dj``."""
    cursor = max(0, min(cursor, len(text)))
    before = text[:cursor]
    line_start = before.rfind("\n") + 1
    line_before = before[line_start:]
    lines = text.split("\n")
    first = lines[0]
    stripped_first = first.lstrip()
    if stripped_first.startswith("%%dj") and (len(stripped_first) == 4 or stripped_first[4].isspace()):
        header_offset = len(first) - len(stripped_first) + 4
        if line_start == 0:
            return _complete_magic_line(before[header_offset:], header_offset, namespace, cell=True)
        words = [t.text for t in scan(first[header_offset:])]
        kind = words[0] if words and not words[0].startswith("-") else "query"
        if kind in DECLARATION_KINDS:
            return _complete_declaration(text, cursor, line_start, namespace)
        if kind in ("query", "delete"):
            body_start = len(first) + 1
            return _complete_expression(text[body_start:cursor], body_start, namespace,
                                        text[body_start:])
        return None
    stripped = line_before.lstrip()
    if stripped.startswith("%dj") and (len(stripped) == 3 or stripped[3].isspace()):
        offset = line_start + len(line_before) - len(stripped) + 3
        return _complete_magic_line(before[offset:], offset, namespace, cell=False)
    return None


# ---------------------------------------------------------------------------------------------
# the magic line
# ---------------------------------------------------------------------------------------------
def _complete_magic_line(rest: str, offset: int, namespace, *, cell: bool) -> Completions | None:
    cursor = offset + len(rest)
    tokens = scan(rest)
    if tokens and tokens[-1].end == len(rest):
        fragment = tokens[-1]
        previous = tokens[:-1]
    else:
        fragment = None
        previous = tokens
    fragment_text = fragment.text if fragment else ""
    start = offset + fragment.start if fragment else cursor
    words = [t.text for t in previous]
    if not words and not fragment_text.startswith("-"):
        choices = CELL_KINDS if cell else LINE_SUBCOMMANDS
        return _result(choices, fragment_text, start, cursor, "subcommand")
    subcommand = words[0] if words and not words[0].startswith("-") else "query"
    if fragment_text.startswith("-") and not (subcommand in ("populate", "delete", "query") and
                                              fragment_text.startswith("-") and fragment_text[1:2].isupper()):
        return _result(OPTIONS.get(subcommand, ["--help"]), fragment_text, start, cursor, "option")
    if words and words[-1] in CHOICES:
        return _result(CHOICES[words[-1]], fragment_text, start, cursor, "value")
    if words and words[-1] == "--schema":
        names = [name for name, value in namespace.items() if _is_schema(value)]
        return _result(names, fragment_text, start, cursor, "value")
    if words and words[-1] == "--make":
        head, _, tail = fragment_text.rpartition(",")
        functions = [name for name, value in namespace.items()
                     if inspect.isfunction(value) and not name.startswith("_")]
        return _result(functions, tail, start + len(head) + (1 if head else 0), cursor, "value")
    if words and words[-1] in ("--host", "--user", "--port", "--path", "--as", "-o", "--limit", "--max-calls",
                               "--processes", "--order-by"):
        return Completions([], start, cursor, "value")
    if cell or subcommand not in EXPRESSION_SUBCOMMANDS:
        return Completions([], start, cursor, "value")
    if subcommand == "status":
        names = [name for name, value in namespace.items() if _is_schema(value)]
        return _result(names, fragment_text, start, cursor, "value")
    # the expression after the subcommand (options are removed by position: they come first or last)
    expression_start = previous[0].end if previous else 0
    while expression_start < len(rest) and rest[expression_start].isspace():
        expression_start += 1
    return _complete_expression(rest[expression_start:], offset + expression_start, namespace,
                                rest[expression_start:])


# ---------------------------------------------------------------------------------------------
# declaration cells
# ---------------------------------------------------------------------------------------------
def _complete_declaration(text: str, cursor: int, line_start: int, namespace) -> Completions | None:
    line_before = text[line_start:cursor]
    block = "master"
    for line in text[:line_start].split("\n")[1:]:
        if PART_LINE.match(line):
            block = "part"
        elif CONTENTS_LINE.match(line):
            block = "contents"
    if block == "contents" or line_before.lstrip().startswith("#") or PART_LINE.match(line_before):
        return None
    reference = _REFERENCE_LINE.match(line_before)
    if reference:
        word = reference.group(1)
        start = cursor - len(word)
        if "." in word:
            owner, _, tail = word.rpartition(".")
            target = _resolve(owner, namespace)
            if target is None:
                return Completions([], cursor - len(tail), cursor, "table")
            names = _parts_of(target) if _is_table_class(target) else _tables_in(target)
            return _result(names, tail, cursor - len(tail), cursor, "table")
        names = (["master"] if block == "part" else []) + _table_names(namespace)
        return _result(names, word, start, cursor, "table")
    declared_type = _TYPE_LINE.match(line_before)
    if declared_type and "#" not in line_before:
        word = declared_type.group(1)
        return _result(_type_names(word), word, cursor - len(word), cursor, "type")
    return None


def _type_names(word: str) -> list[str]:
    codecs = []
    try:
        from dj_jupyter.codecs import list_codecs

        for name in list_codecs():
            codecs += [f"<{name}>", f"<{name}@>"]
    except Exception:
        codecs = ["<blob>", "<blob@>", "<attach>", "<attach@>"]
    if word.startswith("<"):
        return codecs
    return list(CORE_TYPES) + codecs


# ---------------------------------------------------------------------------------------------
# query expressions
# ---------------------------------------------------------------------------------------------
def _complete_expression(before: str, offset: int, namespace, whole: str) -> Completions:
    cursor = offset + len(before)
    string_start = _open_string(before)
    if string_start is not None:
        inside = before[string_start + 1:]
        match = _IDENTIFIER_TAIL.search(inside)
        word = match.group(0) if match else ""
        outside = _strip_strings(before[:string_start]) or _strip_strings(whole)
        names = _attributes_of_expression(outside, namespace) or _attributes_of_expression(_strip_strings(whole),
                                                                                             namespace)
        return _result(names, word, cursor - len(word), cursor, "attribute")
    dotted = _DOTTED_TAIL.search(before)
    if dotted:
        owner, tail = dotted.group(1), dotted.group(2)
        target = _resolve(owner, namespace)
        start = cursor - len(tail)
        if _is_table_class(target) or _is_expression(target):
            parts = _parts_of(target) if _is_table_class(target) else []
            attributes = _attribute_names(target)
            methods = [m for m in TABLE_METHODS if m not in attributes]
            types = {**{p: "part" for p in parts}, **{a: "attribute" for a in attributes},
                     **{m: "method" for m in methods}}
            return _result(parts + attributes + methods, tail, start, cursor, "attribute", types=types)
        tables = _tables_in(target) if target is not None else []
        if tables:
            return _result(tables, tail, start, cursor, "table")
        return Completions([], start, cursor, "table", exclusive=False)
    match = _IDENTIFIER_TAIL.search(before)
    word = match.group(0) if match else ""
    return _result(_table_names(namespace), word, cursor - len(word), cursor, "table", exclusive=False)


def _open_string(text: str) -> int | None:
    """Index of the quote that opens a string still open at the end of ``text`` (None if closed)."""
    quote = None
    start = None
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 2
                continue
            if char == quote:
                quote = None
        elif char == "#":
            newline = text.find("\n", i)
            if newline < 0:
                return None
            i = newline
        elif char in "'\"":
            if text[i:i + 3] in ("'''", '"""'):
                end = text.find(text[i:i + 3], i + 3)
                if end < 0:
                    return i + 2
                i = end + 3
                continue
            quote, start = char, i
        i += 1
    return start if quote else None


def _strip_strings(text: str) -> str:
    return re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", " ", text)


def _attributes_of_expression(text: str, namespace) -> list[str]:
    names: list[str] = []
    for identifier in _IDENTIFIERS.findall(text):
        target = _resolve(identifier, namespace)
        if _is_table_class(target) or _is_expression(target):
            names += [n for n in _attribute_names(target) if n not in names]
    return names


# ---------------------------------------------------------------------------------------------
# the namespace
# ---------------------------------------------------------------------------------------------
def _resolve(dotted: str, namespace) -> Any:
    parts = dotted.split(".")
    if parts[0] not in namespace:
        return None
    target = namespace[parts[0]]
    for part in parts[1:]:
        try:
            target = inspect.getattr_static(target, part)
        except AttributeError:
            return None
        if isinstance(target, (staticmethod, classmethod, property)):
            return None
    return target


def _is_table_class(value) -> bool:
    from dj_jupyter.table import Table

    return inspect.isclass(value) and issubclass(value, Table) and "_is_base_tier" not in value.__dict__


def _is_expression(value) -> bool:
    from dj_jupyter.query.expression import QueryExpression

    return isinstance(value, QueryExpression)


def _is_schema(value) -> bool:
    from dj_jupyter.schema import Schema

    return isinstance(value, Schema)


def _is_part(value) -> bool:
    from dj_jupyter.tiers import Part

    return inspect.isclass(value) and issubclass(value, Part)


def _table_names(namespace) -> list[str]:
    return [name for name, value in list(namespace.items())
            if not name.startswith("_") and _is_table_class(value) and not _is_part(value)]


def _parts_of(cls) -> list[str]:
    return [name for name, value in vars(cls).items() if _is_part(value) and _is_table_class(value)]


def _tables_in(container) -> list[str]:
    try:
        members = vars(container)
    except TypeError:
        return []
    return [name for name, value in list(members.items())
            if not name.startswith("_") and _is_table_class(value) and not _is_part(value)]


def _attribute_names(target) -> list[str]:
    try:
        if inspect.isclass(target):
            if getattr(target, "database", None) is None:
                return []
            target = target()
        return list(target.heading.names)
    except Exception:  # undeclared table, closed connection: no attribute names, no error while typing
        return []


def _result(candidates: Iterable[str], word: str, start: int, end: int, kind: str, *, exclusive: bool = True,
            types: dict | None = None) -> Completions:
    seen: list[str] = []
    for candidate in candidates:
        if candidate.startswith(word) and candidate not in seen:
            seen.append(candidate)
    if not seen and word:
        lowered = word.lower()
        seen = [c for c in dict.fromkeys(candidates) if lowered in c.lower()]
    types = {name: (types or {}).get(name, kind) for name in seen}
    return Completions(seen, start, end, kind, exclusive, types)


# ---------------------------------------------------------------------------------------------
# IPython glue (kept here so the extension registers one object)
# ---------------------------------------------------------------------------------------------
def make_ipython_matcher(shell):
    """A Matcher API v2 function for ``IPCompleter.custom_matchers`` (IPython >= 8.6)."""
    from IPython.core.completer import SimpleCompletion, context_matcher

    @context_matcher(identifier="dj_jupyter.kernel_magics", priority=100)
    def dj_matcher(context):
        lines = context.full_text.split("\n")
        offset = sum(len(line) + 1 for line in lines[:context.cursor_line]) + context.cursor_position
        try:
            result = complete(context.full_text, offset, shell.user_ns)
        except Exception:  # completion must never raise into the front end
            result = None
        if result is None:
            return {"completions": [], "suppress": False}
        fragment = context.full_text[result.start:offset]
        completions = [SimpleCompletion(text, type=result.types.get(text, result.kind)) for text in result.matches]
        return {"completions": completions, "matched_fragment": fragment,
                "suppress": bool(result.exclusive and completions), "ordered": True}

    return dj_matcher


def make_line_hook(shell):
    """For IPython without Matcher API v2: the ``complete_command`` hook for ``%dj`` lines."""

    def hook(_self, event):
        line = event.line
        result = complete(line, len(event.text_until_cursor), shell.user_ns)
        if result is None:
            return []
        prefix = event.symbol[: max(0, len(event.symbol) - result.fragment_length)]
        return [prefix + match for match in result.matches]

    return hook
