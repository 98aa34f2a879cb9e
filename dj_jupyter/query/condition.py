"""Restrictions: every kind DataJoint accepts, turned into one SQL condition with parameters."""

from __future__ import annotations

import collections.abc
import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataJointError, SemanticMatchError
from .heading import COMPUTED_TYPE
from .sqlexpr import compile_expression


class AndList(list):
    """A list of restrictions combined with AND (a plain list means OR)."""

    def append(self, restriction):
        if isinstance(restriction, AndList):
            self.extend(restriction)
        else:
            super().append(restriction)


@dataclass
class Not:
    """Negate a restriction: ``A & dj.Not(cond)`` is ``A - cond``."""

    restriction: Any


@dataclass
class Top:
    """``ORDER BY ... LIMIT ... OFFSET`` as a restriction: ``A & dj.Top(5, 'score DESC')``."""

    limit: int | None = 1
    order_by: str | list[str] | None = "KEY"
    offset: int = 0

    def __post_init__(self):
        self.offset = self.offset or 0
        if self.limit is not None and (not isinstance(self.limit, (int, np.integer)) or isinstance(self.limit, bool)):
            raise TypeError("Top limit must be an integer")
        if self.limit is not None and self.limit < 0:
            raise DataJointError("Top limit must not be negative.")
        if not isinstance(self.offset, (int, np.integer)) or self.offset < 0:
            raise TypeError("The offset argument must be a non-negative integer")
        if self.order_by is not None:
            if isinstance(self.order_by, str):
                self.order_by = [self.order_by]
            elif not isinstance(self.order_by, collections.abc.Sequence) or not all(
                    isinstance(item, str) for item in self.order_by):
                raise TypeError("Top order_by attributes must all be strings")
            else:
                self.order_by = list(self.order_by)

    def merge(self, other: "Top") -> "Top":
        """Apply ``other`` to the rows selected by ``self`` (same ordering)."""
        remaining = None if self.limit is None else max(self.limit - other.offset, 0)
        limits = [x for x in (remaining, other.limit) if x is not None]
        return Top(min(limits) if limits else None, self.order_by, self.offset + other.offset)


@dataclass
class Fragment:
    """An SQL condition with its parameters and the attributes it reads."""

    sql: str
    params: tuple = ()
    attributes: set = field(default_factory=set)
    equality_columns: tuple | None = None  # set when the fragment is `a = ? AND b = ?` in this order
    maybe_null: bool = False  # the condition can be NULL (it compares nullable values)


def combine(fragments: list[Fragment], operator: str) -> Fragment:
    sql = f" {operator} ".join(f"({f.sql})" for f in fragments)
    params: tuple = ()
    attributes: set = set()
    for f in fragments:
        params += f.params
        attributes |= f.attributes
    return Fragment(sql, params, attributes, maybe_null=any(f.maybe_null for f in fragments))


def negate(fragment: Fragment | bool) -> Fragment | bool:
    """The complement of a restriction.

    A condition that compares NULLs is NULL, and ``NOT NULL`` is NULL too, so a
    plain NOT would drop those rows from both ``A & c`` and ``A - c``. For
    dicts and queries ``A - c`` means "the rows of A that match nothing in c",
    so such conditions are negated with ``IS NOT TRUE``.
    """
    if isinstance(fragment, bool):
        return not fragment
    if fragment.maybe_null:
        return Fragment(f"({fragment.sql}) IS NOT TRUE", fragment.params, fragment.attributes)
    return Fragment(f"NOT ({fragment.sql})", fragment.params, fragment.attributes)


def _may_be_null(*attributes) -> bool:
    """Whether values of these attributes can be NULL (nullable columns, outer-joined or computed values)."""
    return any(a is not None and (a.nullable or a.expression is not None or a.type is COMPUTED_TYPE)
               for a in attributes)


