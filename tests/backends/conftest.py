"""Fixtures of the backend tests: the university and neuro schemas, declared and filled."""

from __future__ import annotations

import pytest

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
