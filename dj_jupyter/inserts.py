"""The one path for writing rows: normalise, encode, insert in a transaction.

Objects written by store codecs during encoding are recorded in an
``ObjectLedger``; when the transaction does not commit, the ledger removes
them so that the store keeps nothing from a failed insert.
"""

from __future__ import annotations

import collections.abc
import csv
import pathlib
from typing import Any, Iterable

import numpy as np

from .codecs.base import accepts_keyword, resolve
from .errors import DataJointError, MissingAttributeError, UnknownAttributeError
from .query.expression import QueryExpression
from .storage.ledger import ObjectLedger
from .storage.references import store_attributes


def rows_of(rows) -> Iterable:
    """The rows of every collection DataJoint's insert accepts: an iterable of rows, a structured numpy
    array, a DataFrame (its named index becomes columns) or the path of a CSV file with a header line."""
    if isinstance(rows, pathlib.Path):
        with open(rows, newline="") as lines:
            yield from csv.DictReader(lines)
        return
    try:
        import pandas

        if isinstance(rows, pandas.DataFrame):
            frame = rows
            if any(name is not None for name in frame.index.names):
                frame = frame.reset_index()
            columns = list(frame.columns)
            for values in frame.itertuples(index=False, name=None):
                yield dict(zip(columns, values))
            return
    except ImportError:
        pass
    if isinstance(rows, (collections.abc.Mapping, np.void)):
        raise DataJointError("insert() takes a collection of rows; use insert1() for a single row.")
    yield from rows


def row_as_dict(row, heading_names: list[str]) -> dict:
    """One row as a dict: a mapping, a numpy record, or a sequence of values in heading order."""
    if isinstance(row, collections.abc.Mapping):
        return dict(row)
    if isinstance(row, np.void):
        return {name: row[name] for name in row.dtype.names}
    if isinstance(row, (list, tuple, np.ndarray)):
        if len(row) != len(heading_names):
            raise DataJointError(f"A row of {len(row)} values does not match the {len(heading_names)} attributes "
                                 f"({', '.join(heading_names)}).", hint="Give one value per attribute, or use dicts.")
        return dict(zip(heading_names, row))
    raise DataJointError(f"Cannot insert a row of type {type(row).__name__}.",
                         hint="Insert dicts, tuples in heading order, numpy records or a DataFrame.")


class _ColumnEncoder:
    """Encodes one attribute's values: codec chain (outermost first), then the backend conversion."""

    def __init__(self, table, attribute, ledger: ObjectLedger):
        self.attribute = attribute
        backend = table.connection.backend
        if attribute.is_codec:
            self.chain, storage, self.store = resolve(attribute.type)
        else:
            self.chain, storage, self.store = (), attribute.type, None
        self.storage = storage
        self.convert = backend.encoder(storage)
        self.context = {"schema": table.database, "table": table.table_name, "field": attribute.name,
                        "connection": table.connection, "ledger": ledger, "store": self.store,
                        "config": table.connection.config}
        self.calls = [(codec, accepts_keyword(type(codec).encode, "context"),
                       accepts_keyword(type(codec).encode, "store_name")) for codec in self.chain]

    def __call__(self, value, key: dict):
        if value is None:
            return None
        for codec, with_context, with_store in self.calls:
            try:
                codec.validate(value)
            except (TypeError, ValueError) as error:
                raise DataJointError(f"Invalid value for `{self.attribute.name}` ({self.attribute.type.text}): {error}") from None
            kwargs: dict[str, Any] = {"key": key}
            if with_store:
                kwargs["store_name"] = self.store
            if with_context:
                kwargs["context"] = self.context
            value = codec.encode(value, **kwargs)
            if value is None:
                return None
        try:
            return self.convert(value)
        except DataJointError as error:
            raise DataJointError(f"Invalid value for `{self.attribute.name}` ({self.attribute.type.text}): {error}") from None


