"""Query expressions: the five operators of the relational algebra, with closure.

Expressions are immutable values. An expression is a SELECT over *sources*
(base tables or subqueries) joined with USING on their common attributes, a
conjunction of WHERE conditions, and optionally a grouping, a DISTINCT or an
ORDER BY/LIMIT. An operator either folds into the same SELECT or wraps its
operand as a subquery; SQL is generated only when rows are fetched.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, replace

from ..errors import DataJointError, UnknownAttributeError
from .condition import AndList, Fragment, Not, Top, check_semantic_match, combine, make_condition
from .heading import Attribute, Heading, computed_attribute
from .sqlexpr import compile_expression, passthrough_column, suggest
from . import fetch as fetch_module

_ORDER_ITEM = re.compile(r"\s*([a-z][a-z0-9_]*)\s*(?:\s(ASC|DESC))?\s*", re.I)


@dataclass(frozen=True)
class Source:
    """One item of a FROM clause."""

    table: str | None = None  # quoted table reference
    query: "QueryExpression | None" = None
    join: str = "from"  # "from", "inner", "left"
    using: tuple[str, ...] = ()


class QueryExpression:
    """Base of every query: tables, restrictions, projections, joins, aggregations, unions."""

    _connection = None
    _heading: Heading | None = None
    _sources: tuple[Source, ...] = ()
    _where: tuple[Fragment, ...] = ()
    _group_by: tuple[str, ...] | None = None
    _top: Top | None = None
    _order: tuple[str, ...] = ()  # the Top's ORDER BY items, resolved when the Top was applied
    _distinct: bool = False
    _projected: bool = False
    _union: tuple | None = None

    # ---- identity and metadata --------------------------------------------------------
    @property
    def connection(self):
        return self._connection

    @property
    def heading(self) -> Heading:
        return self._heading

    @property
    def primary_key(self) -> list[str]:
        return self.heading.primary_key

    @property
    def restriction(self) -> AndList:
        return AndList(f.sql for f in self._where)

    @property
    def support(self) -> list:
        return [s.table if s.table is not None else s.query for s in self._sources]

    def _copy(self, **changes) -> "QueryExpression":
        """A derived expression: always a plain QueryExpression, even when self is a table."""
        result = QueryExpression()
        for key in ("_connection", "_heading", "_sources", "_where", "_group_by", "_top", "_order", "_distinct",
                    "_projected", "_union"):
            setattr(result, key, getattr(self, key))
        for key, value in changes.items():
            setattr(result, key, value)
        return result

    def _encoder(self, name: str):
        return fetch_module.encoder_for(self.connection.backend, self.heading[name])

    @property
    def _mergeable(self) -> bool:
        return not (self._group_by is not None or self._top is not None or self._distinct or self._union
                    or self._projected or self.heading.has_expressions)

    @property
    def _has_left_join(self) -> bool:
        return any(s.join == "left" for s in self._sources)

    def make_subquery(self) -> "QueryExpression":
        """A new expression selecting from this one as a subquery."""
        result = QueryExpression()
        result._connection = self._connection
        result._heading = self.heading.plain()
        result._sources = (Source(query=self),)
        return result

    # ---- SQL ---------------------------------------------------------------------------------
    def make_sql(self, fields: list[str] | None = None) -> tuple[str, tuple]:
        """The SELECT statement and its parameters; ``fields`` limits the select list."""
        backend = self.connection.backend
        if self._union is not None:
            return self._union_sql(fields)
        if self._distinct and fields is not None and set(fields) != set(self.heading.names):
            # DISTINCT over fewer columns would merge rows: select them from the distinct set
            return self.make_subquery().make_sql(fields)
        names = self.heading.names if fields is None else list(fields)
        select = []
        for name in names:
            attribute = self.heading[name]
            if attribute.expression is None:
                select.append(backend.quote(name))
            else:
                select.append(f"{attribute.expression} AS {backend.quote(name)}")
        params: list = []
        from_sql = self._from_sql(params)
        sql = "SELECT " + ("DISTINCT " if self._distinct else "") + (", ".join(select) or "1") + " FROM " + from_sql
        if self._where:
            condition = combine(list(self._where), "AND")
            sql += " WHERE " + condition.sql
            params.extend(condition.params)
        if self._group_by is not None and self._group_by:
            sql += " GROUP BY " + ", ".join(backend.quote(n) for n in self._group_by)
        if self._top is not None:
            sql += (" ORDER BY " + ", ".join(self._order) if self._order else "") + backend.limit_sql(
                self._top.limit, self._top.offset)
        return sql, tuple(params)

    def _from_sql(self, params: list) -> str:
        backend = self.connection.backend
        parts = []
        for number, source in enumerate(self._sources):
            if source.table is not None:
                item = source.table
            else:
                sub_sql, sub_params = source.query.make_sql()
                params.extend(sub_params)
                item = f"({sub_sql})"
            item += f" AS {backend.quote(f'_s{number}')}"
            if source.join == "from":
                parts.append(item)
            elif source.using:
                keyword = "LEFT JOIN" if source.join == "left" else "JOIN"
                parts.append(f"{keyword} {item} USING (" + ", ".join(backend.quote(n) for n in source.using) + ")")
            else:
                parts.append(f"LEFT JOIN {item} ON 1 = 1" if source.join == "left" else f"CROSS JOIN {item}")
        return " ".join(parts)

    def _order_items(self, order_by) -> list[str]:
        """ORDER BY items in SQL, resolved against this heading (computed attributes by their expression)."""
        if order_by is None:
            order_by = ["KEY"]
        if isinstance(order_by, str):
            order_by = [order_by]
        backend = self.connection.backend
        items = []
        for entry in order_by:
            if not isinstance(entry, str):
                raise DataJointError(f"order_by entries must be strings, got {entry!r}.")
            stripped = entry.strip()
            match = re.fullmatch(r"KEY(\s+(ASC|DESC))?", stripped, re.I)
            if match:
                direction = match.group(2).upper() if match.group(2) else ""
                items.extend(backend.order_item(self._order_term(n), direction, self._nullable(n))
                             for n in self.primary_key)
                continue
            match = _ORDER_ITEM.fullmatch(stripped)
            if not match:
                raise DataJointError(f"Cannot sort by {entry!r}.",
                                     hint="Give attribute names, optionally followed by ASC or DESC, or 'KEY'.")
            name, direction = match.group(1), match.group(2)
            if name not in self.heading:
                raise UnknownAttributeError(f"Cannot sort by `{name}`: not an attribute.{suggest(name, self.heading.names)}")
            items.append(backend.order_item(self._order_term(name), direction.upper() if direction else "",
                                            self._nullable(name)))
        return items

    def _nullable(self, name: str) -> bool:
        attribute = self.heading[name]
        return attribute.nullable or attribute.expression is not None or not attribute.in_key and \
            attribute.type.category != "core"

    def _order_term(self, name: str) -> str:
        attribute = self.heading[name]
        backend = self.connection.backend
        term = backend.quote(name) if attribute.expression is None else f"({attribute.expression})"
        if attribute.type.category == "core" and attribute.type.name == "enum":
            return backend.enum_order_sql(term, attribute.type.params)
        return term

    def _union_sql(self, fields) -> tuple[str, tuple]:
        left, right = self._union
        backend = self.connection.backend
        names = self.heading.names if fields is None else list(fields)
        if not left.heading.secondary_attributes and not right.heading.secondary_attributes:
            columns = self.primary_key
            members, operator = [left, right], "UNION"
        else:
            # rows of the left operand, extended by the right one; then the rows only on the right, extended by
            # the left operand (which matches nothing there): its columns are NULL, typed by the database
            columns = self.heading.names
            first = left.join(right, left=True, semantic_check=False)
            second = right.restrict(Not(left), semantic_check=False).join(left, left=True, semantic_check=False)
            members, operator = [first, second], "UNION ALL"
        parts, params = [], ()
        for number, member in enumerate(members):
            sql, member_params = member.make_sql(columns)
            if member._top is not None:  # ORDER BY ... LIMIT cannot stand inside a compound SELECT
                sql = f"SELECT * FROM ({sql}) AS {backend.quote(f'_u{number}')}"
            parts.append(sql)
            params += member_params
        union = f" {operator} ".join(parts)
        if names == columns:
            return union, params
        cols = ", ".join(backend.quote(n) for n in names)
        return f"SELECT {cols or '1'} FROM ({union}) AS {backend.quote('_u')}", params

    @property
    def sql(self) -> str:
        return self.make_sql()[0]

    # ---- restriction ----------------------------------------------------------------------------
    def restrict(self, restriction, semantic_check: bool = True) -> "QueryExpression":
        if isinstance(restriction, Top):
            return self._restrict_top(restriction)
        condition = make_condition(self, restriction, semantic_check)
        if condition is True:
            return self
        if condition is False:
            condition = Fragment("1 = 0", (), set())
        needs_wrap = (self._union is not None or self._top is not None or self._group_by is not None
                      or any(self.heading[a].expression is not None for a in condition.attributes if a in self.heading))
        if needs_wrap:
            base = self.make_subquery()
            return base._copy(_where=base._where + (condition,))
        return self._restricted(condition)

    def _restricted(self, condition: Fragment) -> "QueryExpression":
        return self._copy(_where=self._where + (condition,))

    def _restrict_top(self, top: Top) -> "QueryExpression":
        """Apply ``dj.Top``: a new Top with the same (or no) ordering narrows the existing one."""
        if self._top is not None and (top.order_by is None or top.order_by == self._top.order_by):
            return self._copy(_top=self._top.merge(top))
        base = self
        if self._top is not None or self._union is not None or self._distinct:
            base = self.make_subquery()
        top = Top(top.limit, top.order_by if top.order_by is not None else ["KEY"], top.offset)
        return base._copy(_top=top, _order=tuple(base._order_items(top.order_by)))

    def __and__(self, restriction) -> "QueryExpression":
        return self.restrict(restriction)

    def __sub__(self, restriction) -> "QueryExpression":
        return self.restrict(Not(restriction))

    def __neg__(self):
        return Not(self)

    def __xor__(self, restriction):
        raise DataJointError("The ^ operator was removed in DataJoint 2.0.",
                             hint="Use expr.restrict(other, semantic_check=False).")

    def __rand__(self, other):
        from_u = _u_class()
        if isinstance(other, from_u):
            return other & self
        return NotImplemented

    # ---- projection -------------------------------------------------------------------------------
    def proj(self, *attributes, **named) -> "QueryExpression":
        """Keep, rename (``new='old'``), duplicate (``new='(old)'``) and compute (``new='expr'``) attributes."""
        heading = self.heading
        renames: dict[str, str] = {}
        duplicates: dict[str, str] = {}
        computed: dict[str, str] = {}
        for new, value in named.items():
            _check_new_name(new)
            if not isinstance(value, str):
                raise DataJointError(f"proj({new}=...) takes an attribute name or an SQL expression string.")
            text = value.strip()
            plain = re.fullmatch(r"`?([A-Za-z_]\w*)`?", text)
            wrapped = re.fullmatch(r"\(\s*`?([A-Za-z_]\w*)`?\s*\)", text)
            if plain and text.upper() not in ("NULL", "CURRENT_TIMESTAMP", "TRUE", "FALSE"):
                renames[new] = plain.group(1)
            elif wrapped and wrapped.group(1).upper() not in ("NULL", "CURRENT_TIMESTAMP"):
                duplicates[new] = wrapped.group(1)
            else:
                computed[new] = text
        listed = [a for a in attributes if a is not Ellipsis]
        for item in listed:
            if not isinstance(item, str):
                raise DataJointError(f"{item!r} is not a valid attribute for proj().")
        excluded = {a.lstrip("-").strip() for a in listed if a.strip().startswith("-")}
        explicit = [a.strip() for a in listed if not a.strip().startswith("-")]
        keep = [n for n in heading.primary_key if n not in renames.values()]
        if Ellipsis in attributes:
            keep += [n for n in heading.secondary_attributes if n not in renames.values()]
        keep += [n for n in explicit if n not in keep]
        for name in excluded:
            if name in heading.primary_key:
                raise DataJointError(f"Cannot exclude the primary key attribute `{name}`.",
                                     hint="proj() always keeps the primary key; rename it instead.")
        keep = [n for n in keep if n not in excluded]
        for name in keep + list(excluded) + list(renames.values()) + list(duplicates.values()):
            if name not in heading:
                raise UnknownAttributeError(f"Attribute `{name}` is not in the heading.{suggest(name, heading.names)}")
        new_names = list(renames) + list(duplicates) + list(computed)
        for name in new_names:
            if name in keep or new_names.count(name) > 1:
                raise DataJointError(f"Attribute `{name}` already exists in the projection.",
                                     hint="Choose another name or exclude the existing attribute.")
        sources = set(renames.values()) | set(duplicates.values())
        reshaped = self._union is not None or self._group_by is not None or self._distinct
        reordered = self._top is not None and bool(renames or duplicates or computed)
        remapped = any(heading[n].expression is not None for n in sources) or self._needs_wrap_for_expressions(computed)
        if reshaped or reordered or remapped:
            return self.make_subquery().proj(*attributes, **named)
        backend = self.connection.backend
        compiled = {}
        for new, text in computed.items():
            if text.upper() == "NULL":
                compiled[new] = "NULL"
            else:
                compiled[new], _ = compile_expression(text, heading.names, backend, where="projection")
        sources = {new: passthrough_column(text) for new, text in computed.items() if text.upper() != "NULL"}
        result_heading = heading.project(keep, {**renames, **duplicates}, compiled, backend.quote, sources)
        changed = len(result_heading) != len(heading) or bool(renames or duplicates or compiled)
        return self._copy(_heading=result_heading, _projected=self._projected or changed)

    def _needs_wrap_for_expressions(self, computed: dict[str, str]) -> bool:
        if not self.heading.has_expressions:
            return False
        from .sqlexpr import referenced_columns

        used = set()
        for text in computed.values():
            if text != "NULL":
                used |= referenced_columns(text, allow_aggregates=False)
        return any(name in self.heading and self.heading[name].expression is not None for name in used)

    # ---- join --------------------------------------------------------------------------------------
    def join(self, other, semantic_check: bool = True, left: bool = False,
             allow_nullable_pk: bool = False) -> "QueryExpression":
        """``self * other``. A left join keeps every row of ``self``; it needs ``self`` to determine ``other``
        unless ``allow_nullable_pk``: then the key is both keys, and ``other``'s part is NULL where no row
        matched."""
        if inspect.isclass(other) and issubclass(other, QueryExpression):
            other = other()
        if isinstance(other, _u_class()):
            raise DataJointError("dj.U(...) * expr is not supported in DataJoint 2.0.",
                                 hint="Restrict instead: dj.U('a') & expr.")
        if not isinstance(other, QueryExpression):
            raise DataJointError(f"Cannot join with {type(other).__name__}; join query expressions or tables.")
        common = check_semantic_match(self, other, semantic_check)
        if left and not allow_nullable_pk and not self.heading.determines(other.heading):
            missing = [n for n in other.primary_key if n not in self.heading]
            raise DataJointError(
                f"A left join (extend) needs the left operand to determine the right one; "
                f"the left side lacks {', '.join(missing)} of the right side's primary key.",
                hint="Use an inner join (*) or extend a table that has all of the other's primary key.")
        a = self if self._mergeable else self.make_subquery()
        # b's sources are appended to a's FROM clause: that is only right when b is one plain table
        # (or a cross product that shares nothing with a) and, for a left join, has no WHERE of its own
        multi = len(other._sources) > 1 and (bool(common) or left)
        b = other if (other._mergeable and not other._has_left_join and not multi and not (left and other._where)) \
            else other.make_subquery()
        for name in common:
            if a.heading[name].expression is not None:
                a = a.make_subquery()
            if b.heading[name].expression is not None:
                b = b.make_subquery()
        heading = a.heading.join(b.heading, left=left)
        first, *rest = b._sources
        joined = [replace(first, join="left" if left else "inner", using=tuple(common))] + [
            replace(s) for s in rest]
        return QueryExpression._build(a.connection, heading, a._sources + tuple(joined), a._where + b._where)

    def __mul__(self, other) -> "QueryExpression":
        return self.join(other)

    def __rmul__(self, other):
        return NotImplemented

    def extend(self, other, semantic_check: bool = True) -> "QueryExpression":
        """Add the attributes of ``other`` to every row (a left join); needs self -> other."""
        return self.join(other, semantic_check=semantic_check, left=True)

    def __matmul__(self, other):
        raise DataJointError("The @ operator was removed in DataJoint 2.0.",
                             hint="Use expr.join(other, semantic_check=False).")

    # ---- union -----------------------------------------------------------------------------------
    def __add__(self, other) -> "QueryExpression":
        if inspect.isclass(other) and issubclass(other, QueryExpression):
            other = other()
        if not isinstance(other, QueryExpression):
            raise DataJointError("A query expression can only be unioned with another query expression.")
        check_semantic_match(self, other, True, missing_matches=True)
        heading = self.heading.union(other.heading)  # checks the primary keys and secondary attributes
        result = QueryExpression()
        result._connection = self.connection
        result._heading = heading.plain()
        result._union = (self, other)
        return result

    # ---- aggregation -------------------------------------------------------------------------------
    def aggr(self, group, *attributes, exclude_nonmatching: bool = False, keep_all_rows: bool | None = None,
             **named) -> "QueryExpression":
        """Per row of self, compute aggregates over the matching rows of ``group``.

        Rows of self without matches are kept (aggregates are NULL, counts are 0)
        unless ``exclude_nonmatching=True``.
        """
        if keep_all_rows is not None:
            exclude_nonmatching = not keep_all_rows
        if inspect.isclass(group) and issubclass(group, QueryExpression):
            group = group()
        if not isinstance(group, QueryExpression):
            raise DataJointError("aggr() needs a query expression to aggregate.")
        for new in named:
            _check_new_name(new)
        common = check_semantic_match(self, group, True)
        key = self.primary_key
        base = self.proj(*attributes)
        base.heading.aggregate(group.heading, named)  # group -> self, and no name clashes
        outer = not exclude_nonmatching
        left = self if self._mergeable else self.make_subquery()
        count_column = None
        if outer:
            # count(*) must count matching rows only: count a column of the group that is never NULL
            candidates = [n for n in group.heading.primary_key if n not in self.heading] + [
                n for n in group.heading.secondary_attributes if n not in self.heading and not group.heading[n].nullable]
            if candidates:
                count_column = candidates[0]
            else:
                count_column = "dj_matched_row_"
                group = group.proj(..., **{count_column: "1"})
        right = group if (group._mergeable and not group._has_left_join and len(group._sources) == 1
                          and not (outer and group._where)) else group.make_subquery()
        names = left.heading.names + [n for n in right.heading.names if n not in left.heading]
        backend = self.connection.backend
        compiled = {}
        for new, text in named.items():
            if not isinstance(text, str):
                raise DataJointError(f"aggr({new}=...) takes an SQL expression string.")
            compiled[new], _ = compile_expression(text, names, backend, allow_aggregates=True,
                                                  count_column=count_column, where="aggregation")
        first, *rest = right._sources
        sources = left._sources + (replace(first, join="left" if outer else "inner", using=tuple(common)),) + tuple(rest)
        like = {n: _passthrough(right.heading, text) or _passthrough(left.heading, text) for n, text in named.items()}
        grouped_heading = Heading([left.heading[n] for n in key]
                                  + [computed_attribute(n, sql, like.get(n)) for n, sql in compiled.items()],
                                  left.heading.lineage_available)
        grouped = QueryExpression._build(self.connection, grouped_heading, sources, left._where + right._where)
        grouped._group_by = tuple(key)
        grouped._projected = True
        return base.join(grouped.make_subquery(), semantic_check=False)

    aggregate = aggr

    # ---- construction helper -------------------------------------------------------------------
    @staticmethod
    def _build(connection, heading, sources, where) -> "QueryExpression":
        result = QueryExpression()
        result._connection = connection
        result._heading = heading
        result._sources = tuple(sources)
        result._where = tuple(where)
        return result

    # ---- fetching ----------------------------------------------------------------------------------
    def cursor(self, *, order_by=None, limit=None, offset=None, fields=None, as_dict=False):
        """The rows as the database returns them, undecoded (as dicts with ``as_dict``)."""
        expr = self._fetch_frame(order_by, limit, offset)
        sql, params = expr.make_sql(fields)
        return self.connection.query(sql, params, as_dict=as_dict)

    def _fetch_frame(self, order_by, limit, offset) -> "QueryExpression":
        """The expression restricted by ``dj.Top(limit, order_by, offset)``, as DataJoint's fetch does.

        Without ``order_by``, an existing Top's ordering is kept (its window narrowed), else KEY.
        """
        if order_by is None and limit is None and not offset:
            return self
        return self._restrict_top(Top(limit, order_by, offset or 0))

    def to_dicts(self, order_by=None, limit=None, offset=None, squeeze=False, download_path=None):
        return fetch_module.to_dicts(self, order_by, limit, offset, squeeze=squeeze, download_path=download_path)

    def to_pandas(self, order_by=None, limit=None, offset=None, squeeze=False, download_path=None):
        return fetch_module.to_pandas(self, order_by, limit, offset, squeeze=squeeze, download_path=download_path)

    def to_arrays(self, *attrs, include_key=False, order_by=None, limit=None, offset=None, squeeze=False,
                  download_path=None):
        return fetch_module.to_arrays(self, attrs, include_key, order_by, limit, offset, squeeze=squeeze,
                                      download_path=download_path)

    def to_polars(self, order_by=None, limit=None, offset=None, squeeze=False):
        import polars

        return polars.from_pandas(self.to_pandas(order_by, limit, offset, squeeze=squeeze).reset_index())

    def to_arrow(self, order_by=None, limit=None, offset=None, squeeze=False):
        import pyarrow

        return pyarrow.Table.from_pandas(self.to_pandas(order_by, limit, offset, squeeze=squeeze).reset_index(),
                                         preserve_index=False)

    def keys(self, order_by=None, limit=None, offset=None, as_dict=None):
        return fetch_module.fetch_keys(self, order_by, limit, offset)

    def fetch1(self, *attrs, squeeze=False, download_path=None):
        return fetch_module.fetch1(self, attrs, squeeze=squeeze, download_path=download_path)

    def fetch(self, *attrs, offset=None, limit=None, order_by=None, format=None, as_dict=None, squeeze=False,
              download_path=None):
        return fetch_module.fetch_legacy(self, attrs, offset=offset, limit=limit, order_by=order_by, format=format,
                                         as_dict=as_dict, squeeze=squeeze, download_path=download_path)

    def head(self, limit=25, **kwargs):
        """The first ``limit`` rows by primary key (``format=`` is the DataJoint 0.14 form, via fetch())."""
        if kwargs.get("format"):
            return self.fetch(order_by="KEY", limit=limit, **kwargs)
        return self.to_dicts(order_by="KEY", limit=limit)

    def tail(self, limit=25, **kwargs):
        """The last ``limit`` rows by primary key, in ascending order."""
        if kwargs.get("format"):
            result = self.fetch(order_by="KEY DESC", limit=limit, **kwargs)
            return result.iloc[::-1] if kwargs["format"] == "frame" else result[::-1]
        return self.to_dicts(order_by="KEY DESC", limit=limit)[::-1]

    def __len__(self) -> int:
        return fetch_module.count(self)

    def __bool__(self) -> bool:
        return fetch_module.exists(self)

    def __contains__(self, item) -> bool:
        return bool(self & item)

    def __iter__(self):
        return iter(self.to_dicts())

    def __repr__(self) -> str:
        from .preview import repr_text

        return repr_text(self)

    def _repr_html_(self) -> str:
        from .preview import repr_html

        return repr_html(self)

    def preview(self, limit=None, width=None) -> str:
        from .preview import repr_text

        return repr_text(self, limit=limit)

    def make_sql_string(self) -> str:
        return self.make_sql()[0]


def _check_new_name(name: str) -> None:
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise DataJointError(f"`{name}` is not a valid attribute name.",
                             hint="Name new attributes with lowercase letters, digits and _, starting with a letter.")


def _passthrough(heading: Heading, text: str) -> Attribute | None:
    column = passthrough_column(text)
    return heading[column] if column in heading else None


def _u_class():
    return U


class U:
    """The universal set over some attributes: distinct values and whole-set aggregates."""

    def __init__(self, *primary_key: str):
        for name in primary_key:
            if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise DataJointError(f"dj.U takes attribute names, got {name!r}.")
        self._primary_key = list(primary_key)

    @property
    def primary_key(self) -> list[str]:
        return list(self._primary_key)

    def __and__(self, other) -> QueryExpression:
        if inspect.isclass(other) and issubclass(other, QueryExpression):
            other = other()
        if not isinstance(other, QueryExpression):
            raise DataJointError("dj.U(...) can only be restricted by a query expression.")
        other.heading.universal(self._primary_key)  # every attribute must exist
        reshaped = other._top is not None or other._union is not None or other._group_by is not None or other._distinct
        base = other.make_subquery() if reshaped else other
        heading = base.heading.universal(self._primary_key)
        return base._copy(_heading=heading, _distinct=True, _projected=True)

    def __rand__(self, other):
        return self.__and__(other)

    def __sub__(self, other):
        raise DataJointError("dj.U(...) - expr is not defined: the universal set is infinite.")

    def __mul__(self, other):
        raise DataJointError("dj.U(...) * expr is not supported in DataJoint 2.0.",
                             hint="Use dj.U('attr') & expr for distinct values.")

    def aggr(self, group, **named) -> QueryExpression:
        if named.pop("exclude_nonmatching", True) is False:
            raise DataJointError("dj.U(...).aggr always excludes non-matching rows (the universal set is infinite).")
        if inspect.isclass(group) and issubclass(group, QueryExpression):
            group = group()
        if not isinstance(group, QueryExpression):
            raise DataJointError("dj.U(...).aggr needs a query expression.")
        missing = [n for n in self._primary_key if n not in group.heading]
        if missing:
            raise UnknownAttributeError(f"dj.U attributes {missing} are not in the aggregated expression.")
        base = group if group._mergeable else group.make_subquery()
        backend = group.connection.backend
        compiled = {}
        for new, text in named.items():
            _check_new_name(new)
            if new in self._primary_key:
                raise DataJointError(f"The aggregate `{new}` has the name of a grouping attribute.")
            sql, _ = compile_expression(text, base.heading.names, backend, allow_aggregates=True, where="aggregation")
            compiled[new] = sql
        heading = Heading([replace(base.heading[n], in_key=True, expression=None) for n in self._primary_key]
                          + [computed_attribute(n, s, _passthrough(base.heading, named[n])) for n, s in compiled.items()],
                          base.heading.lineage_available)
        result = QueryExpression._build(group.connection, heading, base._sources, base._where)
        result._group_by = tuple(self._primary_key)
        result._projected = True
        return result

    aggregate = aggr

    def __repr__(self) -> str:
        return f"dj.U({', '.join(map(repr, self._primary_key))})"

