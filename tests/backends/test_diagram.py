"""Schema diagrams: DataJoint's notation in the DOT, the diagram algebra, collapse, cascade previews,
the status overlay, and drawing without the Graphviz binary.

The DOT is parsed back (tests/backends/dot_parser.py) and every notation rule is
asserted on its structure, never compared with a stored SVG.
"""

from __future__ import annotations

import os
import shutil

import pytest

import dj_jupyter as dj
from dj_jupyter.diagram import render
from dj_jupyter.diagram.render import THEMES
from dj_jupyter.table import FreeTable
from tests.backends.dot_parser import parse_dot

LIGHT = THEMES["light"]


# ------------------------------------------------------------------------------------------------
# pipelines
# ------------------------------------------------------------------------------------------------
def notation_pipeline(make_schema):
    """Every tier, a part per master, primary and secondary, renamed and plain foreign keys, two schemas."""
    lab = make_schema()
    ana = make_schema()

    @lab
    class Method(dj.Lookup):
        definition = """
        method : varchar(8)
        """
        contents = [("a",), ("b",)]

    @lab
    class Experimenter(dj.Lookup):
        definition = """
        experimenter : varchar(16)
        """
        contents = [("ana",), ("bo",)]

    @lab
    class Subject(dj.Manual):
        definition = """
        subject_id : int32
        ---
        name : varchar(16)
        """

    @lab
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        -> [nullable] Method
        -> Experimenter.proj(reviewer='experimenter')
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int16
            ---
            value : float64
            """

    @lab
    class Pair(dj.Manual):
        definition = """
        -> Subject.proj(first='subject_id')
        -> Subject.proj(second='subject_id')
        """

    @ana
    class Recording(dj.Imported):
        definition = """
        -> Session
        ---
        duration : float64
        """

        def make(self, key):
            self.insert1({**key, "duration": float(key["session"] + 1)})

    @ana
    class Analysis(dj.Computed):
        definition = """
        -> Recording
        -> Method
        ---
        score : float64
        """

        class Result(dj.Part):
            definition = """
            -> master
            -> Session.Trial
            ---
            result : float64
            """

        def make(self, key):
            self.insert1({**key, "score": 1.0})
            trials = (Session.Trial & key).keys()
            self.Result.insert([{**key, **trial, "result": 2.0} for trial in trials])

    return lab, ana, dict(Method=Method, Experimenter=Experimenter, Subject=Subject, Session=Session, Pair=Pair,
                          Recording=Recording, Analysis=Analysis)


def fill(t):
    t["Subject"].insert([(i, f"s{i}") for i in (1, 2, 3)])
    t["Session"].insert([{"subject_id": i, "session": s, "method": "a" if s else None, "reviewer": "ana"}
                         for i in (1, 2, 3) for s in (0, 1)])
    t["Session"].Trial.insert([(i, s, k, 0.5) for i in (1, 2, 3) for s in (0, 1) for k in (0, 1, 2)])
    t["Pair"].insert([(1, 2), (2, 3), (3, 1)])


def ids(lab, ana):
    a, b = lab.database, ana.database
    return {
        "method": f"{a}.#method", "experimenter": f"{a}.#experimenter", "subject": f"{a}.subject",
        "session": f"{a}.session", "trial": f"{a}.session__trial", "pair": f"{a}.pair",
        "recording": f"{b}._recording", "analysis": f"{b}.__analysis", "result": f"{b}.__analysis__result",
    }


def edges_between(graph, tail, head):
    return [attrs for t, h, attrs in graph.all_edges() if t == tail and h == head]


def is_underlined(attrs) -> bool:
    return "<u>" in attrs.get("label", "")


# ------------------------------------------------------------------------------------------------
# notation
# ------------------------------------------------------------------------------------------------
def test_dot_encodes_datajoint_notation(make_schema):
    lab, ana, t = notation_pipeline(make_schema)
    n = ids(lab, ana)
    diagram = dj.Diagram(lab) + dj.Diagram(ana)
    with dj.config.override(display__diagram_direction="LR"):
        source = diagram.make_dot(theme="light").source
    graph = parse_dot(source)
    nodes = graph.all_nodes()
    assert set(nodes) == set(n.values())
    assert graph.attrs["rankdir"] == "LR"  # flows from sources to computed tables

    # stable ids for clicks, and self-contained styles
    for node_id, attrs in nodes.items():
        assert attrs["id"] == node_id
        assert attrs["URL"] == "#" + node_id
        assert "dj-node" in attrs["class"]
        assert "fontcolor" in attrs and "shape" in attrs
    assert "stylesheet" not in graph.attrs

    # tiers: shapes and colours
    def tier(name, shape, colours):
        attrs = nodes[n[name]]
        assert attrs["shape"] == shape, name
        fill, stroke, text = colours
        assert attrs["fillcolor"] == fill and attrs["color"] == stroke and attrs["fontcolor"] == text, name
        assert "filled" in attrs["style"]

    tier("subject", "box", LIGHT["manual"])
    tier("session", "box", LIGHT["manual"])
    tier("pair", "box", LIGHT["manual"])
    tier("method", "box", LIGHT["lookup"])
    tier("experimenter", "box", LIGHT["lookup"])
    tier("recording", "ellipse", LIGHT["imported"])
    tier("analysis", "ellipse", LIGHT["computed"])
    assert LIGHT["manual"][0] != LIGHT["lookup"][0] != LIGHT["imported"][0] != LIGHT["computed"][0]

    # parts: plain text, in a group with their master, labelled with their own name
    for part, master, label in (("trial", "session", "Trial"), ("result", "analysis", "Result")):
        attrs = nodes[n[part]]
        assert attrs["shape"] == "plaintext"
        assert "fillcolor" not in attrs
        assert label in attrs["label"] and "." not in attrs["label"].replace("<u>", "").replace("</u>", "")
        group = graph.containing(n[part])[-1]
        assert group.name.startswith("cluster_") and n[master] in group.nodes
        assert group is graph.containing(n[master])[-1]

    # schema clusters hold the schema's tables
    for schema in (lab.database, ana.database):
        cluster = graph.subgraph(f"cluster_{schema}")
        assert cluster.attrs["label"] == schema
        inside = {name for sub in cluster.walk() for name in sub.nodes}
        assert inside == {v for v in n.values() if v.startswith(schema + ".")}

    # underlined: tables that add primary-key attributes of their own
    underlined = {name for name in n if is_underlined(nodes[n[name]])}
    assert underlined == {"method", "experimenter", "subject", "session", "trial"}

    # solid = identity inheritance, dashed = reference without identity
    def edge(tail, head, count=1):
        found = edges_between(graph, n[tail], n[head])
        assert len(found) == count, (tail, head, found)
        return found

    for tail, head in (("subject", "session"), ("session", "trial"), ("session", "recording"),
                       ("recording", "analysis"), ("method", "analysis"), ("analysis", "result"),
                       ("trial", "result")):
        (attrs,) = edge(tail, head)
        assert attrs["style"] == "solid", (tail, head)
        assert "label" not in attrs
        assert attrs["color"] == LIGHT["edge"]
    for tail, head in (("method", "session"), ("experimenter", "session")):
        (attrs,) = edge(tail, head)
        assert attrs["style"] == "dashed", (tail, head)

    # one-to-one is thick, one-to-many thin
    assert float(edge("session", "recording")[0]["penwidth"]) > float(edge("subject", "session")[0]["penwidth"])

    # renamed foreign keys carry their renames on the edge
    (reviewer,) = edge("experimenter", "session")
    assert reviewer["label"] == "reviewer \u2190 experimenter"
    assert reviewer["color"] == LIGHT["edge_renamed"]
    pair_edges = edge("subject", "pair", count=2)
    assert sorted(e["label"] for e in pair_edges) == ["first \u2190 subject_id", "second \u2190 subject_id"]
    assert all(e["style"] == "solid" for e in pair_edges)
    edge_ids = [attrs["id"] for _, _, attrs in graph.all_edges()]
    assert len(edge_ids) == len(set(edge_ids))

    # the Mermaid twin uses the same notation
    mermaid = diagram.make_mermaid(theme="light")
    assert mermaid.startswith("flowchart LR")
    assert ":::manual" in mermaid and ":::lookup" in mermaid and ":::part" in mermaid
    assert '(["' in mermaid and ":::computed" in mermaid and ":::imported" in mermaid
    assert "-.-" in mermaid and "reviewer \u2190 experimenter" in mermaid and "<u>Subject</u>" in mermaid


def test_direction_and_themes(make_schema):
    lab, ana, _ = notation_pipeline(make_schema)
    diagram = dj.Diagram(lab)
    with dj.config.override(display__diagram_direction="TB"):
        assert parse_dot(diagram.make_dot().source).attrs["rankdir"] == "TB"
        assert diagram.make_mermaid().startswith("flowchart TB")
    dark = parse_dot(diagram.make_dot(theme="dark").source)
    assert dark.attrs["bgcolor"] == THEMES["dark"]["bg"]
    subject = dark.all_nodes()[f"{lab.database}.subject"]
    assert subject["fillcolor"] == THEMES["dark"]["manual"][0]
    assert subject["fontcolor"] == THEMES["dark"]["manual"][2]
    with pytest.raises(dj.DataJointError):
        diagram.make_dot(theme="sepia")
    # an "auto" SVG switches colours with the viewer: every light colour has one dark counterpart
    pairs = {}
    for key, value in THEMES["light"].items():
        light = value if isinstance(value, tuple) else (value,)
        dark_value = THEMES["dark"][key] if isinstance(THEMES["dark"][key], tuple) else (THEMES["dark"][key],)
        for a, b in zip(light, dark_value):
            if a != "none":
                assert pairs.setdefault(a, b) == b, f"{a} maps to two dark colours"
    style = render.adaptive_style()
    assert "prefers-color-scheme: dark" in style and f'[fill="{LIGHT["manual"][0]}"]' in style


# ------------------------------------------------------------------------------------------------
# algebra
# ------------------------------------------------------------------------------------------------
def four_schemas(make_schema):
    """s1: A -> B;  s2: B -> C, D (lookup);  s3: C, D -> E -> F;  s4: F -> G, A -> H."""
    s1, s2, s3, s4 = (make_schema() for _ in range(4))

    @s1
    class A(dj.Manual):
        definition = """
        a : int32
        """

    @s1
    class B(dj.Manual):
        definition = """
        -> A
        b : int32
        """

    @s2
    class C(dj.Manual):
        definition = """
        -> B
        c : int32
        """

    @s2
    class D(dj.Lookup):
        definition = """
        d : int32
        """

    @s3
    class E(dj.Computed):
        definition = """
        -> C
        -> D
        """

        class Part(dj.Part):
            definition = """
            -> master
            p : int32
            """

    @s3
    class F(dj.Computed):
        definition = """
        -> E
        """

    @s4
    class G(dj.Computed):
        definition = """
        -> F
        """

    @s4
    class H(dj.Manual):
        definition = """
        -> A
        h : int32
        """

    tables = dict(A=A, B=B, C=C, D=D, E=E, EP=E.Part, F=F, G=G, H=H)
    names = {k: f"{v.database}.{v.table_name}" for k, v in tables.items()}
    return (s1, s2, s3, s4), tables, names


def test_diagram_algebra_over_four_schemas(make_schema):
    (s1, s2, s3, s4), t, n = four_schemas(make_schema)

    def names(diagram):
        inverse = {v: k for k, v in n.items()}
        assert all(table in inverse for table in diagram.tables), diagram.tables
        return {inverse[table] for table in diagram.tables}

    assert names(dj.Diagram(s1)) == {"A", "B"}
    assert names(dj.Diagram(s3)) == {"E", "EP", "F"}
    assert names(dj.Diagram(s1) + dj.Diagram(s2)) == {"A", "B", "C", "D"}
    everything = dj.Diagram(s1) + dj.Diagram(s2) + dj.Diagram(s3) + dj.Diagram(s4)
    assert names(everything) == set(n)
    assert names(everything - dj.Diagram(s3)) == {"A", "B", "C", "D", "G", "H"}
    assert names(everything - t["E"]) == set(n) - {"E"}
    assert names((dj.Diagram(s1) + 1) * dj.Diagram(s2)) == {"C"}
    assert names(everything * dj.Diagram(s4)) == {"G", "H"}

    # levels of descendants (+n) and ancestors (-n), across schemas
    assert names(dj.Diagram(t["E"]) + 1) == {"E", "EP", "F"}
    assert names(dj.Diagram(t["E"]) - 1) == {"E", "C", "D"}
    assert names(dj.Diagram(t["E"]) - 2) == {"E", "C", "D", "B"}
    assert names(dj.Diagram(t["E"]) + 1 - 1) == {"E", "EP", "F", "C", "D"}
    assert names(dj.Diagram(t["E"]) - 1 + 1) == {"E", "EP", "F", "C", "D"}
    assert names(dj.Diagram(t["A"]) + 100) == {"A", "B", "C", "E", "EP", "F", "G", "H"}
    assert names(dj.Diagram(t["G"]) - 100) == {"G", "F", "E", "C", "D", "B", "A"}
    assert names(dj.Diagram(t["B"]) + 0) == {"B"}

    # tables, schemas, sequences and modules as operands
    assert names(dj.Diagram(t["A"]) + t["H"]) == {"A", "H"}
    assert names(dj.Diagram(t["A"]) + s2) == {"A", "C", "D"}
    assert names(dj.Diagram([s1, s4])) == {"A", "B", "G", "H"}
    assert names(dj.Diagram.from_sequence([t["A"], t["D"], s4])) == {"A", "D", "G", "H"}
    module = dj.VirtualModule("s3_module", s3.database, connection=s3.connection)
    assert names(dj.Diagram(module)) == {"E", "EP", "F"}
    assert names(dj.Diagram(t["E"]).add_parts()) == {"E", "EP"}
    assert names(dj.Diagram(t["E"].Part)) == {"EP"}

    # operators return new diagrams; order is topological
    base = dj.Diagram(s1)
    _ = base + 2
    assert names(base) == {"A", "B"}
    order = everything.tables
    for parent, child in (("A", "B"), ("B", "C"), ("C", "E"), ("D", "E"), ("E", "F"), ("F", "G"), ("A", "H")):
        assert order.index(n[parent]) < order.index(n[child])
    assert n["A"] in everything and t["E"] in everything and t["A"] not in dj.Diagram(s4)
    with pytest.raises(dj.DataJointError):
        dj.Diagram(s1) + "nonsense"
    with pytest.raises(dj.DataJointError):
        dj.Diagram(42)


def test_collapse(make_schema):
    (s1, s2, s3, s4), t, n = four_schemas(make_schema)
    diagram = dj.Diagram(s1) + dj.Diagram(s2) + dj.Diagram(s3).collapse()
    graph = parse_dot(diagram.make_dot().source)
    nodes = graph.all_nodes()
    assert set(nodes) == {n["A"], n["B"], n["C"], n["D"], s3.database}
    box = nodes[s3.database]
    assert box["shape"] == "box3d" and "dj-collapsed" in box["class"] and "(3 tables)" in box["label"]
    assert box["id"] == s3.database
    edges = {(tail, head) for tail, head, _ in graph.all_edges()}
    assert edges == {(n["A"], n["B"]), (n["B"], n["C"]), (n["C"], s3.database), (n["D"], s3.database)}

    # expanded wins in a union
    partly = dj.Diagram(s3).collapse() + dj.Diagram(t["E"])
    graph = parse_dot(partly.make_dot().source)
    assert set(graph.all_nodes()) == {n["E"], s3.database}
    assert "(2 tables)" in graph.all_nodes()[s3.database]["label"]
    assert {(tail, head) for tail, head, _ in graph.all_edges()} == {(n["E"], s3.database)}

    # several collapsed schemas: one bundle edge per pair of schemas
    whole = (dj.Diagram(s1) + dj.Diagram(s2) + dj.Diagram(s4)).collapse()
    graph = parse_dot(whole.make_dot().source)
    assert set(graph.all_nodes()) == {s1.database, s2.database, s4.database}
    bundle = {(tail, head): attrs for tail, head, attrs in graph.all_edges()}
    assert set(bundle) == {(s1.database, s2.database), (s1.database, s4.database)}
    assert all("dj-bundle" in attrs["class"] for attrs in bundle.values())
    mermaid = whole.make_mermaid()
    assert ":::collapsed" in mermaid and "(3 tables)" not in mermaid
    assert whole.tables == (dj.Diagram(s1) + dj.Diagram(s2) + dj.Diagram(s4)).tables


# ------------------------------------------------------------------------------------------------
# cascade, restrict, trace
# ------------------------------------------------------------------------------------------------
def _all_counts(connection, schemas):
    result = {}
    for schema in schemas:
        for table in schema.list_tables():
            free = FreeTable(connection, schema.database, table)
            result[free.full_table_name] = len(free)
    return result


@pytest.mark.parametrize("case", ["subject", "session", "part_cascade"])
def test_cascade_counts_equal_rows_deleted(connection, make_schema, case):
    lab, ana, t = notation_pipeline(make_schema)
    fill(t)
    t["Recording"].populate()
    t["Analysis"].populate()
    if case == "subject":
        expr, kwargs = t["Subject"] & {"subject_id": 1}, {}
    elif case == "session":
        expr, kwargs = t["Session"] & "session = 1", {}
    else:
        expr, kwargs = t["Session"].Trial & {"subject_id": 2, "session": 0, "trial": 1}, {"part_integrity": "cascade"}
    before = _all_counts(connection, (lab, ana))
    preview = dj.Diagram.cascade(expr, **kwargs)
    counts = preview.counts()
    assert _all_counts(connection, (lab, ana)) == before  # a preview deletes nothing
    assert counts[expr.full_table_name] == len(expr) > 0
    # the cascade diagram draws the counts
    label = parse_dot(preview.make_dot().source).all_nodes()[f"{expr.database}.{expr.table_name}"]["label"]
    root_count = counts[expr.full_table_name]
    assert f"{root_count} {'row' if root_count == 1 else 'rows'} to delete" in label
    expr.delete(**kwargs)
    after = _all_counts(connection, (lab, ana))
    removed = {name: before[name] - after[name] for name in before if before[name] != after[name]}
    assert {k: v for k, v in counts.items() if v} == removed
    if case == "subject":
        pair = t["Pair"]().full_table_name
        assert removed[pair] == 2  # both renamed references to subject 1
        assert removed[t["Analysis"].Result().full_table_name] == 12


def test_restrict_and_trace(make_schema):
    lab, ana, t = notation_pipeline(make_schema)
    fill(t)
    t["Recording"].populate()
    t["Analysis"].populate()
    restricted = (dj.Diagram(lab) + dj.Diagram(ana)).restrict(t["Subject"] & "subject_id < 3")
    counts = restricted.counts()
    assert counts[t["Subject"]().full_table_name] == 2
    assert counts[t["Session"]().full_table_name] == 4
    assert counts[t["Recording"]().full_table_name] == 4
    assert counts[t["Analysis"].Result().full_table_name] == 4 * 2 * 3
    assert t["Method"]().full_table_name not in counts  # not downstream of the restriction
    assert len(restricted[t["Session"]]) == 4
    assert len(restricted.prune().tables) == len(counts)

    trace = dj.Diagram.trace(t["Analysis"] & {"subject_id": 2, "session": 1, "method": "b"})
    assert len(trace[t["Subject"]]) == 1 and trace[t["Subject"]].fetch1("subject_id") == 2
    # OR convergence: method "b" through Analysis, method "a" through the session Analysis depends on
    assert sorted(row["method"] for row in trace[t["Method"]].to_dicts()) == ["a", "b"]
    assert len(trace[t["Session"]]) == 1
    assert t["Pair"] not in trace  # a sibling, not an ancestor
    with pytest.raises(dj.DataJointError):
        trace[t["Pair"]]


# ------------------------------------------------------------------------------------------------
# status overlay
# ------------------------------------------------------------------------------------------------
def test_status_overlay_in_bounded_queries(connection, make_schema):
    lab, ana, t = notation_pipeline(make_schema)
    fill(t)
    t["Recording"].populate(max_calls=4)
    jobs = t["Analysis"].jobs
    jobs.refresh(delay=-1)
    keys = sorted(jobs.pending.keys(), key=lambda k: sorted(k.items()))
    assert len(keys) == 8
    assert jobs.reserve(keys[0])
    jobs.error(keys[1], "boom")

    diagram = dj.Diagram(lab) + dj.Diagram(ana)
    issued = []
    original = connection.query

    def counting(sql, *args, **kwargs):
        issued.append(sql)
        return original(sql, *args, **kwargs)

    connection.query = counting
    try:
        shown = diagram.with_status()
        status = shown.status()
    finally:
        del connection.query
    assert len(issued) <= 2 * 4 * 2, issued  # two schemas, at most four statements each, twice
    n = ids(lab, ana)
    assert status[n["subject"]].rows == 3
    assert status[n["trial"]].rows == 18
    assert status[n["pair"]].total is None
    recording = status[n["recording"]]
    assert (recording.rows, recording.done, recording.total, recording.remaining) == (4, 4, 6, 2)
    analysis = status[n["analysis"]]
    assert (analysis.rows, analysis.done, analysis.total) == (0, 0, 8)
    assert (analysis.pending, analysis.reserved, analysis.error) == (6, 1, 1)

    nodes = parse_dot(shown.make_dot().source).all_nodes()
    assert "4/6 done" in nodes[n["recording"]]["label"]
    label = nodes[n["analysis"]]["label"]
    assert "0/8 done" in label and "6 pending" in label and "1 reserved" in label and "1 error" in label
    assert LIGHT["status_error"] in label
    assert "3 rows" in nodes[n["subject"]]["label"]
    assert "populated: 4 of 6" in nodes[n["recording"]]["tooltip"]
    mermaid = shown.make_mermaid()
    assert "6 pending" in mermaid


def test_status_of_joined_parents_and_extra_key_attributes(make_schema):
    lab, ana, t = notation_pipeline(make_schema)
    fill(t)
    Session, Recording = t["Session"], t["Recording"]  # noqa: F841 - Combo's definition resolves Session here
    Recording.populate(max_calls=4)

    @ana
    class Combo(dj.Computed):
        definition = """
        -> Session.Trial
        -> Recording
        """

        def make(self, key):
            self.insert1(key)

    with dj.config.override(jobs__allow_new_pk_fields_in_computed_tables=True):
        @ana
        class Split(dj.Computed):
            definition = """
            -> Recording
            half : int8
            """

            def make(self, key):
                self.insert([{**key, "half": 0}, {**key, "half": 1}])

    Combo.populate(max_calls=5)
    Split.populate(max_calls=3)
    status = dj.Diagram(ana).status()
    combo = status[f"{ana.database}.{Combo.table_name}"]
    assert (combo.rows, combo.done, combo.total) == (5, 5, 12)  # trials of the 4 recorded sessions
    split = status[f"{ana.database}.{Split.table_name}"]
    assert (split.rows, split.done, split.total) == (6, 3, 4)
    assert (len(Combo.key_source), len(Split.key_source)) == (12, 4)


def test_status_uses_a_custom_key_source(make_schema):
    lab, ana, t = notation_pipeline(make_schema)
    fill(t)
    Session = t["Session"]

    @ana
    class Late(dj.Computed):
        definition = """
        -> Session
        """

        @property
        def key_source(self):
            return Session & "session = 1"

        def make(self, key):
            self.insert1(key)

    Late.populate(max_calls=1)
    status = (dj.Diagram(ana)).status()
    late = status[f"{ana.database}.{Late.table_name}"]
    assert (late.done, late.total) == (1, 3)


# ------------------------------------------------------------------------------------------------
# display with and without the Graphviz binary
# ------------------------------------------------------------------------------------------------
def test_display_without_dot_binary(make_schema, monkeypatch, tmp_path):
    lab, ana, t = notation_pipeline(make_schema)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    assert not render.dot_available()

    diagram = dj.Diagram(lab) + dj.Diagram(ana)
    shown = diagram.with_status()
    bundle = shown._repr_mimebundle_()
    assert "image/svg+xml" not in bundle
    assert "not installed" in bundle["text/plain"] and "flowchart" in bundle["text/plain"]
    assert "```mermaid\nflowchart" in bundle["text/markdown"]
    assert shown._repr_svg_() is None
    assert parse_dot(shown.make_dot().source).all_nodes()
    with pytest.raises(dj.DataJointError, match="not installed"):
        shown.svg_string()
    shown.save(str(tmp_path / "d.mmd"))
    shown.save(str(tmp_path / "d.dot"))
    assert (tmp_path / "d.mmd").read_text().startswith("flowchart")
    assert parse_dot((tmp_path / "d.dot").read_text()).all_nodes()
    cascade = dj.Diagram.cascade(t["Subject"] & "subject_id = 1")
    assert "text/markdown" in cascade._repr_mimebundle_()

    import IPython.core.formatters as formatters
    data, _ = formatters.DisplayFormatter().format(shown)
    assert "text/markdown" in data and "image/svg+xml" not in data


@pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz dot binary is not installed")
def test_svg_and_png_with_dot_binary(make_schema, tmp_path):
    lab, ana, _ = notation_pipeline(make_schema)
    diagram = dj.Diagram(lab) + dj.Diagram(ana)
    bundle = diagram._repr_mimebundle_()
    svg = bundle["image/svg+xml"]
    assert svg.startswith("<svg") and f'id="{lab.database}.subject"' in svg
    assert f'href="#{ana.database}.__analysis"' in svg
    with dj.config.override(display__diagram_theme="auto"):
        assert "prefers-color-scheme" in diagram.svg_string()
    assert "prefers-color-scheme" not in diagram.svg_string(theme="light")
    png = diagram.make_png().getvalue()
    assert png.startswith(b"\x89PNG")
    diagram.save(str(tmp_path / "d.svg"))
    assert (tmp_path / "d.svg").read_text().startswith("<svg")
    assert diagram.make_dot().create_svg().startswith(b"<?xml")


def test_display_never_raises(make_schema, monkeypatch):
    lab, _, _ = notation_pipeline(make_schema)
    diagram = dj.Diagram(lab)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(render, "build_model", broken)
    bundle = diagram._repr_mimebundle_()
    assert "boom" in bundle["text/plain"]
    assert os.environ.get("PATH")  # untouched
