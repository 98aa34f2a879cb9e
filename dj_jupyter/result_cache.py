"""Finished query results: rows read like a cursor, and the files ``Connection.set_query_cache`` keeps.

A cache file holds one result (column names and rows) in DataJoint's blob format, never pickle: a file
someone else put in the folder can at worst be a wrong answer, not code that runs.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from .codecs.blob_format import pack, unpack
from .errors import DataJointError

_READING = re.compile(r"\s*(SELECT|WITH|SHOW|PRAGMA)\b", re.IGNORECASE)


class StoredResult:
    """The rows of a finished query with the cursor methods callers use: ``fetchone``, ``fetchmany``,
    ``fetchall``, iteration, ``description`` (column names) and ``rowcount``."""

    def __init__(self, names: list[str], rows: list):
        self.description = [(name, None, None, None, None, None, None) for name in names]
        self._rows = rows
        self._next = 0
        self.rowcount = len(rows)

    @classmethod
    def of(cls, cursor) -> "StoredResult":
        names = [column[0] for column in cursor.description or ()]
        return cls(names, list(cursor.fetchall()) if cursor.description else [])

    def with_dicts(self) -> "StoredResult":
        """The rows not yet read, as dicts of column name to value."""
        names = self.names
        return StoredResult(names, [dict(zip(names, row)) for row in self.fetchall()])

    @property
    def names(self) -> list[str]:
        return [column[0] for column in self.description]

    def fetchone(self):
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchmany(self, size: int = 1) -> list:
        rows = self._rows[self._next:self._next + size]
        self._next += len(rows)
        return rows

    def fetchall(self) -> list:
        rows = self._rows[self._next:]
        self._next = len(self._rows)
        return rows

    def __iter__(self):
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        self._rows, self._next = [], 0


def check_reading(sql: str) -> None:
    if not _READING.match(sql):
        raise DataJointError("Only SELECT queries are allowed when query caching is on.",
                             hint="Call connection.set_query_cache(None) before changing data.")


def cache_file(folder: str | None, tag: str, sql: str, args: Any) -> Path:
    if not folder:
        raise DataJointError("Query caching needs a folder for its files.",
                             hint="Set dj.config['query_cache'] to a folder path.")
    digest = hashlib.sha256(f"{tag}\0{sql}\0{args!r}".encode()).hexdigest()
    return Path(folder) / digest


def read(path: Path) -> StoredResult | None:
    try:
        names, rows = unpack(path.read_bytes())
    except FileNotFoundError:
        return None
    except DataJointError:
        return None  # not a result this library wrote: ask the database again
    return StoredResult(list(names), [tuple(row) if isinstance(row, list) else row for row in rows])


def write(path: Path, result: StoredResult) -> None:
    """Keep ``result`` in ``path`` when the blob format can hold its values (a result that cannot be
    stored is still returned, just not cached)."""
    try:
        data = pack([result.names, result._rows])
    except DataJointError:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)  # a reader never sees half a file
