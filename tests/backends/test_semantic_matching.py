"""Semantic matching: same-named attributes match only when they share a lineage.

Lineage is ``schema.table.attribute`` of the table that first defined an attribute,
stored in the schema's ``~lineage`` table (columns ``table_name``,
``attribute_name``, ``lineage``) for primary-key and foreign-key attributes, as
DataJoint 2.3 does, and carried through foreign keys and renames.
"""

from __future__ import annotations

import pytest

import dj_jupyter as dj
from dj_jupyter.errors import SemanticMatchError
from tests.schemas import neuro, university


@pytest.fixture
def neuro_schema(make_schema):
    schema = make_schema()
    n = neuro.declare(schema)
    neuro.fill(n)
    return schema, n


@pytest.fixture
def nr(neuro_schema):
    return neuro_schema[1]


def lineage_rows(connection, database) -> set[tuple[str, str, str]]:
    ref = connection.backend.table_ref(database, "~lineage")
    return {tuple(row) for row in connection.query(f"SELECT table_name, attribute_name, lineage FROM {ref}").fetchall()}


def expected_neuro_lineage(db: str) -> set[tuple[str, str, str]]:
    lab, species, experimenter = f"{db}.#lab.lab", f"{db}.#species.species", f"{db}.#experimenter.experimenter"
    subject, session, trial = f"{db}.subject.subject_id", f"{db}.session.session_idx", f"{db}.session__trial.trial_idx"
    unit, stim = f"{db}.unit.unit_idx", f"{db}.#stimulus.stim_id"
    return {
        ("#lab", "lab", lab), ("#species", "species", species), ("#probe", "probe", f"{db}.#probe.probe"),
        ("#experimenter", "experimenter", experimenter), ("#experimenter", "lab", lab),
        ("#stimulus", "stim_id", stim),
        ("subject", "subject_id", subject), ("subject", "species", species),
        ("volunteer", "subject_id", f"{db}.volunteer.subject_id"),
        ("session", "subject_id", subject), ("session", "session_idx", session),
        ("session", "experimenter", experimenter), ("session", "reviewer", experimenter),
        ("session__trial", "subject_id", subject), ("session__trial", "session_idx", session),
        ("session__trial", "trial_idx", trial), ("session__trial", "stim_id", stim),
        ("unit", "subject_id", subject), ("unit", "session_idx", session), ("unit", "unit_idx", unit),
        ("spike_count", "subject_id", subject), ("spike_count", "session_idx", session),
        ("spike_count", "trial_idx", trial), ("spike_count", "unit_idx", unit),
        ("unit_pair", "subject_id", subject), ("unit_pair", "session_idx", session),
        ("unit_pair", "pre_unit", unit), ("unit_pair", "post_unit", unit),
    }


