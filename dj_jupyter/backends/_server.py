"""Helpers shared by the server backends (PostgreSQL and MySQL/MariaDB).

Nothing here talks to a driver: these are small pure functions for reading
back what a server reports (defaults, declared types in column comments) and
for naming things the way DataJoint 2.3 names them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable

from ..errors import DataJointError

_NUMERIC_CORE = re.compile(r":(int8|int16|int32|int64|float32|float64|decimal|bool)\b")


def declared_core_name(comment: str | None) -> str | None:
    """The core type name recorded at the start of a column comment (``:int32:...``), if numeric or bool."""
    if not comment:
        return None
    match = _NUMERIC_CORE.match(comment)
    return match.group(1) if match else None


def coerce_default(default, comment: str | None, sql_type: str = ""):
    """Give a default read back from the server the Python type its declaration had.

    Servers report ``DEFAULT 5`` of a bool column as ``1``, numbers of numeric
    columns sometimes as quoted strings (``'-5'::integer``); the declared type in
    the column comment says what the value was.
    """
    if default is None or default.constant is not None:
        return default
    from ..declare.parser import Default

    value = default.value
    core = declared_core_name(comment)
    lowered = sql_type.lower()
    try:
        if core == "bool" or (core is None and lowered == "boolean"):
            if isinstance(value, str):
                text = value.strip().lower()
                if text in ("true", "t", "1", "yes", "y", "on"):
                    return Default(value=True)
                if text in ("false", "f", "0", "no", "n", "off"):
                    return Default(value=False)
                return default
            return Default(value=bool(value))
        if core is not None and core.startswith("int") or (
                core is None and re.match(r"(tiny|small|medium|big)?int", lowered)):
            if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
                return Default(value=int(value))
            if isinstance(value, float) and value.is_integer():
                return Default(value=int(value))
            return default
        if core in ("float32", "float64", "decimal") or (
                core is None and re.match(r"(real|double|float|numeric|decimal)", lowered)):
            if isinstance(value, str):
                try:
                    number = float(value)
                except ValueError:
                    return default
                return Default(value=int(number) if re.fullmatch(r"\s*[+-]?\d+\s*", value) else number)
            return default
    except (TypeError, ValueError):
        return default
    return default


def enum_type_name(values: Iterable[str]) -> str:
    """DataJoint 2.3's deterministic name of a PostgreSQL enum type: a hash of the sorted values."""
    digest = hashlib.md5("_".join(sorted(values)).encode()).hexdigest()[:8]
    return f"enum_{digest}"


def natural_key(text: str):
    """Sort key that puts ``t_ibfk_2`` before ``t_ibfk_10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def as_bool(value):
    """A Python bool from the values people pass for bool attributes."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "t", "1", "yes", "y", "on"):
            return True
        if text in ("false", "f", "0", "no", "n", "off"):
            return False
        raise DataJointError(f"{value!r} is not a boolean.", hint="Pass True or False.")
    try:
        import numpy as np

        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.item()
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    if isinstance(value, float) and value != value:
        return None
    return bool(value)


def scrub(message: str, secret: str | None) -> str:
    """Remove a secret from a message (drivers rarely echo passwords, but never risk it)."""
    if secret:
        message = message.replace(str(secret), "*****")
    return message


def fk_support_indexes(primary_key: list[str], indexes: list[tuple[tuple[str, ...], bool]],
                       foreign_keys) -> list[tuple[str, ...]]:
    """Foreign-key column lists that need their own index (DataJoint 2.3's rule on PostgreSQL).

    A foreign key is served by an existing index when its columns are a left
    prefix of the primary key or of another index; candidates are taken longest
    first so that a shorter one covered by a longer one is skipped.
    """
    unique = {columns for columns, is_unique in indexes if is_unique}
    candidates = []
    for fk in foreign_keys:
        columns = tuple(c for c, _ in fk.columns)
        if columns in unique or columns in candidates:
            continue
        candidates.append(columns)
    existing = [tuple(primary_key)] + [tuple(columns) for columns, _ in indexes]
    needed = []
    for candidate in sorted(candidates, key=len, reverse=True):
        if any(prefix[:len(candidate)] == candidate for prefix in existing):
            continue
        needed.append(candidate)
        existing.append(candidate)
    return needed
