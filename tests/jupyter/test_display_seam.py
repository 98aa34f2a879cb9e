"""The seam through which dj_jupyter.jupyter widgets take over the magics' displays."""

from __future__ import annotations

import importlib
import sys
import threading
import types

import pytest

from kernel_magics import display as views
from tests.jupyter.cells import declare_pipeline, fill

SEAM = "dj_jupyter.jupyter.display"


class Shown:
    """Stands in for a widget: records how it was made, displays as text."""

    def __init__(self, kind, args, kwargs):
        self.kind, self.args, self.kwargs = kind, args, kwargs

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": f"<fake {self.kind}>"}


@pytest.fixture
def fake_seam(monkeypatch):
    calls = []
    declined = set()

    def factory(kind):
        def make(*args, **kwargs):
            calls.append((kind, args, kwargs))
            return None if kind in declined else Shown(kind, args, kwargs)

        return make

    module = types.ModuleType(SEAM)
    module.get_view = lambda kind: factory(kind)
    monkeypatch.setitem(sys.modules, SEAM, module)
    monkeypatch.setattr(views, "find_view", _ORIGINAL_FIND_VIEW)
    return calls, declined


_ORIGINAL_FIND_VIEW = views.find_view


def test_views_are_found_by_kind_or_by_name(monkeypatch):
    module = types.ModuleType(SEAM)
    module.diagram = lambda target: "diagram view"
    monkeypatch.setitem(sys.modules, SEAM, module)
    assert _ORIGINAL_FIND_VIEW("diagram")("x") == "diagram view"
    assert _ORIGINAL_FIND_VIEW("table_browser") is None
    with pytest.raises(ValueError):
        _ORIGINAL_FIND_VIEW("no such kind")


def test_a_missing_or_broken_widget_layer_means_plain_views(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, SEAM, None)  # import fails with ImportError
    assert _ORIGINAL_FIND_VIEW("table_browser") is None

    def broken(name, *args, **kwargs):
        if name == SEAM:
            raise RuntimeError("widget bundle missing")
        return importlib.import_module(name)

    monkeypatch.delitem(sys.modules, SEAM, raising=False)
    monkeypatch.setattr(views.importlib, "import_module", broken)
    monkeypatch.setattr(views, "_broken_seam_reported", False)
    assert _ORIGINAL_FIND_VIEW("diagram") is None
    assert "widget bundle missing" in caplog.text


def test_every_kind_is_called_with_the_documented_arguments(connected, schema_name, fake_seam):
    calls, declined = fake_seam
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    ns = ipy.ns

    ran = ipy("%%dj --limit 4 --order-by session_date\nSession * Subject\n")
    kind, args, kwargs = calls[-1]
    assert kind == "table_browser" and kwargs == {"limit": 4, "order_by": ["session_date"]}
    assert len(args[0]) == 4 and ran.displays == [{"text/plain": "<fake table_browser>"}]

    ran = ipy("%dj populate SessionStats Subject & 'subject_id = 1' --reserve-jobs --processes 1")
    kind, args, kwargs = calls[-1]
    assert kind == "progress_panel" and isinstance(args[0], ns["SessionStats"])
    assert kwargs["reserve_jobs"] is True and kwargs["processes"] == 1 and len(kwargs["restrictions"]) == 1
    assert ran.displays == [{"text/plain": "<fake progress_panel>"}]
    assert "SessionStats: 2 keys made" in ran.stdout  # the summary line is printed as well

    ipy("%dj diagram Session")
    assert calls[-1][0] == "diagram" and calls[-1][1] == (ns["Session"],)
    ipy("%dj status")
    assert calls[-1][0] == "status" and calls[-1][1] == (ns["schema"],)
    ipy("%dj jobs SessionStats")
    assert calls[-1][0] == "jobs" and calls[-1][1] == (ns["SessionStats"],)

    ran = ipy("%dj delete Subject & {'subject_id': 2}")
    kind, args, kwargs = calls[-1]
    assert kind == "delete_preview" and kwargs == {"part_integrity": "enforce"}
    assert len(ns["Subject"]) == 3  # the widget deletes only when its button is clicked
    assert ran.displays == [{"text/plain": "<fake delete_preview>"}]

    # a factory may decline: the magics show their own rendering
    declined.add("table_browser")
    ran = ipy("%%dj\nSubject\n")
    assert "(3 tuples)" in ran.displays[0]["text/plain"]

    # widgets off: the seam is not consulted at all
    before = len(calls)
    ipy("%config DJMagic.widgets = False")
    ipy("%%dj\nSubject\n")
    ipy("%dj status")
    assert len(calls) == before


def test_the_real_widget_layer_when_installed(connected, schema_name, monkeypatch):
    importlib.import_module(SEAM)
    from ipywidgets.widgets.widget import _instances

    monkeypatch.setattr(views, "find_view", _ORIGINAL_FIND_VIEW)
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    before = set(_instances)
    try:
        for cell in ("%%dj\nSession * Subject & 'species = \"mouse\"'\n", "%dj populate SessionStats",
                     "%dj status", "%dj diagram", "%dj jobs SessionStats", "%dj delete Subject & {'subject_id': 2}"):
            ran = ipy(cell)
            assert ran.displays, cell
            assert all("text/plain" in d for d in ran.displays)
        assert len(ipy.ns["SessionStats"]) == 4 and len(ipy.ns["Subject"]) == 3
    finally:
        _stop_widgets(set(_instances) - before)


def _stop_widgets(model_ids) -> None:
    """Close the live widgets this test made and wait for their threads: the fixture then closes the
    connection they poll (closing an SQLite connection under a running query crashes the process)."""
    from ipywidgets.widgets.widget import _instances

    for model_id in model_ids:
        widget = _instances.get(model_id)
        if widget is not None:
            for name in ("stop_live", "close"):
                method = getattr(widget, name, None)
                if callable(method):
                    try:
                        method()
                    except Exception:
                        pass
    for thread in threading.enumerate():
        if thread.name.startswith("dj-") and thread is not threading.current_thread():
            thread.join(timeout=30)
