"""Algebraic closure, metadata without queries, corner cases, translated functions and NULLs.

Every expectation is computed in Python from the rows the schemas insert
(``tests/schemas/university.py`` and ``tests/schemas/neuro.py``), never from the
library's own output.
"""

from __future__ import annotations

import collections

import pytest

import dj_jupyter as dj
from tests.backends.query.checks import ALL_IDS, COURSES, ENROLL, GRADES, MAJORS, STUDENTS, ids, ordered, rows
from tests.schemas import neuro, university


# ----------------------------------------------------------------------------------------------
# metadata without the database
# ----------------------------------------------------------------------------------------------
class TestMetadataWithoutQueries:
    def test_heading_and_key_of_derived_expressions_run_no_sql(self, uni, connection, monkeypatch):
        tables = [uni.Student, uni.Enroll, uni.StudentMajor, uni.Grade, uni.LetterGrade, uni.Course,
                  uni.Department, uni.Section]
        for table in tables:
            table.heading  # noqa: B018 - table headings are loaded (and cached) once

        def refuse(*args, **kwargs):
            raise AssertionError(f"unexpected query: {args[0] if args else kwargs}")

        monkeypatch.setattr(connection, "query", refuse)
        expr = ((uni.Student & 'sex = "F"') * uni.StudentMajor).proj("first_name", major="dept")
        assert expr.primary_key == ["student_id"]
        assert expr.heading.names == ["student_id", "first_name", "major"]
        agg = uni.Student.aggr(uni.Enroll * uni.Grade, ..., n="count(*)")
        assert agg.primary_key == ["student_id"] and agg.heading.names[-1] == "n"
        assert (uni.Student * uni.Enroll).primary_key == list(university.ENROLL_KEYS)
        assert (uni.Student * uni.Department).primary_key == ["student_id", "dept"]
        assert (dj.U("dept") & uni.Enroll).primary_key == ["dept"]
        union = uni.Enroll.proj() + uni.Grade
        assert union.heading.names == list(university.ENROLL_KEYS) + ["grade"]
        top = uni.Student & dj.Top(2, "date_of_birth")
        assert top.primary_key == ["student_id"]
        assert isinstance(expr.make_sql(), tuple) and "SELECT" in expr.sql


