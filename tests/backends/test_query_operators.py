"""The five operators of the query algebra on every backend.

Every expectation is computed in Python from the rows the schemas insert
(``tests/schemas/university.py`` and ``tests/schemas/neuro.py``), never from the
library's own output.
"""

from __future__ import annotations

import collections
import datetime
import decimal

import numpy as np
import pytest

import dj_jupyter as dj
from tests.schemas import neuro, university

STUDENT_KEYS = ("student_id", "first_name", "last_name", "sex", "date_of_birth", "home_state")
STUDENTS = [dict(zip(STUDENT_KEYS, row)) for row in university.STUDENTS]
COURSES = [dict(zip(("dept", "course", "course_name", "credits"), row)) for row in university.COURSES]
ENROLL = university.ENROLL
GRADES = university.GRADES
MAJORS = university.MAJORS
POINTS = university.LETTER_POINTS
ALL_IDS = {s["student_id"] for s in STUDENTS}


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def norm(value):
    """Compare values across engines: Decimal and numpy scalars become floats/ints, floats are rounded."""
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return round(value, 6)
    return value


def rows(expr, *names, order_by=None):
    """The rows of ``expr`` as a set of tuples over ``names`` (default: the whole heading)."""
    names = names or tuple(expr.heading.names)
    return {tuple(norm(r[n]) for n in names) for r in expr.to_dicts(order_by=order_by)}


def ids(expr, name="student_id"):
    return {r[name] for r in expr.to_dicts()}


def ordered(expr, name):
    """The values of one attribute in the order the query returns them."""
    return [norm(r[name]) for r in expr.to_dicts()]


def expect(records, *names):
    return {tuple(norm(r[n]) for n in names) for r in records}


@pytest.fixture
def uni(make_schema):
    schema = make_schema()
    u = university.declare(schema)
    university.fill(u)
    return u


@pytest.fixture
def nr(make_schema):
    schema = make_schema()
    n = neuro.declare(schema)
    neuro.fill(n)
    return n


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
def by_key(records, key, reverse=False):
    return sorted(records, key=lambda r: r[key], reverse=reverse)


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


# ----------------------------------------------------------------------------------------------
# random compositions checked against a small relational evaluator written in Python
# ----------------------------------------------------------------------------------------------
class PyRelation:
    """A relation evaluated in Python: attribute names, primary key, lineage per attribute, rows."""

    def __init__(self, names, key, lineage, rows, sortable):
        self.names, self.key, self.lineage, self.rows, self.sortable = list(names), list(key), dict(lineage), rows, \
            dict(sortable)

    def derive(self, names=None, key=None, lineage=None, rows=None, sortable=None):
        return PyRelation(self.names if names is None else names, self.key if key is None else key,
                          self.lineage if lineage is None else lineage, self.rows if rows is None else rows,
                          self.sortable if sortable is None else sortable)


def _base_relations():
    lineage = {"student_id": "student", "dept": "department", "course": "course", "term_year": "term", "term": "term",
               "section": "section", "grade": "letter_grade"}
    sortable = {"student_id", "dept", "course", "term_year", "section", "n"}  # same order on every engine

    def rel(name, key, records, fk=()):
        names = list(records[0])
        return name, PyRelation(names, key, {n: lineage[n] if (n in key or n in fk) else None for n in names},
                                [dict(r) for r in records], {n: n in sortable for n in names})

    terms = [dict(term_year=y, term=t) for y, t in university.TERMS]
    letters = [dict(grade=g, points=p) for g, p in POINTS.items()]
    departments = [dict(dept=d, dept_name=n) for d, n in university.DEPARTMENTS]
    return dict([
        rel("Student", ["student_id"], STUDENTS),
        rel("Department", ["dept"], departments),
        rel("StudentMajor", ["student_id"], MAJORS, fk=("dept",)),
        rel("Course", ["dept", "course"], COURSES),
        rel("Term", ["term_year", "term"], terms),
        rel("Section", ["dept", "course", "term_year", "term", "section"], university.SECTIONS),
        rel("Enroll", list(university.ENROLL_KEYS), ENROLL),
        rel("Grade", list(university.ENROLL_KEYS), GRADES, fk=("grade",)),
        rel("LetterGrade", ["grade"], letters),
    ])


def _matches(a, b, common):
    return all(a[c] is not None and b[c] is not None and a[c] == b[c] for c in common)


def _compatible(r, s):
    common = [n for n in r.names if n in s.names]
    ok = all(r.lineage[n] is not None and r.lineage[n] == s.lineage[n] for n in common)
    return common, ok


def _literal(value):
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f'"{value.isoformat()}"'
    return str(value)


