"""``Table.validate``: check rows against a table's heading without inserting them.

Everything that can be decided without the database is checked, row by row, and every problem is reported
(insert stops at the first): the row's form, unknown and missing attributes, NULLs where none are allowed,
the primary key, and each value against its type (a codec's ``validate``, or the conversion insert applies).
Foreign keys and uniqueness need the database and are left to insert.
"""

from __future__ import annotations

import collections.abc
import json
import math
from dataclasses import dataclass, field

import numpy as np

from .codecs.base import resolve
from .errors import DataJointError
from .inserts import row_as_dict, rows_of

_SHOWN_ERRORS = 10


@dataclass
class ValidationResult:
    """What ``validate`` found: ``errors`` are ``(row index, attribute or None, message)``."""

    is_valid: bool
    errors: list = field(default_factory=list)
    rows_checked: int = 0

    def __bool__(self) -> bool:
        return self.is_valid

    def raise_if_invalid(self) -> None:
        if not self.is_valid:
            raise DataJointError(self.summary(), hint="Correct the rows listed, then insert them.")

    def summary(self) -> str:
        if self.is_valid:
            return f"Validation passed: {self.rows_checked} rows checked"
        lines = [f"Validation failed: {len(self.errors)} error(s) in {self.rows_checked} rows"]
        for row_index, name, message in self.errors[:_SHOWN_ERRORS]:
            where = f" in field '{name}'" if name else ""
            lines.append(f"  Row {row_index}{where}: {message}")
        if len(self.errors) > _SHOWN_ERRORS:
            lines.append(f"  ... and {len(self.errors) - _SHOWN_ERRORS} more errors")
        return "\n".join(lines)


def validate_rows(table, rows, *, ignore_extra_fields: bool = False) -> ValidationResult:
    heading = table.heading
    names = heading.names
    backend = table.connection.backend
    checks = {a.name: _value_check(a, backend) for a in heading._attributes}
    errors: list = []
    count = 0
    for index, row in enumerate(rows_of(rows)):
        count += 1
        problem = _row_form_problem(row, len(names))
        if problem:
            errors.append((index, None, problem))
            continue
        values = row_as_dict(row, names)
        if not ignore_extra_fields:
            errors.extend((index, name, f"Field '{name}' not in table heading") for name in values
                          if name not in heading)
        for attribute in heading._attributes:
            name = attribute.name
            may_be_null = attribute.nullable or attribute.default is not None or attribute.autoincrement
            if name not in values:
                if not may_be_null:
                    errors.append((index, name, f"Required field '{name}' is missing"))
            elif _is_null(values[name]):
                if not may_be_null:
                    errors.append((index, name, f"NULL value not allowed for non-nullable field '{name}'"))
            else:
                problem = checks[name](values[name])
                if problem:
                    errors.append((index, name, problem))
        errors.extend((index, name, f"Primary key field '{name}' is missing or NULL") for name in heading.primary_key
                      if _is_null(values.get(name)) and not heading[name].autoincrement)
    return ValidationResult(is_valid=not errors, errors=errors, rows_checked=count)


def _value_check(attribute, backend):
    """A function returning what is wrong with a value for ``attribute``, or None: a codec's own
    ``validate``, else the conversion insert applies to the type (integers, numbers, UUIDs, JSON, dates...)."""
    if attribute.is_codec:
        codec = resolve(attribute.type)[0][0]

        def check_codec(value):
            try:
                codec.validate(value)
            except (TypeError, ValueError) as error:
                return f"Codec validation failed: {error}"
            return None

        return check_codec
    convert = backend.encoder(attribute.type)
    core = attribute.type.name if attribute.type.category == "core" else None

    def check_conversion(value):
        try:
            convert(value)
        except (DataJointError, TypeError, ValueError) as error:
            if core == "uuid":
                return f"Invalid UUID format: {value}"
            if core == "json":
                return f"Value not JSON serializable: {_json_problem(value) or _without_hint(error)}"
            return f"Invalid value for {attribute.type.text}: {_without_hint(error)}"
        return None

    return check_conversion


def _row_form_problem(row, attribute_count: int) -> str | None:
    """What keeps ``row`` from being read as a row at all, in DataJoint's words."""
    if isinstance(row, (collections.abc.Mapping, np.void)):
        return None
    if isinstance(row, (list, tuple, np.ndarray)):
        if len(row) != attribute_count:
            return f"Incorrect number of attributes: {len(row)} given, {attribute_count} expected"
        return None
    return f"Invalid row type: {type(row).__name__}"


def _json_problem(value) -> str | None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as error:
        return str(error)
    return None


def _is_null(value) -> bool:
    """None, or a float NaN, which insert stores as NULL (as a DataFrame's missing values arrive)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _without_hint(error: Exception) -> str:
    return str(error).split("\nHint:", 1)[0]