def _check_direct_insert(table, allow_direct_insert: bool | None) -> None:
    if table.tier in ("imported", "computed") or (table.tier == "part" and getattr(table, "_master_tier", None) in (
            "imported", "computed")):
        if not (allow_direct_insert or _in_make(table)):
            raise DataJointError(
                f"Inserts into the {table.tier} table {type(table).__name__} happen in its make() during populate().",
                hint="Call populate(), or pass allow_direct_insert=True if you really mean to insert by hand.")


def _in_make(table) -> bool:
    from .jobs.autopopulate import inserting_allowed

    return inserting_allowed(table)


class _InsertPlan:
    """What every insert into one table needs, derived once per heading: a single-row insert is
    dominated by this bookkeeping when rebuilt on every call."""

    def __init__(self, table, heading):
        backend = table.connection.backend
        self.heading = heading
        self.table_ref = table.full_table_name
        self.names = heading.names
        self.primary_key = tuple(heading.primary_key)
        self.required = [a.name for a in heading._attributes if not a.nullable and a.default is None
                         and not a.autoincrement]
        self.plain = {a.name: backend.encoder(a.type) for a in heading._attributes if not a.is_codec}
        self.may_reference_objects = bool(store_attributes(heading))
        self._sql: dict = {}

    def sql(self, backend, columns: tuple, mode: str) -> str:
        statement = self._sql.get((columns, mode))
        if statement is None:
            statement = self._sql[(columns, mode)] = backend.insert_sql(self.table_ref, columns, self.primary_key,
                                                                        mode)
        return statement


def _plan(table) -> _InsertPlan:
    heading = table.heading
    plans = table.connection._insert_plans
    key = (table.database, table.table_name)
    plan = plans.get(key)
    if plan is None or plan.heading is not heading:
        plan = plans[key] = _InsertPlan(table, heading)
    return plan


def insert_rows(table, rows, *, replace=False, skip_duplicates=False, ignore_extra_fields=False,
                allow_direct_insert=None, chunk_size=None) -> None:
    _check_direct_insert(table, allow_direct_insert)
    if replace and skip_duplicates:
        raise DataJointError("insert() cannot both replace and skip duplicates.", hint="Choose one of them.")
    mode = "replace" if replace else "skip" if skip_duplicates else "error"
    if isinstance(rows, type) and issubclass(rows, QueryExpression):
        rows = rows()
    if isinstance(rows, QueryExpression):
        _insert_from_query(table, rows, mode, ignore_extra_fields)
        return
    plan = _plan(table)
    heading, names, plain = plan.heading, plan.names, plan.plain
    connection = table.connection
    ledger = ObjectLedger(connection)
    encoders: dict[str, _ColumnEncoder] = {}
    batches: dict[tuple[str, ...], list[tuple]] = {}
    chunk = chunk_size or 10_000
    replaced: dict[tuple[str, ...], list[dict]] | None = {} if mode == "replace" and plan.may_reference_objects \
        else None
    with connection.atomic(), ledger.batched():  # queued small objects are written before the commit
        for row in rows_of(rows):
            row = row_as_dict(row, names)
            unknown = [k for k in row if k not in heading]
            if unknown:
                if not ignore_extra_fields:
                    raise UnknownAttributeError(
                        f"{type(table).__name__} has no attribute{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(f'`{u}`' for u in unknown)}.",
                        hint="Remove the extra fields or pass ignore_extra_fields=True.")
                row = {k: v for k, v in row.items() if k in heading}
            missing = [n for n in plan.required if n not in row]
            if missing:
                raise MissingAttributeError(
                    f"Missing value{'s' if len(missing) > 1 else ''} for {', '.join(f'`{m}`' for m in missing)} "
                    f"in {type(table).__name__}.",
                    hint="Every attribute without a default needs a value; declare `= null` to make one optional.")
            key = {k: row[k] for k in plan.primary_key if k in row}
            columns = tuple(n for n in names if n in row)
            values = []
            for name in columns:
                value = row[name]
                convert = plain.get(name)
                if convert is None:
                    encoder = encoders.get(name)
                    if encoder is None:
                        encoder = encoders[name] = _ColumnEncoder(table, heading[name], ledger)
                    values.append(encoder(value, key))
                elif value is None:
                    values.append(None)
                else:
                    try:
                        values.append(convert(value))
                    except DataJointError as error:
                        attribute = heading[name]
                        raise DataJointError(f"Invalid value for `{name}` ({attribute.type.text}): {error}") from None
            batch = batches.setdefault(columns, [])
            batch.append(tuple(values))
            if replaced is not None:
                replaced.setdefault(columns, []).append(key)
            if len(batch) >= chunk:
                _release_replaced(table, ledger, replaced, columns)
                _flush(connection, plan, columns, batch, mode)
                batch.clear()
        for columns, batch in batches.items():
            if batch:
                _release_replaced(table, ledger, replaced, columns)
                _flush(connection, plan, columns, batch, mode)
        if mode == "skip":  # objects written for rows skipped as duplicates are removed after commit
            ledger.release_unreferenced_writes_after_commit()


