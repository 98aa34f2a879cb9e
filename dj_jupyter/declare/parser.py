"""The definition language: text in, ``TableSpec`` out. Pure; no database.

A definition has an optional table comment (first line starting with ``#``),
primary-key lines, a ``---`` separator, and secondary lines. A line is one of:

* ``name [= default] : type [# comment]``  an attribute,
* ``-> [options] Reference``                a foreign key (``Reference`` may be
  ``Table``, ``module.Table``, ``Master.Part`` or ``Table.proj(new='old')``),
* ``[unique] index(attr, ...)``            a secondary index,
* ``# ...``                                a comment, ignored.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from ..errors import DataJointError
from .types import INTEGER_RANGES, DeclaredType, classify

ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]*")
FOREIGN_KEY_OPTIONS = ("nullable", "unique")
CONSTANT_DEFAULTS = ("CURRENT_TIMESTAMP", "NULL")


@dataclass(frozen=True)
class Default:
    """A parsed default value: a literal (``value``) or an SQL constant (``constant``)."""

    value: object = None
    constant: str | None = None  # e.g. "CURRENT_TIMESTAMP(3)"

    def as_text(self) -> str:
        if self.constant:
            return self.constant
        if isinstance(self.value, str):
            return '"' + self.value.replace('"', '\\"') + '"'
        return repr(self.value)


@dataclass(frozen=True)
class AttributeDecl:
    name: str
    type: DeclaredType
    in_key: bool
    nullable: bool = False
    default: Default | None = None
    comment: str = ""
    line: str = ""


@dataclass(frozen=True)
class ForeignKeyDecl:
    reference: str  # dotted name to resolve in the declaring context
    in_key: bool
    renames: tuple[tuple[str, str], ...] = ()  # (new_name, parent_name)
    nullable: bool = False
    unique: bool = False
    line: str = ""


@dataclass(frozen=True)
class IndexDecl:
    attributes: tuple[str, ...]
    unique: bool = False
    line: str = ""


@dataclass(frozen=True)
class TableSpec:
    comment: str = ""
    items: tuple = ()  # AttributeDecl and ForeignKeyDecl in declaration order
    indexes: tuple[IndexDecl, ...] = ()
    has_separator: bool = False

    @property
    def attributes(self) -> list[AttributeDecl]:
        return [item for item in self.items if isinstance(item, AttributeDecl)]

    @property
    def foreign_keys(self) -> list[ForeignKeyDecl]:
        return [item for item in self.items if isinstance(item, ForeignKeyDecl)]


@dataclass
class _Scan:
    """Position-tracking helper for splitting a line on characters outside quotes and brackets."""

    text: str
    stops: str
    openers: dict = field(default_factory=lambda: {"(": ")", "<": ">"})

    def find(self, start: int = 0) -> int:
        quote = None
        depth: list[str] = []
        i = start
        while i < len(self.text):
            char = self.text[i]
            if quote:
                if char == "\\":
                    i += 2
                    continue
                if char == quote:
                    quote = None
            elif char in "\"'":
                quote = char
            elif char in self.openers and (char != "<" or not depth and i == start):
                depth.append(self.openers[char])
            elif depth and char == depth[-1]:
                depth.pop()
            elif not depth and char in self.stops:
                return i
            i += 1
        if quote:
            raise DataJointError("Unterminated quoted string.",
                                 hint="Close every quote; escape an inner quote with a backslash.")
        return -1


def _error(line: str, problem: str, fix: str) -> DataJointError:
    return DataJointError(f'Cannot parse the definition line "{line}": {problem}', hint=fix)


def parse_default(text: str, line: str) -> Default:
    text = text.strip()
    if not text:
        raise _error(line, "the default after `=` is empty.", 'Write a value, e.g. `x = 0 : int32` or `name = "" : varchar(8)`.')
    upper = text.upper()
    if upper == "NULL":
        return Default(constant="NULL")
    if re.fullmatch(r"CURRENT_TIMESTAMP(\s*\(\s*[0-6]?\s*\))?", upper):
        return Default(constant=re.sub(r"\s+", "", upper))
    if text[0] in "\"'":
        quote = text[0]
        if len(text) < 2 or text[-1] != quote:
            raise _error(line, f"the default {text} has no closing quote.", f"End the default with {quote}.")
        inner = text[1:-1]
        if re.search(rf"(?<!\\){quote}", inner.replace(quote * 2, "")):
            raise _error(line, f"the default {text} contains an unescaped quote.", "Escape inner quotes with a backslash.")
        inner = inner.replace(quote * 2, quote)
        return Default(value=re.sub(r"\\(.)", r"\1", inner))
    if re.fullmatch(r"[+-]?\d+", text):
        return Default(value=int(text))
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", text):
        return Default(value=float(text))
    if upper in ("TRUE", "FALSE"):
        return Default(value=upper == "TRUE")
    if re.fullmatch(r"[A-Za-z0-9_.:\- ]+", text):
        return Default(value=text)  # unquoted words are strings, as in DataJoint
    raise _error(line, f"the default `{text}` is not a number, a quoted string, null or CURRENT_TIMESTAMP.",
                 'Quote string defaults: `= "text"`.')


def parse_attribute(line: str, in_key: bool) -> AttributeDecl:
    colon = _Scan(line, ":#").find()
    if colon < 0 or line[colon] != ":":
        raise _error(line, "an attribute line needs `name : type`.",
                     "Write e.g. `subject_id : int32  # comment`, or `-> Table` for a foreign key.")
    head = line[:colon]
    equals = _Scan(head, "=").find()
    name_text = head[:equals] if equals >= 0 else head
    name = name_text.strip()
    if not ATTRIBUTE_NAME.fullmatch(name):
        if name.startswith("_"):
            raise _error(line, f"attribute name `{name}` starts with an underscore.",
                         "Names starting with _ are reserved for platform columns; choose another name.")
        if name.lower() != name and ATTRIBUTE_NAME.fullmatch(name.lower()):
            raise _error(line, f"attribute name `{name}` has capital letters.", f"Use lowercase: `{name.lower()}`.")
        raise _error(line, f"`{name}` is not a valid attribute name.",
                     "Names start with a lowercase letter and contain only a-z, 0-9 and _.")
    default = parse_default(head[equals + 1:], line) if equals >= 0 else None
    rest = line[colon + 1:]
    hash_at = _Scan(rest, "#").find()
    type_text = rest if hash_at < 0 else rest[:hash_at]
    comment = "" if hash_at < 0 else rest[hash_at + 1:].strip()
    try:
        declared = classify(type_text)
    except DataJointError as error:
        raise _error(line, str(error).split("\nHint:")[0], error.hint or "Check the type.") from None
    if comment.startswith(":"):
        raise _error(line, "an attribute comment must not start with a colon.", "Remove the leading colon.")
    nullable = default is not None and default.constant == "NULL"
    if nullable and in_key:
        raise _error(line, "primary key attributes cannot be nullable.", "Move the attribute below `---` or give it a non-null default.")
    if default is not None and not nullable and declared.is_blob_like:
        raise _error(line, "blob and bytes attributes can only default to null.", "Use `= null`.")
    if default is not None and not nullable and declared.is_codec:
        raise _error(line, "codec attributes can only default to null.", "Use `= null`.")
    if default is not None and default.value is not None and declared.category == "core":
        _check_default_type(declared, default, line)
    return AttributeDecl(name, declared, in_key, nullable, default, comment, line)


def _check_default_type(declared: DeclaredType, default: Default, line: str) -> None:
    value = default.value
    if declared.name.startswith("int") and not (isinstance(value, int) and not isinstance(value, bool)):
        raise _error(line, f"default {value!r} is not an integer.", "Give an integer default.")
    if declared.name in INTEGER_RANGES and not INTEGER_RANGES[declared.name][0] <= value <= INTEGER_RANGES[declared.name][1]:
        low, high = INTEGER_RANGES[declared.name]
        raise _error(line, f"default {value} is out of the range of {declared.name} ({low}..{high}).",
                     "Give a default within the range, or choose a wider integer type.")
    if declared.name.startswith("float") and not isinstance(value, (int, float)):
        raise _error(line, f"default {value!r} is not a number.", "Give a numeric default.")
    if declared.name == "enum" and value not in declared.params:
        raise _error(line, f"default {value!r} is not one of the enum values {declared.params}.",
                     "Use one of the listed values.")
    if declared.name in ("char", "varchar") and isinstance(value, str) and len(value) > declared.params[0]:
        raise _error(line, f"default {value!r} is longer than {declared.params[0]} characters.", "Shorten it.")


_REFERENCE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*")


def parse_foreign_key(line: str, in_key: bool) -> ForeignKeyDecl:
    before, body = line.split("->", 1)
    if before.strip():
        raise _error(line, f"`{before.strip()}` comes before the arrow.",
                     "A foreign key line starts with the arrow: `-> Parent`.")
    hash_at = _Scan(body, "#").find()
    if hash_at >= 0:
        body = body[:hash_at]
    body = body.strip()
    options: list[str] = []
    if body.startswith("["):
        close = body.find("]")
        if close < 0:
            raise _error(line, "the option list has no closing `]`.", "Write e.g. `-> [nullable] Parent`.")
        options = [o.strip().lower() for o in body[1:close].split(",") if o.strip()]
        body = body[close + 1:].strip()
        for option in options:
            if option not in FOREIGN_KEY_OPTIONS:
                raise _error(line, f"unknown foreign key option `{option}`.", "Options are [nullable] and [unique].")
    if not body:
        raise _error(line, "the foreign key names no table.", "Write `-> TableName`.")
    renames: tuple[tuple[str, str], ...] = ()
    proj_at = body.find(".proj(")
    reference = body
    if proj_at >= 0:
        reference = body[:proj_at].strip()
        renames = _parse_proj_renames(body[proj_at + 1:], line)
    reference = re.sub(r"\s*\.\s*", ".", reference.strip())
    if not _REFERENCE.fullmatch(reference):
        raise _error(line, f"`{reference}` is not a table name.",
                     "Reference a table class, e.g. `-> Subject`, `-> lab.Subject` or `-> Subject.proj(mother='subject_id')`.")
    nullable = "nullable" in options
    if nullable and in_key:
        raise _error(line, "primary key foreign keys cannot be nullable.", "Move it below `---` or drop [nullable].")
    return ForeignKeyDecl(reference, in_key, renames, nullable, "unique" in options, line)


def _parse_proj_renames(text: str, line: str) -> tuple[tuple[str, str], ...]:
    """Read ``proj(new='old', ...)`` with the ``ast`` module: only keyword string arguments are accepted."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise _error(line, "the .proj(...) part is not valid.", "Write `-> Parent.proj(new_name='parent_attr')`.") from None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "proj"):
        raise _error(line, "only .proj(...) may follow the table name.", "Write `-> Parent.proj(new_name='parent_attr')`.")
    if node.args:
        raise _error(line, "positional arguments are not allowed in .proj() of a foreign key.",
                     "Use keyword renames only: .proj(new_name='parent_attr').")
    renames = []
    for keyword in node.keywords:
        if keyword.arg is None or not isinstance(keyword.value, ast.Constant) or not isinstance(keyword.value.value, str):
            raise _error(line, "each rename must be new_name='parent_attr'.", "Write `.proj(mother='subject_id')`.")
        new, old = keyword.arg, keyword.value.value.strip()
        if not ATTRIBUTE_NAME.fullmatch(new) or not ATTRIBUTE_NAME.fullmatch(old):
            raise _error(line, f"rename {new}='{old}' uses an invalid attribute name.", "Use lowercase names.")
        renames.append((new, old))
    return tuple(renames)