def check_semantic_match(left, right, semantic_check: bool = True, *, missing_matches: bool = False) -> list[str]:
    """Namesakes of two expressions, raising when their lineages differ.

    A missing lineage (a secondary or computed attribute) matches nothing, except
    with ``missing_matches=True`` (the union), where two missing lineages are equal:
    ``A + B`` stacks rows of the same attributes rather than matching unrelated ones.
    """
    from .expression import U

    if isinstance(left, U) or isinstance(right, U):
        return []
    if left.connection is not right.connection:
        raise DataJointError("Cannot combine expressions from different connections.",
                             hint="Use tables declared on the same dj.conn().")
    names = [n for n in left.heading.names if n in right.heading]
    if not semantic_check or not (left.heading.lineage_available and right.heading.lineage_available):
        return names
    for name in names:
        a, b = left.heading[name].lineage, right.heading[name].lineage
        if missing_matches and a is None and b is None:
            continue
        if a is None or b is None or a != b:
            raise SemanticMatchError(
                f"Cannot match attribute `{name}`: its lineage differs between the operands "
                f"(left: {_origin(a, left.heading[name])}; right: {_origin(b, right.heading[name])}). "
                f"Same-named attributes are matched only when "
                f"they come from the same origin.",
                hint=f"If they are different things, rename one side before combining, e.g. "
                     f"right.proj(..., {_suggested_name(name, b)}='{name}') or left.proj(..., {_suggested_name(name, a)}='{name}'). "
                     f"If they really are the same thing, pass semantic_check=False "
                     f"(expr.join(other, semantic_check=False) or expr.restrict(other, semantic_check=False)). "
                     f"If a primary-key attribute shows no lineage, repair the schema with schema.rebuild_lineage().",
            )
    return names


def _origin(lineage: str | None, attribute=None) -> str:
    if lineage:
        return lineage
    where = getattr(attribute, "origin", None)
    if where:
        return f"{where}, a secondary attribute with no lineage of its own"
    return "no lineage (a computed attribute)"


def _suggested_name(name: str, lineage: str | None) -> str:
    """A new name for a clashing attribute: prefixed by the table it comes from, when known."""
    if lineage:
        parts = lineage.split(".")
        if len(parts) >= 3:
            table = parts[-2].lstrip("#_").split("__")[-1]
            if table and table != name and not name.startswith(table + "_"):
                return f"{table}_{name}"
    return f"{name}_2"


def make_condition(expr, restriction, semantic_check: bool = True) -> Fragment | bool:
    """Turn a restriction into a Fragment, or True/False when it is constant."""
    from .expression import QueryExpression, U

    if isinstance(restriction, Fragment):
        return restriction
    if isinstance(restriction, Not):
        return negate(make_condition(expr, restriction.restriction, semantic_check))
    if restriction is None:
        return False
    if isinstance(restriction, (bool, np.bool_)):
        return bool(restriction)
    if isinstance(restriction, str):
        text = restriction.strip()
        if text.upper() in ("TRUE", "1"):
            return True
        if text.upper() in ("FALSE", "0"):
            return False
        heading = expr.heading
        booleans = {n for n in heading.names if heading[n].type.category == "core" and heading[n].type.name == "bool"}
        sql, used = compile_expression(text, heading.names, expr.connection.backend, boolean_columns=booleans)
        return Fragment(sql, (), used)
    if isinstance(restriction, AndList):
        parts = [make_condition(expr, item, semantic_check) for item in restriction]
        if any(part is False for part in parts):
            return False
        parts = [part for part in parts if part is not True]
        return combine(parts, "AND") if parts else True
    if isinstance(restriction, U):
        return True
    if inspect.isclass(restriction) and issubclass(restriction, QueryExpression):
        restriction = restriction()
    if isinstance(restriction, QueryExpression):
        return _semijoin(expr, restriction, semantic_check)
    if isinstance(restriction, collections.abc.Mapping):
        return _mapping_condition(expr, restriction)
    if isinstance(restriction, np.void):
        return _mapping_condition(expr, {name: restriction[name] for name in restriction.dtype.names or ()})
    try:
        import pandas

        if isinstance(restriction, pandas.DataFrame):
            restriction = restriction.reset_index(drop=not _index_is_named(restriction)).to_dict("records")
    except ImportError:
        pass
    if isinstance(restriction, np.ndarray) and restriction.dtype.names:
        restriction = list(restriction)
    if isinstance(restriction, (list, tuple, set, frozenset, np.ndarray, collections.abc.Iterator)) or (
            isinstance(restriction, collections.abc.Iterable) and not isinstance(restriction, (bytes, dict))):
        parts = [make_condition(expr, item, semantic_check) for item in restriction]
        if any(part is True for part in parts):
            return True
        parts = [part for part in parts if part is not False]
        if not parts:
            return False
        if _all_simple_equalities(parts):
            return _in_list(parts, expr.connection.backend.placeholder)
        return combine(parts, "OR")
    raise DataJointError(f"Invalid restriction of type {type(restriction).__name__}.",
                         hint="Restrict by a dict, a string, another query, a list of those, dj.AndList or dj.Not.")


