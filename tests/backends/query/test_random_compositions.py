"""Random compositions of the operators checked against a small relational evaluator in Python.

Every expectation is computed in Python from the rows the schemas insert
(``tests/schemas/university.py`` and ``tests/schemas/neuro.py``), never from the
library's own output.
"""

from __future__ import annotations

import collections
import datetime

import pytest

import dj_jupyter as dj
from tests.backends.query.checks import COURSES, ENROLL, GRADES, MAJORS, POINTS, STUDENTS, norm
from tests.schemas import university


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
