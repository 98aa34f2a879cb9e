"""The dependency graph a diagram is drawn from: tables as nodes, foreign keys as edges.

A :class:`Graph` is a snapshot of the connection's loaded dependencies (parent -> child),
with the names every layer uses for a node (``schema.table_name`` ids, tiers, masters).
The diagram algebra lives in :mod:`.diagram`, the status overlay in :mod:`.status`.
"""

from __future__ import annotations

import heapq
import weakref
from dataclasses import dataclass
from typing import Iterable

Node = tuple[str, str]

#: the last snapshot of each dependency graph, valid while its loaded dicts are the same objects
_snapshots: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------------------------------------
# names
# ------------------------------------------------------------------------------------------------
def node_id(node: Node) -> str:
    """The stable id of a table in the DOT, the SVG and the widget: ``schema.table_name``."""
    return f"{node[0]}.{node[1]}"


def tier_of(table_name: str) -> str:
    from ..table import tier_of as _tier_of

    return _tier_of(table_name)


def master_of(table_name: str) -> str | None:
    """The master's table name of a part table name (``#a__b`` -> ``#a``), or None."""
    prefix = ""
    for candidate in ("__", "_", "#"):
        if table_name.startswith(candidate):
            prefix = candidate
            break
    parts = table_name[len(prefix):].split("__")
    return prefix + parts[0] if len(parts) > 1 else None


def class_name_of(table_name: str) -> str:
    """The class name DataJoint gives a stored table name: ``__peak_detection__peak`` -> ``PeakDetection.Peak``."""
    stripped = table_name.lstrip("#_~")
    return ".".join("".join(word.capitalize() for word in piece.split("_") if word) for piece in stripped.split("__"))


# ------------------------------------------------------------------------------------------------
# the graph snapshot
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Link:
    """A foreign key drawn as an edge parent -> child."""

    parent: Node
    child: Node
    columns: tuple[tuple[str, str], ...]  # (child column, parent column)
    primary: bool  # identity inheritance: every child column is in the child's primary key
    multi: bool  # one parent row can have many child rows (the FK is not the child's whole key)

    @property
    def renames(self) -> tuple[tuple[str, str], ...]:
        return tuple((c, p) for c, p in self.columns if c != p)

    @property
    def renamed(self) -> bool:
        return bool(self.renames)


class Graph:
    """An immutable snapshot of the dependency graph (hidden tables left out)."""

    def __init__(self, primary_keys: dict[Node, tuple[str, ...]], links: Iterable[Link]):
        self.primary_keys = primary_keys
        self.nodes = frozenset(primary_keys)
        self.parents: dict[Node, list[Link]] = {}
        self.children: dict[Node, list[Link]] = {}
        for link in links:
            self.parents.setdefault(link.child, []).append(link)
            self.children.setdefault(link.parent, []).append(link)
        self.order = {node: i for i, node in enumerate(self._topological())}

    @classmethod
    def from_connection(cls, connection, schemas: Iterable[str] = ()) -> "Graph":
        """Load the foreign keys of ``schemas`` (and of every schema they reach) from the database.

        The snapshot is reused while the connection's dependency graph is not reloaded
        (a declaration or a drop reloads it).
        """
        deps = connection.dependencies
        wanted = set(schemas) | set(connection.schemas)
        deps.load(schemas=wanted)
        for _ in range(20):  # pull in the schemas that hold referenced tables, until closed
            reached = {schema for schema, _ in deps.nodes}
            if reached <= wanted:
                break
            wanted |= reached
            deps.load(schemas=wanted)
        cached = _snapshots.get(deps)
        if cached is not None and cached[0] is deps.primary_keys and cached[1] is deps.nodes:
            return cached[2]
        graph = cls._build(deps)
        _snapshots[deps] = (deps.primary_keys, deps.nodes, graph)
        return graph

    @classmethod
    def _build(cls, deps) -> "Graph":
        keys = {n: tuple(k) for n, k in deps.primary_keys.items() if not n[1].startswith("~")}
        for node in deps.nodes:
            if not node[1].startswith("~"):
                keys.setdefault(node, ())
        links = []
        for node in keys:
            for edge in deps.parents(node):
                if edge.parent in keys:
                    child_key = set(keys[node])
                    fk_columns = {c for c, _ in edge.columns}
                    links.append(Link(edge.parent, node, tuple(edge.columns), bool(edge.primary),
                                      fk_columns != child_key))
        return cls(keys, links)

    def merged(self, other: "Graph") -> "Graph":
        if other is self or (other.nodes <= self.nodes and len(other.order) <= len(self.order)):
            return self
        if self.nodes <= other.nodes:
            return other
        keys = {**other.primary_keys, **self.primary_keys}
        seen = set()
        links = []
        for graph in (self, other):
            for items in graph.parents.values():
                for link in items:
                    if (link.parent, link.child, link.columns) not in seen:
                        seen.add((link.parent, link.child, link.columns))
                        links.append(link)
        return Graph(keys, links)

    def _topological(self) -> list[Node]:
        """Parents before children; ties broken by schema, then by name, so the order is stable."""
        indegree = {n: 0 for n in self.primary_keys}
        for child, links in self.parents.items():
            indegree[child] = sum(1 for link in links if link.parent != child)
        heap = [(_sort_key(n), n) for n, d in indegree.items() if d == 0]
        heapq.heapify(heap)
        order = []
        while heap:
            _, node = heapq.heappop(heap)
            order.append(node)
            for link in self.children.get(node, ()):
                if link.child != node:
                    indegree[link.child] -= 1
                    if indegree[link.child] == 0:
                        heapq.heappush(heap, (_sort_key(link.child), link.child))
        if len(order) != len(indegree):  # a cycle cannot be declared, but never lose nodes
            order += sorted((n for n in indegree if n not in set(order)), key=_sort_key)
        return order

    def sort(self, nodes: Iterable[Node]) -> list[Node]:
        big = len(self.order)
        return sorted(nodes, key=lambda n: (self.order.get(n, big), n))

    def introduces_dimension(self, node: Node) -> bool:
        """True when the table adds primary-key attributes of its own (drawn underlined)."""
        key = set(self.primary_keys.get(node, ()))
        inherited = set()
        for link in self.parents.get(node, ()):
            if link.primary:
                inherited.update(c for c, _ in link.columns)
        return bool(key - inherited)


def _sort_key(node: Node):
    schema, table = node
    base = table.lstrip("#_~")
    return (schema, base.split("__")[0], table.count("__") if "__" in base else 0, base, table)