# ----------------------------------------------------------------------------------------------
# where lineage comes from
# ----------------------------------------------------------------------------------------------
class TestLineageStorage:
    def test_lineage_table_holds_primary_and_foreign_key_attributes(self, neuro_schema, connection):
        schema, _ = neuro_schema
        assert "~lineage" in connection.backend.list_tables(connection, schema.database)
        assert lineage_rows(connection, schema.database) == expected_neuro_lineage(schema.database)

    def test_native_key_points_at_its_own_table(self, nr):
        db = nr.Subject.database
        assert nr.Subject.heading["subject_id"].lineage == f"{db}.subject.subject_id"
        assert nr.Lab.heading["lab"].lineage == f"{db}.#lab.lab"

    def test_foreign_keys_carry_the_origin(self, nr):
        db = nr.Subject.database
        assert nr.SpikeCount.heading["subject_id"].lineage == f"{db}.subject.subject_id"
        assert nr.SpikeCount.heading["trial_idx"].lineage == f"{db}.session__trial.trial_idx"
        assert nr.Trial.heading["stim_id"].lineage == f"{db}.#stimulus.stim_id"  # a secondary foreign key

    def test_renamed_foreign_keys_keep_the_origin(self, nr):
        db = nr.Subject.database
        assert nr.Session.heading["reviewer"].lineage == f"{db}.#experimenter.experimenter"
        assert nr.UnitPair.heading["pre_unit"].lineage == nr.UnitPair.heading["post_unit"].lineage == \
            f"{db}.unit.unit_idx"

    def test_native_secondary_attributes_have_none(self, nr):
        assert nr.Subject.heading["notes"].lineage is None
        assert nr.Session.heading["notes"].lineage is None
        assert nr.Unit.heading["depth"].lineage is None

    def test_query_operators_carry_lineage(self, nr):
        db = nr.Subject.database
        renamed = nr.Subject.proj(animal="subject_id")
        assert renamed.heading["animal"].lineage == f"{db}.subject.subject_id"
        assert nr.Session.proj(check="(reviewer)").heading["check"].lineage == f"{db}.#experimenter.experimenter"
        assert nr.Subject.proj(double="subject_id * 2").heading["double"].lineage is None
        joined = nr.Session * nr.Trial
        assert joined.heading["trial_idx"].lineage == f"{db}.session__trial.trial_idx"
        agg = nr.Session.aggr(nr.Trial, n="count(*)")
        assert agg.heading["session_idx"].lineage == f"{db}.session.session_idx" and agg.heading["n"].lineage is None
        assert (dj.U("stim_id") & nr.Trial).heading["stim_id"].lineage == f"{db}.#stimulus.stim_id"
        union = nr.Trial.proj() + (nr.Trial & "trial_idx > 2").proj()
        assert union.heading["trial_idx"].lineage == f"{db}.session__trial.trial_idx"

    def test_lineage_across_schemas(self, nr, make_schema, connection):
        Subject = nr.Subject  # noqa: N806 - the referenced table class

        other = make_schema()

        @other
        class Surgery(dj.Manual):
            definition = """
            -> Subject
            surgery_idx : int16
            ---
            procedure : varchar(32)
            """

        Surgery.insert([dict(subject_id=1, surgery_idx=1, procedure="headplate"),
                        dict(subject_id=3, surgery_idx=1, procedure="craniotomy")])
        assert Surgery.heading["subject_id"].lineage == f"{Subject.database}.subject.subject_id"
        assert (Subject & Surgery).keys() == [{"subject_id": 1}, {"subject_id": 3}]
        with pytest.raises(SemanticMatchError):
            nr.Volunteer * Surgery
        # rebuilding the downstream schema reads the upstream schema's lineage
        other.rebuild_lineage()
        assert lineage_rows(connection, other.database) == {
            ("surgery", "subject_id", f"{Subject.database}.subject.subject_id"),
            ("surgery", "surgery_idx", f"{other.database}.surgery.surgery_idx")}


