"""describe_pipeline, provenance, and export/import of a subject's subtree across engines."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import jsonschema
import numpy as np
import pytest

import dj_jupyter as dj
from dj_jupyter.export import value_checksum
from dj_jupyter.introspect import pipeline_json_schema
from tests.conftest import ROOT, make_connection


def declare_lab(schema):
    """A small LC-MS-like pipeline: lookups, a session, an imported acquisition, a computed detection with parts."""

    @schema
    class Sample(dj.Lookup):
        definition = """
        sample_id : int16
        ---
        organism : varchar(32)
        """
        contents = [(1, "mouse"), (2, "rat")]

    @schema
    class Params(dj.Lookup):
        definition = """
        paramset : int16
        ---
        threshold : float32
        """
        contents = [(1, 0.5), (2, 0.9)]

    @schema
    class Session(dj.Manual):
        definition = """
        session_id : int32
        ---
        operator : varchar(32)
        """

    @schema
    class Acquisition(dj.Imported):
        definition = """
        -> Session
        -> Sample
        ---
        trace : <npy@>
        settings : json
        """

        def make(self, key):
            rng = np.random.default_rng(key["session_id"] * 10 + key["sample_id"])
            self.insert1(dict(key, trace=rng.random(64).astype(np.float32), settings={"gain": key["sample_id"]}))

    @schema
    class Detection(dj.Computed):
        definition = """
        -> Acquisition
        -> Params
        ---
        n_peaks : int32
        summary : <blob>
        """

        class Peak(dj.Part):
            definition = """
            -> master
            peak_idx : int16
            ---
            height : float64
            """

        def make(self, key):
            trace = self.upstream[Acquisition].fetch1("trace").load()
            threshold = self.upstream[Params].fetch1("threshold")
            peaks = np.flatnonzero(trace > threshold)
            self.insert1(dict(key, n_peaks=len(peaks), summary=np.array([trace.min(), trace.max()])))
            self.Peak.insert([dict(key, peak_idx=i, height=float(trace[p])) for i, p in enumerate(peaks)])

    return Sample, Params, Session, Acquisition, Detection


@pytest.fixture
def lab(make_schema, object_store):
    schema = make_schema()
    tables = declare_lab(schema)
    Sample, Params, Session, Acquisition, Detection = tables
    Session.insert([(1, "Ada"), (2, "Grace")])
    Acquisition.populate()
    Detection.populate()
    return schema, tables


def test_description_validates_and_matches_the_database(lab):
    schema, (Sample, Params, Session, Acquisition, Detection) = lab
    description = dj.describe_pipeline(schema)
    jsonschema.validate(description, pipeline_json_schema())
    json.dumps(description)  # plainly serializable
    tables = {t["class_name"]: t for t in description["tables"]}
    assert set(tables) == {"Sample", "Params", "Session", "Acquisition", "Detection", "Detection.Peak"}
    assert tables["Sample"]["tier"] == "lookup" and tables["Detection"]["tier"] == "computed"
    assert tables["Detection.Peak"]["master"] == f"{schema.database}.__detection"
    assert tables["Detection"]["parts"] == [f"{schema.database}.__detection__peak"]
    for name, table in (("Sample", Sample), ("Acquisition", Acquisition), ("Detection", Detection)):
        assert tables[name]["rows"] == len(table)
        assert tables[name]["primary_key"] == table.primary_key
        assert [a["name"] for a in tables[name]["attributes"]] == table.heading.names
    acquisition = tables["Acquisition"]
    kinds = {fk["parent"].split(".")[-1]: fk["kind"] for fk in acquisition["foreign_keys"]}
    assert kinds == {"session": "identity", "#sample": "identity"}
    assert acquisition["key_source"]["primary_key"] == ["session_id", "sample_id"]
    assert acquisition["jobs"]["success"] == len(Acquisition)
    lineage = {a["name"]: a["lineage"] for a in tables["Detection"]["attributes"]}
    assert lineage["sample_id"] == f"{schema.database}.#sample.sample_id"
    assert lineage["n_peaks"] is None
    order = description["dependency_order"]
    assert order.index(f"{schema.database}.session") < order.index(f"{schema.database}._acquisition") < \
        order.index(f"{schema.database}.__detection")
    assert set(description["dimensions"]) == {f"{schema.database}.#sample", f"{schema.database}.#params",
                                              f"{schema.database}.session", f"{schema.database}.__detection__peak"}


def test_provenance_reaches_sample_and_session_with_code_version(lab):
    schema, (Sample, Params, Session, Acquisition, Detection) = lab
    tree = Detection.provenance({"session_id": 2, "sample_id": 1, "paramset": 1})
    nodes = list(tree.walk())
    tables = {node.table.split(".", 1)[1]: node for node in nodes}
    assert {"__detection", "_acquisition", "session", "#sample", "#params"} <= set(tables)
    assert tables["session"].key == {"session_id": 2} and tables["#sample"].key == {"sample_id": 1}
    assert tables["__detection"].job["version"] and tables["_acquisition"].job["version"]
    assert tables["__detection"].job["duration"] is not None
    assert tables["session"].job is None  # manual rows have no job
    assert "session_id=2" in repr(tree) and "<script" not in tree._repr_html_()
    json.dumps(tree.to_dict())


def test_describe_command_outputs_json(lab, backend, tmp_path, connection):
    schema, _ = lab
    module = tmp_path / "labpipe.py"
    settings = {"sqlite": f"dj.config['database.path'] = {connection.conn_info['path']!r}"}
    server = ("" if backend == "sqlite" else
              f"dj.config['database.backend'] = {backend!r}\n"
              f"dj.config['database.host'] = {connection.conn_info['host']!r}\n"
              f"dj.config['database.port'] = {connection.conn_info['port']!r}\n"
              f"dj.config['database.user'] = {connection.conn_info['user']!r}\n"
              f"dj.config['database.password'] = {connection._password!r}\n")
    module.write_text("import dj_jupyter as dj\n" + settings.get(backend, server) +
                      f"\nschema = dj.Schema({schema.database!r}, create_schema=False)\n")
    result = subprocess.run([sys.executable, "-m", "dj_jupyter.cli", "describe", "labpipe", "--json"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    description = json.loads(result.stdout)
    jsonschema.validate(description, pipeline_json_schema())
    assert len(description["tables"]) == 6


def test_subtree_moves_from_postgresql_to_sqlite_and_mariadb(tmp_path, object_store):
    source = make_connection("postgresql", tmp_path)
    name = "t_" + uuid.uuid4().hex[:10]
    schema = dj.Schema(name, connection=source)
    targets = []
    try:
        Sample, Params, Session, Acquisition, Detection = declare_lab(schema)
        Session.insert([(1, "Ada"), (2, "Grace")])
        Acquisition.populate()
        Detection.populate()
        manifest = dj.export(Session & {"session_id": 2}, tmp_path / "export", copy_objects=True)
        exported = {entry["table_name"]: entry["rows"] for entry in manifest["tables"]}
        assert exported["session"] == 1 and exported["_acquisition"] == 2 and exported["__detection"] == 4
        assert exported["#sample"] == 2 and exported["#params"] == 2  # referenced upstream rows come along
        assert manifest["provenance"][f"{name}.__detection"]
        (tmp_path / "sqlite").mkdir()
        for kind in ("sqlite", "mysql"):
            target = make_connection(kind, tmp_path / "sqlite")
            targets.append(target)
            dj.import_export(tmp_path / "export", connection=target)
            copy = dj.virtual_schema(name, connection=target)
            for original, moved in ((Session & {"session_id": 2}, copy.Session),
                                    (Acquisition & {"session_id": 2}, copy.Acquisition),
                                    (Detection & {"session_id": 2}, copy.Detection),
                                    (Detection.Peak & {"session_id": 2}, copy.Detection.Peak)):
                left = original.to_dicts(order_by="KEY")
                right = moved.to_dicts(order_by="KEY")
                assert len(left) == len(right) > 0
                for a, b in zip(left, right):
                    assert a.keys() == b.keys()
                    for key in a:
                        if original.heading[key].is_codec:
                            assert value_checksum(a[key]) == value_checksum(b[key]), (kind, key)
                        else:
                            assert a[key] == b[key], (kind, key)
            assert len(copy.Session) == 1  # the other session did not move
    finally:
        schema.drop(prompt=False)
        for target in targets:
            try:
                dj.Schema(name, connection=target, create_schema=False).drop(prompt=False)
            except dj.DataJointError:
                pass
        source.close()


def test_export_of_a_restricted_diagram_and_of_a_whole_diagram(lab, tmp_path):
    schema, (Sample, _, Session, Acquisition, Detection) = lab
    Sample.insert1((3, "zebrafish"))  # referenced by no acquisition
    by_table = dj.export(Session & {"session_id": 2}, tmp_path / "by_table")
    restricted = dj.Diagram(schema).restrict(Session & {"session_id": 2})
    by_diagram = dj.export(restricted, tmp_path / "by_diagram")

    def counts(manifest):
        return {entry["table_name"]: entry["rows"] for entry in manifest["tables"]}

    assert counts(by_diagram) == counts(by_table)
    assert counts(by_diagram)["session"] == 1 and counts(by_diagram)["#sample"] == 2  # only referenced samples
    assert by_diagram["root"] == [f"{schema.database}.session"]
    assert by_diagram["restriction_values"][f"{schema.database}.session"] == [[2]]

    whole = dj.export(dj.Diagram(schema), tmp_path / "whole")
    assert counts(whole) == {"#sample": 3, "#params": 2, "session": len(Session), "_acquisition": len(Acquisition),
                             "__detection": len(Detection), "__detection__peak": len(Detection.Peak)}
    with pytest.raises(dj.DataJointError, match="takes a table, a restricted table or a diagram"):
        dj.export([1, 2], tmp_path / "bad")