class Composer:
    """Builds random query expressions together with their Python evaluation."""

    def __init__(self, uni, rng):
        self.uni, self.rng, self.fresh = uni, rng, 0
        self.base = _base_relations()

    def new_name(self):
        self.fresh += 1
        return f"x{self.fresh}"

    def make(self, depth):
        if depth <= 0 or self.rng.random() < 0.15:
            name = self.rng.choice(list(self.base))
            return getattr(self.uni, name)(), self.base[name]
        q, r = self.make(depth - 1)
        op = self.rng.choice(["dict", "antidict", "string", "semijoin", "antijoin", "join", "proj", "aggr", "top",
                              "union", "universal", "extend"])
        return getattr(self, f"op_{op}")(q, r, depth)

    # -- restrictions ---------------------------------------------------------------------------
    def _pick_value(self, r):
        plain = [n for n in r.names if all(not isinstance(row[n], float) for row in r.rows)]
        if not plain or not r.rows:
            return None, None
        name = self.rng.choice(plain)
        return name, self.rng.choice(r.rows)[name]

    def op_dict(self, q, r, depth):
        name, value = self._pick_value(r)
        if name is None:
            return q, r
        keep = [row for row in r.rows if (row[name] is None if value is None else row[name] == value)]
        return q & {name: value, "not_an_attribute": 1}, r.derive(rows=keep)

    def op_antidict(self, q, r, depth):
        name, value = self._pick_value(r)
        if name is None:
            return q, r
        keep = [row for row in r.rows if not (row[name] is None if value is None else row[name] == value)]
        return q - {name: value}, r.derive(rows=keep)

    def op_string(self, q, r, depth):
        name, value = self._pick_value(r)
        if name is None or value is None:
            return q, r
        if isinstance(value, int) and self.rng.random() < 0.5:
            keep = [row for row in r.rows if row[name] is not None and row[name] > value]
            return q & f"{name} > {value}", r.derive(rows=keep)
        keep = [row for row in r.rows if row[name] is not None and row[name] != value]
        return q & f"{name} != {_literal(value)}", r.derive(rows=keep)

    def _other(self, depth):
        return self.make(max(depth - 2, 0))

    def op_semijoin(self, q, r, depth, negate=False):
        q2, s = self._other(depth)
        common, ok = _compatible(r, s)
        if not ok:
            with pytest.raises(dj.DataJointError):
                q - q2 if negate else q & q2
            return q, r
        keep = [row for row in r.rows if any(_matches(row, other, common) for other in s.rows) != negate]
        return (q - q2 if negate else q & q2), r.derive(rows=keep)

    def op_antijoin(self, q, r, depth):
        return self.op_semijoin(q, r, depth, negate=True)

    # -- join and extend ------------------------------------------------------------------------
    def op_join(self, q, r, depth):
        q2, s = self._other(depth)
        common, ok = _compatible(r, s)
        if not ok:
            with pytest.raises(dj.DataJointError):
                q * q2
            return q, r
        if all(k in r.names for k in s.key):
            key = r.key
        elif all(k in s.names for k in r.key):
            key = s.key
        else:
            key = r.key + [k for k in s.key if k not in r.key]
        names = r.names + [n for n in s.names if n not in r.names]
        rows = [{**b, **a} for a in r.rows for b in s.rows if _matches(a, b, common)]
        lineage = {**s.lineage, **r.lineage}
        return q * q2, PyRelation(names, key, lineage, rows, {**s.sortable, **r.sortable})

    def op_extend(self, q, r, depth):
        q2, s = self._other(depth)
        common, ok = _compatible(r, s)
        if not ok or not all(k in r.names for k in s.key):
            with pytest.raises(dj.DataJointError):
                q.extend(q2)
            return q, r
        extra = [n for n in s.names if n not in r.names]
        rows = []
        for a in r.rows:
            match = [b for b in s.rows if _matches(a, b, common)]
            rows.append({**a, **(match[0] if match else {n: None for n in extra})} if match else
                        {**a, **{n: None for n in extra}})
        lineage = {**s.lineage, **r.lineage}
        return q.extend(q2), PyRelation(r.names + extra, r.key, lineage, rows, {**s.sortable, **r.sortable})

    # -- projection, aggregation, top, union, dj.U ------------------------------------------------
    def op_proj(self, q, r, depth):
        secondary = [n for n in r.names if n not in r.key]
        keep = [n for n in secondary if self.rng.random() < 0.5]
        renames = {}
        if self.rng.random() < 0.6:
            renames[self.new_name()] = self.rng.choice(r.names)
        # a renamed key attribute is replaced by its new name; a secondary attribute named explicitly stays too
        kept = [n for n in r.key if n not in renames.values()] + keep
        mapping = {n: n for n in kept} | {new: old for new, old in renames.items()}
        key = [next(new for new, old in mapping.items() if old == k) for k in r.key]
        rows = [{new: row[old] for new, old in mapping.items()} for row in r.rows]
        return q.proj(*keep, **renames), PyRelation(
            list(mapping), key, {new: r.lineage[old] for new, old in mapping.items()}, rows,
            {new: r.sortable[old] for new, old in mapping.items()})

    def op_aggr(self, q, r, depth):
        q2, s = self._other(depth)
        common, ok = _compatible(r, s)
        if not ok or not all(k in s.names for k in r.key):
            with pytest.raises(dj.DataJointError):
                q.aggr(q2, n="count(*)")
            return q, r
        name = self.new_name()
        keep_all = self.rng.random() < 0.5
        attrs = (...,) if keep_all else ()
        names = (r.names if keep_all else list(r.key)) + [name]
        rows = [{**{n: a[n] for n in names if n != name}, name: sum(_matches(a, b, common) for b in s.rows)}
                for a in r.rows]
        return q.aggr(q2, *attrs, **{name: "count(*)"}), PyRelation(
            names, r.key, {n: r.lineage.get(n) for n in names}, rows, {n: r.sortable.get(n, True) for n in names})

    def op_top(self, q, r, depth):
        if not all(r.sortable[k] for k in r.key) or any(row[k] is None for row in r.rows for k in r.key):
            return q, r
        limit = self.rng.randint(0, 6)
        offset = self.rng.randint(0, 2)
        ordered_rows = sorted(r.rows, key=lambda row: tuple(row[k] for k in r.key))
        return q & dj.Top(limit, "KEY", offset), r.derive(rows=ordered_rows[offset:offset + limit])

    def op_union(self, q, r, depth):
        name, value = self._pick_value(r)
        if name is None:
            return q, r
        secondary = [n for n in r.names if n not in r.key]
        left_attrs = [n for n in secondary if self.rng.random() < 0.5]
        right_attrs = [n for n in secondary if n not in left_attrs and self.rng.random() < 0.5]
        left = [row for row in r.rows if row[name] is not None and row[name] == value]
        right = [row for row in r.rows if not (row[name] is not None and row[name] == value)]
        if self.rng.random() < 0.5:
            right = right + left[:1]
        names = r.key + left_attrs + right_attrs
        merged = {}
        for row in left:
            merged[tuple(row[k] for k in r.key)] = {**{n: row[n] for n in r.key + left_attrs},
                                                    **{n: None for n in right_attrs}}
        for row in right:
            entry = merged.setdefault(tuple(row[k] for k in r.key), {**{n: row[n] for n in r.key},
                                                                       **{n: None for n in left_attrs}})
            entry.update({n: row[n] for n in right_attrs})
        query = (q & {name: value}).proj(*left_attrs) + (q - {name: value} if not right or right[-1] not in left
                                                          else q).proj(*right_attrs)
        if right and right[-1] in left:
            # the right operand is the whole relation: every key is on the right
            merged = {}
            for row in r.rows:
                in_left = row[name] is not None and row[name] == value
                merged[tuple(row[k] for k in r.key)] = {**{n: row[n] for n in r.key},
                                                        **{n: (row[n] if in_left else None) for n in left_attrs},
                                                        **{n: row[n] for n in right_attrs}}
        return query, PyRelation(names, r.key, r.lineage, list(merged.values()), r.sortable)

    def op_universal(self, q, r, depth):
        attrs = [n for n in r.names if self.rng.random() < 0.4] or [self.rng.choice(r.names)]
        distinct = {tuple(row[n] for n in attrs) for row in r.rows}
        return dj.U(*attrs) & q, PyRelation(attrs, attrs, {n: r.lineage[n] for n in attrs},
                                             [dict(zip(attrs, values)) for values in distinct],
                                             {n: r.sortable[n] for n in attrs})


def _bag(records, names):
    return collections.Counter(tuple(norm(r[n]) for n in names) for r in records)


class TestRandomCompositions:
    @pytest.mark.parametrize("seed", range(6))
    def test_random_compositions_match_python(self, uni, seed):
        import random

        rng = random.Random(seed)
        composer = Composer(uni, rng)
        for _ in range(12):
            q, r = composer.make(rng.randint(2, 5))
            assert set(q.heading.names) == set(r.names), q.make_sql()[0]
            assert set(q.primary_key) == set(r.key), q.make_sql()[0]
            got = q.to_dicts()
            names = sorted(r.names)
            assert _bag(got, names) == _bag(r.rows, names), q.make_sql()[0]
            assert len(q) == len(r.rows)
            assert bool(q) == bool(r.rows)
