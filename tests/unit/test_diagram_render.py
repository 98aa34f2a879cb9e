"""Diagram rendering without a database: names, quoting, Mermaid ids and themes."""

from __future__ import annotations

import shutil

import pytest

from dj_jupyter.diagram.graph import class_name_of, master_of, node_id
from dj_jupyter.diagram.status import NodeStatus
from dj_jupyter.diagram.render import (THEMES, EdgeSpec, Model, NodeSpec, adaptive_style, colour_mapping, mermaid_id,
                                       model_to_dot, model_to_mermaid)
from tests.backends.dot_parser import parse_dot


def test_names():
    assert node_id(("lab", "#method")) == "lab.#method"
    assert class_name_of("__peak_detection__peak") == "PeakDetection.Peak"
    assert class_name_of("#acquisition_method") == "AcquisitionMethod"
    assert class_name_of("_scan_acquisition") == "ScanAcquisition"
    assert master_of("__peak_detection__peak") == "__peak_detection"
    assert master_of("session__trial") == "session"
    assert master_of("__peak_detection") is None


def test_mermaid_ids_are_unique_and_safe():
    names = ["lab.#method", "lab._method", "lab.__method", "lab.method", "lab.method__part", "la.b_method", "end"]
    ids = [mermaid_id(n) for n in names]
    assert len(set(ids)) == len(ids)
    assert all(i.replace("_", "").isalnum() for i in ids)


def _model():
    colours = THEMES["light"]
    nodes = [
        NodeSpec("s.#kind", "Kind", "lookup", "s", table="#kind", underline=True),
        NodeSpec("s.odd", 'Odd "quoted" <name>', "manual", "s", table="odd", status=NodeStatus(rows=1)),
        NodeSpec("s.odd__part", "Part", "part", "s", table="odd__part", master="s.odd"),
        NodeSpec("s.__calc", "Calc", "computed", "s", table="__calc",
                 status=NodeStatus(rows=2, total=4, done=2, pending=1, reserved=1, error=0)),
    ]
    edges = [EdgeSpec("s.#kind->s.odd", "s.#kind", "s.odd", primary=False),
             EdgeSpec("s.odd->s.odd__part", "s.odd", "s.odd__part"),
             EdgeSpec("s.odd->s.__calc", "s.odd", "s.__calc", multi=False, renames=(("a", "b"),))]
    return Model(nodes, edges, {"s": ["s.#kind", "s.odd", "s.__calc"]}, {"s.odd": ["s.odd__part"]}, "light", colours)


def test_dot_quoting_round_trip():
    graph = parse_dot(model_to_dot(_model(), "TB").source)
    nodes = graph.all_nodes()
    assert set(nodes) == {"s.#kind", "s.odd", "s.odd__part", "s.__calc"}
    assert "Odd &quot;quoted&quot; &lt;name&gt;" in nodes["s.odd"]["label"]
    assert nodes["s.#kind"]["label"] == "<<u>Kind</u>>"
    assert "2/4 done" in nodes["s.__calc"]["label"] and "1 pending" in nodes["s.__calc"]["label"]
    assert graph.containing("s.odd__part")[-1] is graph.containing("s.odd")[-1]
    (edge,) = [a for t, h, a in graph.all_edges() if h == "s.__calc"]
    assert edge["label"] == "a \u2190 b" and edge["penwidth"] == "2"


def test_mermaid_structure():
    text = model_to_mermaid(_model(), "LR")
    assert text.startswith("flowchart LR")
    assert "#quot;quoted#quot;" in text and "&lt;name&gt;" in text
    assert text.count("subgraph") == 2 and text.count("\n    end") == 1
    assert f"{mermaid_id('s.#kind')} -.- {mermaid_id('s.odd')}" in text
    assert f'{mermaid_id("s.odd")} ===|"a \u2190 b"| {mermaid_id("s.__calc")}' in text


def test_dark_mode_mapping_is_a_function():
    mapping = colour_mapping()
    for key, value in THEMES["light"].items():
        values = value if isinstance(value, tuple) else (value,)
        dark = THEMES["dark"][key] if isinstance(THEMES["dark"][key], tuple) else (THEMES["dark"][key],)
        for a, b in zip(values, dark):
            if a != "none":
                assert mapping[a] == b, f"{a} is used for two roles"
    assert "@media (prefers-color-scheme: dark)" in adaptive_style()


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs the dot binary")
def test_dot_text_is_accepted_by_graphviz():
    import graphviz

    svg = graphviz.Source(model_to_dot(_model()).source).pipe(format="svg").decode()
    assert 'id="s.#kind"' in svg and 'id="s.odd__part"' in svg
