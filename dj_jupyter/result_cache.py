"""The files ``Connection.set_query_cache`` keeps: one query's result each.

A cache file holds one result (column names and rows) in DataJoint's blob format, never pickle: a file
someone else put in the folder can at worst be a wrong answer, not code that runs.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from .backends.base import FetchedResult
from .codecs.blob_format import pack, unpack
from .errors import DataJointError

_READING = re.compile(r"\s*(SELECT|WITH|SHOW|PRAGMA)\b", re.IGNORECASE)


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


def read(path: Path) -> FetchedResult | None:
    try:
        names, rows = unpack(path.read_bytes())
    except FileNotFoundError:
        return None
    except DataJointError:
        return None  # not a result this library wrote: ask the database again
    return FetchedResult.named(list(names), [tuple(row) if isinstance(row, list) else row for row in rows])


def write(path: Path, result: FetchedResult) -> None:
    """Keep ``result`` in ``path`` when the blob format can hold its values (a result that cannot be
    stored is still returned, just not cached)."""
    try:
        data = pack([result.names, result.rows])
    except DataJointError:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)  # a reader never sees half a file
