"""Two-way compatibility with the real DataJoint 2.3.5 package on PostgreSQL and MariaDB.

A pipeline declared, filled and populated by DataJoint opens here through
``dj.virtual_schema`` with equal rows and equal decoded blobs, accepts our inserts
and cascades our deletes; the reverse direction gives DataJoint equal rows too.
Where DataJoint itself fails (it cannot insert or fetch ``uuid`` values on
PostgreSQL), the case is kept and asserts our side only.
"""

from __future__ import annotations

import uuid
import warnings

import numpy as np
import pytest

import dj_jupyter as dj
from tests.conftest import SERVER_BACKENDS, make_connection

TAGS = [uuid.UUID(int=i * 0x1234567) for i in range(1, 4)]


def _values_equal(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.all(a == b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_values_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b))
    return a == b


def _rows_equal(theirs: list[dict], ours: list[dict]) -> None:
    assert len(theirs) == len(ours) > 0
    key = lambda row: tuple(str(v) for k, v in sorted(row.items()) if not isinstance(v, (np.ndarray, dict)))
    for a, b in zip(sorted(theirs, key=key), sorted(ours, key=key)):
        assert a.keys() == b.keys()
        for name in a:
            assert _values_equal(a[name], b[name]), (name, a[name], b[name])


@pytest.fixture(params=SERVER_BACKENDS)
def both(request, tmp_path):
    """Our connection and DataJoint 2.3.5's, to the same server."""
    import datajoint

    backend = request.param
    ours = make_connection(backend, tmp_path)
    info = ours.conn_info
    datajoint.config["database.backend"] = backend
    datajoint.config["database.host"] = info["host"]
    datajoint.config["database.port"] = info["port"]
    datajoint.config["database.user"] = info["user"]
    datajoint.config["database.password"] = ours._password
    datajoint.config["database.use_tls"] = False
    datajoint.config["safemode"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = datajoint.conn(reset=True)
    yield backend, datajoint, theirs, ours
    theirs.close()
    ours.close()


def declare(module, schema, *, with_uuid: bool):
    """The same pipeline, declared through either library's classes."""

    class Species(module.Lookup):
        definition = """
        species : varchar(16)
        ---
        latin : varchar(64)
        """
        contents = [("mouse", "Mus musculus"), ("rat", "Rattus norvegicus")]

    uuid_line = "tag = null : uuid" if with_uuid else ""

    class Subject(module.Manual):
        definition = f"""
        subject_id : int32
        ---
        -> Species
        sex : enum('M', 'F', 'U')
        info : json
        {uuid_line}
        photo = null : <blob>
        """

    class Session(module.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        -> [nullable] Subject.proj(buddy='subject_id')
        """

    class Recording(module.Imported):
        definition = """
        -> Session
        ---
        channels : int16
        """

        class Channel(module.Part):
            definition = """
            -> master
            channel : int16
            ---
            signal : <blob>
            """

        def make(self, key):
            rng = np.random.default_rng(key["subject_id"] * 100 + key["session"])
            self.insert1(dict(key, channels=3))
            self.Channel.insert([dict(key, channel=c, signal=rng.normal(size=(4, 5))) for c in range(3)])

    class Summary(module.Computed):
        definition = """
        -> Recording
        ---
        mean : float64
        stats : <blob>
        """

        def make(self, key):
            signals = [row["signal"] for row in (Recording.Channel & key).to_dicts()]
            stacked = np.stack(signals)
            self.insert1(dict(key, mean=float(stacked.mean()),
                              stats={"max": float(stacked.max()), "shape": [int(s) for s in stacked.shape],
                                     "label": "ok", "count": np.int64(len(signals))}))

    context = {}
    for cls in (Species, Subject, Session, Recording, Summary):
        context[cls.__name__] = cls
        schema(cls, context=dict(context))
    return Species, Subject, Session, Recording, Summary


def fill(Subject, Session, with_uuid: bool) -> None:
    subjects = [dict(subject_id=1, species="mouse", sex="M", info={"cage": 7, "tags": ["a", "b"]},
                     photo=np.arange(6, dtype=np.uint8).reshape(2, 3)),
                dict(subject_id=2, species="rat", sex="F", info={"cage": 9}, photo={"scale": 1.5, "ok": True}),
                dict(subject_id=3, species="mouse", sex="U", info=[1, 2, 3], photo=42)]
    if with_uuid:
        for row, tag in zip(subjects, TAGS):
            row["tag"] = tag
    Subject.insert(subjects)
    Session.insert([dict(subject_id=1, session=1, buddy=None), dict(subject_id=1, session=2, buddy=2),
                    dict(subject_id=2, session=1, buddy=1), dict(subject_id=3, session=1, buddy=None)])


def test_a_datajoint_pipeline_opens_here(both):
    backend, datajoint, theirs, ours = both
    name = "t_" + uuid.uuid4().hex[:10]
    schema = datajoint.Schema(name, connection=theirs)
    # DataJoint 2.3.5 cannot insert uuid values on PostgreSQL ("column is of type uuid but expression is of
    # type bytea"); on PostgreSQL its side of the pipeline goes without the uuid attribute.
    with_uuid = backend != "postgresql"
    try:
        Species, Subject, Session, Recording, Summary = declare(datajoint, schema, with_uuid=with_uuid)
        fill(Subject, Session, with_uuid)
        Recording.populate()
        Summary.populate()
        module = dj.virtual_schema(name, connection=ours)
        pairs = [(Species, module.Species), (Subject, module.Subject), (Session, module.Session),
                 (Recording, module.Recording), (Recording.Channel, module.Recording.Channel),
                 (Summary, module.Summary)]
        for theirs_table, ours_table in pairs:
            _rows_equal(theirs_table.to_dicts(), ours_table.to_dicts())
        assert module.Session.heading["buddy"].lineage == f"{name}.subject.subject_id"
        # our inserts land in their tables and they read them
        module.Subject.insert1(dict(subject_id=4, species="rat", sex="F", info={"new": True},
                                    photo=np.eye(2), **({"tag": TAGS[0]} if with_uuid else {})))
        module.Session.insert1(dict(subject_id=4, session=1, buddy=3))
        assert (Session & {"subject_id": 4}).fetch1("buddy") == 3
        np.testing.assert_array_equal((Subject & {"subject_id": 4}).fetch1("photo"), np.eye(2))
        # our cascade removes their rows, parts included
        assert (module.Subject & {"subject_id": 1}).delete(prompt=False) == 1
        assert not (Recording.Channel & {"subject_id": 1}) and not (Summary & {"subject_id": 1})
        assert not (Session & {"subject_id": 1}) and len(Subject()) == 3
        assert not (Session & {"subject_id": 2, "session": 1})  # its buddy was subject 1: the cascade took it
    finally:
        schema.drop(prompt=False)


def test_our_pipeline_opens_in_datajoint(both):
    backend, datajoint, theirs, ours = both
    name = "t_" + uuid.uuid4().hex[:10]
    schema = dj.Schema(name, connection=ours)
    try:
        Species, Subject, Session, Recording, Summary = declare(dj, schema, with_uuid=True)
        fill(Subject, Session, True)
        Recording.populate()
        Summary.populate()
        module = datajoint.VirtualModule("ours", name, connection=theirs)
        pairs = [(module.Species, Species), (module.Session, Session), (module.Recording, Recording),
                 (module.Recording.Channel, Recording.Channel), (module.Summary, Summary)]
        for theirs_table, ours_table in pairs:
            _rows_equal(theirs_table.to_dicts(), ours_table.to_dicts())
        ours_subjects = Subject.to_dicts()
        assert [row["tag"] for row in sorted(ours_subjects, key=lambda r: r["subject_id"])] == TAGS
        if backend == "postgresql":
            # DataJoint 2.3.5 cannot fetch uuid columns on PostgreSQL: compare everything else
            _rows_equal(module.Subject.proj(..., "-tag").to_dicts(),
                        [{k: v for k, v in row.items() if k != "tag"} for row in ours_subjects])
        else:
            _rows_equal(module.Subject.to_dicts(), ours_subjects)
        # their insert into our table, and their cascade, which we see
        module.Session.insert1(dict(subject_id=3, session=2, buddy=1))
        assert (Session & {"subject_id": 3, "session": 2}).fetch1("buddy") == 1
        (module.Subject & {"subject_id": 2}).delete()
        assert not (Summary & {"subject_id": 2}) and not (Recording.Channel & {"subject_id": 2})
        assert not (Session & {"subject_id": 1, "session": 2})  # its buddy was subject 2
    finally:
        schema.drop(prompt=False)
