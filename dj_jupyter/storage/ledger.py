"""Keep the object store consistent with database transactions.

Objects are written before the row that references them commits. Each write is
recorded on the open transaction: if it rolls back, the object is removed. Objects
released by a delete or an update are removed only after the commit, and only if
no committed row still references them.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("dj_jupyter")


class ObjectLedger:
    def __init__(self, connection):
        self.connection = connection

    def record_write(self, store, path: str) -> None:
        """Remove ``path`` from ``store`` if the current transaction does not commit."""
        self.connection.on_rollback(lambda: _remove_quietly(store, path))

    def referenced_paths(self, expr, attributes) -> list:
        """(store name, path) of objects the rows of ``expr`` reference through ``attributes``."""
        from .references import collect_references

        return collect_references(expr, attributes)

    def release_after_commit(self, references) -> None:
        """After commit, remove the objects in ``references`` that no row references any more."""
        if not references:
            return
        from .references import remove_unreferenced

        connection = self.connection
        self.connection.on_commit(lambda: remove_unreferenced(connection, references))


def _remove_quietly(store, path: str) -> None:
    try:
        store.remove(path)
    except Exception as error:  # the orphan is found later by dj.gc
        logger.warning("Could not remove %s from store %s after a rollback: %s", path, store.name, error)
