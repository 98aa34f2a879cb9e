"""Restriction on every backend: by dicts, strings, constants, collections and queries; dj.Top.

Every expectation is computed in Python from the rows the schemas insert
(``tests/schemas/university.py`` and ``tests/schemas/neuro.py``), never from the
library's own output.
"""

from __future__ import annotations

import collections
import datetime

import numpy as np
import pytest

import dj_jupyter as dj
from tests.backends.query.checks import ALL_IDS, ENROLL, GRADES, MAJORS, STUDENTS, by_key, ids, ordered, rows
from tests.schemas import neuro, university


# ----------------------------------------------------------------------------------------------
# restriction
# ----------------------------------------------------------------------------------------------
class TestRestrictByDict:
    def test_dict(self, uni):
        assert ids(uni.Student & {"home_state": "CA"}) == {s["student_id"] for s in STUDENTS if s["home_state"] == "CA"}

    def test_several_attributes_are_anded(self, uni):
        assert ids(uni.Student & {"home_state": "NY", "sex": "F"}) == {3, 7}

    def test_unknown_keys_are_ignored(self, uni):
        assert ids(uni.Student & {"home_state": "CA", "not_an_attribute": 1}) == {1, 5, 8}
        assert ids(uni.Student & {"not_an_attribute": 1}) == ALL_IDS
        assert ids(uni.Student & {}) == ALL_IDS

    def test_antijoin_by_a_dict_without_known_keys_is_empty(self, uni):
        assert len(uni.Student - {}) == 0
        assert len(uni.Student - {"not_an_attribute": 0}) == 0

    def test_antijoin_by_dict(self, uni):
        assert ids(uni.Student - {"home_state": "CA"}) == ALL_IDS - {1, 5, 8}

    def test_date_value_as_date_or_text(self, uni):
        assert ids(uni.Student & {"date_of_birth": datetime.date(1997, 12, 9)}) == {3}
        assert ids(uni.Student & {"date_of_birth": "1997-12-09"}) == {3}

    def test_none_means_is_null(self, nr):
        expected = {(s["subject_id"], s["session_idx"]) for s in neuro.SESSIONS if s["reviewer"] is None}
        assert rows(nr.Session & {"reviewer": None}, "subject_id", "session_idx") == expected
        assert len(nr.Session - {"reviewer": None}) == len(neuro.SESSIONS) - len(expected)

    def test_numpy_scalars(self, uni):
        assert ids(uni.Student & {"student_id": np.int64(4)}) == {4}

    def test_key_from_another_table(self, uni):
        key = (uni.Enroll & {"student_id": 6, "course": 3500}).keys()[0]
        assert ids(uni.Grade & key) == set()
        assert len(uni.Section & key) == 1  # student_id is ignored by Section

    def test_backslashes_and_quotes_in_values(self, uni):
        uni.Department.insert1(("ODD", 'It\'s a "back\\slash" dept'))
        assert (uni.Department & {"dept_name": 'It\'s a "back\\slash" dept'}).fetch1("dept") == "ODD"

    def test_percent_signs_are_literal(self, uni):
        uni.Department.insert([("PCT", "100%"), ("PCT2", "100%%")])
        assert ids(uni.Department & {"dept_name": "100%"}, "dept") == {"PCT"}
        assert ids(uni.Department & 'dept_name = "100%%"', "dept") == {"PCT2"}
        assert ids(uni.Department & 'dept_name like "100%"', "dept") == {"PCT", "PCT2"}


