"""What the backend tests share: a table of every core type, a full row of it, and helpers."""

from __future__ import annotations

import datetime
import decimal
import math
import uuid

import pytest

import dj_jupyter as dj
from tests.conftest import SERVER_BACKENDS

SERVERS = ("postgresql", "mysql")
on_servers = pytest.mark.parametrize("backend", SERVER_BACKENDS)  # the sessions, users and layouts of a server

ALL_TYPES = """
# every core type
id : int32
---
i8 = null : int8              # tiny
i16 = null : int16
i32 = null : int32
i64 = null : int64
f32 = null : float32
f64 = null : float64
flag = null : bool
amount = null : decimal(8,3)
code = null : char(4)
name = null : varchar(30)     # a name
day = null : date
moment = null : datetime
micro = null : datetime(6)
color = null : enum('red', 'green', 'it''s blue')
uid = null : uuid
meta = null : json
raw = null : bytes
array = null : <blob>
"""

FULL_ROW = dict(
    id=1, i8=-128, i16=-32768, i32=2**31 - 1, i64=2**62 + 3, f32=-0.25, f64=math.pi, flag=True,
    amount=decimal.Decimal("12345.678"), code="abcd", name="héllo ✓ it's \"q\" 50%", day=datetime.date(2024, 2, 29),
    moment=datetime.datetime(2024, 5, 17, 13, 45, 12), micro=datetime.datetime(2024, 5, 17, 13, 45, 12, 123456),
    color="it's blue", uid=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    meta={"a": [1, 2.5, None], "b": {"c": "x"}, "d": True}, raw=b"\x00\x01\xff" * 50, array=None)


def second_connection(connection):
    """Another session on the same server (e.g. to kill the first one)."""
    info = connection.conn_info
    return dj.Connection(info["host"], info["user"], connection._password, info["port"], backend=info["backend"])


def keys(expr, *names):
    return sorted(tuple(row[n] for n in names) for row in expr.to_dicts())
