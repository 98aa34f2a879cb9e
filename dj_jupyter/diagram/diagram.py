"""The diagram model: which tables a diagram shows, its algebra, restrictions and status overlay.

A :class:`Diagram` is an immutable selection of tables over a snapshot of the
connection's dependency graph (foreign keys as edges, parent -> child). The
operators return new diagrams:

* ``d1 + d2`` union, ``d1 - d2`` difference, ``d1 * d2`` intersection;
* ``d + n`` adds ``n`` levels of descendants, ``d - n`` ``n`` levels of ancestors;
* ``d.collapse()`` draws each schema of ``d`` as one node (expanded nodes win in a union).

``Diagram.cascade(expr)`` selects the rows a delete of ``expr`` would remove in
every table it reaches (``.counts()`` previews them without deleting),
``d.restrict(expr)`` propagates a restriction downstream with AND semantics and
``Diagram.trace(expr)`` upstream. ``d.status()`` / ``d.with_status()`` read row
counts, populate progress and job-table states in a bounded number of queries
(at most four per schema, whatever the number of tables).

Drawing lives in :mod:`.render`; nothing here imports Jupyter.
"""

from __future__ import annotations

import functools
import inspect
import types

from ..errors import DataJointError
from .graph import Graph, Node, class_name_of, master_of, node_id
from .status import NodeStatus, compute_status, count_expressions, count_rows


# ------------------------------------------------------------------------------------------------
# the diagram
# ------------------------------------------------------------------------------------------------
def _caller_context(depth: int = 2) -> dict:
    frame = inspect.currentframe()
    try:
        for _ in range(depth):
            frame = frame.f_back
        return dict(frame.f_globals, **frame.f_locals) if frame is not None else {}
    finally:
        del frame


def _is_table_class(obj) -> bool:
    from ..table import Table

    return inspect.isclass(obj) and issubclass(obj, Table)


def _table_node(source) -> Node | None:
    """(schema, table) of a table class or table object, or None."""
    from ..table import Table

    if _is_table_class(source) or isinstance(source, Table):
        database = getattr(source, "database", None)
        table_name = source.table_name
        if database is None or table_name is None:
            raise DataJointError(f"{getattr(source, '__name__', type(source).__name__)} is not bound to a schema.",
                                 hint="Decorate the class with an activated @schema first.")
        return (database, table_name)
    return None


def _schema_of(source):
    from ..schema import Schema

    if isinstance(source, Schema):
        return source
    schema = getattr(source, "schema", None)
    if isinstance(schema, Schema) and (isinstance(source, types.ModuleType) or not _is_table_class(source)):
        return schema
    return None


