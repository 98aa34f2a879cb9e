"""Fetch 100,000 rows of mixed types into pandas: to_pandas() next to the raw driver cursor."""

from __future__ import annotations

import datetime
import os
import sqlite3
import tempfile

import numpy as np

from .common import ours_connection, timed

ROWS = 100_000


def _declare(connection):
    import dj_jupyter as dj

    schema = dj.Schema("bench_fetch", connection=connection)

    @schema
    class Mixed(dj.Manual):
        definition = """
        id : int64
        ---
        count : int32
        value : float64
        label : varchar(32)
        day : date
        stamp : datetime(3)
        flag : bool
        """

    return schema, Mixed


def _rows():
    rng = np.random.default_rng(0)
    start = datetime.datetime(2024, 1, 1)
    counts = rng.integers(0, 1000, ROWS)
    values = rng.random(ROWS)
    return [(i, int(counts[i]), float(values[i]), f"label{i % 977}", (start + datetime.timedelta(days=i % 365)).date(),
             start + datetime.timedelta(seconds=i, milliseconds=i % 1000), i % 2 == 0) for i in range(ROWS)]


def run(report) -> None:
    import pandas

    path = os.path.join(tempfile.mkdtemp(), "fetch.sqlite3")
    connection = ours_connection("sqlite", path)
    schema, Mixed = _declare(connection)
    Mixed.insert(_rows())
    raw = sqlite3.connect(path)

    def raw_driver():
        cursor = raw.execute(f'SELECT * FROM "{schema.database}.mixed"')
        return pandas.DataFrame.from_records(cursor.fetchall(), columns=[c[0] for c in cursor.description])

    ours = timed(lambda: Mixed.to_pandas(), repeat=5)
    reference = timed(raw_driver, repeat=5)
    report("fetch 100k mixed rows to pandas, SQLite (ours / raw sqlite3)", ours, reference, "target <= 1.3")
    raw.close()
    connection.close()


if __name__ == "__main__":
    from .__main__ import main

    main(["bench_fetch"])