# ----------------------------------------------------------------------------------------------
# matching
# ----------------------------------------------------------------------------------------------
class TestMatching:
    def test_homologous_namesakes_match(self, nr):
        assert len(nr.Subject * nr.Session.proj()) == len(neuro.SESSIONS)
        assert len(nr.Session & nr.Unit) == len({(u["subject_id"], u["session_idx"]) for u in neuro.EXPECTED.units})
        assert len(nr.Experimenter * nr.Session.proj("experimenter")) == len(neuro.SESSIONS)

    def test_renamed_foreign_key_matches_its_origin(self, nr):
        reviewers = nr.Experimenter.proj(reviewer="experimenter")
        assert len(nr.Session & reviewers) == sum(1 for s in neuro.SESSIONS if s["reviewer"])
        assert (nr.Session * reviewers).primary_key == ["subject_id", "session_idx"]

    def test_different_key_lineages_raise_for_every_binary_operator(self, nr):
        operations = {
            "join": lambda: nr.Subject * nr.Volunteer,
            "join method": lambda: nr.Subject.join(nr.Volunteer),
            "extend": lambda: nr.Subject.extend(nr.Volunteer),
            "restrict": lambda: nr.Subject & nr.Volunteer,
            "antijoin": lambda: nr.Subject - nr.Volunteer,
            "not": lambda: nr.Subject & dj.Not(nr.Volunteer),
            "restrict in a list": lambda: nr.Subject & [nr.Volunteer],
            "aggr": lambda: nr.Subject.aggr(nr.Volunteer, n="count(*)"),
            "union": lambda: nr.Subject.proj() + nr.Volunteer.proj(),
            "in": lambda: nr.Volunteer in nr.Subject,
        }
        for name, operation in operations.items():
            with pytest.raises(SemanticMatchError) as info:
                operation()
            assert isinstance(info.value, dj.DataJointError), name

    def test_error_names_both_origins_and_the_rename_fix(self, nr):
        db = nr.Subject.database
        with pytest.raises(dj.DataJointError) as info:
            nr.Subject * nr.Volunteer
        message = str(info.value)
        assert "`subject_id`" in message and "lineage" in message
        assert f"{db}.subject.subject_id" in message
        assert f"{db}.volunteer.subject_id" in message
        assert ".proj(" in message and "='subject_id')" in message
        assert "semantic_check=False" in message

    def test_the_suggested_rename_works(self, nr):
        pairs = nr.Subject * nr.Volunteer.proj(..., volunteer_subject_id="subject_id")
        assert len(pairs) == len(neuro.SUBJECTS) * len(neuro.VOLUNTEERS)
        assert set(pairs.primary_key) == {"subject_id", "volunteer_subject_id"}

    def test_unrelated_secondary_namesakes_raise(self, nr):
        with pytest.raises(SemanticMatchError, match="`notes`"):
            nr.Subject * nr.Session
        with pytest.raises(SemanticMatchError, match="`depth`"):
            nr.Unit * nr.Probe

    def test_renaming_or_dropping_the_secondary_namesake_resolves_it(self, nr):
        joined = nr.Subject * nr.Session.proj(..., session_notes="notes")
        assert len(joined) == len(neuro.SESSIONS)
        assert {(r["notes"], r["session_notes"]) for r in joined.to_dicts()} == {
            (next(x["notes"] for x in neuro.SUBJECTS if x["subject_id"] == s["subject_id"]), s["notes"])
            for s in neuro.SESSIONS}
        assert len(nr.Subject.proj(..., "-notes") * nr.Session) == len(neuro.SESSIONS)
        assert len(nr.Unit * nr.Probe.proj(probe_depth="depth")) == len(neuro.EXPECTED.units) * 2

    def test_computed_attribute_does_not_match_a_key(self, nr):
        fake = nr.Subject.proj(session_idx="subject_id + 0")
        with pytest.raises(SemanticMatchError, match="session_idx"):
            fake * nr.Session.proj()

    def test_aggregate_does_not_match_a_same_named_secondary(self, nr):
        per_session = nr.Session.aggr(nr.Trial, reaction_time="avg(reaction_time)")
        with pytest.raises(SemanticMatchError, match="reaction_time"):
            per_session * nr.Trial

    def test_universal_set_matches_anything(self, nr):
        # dj.U carries no lineage of its own
        assert nr.Volunteer & dj.U("subject_id")
        assert len(dj.U("subject_id") & nr.Volunteer) == len(neuro.VOLUNTEERS)


class TestBypass:
    def test_semantic_check_false_joins_on_all_namesakes(self, nr):
        joined = nr.Subject.join(nr.Volunteer, semantic_check=False)
        shared = {s["subject_id"] for s in neuro.SUBJECTS} & {v["subject_id"] for v in neuro.VOLUNTEERS}
        assert {r["subject_id"] for r in joined.to_dicts()} == shared
        assert joined.primary_key == ["subject_id"]

    def test_semantic_check_false_restricts(self, nr):
        shared = {s["subject_id"] for s in neuro.SUBJECTS} & {v["subject_id"] for v in neuro.VOLUNTEERS}
        semi = nr.Subject.restrict(nr.Volunteer, semantic_check=False)
        anti = nr.Subject.restrict(dj.Not(nr.Volunteer), semantic_check=False)
        assert {r["subject_id"] for r in semi.to_dicts()} == shared
        assert {r["subject_id"] for r in anti.to_dicts()} == {s["subject_id"] for s in neuro.SUBJECTS} - shared

    def test_semantic_check_false_matches_secondary_namesakes(self, nr):
        same_notes = nr.Subject.join(nr.Session, semantic_check=False)
        expected = {(s["subject_id"], s["session_idx"]) for s in neuro.SESSIONS for x in neuro.SUBJECTS
                    if x["subject_id"] == s["subject_id"] and x["notes"] == s["notes"]}
        assert {(r["subject_id"], r["session_idx"]) for r in same_notes.to_dicts()} == expected

    def test_extend_without_semantic_check(self, nr):
        extended = nr.Subject.extend(nr.Volunteer, semantic_check=False)
        initials = {v["subject_id"]: v["initials"] for v in neuro.VOLUNTEERS}
        assert {(r["subject_id"], r["initials"]) for r in extended.to_dicts()} == {
            (s["subject_id"], initials.get(s["subject_id"])) for s in neuro.SUBJECTS}

    def test_matching_dicts_are_never_checked(self, nr):
        keys = nr.Volunteer.keys()
        assert len(nr.Subject & keys) == 2


