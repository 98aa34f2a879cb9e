"""Restriction strings and computed expressions are parsed, checked and re-emitted.

DataJoint users write MySQL-flavoured SQL fragments (``'species = "mouse"'``).
Each fragment is parsed once with sqlglot, every node is checked against an
allow-list (no statements, subqueries, comments, session variables or unknown
functions), every column must name an attribute of the heading, and the tree
is emitted in the target dialect with identifiers quoted by us.
"""

from __future__ import annotations

import difflib
import functools
from typing import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from ..errors import DataJointError, QuerySyntaxError, UnknownAttributeError

_ALLOWED_NODES = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Tuple, exp.Star,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.And, exp.Or, exp.Not, exp.Xor, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike, exp.RegexpLike,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv, exp.Neg, exp.BitwiseAnd, exp.BitwiseOr,
    exp.BitwiseXor, exp.BitwiseNot, exp.Distinct, exp.Case, exp.If, exp.Cast, exp.DataType, exp.DataTypeParam,
    exp.HexString, exp.BitString, exp.National, exp.Interval, exp.Var,
    exp.JSONExtract, exp.JSONExtractScalar, exp.JSONPath, exp.JSONPathRoot, exp.JSONPathKey,
    exp.JSONPathSubscript, exp.Escape,
)

_ALLOWED_FUNCTIONS = (
    exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Round, exp.Abs, exp.Concat, exp.ConcatWs,
    exp.GroupConcat, exp.Coalesce, exp.Nullif, exp.Lower, exp.Upper, exp.Length, exp.Substring, exp.Trim,
    exp.Year, exp.Month, exp.Day, exp.Hour, exp.Minute, exp.Second, exp.Floor, exp.Ceil, exp.Sqrt, exp.Pow,
    exp.Exp, exp.Ln, exp.Log, exp.Greatest, exp.Least, exp.StddevPop, exp.StddevSamp, exp.Stddev,
    exp.Variance, exp.VariancePop, exp.CurrentTimestamp, exp.CurrentDate, exp.TimeToStr, exp.TsOrDsToDate,
    exp.TsOrDsToTimestamp, exp.DateDiff, exp.Sign, exp.Left, exp.Right, exp.StrPosition, exp.Trunc,
)
_ANONYMOUS_FUNCTIONS = {"now": exp.CurrentTimestamp, "sysdate": exp.CurrentTimestamp,
                        "current_timestamp": exp.CurrentTimestamp}
_AGGREGATES = (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.GroupConcat, exp.StddevPop, exp.StddevSamp,
               exp.Stddev, exp.Variance, exp.VariancePop)
_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql"}


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> exp.Expression:
    if not isinstance(text, str):
        raise DataJointError(f"Expected an SQL expression string, got {type(text).__name__}.")
    if "\x00" in text:
        raise QuerySyntaxError("Restriction strings cannot contain NUL characters.")
    if not text.strip():
        raise QuerySyntaxError("Empty SQL expression.", hint="Pass a condition such as 'weight > 20'.")
    try:
        statements = sqlglot.parse(text, read="mysql")
    except (ParseError, TokenError) as error:
        raise QuerySyntaxError(f"Cannot parse the SQL expression {text!r}: {str(error).splitlines()[0]}",
                               hint="Write a single condition such as 'weight > 20 AND species = \"mouse\"'.") from None
    except Exception as error:  # sqlglot raises assorted errors on hostile input
        raise QuerySyntaxError(f"Cannot parse the SQL expression {text!r}: {error}") from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise QuerySyntaxError(f"The SQL expression {text!r} holds {len(statements)} statements; one expression is allowed.",
                               hint="Remove semicolons; combine conditions with AND/OR.")
    return statements[0]


def _check_tree(tree: exp.Expression, text: str, allow_aggregates: bool) -> exp.Expression:
    def convert(node):
        if isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
            if name in _ANONYMOUS_FUNCTIONS and not node.expressions:
                return _ANONYMOUS_FUNCTIONS[name]()
            raise QuerySyntaxError(f"The function {name}() is not allowed in {text!r}.",
                                   hint="Use common functions: count, sum, avg, min, max, round, abs, concat, "
                                        "lower, upper, length, year, month, day, coalesce, now.")
        return node

    tree = tree.transform(convert, copy=True)
    for node in tree.walk():
        if node.comments:
            raise QuerySyntaxError(f"Comments are not allowed in SQL expressions: {text!r}.")
        if isinstance(node, (exp.Select, exp.Subquery, exp.Union, exp.Query)):
            raise QuerySyntaxError(f"Subqueries are not allowed in restriction strings: {text!r}.",
                                   hint="Restrict by another query expression instead: A & B or A - B.")
        if isinstance(node, _AGGREGATES) and not allow_aggregates:
            raise QuerySyntaxError(f"Aggregate functions are not allowed here: {text!r}.",
                                   hint="Use aggr() to compute aggregates, then restrict the result.")
        if isinstance(node, exp.Func) and not isinstance(node, _ALLOWED_FUNCTIONS + _ALLOWED_NODES):
            raise QuerySyntaxError(f"The function {node.sql_name()} is not allowed in {text!r}.")
        if not isinstance(node, exp.Func) and not isinstance(node, _ALLOWED_NODES):
            raise QuerySyntaxError(f"{type(node).__name__} is not allowed in SQL expressions: {text!r}.",
                                   hint="Use attribute names, literals, operators and common functions.")
        if isinstance(node, exp.Column) and (node.table or node.args.get("db") or node.args.get("catalog")):
            raise QuerySyntaxError(f"Qualified column names are not allowed: {node.sql()} in {text!r}.",
                                   hint="Refer to attributes by their bare names.")
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
            raise QuerySyntaxError(f"`*` is only allowed inside count(*): {text!r}.")
    return tree


