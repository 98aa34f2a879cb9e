"""Drawing a diagram: DataJoint's notation as DOT (graphviz package), SVG/PNG (``dot`` binary) and Mermaid.

Notation (the DataJoint paper's):

* Manual tables: green rectangles; Lookup: gray rectangles; Imported: blue
  ellipses; Computed: red ellipses; Part tables: plain text, enclosed with
  their master in a shaded group.
* Solid edges are identity inheritance (the foreign key is in the child's
  primary key), dashed edges are references without identity; thick edges are
  one-to-one (the foreign key is the child's whole primary key).
* Tables that add primary-key attributes of their own (a new dimension) have
  underlined names.
* A renamed foreign key carries its renames on the edge (``child ← parent``)
  and is drawn in amber.
* Layout flows from sources to computed tables (``display.diagram_direction``).

Every node has the stable id ``schema.table_name`` (``id``, ``URL="#schema.table_name"``
and a ``class``) so a browser widget can map clicks back to tables; all styles are
node/edge attributes, so the DOT is self-contained for a WebAssembly Graphviz.
"""

from __future__ import annotations

import functools
import html
import re
import shutil
import subprocess
from dataclasses import dataclass, field

import graphviz

from ..errors import DataJointError
from .graph import Node, class_name_of, master_of, node_id, tier_of
from .status import NodeStatus

FONT = "Helvetica"
TIERS = ("manual", "lookup", "imported", "computed", "part")

# Shapes follow the paper; colours change with the theme. Every light colour maps to exactly one
# dark colour, which lets an "auto" SVG switch to dark colours with attribute selectors alone.
SHAPES = {
    "manual": dict(shape="box", style="filled"),
    "lookup": dict(shape="box", style="filled"),
    "imported": dict(shape="ellipse", style="filled"),
    "computed": dict(shape="ellipse", style="filled"),
    "part": dict(shape="plaintext", style=""),
    "collapsed": dict(shape="box3d", style="filled"),
}

THEMES = {
    "light": {
        "bg": "#ffffff",
        "manual": ("#e3f1e6", "#3e7a52", "#1f4d2e"),  # (fill, stroke, text)
        "lookup": ("#ebebec", "#85878a", "#46484b"),
        "imported": ("#ddeffb", "#1f8fd1", "#0b4a70"),
        "computed": ("#fce4dd", "#d9482b", "#7f230f"),
        "part": ("none", "none", "#55585c"),
        "collapsed": ("#eeeff1", "#7d858f", "#3a3d42"),
        "edge": "#2b3142",
        "edge_renamed": "#c77d3a",
        "cluster": ("#8a90a0", "#3b4150"),  # (frame, label)
        "entity_fill": "#f2f4f7",
        "status_done": "#2e7d32",
        "status_pending": "#8a6d00",
        "status_reserved": "#1565c0",
        "status_error": "#c62828",
    },
    "dark": {
        "bg": "#161a21",
        "manual": ("#16281f", "#6bbf94", "#bce6cf"),
        "lookup": ("#242832", "#9da0a4", "#c9cfd9"),
        "imported": ("#0f2433", "#33b8e8", "#bee7f9"),
        "computed": ("#331b12", "#ff7a47", "#ffc7ae"),
        "part": ("none", "none", "#c8ced8"),
        "collapsed": ("#242730", "#8890a0", "#c7cdd6"),
        "edge": "#aeb6c2",
        "edge_renamed": "#e09a58",
        "cluster": ("#606875", "#8a93a1"),
        "entity_fill": "#1f242d",
        "status_done": "#81c784",
        "status_pending": "#e0c060",
        "status_reserved": "#64b5f6",
        "status_error": "#ef7070",
    },
}

NO_DOT_MESSAGE = ("The Graphviz `dot` program is not installed, so this diagram is shown as Mermaid text "
                  "(GitHub and JupyterLab render it; or paste it into https://mermaid.live). "
                  "Install Graphviz for SVG/PNG (`apt install graphviz`, `conda install graphviz`).")