_INDEX = re.compile(r"(unique\s+)?index\s*\((.*)\)", re.I | re.S)


def parse_index(line: str) -> IndexDecl:
    text = line
    hash_at = _Scan(text, "#").find()
    if hash_at >= 0:
        text = text[:hash_at]
    match = _INDEX.fullmatch(text.strip())
    if not match:
        raise _error(line, "malformed index.", "Write `index(attr1, attr2)` or `unique index(attr)`.")
    attributes = tuple(a.strip() for a in match.group(2).split(",") if a.strip())
    if not attributes:
        raise _error(line, "the index lists no attributes.", "Name at least one attribute inside index(...).")
    for name in attributes:
        if not ATTRIBUTE_NAME.fullmatch(name):
            raise _error(line, f"`{name}` is not an attribute name.", "Index attributes by name.")
    return IndexDecl(attributes, bool(match.group(1)), line)


def _is_foreign_key(line: str) -> bool:
    arrow = line.find("->")
    return arrow >= 0 and not any(c in line[:arrow] for c in "\"'#:=")


def _named(parse, line: str, *args):
    """Run a line parser; an error raised below it without naming the line is re-raised naming it."""
    try:
        return parse(line, *args)
    except DataJointError as error:
        if f'"{line}"' in str(error):
            raise
        problem = str(error).split("\nHint:")[0]
        raise _error(line, problem[:1].lower() + problem[1:],
                     error.hint or "Check the syntax of this line.") from None


