"""Attribute types of the definition language: core types, codecs and native types.

Pure: no database, no codec registry. A declared type string is classified
into one of three categories:

* ``core``: the portable DataJoint types (``int32``, ``varchar(64)``, ...),
* ``codec``: ``<name>``, ``<name@store>`` or ``<name@>``,
* ``native``: a backend type (``tinyint unsigned``, ``longblob``, ...),
  accepted with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import DataJointError

INTEGER_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}

SIMPLE_CORE_TYPES = frozenset(
    ["int8", "int16", "int32", "int64", "float32", "float64", "bool", "date", "uuid", "json", "bytes"]
)

_QUOTED = r"""(?:'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")"""
_CORE_PATTERNS = [
    ("datetime", re.compile(r"datetime(?:\s*\(\s*([0-6])\s*\))?", re.I)),
    ("char", re.compile(r"char\s*\(\s*(\d+)\s*\)", re.I)),
    ("varchar", re.compile(r"varchar\s*\(\s*(\d+)\s*\)", re.I)),
    ("decimal", re.compile(r"decimal\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)", re.I)),
    ("enum", re.compile(rf"enum\s*\(\s*({_QUOTED}(?:\s*,\s*{_QUOTED})*)\s*\)", re.I | re.S)),
]
_CODEC = re.compile(r"<\s*([A-Za-z_][A-Za-z0-9_]*)\s*(@\s*([A-Za-z_][A-Za-z0-9_\-]*)?)?\s*>")

_NATIVE_PATTERNS = [
    re.compile(r"((tiny|small|medium|big)?int|integer)(\s*\(\s*\d+\s*\))?(\s+unsigned)?(\s+zerofill)?(\s+auto_increment)?", re.I),
    re.compile(r"serial|bigserial|smallserial", re.I),
    re.compile(r"(decimal|numeric|dec|fixed)(\s*\(\s*\d+\s*(,\s*\d+\s*)?\))?(\s+unsigned)?(\s+zerofill)?", re.I),
    re.compile(r"(double(\s+precision)?|float|real)(\s*\(\s*\d+\s*(,\s*\d+\s*)?\))?(\s+unsigned)?", re.I),
    re.compile(r"(var)?char(acter)?(\s+varying)?\s*\(\s*\d+\s*\)", re.I),
    re.compile(r"(time|timestamp|year)(\s*\(\s*\d+\s*\))?", re.I),
    re.compile(r"(tiny|small|medium|long)?(blob|text)", re.I),
    re.compile(r"bytea|boolean|jsonb|text", re.I),
    re.compile(r"(var)?binary\s*\(\s*\d+\s*\)", re.I),
    re.compile(r"bit(\s*\(\s*\d+\s*\))?", re.I),
]

CORE_TYPE_NAMES = sorted(SIMPLE_CORE_TYPES | {"datetime", "char", "varchar", "decimal", "enum"})


@dataclass(frozen=True)
class DeclaredType:
    """A classified declared type."""

    text: str  # normalised declaration, e.g. "varchar(64)", "<blob@raw>", "int unsigned"
    category: str  # "core" | "codec" | "native"
    name: str  # core name ("varchar"), codec name ("blob"), or the native text
    params: tuple = ()  # (64,) for varchar(64); enum values; (precision,) for datetime
    store: str | None = None  # codec store; "" for "<name@>" (default store)

    @property
    def is_codec(self) -> bool:
        return self.category == "codec"

    @property
    def is_blob_like(self) -> bool:
        return self.name in ("bytes",) or (self.category == "native" and "blob" in self.name.lower())


def parse_enum_values(body: str) -> tuple[str, ...]:
    """Split the inside of ``enum(...)`` into its values."""
    values = []
    for match in re.finditer(_QUOTED, body):
        token = match.group(0)
        quote = token[0]
        inner = token[1:-1].replace(quote * 2, quote)
        inner = re.sub(r"\\(.)", r"\1", inner)
        values.append(inner)
    return tuple(values)


def classify(type_text: str) -> DeclaredType:
    """Classify a declared type, raising ``DataJointError`` with the supported list if unknown."""
    text = " ".join(type_text.strip().split())
    lowered = text.lower()
    if not text:
        raise DataJointError("Missing attribute type.", hint="Write the type after the colon, e.g. `x : int32`.")
    if lowered in SIMPLE_CORE_TYPES:
        return DeclaredType(lowered, "core", lowered)
    for name, pattern in _CORE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            if name == "datetime":
                precision = match.group(1)
                canonical = f"datetime({precision})" if precision else "datetime"
                return DeclaredType(canonical, "core", "datetime", (int(precision),) if precision else ())
            if name in ("char", "varchar"):
                length = int(match.group(1))
                if length < 1 or length > 65535:
                    raise DataJointError(f"{name}({length}) has an invalid length.",
                                         hint=f"Give a length from 1 to 65535, e.g. {name}(64).")
                return DeclaredType(f"{name}({length})", "core", name, (length,))
            if name == "decimal":
                precision, scale = int(match.group(1)), int(match.group(2))
                if precision < 1 or precision > 65 or scale > precision:
                    raise DataJointError(
                        f"decimal({precision},{scale}) is invalid.",
                        hint="Precision must be 1..65 and scale at most the precision, e.g. decimal(8,3).",
                    )
                return DeclaredType(f"decimal({precision},{scale})", "core", "decimal", (precision, scale))
            if name == "enum":
                values = parse_enum_values(match.group(1))
                if len(set(values)) != len(values):
                    raise DataJointError(f"enum values must be distinct in `{text}`.",
                                         hint="List each enum value once.")
                canonical = "enum(" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + ")"
                return DeclaredType(canonical, "core", "enum", values)
    match = _CODEC.fullmatch(text)
    if match:
        store = None
        if match.group(2) is not None:
            store = match.group(3) or ""
        canonical = f"<{match.group(1)}" + ("" if store is None else f"@{store}") + ">"
        return DeclaredType(canonical, "codec", match.group(1), (), store)
    if text.startswith("<"):
        raise DataJointError(
            f"Malformed codec type `{text}`.",
            hint="Codec types look like <blob>, <blob@store> or <object@>; names are letters, digits and _.",
        )
    for pattern in _NATIVE_PATTERNS:
        if pattern.fullmatch(text):
            return DeclaredType(lowered, "native", lowered)
    raise DataJointError(
        f"Unsupported attribute type `{text}`.",
        hint="Use a core type (" + ", ".join(CORE_TYPE_NAMES) + ") or a codec such as <blob>.",
    )
