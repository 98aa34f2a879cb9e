"""Primary-key rules of the query algebra, checked on headings built by hand (no database).

The rules (DataJoint 2.x):

* join ``A * B``: A -> B (all of PK(B) is in A) gives PK(A); otherwise B -> A gives PK(B);
  neither gives PK(A) followed by the rest of PK(B); both gives PK(A) (the left operand wins);
* left join / ``extend``: only defined when A -> B; the key stays PK(A) and B's attributes
  become nullable;
* aggregation ``A.aggr(B, ...)``: PK(A), and B must carry all of PK(A);
* union ``A + B``: same primary key (as a set), disjoint secondary attributes;
* ``dj.U(*names) & A``: exactly the listed attributes, all in the key.
"""

from __future__ import annotations

import pytest

from dj_jupyter.declare.types import classify
from dj_jupyter.errors import DataJointError
from dj_jupyter.query.heading import Attribute, Heading

INT = classify("int32")


def heading(key, secondary=(), *, lineage=None, nullable=()) -> Heading:
    """A heading with ``key`` then ``secondary``; ``lineage`` maps names to origins."""
    lineage = lineage or {}
    return Heading([Attribute(name, INT, in_key=True, lineage=lineage.get(name)) for name in key]
                   + [Attribute(name, INT, nullable=name in nullable, lineage=lineage.get(name)) for name in secondary])


# ----------------------------------------------------------------------------------------------
# determines
# ----------------------------------------------------------------------------------------------
class TestDetermines:
    def test_key_inside_other_key(self):
        assert heading(["a", "b"], ["c"]).determines(heading(["a"]))

    def test_key_found_among_secondary_attributes(self):
        # a foreign key in the secondary part: A carries all of B's key
        assert heading(["a"], ["b", "c"]).determines(heading(["b"]))

    def test_a_key_attribute_missing(self):
        assert not heading(["a", "b"]).determines(heading(["a", "c"]))

    def test_mutual(self):
        a, b = heading(["a", "b"], ["c"]), heading(["b", "c"], ["a"])
        assert a.determines(b) and b.determines(a)

    def test_neither(self):
        a, b = heading(["a", "b"]), heading(["b", "c"])
        assert not a.determines(b) and not b.determines(a)

    def test_empty_key_is_determined_by_anything(self):
        assert heading(["a"]).determines(heading([])) and heading([]).determines(heading([]))

    def test_nothing_but_empty_key_is_determined_by_an_empty_heading(self):
        assert not heading([]).determines(heading(["a"]))

    def test_subject_session(self):
        subject = heading(["subject_id"], ["species"])
        session = heading(["subject_id", "session_idx"], ["session_date"])
        assert session.determines(subject)
        assert not subject.determines(session)