class Diagram:
    """A diagram of tables and their foreign keys: ``dj.Diagram(table | schema | module)``.

    Examples
    --------
    >>> dj.Diagram(schema)                      # every table of a schema
    >>> dj.Diagram(Session) + 1 - 1             # a table with its children and parents
    >>> dj.Diagram(lab) + dj.Diagram(ephys).collapse()
    >>> dj.Diagram.cascade(Session & key).counts()
    >>> dj.Diagram(schema).with_status()        # row counts, populate progress, job states
    >>> print(dj.Diagram(schema).make_dot().source)
    """

    def __init__(self, source=None, context: dict | None = None, *, connection=None):
        if isinstance(source, Diagram):
            self._copy_from(source)
            return
        self.context = _caller_context() if context is None else context
        self._mode: str | None = None
        self._restrictions: dict[Node, object] = {}
        self._status: dict[Node, NodeStatus] | None = None
        self._classes: dict | None = None
        self._sources = [source]
        if isinstance(source, (list, tuple, set, frozenset)):
            combined = Diagram.from_sequence(list(source), context=self.context)
            self._copy_from(combined)
            return
        node = _table_node(source)
        schema = None if node is not None else _schema_of(source)
        if node is None and schema is None:
            raise DataJointError(f"Cannot draw a diagram of {source!r}.",
                                 hint="Pass a table class, a dj.Schema or a module with a `schema`.")
        if node is not None:
            connection = connection or source.connection
            databases = {node[0]}
        else:
            if schema.database is None:
                raise DataJointError("The schema is not activated.", hint="Call schema.activate('name') first.")
            connection = connection or schema.connection
            databases = {schema.database}
        self._connection = connection
        self._graph = Graph.from_connection(connection, databases)
        if node is not None:
            if node not in self._graph.nodes:
                raise DataJointError(f"Table {node_id(node)} is not declared.", hint="Declare it before drawing it.")
            self._show = {node}
        else:
            self._show = {n for n in self._graph.nodes if n[0] == schema.database}
        self._expanded = set(self._show)

    # ---- construction helpers -------------------------------------------------------------------
    def _copy_from(self, other: "Diagram") -> None:
        self.context = other.context
        self._connection = other._connection
        self._graph = other._graph
        self._show = set(other._show)
        self._expanded = set(other._expanded)
        self._mode = other._mode
        self._restrictions = dict(other._restrictions)
        self._status = other._status
        self._classes = other._classes
        self._sources = list(getattr(other, "_sources", []))

    def _derived(self) -> "Diagram":
        result = Diagram.__new__(Diagram)
        result._copy_from(self)
        result._status = None
        return result

    @classmethod
    def from_sequence(cls, sequence, context: dict | None = None) -> "Diagram":
        """The union of the diagrams of every item: ``Diagram(a) + Diagram(b) + ...``."""
        context = _caller_context() if context is None else context
        items = list(sequence)
        if not items:
            raise DataJointError("Diagram.from_sequence needs at least one table or schema.")
        return functools.reduce(lambda x, y: x + y, (item if isinstance(item, Diagram) else cls(item, context)
                                                     for item in items))

    # ---- identity ---------------------------------------------------------------------------------
    @property
    def connection(self):
        return self._connection

    @property
    def graph(self) -> Graph:
        return self._graph

    @property
    def nodes(self) -> list[Node]:
        """The shown tables as (schema, table_name) pairs, parents first."""
        return self._graph.sort(self._show)

    @property
    def tables(self) -> list[str]:
        """The shown tables as ``schema.table_name`` (the node ids of the DOT), parents first."""
        return [node_id(n) for n in self.nodes]

    @property
    def nodes_to_show(self) -> set[str]:
        """DataJoint's name: the full table names of the shown tables."""
        ref = self._connection.backend.table_ref
        return {ref(*n) for n in self._show}

    @property
    def schemas(self) -> list[str]:
        return sorted({n[0] for n in self._show})

    @property
    def collapsed(self) -> set[Node]:
        return self._show - self._expanded

    def __contains__(self, item) -> bool:
        if isinstance(item, tuple):
            return item in self._show
        if isinstance(item, str):
            return item in set(self.tables) or item in self.nodes_to_show
        node = _table_node(item)
        return node in self._show

    def __len__(self) -> int:
        return len(self._show)

    def __repr__(self) -> str:
        kind = {"cascade": "Cascade diagram", "restrict": "Restricted diagram", "trace": "Trace diagram"}.get(
            self._mode, "Diagram")
        schemas = ", ".join(self.schemas)
        return f"{kind} of {len(self._show)} tables in {schemas or 'no schema'}"

    def _other_nodes(self, arg) -> tuple[set[Node], set[Node], Graph] | None:
        if isinstance(arg, Diagram):
            if arg._connection is not self._connection:
                raise DataJointError("Cannot combine diagrams of different connections.")
            return arg._show, arg._expanded, arg._graph
        node = _table_node(arg)
        if node is not None:
            graph = self._graph
            if node not in graph.nodes:
                graph = graph.merged(Graph.from_connection(self._connection, {node[0]}))
            return {node}, {node}, graph
        schema = _schema_of(arg)
        if schema is not None:
            return self._other_nodes(Diagram(schema, self.context, connection=self._connection))
        return None

    # ---- algebra --------------------------------------------------------------------------------
    def __add__(self, arg) -> "Diagram":
        """Union with a diagram, table or schema; ``+ n`` adds ``n`` levels of descendants."""
        result = self._derived()
        other = self._other_nodes(arg)
        if other is not None:
            nodes, expanded, graph = other
            result._graph = self._graph.merged(graph)
            result._show |= nodes
            result._expanded |= expanded
            result._sources = self._sources + (arg._sources if isinstance(arg, Diagram) else [arg])
            result._classes = None
            if isinstance(arg, Diagram):
                result.context = {**self.context, **arg.context}
            return result
        return self._grown(result, lambda node: (link.child for link in self._graph.children.get(node, ())),
                           _levels(arg))

    __radd__ = __add__

    def __sub__(self, arg) -> "Diagram":
        """Difference with a diagram, table or schema; ``- n`` adds ``n`` levels of ancestors."""
        result = self._derived()
        other = self._other_nodes(arg)
        if other is not None:
            result._show -= other[0]
            result._expanded &= result._show
            return result
        return self._grown(result, lambda node: (link.parent for link in self._graph.parents.get(node, ())),
                           _levels(arg))

    @staticmethod
    def _grown(result: "Diagram", neighbours, levels: int) -> "Diagram":
        """``result`` with up to ``levels`` rings of ``neighbours`` (children or parents) shown and expanded."""
        for _ in range(levels):
            new = {other for node in result._show for other in neighbours(node)} - result._show
            if not new:
                break
            result._show |= new
            result._expanded |= new
        return result

    def __mul__(self, arg) -> "Diagram":
        """Intersection: the tables in both operands."""
        other = self._other_nodes(arg)
        if other is None:
            raise DataJointError("Diagram * takes another diagram, a table or a schema.")
        result = self._derived()
        result._show &= other[0]
        result._expanded = (self._expanded | other[1]) & result._show
        return result

    def add_parts(self) -> "Diagram":
        """Add the part tables of every master in the diagram."""
        result = self._derived()
        for node in self._graph.nodes:
            master = master_of(node[1])
            if master is not None and (node[0], master) in self._show:
                result._show.add(node)
                result._expanded.add(node)
        return result

    def collapse(self) -> "Diagram":
        """Draw every table of this diagram as part of one node per schema.

        In a union, expanded tables win: ``Diagram(lab) + Diagram(ephys).collapse()``.
        """
        result = self._derived()
        result._expanded = set()
        return result

    def topo_sort(self) -> list[str]:
        """The shown tables' full names, parents first (DataJoint's helper)."""
        ref = self._connection.backend.table_ref
        return [ref(*n) for n in self.nodes]

    # ---- restrictions ------------------------------------------------------------------------------
    @classmethod
    def cascade(cls, table_expr, part_integrity: str = "enforce") -> "Diagram":
        """The rows a delete of ``table_expr`` would remove, in every table it reaches.

        ``Diagram.cascade(Session & key).counts()`` previews the delete without deleting.
        """
        from ..deletes import build_cascade

        if part_integrity not in ("enforce", "ignore", "cascade"):
            raise ValueError(f"part_integrity must be 'enforce', 'ignore' or 'cascade', got {part_integrity!r}")
        table_expr = table_expr() if _is_table_class(table_expr) else table_expr
        plan = build_cascade(table_expr, part_integrity)
        result = cls._restricted_diagram(table_expr.connection, plan.order, "cascade")
        result._restrictions = dict(plan.restrictions)
        return result

    @classmethod
    def trace(cls, table_expr) -> "Diagram":
        """The rows of every ancestor that the rows of ``table_expr`` depend on (the mirror of cascade).

        ``Diagram.trace(Spectrum & key)[Session]`` is the restricted Session.
        """
        from ..query.expression import U
        from ..table import FreeTable

        table_expr = table_expr() if _is_table_class(table_expr) else table_expr
        connection = table_expr.connection
        seed = (table_expr.database, table_expr.table_name)
        graph = Graph.from_connection(connection, {seed[0]})
        ancestors = {seed}
        stack = [seed]
        while stack:
            for link in graph.parents.get(stack.pop(), ()):
                if link.parent not in ancestors:
                    ancestors.add(link.parent)
                    stack.append(link.parent)
        restricted = {seed: table_expr}
        for node in reversed(graph.sort(ancestors)):
            if node == seed:
                continue
            sources = []
            for link in graph.children.get(node, ()):
                child = restricted.get(link.child)
                if child is None:
                    continue
                renames = {parent: child_col for child_col, parent in link.columns if child_col != parent}
                projected = child.proj(**renames) if renames else child
                sources.append(U(*[parent for _, parent in link.columns]) & projected)
            if sources:
                restricted[node] = FreeTable(connection, *node).restrict(sources, semantic_check=False)
        result = cls._restricted_diagram(connection, list(restricted), "trace", graph)
        result._restrictions = restricted
        return result

    def restrict(self, table_expr) -> "Diagram":
        """Restrict a table of the diagram and propagate downstream with AND semantics (for export).

        A descendant row is kept when it matches the restricted rows of every restricted parent.
        """
        from ..table import FreeTable

        if self._mode in ("cascade", "trace"):
            raise DataJointError(f"restrict() cannot be applied to a {self._mode} diagram.",
                                 hint="Start from dj.Diagram(...) and call restrict() on it.")
        table_expr = table_expr() if _is_table_class(table_expr) else table_expr
        seed = (table_expr.database, table_expr.table_name)
        if seed not in self._show:
            raise DataJointError(f"Table {node_id(seed)} is not in the diagram.")
        result = self._derived()
        result._mode = "restrict"
        restrictions = result._restrictions
        if seed in restrictions:
            restrictions[seed] = restrictions[seed].restrict(table_expr.proj(), semantic_check=False)
        else:
            restrictions[seed] = table_expr
        descendants = {seed}
        stack = [seed]
        while stack:
            for link in self._graph.children.get(stack.pop(), ()):
                if link.child not in descendants:
                    descendants.add(link.child)
                    stack.append(link.child)
        reached = {seed}
        for node in self._graph.sort(descendants):
            if node == seed:
                continue
            sources = []
            for link in self._graph.parents.get(node, ()):
                if link.parent in reached and link.parent in restrictions:
                    renames = {c: p for c, p in link.columns if c != p}
                    parent = restrictions[link.parent]
                    sources.append(parent.proj(**renames) if renames else parent.proj())
            if not sources:
                continue
            reached.add(node)
            expr = restrictions[node] if node in restrictions else FreeTable(self._connection, *node)
            for source in sources:
                expr = expr.restrict(source, semantic_check=False)
            restrictions[node] = expr
        return result

    @classmethod
    def _restricted_diagram(cls, connection, nodes: list[Node], mode: str, graph: Graph | None = None) -> "Diagram":
        result = cls.__new__(cls)
        result.context = {}
        result._connection = connection
        result._graph = graph or Graph.from_connection(connection, {n[0] for n in nodes})
        missing = set(nodes) - result._graph.nodes
        if missing:
            result._graph = result._graph.merged(Graph.from_connection(connection, {n[0] for n in missing}))
        result._show = set(nodes)
        result._expanded = set(nodes)
        result._mode = mode
        result._restrictions = {}
        result._status = None
        result._classes = None
        result._sources = []
        return result

    def _table(self, node: Node):
        from ..table import FreeTable

        expr = self._restrictions.get(node)
        return expr if expr is not None else FreeTable(self._connection, *node)

    def __getitem__(self, key):
        """The (restricted) table of a node: by class, table object, ``schema.table`` or class name."""
        node = self._resolve(key)
        if node not in self._show:
            raise DataJointError(f"Table {node_id(node)} is not in this diagram.")
        return self._table(node)

    def _resolve(self, key) -> Node:
        node = _table_node(key)
        if node is not None:
            return node
        if isinstance(key, tuple) and len(key) == 2:
            return key
        if isinstance(key, str):
            by_id = {node_id(n): n for n in self._show}
            if key in by_id:
                return by_id[key]
            ref = self._connection.backend.table_ref
            for n in self._show:
                if ref(*n) == key:
                    return n
            matches = [n for n in self._show if class_name_of(n[1]) == key or n[1] == key]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise DataJointError(f"{key!r} names several tables: {', '.join(node_id(n) for n in matches)}.",
                                     hint="Use schema.table_name.")
        raise DataJointError(f"Table {key!r} is not in this diagram.")

    def __iter__(self):
        """The shown tables (restricted in cascade/restrict/trace diagrams), parents first."""
        for node in self.nodes:
            yield self._table(node)

    def __reversed__(self):
        for node in reversed(self.nodes):
            yield self._table(node)

    def counts(self) -> dict[str, int]:
        """Rows per table: affected rows of a cascade/restrict/trace diagram, all rows otherwise.

        Keys are full table names, as in DataJoint. Nothing is modified; the counts
        are read in a bounded number of statements (see :mod:`.status`).
        """
        ref = self._connection.backend.table_ref
        return {ref(*node): n for node, n in self._node_counts().items()}

    def _node_counts(self) -> dict[Node, int]:
        """Counts read now (never cached: the data may change between two displays)."""
        nodes = self.nodes
        if self._mode:
            nodes = [n for n in nodes if n in self._restrictions]
            return dict(zip(nodes, count_expressions(self._connection, [self._table(n) for n in nodes])))
        counted = count_rows(self._connection, nodes)
        return {n: counted.get(n, 0) for n in nodes}

    def prune(self) -> "Diagram":
        """Leave out the tables with no (matching) rows."""
        if self._mode == "cascade":
            raise DataJointError("prune() cannot be used on a cascade diagram: a delete must visit every "
                                 "descendant, empty or not.")
        counts = self._node_counts()
        result = self._derived()
        result._show = {n for n in self._show if counts.get(n, 0) > 0}
        result._expanded &= result._show
        result._restrictions = {n: e for n, e in self._restrictions.items() if n in result._show}
        return result

    # ---- status overlay ---------------------------------------------------------------------------
    def _table_classes(self) -> dict[Node, type]:
        """User classes of the shown tables found in the source and the context (for custom key_source)."""
        if self._classes is not None:
            return self._classes
        found: dict[Node, type] = {}

        def visit(obj):
            if _is_table_class(obj) and getattr(obj, "database", None) and \
                    getattr(obj, "_connection", None) is self._connection:
                try:
                    found.setdefault((obj.database, obj.table_name), obj)
                except Exception:
                    return
                for member in vars(obj).values():
                    if _is_table_class(member) and member is not obj and getattr(member, "database", None) and \
                            getattr(member, "_connection", None) is self._connection:
                        found.setdefault((member.database, member.table_name), member)

        for source in getattr(self, "_sources", []):
            visit(source)
            if isinstance(source, types.ModuleType):
                for value in list(vars(source).values()):
                    visit(value)
        for name, value in list((self.context or {}).items()):
            if name.startswith("_"):
                continue
            visit(value)
            if isinstance(value, types.ModuleType) and _schema_of(value) is not None:
                for member in list(vars(value).values()):
                    visit(member)
        self._classes = found
        return found

    def status(self) -> dict[str, NodeStatus]:
        """Row counts, and for auto-populated tables done/total and job states, per ``schema.table``."""
        computed = compute_status(self._connection, self._graph, self._show, self._table_classes())
        return {node_id(n): s for n, s in computed.items()}

    def with_status(self) -> "Diagram":
        """A copy of this diagram whose drawing shows the status of every table (read now)."""
        result = Diagram(self)
        result._status = compute_status(self._connection, self._graph, self._show, self._table_classes())
        return result

    # ---- drawing ------------------------------------------------------------------------------------
    def model(self, theme: str | None = None):
        """The drawing model (nodes, edges, clusters) that the renderers turn into DOT and Mermaid."""
        from .render import build_model

        return build_model(self, theme)

    def make_dot(self, theme: str | None = None, direction: str | None = None):
        """The diagram as a ``graphviz.Digraph`` (DOT text in ``.source``; no Graphviz binary needed)."""
        from .render import make_dot

        return make_dot(self, theme=theme, direction=direction)

    def dot_source(self, theme: str | None = None, direction: str | None = None) -> str:
        return self.make_dot(theme, direction).source

    def make_mermaid(self, theme: str | None = None, direction: str | None = None) -> str:
        """The diagram as a Mermaid flowchart (GitHub, Markdown, mermaid.live)."""
        from .render import make_mermaid

        return make_mermaid(self, theme=theme, direction=direction)

    def svg_string(self, theme: str | None = None) -> str:
        """SVG text rendered by the Graphviz ``dot`` binary (raises if it is not installed)."""
        from .render import render_svg

        return render_svg(self, theme)

    def make_svg(self, theme: str | None = None):
        """An SVG object (``.data``; displays itself in a notebook)."""
        from .render import SVG

        return SVG(self.svg_string(theme))

    def make_png(self, theme: str | None = None):
        """PNG bytes in a ``BytesIO`` (needs the ``dot`` binary)."""
        import io

        from .render import render_png

        return io.BytesIO(render_png(self, theme))

    def make_image(self, theme: str | None = None):
        try:
            from matplotlib import pyplot as plt
        except ImportError:
            raise DataJointError("make_image needs matplotlib.", hint="pip install matplotlib") from None
        return plt.imread(self.make_png(theme))

    def draw(self, theme: str | None = None) -> None:
        """Show the diagram with matplotlib (or print its Mermaid text when Graphviz is missing)."""
        from .render import dot_available

        try:
            from matplotlib import pyplot as plt
        except ImportError:
            plt = None
        if plt is None or not dot_available():
            print(self.make_mermaid(theme))
            return
        plt.imshow(self.make_image(theme))
        plt.gca().axis("off")
        plt.show()

    def save(self, filename: str, format: str | None = None, theme: str | None = None) -> None:
        """Write ``.png``, ``.svg`` (need the binary), ``.dot``/``.gv`` or ``.mmd``/``.mermaid``."""
        from pathlib import Path

        if format is None:
            suffix = Path(filename).suffix.lower().lstrip(".")
            format = {"mmd": "mermaid", "gv": "dot"}.get(suffix, suffix)
        format = format.lower()
        if format == "png":
            Path(filename).write_bytes(self.make_png(theme).getvalue())
        elif format == "svg":
            Path(filename).write_text(self.svg_string(theme), encoding="utf-8")
        elif format in ("dot", "gv"):
            Path(filename).write_text(self.dot_source(theme), encoding="utf-8")
        elif format == "mermaid":
            Path(filename).write_text(self.make_mermaid(theme), encoding="utf-8")
        else:
            raise DataJointError(f"Cannot save a diagram as {format!r}.", hint="Use png, svg, dot or mermaid.")

    def _repr_mimebundle_(self, include=None, exclude=None):
        from .render import mimebundle

        return mimebundle(self)

    def _repr_svg_(self):
        from .render import dot_available

        if not dot_available():
            return None
        try:
            return self.svg_string()
        except Exception:
            return None


def _levels(arg) -> int:
    if isinstance(arg, bool) or not isinstance(arg, int):
        raise DataJointError(f"Diagram arithmetic takes a diagram, a table, a schema or a number of levels, "
                             f"not {type(arg).__name__}.")
    if arg < 0:
        raise DataJointError("The number of levels must not be negative.")
    return arg