def resolve_theme(theme: str | None, settings) -> tuple[str, dict]:
    """(requested name, colours): ``auto`` draws light colours (an SVG then adapts to dark mode)."""
    name = theme or settings["display.diagram_theme"] or "auto"
    if name not in ("light", "dark", "auto"):
        raise DataJointError(f"Unknown diagram theme {name!r}.", hint="Use 'light', 'dark' or 'auto'.")
    return name, THEMES["dark" if name == "dark" else "light"]


def resolve_direction(direction: str | None, settings) -> str:
    direction = direction or settings["display.diagram_direction"] or "LR"
    if direction not in ("LR", "TB", "RL", "BT"):
        raise DataJointError(f"Unknown diagram direction {direction!r}.", hint="Use 'LR' or 'TB'.")
    return direction


# ------------------------------------------------------------------------------------------------
# the drawing model
# ------------------------------------------------------------------------------------------------
@dataclass
class NodeSpec:
    id: str
    label: str  # what the node shows: class name, or the part's own name inside its master's group
    tier: str  # manual, lookup, imported, computed, part or collapsed
    schema: str
    table: str | None = None
    class_name: str | None = None
    master: str | None = None  # id of the master drawn in the same group (parts)
    underline: bool = False
    primary_key: tuple[str, ...] = ()
    status: NodeStatus | None = None
    affected: int | None = None  # rows of a cascade/restrict/trace diagram
    mode: str | None = None
    table_count: int = 0  # collapsed nodes

    def status_lines(self) -> list[tuple[str, str]]:
        """(text, colour role) lines shown under the name."""
        lines = []
        if self.affected is not None:
            verb = "to delete" if self.mode == "cascade" else "selected"
            noun = "row" if self.affected == 1 else "rows"
            lines.append((f"{self.affected:,} {noun} {verb}", "status_error" if self.mode == "cascade" and self.affected
                          else "text"))
        status = self.status
        if status is None:
            return lines
        if status.total is not None:
            lines.append((f"{status.done:,}/{status.total:,} done",
                          "status_done" if status.done == status.total else "text"))
        elif status.rows is not None:
            lines.append((f"{status.rows:,} row{'' if status.rows == 1 else 's'}", "text"))
        states = [(status.pending, "pending", "status_pending"), (status.reserved, "reserved", "status_reserved"),
                  (status.error, "errors" if status.error != 1 else "error", "status_error")]
        parts = [(f"{count:,} {word}", role) for count, word, role in states if count]
        lines.extend(parts)
        return lines

    def tooltip(self) -> str:
        if self.tier == "collapsed":
            return f"schema {self.schema}: {self.table_count} tables"
        text = f"{self.id} ({self.tier})"
        if self.primary_key:
            text += "\nprimary key: " + ", ".join(self.primary_key)
        status = self.status
        if status is not None:
            if status.rows is not None:
                text += f"\nrows: {status.rows:,}"
            if status.total is not None:
                text += f"\npopulated: {status.done:,} of {status.total:,}"
            jobs = ", ".join(f"{getattr(status, s)} {s}" for s in ("pending", "reserved", "error", "ignore")
                             if getattr(status, s))
            if jobs:
                text += f"\njobs: {jobs}"
        if self.affected is not None:
            text += f"\nrows {'to delete' if self.mode == 'cascade' else 'selected'}: {self.affected:,}"
        return text


@dataclass
class EdgeSpec:
    id: str
    parent: str
    child: str
    primary: bool = True
    multi: bool = True
    renames: tuple[tuple[str, str], ...] = ()
    bundle: bool = False  # stands for several foreign keys (an end is a collapsed schema)

    @property
    def rename_text(self) -> str:
        return "\n".join(f"{child} \u2190 {parent}" for child, parent in self.renames)


@dataclass
class Model:
    nodes: list[NodeSpec]
    edges: list[EdgeSpec]
    schemas: dict[str, list[str]] = field(default_factory=dict)  # schema -> node ids (top level)
    groups: dict[str, list[str]] = field(default_factory=dict)  # master id -> part ids
    theme_name: str = "light"
    theme: dict = field(default_factory=dict)


