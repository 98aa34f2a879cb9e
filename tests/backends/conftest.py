"""Fixtures of the backend tests: the university and neuro schemas, a table of every core type and a
small lab pipeline, declared and filled."""

from __future__ import annotations

import datetime

import pytest

import dj_jupyter as dj
from tests.backends.basics import ALL_TYPES
from tests.schemas import neuro, university


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


@pytest.fixture
def everything(make_schema):
    schema = make_schema()

    @schema
    class Everything(dj.Manual):
        definition = ALL_TYPES

    return Everything


@pytest.fixture
def lab(make_schema):
    """Subjects, sessions (with a renamed reference and a part table) in one schema."""
    schema = make_schema()

    @schema
    class Subject(dj.Manual):
        definition = """
        # research animals
        subject_id : int32
        ---
        species : enum('mouse', 'rat')
        sex : char(1)
        weight = null : float32     # grams
        dob = null : date
        name : varchar(16)
        """

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session : int16
        ---
        -> [nullable] Subject.proj(buddy_id='subject_id')
        duration : float64
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial : int16
            ---
            outcome : bool
            """

    Subject.insert([
        dict(subject_id=1, species="mouse", sex="M", weight=25.5, dob=datetime.date(2020, 1, 1), name="alpha"),
        dict(subject_id=2, species="mouse", sex="F", weight=18.25, dob=datetime.date(2021, 6, 1), name="beta"),
        dict(subject_id=3, species="rat", sex="F", weight=310.0, dob=None, name="gamma"),
        dict(subject_id=4, species="rat", sex="M", weight=None, dob=datetime.date(2019, 3, 3), name="delta"),
    ])
    Session.insert([dict(subject_id=1, session=1, buddy_id=2, duration=10.0),
                    dict(subject_id=1, session=2, buddy_id=None, duration=20.0),
                    dict(subject_id=3, session=1, buddy_id=1, duration=30.5)])
    Session.Trial.insert([dict(subject_id=1, session=1, trial=t, outcome=t % 2 == 0) for t in range(3)]
                         + [dict(subject_id=3, session=1, trial=0, outcome=True)])
    return schema, Subject, Session