def parse_definition(definition: str) -> TableSpec:
    """Parse a whole definition; every malformed line raises ``DataJointError`` naming it."""
    if not isinstance(definition, str):
        raise DataJointError("A table definition must be a string.", hint="Set `definition = \"\"\"...\"\"\"` on the class.")
    if "\x00" in definition:
        raise DataJointError("The definition contains a NUL character.", hint="Remove it.")
    lines = [line.strip() for line in definition.strip().splitlines()]
    comment = ""
    if lines and lines[0].startswith("#"):
        first = lines.pop(0)
        comment = first[1:].strip()
        if comment.startswith(":"):
            raise _error(first, "the table comment must not start with a colon.", "Remove the leading colon.")
    in_key = True
    has_separator = False
    items: list = []
    indexes: list[IndexDecl] = []
    names: set[str] = set()
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if line.startswith("---") or line.startswith("___"):
            if not in_key:
                raise _error(line, "a second `---` separator.", "Use one `---` between the primary key and the other attributes.")
            if set(line.split("#")[0].strip()) - {"-", "_"}:
                raise _error(line, "text after the separator.", "Put `---` on a line of its own.")
            in_key, has_separator = False, True
        elif _is_foreign_key(line):
            items.append(_named(parse_foreign_key, line, in_key))
        elif _INDEX.fullmatch(line.split("#")[0].strip()):
            indexes.append(_named(parse_index, line))
        else:
            attribute = _named(parse_attribute, line, in_key)
            if attribute.name in names:
                raise _error(line, f"attribute `{attribute.name}` is declared twice.", "Remove or rename one of them.")
            names.add(attribute.name)
            items.append(attribute)
    return TableSpec(comment, tuple(items), tuple(indexes), has_separator)