# ----------------------------------------------------------------------------------------------
# repair
# ----------------------------------------------------------------------------------------------
class TestRebuildLineage:
    def test_rebuild_restores_deleted_rows(self, neuro_schema, connection):
        schema, nr = neuro_schema
        before = lineage_rows(connection, schema.database)
        connection.query(f"DELETE FROM {connection.backend.table_ref(schema.database, '~lineage')}")
        connection.purge_query_cache()
        assert lineage_rows(connection, schema.database) == set()
        # without lineage, key namesakes no longer match
        with pytest.raises(SemanticMatchError):
            nr.Session * nr.Trial
        schema.rebuild_lineage()
        assert lineage_rows(connection, schema.database) == before
        assert len(nr.Session * nr.Trial) == len(neuro.EXPECTED.trials)
        with pytest.raises(SemanticMatchError):
            nr.Subject * nr.Volunteer

    def test_rebuild_repairs_wrong_rows(self, neuro_schema, connection):
        schema, nr = neuro_schema
        before = lineage_rows(connection, schema.database)
        ref = connection.backend.table_ref(schema.database, "~lineage")
        p = connection.backend.placeholder
        connection.query(f"UPDATE {ref} SET lineage = {p} WHERE table_name = {p} AND attribute_name = {p}",
                         ("somewhere.else.subject_id", "volunteer", "subject_id"))
        connection.purge_query_cache()
        # the wrong lineage makes Volunteer look unrelated to Subject in a different way; still no match
        assert nr.Volunteer.heading["subject_id"].lineage == "somewhere.else.subject_id"
        schema.rebuild_lineage()
        assert lineage_rows(connection, schema.database) == before
        assert nr.Volunteer.heading["subject_id"].lineage == f"{schema.database}.volunteer.subject_id"

    def test_rebuild_recreates_a_dropped_lineage_table(self, make_schema, connection):
        schema = make_schema()
        u = university.declare(schema)
        university.fill(u)
        before = lineage_rows(connection, schema.database)
        assert ("enroll", "student_id", f"{schema.database}.student.student_id") in before
        assert ("grade", "grade", f"{schema.database}.#letter_grade.grade") in before
        connection.query(f"DROP TABLE {connection.backend.table_ref(schema.database, '~lineage')}")
        connection.purge_query_cache()
        assert "~lineage" not in connection.backend.list_tables(connection, schema.database)
        # no lineage table: semantic checks are skipped (the DataJoint behaviour) rather than failing
        assert len(u.Student * u.Enroll) == len(university.ENROLL)
        schema.rebuild_lineage()
        assert lineage_rows(connection, schema.database) == before
        with pytest.raises(SemanticMatchError):
            u.Student * u.Student  # secondary namesakes are checked again

    def test_redecorating_refreshes_missing_lineage(self, neuro_schema, connection):
        schema, nr = neuro_schema
        before = lineage_rows(connection, schema.database)
        ref = connection.backend.table_ref(schema.database, "~lineage")
        p = connection.backend.placeholder
        connection.query(f"DELETE FROM {ref} WHERE table_name = {p}", ("unit",))
        connection.purge_query_cache()
        neuro.declare(schema)  # the classes are declared again on the existing tables
        assert lineage_rows(connection, schema.database) == before
