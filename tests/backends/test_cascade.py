"""Cascading delete, part integrity and drop through a four-level tree across two schemas.

    lab.Subject -> lab.Session (+ Session.Trial) -> analysis.Analysis (+ Analysis.Result) -> analysis.Report
                   lab.Method (lookup) ----------------------------------------> Analysis.Result

Expected contents after each delete are computed here from the inserted rows,
never read back from the library.
"""

from __future__ import annotations

import types

import pytest

import dj_jupyter as dj
import dj_jupyter.deletes

SUBJECTS = (1, 2, 3)
SESSIONS = (0, 1)
TRIALS = (0, 1, 2)
METHODS = ("a", "b")


def build_pipeline(make_schema):
    lab = make_schema()
    analysis = make_schema()

    @lab
    class Subject(dj.Manual):
        definition = """
        # a research subject
        subject_id : int32
        ---
        name : varchar(16)
        """

    @lab
    class Method(dj.Lookup):
        definition = """
        method : varchar(8)
        """
        contents = [(m,) for m in METHODS]

    @lab
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int16
            ---
            value : float64
            """

    @analysis
    class Analysis(dj.Computed):
        definition = """
        -> Session
        ---
        score : float64
        """

        class Result(dj.Part):
            definition = """
            -> master
            -> Session.Trial
            -> Method
            ---
            result : float64
            """

    @analysis
    class Report(dj.Manual):
        definition = """
        -> Analysis
        report : int8
        ---
        text : varchar(32)
        """

    Subject.insert([(s, f"subject {s}") for s in SUBJECTS])
    Session.insert([(s, n) for s in SUBJECTS for n in SESSIONS])
    Session.Trial.insert([(s, n, t, s + n + t / 10) for s in SUBJECTS for n in SESSIONS for t in TRIALS])
    Analysis.insert([(s, n, float(s * n)) for s in SUBJECTS for n in SESSIONS], allow_direct_insert=True)
    Analysis.Result.insert([dict(subject_id=s, session=n, trial=t, method=m, result=1.0)
                            for s in SUBJECTS for n in SESSIONS for t in TRIALS for m in METHODS],
                           allow_direct_insert=True)
    Report.insert([(s, n, r, "ok") for s in SUBJECTS for n in SESSIONS for r in (1, 2)])
    return types.SimpleNamespace(lab=lab, analysis=analysis, Subject=Subject, Method=Method, Session=Session,
                                 Trial=Session.Trial, Analysis=Analysis, Result=Analysis.Result, Report=Report)


@pytest.fixture
def p(make_schema):
    return build_pipeline(make_schema)


TABLES = ("Subject", "Method", "Session", "Trial", "Analysis", "Result", "Report")


def expected_rows(drop=lambda **k: False):
    """Primary keys of every table, minus the rows ``drop`` selects (given the full key)."""
    full = {
        "Subject": [dict(subject_id=s) for s in SUBJECTS],
        "Method": [dict(method=m) for m in METHODS],
        "Session": [dict(subject_id=s, session=n) for s in SUBJECTS for n in SESSIONS],
        "Trial": [dict(subject_id=s, session=n, trial=t) for s in SUBJECTS for n in SESSIONS for t in TRIALS],
        "Analysis": [dict(subject_id=s, session=n) for s in SUBJECTS for n in SESSIONS],
        "Result": [dict(subject_id=s, session=n, trial=t, method=m)
                   for s in SUBJECTS for n in SESSIONS for t in TRIALS for m in METHODS],
        "Report": [dict(subject_id=s, session=n, report=r) for s in SUBJECTS for n in SESSIONS for r in (1, 2)],
    }
    return {name: sorted(tuple(sorted(k.items())) for k in keys if not drop(table=name, **k))
            for name, keys in full.items()}


def contents(p):
    return {name: sorted(tuple(sorted(k.items())) for k in getattr(p, name).keys()) for name in TABLES}


def test_fixture_contents_are_complete(p):
    assert contents(p) == expected_rows()
    assert [len(getattr(p, n)) for n in TABLES] == [3, 2, 6, 18, 6, 36, 12]


def test_delete_at_the_top_cascades_to_every_descendant(p):
    count = (p.Subject & {"subject_id": 2}).delete()
    assert count == 1
    assert contents(p) == expected_rows(lambda table, subject_id=None, **k: table != "Method" and subject_id == 2)


def test_delete_returns_rows_deleted_from_the_restricted_table_only(p):
    count = (p.Session & "session = 1").delete()
    assert count == len(SUBJECTS)  # not counting trials, analyses, results and reports
    assert contents(p) == expected_rows(lambda table, session=None, **k: session == 1)


def test_delete_of_nothing_returns_zero_and_changes_nothing(p):
    assert (p.Subject & {"subject_id": 99}).delete() == 0
    assert contents(p) == expected_rows()


def test_unrestricted_delete_empties_the_tree_but_not_unrelated_tables(p):
    assert p.Subject.delete() == len(SUBJECTS)
    remaining = contents(p)
    assert remaining["Method"] == expected_rows()["Method"]
    assert all(not remaining[n] for n in TABLES if n != "Method")


def test_delete_through_a_middle_level(p):
    count = (p.Analysis & {"subject_id": 1, "session": 0}).delete()
    assert count == 1
    gone = lambda table, subject_id=None, session=None, **k: (
        table in ("Analysis", "Result", "Report") and (subject_id, session) == (1, 0))
    assert contents(p) == expected_rows(gone)


def test_delete_is_one_transaction_and_refuses_to_nest(p):
    connection = p.Subject.connection
    with connection.transaction:
        with pytest.raises(dj.DataJointError):
            (p.Subject & {"subject_id": 1}).delete()
    assert contents(p) == expected_rows()
    # transaction=False makes the delete part of the caller's transaction, which can roll it back
    with pytest.raises(RuntimeError):
        with connection.transaction:
            assert (p.Subject & {"subject_id": 1}).delete(transaction=False) == 1
            assert not (p.Report & {"subject_id": 1})
            raise RuntimeError("change of mind")
    assert contents(p) == expected_rows()
    assert not connection.in_transaction


def test_failure_midway_leaves_every_table_unchanged(p, monkeypatch):
    real = dj_jupyter.deletes.delete_rows
    calls = []

    def failing(expr):
        calls.append(expr.table_name)
        if len(calls) == 3:  # leaves are already gone when this happens
            raise RuntimeError("disk on fire")
        return real(expr)

    monkeypatch.setattr(dj_jupyter.deletes, "delete_rows", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        (p.Subject & {"subject_id": 3}).delete()
    monkeypatch.undo()
    assert len(calls) == 3
    assert contents(p) == expected_rows()
    assert not p.Subject.connection.in_transaction
    # the connection is usable afterwards and the same delete now succeeds
    assert (p.Subject & {"subject_id": 3}).delete() == 1


# ---- part integrity ------------------------------------------------------------------------------
def test_enforce_refuses_deleting_a_part_directly(p):
    with pytest.raises(dj.DataJointError) as info:
        (p.Trial & {"subject_id": 1}).delete()
    assert info.value.hint and "part_integrity" in str(info.value)
    assert contents(p) == expected_rows()


def test_enforce_refuses_a_cascade_that_reaches_a_part_without_its_master(p):
    """Deleting a method would delete results (a part) but not their analyses (the master)."""
    with pytest.raises(dj.DataJointError) as info:
        (p.Method & {"method": "b"}).delete()
    assert "part" in str(info.value).lower()
    assert contents(p) == expected_rows()


def test_enforce_allows_parts_deleted_together_with_their_master(p):
    assert (p.Session & {"subject_id": 1, "session": 1}).delete(part_integrity="enforce") == 1
    gone = lambda table, subject_id=None, session=None, **k: (subject_id, session) == (1, 1)
    assert contents(p) == expected_rows(gone)


def test_ignore_deletes_parts_and_keeps_masters(p):
    assert (p.Method & {"method": "b"}).delete(part_integrity="ignore") == 1
    gone = lambda table, method=None, **k: method == "b"
    assert contents(p) == expected_rows(gone)


def test_ignore_on_a_part_table_directly(p):
    key = {"subject_id": 2, "session": 0, "trial": 1}
    assert (p.Trial & key).delete(part_integrity="ignore") == 1
    gone = lambda table, subject_id=None, session=None, trial=None, **k: (
        table in ("Trial", "Result") and (subject_id, session, trial) == (2, 0, 1))
    assert contents(p) == expected_rows(gone)


def test_cascade_deletes_the_masters_too(p):
    """Results of method b belong to every analysis: cascading removes all analyses and what hangs on them."""
    (p.Result & {"method": "b", "subject_id": 3}).delete(part_integrity="cascade")
    gone = lambda table, subject_id=None, **k: table in ("Analysis", "Result", "Report") and subject_id == 3
    assert contents(p) == expected_rows(gone)


def test_cascade_from_a_non_part_table_reaching_a_part(p):
    assert (p.Method & {"method": "a"}).delete(part_integrity="cascade") == 1
    gone = lambda table, method=None, **k: method == "a" or table in ("Analysis", "Result", "Report")
    assert contents(p) == expected_rows(gone)


def test_cascade_on_a_part_deletes_its_master_and_siblings(p):
    key = {"subject_id": 1, "session": 0, "trial": 2}
    count = (p.Trial & key).delete(part_integrity="cascade")
    assert count == len(TRIALS)  # the whole master's trials leave with it
    gone = lambda table, subject_id=None, session=None, **k: table != "Subject" and (subject_id, session) == (1, 0)
    assert contents(p) == expected_rows(gone)


def test_invalid_part_integrity_is_refused(p):
    with pytest.raises((ValueError, dj.DataJointError)):
        (p.Subject & {"subject_id": 1}).delete(part_integrity="sometimes")
    assert contents(p) == expected_rows()


def test_dry_run_counts_without_deleting(p):
    counts = (p.Subject & {"subject_id": 1}).delete(dry_run=True)
    assert sorted(counts.values()) == [1, 2, 2, 4, 6, 12]  # subject, session, analysis, report, trial, result
    assert contents(p) == expected_rows()


# ---- delete_quick -----------------------------------------------------------------------------------
def test_delete_quick_does_not_cascade(p):
    assert (p.Report & {"report": 2}).delete_quick() is None
    assert (p.Report & {"report": 1, "subject_id": 1}).delete_quick(get_count=True) == len(SESSIONS)
    gone = lambda table, report=None, subject_id=None, **k: table == "Report" and (
        report == 2 or (report == 1 and subject_id == 1))
    assert contents(p) == expected_rows(gone)


def test_delete_quick_with_dependent_rows_fails_and_changes_nothing(p):
    with pytest.raises(dj.errors.IntegrityError) as info:
        (p.Subject & {"subject_id": 1}).delete_quick()
    assert info.value.hint
    assert contents(p) == expected_rows()


# ---- drop -----------------------------------------------------------------------------------------------
def test_drop_cascades_to_dependent_tables_across_schemas(p):
    p.Session.drop()
    assert not p.Session().is_declared and not p.Trial().is_declared
    assert not p.Analysis().is_declared and not p.Result().is_declared and not p.Report().is_declared
    assert p.Subject().is_declared and p.Method().is_declared
    assert sorted(p.lab.list_tables()) == sorted([p.Method.table_name, p.Subject.table_name])
    assert p.analysis.list_tables() == []
    assert len(p.Subject) == len(SUBJECTS)


def test_drop_of_a_part_alone_is_refused(p):
    with pytest.raises(dj.DataJointError):
        p.Trial.drop()
    assert p.Trial().is_declared and len(p.Trial) == len(SUBJECTS) * len(SESSIONS) * len(TRIALS)


def test_drop_of_a_restricted_table_is_refused(p):
    with pytest.raises(dj.DataJointError):
        (p.Report & {"report": 1}).drop()
    assert p.Report().is_declared


# ---- dependency navigation -----------------------------------------------------------------------------
def test_parents_and_children(p):
    full = lambda cls: cls.full_table_name
    assert p.Session.parents() == [full(p.Subject)]
    assert sorted(p.Result.parents()) == sorted([full(p.Analysis), full(p.Trial), full(p.Method)])
    assert p.Result.parents(primary=False) == []
    assert sorted(p.Session.children()) == sorted([full(p.Trial), full(p.Analysis)])
    assert p.Report.children() == []
    parents = p.Result.parents(as_objects=True)
    assert all(isinstance(t, dj.FreeTable) for t in parents)
    assert sorted(t.full_table_name for t in parents) == sorted(p.Result.parents())
    info = dict(p.Result.parents(foreign_key_info=True))
    assert info[full(p.Method)]["attr_map"] == {"method": "method"}


def test_descendants_and_ancestors_in_topological_order(p):
    full = lambda cls: cls.full_table_name
    descendants = p.Subject.descendants()
    assert set(descendants) == {full(getattr(p, n)) for n in TABLES if n != "Method"}
    assert descendants[0] == full(p.Subject)
    for parent, child in [("Subject", "Session"), ("Session", "Trial"), ("Session", "Analysis"),
                          ("Analysis", "Result"), ("Trial", "Result"), ("Analysis", "Report")]:
        assert descendants.index(full(getattr(p, parent))) < descendants.index(full(getattr(p, child)))
    ancestors = p.Result.ancestors()
    assert set(ancestors) == {full(getattr(p, n)) for n in TABLES if n != "Report"}
    assert ancestors[-1] == full(p.Result)
    assert p.Method.descendants() == [full(p.Method), full(p.Result)]


def test_parts(p):
    assert p.Session.parts() == [p.Trial.full_table_name]
    assert p.Analysis.parts() == [p.Result.full_table_name]
    assert p.Subject.parts() == [] and p.Report.parts() == []
    (part,) = p.Analysis.parts(as_objects=True)
    assert len(part) == len(p.Result)


def test_cascade_follows_renamed_and_nullable_foreign_keys(make_schema):
    schema = make_schema()

    @schema
    class Animal(dj.Manual):
        definition = "animal_id : int32"

    @schema
    class Pairing(dj.Manual):
        definition = """
        -> Animal.proj(first='animal_id')
        -> Animal.proj(second='animal_id')
        ---
        -> [nullable] Animal.proj(witness='animal_id')
        """

    Animal.insert([(i,) for i in range(1, 6)])
    pairs = [(1, 2, None), (2, 3, 4), (3, 4, None), (4, 5, 2), (5, 1, 3)]
    Pairing.insert(pairs)
    assert (Animal & {"animal_id": 2}).delete() == 1
    kept = sorted((r["first"], r["second"], r["witness"]) for r in Pairing.to_dicts())
    assert kept == sorted(p for p in pairs if 2 not in p)
    assert sorted(Animal.keys(), key=lambda k: k["animal_id"]) == [{"animal_id": i} for i in (1, 3, 4, 5)]
