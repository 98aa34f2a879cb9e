"""Projection, join, left join and extension, aggregation, union and dj.U on every backend.

Every expectation is computed in Python from the rows the schemas insert
(``tests/schemas/university.py`` and ``tests/schemas/neuro.py``), never from the
library's own output.
"""

from __future__ import annotations

import collections

import pytest

import dj_jupyter as dj
from tests.backends.query.checks import (ALL_IDS, COURSES, ENROLL, GRADES, MAJORS, POINTS, STUDENTS, STUDENT_KEYS,
                                         by_key, expect, ids, norm, rows)
from tests.schemas import neuro, university


# ----------------------------------------------------------------------------------------------
# projection
# ----------------------------------------------------------------------------------------------
class TestProjection:
    def test_primary_key_only(self, uni):
        p = uni.Student.proj()
        assert p.heading.names == ["student_id"] and p.primary_key == ["student_id"]
        assert ids(p) == ALL_IDS

    def test_named_attributes_and_key_always_kept(self, uni):
        p = uni.Student.proj("home_state")
        assert p.heading.names == ["student_id", "home_state"]
        assert rows(p) == expect(STUDENTS, "student_id", "home_state")

    def test_rename_keeps_the_key_position(self, uni):
        p = uni.Enroll.proj(sid="student_id")
        assert p.primary_key == ["sid", "dept", "course", "term_year", "term", "section"]
        assert rows(p, "sid", "course") == {(e["student_id"], e["course"]) for e in ENROLL}

    def test_rename_a_secondary_attribute(self, uni):
        p = uni.Student.proj(state="home_state")
        assert p.heading.names == ["student_id", "state"]
        assert rows(p) == expect(STUDENTS, "student_id", "home_state")

    def test_restricting_renamed_attributes(self, uni):
        p = uni.Student.proj(sid="student_id") & "sid in (1, 2, 3, 4)"
        assert ids(p, "sid") == {1, 2, 3, 4}
        again = p.proj(x="sid") & "x in (3, 4, 5, 6)"
        assert ids(again, "x") == {3, 4}
        assert ids(p, "sid") == {1, 2, 3, 4}  # the original is unchanged

    def test_swapping_names(self, uni):
        p = uni.Student.proj(first_name="last_name", last_name="first_name")
        assert rows(p, "student_id", "first_name") == expect(STUDENTS, "student_id", "last_name")
        assert ids(p & 'first_name = "Turing"') == {2}

    def test_duplicate(self, uni):
        p = uni.Student.proj("home_state", state="(home_state)")
        assert set(p.heading.names) == {"student_id", "home_state", "state"}
        assert all(r["state"] == r["home_state"] for r in p.to_dicts())
        assert ids(p & 'state = "TX"') == {4}

    def test_computed_expressions(self, uni):
        p = uni.Student.proj(full='concat(first_name, " ", last_name)', born="year(date_of_birth)")
        assert rows(p) == {(s["student_id"], f"{s['first_name']} {s['last_name']}", s["date_of_birth"].year)
                           for s in STUDENTS}
        courses = uni.Course.proj(double="credits * 2")
        assert rows(courses, "course", "double") == {(c["course"], c["credits"] * 2) for c in COURSES}

    def test_restricting_a_computed_attribute(self, uni):
        p = uni.Student.proj(born="year(date_of_birth)") & "born >= 1998"
        assert ids(p) == {s["student_id"] for s in STUDENTS if s["date_of_birth"].year >= 1998}

    def test_computed_from_computed_needs_no_help(self, uni):
        p = uni.Course.proj(c2="credits * 2").proj(c4="c2 * 2")
        assert rows(p, "course", "c4") == {(c["course"], c["credits"] * 4) for c in COURSES}

    def test_constant_expression(self, uni):
        # a constant does not change the cardinality (DataJoint issue 558)
        assert len((uni.Student - uni.Enroll).proj(three="3")) == len(uni.Student - uni.Enroll)
        assert {r["three"] for r in uni.Student.proj(three="3").to_dicts()} == {3}

    def test_ellipsis_and_exclusion(self, uni):
        p = uni.Student.proj(..., "-date_of_birth")
        assert p.heading.names == [n for n in STUDENT_KEYS if n != "date_of_birth"]
        assert uni.Student.proj(...).heading.names == list(STUDENT_KEYS)
        both = uni.Student.proj(..., "-sex", "-home_state", state="home_state")
        assert "home_state" not in both.heading.names and "state" in both.heading.names

    def test_exclusion_without_ellipsis(self, uni):
        assert uni.Student.proj("sex", "-sex").heading.names == ["student_id"]

    def test_primary_key_cannot_be_excluded(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student.proj(..., "-student_id")

    def test_unknown_attribute(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student.proj("nickname")
        with pytest.raises(dj.DataJointError):
            uni.Student.proj(x="nickname")
        with pytest.raises(dj.DataJointError):
            uni.Student.proj(x="nickname + 1")

    def test_name_clashes(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student.proj("home_state", home_state="sex")
        with pytest.raises(dj.DataJointError):
            uni.Student.proj(student_id="student_id + 1")

    def test_projection_does_not_change_cardinality(self, uni):
        semi = uni.Enroll & (uni.Student & 'sex = "F"')
        assert len(semi.proj()) == len(semi)

    def test_projection_of_a_join(self, uni):
        p = (uni.Student * uni.StudentMajor).proj("first_name", major="dept")
        assert rows(p) == {(m["student_id"], s["first_name"], m["dept"]) for m in MAJORS for s in STUDENTS
                           if s["student_id"] == m["student_id"]}

    def test_projection_of_an_aggregation(self, uni):
        counts = collections.Counter(e["student_id"] for e in ENROLL)
        p = uni.Student.aggr(uni.Enroll, n="count(*)").proj(twice="n * 2")
        assert rows(p) == {(s, 2 * counts.get(s, 0)) for s in ALL_IDS}


# ----------------------------------------------------------------------------------------------
# join
# ----------------------------------------------------------------------------------------------
class TestJoin:
    def test_dependent_join_keeps_the_left_key(self, uni):
        j = uni.Student * uni.StudentMajor
        assert j.primary_key == ["student_id"]
        assert rows(j, "student_id", "first_name", "dept") == {
            (m["student_id"], s["first_name"], m["dept"]) for m in MAJORS for s in STUDENTS
            if s["student_id"] == m["student_id"]}

    def test_reverse_dependence_takes_the_right_key(self, uni):
        j = uni.Student * uni.Enroll
        assert j.primary_key == list(university.ENROLL_KEYS)
        assert len(j) == len(ENROLL)
        assert set(j.heading.names) == set(uni.Student.heading.names) | set(uni.Enroll.heading.names)

    def test_cartesian_product(self, uni):
        j = uni.Student * uni.Department
        assert len(j) == len(STUDENTS) * len(university.DEPARTMENTS)
        assert j.primary_key == ["student_id", "dept"]

    def test_cartesian_product_of_restricted_operands(self, uni):
        j = (uni.Student & 'sex = "F"') * (uni.Department & 'dept in ("CS", "MATH")')
        assert len(j) == 4 * 2

    def test_join_of_restricted_operands(self, uni):
        j = (uni.Student & 'sex = "F"') * (uni.Enroll & {"dept": "CS"})
        women = {s["student_id"] for s in STUDENTS if s["sex"] == "F"}
        assert rows(j, "student_id", "course") == {(e["student_id"], e["course"]) for e in ENROLL
                                                   if e["dept"] == "CS" and e["student_id"] in women}
        assert len(j - (uni.Student & 'sex = "M"').proj()) == len(j)

    def test_renaming_to_pair_entities(self, uni):
        a = uni.Student.proj(s1="student_id", st1="home_state")
        b = uni.Student.proj(s2="student_id", st2="home_state")
        pairs = (a * b) & "st1 = st2" & "s1 < s2"
        assert rows(pairs, "s1", "s2") == {(x["student_id"], y["student_id"]) for x in STUDENTS for y in STUDENTS
                                           if x["home_state"] == y["home_state"] and x["student_id"] < y["student_id"]}
        assert pairs.primary_key == ["s1", "s2"]

    def test_restrict_then_join_equals_join_then_restrict(self, uni):
        x = (uni.Student & 'sex = "F"').proj(a="student_id")
        y = (uni.Student & 'sex = "M"').proj(b="student_id")
        joined = uni.Student.proj(a="student_id", sa="sex") * uni.Student.proj(b="student_id", sb="sex")
        assert len(x * y) == len(joined & 'sa = "F"' & 'sb = "M"') == 4 * 3

    def test_join_three_tables(self, uni):
        j = uni.Student * uni.Grade * uni.LetterGrade
        assert rows(j, "student_id", "course", "points") == {
            (g["student_id"], g["course"], POINTS[g["grade"]]) for g in GRADES}
        assert j.primary_key == list(university.ENROLL_KEYS)

    def test_join_with_a_join_whose_second_table_holds_the_common_attribute(self, uni):
        # dept comes from StudentMajor, the second table of the right operand
        j = uni.Department * (uni.Student * uni.StudentMajor)
        assert rows(j, "student_id", "dept_name") == {
            (m["student_id"], dict(university.DEPARTMENTS)[m["dept"]]) for m in MAJORS}

    def test_join_with_an_aggregation(self, uni):
        counts = collections.Counter(e["student_id"] for e in ENROLL)
        agg = uni.Student.aggr(uni.Enroll, n="count(*)")
        for j in (agg * uni.StudentMajor, uni.StudentMajor * agg):
            assert rows(j, "student_id", "dept", "n") == {
                (m["student_id"], m["dept"], counts.get(m["student_id"], 0)) for m in MAJORS}

    def test_join_with_a_union(self, uni):
        union = (uni.Enroll & "student_id < 3") + (uni.Enroll & "student_id > 5")
        j = union * uni.Student
        assert rows(j, "student_id", "course", "last_name") == {
            (e["student_id"], e["course"], s["last_name"]) for e in ENROLL for s in STUDENTS
            if s["student_id"] == e["student_id"] and (e["student_id"] < 3 or e["student_id"] > 5)}

    def test_join_with_itself(self, uni):
        assert len(uni.Student * uni.Student.proj()) == len(STUDENTS)
        assert len(uni.Student.join(uni.Student, semantic_check=False)) == len(STUDENTS)

    def test_join_method_and_classes(self, uni):
        assert len(uni.Student.join(uni.Enroll)) == len(ENROLL)
        assert len(uni.Student().join(uni.Enroll())) == len(ENROLL)

    def test_join_with_non_expressions_is_refused(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student * {"student_id": 1}
        with pytest.raises(dj.DataJointError):
            uni.Student.join("student_id = 1")

    def test_removed_operators(self, uni):
        with pytest.raises(dj.DataJointError, match="removed"):
            uni.Student @ uni.Enroll
        with pytest.raises(dj.DataJointError, match="removed"):
            uni.Student ^ uni.Enroll


class TestLeftJoinAndExtend:
    def test_extend_keeps_every_row(self, uni):
        e = uni.Student.extend(uni.StudentMajor)
        assert e.primary_key == ["student_id"]
        majors = {m["student_id"]: m["dept"] for m in MAJORS}
        assert rows(e, "student_id", "dept") == {(s, majors.get(s)) for s in ALL_IDS}

    def test_left_join_is_extend(self, uni):
        assert rows(uni.Enroll.join(uni.Grade, left=True)) == rows(uni.Enroll.extend(uni.Grade))
        letters = {(g["student_id"], g["course"]): g["grade"] for g in GRADES}
        assert rows(uni.Enroll.extend(uni.Grade), "student_id", "course", "grade") == {
            (e["student_id"], e["course"], letters.get((e["student_id"], e["course"]))) for e in ENROLL}

    def test_extend_with_a_restricted_operand(self, uni):
        e = uni.Student.extend(uni.StudentMajor & {"dept": "CS"})
        cs = {m["student_id"] for m in MAJORS if m["dept"] == "CS"}
        assert rows(e, "student_id", "dept") == {(s, "CS" if s in cs else None) for s in ALL_IDS}

    def test_extend_with_a_join(self, uni):
        e = uni.Enroll.extend(uni.Grade * uni.LetterGrade)
        letters = {(g["student_id"], g["course"]): POINTS[g["grade"]] for g in GRADES}
        assert len(e) == len(ENROLL)
        assert rows(e, "student_id", "course", "points") == {
            (x["student_id"], x["course"], letters.get((x["student_id"], x["course"]))) for x in ENROLL}

    def test_extend_through_a_secondary_foreign_key(self, uni):
        e = uni.StudentMajor.extend(uni.Department)
        assert e.primary_key == ["student_id"]
        assert rows(e, "student_id", "dept_name") == {
            (m["student_id"], dict(university.DEPARTMENTS)[m["dept"]]) for m in MAJORS}

    def test_extend_then_restrict_by_a_null(self, uni):
        e = uni.Student.extend(uni.StudentMajor) & "dept is null"
        assert ids(e) == ALL_IDS - {m["student_id"] for m in MAJORS}

    def test_extend_requires_the_left_side_to_determine_the_right(self, uni):
        with pytest.raises(dj.DataJointError, match="left operand to determine"):
            uni.Department.extend(uni.StudentMajor)
        with pytest.raises(dj.DataJointError, match="left operand to determine"):
            uni.Student.join(uni.Enroll, left=True)

    def test_extend_through_a_renamed_foreign_key(self, nr):
        reviewers = nr.Experimenter.proj(reviewer="experimenter", reviewer_name="full_name")
        e = nr.Session.extend(reviewers)
        names = {r[0]: r[2] for r in [("torsten", "hubel", "Torsten Wiesel"), ("santiago", "cajal", "Santiago Ramon"),
                                      ("edgar", "adrian", "Edgar Adrian")]}
        assert rows(e, "subject_id", "session_idx", "reviewer_name") == {
            (s["subject_id"], s["session_idx"], names.get(s["reviewer"])) for s in neuro.SESSIONS}
        inner = nr.Session * reviewers
        assert len(inner) == sum(1 for s in neuro.SESSIONS if s["reviewer"])


# ----------------------------------------------------------------------------------------------
# aggregation
# ----------------------------------------------------------------------------------------------
class TestAggregation:
    def test_keeps_every_row_and_counts_zero(self, uni):
        counts = collections.Counter(e["student_id"] for e in ENROLL)
        agg = uni.Student.aggr(uni.Enroll, n="count(*)")
        assert agg.primary_key == ["student_id"]
        assert agg.heading.names == ["student_id", "n"]
        assert rows(agg) == {(s, counts.get(s, 0)) for s in ALL_IDS}

    def test_exclude_nonmatching(self, uni):
        counts = collections.Counter(e["student_id"] for e in ENROLL)
        agg = uni.Student.aggr(uni.Enroll, n="count(*)", exclude_nonmatching=True)
        assert rows(agg) == set(counts.items())
        assert len(uni.Student.aggr(uni.Enroll, exclude_nonmatching=True)) == len(uni.Student & uni.Enroll)

    def test_keep_all_rows_keyword(self, uni):
        assert len(uni.Student.aggr(uni.Enroll, n="count(*)", keep_all_rows=True)) == len(STUDENTS)
        assert len(uni.Student.aggr(uni.Enroll, n="count(*)", keep_all_rows=False)) == 6

    def test_restriction_by_aggregated_columns(self, uni):
        counts = collections.Counter(e["student_id"] for e in ENROLL)
        agg = uni.Student.aggr(uni.Enroll, n="count(*)")
        assert ids(agg & "n >= 3") == {s for s, n in counts.items() if n >= 3}
        assert ids(agg & "n = 0") == ALL_IDS - set(counts)
        assert ids(agg - "n = 0") == set(counts)
        assert ids(agg & {"n": 2}) == {s for s, n in counts.items() if n == 2}

    def test_aggregates_of_nothing_are_null(self, uni):
        agg = uni.Student.aggr(uni.Enroll, first="min(course)", total="sum(course)")
        values = {r["student_id"]: (r["first"], r["total"]) for r in agg.to_dicts()}
        assert values[7] == (None, None) and values[8] == (None, None)
        assert norm(values[1][1]) == sum(e["course"] for e in ENROLL if e["student_id"] == 1)

    def test_several_aggregates(self, uni):
        agg = uni.Course.aggr(uni.Enroll, n="count(*)", students="count(distinct student_id)",
                              first_year="min(term_year)", last_year="max(term_year)")
        expected = set()
        for c in COURSES:
            mine = [e for e in ENROLL if (e["dept"], e["course"]) == (c["dept"], c["course"])]
            expected.add((c["dept"], c["course"], len(mine), len({e["student_id"] for e in mine}),
                          min((e["term_year"] for e in mine), default=None),
                          max((e["term_year"] for e in mine), default=None)))
        assert rows(agg) == expected

    def test_gpa_over_a_join(self, uni):
        credits = {c["course"]: c["credits"] for c in COURSES}
        expected = {}
        for s in ALL_IDS:
            mine = [g for g in GRADES if g["student_id"] == s]
            if mine:
                total = sum(POINTS[g["grade"]] * credits[g["course"]] for g in mine)
                expected[s] = round(total / sum(credits[g["course"]] for g in mine), 2)
            else:
                expected[s] = None
        gpa = uni.Student.aggr(uni.Course * uni.Grade * uni.LetterGrade,
                               gpa="round(sum(points * credits) / sum(credits), 2)")
        got = {r["student_id"]: norm(r["gpa"]) for r in gpa.to_dicts()}
        assert got.keys() == expected.keys()
        for s in expected:
            assert got[s] == pytest.approx(expected[s], abs=0.006) if expected[s] is not None else got[s] is None

    def test_group_from_a_join_keeps_unmatched_rows(self, uni):
        # Course.aggr(Grade * LetterGrade): a course without grades must stay, with NULL average
        agg = uni.Course.aggr(uni.Grade * uni.LetterGrade, avg_points="avg(points)")
        assert len(agg) == len(COURSES)
        graded = {g["course"] for g in GRADES}
        assert {r["course"] for r in agg.to_dicts() if r["avg_points"] is None} == {
            c["course"] for c in COURSES} - graded

    def test_ellipsis_and_named_attributes(self, uni):
        agg = uni.Student.aggr(uni.Enroll, ..., n="count(*)")
        assert agg.heading.names == list(STUDENT_KEYS) + ["n"]
        agg = uni.Student.aggr(uni.Enroll, "last_name", n="count(*)")
        assert agg.heading.names == ["student_id", "last_name", "n"]
        sections = (uni.Section & {"dept": "BIOL"}).aggr(uni.Grade, ..., n="count(student_id)")
        assert not set(uni.Grade.heading.secondary_attributes) & set(sections.heading.names)

    def test_sections_without_students(self, uni):
        enrolled = {(e["dept"], e["course"], e["term_year"], e["term"]) for e in ENROLL}
        empty = (uni.Section & {"dept": "BIOL"}).aggr(uni.Enroll, n="count(student_id)") & "n = 0"
        expected = {(s["dept"], s["course"], s["term_year"], s["term"]) for s in university.SECTIONS
                    if s["dept"] == "BIOL" and (s["dept"], s["course"], s["term_year"], s["term"]) not in enrolled}
        assert rows(empty, "dept", "course", "term_year", "term") == expected
        assert bool(empty) == bool(expected)

    def test_aggregating_a_renamed_projection(self, uni):
        agg = uni.Department.aggr(uni.Course.proj(c="course"), ..., span="max(c) - min(c)")
        by_dept = collections.defaultdict(list)
        for c in COURSES:
            by_dept[c["dept"]].append(c["course"])
        assert rows(agg, "dept", "span") == {(d, max(v) - min(v)) for d, v in by_dept.items()}

    def test_count_star_counts_matches_even_when_group_columns_are_null(self, nr):
        # the only attribute the group adds is nullable: one subject has no weight but one row
        agg = nr.Subject.proj().aggr(nr.Subject.proj("weight"), n="count(*)", heaviest="max(weight)")
        assert rows(agg, "subject_id", "n") == {(s["subject_id"], 1) for s in neuro.SUBJECTS}

    def test_count_star_with_a_group_that_adds_no_attribute(self, uni):
        women = (uni.Student & 'sex = "F"').proj()
        agg = uni.Student.aggr(women, n="count(*)")
        assert rows(agg) == {(s["student_id"], int(s["sex"] == "F")) for s in STUDENTS}

    def test_group_must_carry_the_grouping_key(self, uni):
        with pytest.raises(dj.DataJointError, match="student_id"):
            uni.Student.aggr(uni.Course, n="count(*)")

    def test_aggregate_names_must_be_new(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student.aggr(uni.Enroll, ..., home_state="count(*)")

    def test_aggregates_are_only_allowed_in_aggr(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student & "count(*) > 1"
        with pytest.raises(dj.DataJointError):
            uni.Student.proj(n="count(*)")

    def test_aggregation_over_a_restricted_group(self, uni):
        counts = collections.Counter(e["student_id"] for e in ENROLL if e["term_year"] == 2024)
        agg = uni.Student.aggr(uni.Enroll & {"term_year": 2024}, n="count(*)")
        assert rows(agg) == {(s, counts.get(s, 0)) for s in ALL_IDS}

    def test_aggregation_of_a_restricted_left_side(self, uni):
        agg = (uni.Student & 'sex = "F"').aggr(uni.Enroll, n="count(*)")
        assert ids(agg) == {1, 3, 5, 7}

    def test_nested_aggregation(self, uni):
        per_course = uni.Course.aggr(uni.Enroll, n="count(*)")
        per_dept = uni.Department.aggr(per_course, total="sum(n)", busiest="max(n)", courses="count(*)")
        expected = set()
        for dept, _ in university.DEPARTMENTS:
            counts = [sum(1 for e in ENROLL if (e["dept"], e["course"]) == (c["dept"], c["course"]))
                      for c in COURSES if c["dept"] == dept]
            expected.add((dept, sum(counts), max(counts), len(counts)))
        assert rows(per_dept, "dept", "total", "busiest", "courses") == expected

    def test_aggregation_of_a_union(self, uni):
        group = (uni.Enroll & {"dept": "CS"}) + (uni.Enroll & {"dept": "MATH"})
        counts = collections.Counter(e["student_id"] for e in ENROLL if e["dept"] in ("CS", "MATH"))
        assert rows(uni.Student.aggr(group, n="count(*)")) == {(s, counts.get(s, 0)) for s in ALL_IDS}

    def test_diamond_aggregation(self, nr):
        per_unit = collections.defaultdict(list)
        for c in neuro.EXPECTED.spike_counts:
            per_unit[(c["subject_id"], c["session_idx"], c["unit_idx"])].append(c["spikes"])
        agg = nr.Unit.aggr(nr.SpikeCount, total="sum(spikes)", trials="count(*)")
        expected = {(u["subject_id"], u["session_idx"], u["unit_idx"], sum(per_unit[k]) if per_unit[k] else None,
                     len(per_unit[k])) for u in neuro.EXPECTED.units
                    for k in [(u["subject_id"], u["session_idx"], u["unit_idx"])]}
        assert rows(agg) == expected


# ----------------------------------------------------------------------------------------------
# union
# ----------------------------------------------------------------------------------------------
class TestUnion:
    def test_union_of_restrictions(self, uni):
        union = (uni.Student & {"home_state": "CA"}).proj() + (uni.Student & {"home_state": "NY"}).proj()
        assert ids(union) == {s["student_id"] for s in STUDENTS if s["home_state"] in ("CA", "NY")}
        assert union.primary_key == ["student_id"] and union.heading.names == ["student_id"]

    def test_overlapping_operands(self, uni):
        union = (uni.Student & "student_id <= 5").proj() + (uni.Student & "student_id >= 3").proj()
        assert len(union) == len(STUDENTS)

    def test_disjoint_secondary_attributes_are_outer_joined(self, uni):
        union = (uni.Student & "student_id <= 4").proj("first_name") + (uni.Student & "student_id >= 3").proj(
            "last_name")
        assert union.heading.names == ["student_id", "first_name", "last_name"]
        expected = {(s["student_id"], s["first_name"] if s["student_id"] <= 4 else None,
                     s["last_name"] if s["student_id"] >= 3 else None) for s in STUDENTS}
        assert rows(union) == expected

    def test_key_only_union(self, uni):
        union = (uni.Enroll & {"dept": "CS"}).proj() + (uni.Grade & {"grade": "A"}).proj()
        expected = {tuple(e[k] for k in university.ENROLL_KEYS) for e in ENROLL if e["dept"] == "CS"} | {
            tuple(g[k] for k in university.ENROLL_KEYS) for g in GRADES if g["grade"] == "A"}
        assert rows(union, *university.ENROLL_KEYS) == expected

    def test_union_with_secondary_on_one_side(self, uni):
        union = uni.Enroll + uni.Grade
        letters = {(g["student_id"], g["course"]): g["grade"] for g in GRADES}
        assert rows(union, "student_id", "course", "grade") == {
            (e["student_id"], e["course"], letters.get((e["student_id"], e["course"]))) for e in ENROLL}

    def test_union_of_typed_secondary_attributes(self, uni):
        # rows only on one side get NULL in the other side's attributes, whatever their types
        cs = uni.Course & {"dept": "CS"}
        union = cs.proj("credits") + (uni.Course - cs.proj()).proj("course_name")
        assert rows(union, "course", "credits", "course_name") == {
            (c["course"], c["credits"] if c["dept"] == "CS" else None, None if c["dept"] == "CS" else c["course_name"])
            for c in COURSES}
        dates = (uni.StudentMajor & {"dept": "CS"}).proj("declare_date") + (uni.StudentMajor - {"dept": "CS"}).proj(
            "dept")
        assert rows(dates, "student_id", "declare_date", "dept") == {
            (m["student_id"], m["declare_date"] if m["dept"] == "CS" else None, None if m["dept"] == "CS" else m["dept"])
            for m in MAJORS}

    def test_union_of_many(self, uni):
        one = uni.Enroll & {"dept": "CS"}
        union = (one & {"student_id": 1}) + (one & {"student_id": 3}) + (one & {"student_id": 6}) + (
            one & {"student_id": 3})
        assert union.to_dicts(order_by="KEY") == (one & "student_id in (1, 3, 6)").to_dicts(order_by="KEY")
        assert len(union) == sum(1 for e in ENROLL if e["dept"] == "CS" and e["student_id"] in (1, 3, 6))

    def test_restricting_and_aggregating_a_union(self, uni):
        union = (uni.Student & {"home_state": "CA"}).proj() + (uni.Student & {"home_state": "NY"}).proj()
        assert ids(union & (uni.Student & 'sex = "F"')) == {1, 3, 5, 7}
        assert ids(union - uni.Enroll) == {7, 8}
        counts = collections.Counter(e["student_id"] for e in ENROLL)
        assert rows(union.aggr(uni.Enroll, n="count(*)"), "student_id", "n") == {
            (s["student_id"], counts.get(s["student_id"], 0)) for s in STUDENTS if s["home_state"] in ("CA", "NY")}

    def test_different_primary_keys_are_refused(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student + uni.Enroll

    def test_shared_secondary_attributes_are_refused(self, uni):
        # as in DataJoint, even two restrictions of one table: project the secondaries away first
        with pytest.raises(dj.DataJointError, match="secondary"):
            (uni.Student & "student_id < 3") + (uni.Student & "student_id > 5")  # noqa: B018

    def test_union_with_non_expressions_is_refused(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student.proj() + {"student_id": 1}


# ----------------------------------------------------------------------------------------------
# dj.U
# ----------------------------------------------------------------------------------------------
class TestUniversalSet:
    def test_distinct_values(self, uni):
        states = dj.U("home_state") & uni.Student
        assert states.heading.names == ["home_state"] and states.primary_key == ["home_state"]
        assert ids(states, "home_state") == {s["home_state"] for s in STUDENTS}
        assert len(states) == len({s["home_state"] for s in STUDENTS})

    def test_distinct_combinations(self, uni):
        combos = dj.U("sex", "home_state") & uni.Student
        expected = {(s["sex"], s["home_state"]) for s in STUDENTS}
        assert rows(combos) == expected
        assert len(combos) == len(expected)
        # fetching one column returns one value per distinct combination
        assert len(combos.to_arrays("sex")) == len(expected)
        assert combos.to_dicts(order_by=["home_state", "sex"]) == [
            {"sex": sex, "home_state": state} for state, sex in sorted((st, sx) for sx, st in expected)]

    def test_promoting_secondary_attributes_to_the_key(self, uni):
        assert (dj.U("date_of_birth") & uni.Student).primary_key == ["date_of_birth"]

    def test_distinct_values_of_a_restricted_join(self, uni):
        women = uni.Student & 'sex = "F"'
        depts = dj.U("dept") & (uni.Enroll & women)
        women_ids = {s["student_id"] for s in STUDENTS if s["sex"] == "F"}
        assert ids(depts, "dept") == {e["dept"] for e in ENROLL if e["student_id"] in women_ids}

    def test_whole_set_aggregates(self, uni):
        assert dj.U().aggr(uni.Student, n="count(*)").fetch1("n") == len(STUDENTS)
        assert dj.U().aggr(uni.Student(), n="count(*)").fetch1("n") == len(STUDENTS)
        oldest = dj.U().aggr(uni.Student, first="min(date_of_birth)").fetch1("first")
        assert oldest == min(s["date_of_birth"] for s in STUDENTS)
        assert dj.U().aggr(uni.Student & False, n="count(*)").fetch1("n") == 0

    def test_grouped_aggregates(self, uni):
        per_state = dj.U("home_state").aggr(uni.Student, n="count(*)")
        counts = collections.Counter(s["home_state"] for s in STUDENTS)
        assert rows(per_state) == set(counts.items())
        assert ids(per_state & "n > 1", "home_state") == {k for k, v in counts.items() if v > 1}
        assert (per_state & {"home_state": "TX"}).fetch1("n") == counts["TX"]

    def test_aggregation_over_a_restricted_expression(self, uni):
        per_dept = dj.U("dept").aggr(uni.Enroll & {"term_year": 2024}, students="count(distinct student_id)")
        expected = collections.defaultdict(set)
        for e in ENROLL:
            if e["term_year"] == 2024:
                expected[e["dept"]].add(e["student_id"])
        assert rows(per_dept) == {(d, len(s)) for d, s in expected.items()}

    def test_aggregate_of_an_aggregate(self, uni):
        counts = collections.Counter(e["student_id"] for e in ENROLL)
        per_student = uni.Student.aggr(uni.Enroll, n="count(*)")
        assert dj.U().aggr(per_student, most="max(n)").fetch1("most") == max(counts.values())
        avg = dj.U().aggr(per_student, m="avg(n)").fetch1("m")
        assert float(avg) == pytest.approx(len(ENROLL) / len(STUDENTS))
        assert ids(dj.U("n") & per_student, "n") == set(counts.values()) | {0}

    def test_top_then_distinct(self, uni):
        oldest = by_key(STUDENTS, "date_of_birth")[:3]
        states = dj.U("home_state") & (uni.Student & dj.Top(3, "date_of_birth"))
        assert ids(states, "home_state") == {s["home_state"] for s in oldest}

    def test_restricting_by_the_universal_set_does_nothing(self, uni):
        assert (uni.Student & dj.U("home_state")).make_sql() == uni.Student.make_sql()

    def test_argmax_per_group(self, uni):
        youngest = dj.U("home_state").aggr(uni.Student, dob="max(date_of_birth)")
        # home_state is a secondary attribute on both sides: match it knowingly
        winners = uni.Student.join(youngest, semantic_check=False) & "date_of_birth = dob"
        expected = {max((s for s in STUDENTS if s["home_state"] == st), key=lambda s: s["date_of_birth"])["student_id"]
                    for st in {s["home_state"] for s in STUDENTS}}
        assert ids(winners) == expected

    def test_invalid_uses(self, uni):
        with pytest.raises(dj.DataJointError):
            dj.U("home_state") & {"home_state": "CA"}
        with pytest.raises(dj.DataJointError):
            dj.U("home_state") * uni.Student
        with pytest.raises(dj.DataJointError):
            uni.Student * dj.U("home_state")
        with pytest.raises(dj.DataJointError, match="infinite"):
            dj.U("home_state") - uni.Student
        with pytest.raises(dj.DataJointError):
            dj.U("nickname") & uni.Student
        with pytest.raises(dj.DataJointError):
            dj.U("home_state").aggr(uni.Student, n="count(*)", exclude_nonmatching=False)
        with pytest.raises(dj.DataJointError):
            dj.U("nickname").aggr(uni.Student, n="count(*)")

    def test_repr_of_a_whole_set_aggregate(self, uni):
        text = repr(dj.U().aggr(uni.Student, n="count(*)"))
        assert str(len(STUDENTS)) in text
