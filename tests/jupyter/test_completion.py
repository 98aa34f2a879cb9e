"""Completion in %%dj cells: the pure function and its IPython matcher."""

from __future__ import annotations

import warnings

import pytest

from kernel_magics.completion import complete
from tests.jupyter.cells import declare_pipeline


def matches(text: str, namespace, cursor: int | None = None):
    result = complete(text, len(text) if cursor is None else cursor, namespace)
    return None if result is None else result.matches


@pytest.fixture
def pipeline(connected, schema_name):
    declare_pipeline(connected, schema_name)
    return connected


def test_outside_dj_cells_nothing_is_offered():
    assert complete("x = Sess", 8, {}) is None
    assert complete("%timeit Sess", 12, {}) is None
    assert complete("%%sql\nSELECT", 12, {}) is None


def test_subcommands_options_and_values_without_a_database():
    assert matches("%%dj ma", {}) == ["manual"]
    assert matches("%%dj ", {})[:4] == ["manual", "lookup", "imported", "computed"]
    assert matches("%dj pop", {}) == ["populate"]
    assert matches("  %dj d", {}) == ["describe", "diagram", "delete"]
    assert matches("%dj populate --re", {}) == ["--reserve-jobs"]
    assert matches("%dj connect --backend p", {}) == ["postgresql"]
    assert matches("%dj delete X --part-integrity c", {}) == ["cascade"]
    assert "--make" in matches("%%dj computed Stats --", {})
    namespace = {"make_stats": lambda self, key: None, "fetch_a": lambda self, key: None}

    def make_stats(self, key):
        pass

    def fetch_a(self, key):
        pass

    namespace = {"make_stats": make_stats, "fetch_a": fetch_a, "_private": make_stats}
    assert matches("%%dj computed Stats --make make", namespace) == ["make_stats"]
    assert matches("%%dj computed Stats --make make_stats,fe", namespace) == ["fetch_a"]


def test_types_after_a_colon():
    cell = "%%dj manual Subject\nsubject_id : int"
    assert matches(cell, {}) == ["int8", "int16", "int32", "int64"]
    assert "varchar" in matches("%%dj manual Subject\nname = 'x' : var", {})
    codecs = matches("%%dj manual Subject\nimage : <", {})
    assert "<blob>" in codecs and "<blob@>" in codecs and all(c.startswith("<") for c in codecs)
    assert matches("%%dj manual Subject\nsubject_id : int32  # an int", {}) is None
    assert matches("%%dj lookup Kind\nkind : varchar(8)\ncontents\nfirst : in", {}) is None


def test_table_names_after_an_arrow(pipeline):
    ns = pipeline.ns
    assert matches("%%dj manual Surgery\n-> Sub", ns) == ["Subject"]
    assert matches("%%dj manual Surgery\n-> [nullable] Spe", ns) == ["Species"]
    assert set(matches("%%dj manual Surgery\n-> ", ns)) >= {"Species", "Subject", "Session", "SessionStats"}
    assert "Trial" not in matches("%%dj manual Surgery\n-> ", ns)  # parts are reached through their master
    assert matches("%%dj manual Surgery\n-> Session.", ns) == ["Trial"]
    in_part = "%%dj manual Surgery\nsurgery : int32\n---\npart Step\n-> "
    assert matches(in_part, ns)[0] == "master"


def test_tables_and_attributes_in_query_expressions(pipeline):
    ns = pipeline.ns
    assert matches("%%dj\nSess", ns) == ["Session", "SessionStats"]
    assert matches("%%dj\nSession * Subject & 'sp", ns) == ["species"]
    assert matches("%%dj\nSession * Subject & 'species = \"mouse\" and se", ns) == ["session", "session_date", "sex"]
    assert matches("%%dj -o frame\nSession & \"session_d", ns) == ["session_date"]
    dotted = matches("%%dj\nSession.", ns)
    assert dotted[0] == "Trial"
    assert {"subject_id", "session", "session_date", "notes"} <= set(dotted)
    assert "proj" in dotted
    assert matches("%%dj\nSession.Trial.out", ns) == ["outcome"]
    assert matches("%dj populate SessionStats Session & 'sess", ns) == ["session", "session_date"]
    assert matches("%dj populate Sess", ns) == ["Session", "SessionStats"]
    assert matches("%dj describe Session.T", ns) == ["Trial"]
    pipeline("frame = Session * Subject")
    assert matches("%%dj\nframe & 'wei", ns) == ["weight"]
    # the cursor in the middle of a cell
    text = "%%dj\nSession & 'sess'\n"
    assert complete(text, text.index("sess'") + 4, ns).matches == ["session", "session_date"]


def test_completion_offsets_replace_only_the_typed_fragment(pipeline):
    text = "%%dj\nSession * Subject & 'species = \"mouse\" and se"
    result = complete(text, len(text), pipeline.ns)
    assert text[result.start:result.end] == "se" and result.end == len(text)
    assert result.kind == "attribute" and result.exclusive


def test_ipython_completer_uses_the_matcher(pipeline):
    from IPython.core.completer import provisionalcompleter

    completer = pipeline.shell.Completer
    text = "%%dj\nSession * Subject & 'sp"
    with provisionalcompleter():
        found = list(completer.completions(text, len(text)))
    assert [(c.text, c.start, c.end) for c in found] == [("species", len(text) - 2, len(text))]
    text = "%%dj manual Foo\nx : int"
    with provisionalcompleter():
        found = [c.text for c in completer.completions(text, len(text))]
    assert found == ["int8", "int16", "int32", "int64"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # the pre-6.0 API ipykernel may still use
        _, legacy = pipeline.shell.complete("", "%dj pop", 7)
    assert "populate" in legacy
    with provisionalcompleter():
        python = [c.text for c in completer.completions("import o", 8)]
    assert "os" in python  # ordinary Python cells are left to IPython
