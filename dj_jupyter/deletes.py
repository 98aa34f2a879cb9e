"""Cascading delete and drop: one transaction, children first, objects released after commit.

The cascade restricts every descendant by the rows being deleted from its
parents (through renamed foreign keys too), then deletes leaves first. Part
tables follow ``part_integrity``: ``enforce`` refuses to delete parts without
their master, ``ignore`` allows it, ``cascade`` deletes the masters as well.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .errors import DataJointError
from .storage.ledger import ObjectLedger

logger = logging.getLogger("dj_jupyter")
PART_INTEGRITY = ("enforce", "ignore", "cascade")


def master_of(table_name: str) -> str | None:
    """The master's table name of a part table name, or None."""
    prefix = ""
    for candidate in ("__", "_", "#"):
        if table_name.startswith(candidate):
            prefix = candidate
            break
    parts = table_name[len(prefix):].split("__")
    return prefix + parts[0] if len(parts) > 1 else None


@dataclass
class Cascade:
    """The restricted rows of every table a delete reaches, in topological order."""

    root: tuple[str, str]
    order: list[tuple[str, str]]
    restrictions: dict = field(default_factory=dict)  # node -> restricted FreeTable expression

    def __iter__(self):
        for node in self.order:
            yield node, self.restrictions[node]

    def counts(self) -> dict[str, int]:
        return {self._name(node): len(expr) for node, expr in self}

    def _name(self, node) -> str:
        return f"{node[0]}.{node[1]}"


def build_cascade(expr, part_integrity: str = "enforce") -> Cascade:
    from .table import FreeTable

    if part_integrity not in PART_INTEGRITY:
        raise ValueError(f"part_integrity must be 'enforce', 'ignore' or 'cascade', got {part_integrity!r}")
    connection = expr.connection
    dependencies = connection.dependencies
    root = (expr.database, expr.table_name)
    dependencies.load(schemas=set(connection.schemas) | {root[0]})
    pending = {root: [expr]}
    added_masters: set = set()
    while True:
        nodes = set(pending)
        for node in list(nodes):
            nodes |= set(dependencies.descendants(node))
        order = dependencies.topological(nodes)
        restrictions = {}
        for node in order:
            sources = list(pending.get(node, []))
            for edge in dependencies.parents(node):
                if edge.parent in restrictions:
                    renames = {child: parent for child, parent in edge.columns if child != parent}
                    sources.append(restrictions[edge.parent].proj(**renames))
            if not sources:
                continue
            if node == root and len(sources) == 1:
                restrictions[node] = expr
            else:
                restrictions[node] = FreeTable(connection, *node).restrict(sources, semantic_check=False)
        if part_integrity != "cascade":
            break
        new_masters = {}
        for node in order:
            master = master_of(node[1])
            if node in restrictions and master and (node[0], master) not in restrictions:
                master_node = (node[0], master)
                if master_node in added_masters:
                    continue
                master_table = FreeTable(connection, *master_node)
                # Materialise the master's keys now: the parts are deleted before their masters, so a
                # restriction that reads the part rows would select nothing by the time the master goes.
                keys = (master_table & restrictions[node].proj()).keys()
                new_masters[master_node] = master_table & keys
        if not new_masters:
            break
        added_masters |= set(new_masters)
        for master_node, restricted_master in new_masters.items():
            pending.setdefault(master_node, []).append(restricted_master)
    order = [n for n in order if n in restrictions]
    return Cascade(root, order, restrictions)


def delete_rows(expr) -> int:
    """DELETE the rows of a (restricted) base table; no cascade. Returns the row count."""
    connection = expr.connection
    backend = connection.backend
    ledger = ObjectLedger(connection)
    with connection.atomic():
        references = ledger.referenced_paths(expr, None)
        if not expr._where:
            sql, params = f"DELETE FROM {expr.full_table_name}", ()
        else:
            key = expr.primary_key or None
            select_sql, params = expr.make_sql(key)
            sql = backend.delete_sql(expr.full_table_name, key, select_sql, expr)
        cursor = connection.query(sql, params)
        count = cursor.rowcount
        ledger.release_after_commit(references)
    return max(count, 0)


def cascade_delete(expr, *, transaction=True, prompt=None, part_integrity="enforce", dry_run=False):
    connection = expr.connection
    cascade = build_cascade(expr, part_integrity)
    if dry_run:
        return cascade.counts()
    prompt = connection.config["safemode"] if prompt is None else prompt
    if prompt:
        counts = cascade.counts()
        if not any(counts.values()):
            logger.warning("Nothing to delete.")
            return 0
        from .table import _confirm

        summary = "\n".join(f"  {name}: {count} rows" for name, count in counts.items() if count)
        if not _confirm(f"About to delete:\n{summary}\nProceed?"):
            logger.warning("Delete cancelled.")
            return 0
    if transaction and connection.in_transaction:
        raise DataJointError("delete() cannot start a transaction inside an open transaction.",
                             hint="Pass transaction=False to make the delete part of the open transaction.")
    root_count = 0
    deleted = set()
    context = connection.transaction if transaction else _nothing()
    with context:
        for node, restricted in reversed(list(cascade)):
            count = delete_rows(restricted)
            if count:
                deleted.add(node)
            if node == cascade.root:
                root_count = count
        if part_integrity == "enforce":
            for node in deleted:
                master = master_of(node[1])
                if master and (node[0], master) not in deleted:
                    raise DataJointError(
                        f"Deleting from the part table {node[0]}.{node[1]} without its master {node[0]}.{master} "
                        "would break master-part integrity; nothing was deleted.",
                        hint="Delete from the master, or pass part_integrity='cascade' (also delete the masters) "
                             "or 'ignore'.")
    return root_count


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def drop_tables(table, prompt=None, part_integrity="enforce") -> None:
    from .table import FreeTable

    connection = table.connection
    node = (table.database, table.table_name)
    connection.dependencies.load(schemas=set(connection.schemas) | {node[0]})
    nodes = connection.dependencies.descendants(node)
    if part_integrity == "enforce":
        master = master_of(node[1])
        if master and (node[0], master) not in nodes:
            raise DataJointError(f"Cannot drop the part table {node[1]} without its master.",
                                 hint="Drop the master table, or pass part_integrity='ignore'.")
    prompt = connection.config["safemode"] if prompt is None else prompt
    if prompt:
        from .table import _confirm

        listing = "\n".join(f"  {s}.{t} ({len(FreeTable(connection, s, t))} rows)" for s, t in nodes)
        if not _confirm(f"About to drop:\n{listing}\nProceed?"):
            return
    for schema, name in reversed(nodes):
        FreeTable(connection, schema, name).drop_quick()
