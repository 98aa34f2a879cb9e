"""``self.upstream[Ancestor]`` inside make(): ancestors restricted to the key being made."""

from __future__ import annotations

import inspect

from ..errors import DataJointError


class Upstream:
    """The rows of every ancestor that the row being made depends on.

    The row being made does not exist yet, so the walk starts from its
    primary-key parents restricted by the key, then climbs every foreign key.
    """

    def __init__(self, table, key: dict):
        self._table = table
        self._key = dict(key)
        self._restricted: dict | None = None

    def _walk(self) -> dict:
        from ..query.expression import U
        from ..table import FreeTable

        if self._restricted is not None:
            return self._restricted
        table = self._table
        connection = table.connection
        dependencies = connection.dependencies
        start = (table.database, table.table_name)
        order = list(reversed(dependencies.ancestors(start)))
        seeds: dict = {}
        for edge in dependencies.parents(start, primary=True):
            seeds.setdefault(edge.parent, []).append({parent: self._key[child] for child, parent in edge.columns})
        restricted = {}
        for node in order:
            if node == start:
                continue
            sources = list(seeds.get(node, []))
            for edge in dependencies.children(node):
                child = restricted.get(edge.child)
                if child is None:
                    continue
                renames = {parent: child_col for child_col, parent in edge.columns if child_col != parent}
                columns = [parent for _, parent in edge.columns]
                projected = child.proj(**renames) if renames else child
                sources.append(U(*columns) & projected)
            if sources:
                restricted[node] = FreeTable(connection, *node).restrict(sources, semantic_check=False)
        self._restricted = restricted
        return restricted

    def __getitem__(self, ancestor):
        from ..table import FreeTable, Table

        connection = self._table.connection
        if isinstance(ancestor, str):
            target = FreeTable(connection, ancestor)
        elif inspect.isclass(ancestor) and issubclass(ancestor, Table):
            target = ancestor()
        elif isinstance(ancestor, Table):
            target = ancestor
        else:
            raise DataJointError(f"self.upstream[...] takes a table, not {type(ancestor).__name__}.")
        node = (target.database, target.table_name)
        restricted = self._walk().get(node)
        if restricted is None:
            raise DataJointError(f"{target.table_name} is not upstream of {type(self._table).__name__}.",
                                 hint="self.upstream[...] gives ancestors only; query other tables directly.")
        return target.restrict(restricted, semantic_check=False)

    def __contains__(self, ancestor) -> bool:
        try:
            self[ancestor]
            return True
        except DataJointError:
            return False
