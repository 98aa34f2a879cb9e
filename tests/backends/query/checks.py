"""What the query-algebra tests compare against: the rows the university and neuro schemas
insert (``tests/schemas``), and helpers that read a query's rows in an engine-neutral form."""

from __future__ import annotations

import decimal

import numpy as np

from tests.schemas import university

STUDENT_KEYS = ("student_id", "first_name", "last_name", "sex", "date_of_birth", "home_state")
STUDENTS = [dict(zip(STUDENT_KEYS, row)) for row in university.STUDENTS]
COURSES = [dict(zip(("dept", "course", "course_name", "credits"), row)) for row in university.COURSES]
ENROLL = university.ENROLL
GRADES = university.GRADES
MAJORS = university.MAJORS
POINTS = university.LETTER_POINTS
ALL_IDS = {s["student_id"] for s in STUDENTS}



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


def by_key(records, key, reverse=False):
    return sorted(records, key=lambda r: r[key], reverse=reverse)
