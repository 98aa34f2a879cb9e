"""The same workload through dj_jupyter, DataJoint 2.3.5 and the raw driver on PostgreSQL and MariaDB.

Insert 100,000 rows, fetch them into pandas, and round-trip a 100 MB float64
array through ``<blob>``. Every figure is measured in this run against the same
server.
"""

from __future__ import annotations

import datetime
import uuid

import numpy as np

from .common import datajoint_connection, ours_connection, server, timed

ROWS = 100_000
DEFINITION = """
id : int64
---
count : int32
value : float64
label : varchar(32)
day : date
stamp : datetime(3)
"""
BLOB_DEFINITION = """
id : int32
---
data : <blob>
"""


def _rows():
    rng = np.random.default_rng(1)
    start = datetime.datetime(2024, 1, 1)
    counts = rng.integers(0, 1000, ROWS)
    values = rng.random(ROWS)
    return [dict(id=i, count=int(counts[i]), value=float(values[i]), label=f"label{i % 977}",
                 day=(start + datetime.timedelta(days=i % 365)).date(),
                 stamp=start + datetime.timedelta(seconds=i, milliseconds=i % 1000)) for i in range(ROWS)]


def _declare(module, schema, name, definition):
    table = type(name, (module.Manual,), {"definition": definition})
    return schema(table, context={})


def _raw_connection(kind):
    srv = server(kind)
    if kind == "postgresql":
        import psycopg

        return psycopg.connect(host=srv.host, port=srv.port, user=srv.user, password=srv.password,
                               dbname="postgres", autocommit=True)
    import pymysql

    return pymysql.connect(host=srv.host, port=srv.port, user=srv.user, password=srv.password, autocommit=True,
                           max_allowed_packet=1 << 30)


def _raw_fetch(kind, raw, table_sql):
    import pandas

    cursor = raw.cursor()
    cursor.execute(f"SELECT * FROM {table_sql}")
    frame = pandas.DataFrame(cursor.fetchall(), columns=[c[0] for c in cursor.description])
    cursor.close()
    return frame


def _raw_insert(kind, raw, table_sql, rows):
    cursor = raw.cursor()
    cursor.execute(f"DELETE FROM {table_sql}")
    columns = list(rows[0])
    if kind == "postgresql":
        with cursor.copy(f"COPY {table_sql} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(tuple(row.values()))
    else:
        cursor.executemany(f"INSERT INTO {table_sql} ({', '.join(f'`{c}`' for c in columns)}) VALUES "
                           f"({', '.join(['%s'] * len(columns))})", [tuple(r.values()) for r in rows])
    cursor.close()


def run_backend(kind, report) -> None:
    import dj_jupyter as ours

    rows = _rows()
    tag = uuid.uuid4().hex[:6]
    connection = ours_connection(kind)
    our_schema = ours.Schema(f"bench_ours_{tag}", connection=connection)
    OurMixed = _declare(ours, our_schema, "Mixed", DEFINITION)
    OurBlob = _declare(ours, our_schema, "Blob", BLOB_DEFINITION)
    datajoint, _ = datajoint_connection(kind)
    their_schema = datajoint.Schema(f"bench_theirs_{tag}")
    TheirMixed = _declare(datajoint, their_schema, "Mixed", DEFINITION)
    TheirBlob = _declare(datajoint, their_schema, "Blob", BLOB_DEFINITION)
    raw = _raw_connection(kind)
    quote = '"' if kind == "postgresql" else "`"
    raw_table = f"{quote}{our_schema.database}{quote}.{quote}mixed{quote}"
    label = "PostgreSQL" if kind == "postgresql" else "MariaDB"
    try:
        ours_insert = timed(lambda: (OurMixed.delete_quick(), OurMixed.insert(rows)), repeat=2)
        theirs_insert = timed(lambda: (TheirMixed.delete_quick(), TheirMixed.insert(rows)), repeat=1)
        raw_insert = timed(lambda: _raw_insert(kind, raw, raw_table, rows), repeat=2)
        OurMixed.delete_quick()
        OurMixed.insert(rows)
        report(f"{label}: insert 100k rows (ours / DataJoint 2.3.5)", ours_insert, theirs_insert, "target <= 0.33")
        report(f"{label}: insert 100k rows (ours / raw driver)", ours_insert, raw_insert,
               "raw: COPY" if kind == "postgresql" else "raw: executemany")
        ours_fetch = timed(lambda: OurMixed.to_pandas(), repeat=3)
        theirs_fetch = timed(lambda: TheirMixed.to_pandas(), repeat=2)
        raw_fetch = timed(lambda: _raw_fetch(kind, raw, raw_table), repeat=3)
        report(f"{label}: fetch 100k rows to pandas (ours / DataJoint 2.3.5)", ours_fetch, theirs_fetch,
               "target <= 0.2")
        report(f"{label}: fetch 100k rows to pandas (ours / raw driver)", ours_fetch, raw_fetch, "target <= 1.5")
        array = np.random.default_rng(2).random(100 * 2**20 // 8)

        def round_trip(table):
            table.delete_quick()
            table.insert1({"id": 1, "data": array})
            assert (table & {"id": 1}).fetch1("data").shape == array.shape

        ours_blob = timed(lambda: round_trip(OurBlob), repeat=2)
        theirs_blob = timed(lambda: round_trip(TheirBlob), repeat=1)
        report(f"{label}: 100 MB float64 <blob> round trip (ours / DataJoint 2.3.5)", ours_blob, theirs_blob,
               "target <= 0.2")
    finally:
        raw.close()
        their_schema.drop(prompt=False)
        our_schema.drop(prompt=False)
        connection.close()


def run(report) -> None:
    for kind in ("postgresql", "mysql"):
        run_backend(kind, report)


if __name__ == "__main__":
    from .__main__ import main

    main(["bench_backends"])
