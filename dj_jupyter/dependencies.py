"""The dependency graph of the tables a connection knows: foreign keys as edges.

Nodes are ``(schema, table)`` pairs; an edge parent -> child carries the
column map and whether the reference is part of the child's primary key
(identity inheritance). Loaded from the database in a bounded number of queries
and reloaded after any declaration or drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .errors import DataJointError

Node = tuple[str, str]


@dataclass(frozen=True)
class Edge:
    parent: Node
    child: Node
    columns: tuple[tuple[str, str], ...]  # (child column, parent column)
    primary: bool  # every child column is in the child's primary key

    @property
    def renamed(self) -> bool:
        return any(c != p for c, p in self.columns)

    @property
    def attr_map(self) -> dict[str, str]:
        return dict(self.columns)


class Dependencies:
    def __init__(self, connection):
        self._connection = connection
        self._loaded_for: tuple[str, ...] | None = None
        self.nodes: set[Node] = set()
        self.primary_keys: dict[Node, list[str]] = {}
        self._parents: dict[Node, list[Edge]] = {}
        self._children: dict[Node, list[Edge]] = {}

    def invalidate(self) -> None:
        self._loaded_for = None

    def load(self, force: bool = False, schemas: Iterable[str] | None = None) -> None:
        connection = self._connection
        wanted = tuple(sorted(set(schemas) if schemas is not None else set(connection.schemas)))
        if not force and self._loaded_for is not None and set(wanted) <= set(self._loaded_for):
            return
        backend = connection.backend
        known = tuple(sorted(set(wanted) | set(self._loaded_for or ())))
        # built aside and swapped in at once: widgets read the graph from their own threads while it reloads
        nodes: set[Node] = set()
        primary_keys: dict[Node, list[str]] = {}
        parents: dict[Node, list[Edge]] = {}
        children: dict[Node, list[Edge]] = {}
        for schema in known:
            for table, key in backend.primary_keys(connection, schema).items():
                node = (schema, table)
                nodes.add(node)
                primary_keys[node] = key
        for fk in backend.foreign_keys(connection, known):
            for node in (fk.child, fk.parent):
                if node not in primary_keys:
                    primary_keys.update({(node[0], t): k for t, k in backend.primary_keys(connection, node[0]).items()})
                nodes.add(node)
            child_key = set(primary_keys.get(fk.child, []))
            edge = Edge(fk.parent, fk.child, fk.columns, all(c in child_key for c, _ in fk.columns))
            parents.setdefault(fk.child, []).append(edge)
            children.setdefault(fk.parent, []).append(edge)
        self.nodes, self.primary_keys, self._parents, self._children = nodes, primary_keys, parents, children
        self._loaded_for = known

    def _ensure(self, node: Node) -> None:
        if self._loaded_for is None or node[0] not in self._loaded_for:
            self.load(schemas=set(self._loaded_for or ()) | {node[0]} | set(self._connection.schemas))

    def parents(self, node: Node, primary: bool | None = None) -> list[Edge]:
        self._ensure(node)
        return [e for e in self._parents.get(node, []) if primary is None or e.primary == primary]

    def children(self, node: Node, primary: bool | None = None) -> list[Edge]:
        self._ensure(node)
        return [e for e in self._children.get(node, []) if primary is None or e.primary == primary]

    def descendants(self, node: Node) -> list[Node]:
        """``node`` and everything downstream of it, in topological order."""
        self._ensure(node)
        reached = {node}
        stack = [node]
        while stack:
            current = stack.pop()
            for edge in self._children.get(current, []):
                if edge.child not in reached:
                    reached.add(edge.child)
                    stack.append(edge.child)
        return self.topological(reached)

    def ancestors(self, node: Node) -> list[Node]:
        """``node`` and everything upstream of it, in topological order."""
        self._ensure(node)
        reached = {node}
        stack = [node]
        while stack:
            current = stack.pop()
            for edge in self._parents.get(current, []):
                if edge.parent not in reached:
                    reached.add(edge.parent)
                    stack.append(edge.parent)
        return self.topological(reached)

    def topological(self, nodes: Iterable[Node]) -> list[Node]:
        """Sort nodes so that parents come before children; part tables right after their masters."""
        nodes = set(nodes)
        indegree = {n: 0 for n in nodes}
        for n in nodes:
            for edge in self._parents.get(n, []):
                if edge.parent in nodes and edge.parent != n:
                    indegree[n] += 1
        ready = sorted((n for n, d in indegree.items() if d == 0), key=_sort_key)
        order: list[Node] = []
        while ready:
            current = ready.pop(0)
            order.append(current)
            released = []
            for edge in self._children.get(current, []):
                if edge.child in nodes and edge.child != current:
                    indegree[edge.child] -= 1
                    if indegree[edge.child] == 0:
                        released.append(edge.child)
            ready = sorted(ready + released, key=_sort_key)
        if len(order) != len(nodes):
            raise DataJointError("The foreign keys form a cycle; cannot order the tables.")
        return order


def _sort_key(node: Node):
    schema, table = node
    return (schema, table.lstrip("#_~"), table)