# ----------------------------------------------------------------------------------------------
# join
# ----------------------------------------------------------------------------------------------
class TestJoinKey:
    def test_a_determines_b_gives_pk_a(self):
        result = heading(["a", "b"], ["c"]).join(heading(["a"], ["d"]))
        assert result.primary_key == ["a", "b"]
        assert result.names == ["a", "b", "c", "d"]

    def test_b_determines_a_gives_pk_b_with_b_first(self):
        a = heading(["a", "b"])  # A -> B? no: c is missing from A
        b = heading(["a", "c"], ["b"])  # B -> A: b is a secondary attribute of B
        result = a.join(b)
        assert result.primary_key == ["a", "c"]
        assert result.names[:2] == ["a", "c"]
        assert result.secondary_attributes == ["b"]  # demoted from A's key

    def test_both_determine_prefers_the_left_operand(self):
        a, b = heading(["a", "b"], ["c"]), heading(["b", "c"], ["a"])
        assert a.join(b).primary_key == ["a", "b"]
        assert b.join(a).primary_key == ["b", "c"]

    def test_neither_gives_the_union_left_key_first(self):
        result = heading(["a", "b"], ["x"]).join(heading(["b", "c"], ["y"]))
        assert result.primary_key == ["a", "b", "c"]
        assert result.secondary_attributes == ["x", "y"]

    def test_cartesian_product_of_unrelated_keys(self):
        result = heading(["a"], ["x"]).join(heading(["b"], ["y"]))
        assert result.primary_key == ["a", "b"]
        assert set(result.names) == {"a", "b", "x", "y"}

    def test_neither_promotes_a_secondary_attribute_that_is_in_the_other_key(self):
        # A has c as a secondary attribute, B has c in its key, but B lacks a: neither determines
        a = heading(["a"], ["c", "x"])
        b = heading(["b", "c"])
        assert not a.determines(b) and not b.determines(a)
        result = a.join(b)
        assert result.primary_key == ["a", "b", "c"]
        assert result.secondary_attributes == ["x"]

    def test_secondary_attributes_of_both_sides_are_kept(self):
        result = heading(["a"], ["x"]).join(heading(["a"], ["y"]))
        assert result.primary_key == ["a"]
        assert result.secondary_attributes == ["x", "y"]
        assert result.names.index("x") < result.names.index("y")

    def test_session_times_trial_has_the_trial_key(self):
        session = heading(["subject_id", "session_idx"], ["session_date"])
        trial = heading(["subject_id", "session_idx", "trial_idx"], ["outcome"])
        assert session.join(trial).primary_key == ["subject_id", "session_idx", "trial_idx"]
        assert trial.join(session).primary_key == ["subject_id", "session_idx", "trial_idx"]
        assert session.join(trial).secondary_attributes == ["outcome", "session_date"]

    def test_diamond_join(self):
        trial = heading(["s", "e", "t"], ["stim"])
        unit = heading(["s", "e", "u"], ["depth"])
        result = trial.join(unit)
        assert result.primary_key == ["s", "e", "t", "u"]

    def test_key_flags_are_consistent(self):
        result = heading(["a", "b"]).join(heading(["a", "c"], ["b"]))
        for name in result.names:
            assert result[name].in_key == (name in result.primary_key)

    def test_join_with_an_empty_key(self):
        # a heading with an empty key has one row at most: everything determines it
        total = heading([], ["n"])
        result = heading(["a"], ["x"]).join(total)
        assert result.primary_key == ["a"]
        assert total.join(heading(["a"], ["x"])).primary_key == ["a"]

    def test_does_not_modify_its_operands(self):
        a, b = heading(["a", "b"]), heading(["a", "c"], ["b"])
        before_a, before_b = list(a.names), list(b.names)
        a.join(b)
        assert a.names == before_a and a.primary_key == ["a", "b"]
        assert b.names == before_b and b.primary_key == ["a", "c"]

    def test_lineage_survives_the_join(self):
        a = heading(["a"], ["x"], lineage={"a": "s.t.a"})
        b = heading(["a", "b"], lineage={"a": "s.t.a", "b": "s.u.b"})
        result = a.join(b)
        assert result["a"].lineage == "s.t.a" and result["b"].lineage == "s.u.b"
        assert result["x"].lineage is None


class TestLeftJoinKey:
    def test_left_join_keeps_the_left_key_and_makes_the_right_nullable(self):
        trial = heading(["s", "t"], ["stim"])
        stimulus = heading(["stim"], ["contrast"])
        result = trial.join(stimulus, left=True)
        assert result.primary_key == ["s", "t"]
        assert result["contrast"].nullable
        assert not result["stim"].nullable  # it is the left side's own attribute

    def test_left_join_with_mutual_dependence_still_uses_the_left_key(self):
        a, b = heading(["a", "b"], ["c"]), heading(["b", "c"], ["a", "d"])
        result = a.join(b, left=True)
        assert result.primary_key == ["a", "b"]
        assert result["d"].nullable


# ----------------------------------------------------------------------------------------------
# aggregation
# ----------------------------------------------------------------------------------------------
class TestAggregationKey:
    def test_aggregation_keeps_the_grouping_key(self):
        subject = heading(["subject_id"], ["species"])
        session = heading(["subject_id", "session_idx"], ["session_date"])
        result = subject.aggregate(session, ["n", "last_date"])
        assert result.primary_key == ["subject_id"]
        assert result.names == ["subject_id", "species", "n", "last_date"]
        assert result.secondary_attributes == ["species", "n", "last_date"]

    def test_aggregation_needs_the_group_to_carry_the_grouping_key(self):
        subject = heading(["subject_id"])
        course = heading(["course"], ["credits"])
        with pytest.raises(DataJointError, match="subject_id"):
            subject.aggregate(course, ["n"])

    def test_grouping_key_may_be_secondary_in_the_group(self):
        # Stimulus.aggr(Trial): stim is a secondary attribute of Trial
        stimulus = heading(["stim"], ["contrast"])
        trial = heading(["s", "t"], ["stim"])
        assert stimulus.aggregate(trial, ["n"]).primary_key == ["stim"]

    def test_aggregate_name_must_be_new(self):
        with pytest.raises(DataJointError, match="existing attribute"):
            heading(["a"], ["x"]).aggregate(heading(["a", "b"]), ["x"])

    def test_empty_grouping_key(self):
        # the heading of dj.U().aggr(...): one row, no key
        result = heading([]).aggregate(heading(["a"], ["x"]), ["n"])
        assert result.primary_key == [] and result.names == ["n"]