# ----------------------------------------------------------------------------------------------
# algebraic closure
# ----------------------------------------------------------------------------------------------
class TestClosure:
    def test_restrict_join_project_aggregate(self, uni):
        # for every CS major: the number of 2024 enrollments outside their own department
        majors = {m["student_id"]: m["dept"] for m in MAJORS}
        expected = {(s, sum(1 for e in ENROLL if e["student_id"] == s and e["term_year"] == 2024
                            and e["dept"] != "CS"))
                    for s, d in majors.items() if d == "CS"}
        cs = (uni.StudentMajor & {"dept": "CS"}).proj(major="dept")
        elsewhere = (uni.Enroll & {"term_year": 2024}) * cs & "dept != major"
        q = uni.Student.proj().aggr(elsewhere, n="count(*)") & cs
        assert rows(q) == expected

    def test_deep_composition(self, uni):
        heavy = {c["course"] for c in COURSES if c["credits"] >= 4}
        # students with at least two heavy courses graded A or A-, with their state, joined to their major (if any)
        good = [g for g in GRADES if g["grade"] in ("A", "A-") and g["course"] in heavy]
        counts = collections.Counter(g["student_id"] for g in good)
        majors = {m["student_id"]: m["dept"] for m in MAJORS}
        expected = {(s["student_id"], s["home_state"], counts[s["student_id"]], majors.get(s["student_id"]))
                    for s in STUDENTS if counts[s["student_id"]] >= 2}
        good_q = (uni.Grade & 'grade in ("A", "A-")') * (uni.Course & "credits >= 4").proj()
        q = (uni.Student.aggr(good_q, "home_state", n="count(*)") & "n >= 2").extend(
            uni.StudentMajor.proj(major="dept"))
        assert rows(q, "student_id", "home_state", "n", "major") == expected

    def test_every_operator_once(self, uni):
        union = (uni.Enroll & {"dept": "CS"}) + (uni.Enroll & {"dept": "MATH"})
        per_student = uni.Student.aggr(union, n="count(*)")
        joined = (per_student * uni.StudentMajor).proj("n", major="dept")
        top = joined & dj.Top(2, ["n DESC", "KEY"])
        states = dj.U("major") & top
        counts = collections.Counter(e["student_id"] for e in ENROLL if e["dept"] in ("CS", "MATH"))
        majors = sorted(MAJORS, key=lambda m: (-counts.get(m["student_id"], 0), m["student_id"]))
        assert ids(states, "major") == {m["dept"] for m in majors[:2]}
        assert ordered(top, "student_id") == [m["student_id"] for m in majors[:2]]

    def test_composition_does_not_depend_on_grouping(self, uni):
        a = uni.Student & 'sex = "F"'
        b = uni.Enroll & {"term_year": 2023}
        c = uni.Course & "credits > 3"
        one = (a * b) * c
        two = a * (b * c)
        three = (a * c) * b
        names = sorted(one.heading.names)
        assert sorted(two.heading.names) == sorted(three.heading.names) == names
        assert set(one.primary_key) == set(two.primary_key) == set(three.primary_key)
        assert rows(one, *names) == rows(two, *names) == rows(three, *names)
        assert len(rows(one, *names)) == sum(1 for e in ENROLL if e["term_year"] == 2023 for st in STUDENTS
                                             for c in COURSES if st["sex"] == "F" and st["student_id"] == e["student_id"]
                                             and (c["dept"], c["course"]) == (e["dept"], e["course"])
                                             and c["credits"] > 3)

    def test_neuro_pipeline(self, nr):
        # hits on grating stimuli per good unit, with the reviewer's name where there is one
        stim = {1: "grating", 2: "grating", 3: "noise", 4: "blank"}
        hit_trials = {(t["subject_id"], t["session_idx"], t["trial_idx"]) for t in neuro.EXPECTED.trials
                      if t["outcome"] == "hit" and stim[t["stim_id"]] == "grating"}
        good = [u for u in neuro.EXPECTED.units if u["quality"] == "good"]
        spikes = collections.defaultdict(int)
        for c in neuro.EXPECTED.spike_counts:
            if (c["subject_id"], c["session_idx"], c["trial_idx"]) in hit_trials:
                spikes[(c["subject_id"], c["session_idx"], c["unit_idx"])] += c["spikes"]
        sessions = {(s["subject_id"], s["session_idx"]): s["reviewer"] for s in neuro.SESSIONS}
        names = {"torsten": "Torsten Wiesel", "santiago": "Santiago Ramon", "edgar": "Edgar Adrian"}
        expected = {(u["subject_id"], u["session_idx"], u["unit_idx"],
                     spikes.get((u["subject_id"], u["session_idx"], u["unit_idx"]), 0),
                     names.get(sessions[(u["subject_id"], u["session_idx"])]))
                    for u in good}
        hits = nr.SpikeCount * (nr.Trial & 'outcome = "hit"') * (nr.Stimulus & {"stim_name": "grating"})
        per_unit = (nr.Unit & {"quality": "good"}).aggr(hits, total="coalesce(sum(spikes), 0)")
        q = (per_unit * nr.Session.proj("reviewer")).extend(
            nr.Experimenter.proj(reviewer="experimenter", reviewer_name="full_name")).proj("total", "reviewer_name")
        assert rows(q, "subject_id", "session_idx", "unit_idx", "total", "reviewer_name") == expected

    def test_pairs_through_renamed_foreign_keys(self, nr):
        depth = {(u["subject_id"], u["session_idx"], u["unit_idx"]): u["depth"] for u in neuro.EXPECTED.units}
        pre = nr.Unit.proj(pre_unit="unit_idx", pre_depth="depth")
        post = nr.Unit.proj(post_unit="unit_idx", post_depth="depth")
        q = (nr.UnitPair * pre * post).proj(gap="post_depth - pre_depth")
        assert q.primary_key == ["subject_id", "session_idx", "pre_unit", "post_unit"]
        assert rows(q, "pre_unit", "post_unit", "gap") == {
            (p["pre_unit"], p["post_unit"], depth[(p["subject_id"], p["session_idx"], p["post_unit"])]
             - depth[(p["subject_id"], p["session_idx"], p["pre_unit"])]) for p in neuro.EXPECTED.pairs}

    def test_diamond_join(self, nr):
        q = nr.Trial * nr.Unit
        expected = {(t["subject_id"], t["session_idx"], t["trial_idx"], u["unit_idx"]) for t in neuro.EXPECTED.trials
                    for u in neuro.EXPECTED.units
                    if (t["subject_id"], t["session_idx"]) == (u["subject_id"], u["session_idx"])}
        assert rows(q, "subject_id", "session_idx", "trial_idx", "unit_idx") == expected
        assert q.primary_key == ["subject_id", "session_idx", "trial_idx", "unit_idx"]
        assert rows(q - nr.SpikeCount, "subject_id") == set()

    def test_operands_are_not_modified(self, uni):
        base = uni.Student & 'sex = "F"'
        sql = base.make_sql()
        _ = base * uni.Enroll, base.proj("last_name"), base.aggr(uni.Enroll, n="count(*)"), base & dj.Top(2)
        _ = base - uni.Enroll, base.proj() + (uni.Student & 'sex = "M"').proj(), dj.U("home_state") & base
        assert base.make_sql() == sql
        assert ids(base) == {1, 3, 5, 7}