class TestRestrictByString:
    def test_mysql_flavoured_condition(self, uni):
        assert ids(uni.Student & 'sex = "F" and home_state in ("CA", "NY")') == {1, 3, 5, 7}

    def test_single_quotes_and_backticks(self, uni):
        assert ids(uni.Student & "`home_state` = 'TX'") == {4}

    def test_between_and_dates(self, uni):
        expected = {s["student_id"] for s in STUDENTS
                    if datetime.date(1997, 1, 1) <= s["date_of_birth"] <= datetime.date(1998, 12, 31)}
        assert ids(uni.Student & 'date_of_birth between "1997-01-01" and "1998-12-31"') == expected

    def test_like(self, uni):
        assert ids(uni.Student & 'last_name like "L%"') == {1, 5}

    def test_is_null_and_is_not_null(self, nr):
        assert len(nr.Subject & "weight is null") == 1
        assert len(nr.Subject & "weight is not null") == len(neuro.SUBJECTS) - 1

    def test_arithmetic_and_functions(self, uni):
        assert ids(uni.Student & "student_id % 3 = 0") == {3, 6}
        assert ids(uni.Student & "year(date_of_birth) >= 1999") == {5, 8}
        assert ids(uni.Student & 'lower(home_state) = "wa"') == {6}

    def test_negated_string(self, uni):
        assert ids(uni.Student - 'home_state = "CA"') == ALL_IDS - {1, 5, 8}

    def test_true_and_false_strings(self, uni):
        assert len(uni.Student & "TRUE") == len(STUDENTS)
        assert len(uni.Student & "FALSE") == 0
        assert len(uni.Student - "TRUE") == 0
        assert len(uni.Student - "FALSE") == len(STUDENTS)

    def test_unknown_attribute_is_an_error_with_a_suggestion(self, uni):
        with pytest.raises(dj.DataJointError, match="home_state"):
            uni.Student & 'home_stat = "CA"'

    def test_attribute_projected_away_cannot_be_used(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student.proj() & 'home_state = "CA"'

    def test_restriction_before_projection_still_applies(self, uni):
        assert ids((uni.Student & 'home_state = "CA"').proj()) == {1, 5, 8}


class TestRestrictByConstantsAndCollections:
    def test_true_false_none(self, uni):
        assert len(uni.Student & True) == len(STUDENTS)
        assert len(uni.Student & False) == 0
        assert len(uni.Student & None) == 0
        assert len(uni.Student - None) == len(STUDENTS)
        assert len(uni.Student - True) == 0
        assert len(uni.Student - False) == len(STUDENTS)
        assert len(uni.Student & np.bool_(False)) == 0

    def test_list_is_an_or(self, uni):
        assert ids(uni.Student & [{"home_state": "TX"}, 'sex = "U"', {"student_id": 2}]) == {2, 4, 8}

    def test_tuple_is_an_or(self, uni):
        assert ids(uni.Student & ({"student_id": 1}, {"student_id": 3})) == {1, 3}

    def test_empty_collections_select_nothing(self, uni):
        for empty in ([], (), set(), [[]]):
            assert len(uni.Student & empty) == 0
            assert len(uni.Student - empty) == len(STUDENTS)

    def test_list_with_a_true_member_selects_everything(self, uni):
        assert len(uni.Student & [{"student_id": 1}, True]) == len(STUDENTS)

    def test_antijoin_by_list_excludes_each(self, uni):
        assert ids(uni.Student - [{"home_state": "CA"}, {"home_state": "NY"}]) == {4, 6}

    def test_list_of_composite_keys(self, uni):
        keys = [dict(student_id=1, course=1030), dict(student_id=3, course=1006), dict(student_id=3, course=9999)]
        expected = {(e["student_id"], e["course"]) for e in ENROLL for k in keys
                    if (e["student_id"], e["course"]) == (k["student_id"], k["course"])}
        assert rows(uni.Enroll & keys, "student_id", "course") == expected

    def test_long_key_lists(self, uni):
        keys = [{"student_id": i} for i in range(0, 2000)]
        assert len(uni.Student & keys) == len(STUDENTS)
        assert len(uni.Student - keys) == 0

    def test_list_of_keys_with_nulls(self, nr):
        expected = {(s["subject_id"], s["session_idx"]) for s in neuro.SESSIONS
                    if s["reviewer"] is None or s["reviewer"] == "edgar"}
        got = rows(nr.Session & [{"reviewer": None}, {"reviewer": "edgar"}], "subject_id", "session_idx")
        assert got == expected

    def test_and_list(self, uni):
        assert ids(uni.Student & dj.AndList(['sex = "F"', {"home_state": "NY"}])) == {3, 7}
        assert len(uni.Student & dj.AndList([])) == len(STUDENTS)
        assert len(uni.Student - dj.AndList([])) == 0

    def test_antijoin_by_and_list_negates_the_conjunction(self, uni):
        # not (F and NY)
        assert ids(uni.Student - dj.AndList(['sex = "F"', {"home_state": "NY"}])) == ALL_IDS - {3, 7}

    def test_and_list_append_flattens(self):
        a = dj.AndList(["x = 1"])
        a.append(dj.AndList(["y = 2", "z = 3"]))
        assert list(a) == ["x = 1", "y = 2", "z = 3"]

    def test_not(self, uni):
        assert ids(uni.Student & dj.Not({"home_state": "CA"})) == ids(uni.Student - {"home_state": "CA"})
        assert ids(uni.Student - dj.Not({"home_state": "CA"})) == {1, 5, 8}
        assert ids(uni.Student & dj.Not(uni.Enroll)) == {7, 8}
        assert ids(uni.Student & dj.Not([{"student_id": 1}, {"student_id": 2}])) == ALL_IDS - {1, 2}

    def test_negating_a_query(self, uni):
        assert ids(uni.Student & -uni.Enroll) == {7, 8}

    def test_invalid_restriction_type(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student & 3.5

    def test_restriction_returns_new_expressions(self, uni):
        base = uni.Student & 'sex = "F"'
        narrowed = base & {"home_state": "NY"}
        assert len(base) == 4 and len(narrowed) == 2
        assert ids(base) == {1, 3, 5, 7}


class TestRestrictByQuery:
    def test_semijoin_and_antijoin(self, uni):
        enrolled = {e["student_id"] for e in ENROLL}
        assert ids(uni.Student & uni.Enroll) == enrolled
        assert ids(uni.Student - uni.Enroll) == ALL_IDS - enrolled
        assert len(uni.Student & uni.Enroll) + len(uni.Student - uni.Enroll) == len(STUDENTS)

    def test_semijoin_with_restricted_operand(self, uni):
        expected = {e["student_id"] for e in ENROLL if e["dept"] == "MATH"}
        assert ids(uni.Student & (uni.Enroll & {"dept": "MATH"})) == expected
        assert ids(uni.Student - (uni.Enroll & {"dept": "MATH"})) == ALL_IDS - expected

    def test_semijoin_on_a_composite_key(self, uni):
        graded = {(g["student_id"], g["course"]) for g in GRADES}
        assert rows(uni.Enroll - uni.Grade, "student_id", "course") == {
            (e["student_id"], e["course"]) for e in ENROLL} - graded

    def test_restriction_by_classes(self, uni):
        assert ids(uni.Student & uni.StudentMajor) == {m["student_id"] for m in MAJORS}

    def test_no_common_attributes_means_any_row(self, uni):
        assert len(uni.Student & uni.Department) == len(STUDENTS)
        assert len(uni.Student - uni.Department) == 0
        assert len(uni.Student & (uni.Department & {"dept": "NOPE"})) == 0
        assert len(uni.Student - (uni.Department & {"dept": "NOPE"})) == len(STUDENTS)

    def test_semijoin_through_a_secondary_attribute(self, uni):
        # Department & StudentMajor: dept is secondary in StudentMajor
        assert ids(uni.Department & uni.StudentMajor, "dept") == {m["dept"] for m in MAJORS}
        assert ids(uni.Department - uni.StudentMajor, "dept") == {"MATH", "BIOL", "CS", "PHYS"} - {
            m["dept"] for m in MAJORS}

    def test_semijoin_by_an_aggregation(self, uni):
        counts = collections.Counter(e["student_id"] for e in ENROLL)
        expected = {s for s, n in counts.items() if n == 3}
        assert ids(uni.Student & (uni.Student.aggr(uni.Enroll, n="count(*)") & "n = 3")) == expected

    def test_semijoin_by_a_union(self, uni):
        either = (uni.Enroll & {"dept": "BIOL"}) + (uni.Enroll & {"dept": "PHYS"})
        expected = {e["student_id"] for e in ENROLL if e["dept"] in ("BIOL", "PHYS")}
        assert ids(uni.Student & either) == expected
        assert ids(uni.Student - either) == ALL_IDS - expected

    def test_semijoin_by_a_projection_with_renames(self, uni):
        majors = uni.StudentMajor.proj(major="dept")
        assert ids(uni.Student & (majors & {"major": "CS"})) == {m["student_id"] for m in MAJORS if m["dept"] == "CS"}

    def test_restrict_by_fetched_dicts_and_arrays(self, uni):
        subset = uni.Student & 'home_state = "NY"'
        assert ids(uni.Student & subset.to_dicts()) == {2, 3, 7}
        assert ids(uni.Student - subset.to_dicts()) == ALL_IDS - {2, 3, 7}
        assert ids(uni.Student & subset.keys()) == {2, 3, 7}

    def test_restrict_by_numpy_records(self, uni):
        records = (uni.Student & 'home_state = "NY"').to_arrays()
        assert ids(uni.Student & records) == {2, 3, 7}
        assert ids(uni.Student - records) == ALL_IDS - {2, 3, 7}
        assert ids(uni.Student & records[0]) == {int(records[0]["student_id"])}

    def test_restrict_by_a_dataframe(self, uni):
        frame = (uni.Student & 'home_state = "NY"').to_pandas()  # the primary key is the index
        assert ids(uni.Student & frame) == {2, 3, 7}
        assert ids(uni.Student - frame) == ALL_IDS - {2, 3, 7}
        plain = frame.reset_index()[["student_id"]]
        assert ids(uni.Student & plain) == {2, 3, 7}

    def test_a_query_restricted_by_its_own_keys(self, uni):
        assert len(uni.Student & uni.Student.proj()) == len(STUDENTS)
        assert len(uni.Student - uni.Student.proj()) == 0

    def test_secondary_namesakes_have_no_lineage_and_do_not_match(self, uni):
        # as in DataJoint: secondary attributes carry no lineage, so Student & Student is refused
        with pytest.raises(dj.DataJointError):
            uni.Student & uni.Student
        assert len(uni.Student.restrict(uni.Student, semantic_check=False)) == len(STUDENTS)


# ----------------------------------------------------------------------------------------------
# dj.Top
# ----------------------------------------------------------------------------------------------
class TestTop:
    def test_default_top_is_the_first_row_by_key(self, uni):
        assert (uni.Student & dj.Top()).to_dicts() == [by_key(STUDENTS, "student_id")[0]]

    def test_top_orders_its_rows(self, uni):
        expected = [s["student_id"] for s in by_key(STUDENTS, "date_of_birth", reverse=True)[:3]]
        assert ordered(uni.Student & dj.Top(3, "date_of_birth DESC"), "student_id") == expected

    def test_several_order_attributes_and_offset(self, uni):
        order = sorted(STUDENTS, key=lambda s: (s["home_state"], -s["student_id"]))
        top = uni.Student & dj.Top(3, ["home_state", "student_id desc"], offset=2)
        assert ordered(top, "student_id") == [s["student_id"] for s in order[2:5]]

    def test_limit_none_keeps_all_rows_in_order(self, uni):
        top = uni.Student & dj.Top(None, "student_id DESC")
        assert ordered(top, "student_id") == sorted(ALL_IDS, reverse=True)
        assert len(top) == len(STUDENTS)

    def test_offset_without_limit(self, uni):
        assert ordered(uni.Student & dj.Top(None, "KEY", offset=6), "student_id") == [7, 8]

    def test_key_desc(self, uni):
        assert ordered(uni.Student & dj.Top(2, "KEY DESC"), "student_id") == [8, 7]

    def test_top_then_restriction_differs_from_restriction_then_top(self, uni):
        women = sorted(s["student_id"] for s in STUDENTS if s["sex"] == "F")
        first_four_women = uni.Student & 'sex = "F"' & dj.Top(2, "KEY")
        women_among_first_four = uni.Student & dj.Top(4, "KEY") & 'sex = "F"'
        assert ids(first_four_women) == set(women[:2])
        assert ids(women_among_first_four) == {i for i in women if i <= 4}

    def test_inherited_order_is_merged(self, uni):
        top = uni.Student & dj.Top(5, "student_id DESC") & dj.Top(2, order_by=None)
        assert ordered(top, "student_id") == [8, 7]

    def test_same_order_is_merged(self, uni):
        top = uni.Student & dj.Top(5, "student_id DESC") & dj.Top(3, "student_id DESC")
        assert ordered(top, "student_id") == [8, 7, 6]

    def test_merged_offsets_add_up(self, uni):
        top = uni.Student & dj.Top(6, "KEY", offset=1) & dj.Top(3, order_by=None, offset=2)
        # rows 2..7 by key, then skip 2 of them and take 3: students 4, 5, 6
        assert ordered(top, "student_id") == [4, 5, 6]

    def test_merge_stays_inside_the_first_window(self, uni):
        # the first Top keeps students 1..4; skipping 2 of those leaves only 3 and 4
        top = uni.Student & dj.Top(4, "KEY") & dj.Top(3, order_by=None, offset=2)
        assert ordered(top, "student_id") == [3, 4]
        assert len(top) == 2
        # an offset past the window leaves nothing
        assert len(uni.Student & dj.Top(2, "KEY") & dj.Top(5, order_by=None, offset=3)) == 0

    def test_different_order_makes_a_nested_top(self, uni):
        top = uni.Student & dj.Top(5, "student_id DESC") & dj.Top(2, "student_id ASC")
        assert ordered(top, "student_id") == [4, 5]

    def test_chain_of_tops_and_restrictions(self, uni):
        top = (uni.Student & dj.Top(None, "student_id desc") & 'sex in ("F", "M")'
               & dj.Top(4, "student_id desc") & [{"student_id": 7}, {"student_id": 5}, {"student_id": 2}]
               & dj.Top(1, "student_id asc", 1))
        # F/M students descending: 7 6 5 4 | of those 7 and 5 | ascending skip 1: 7
        assert ordered(top, "student_id") == [7]

    def test_fetch_limit_inherits_the_top_order(self, uni):
        top = uni.Student & dj.Top(None, order_by="student_id desc")
        assert list(top.to_arrays("student_id", limit=3)) == [8, 7, 6]
        assert [r["student_id"] for r in top.to_dicts(limit=2, offset=1)] == [7, 6]

    def test_top_then_projection_keeps_rows_and_order(self, uni):
        expected = [s["student_id"] for s in by_key(STUDENTS, "first_name")[:3]]
        top = (uni.Student & dj.Top(3, "first_name")).proj()
        assert ordered(top, "student_id") == expected
        assert top.heading.names == ["student_id"]

    def test_top_on_a_computed_attribute_then_projection(self, uni):
        order = sorted(STUDENTS, key=lambda s: (-len(s["last_name"]), s["student_id"]))
        top = (uni.Student.proj(n="length(last_name)") & dj.Top(2, ["n DESC", "KEY"])).proj()
        assert ordered(top, "student_id") == [s["student_id"] for s in order[:2]]

    def test_top_of_an_aggregation(self, uni):
        counts = collections.Counter(e["student_id"] for e in ENROLL)
        order = sorted(ALL_IDS, key=lambda s: (-counts.get(s, 0), s))
        top = uni.Student.aggr(uni.Enroll, n="count(*)") & dj.Top(3, ["n DESC", "student_id"])
        assert ordered(top, "student_id") == order[:3]

    def test_restricting_by_a_top_expression(self, uni):
        first_two = sorted(ENROLL, key=lambda e: tuple(e[k] for k in university.ENROLL_KEYS))[:2]
        expected = {e["student_id"] for e in first_two}
        assert ids(uni.Student & (uni.Enroll & dj.Top(2))) == expected
        assert ids(uni.Student - (uni.Enroll & dj.Top(2))) == ALL_IDS - expected

    def test_join_with_a_top_expression(self, uni):
        top = uni.Student & dj.Top(2, "date_of_birth")
        oldest = {s["student_id"] for s in by_key(STUDENTS, "date_of_birth")[:2]}
        assert ids(top * uni.Enroll) == oldest & {e["student_id"] for e in ENROLL}
        assert len(top * uni.Enroll) == sum(1 for e in ENROLL if e["student_id"] in oldest)

    def test_top_of_a_union(self, uni):
        union = (uni.Student & {"home_state": "CA"}).proj() + (uni.Student & {"home_state": "NY"}).proj()
        assert ordered(union & dj.Top(2, "KEY DESC"), "student_id") == [8, 7]

    def test_top_inside_a_list_or_and_list_is_refused(self, uni):
        with pytest.raises(dj.DataJointError):
            uni.Student & ["sex = 'F'", dj.Top()]
        with pytest.raises(dj.DataJointError):
            uni.Student & dj.AndList(["sex = 'F'", dj.Top()])

    def test_bad_arguments(self, uni):
        with pytest.raises(TypeError):
            dj.Top(limit="1")
        with pytest.raises(TypeError):
            dj.Top(order_by=1)
        with pytest.raises(TypeError):
            dj.Top(offset="1")
        with pytest.raises(dj.DataJointError):
            uni.Student & dj.Top(2, "no_such_attribute")

    def test_top_order_by_is_normalised(self):
        assert dj.Top(3, "a").order_by == ["a"]
        assert dj.Top(3, ("a", "b desc")).order_by == ["a", "b desc"]
        assert dj.Top(order_by=None).order_by is None