def suggest(name: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    return f" Did you mean `{close[0]}`?" if close else ""


def referenced_columns(text: str, allow_aggregates: bool = False) -> set[str]:
    tree = _check_tree(_parse(text), text, allow_aggregates)
    return {node.name for node in tree.find_all(exp.Column)}


def compile_expression(text: str, names: Iterable[str], backend, *, allow_aggregates: bool = False,
                       count_column: str | None = None, where: str = "restriction",
                       boolean_columns: set[str] | None = None) -> tuple[str, set[str]]:
    """Emit ``text`` in the backend's dialect, checking its columns against ``names``.

    Returns the SQL and the attribute names it uses. ``count_column`` rewrites
    ``count(*)`` to ``count(column)`` so that outer-join aggregation counts 0 for
    rows without matches.
    """
    known = set(names)
    tree = _check_tree(_parse(text), text, allow_aggregates)
    used: set[str] = set()
    for column in tree.find_all(exp.Column):
        name = column.name
        if name not in known:
            if name.lower() in ("true", "false", "null"):
                continue
            raise UnknownAttributeError(f"`{name}` in the {where} {text!r} is not an attribute of the query.{suggest(name, known)}",
                                        hint=f"Available attributes: {', '.join(sorted(known))}.")
        used.add(name)

    def as_boolean(node):
        """``flag = 1`` on a bool column: PostgreSQL has no boolean = integer operator."""
        if isinstance(node, exp.Literal) and not node.is_string and node.this in ("0", "1"):
            return exp.Boolean(this=node.this == "1")
        return node

    def finish(node):
        if boolean_columns and backend.name == "postgresql" and isinstance(node, (exp.EQ, exp.NEQ, exp.NullSafeEQ)):
            left, right = node.this, node.expression
            if isinstance(left, exp.Column) and left.name in boolean_columns:
                node.set("expression", as_boolean(right))
            elif isinstance(right, exp.Column) and right.name in boolean_columns:
                node.set("this", as_boolean(left))
        if isinstance(node, exp.Column):
            return exp.Column(this=exp.Identifier(this=node.name, quoted=True))
        if count_column and isinstance(node, exp.Count) and isinstance(node.this, exp.Star):
            return exp.Count(this=exp.Column(this=exp.Identifier(this=count_column, quoted=True)))
        if backend.name == "postgresql":
            if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
                return exp.Round(this=exp.Cast(this=node.this, to=exp.DataType.build("DECIMAL")),
                                 decimals=node.args["decimals"])
            if isinstance(node, exp.GroupConcat) and not isinstance(node.this, exp.Distinct):
                return exp.GroupConcat(this=exp.Cast(this=node.this, to=exp.DataType.build("TEXT")),
                                       separator=node.args.get("separator"))
        return node

    tree = tree.transform(finish, copy=True)
    if backend.name == "sqlite":
        # MySQL and PostgreSQL escape LIKE wildcards with a backslash by default; SQLite needs ESCAPE '\'
        for like in list(tree.find_all(exp.Like, exp.ILike)):
            if not isinstance(like.parent, exp.Escape):
                escape = exp.Escape(expression=exp.Literal.string("\\"))
                if like is tree:
                    tree = escape
                else:
                    like.replace(escape)
                escape.set("this", like)
    try:
        sql = tree.sql(dialect=_DIALECTS[backend.name], unsupported_level=sqlglot.ErrorLevel.RAISE)
    except Exception as error:
        raise QuerySyntaxError(f"The expression {text!r} cannot be written for {backend.name}: {error}") from None
    return backend.protect_percent(sql), used


def passthrough_column(text: str) -> str | None:
    """The column whose values ``text`` returns unchanged in type: ``max(x)``, ``min(x)``, ``(x)``; else None."""
    tree = _parse(text)
    while isinstance(tree, exp.Paren):
        tree = tree.this
    if isinstance(tree, (exp.Min, exp.Max)) and not tree.expressions:
        tree = tree.this
        while isinstance(tree, exp.Paren):
            tree = tree.this
    if isinstance(tree, exp.Column) and not tree.table:
        return tree.name
    return None


def is_aggregate(text: str) -> bool:
    tree = _check_tree(_parse(text), text, True)
    return any(isinstance(node, _AGGREGATES) for node in tree.walk())
