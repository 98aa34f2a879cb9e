"""Which stored objects rows reference, and removal of those no row references any more."""

from __future__ import annotations

import logging

logger = logging.getLogger("dj_jupyter")


def store_attributes(heading, attributes=None) -> list:
    """Attributes that may hold references to stored objects (codec chains ending in a store)."""
    from .stores import _store_columns

    return [attribute for attribute, _codec in _store_columns(heading, attributes)]


def collect_references(expr, attributes=None) -> list[tuple[str, str]]:
    """(store, path) pairs referenced by the rows of ``expr`` through store-backed attributes."""
    from .stores import _store_columns, references_of

    columns = _store_columns(expr.heading, attributes)
    if not columns:
        return []
    return references_of(expr, [attribute.name for attribute, _codec in columns])


def remove_unreferenced(connection, references) -> None:
    from .stores import remove_if_unreferenced

    remove_if_unreferenced(connection, references)