# ----------------------------------------------------------------------------------------------
# union
# ----------------------------------------------------------------------------------------------
class TestUnionKey:
    def test_union_of_the_same_key(self):
        result = heading(["a", "b"], ["x"]).union(heading(["a", "b"], ["y"]))
        assert result.primary_key == ["a", "b"]
        assert result.names == ["a", "b", "x", "y"]
        assert result["x"].nullable and result["y"].nullable
        assert not result["a"].nullable

    def test_key_order_may_differ(self):
        assert heading(["a", "b"]).union(heading(["b", "a"])).primary_key == ["a", "b"]

    def test_different_keys_are_refused(self):
        with pytest.raises(DataJointError, match="same primary key"):
            heading(["a"]).union(heading(["a", "b"]))
        with pytest.raises(DataJointError, match="same primary key"):
            heading(["a"], ["b"]).union(heading(["b"], ["a"]))

    def test_shared_secondary_attributes_are_refused(self):
        with pytest.raises(DataJointError, match="secondary"):
            heading(["a"], ["x", "y"]).union(heading(["a"], ["y"]))

    def test_key_only_union(self):
        result = heading(["a"]).union(heading(["a"]))
        assert result.names == ["a"] and result.primary_key == ["a"]


# ----------------------------------------------------------------------------------------------
# dj.U
# ----------------------------------------------------------------------------------------------
class TestUniversalSetKey:
    def test_listed_attributes_become_the_key(self):
        result = heading(["a", "b"], ["x", "y"]).universal(["y", "x"])
        assert result.primary_key == ["y", "x"]
        assert result.names == ["y", "x"]

    def test_key_attributes_may_be_listed(self):
        result = heading(["a", "b"], ["x"]).universal(["b"])
        assert result.primary_key == ["b"] and result.names == ["b"]

    def test_no_attributes_gives_an_empty_key(self):
        result = heading(["a"], ["x"]).universal([])
        assert result.primary_key == [] and result.names == []

    def test_unknown_attribute_is_refused(self):
        with pytest.raises(DataJointError, match="nope"):
            heading(["a"], ["x"]).universal(["nope"])

    def test_lineage_is_kept(self):
        result = heading(["a"], ["x"], lineage={"x": "s.t.x"}).universal(["x"])
        assert result["x"].lineage == "s.t.x"


# ----------------------------------------------------------------------------------------------
# the rest of the heading algebra
# ----------------------------------------------------------------------------------------------
class TestHeadingBasics:
    def test_set_primary_key_moves_the_key_first(self):
        result = heading(["a"], ["x", "y"]).set_primary_key(["y"])
        assert result.primary_key == ["y"] and result.names == ["y", "a", "x"]

    def test_duplicate_names_are_refused(self):
        with pytest.raises(DataJointError, match="twice"):
            Heading([Attribute("a", INT, in_key=True), Attribute("a", INT)])

    def test_unknown_attribute_lookup_names_the_attribute(self):
        with pytest.raises(DataJointError, match="`zz`"):
            heading(["a"])["zz"]

    def test_plain_drops_expressions(self):
        h = Heading([Attribute("a", INT, in_key=True), Attribute("b", INT, expression='"a" + 1')])
        assert h.has_expressions and not h.plain().has_expressions
        assert h.plain().names == ["a", "b"]

    def test_project_renames_in_place_and_appends_computed(self):
        h = heading(["a", "b"], ["x", "y"], lineage={"a": "s.t.a"})
        result = h.project(["b", "y"], {"aa": "a"}, {"z": "1"}, quote=lambda n: f'"{n}"')
        assert result.names == ["aa", "b", "y", "z"]
        assert result.primary_key == ["aa", "b"]
        assert result["aa"].lineage == "s.t.a"  # a rename keeps the lineage
        assert result["z"].lineage is None  # a computed attribute has none
        assert result["aa"].expression == '"a"'