def build_model(diagram, theme: str | None = None) -> Model:
    theme_name, colours = resolve_theme(theme, diagram.connection.config)
    graph = diagram.graph
    shown = diagram.nodes
    shown_set = set(shown)
    collapsed = diagram.collapsed
    status = diagram._status or {}
    affected = {}
    if diagram._mode:
        try:
            affected = diagram._node_counts()
        except Exception:  # drawing never fails because a count could not be read
            affected = {}
    collapsed_count: dict[str, int] = {}
    for node in shown:
        if node in collapsed:
            collapsed_count[node[0]] = collapsed_count.get(node[0], 0) + 1

    def endpoint(node: Node) -> str:
        return node[0] if node in collapsed else node_id(node)

    nodes: list[NodeSpec] = []
    schemas: dict[str, list[str]] = {}
    groups: dict[str, list[str]] = {}
    placed_collapsed = set()
    for node in shown:
        schema, table = node
        if node in collapsed:
            if schema not in placed_collapsed:
                placed_collapsed.add(schema)
                nodes.append(NodeSpec(schema, schema, "collapsed", schema, table_count=collapsed_count[schema]))
                schemas.setdefault(schema, []).append(schema)
            continue
        tier = tier_of(table)
        class_name = class_name_of(table)
        master = master_of(table) if tier == "part" else None
        master_node = (schema, master) if master else None
        grouped = master_node is not None and master_node in shown_set and master_node not in collapsed
        spec = NodeSpec(node_id(node), class_name.rsplit(".", 1)[-1] if grouped else class_name, tier, schema,
                        table=table, class_name=class_name, master=node_id(master_node) if grouped else None,
                        underline=graph.introduces_dimension(node), primary_key=graph.primary_keys.get(node, ()),
                        status=status.get(node), affected=affected.get(node), mode=diagram._mode)
        nodes.append(spec)
        if grouped:
            groups.setdefault(spec.master, []).append(spec.id)
        else:
            schemas.setdefault(schema, []).append(spec.id)

    edges: list[EdgeSpec] = []
    bundles = set()
    seen_ids: dict[str, int] = {}
    for node in shown:
        for link in graph.parents.get(node, ()):
            if link.parent not in shown_set:
                continue
            parent, child = endpoint(link.parent), endpoint(link.child)
            if parent == child:
                continue
            if link.parent in collapsed or link.child in collapsed:
                if (parent, child) in bundles:
                    continue
                bundles.add((parent, child))
                both = link.parent in collapsed and link.child in collapsed
                edges.append(EdgeSpec(f"{parent}->{child}", parent, child, primary=both or link.primary,
                                      multi=True if both else link.multi, renames=() if both else link.renames,
                                      bundle=both))
                continue
            base = f"{parent}->{child}"
            count = seen_ids.get(base, 0)
            seen_ids[base] = count + 1
            edges.append(EdgeSpec(base if not count else f"{base}#{count}", parent, child, link.primary, link.multi,
                                  link.renames))
    return Model(nodes, edges, schemas, groups, theme_name, colours)