def _index_is_named(frame) -> bool:
    return any(name is not None for name in frame.index.names)


def _mapping_condition(expr, mapping) -> Fragment | bool:
    heading = expr.heading
    backend = expr.connection.backend
    placeholder = backend.placeholder
    parts = []
    params: list = []
    used = set()
    compared = []  # attributes compared with `=`: NULL in the row makes the comparison NULL
    for name, value in mapping.items():
        if not isinstance(name, str) or name not in heading:
            continue
        attribute = heading[name]
        if attribute.is_codec:
            raise DataJointError(f"Cannot restrict by the {attribute.type.text} attribute `{name}`.",
                                 hint="Restrict by primary key or other plain attributes.")
        used.add(name)
        column = backend.quote(name)
        value = _scalar(value)
        if value is None:
            parts.append(f"{column} IS NULL")
            continue
        encoded = expr._encoder(name)(value)
        if encoded is None:
            parts.append(f"{column} IS NULL")
        else:
            parts.append(f"{column} = {placeholder}")
            params.append(encoded)
            compared.append(attribute)
    if not used:
        return True
    simple = len(params) == len(parts)
    maybe_null = _may_be_null(*compared)
    return Fragment(" AND ".join(parts), tuple(params), used,
                    tuple(part.split(" = ")[0] for part in parts) if simple else None, maybe_null)


def _scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


def _all_simple_equalities(parts: list[Fragment]) -> bool:
    """Every part is an equality conjunction over the same columns (a list of keys)."""
    columns = parts[0].equality_columns
    return len(parts) > 1 and columns is not None and all(part.equality_columns == columns for part in parts)


def _in_list(parts: list[Fragment], placeholder: str) -> Fragment:
    """Many keys as one ``(a, b) IN ((?, ?), ...)`` instead of a long OR chain."""
    columns = parts[0].equality_columns
    row = "(" + ", ".join([placeholder] * len(columns)) + ")" if len(columns) > 1 else placeholder
    target = "(" + ", ".join(columns) + ")" if len(columns) > 1 else columns[0]
    params: tuple = ()
    for part in parts:
        params += part.params
    return Fragment(f"{target} IN (" + ", ".join([row] * len(parts)) + ")", params, set(parts[0].attributes),
                    maybe_null=any(part.maybe_null for part in parts))


def _semijoin(expr, other, semantic_check: bool) -> Fragment | bool:
    common = check_semantic_match(expr, other, semantic_check)
    if not common:
        sql, params = other.make_sql()
        return Fragment(f"EXISTS ({sql})", params, set())
    sql, params = other.make_sql(fields=common)
    backend = expr.connection.backend
    columns = ", ".join(backend.quote(name) for name in common)
    if other._top is not None:
        # MySQL and MariaDB refuse LIMIT directly inside IN (...): select from it as a derived table
        sql = f"SELECT {columns} FROM ({sql}) AS {backend.quote('_in')}"
    target = f"({columns})" if len(common) > 1 else columns
    maybe_null = any(_may_be_null(expr.heading[name], other.heading[name]) for name in common)
    return Fragment(f"{target} IN ({sql})", params, set(common), maybe_null=maybe_null)