class TestCornerCases:
    def test_restricting_a_join_by_a_shared_attribute(self, uni):
        j = uni.Student * uni.Enroll
        assert rows(j & "student_id = 1", "student_id", "course") == {
            (1, e["course"]) for e in ENROLL if e["student_id"] == 1}
        assert len(j & {"student_id": 3, "dept": "CS"}) == 1

    def test_restricting_renamed_attributes_by_dicts(self, uni):
        assert ids(uni.Student.proj(sid="student_id") & {"sid": 3}, "sid") == {3}
        assert ids(uni.Student.proj(y="year(date_of_birth)") & {"y": 1997}) == {
            s["student_id"] for s in STUDENTS if s["date_of_birth"].year == 1997}

    def test_renaming_back_and_forth_keeps_matching(self, uni):
        back = uni.Student.proj(x="student_id").proj(student_id="x")
        assert ids(uni.Enroll & (back & "student_id < 3")) == {1, 2}
        assert len(back * uni.Enroll) == len(ENROLL)

    def test_self_pairs_by_renaming_the_key(self, uni):
        assert len(uni.Student.proj(other="student_id") * uni.Student.proj()) == len(STUDENTS) ** 2

    def test_aggregating_an_extension(self, uni):
        graded = collections.Counter(g["student_id"] for g in GRADES)
        agg = uni.Student.aggr(uni.Enroll.extend(uni.Grade), n="count(*)", graded="count(grade)")
        enrolled = collections.Counter(e["student_id"] for e in ENROLL)
        assert rows(agg) == {(s, enrolled.get(s, 0), graded.get(s, 0)) for s in ALL_IDS}

    def test_restricting_by_an_extension(self, uni):
        assert ids(uni.Student & uni.Enroll.extend(uni.Grade)) == {e["student_id"] for e in ENROLL}
        ungraded = uni.Enroll.extend(uni.Grade) & "grade is null"
        graded_keys = {(g["student_id"], g["course"]) for g in GRADES}
        assert ids(uni.Student & ungraded) == {e["student_id"] for e in ENROLL
                                               if (e["student_id"], e["course"]) not in graded_keys}

    def test_distinct_values_including_null(self, uni):
        grades = dj.U("grade") & uni.Enroll.extend(uni.Grade)
        graded_keys = {(g["student_id"], g["course"]) for g in GRADES}
        expected = {g["grade"] for g in GRADES} | (
            {None} if any((e["student_id"], e["course"]) not in graded_keys for e in ENROLL) else set())
        assert {r["grade"] for r in grades.to_dicts()} == expected
        assert len(grades) == len(expected)

    def test_grouping_by_a_secondary_foreign_key(self, uni):
        agg = uni.Department.aggr(uni.StudentMajor, n="count(*)")
        counts = collections.Counter(m["dept"] for m in MAJORS)
        assert rows(agg) == {(d, counts.get(d, 0)) for d, _ in university.DEPARTMENTS}

    def test_aggregating_a_join_on_the_left(self, uni):
        # dept is in both operands with the same lineage (Department), so it takes part in the matching:
        # each student counts the enrollments in the department of their major only
        agg = (uni.Student * uni.StudentMajor).aggr(uni.Enroll, "dept", n="count(*)")
        counts = collections.Counter((e["student_id"], e["dept"]) for e in ENROLL)
        assert agg.primary_key == ["student_id"]
        assert rows(agg) == {(m["student_id"], m["dept"], counts.get((m["student_id"], m["dept"]), 0)) for m in MAJORS}
        everything = (uni.Student * uni.StudentMajor).aggr(uni.Enroll.proj(enrolled_dept="dept"), n="count(*)")
        totals = collections.Counter(e["student_id"] for e in ENROLL)
        assert rows(everything) == {(m["student_id"], totals.get(m["student_id"], 0)) for m in MAJORS}

    def test_universal_aggregation_over_a_join(self, uni):
        credits = {(c["dept"], c["course"]): c["credits"] for c in COURSES}
        total = collections.defaultdict(float)
        for e in ENROLL:
            total[e["dept"]] += credits[(e["dept"], e["course"])]
        agg = dj.U("dept").aggr(uni.Enroll * uni.Course, credit_load="sum(credits)")
        assert rows(agg) == {(d, v) for d, v in total.items()}

    def test_ordering_a_distinct_set_by_an_unselected_attribute(self, uni):
        combos = dj.U("sex", "home_state") & uni.Student
        expected = sorted({(s["home_state"], s["sex"]) for s in STUDENTS})
        got = combos.to_arrays("sex", order_by=["home_state", "sex"])
        assert got.tolist() == [sex for _, sex in expected]

    def test_paging_a_union(self, uni):
        union = (uni.Enroll & {"dept": "CS"}).proj() + (uni.Enroll & {"dept": "MATH"}).proj()
        keys = sorted(tuple(e[k] for k in university.ENROLL_KEYS) for e in ENROLL if e["dept"] in ("CS", "MATH"))
        got = union.to_dicts(order_by="KEY DESC", limit=3, offset=1)
        assert [tuple(r[k] for k in university.ENROLL_KEYS) for r in got] == keys[::-1][1:4]

    def test_projection_with_ellipsis_of_a_union(self, uni):
        union = (uni.Student & "student_id <= 2").proj("first_name") + (uni.Student & "student_id >= 7").proj(
            "last_name")
        p = union.proj(..., "-last_name", initial="substring(first_name, 1, 1)")
        assert rows(p) == {(s["student_id"], s["first_name"] if s["student_id"] <= 2 else None,
                            s["first_name"][0] if s["student_id"] <= 2 else None)
                           for s in STUDENTS if s["student_id"] <= 2 or s["student_id"] >= 7}

    def test_outer_join_of_restricted_aggregations(self, uni):
        # MariaDB's split-materialized optimisation used to drop rows from this left join
        per_major = uni.StudentMajor.aggr(uni.Enroll, ..., n="count(*)")  # matches on student_id and dept
        counts = collections.Counter((e["student_id"], e["dept"]) for e in ENROLL)
        math = (per_major & {"dept": "MATH"}).proj("declare_date", "n")
        others = (per_major - {"dept": "MATH"}).proj("dept")
        extended = others.proj().extend(math)
        assert rows(extended, "student_id", "n") == {(m["student_id"], None) for m in MAJORS if m["dept"] != "MATH"}
        union = math + others
        assert rows(union, "student_id", "dept", "n") == {
            (m["student_id"], None if m["dept"] == "MATH" else m["dept"],
             counts[(m["student_id"], m["dept"])] if m["dept"] == "MATH" else None) for m in MAJORS}

    def test_top_with_zero_limit(self, uni):
        assert len(uni.Student & dj.Top(0)) == 0
        assert not (uni.Student & dj.Top(0))

    def test_whole_set_aggregate_restricted_by_its_result(self, uni):
        total = dj.U().aggr(uni.Student, n="count(*)")
        assert len(total & f"n = {len(STUDENTS)}") == 1
        assert len(total & "n > 1000") == 0


