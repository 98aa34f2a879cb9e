"""Which stored objects rows reference, and removal of those no row references any more."""

from __future__ import annotations

import logging

from ..codecs.base import resolve

logger = logging.getLogger("dj_jupyter")


def store_attributes(heading, attributes=None) -> list:
    """Attributes whose codec chain ends in an object store."""
    names = heading.names if attributes is None else [a for a in attributes if a in heading]
    result = []
    for name in names:
        attribute = heading[name]
        if attribute.is_codec and resolve(attribute.type)[2] is not None:
            result.append(attribute)
    return result


def collect_references(expr, attributes=None) -> list[tuple[str, str]]:
    """(store, path) pairs referenced by the rows of ``expr`` through store-backed attributes."""
    stored = store_attributes(expr.heading, attributes)
    if not stored:
        return []
    from ..storage.stores import references_of

    return references_of(expr, stored)


def remove_unreferenced(connection, references) -> None:
    from ..storage.stores import remove_if_unreferenced

    remove_if_unreferenced(connection, references)