def _release_replaced(table, ledger, replaced, columns) -> None:
    """Before rows are replaced, release the objects they reference (removed after commit if unreferenced)."""
    if replaced and replaced.get(columns):
        keys = replaced.pop(columns)
        ledger.release_after_commit(ledger.referenced_paths(table & keys, None))


def _flush(connection, plan: _InsertPlan, columns, batch, mode) -> None:
    if mode == "error" and connection.bulk_insert(plan.table_ref, columns, batch):
        return
    sql = plan.sql(connection.backend, columns, mode)
    if len(batch) == 1:  # one statement without the batching machinery of executemany
        connection.query(sql, batch[0])
    else:
        connection.executemany(sql, batch)


def _insert_from_query(table, query: QueryExpression, mode: str, ignore_extra_fields: bool) -> None:
    heading = table.heading
    names = [n for n in query.heading.names if n in heading]
    extra = [n for n in query.heading.names if n not in heading]
    if extra and not ignore_extra_fields:
        raise UnknownAttributeError(f"The query has attributes {extra} that {type(table).__name__} lacks.",
                                    hint="Project them away or pass ignore_extra_fields=True.")
    select_sql, params = query.make_sql(names)
    backend = table.connection.backend
    with table.connection.atomic():
        table.connection.query(backend.insert_select_sql(table.full_table_name, names, table.primary_key, mode,
                                                         select_sql), params)


def update_row(table, row: dict) -> None:
    if not isinstance(row, collections.abc.Mapping):
        raise DataJointError("update1() takes one row as a dict.", hint="Pass {primary key..., attribute: value}.")
    heading = table.heading
    key = {k: row[k] for k in table.primary_key if k in row}
    if len(key) != len(table.primary_key):
        missing = [k for k in table.primary_key if k not in row]
        raise DataJointError(f"update1() needs the full primary key; missing {', '.join(missing)}.",
                             hint="Include every primary key attribute to identify the row to change.")
    unknown = [k for k in row if k not in heading]
    if unknown:
        raise UnknownAttributeError(f"update1(): {type(table).__name__} has no attribute(s) {', '.join(unknown)}.",
                                    hint=f"Attributes are: {', '.join(heading.names)}.")
    changes = {k: v for k, v in row.items() if k not in table.primary_key}
    if not changes:
        return
    restricted = table & key
    if len(restricted) != 1:
        raise DataJointError(f"update1() found no row with key {key} in {type(table).__name__}.",
                             hint="update1 changes existing rows; insert the row first.")
    backend = table.connection.backend
    p = backend.placeholder
    ledger = ObjectLedger(table.connection)
    with table.connection.atomic(), ledger.batched():
        old_paths = ledger.referenced_paths(restricted, list(changes))
        values = [_ColumnEncoder(table, heading[name], ledger)(value, key) for name, value in changes.items()]
        assignments = ", ".join(f"{backend.quote(name)} = {p}" for name in changes)
        conditions = " AND ".join(f"{backend.quote(name)} = {p}" for name in key)
        key_values = [backend.encoder(heading[name].type)(value) for name, value in key.items()]
        table.connection.query(f"UPDATE {table.full_table_name} SET {assignments} WHERE {conditions}",
                               tuple(values) + tuple(key_values))
        ledger.release_after_commit(old_paths)
