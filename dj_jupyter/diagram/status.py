"""The status overlay of a diagram: row counts, populate progress and job states per table.

Read in a bounded number of queries (at most four per schema, whatever the number of
tables): counts and progress are UNION ALL statements of up to ``MAX_UNION`` branches.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from typing import Iterable

from ..errors import DataJointError
from .graph import Graph, Node, tier_of

#: branches per UNION ALL statement (SQLite allows 500 terms in a compound SELECT)
MAX_UNION = 200
_JOB_STATES = ("pending", "reserved", "success", "error", "ignore")


# ------------------------------------------------------------------------------------------------
# status overlay
# ------------------------------------------------------------------------------------------------
@dataclass
class NodeStatus:
    """What a node of a diagram shows about the state of its table."""

    rows: int | None = None
    total: int | None = None  # size of key_source (auto-populated tables)
    done: int | None = None  # key_source keys present in the table
    pending: int = 0
    reserved: int = 0
    success: int = 0
    error: int = 0
    ignore: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.total is None or self.done is None else self.total - self.done

    def as_dict(self) -> dict:
        result = {f.name: getattr(self, f.name) for f in fields(self)}
        result["remaining"] = self.remaining
        return result


def _chunks(items: list, size: int = MAX_UNION):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _union_query(connection, branches: list[tuple[str, tuple]]) -> list[tuple]:
    rows = []
    for chunk in _chunks(branches):
        sql = " UNION ALL ".join(sql for sql, _ in chunk)
        params = tuple(p for _, ps in chunk for p in ps)
        rows.extend(connection.query(sql, params).fetchall())
    return rows


def count_rows(connection, nodes: Iterable[Node]) -> dict[Node, int]:
    """Row counts of many tables: one UNION ALL statement per schema."""
    backend = connection.backend
    by_schema: dict[str, list[Node]] = {}
    for node in nodes:
        by_schema.setdefault(node[0], []).append(node)
    result = {}
    for schema, members in sorted(by_schema.items()):
        branches = [(f"SELECT {i}, COUNT(*) FROM {backend.table_ref(*node)}", ()) for i, node in enumerate(members)]
        for i, n in _union_query(connection, branches):
            result[members[int(i)]] = int(n)
    return result


def count_expressions(connection, expressions: list) -> list[int]:
    """Row counts of many query expressions in one UNION ALL statement (per 200)."""
    backend = connection.backend
    branches = []
    for i, expr in enumerate(expressions):
        if expr._union is not None or expr._distinct or expr._group_by is not None or expr._top is not None:
            sql, params = expr.make_sql()
        else:
            sql, params = expr.make_sql(expr.primary_key or None)
        branches.append((f"SELECT {i}, COUNT(*) FROM ({sql}) AS {backend.quote(f'_c{i}')}", tuple(params)))
    counts = [0] * len(expressions)
    for i, n in _union_query(connection, branches):
        counts[int(i)] = int(n)
    return counts


def _job_counts(connection, schema: str, targets: list[Node], existing: set[str]) -> dict[Node, dict]:
    from ..jobs.jobtable import job_table_name

    backend = connection.backend
    q = backend.quote
    status = q("status")
    members = [(node, job_table_name(node[1])) for node in targets]
    members = [(node, name) for node, name in members if name in existing]
    branches = []
    for i, (node, name) in enumerate(members):
        columns = ", ".join(f"COUNT(CASE WHEN {status} = {backend.string_literal(s)} THEN 1 END)" for s in _JOB_STATES)
        branches.append((f"SELECT {i}, {columns} FROM {backend.table_ref(schema, name)}", ()))
    result = {}
    for row in _union_query(connection, branches):
        result[members[int(row[0])][0]] = {s: int(v or 0) for s, v in zip(_JOB_STATES, row[1:])}
    return result


def _key_source_sql(backend, graph: Graph, node: Node) -> tuple[str, list[str]] | None:
    """SQL for the default key_source (the join of the primary-key parents) and its columns."""
    q = backend.quote
    links = [link for link in graph.parents.get(node, ()) if link.primary and link.parent != node]
    if not links:
        return None
    select: dict[str, str] = {}
    where, sources = [], []
    for j, link in enumerate(links):
        alias = q(f"_p{j}")
        sources.append(f"{backend.table_ref(*link.parent)} AS {alias}")
        for child_column, parent_column in link.columns:
            ref = f"{alias}.{q(parent_column)}"
            if child_column in select:
                where.append(f"{ref} = {select[child_column]}")
            else:
                select[child_column] = ref
    sql = ("SELECT DISTINCT " + ", ".join(f"{ref} AS {q(c)}" for c, ref in select.items())
           + " FROM " + ", ".join(sources))
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql, list(select)


def _custom_key_source(cls) -> bool:
    from ..jobs.autopopulate import AutoPopulate

    if cls is None:
        return False
    if cls.__dict__.get("_key_source") is not None or getattr(cls, "_key_source", None) is not None:
        return True
    for klass in cls.__mro__:
        if klass is AutoPopulate:
            return False
        if "key_source" in vars(klass):
            return True
    return False


def _custom_progress_branch(connection, graph: Graph, node: Node, index: int, cls) -> tuple[str, tuple] | None:
    """(index, total, done) of a table whose class defines its own key_source: one EXISTS count."""
    backend = connection.backend
    q = backend.quote
    source = cls().key_source
    if inspect.isclass(source):
        source = source()
    target_key = set(graph.primary_keys.get(node, ()))
    columns = [c for c in source.primary_key if c in target_key]
    if not columns:
        return None
    sql, params = source.proj().make_sql(columns)
    match = " AND ".join(f"{q('_t')}.{q(c)} = {q('_k')}.{q(c)}" for c in columns)
    return (f"SELECT {index}, COUNT(*), COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM {backend.table_ref(*node)} "
            f"AS {q('_t')} WHERE {match}) THEN 1 ELSE 0 END), 0) FROM ({sql}) AS {q('_k')}", tuple(params))


@dataclass
class _ProgressPlan:
    """How to get done/total of an auto-populated table with the default key_source.

    Every row of the table references a row of each primary-key parent, so every
    row's key is in key_source: ``done`` is the table's row count when its primary
    key is key_source's, and ``total`` is the product of the parents' row counts
    when the parents share no attribute (their join is a product). Only the other
    cases need SQL of their own.
    """

    parents: list[Node]  # multiply their row counts (total), unless total_sql is set
    total_sql: str | None = None  # the rows of key_source, to be counted
    done_sql: str | None = None  # the distinct key_source keys of the table; None: its row count


def _progress_plan(backend, graph: Graph, node: Node) -> _ProgressPlan | None:
    links = [link for link in graph.parents.get(node, ()) if link.primary and link.parent != node]
    if not links:
        return None
    q = backend.quote
    seen: set[str] = set()
    disjoint = True
    for link in links:
        columns = {c for c, _ in link.columns}
        disjoint = disjoint and not (columns & seen)
        seen |= columns
    plan = _ProgressPlan([link.parent for link in links])
    if not disjoint:
        plan.total_sql = _key_source_sql(backend, graph, node)[0]
    if set(graph.primary_keys.get(node, ())) != seen:
        columns = ", ".join(q(c) for c in sorted(seen))
        plan.done_sql = f"SELECT DISTINCT {columns} FROM {backend.table_ref(*node)}"
    return plan


def compute_status(connection, graph: Graph, nodes: Iterable[Node],
                   classes: dict | None = None) -> dict[Node, NodeStatus]:
    """Row counts of every node, and done/total and job states of the auto-populated ones.

    A bounded number of statements: per schema one UNION ALL of row counts, one
    listing of its tables and one UNION ALL over its job tables, plus one UNION ALL
    for the populate progress that row counts cannot give (custom key_source, or
    primary-key parents that share attributes) -- whatever the number of tables.
    """
    classes = classes or {}
    backend = connection.backend
    nodes = graph.sort(n for n in nodes if n in graph.nodes)
    status = {node: NodeStatus() for node in nodes}
    targets = [n for n in nodes if tier_of(n[1]) in ("imported", "computed")]
    plans: dict[Node, _ProgressPlan] = {}
    custom: list[Node] = []
    for node in targets:
        if _custom_key_source(classes.get(node)):
            custom.append(node)
        else:
            plan = _progress_plan(backend, graph, node)
            if plan is not None:
                plans[node] = plan
    needed = set(nodes) | {parent for plan in plans.values() if plan.total_sql is None for parent in plan.parents}
    rows = count_rows(connection, needed)
    for node in nodes:
        status[node].rows = rows.get(node)

    by_schema: dict[str, list[Node]] = {}
    for node in targets:
        by_schema.setdefault(node[0], []).append(node)
    for schema, members in sorted(by_schema.items()):
        existing = {t for t in backend.list_tables(connection, schema) if t.startswith("~~")}
        for node, counts in _job_counts(connection, schema, members, existing).items():
            for state, value in counts.items():
                setattr(status[node], state, value)

    branches: list[tuple[str, tuple]] = []
    owners: list[Node] = []
    for node in targets:
        plan = plans.get(node)
        if plan is not None:
            total = None
            if plan.total_sql is None:
                total = 1
                for parent in plan.parents:
                    total *= rows.get(parent, 0)
            status[node].total = total
            status[node].done = rows.get(node) if plan.done_sql is None else None
            for sql, column in ((plan.total_sql, 1), (plan.done_sql, 2)):
                if sql is not None:
                    values = ("COUNT(*), -1" if column == 1 else "-1, COUNT(*)")
                    branches.append((f"SELECT {len(owners)}, {values} FROM ({sql}) AS {backend.quote('_n')}", ()))
                    owners.append(node)
        elif node in custom:
            try:
                branch = _custom_progress_branch(connection, graph, node, len(owners), classes[node])
            except DataJointError:
                branch = None
            if branch is not None:
                branches.append(branch)
                owners.append(node)
    for i, total, done in _union_query(connection, branches):
        node = owners[int(i)]
        if int(total) >= 0:
            status[node].total = int(total)
        if done is not None and int(done) >= 0:
            status[node].done = int(done)
    return status