# ------------------------------------------------------------------------------------------------
# DOT
# ------------------------------------------------------------------------------------------------
class DotGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` with pydot's ``to_string``/``create_svg``/``create_png`` for DataJoint code."""

    def to_string(self) -> str:
        return self.source

    def create(self, format: str = "svg", prog: str = "dot") -> bytes:
        _require_dot()
        return graphviz.Source(self.source).pipe(format=format, engine=prog)

    def create_svg(self) -> bytes:
        return self.create("svg")

    def create_png(self) -> bytes:
        return self.create("png")


def _html_label(spec: NodeSpec, colours: dict) -> str:
    name = html.escape(spec.label)
    if spec.underline:
        name = f"<u>{name}</u>"
    lines = spec.status_lines()
    if not lines:
        return f"<{name}>"
    text_colour = _colours(spec.tier, colours)[2]
    rendered = [name]
    for text, role in lines:
        colour = text_colour if role == "text" else colours[role]
        rendered.append(f'<font point-size="9" color="{colour}">{html.escape(text)}</font>')
    return "<" + "<br/>".join(rendered) + ">"


def _colours(tier: str, colours: dict) -> tuple[str, str, str]:
    return colours.get(tier, colours["lookup"])


def _node_attributes(spec: NodeSpec, colours: dict) -> dict:
    fill, stroke, text = _colours(spec.tier, colours)
    attributes = {"id": spec.id, "URL": f"#{spec.id}", "tooltip": spec.tooltip(), "class": f"dj-node dj-{spec.tier}",
                  "fontcolor": text}
    shape = SHAPES[spec.tier]
    attributes["shape"] = shape["shape"]
    if spec.tier == "collapsed":
        attributes.update(label=f"{spec.schema}\n({spec.table_count} table{'s' if spec.table_count != 1 else ''})",
                          style=shape["style"], fillcolor=fill, color=stroke, fontsize="11")
        return attributes
    if spec.underline or spec.status_lines():
        attributes["label"] = _html_label(spec, colours)
    else:
        attributes["label"] = spec.label
    if spec.tier == "part":
        attributes.update(fontsize="9", height="0.2", margin="0.02,0.01")
    else:
        attributes.update(style=shape["style"], fillcolor=fill, color=stroke, fontsize="11", height="0.3",
                          margin="0.08,0.04")
    return attributes


def _edge_attributes(edge: EdgeSpec, colours: dict) -> dict:
    attributes = {"id": edge.id, "class": "dj-edge"}
    if edge.bundle:
        attributes.update(style="solid", penwidth="1.5", color=colours["edge"], weight="2")
        attributes["class"] = "dj-edge dj-bundle"
        return attributes
    attributes["style"] = "solid" if edge.primary else "dashed"
    attributes["penwidth"] = "0.75" if edge.multi else "2"
    attributes["weight"] = "1" if edge.multi else "3"
    if edge.renames:
        text = edge.rename_text
        attributes.update(color=colours["edge_renamed"], label=text, fontsize="8", fontname=FONT,
                          fontcolor=colours["edge_renamed"], tooltip=text)
        attributes["class"] = "dj-edge dj-renamed"
    else:
        attributes["color"] = colours["edge"]
    return attributes


def make_dot(diagram, theme: str | None = None, direction: str | None = None) -> DotGraph:
    """The diagram as DOT: ``make_dot(d).source``."""
    model = build_model(diagram, theme)
    return model_to_dot(model, resolve_direction(direction, diagram.connection.config))


_quote = functools.lru_cache(maxsize=16384)(graphviz.quoting.quote)


def _attr_list(attributes: dict) -> str:
    return " [" + " ".join(f"{_quote(key)}={_quote(str(value))}" for key, value in attributes.items()) + "]"


def model_to_dot(model: Model, direction: str = "LR") -> DotGraph:
    """DOT of a drawing model. Lines are written with the graphviz package's quoting (cached: a few
    hundred tables take milliseconds) into the body of a ``graphviz.Digraph``."""
    colours = model.theme
    dot = DotGraph(name="dj_diagram", graph_attr={
        "rankdir": direction, "bgcolor": colours["bg"], "fontname": FONT, "nodesep": "0.25", "ranksep": "0.45",
        "id": "dj_diagram"}, node_attr={"fontname": FONT}, edge_attr={"arrowhead": "none"})
    body = dot.body
    by_id = {spec.id: spec for spec in model.nodes}
    frame, label_colour = colours["cluster"]

    def node_line(spec: NodeSpec, indent: str) -> str:
        return f"{indent}{_quote(spec.id)}{_attr_list(_node_attributes(spec, colours))}\n"

    for schema, members in model.schemas.items():
        body.append(f"\tsubgraph {_quote('cluster_' + schema)} {{\n")
        body.append("\t\tgraph" + _attr_list(dict(label=schema, id=f"schema:{schema}", style="rounded,dashed",
                                                    color=frame, fontcolor=label_colour, fontname=FONT,
                                                    fontsize="10", labeljust="l")) + "\n")
        for member in members:
            spec = by_id[member]
            parts = model.groups.get(member)
            if parts:
                body.append(f"\t\tsubgraph {_quote('cluster_' + member)} {{\n")
                body.append("\t\t\tgraph" + _attr_list(dict(label="", id=f"group:{member}", style="rounded,filled",
                                                            color=colours["entity_fill"],
                                                            fillcolor=colours["entity_fill"])) + "\n")
                body.append(node_line(spec, "\t\t\t"))
                for part in parts:
                    body.append(node_line(by_id[part], "\t\t\t"))
                body.append("\t\t}\n")
            else:
                body.append(node_line(spec, "\t\t"))
        body.append("\t}\n")
    for edge in model.edges:
        body.append(f"\t{_quote(edge.parent)} -> {_quote(edge.child)}{_attr_list(_edge_attributes(edge, colours))}\n")
    return dot


# ------------------------------------------------------------------------------------------------
# Mermaid
# ------------------------------------------------------------------------------------------------
def mermaid_id(identifier: str) -> str:
    """A Mermaid-safe node id: ``lab.#method`` -> ``lab_D_Lmethod`` (table names are lower case)."""
    out = []
    for ch in identifier:
        if ch.isalnum() and ch.isascii() or ch == "_":
            out.append(ch)
        elif ch == ".":
            out.append("_D_")
        elif ch == "#":
            out.append("L")
        elif ch == "~":
            out.append("H")
        else:
            out.append(f"X{ord(ch):x}X")
    return "n_" + "".join(out)


def _mermaid_text(text: str) -> str:
    return html.escape(text, quote=False).replace('"', "#quot;")


def make_mermaid(diagram, theme: str | None = None, direction: str | None = None) -> str:
    model = build_model(diagram, theme)
    return model_to_mermaid(model, resolve_direction(direction, diagram.connection.config))


def model_to_mermaid(model: Model, direction: str = "LR") -> str:
    colours = model.theme
    lines = [f"flowchart {direction}"]
    for tier in (*TIERS, "collapsed"):
        fill, stroke, text = _colours(tier, colours)
        if tier == "part":
            lines.append(f"    classDef part fill:none,stroke:none,color:{text},font-size:11px")
        else:
            lines.append(f"    classDef {tier} fill:{fill},stroke:{stroke},color:{text}")
    by_id = {spec.id: spec for spec in model.nodes}
    shapes = {"manual": ('["', '"]'), "lookup": ('["', '"]'), "part": ('["', '"]'), "imported": ('(["', '"])'),
              "computed": ('(["', '"])'), "collapsed": ('[["', '"]]')}

    def node_line(spec: NodeSpec, indent: str) -> str:
        if spec.tier == "collapsed":
            label = f"{_mermaid_text(spec.schema)}<br/>({spec.table_count} tables)"
        else:
            label = _mermaid_text(spec.label)
            if spec.underline:
                label = f"<u>{label}</u>"
            for text, _ in spec.status_lines():
                label += f"<br/><small>{_mermaid_text(text)}</small>"
        left, right = shapes[spec.tier]
        return f"{indent}{mermaid_id(spec.id)}{left}{label}{right}:::{spec.tier}"

    for schema, members in model.schemas.items():
        lines.append(f'    subgraph {mermaid_id("schema." + schema)}["{_mermaid_text(schema)}"]')
        for member in members:
            spec = by_id[member]
            parts = model.groups.get(member)
            if parts:
                lines.append(f'        subgraph {mermaid_id("group." + member)}[" "]')
                lines.append(node_line(spec, "            "))
                for part in parts:
                    lines.append(node_line(by_id[part], "            "))
                lines.append("        end")
            else:
                lines.append(node_line(spec, "        "))
        lines.append("    end")
    styles = []
    for index, edge in enumerate(model.edges):
        link = "---" if edge.primary or edge.bundle else "-.-"
        if not edge.multi and edge.primary and not edge.bundle:
            link = "==="
        text = f'|"{_mermaid_text(edge.rename_text).replace(chr(10), "<br/>")}"|' if edge.renames else ""
        lines.append(f"    {mermaid_id(edge.parent)} {link}{text} {mermaid_id(edge.child)}")
        colour = colours["edge_renamed"] if edge.renames else colours["edge"]
        styles.append(f"    linkStyle {index} stroke:{colour}")
    lines.extend(styles)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# SVG / PNG through the binary, and the notebook bundle
# ------------------------------------------------------------------------------------------------
def dot_available() -> bool:
    """True when the Graphviz ``dot`` program is on PATH."""
    return shutil.which("dot") is not None


def _require_dot() -> None:
    if not dot_available():
        raise DataJointError("The Graphviz `dot` program is not installed, so SVG and PNG cannot be made.",
                             hint="Install Graphviz (apt install graphviz / conda install graphviz), or use "
                                  "make_dot().source or make_mermaid(), which need no binary.")


def _pipe(source: str, format: str) -> bytes:
    _require_dot()
    try:
        return graphviz.Source(source).pipe(format=format, engine="dot")
    except graphviz.ExecutableNotFound:
        _require_dot()
        raise DataJointError("The Graphviz `dot` program could not be started.") from None
    except (graphviz.CalledProcessError, subprocess.SubprocessError, OSError) as error:
        raise DataJointError(f"Graphviz could not lay out the diagram: {error}") from None


def adaptive_style() -> str:
    """A ``<style>`` block that turns a light SVG dark when the viewer prefers dark mode."""
    light, dark = THEMES["light"], THEMES["dark"]
    mapping = colour_mapping()
    rules = [f"svg {{ background-color: {dark['bg']}; }}"]
    for attribute in ("fill", "stroke"):
        for source, target in mapping.items():
            rules.append(f'[{attribute}="{source}"] {{ {attribute}: {target}; }}')
    del light
    body = "\n".join("  " + rule for rule in rules)
    return "<style>\n@media (prefers-color-scheme: dark) {\n" + body + "\n}\n</style>"


def colour_mapping() -> dict[str, str]:
    """light colour -> dark colour, for every colour a light drawing uses."""
    mapping: dict[str, str] = {}
    light, dark = THEMES["light"], THEMES["dark"]
    for key, value in light.items():
        values = value if isinstance(value, tuple) else (value,)
        others = dark[key] if isinstance(dark[key], tuple) else (dark[key],)
        for a, b in zip(values, others):
            if a == "none":
                continue
            mapping[a] = b
    return mapping


def _clean_svg(svg: str, theme_name: str) -> str:
    start = svg.find("<svg")
    svg = svg[start:] if start >= 0 else svg
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)
    if theme_name == "auto":
        insert_at = svg.find(">") + 1
        svg = svg[:insert_at] + "\n" + adaptive_style() + svg[insert_at:]
    return svg


def render_svg(diagram, theme: str | None = None, direction: str | None = None) -> str:
    theme_name, _ = resolve_theme(theme, diagram.connection.config)
    _require_dot()
    source = make_dot(diagram, theme, direction).source
    return _clean_svg(_pipe(source, "svg").decode("utf-8"), theme_name)


def render_png(diagram, theme: str | None = None, direction: str | None = None, dpi: int | None = None) -> bytes:
    _require_dot()
    dot = make_dot(diagram, theme, direction)
    if dpi:
        dot.graph_attr["dpi"] = str(dpi)
    return _pipe(dot.source, "png")


class SVG:
    """SVG text that displays itself in a notebook (``.data`` like IPython's SVG)."""

    def __init__(self, data: str):
        self.data = data

    def _repr_svg_(self) -> str:
        return self.data

    def __str__(self) -> str:
        return self.data


def mimebundle(diagram) -> dict:
    """SVG when ``dot`` is installed; otherwise a short message and the Mermaid text. Never raises."""
    try:
        plain = repr(diagram)
    except Exception:
        plain = "Diagram"
    try:
        message = NO_DOT_MESSAGE
        if dot_available():
            try:
                return {"image/svg+xml": render_svg(diagram), "text/plain": plain}
            except Exception as error:  # fall back to Mermaid below
                message = f"Graphviz could not draw this diagram ({error}); it is shown as Mermaid text."
        mermaid = make_mermaid(diagram)
        return {"text/markdown": f"{message}\n\n```mermaid\n{mermaid}```\n",
                "text/plain": f"{plain}\n{message}\n\n{mermaid}"}
    except Exception as error:  # the display of a diagram must never raise
        return {"text/plain": f"{plain} (cannot be drawn: {type(error).__name__}: {error})"}