class TestTranslatedFunctions:
    """MySQL-flavoured expressions mean the same on every engine."""

    def test_date_parts_and_text_functions(self, uni):
        p = uni.Student.proj(m="month(date_of_birth)", d="day(date_of_birth)", up="upper(last_name)",
                             n="length(first_name)", nick='concat(lower(first_name), "_", home_state)')
        assert rows(p) == {(s["student_id"], s["date_of_birth"].month, s["date_of_birth"].day, s["last_name"].upper(),
                            len(s["first_name"]), f"{s['first_name'].lower()}_{s['home_state']}") for s in STUDENTS}

    def test_numeric_functions(self, uni):
        p = uni.Course.proj(a="abs(credits - 4)", r="round(credits / 3, 2)", f="floor(credits)")
        assert rows(p, "course", "a", "r", "f") == {
            (c["course"], abs(c["credits"] - 4), round(c["credits"] / 3, 2), int(c["credits"] // 1)) for c in COURSES}

    def test_conditional_functions(self, nr):
        p = nr.Subject.proj(w="coalesce(weight, -1)", heavy="if(weight > 100, 1, 0)",
                            kind="case when weight is null then 'unknown' when weight < 100 then 'small' else 'big' end")
        expected = set()
        for s in neuro.SUBJECTS:
            w = s["weight"]
            expected.add((s["subject_id"], -1 if w is None else w, int(w is not None and w > 100),
                          "unknown" if w is None else ("small" if w < 100 else "big")))
        assert rows(p) == expected

    def test_group_concat(self, uni):
        agg = uni.Student.aggr(uni.Enroll, courses="group_concat(course)", exclude_nonmatching=True)
        got = {r["student_id"]: sorted(int(c) for c in str(r["courses"]).split(",")) for r in agg.to_dicts()}
        expected = collections.defaultdict(list)
        for e in ENROLL:
            expected[e["student_id"]].append(e["course"])
        assert got == {k: sorted(v) for k, v in expected.items()}

    def test_statistics(self, nr):
        agg = nr.Session.aggr(nr.Trial, mean_rt="avg(reaction_time)", fastest="min(reaction_time)",
                              answered="count(reaction_time)", n="count(*)")
        for r in agg.to_dicts():
            times = [t["reaction_time"] for t in neuro.EXPECTED.trials
                     if (t["subject_id"], t["session_idx"]) == (r["subject_id"], r["session_idx"])]
            answered = [t for t in times if t is not None]
            assert r["n"] == len(times) and r["answered"] == len(answered)
            if answered:
                assert float(r["mean_rt"]) == pytest.approx(sum(answered) / len(answered))
                assert r["fastest"] == pytest.approx(min(answered))
            else:
                assert r["mean_rt"] is None and r["fastest"] is None

    def test_now_and_date_arithmetic(self, uni):
        p = uni.Student.proj(after="now() > date_of_birth")
        assert {bool(r["after"]) for r in p.to_dicts()} == {True}

    def test_max_of_a_date_stays_a_date(self, nr):
        last = nr.Subject.aggr(nr.Session.proj("session_date"), last="max(session_date)", exclude_nonmatching=True)
        expected = {}
        for s in neuro.SESSIONS:
            expected[s["subject_id"]] = max(expected.get(s["subject_id"], s["session_date"]), s["session_date"])
        assert {r["subject_id"]: r["last"] for r in last.to_dicts()} == expected
        assert dj.U().aggr(nr.Session, first="min(session_date)").fetch1("first") == min(
            s["session_date"] for s in neuro.SESSIONS)

    def test_unknown_functions_are_refused_with_a_hint(self, uni):
        with pytest.raises(dj.DataJointError, match="not allowed"):
            uni.Student.proj(x="soundex(last_name)")


class TestNullsInRestrictions:
    """``A - c`` keeps exactly the rows of A that ``A & c`` drops when c is a dict, a list or a query.

    NULL never matches anything, so a row whose matching attribute is NULL belongs to
    ``A - c``. (DataJoint negates with a plain NOT, which drops such rows from both.)
    Restriction strings keep SQL's three-valued logic.
    """

    def test_antijoin_with_nulls_on_the_left(self, uni):
        extended = uni.Student.extend(uni.StudentMajor)
        no_major = ALL_IDS - {m["student_id"] for m in MAJORS}
        assert ids(extended - uni.Department) == no_major
        assert ids(extended & uni.Department) == {m["student_id"] for m in MAJORS}
        assert ids(extended - (uni.Department & {"dept": "CS"})) == ALL_IDS - {
            m["student_id"] for m in MAJORS if m["dept"] == "CS"}

    def test_antijoin_with_nulls_on_the_right(self, uni):
        majors = uni.Student.extend(uni.StudentMajor).proj("dept")
        assert ids(uni.Department - majors, "dept") == {d for d, _ in university.DEPARTMENTS} - {
            m["dept"] for m in MAJORS}
        assert ids(uni.Department & majors, "dept") == {m["dept"] for m in MAJORS}

    def test_antijoin_through_a_renamed_nullable_foreign_key(self, nr):
        reviewers = nr.Experimenter.proj(reviewer="experimenter")
        reviewed = {(s["subject_id"], s["session_idx"]) for s in neuro.SESSIONS if s["reviewer"]}
        everything = {(s["subject_id"], s["session_idx"]) for s in neuro.SESSIONS}
        assert rows(nr.Session & reviewers, "subject_id", "session_idx") == reviewed
        assert rows(nr.Session - reviewers, "subject_id", "session_idx") == everything - reviewed
        idle = nr.Experimenter - nr.Session.proj(experimenter="reviewer")
        assert ids(idle, "experimenter") == {"santiago", "torsten", "edgar", "idle"} - {
            s["reviewer"] for s in neuro.SESSIONS if s["reviewer"]}

    def test_dict_complement_with_nulls(self, nr):
        everything = {(s["subject_id"], s["session_idx"]) for s in neuro.SESSIONS}
        by_edgar = {(s["subject_id"], s["session_idx"]) for s in neuro.SESSIONS if s["reviewer"] == "edgar"}
        assert rows(nr.Session & {"reviewer": "edgar"}, "subject_id", "session_idx") == by_edgar
        assert rows(nr.Session - {"reviewer": "edgar"}, "subject_id", "session_idx") == everything - by_edgar
        either = [{"reviewer": "edgar"}, {"reviewer": "torsten"}]
        chosen = {(s["subject_id"], s["session_idx"]) for s in neuro.SESSIONS if s["reviewer"] in ("edgar", "torsten")}
        assert rows(nr.Session - either, "subject_id", "session_idx") == everything - chosen
        assert rows(nr.Session & dj.Not(either), "subject_id", "session_idx") == everything - chosen
        assert rows(nr.Session - dj.Not(either), "subject_id", "session_idx") == chosen

    def test_complement_invariant(self, nr):
        restrictions = [
            {"reviewer": "edgar"}, {"reviewer": None}, [{"reviewer": "edgar"}, {"experimenter": "edgar"}],
            dj.AndList([{"reviewer": "torsten"}, {"subject_id": 2}]), nr.Experimenter.proj(reviewer="experimenter"),
            {"weight": 25.0}, nr.Subject.proj("weight") & "weight > 100", dj.Not({"reviewer": "santiago"}),
        ]
        for restriction in restrictions:
            for table in (nr.Session, nr.Subject, nr.Session.extend(nr.Subject.proj("weight"))):
                try:
                    kept = len(table & restriction)
                except dj.DataJointError:
                    continue  # not applicable to this table (semantic mismatch)
                assert kept + len(table - restriction) == len(table), (restriction, table)

    def test_aggregated_nulls_in_antijoins(self, nr):
        fastest = nr.Session.aggr(nr.Trial, best="min(reaction_time)")
        none_answered = {(s["subject_id"], s["session_idx"]) for s in neuro.SESSIONS} - {
            (t["subject_id"], t["session_idx"]) for t in neuro.EXPECTED.trials if t["reaction_time"] is not None}
        assert rows(fastest & {"best": None}, "subject_id", "session_idx") == none_answered
        quick = fastest & "best < 0.45"
        assert len(fastest - quick.proj()) + len(quick) == len(fastest)

    def test_strings_keep_sql_three_valued_logic(self, nr):
        # weight > 100 is NULL for the subject without a weight: that row is in neither result
        heavy = {s["subject_id"] for s in neuro.SUBJECTS if s["weight"] is not None and s["weight"] > 100}
        light = {s["subject_id"] for s in neuro.SUBJECTS if s["weight"] is not None and s["weight"] <= 100}
        assert ids(nr.Subject & "weight > 100", "subject_id") == heavy
        assert ids(nr.Subject - "weight > 100", "subject_id") == light
