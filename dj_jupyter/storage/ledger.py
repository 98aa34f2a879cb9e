"""Keep the object store consistent with database transactions.

Objects are written before the row that references them commits. Each write is
recorded on the open transaction: if it rolls back, the object is removed (a
hash-addressed object only if no committed row references it, since equal
content is shared). Objects released by a delete or an update are removed only
after the commit, and only if no committed row still references them.

A hash-addressed object that this transaction found already stored (or wrote)
may be removed by a concurrent delete or ``dj.gc`` between that check and our
commit. After the commit the ledger therefore checks that each of them still
exists and writes it again from the bytes it kept (up to
``REPAIR_BUFFER_LIMIT`` bytes per transaction), so a committed row never points
at a missing object.
"""

from __future__ import annotations

import logging
import weakref
from contextlib import contextmanager

logger = logging.getLogger("dj_jupyter")

REPAIR_BUFFER_LIMIT = 512 * 1024 * 1024
BATCH_OBJECT_LIMIT = 4 * 1024 * 1024  # objects up to this size are queued and written concurrently
BATCH_BYTES_LIMIT = 256 * 1024 * 1024  # ... until this much is queued

_pending_releases: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class ObjectLedger:
    def __init__(self, connection):
        self.connection = connection
        self._kept_bytes = 0
        self._written: list = []
        self._ensure: list = []
        self._batching = False
        self._queued: dict = {}  # id(store) -> (store, {path: bytes})
        self._queued_bytes = 0
        self._pool = None  # one background writer: a large object is written while the next row is encoded
        self._futures: list = []

    # ---- writing ------------------------------------------------------------------------------
    @contextmanager
    def batched(self):
        """Within the block, small objects for stores with concurrent I/O (S3, GCS, ...) are queued and
        written together, concurrently, when the block ends (before the caller commits)."""
        self._batching = True
        try:
            yield self
            self.flush()
        finally:
            self._batching = False
            self._queued.clear()
            self._queued_bytes = 0
            if self._pool is not None:  # on failure: wait for a write in progress, so a rollback removes it
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            self._futures = []

    def queues(self, store, size: int) -> bool:
        """Whether a write of ``size`` bytes to ``store`` would be queued (and written concurrently)."""
        return self._batching and size <= BATCH_OBJECT_LIMIT and store.writes_concurrently

    def write(self, store, path: str, data, *, shared: bool = False) -> int:
        """Write an object for the open transaction (recorded first, so a rollback removes it)."""
        self.record_write(store, path, shared=shared)
        self._check_background()
        size = _size(data)
        if self._batching and size > BATCH_OBJECT_LIMIT:
            self._write_behind(store, path, data)
            return size
        if self.queues(store, size):
            parts = data if isinstance(data, (list, tuple)) else (data,)
            self._queued.setdefault(id(store), (store, {}))[1][path] = b"".join(
                p if isinstance(p, bytes) else memoryview(p).cast("B") for p in parts)
            self._queued_bytes += size
            if self._queued_bytes >= BATCH_BYTES_LIMIT:
                self.flush()
            return size
        return store.write_bytes(path, data)

    def _write_behind(self, store, path: str, data) -> None:
        from concurrent.futures import ThreadPoolExecutor

        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dj-store-writer")
        self._futures.append(self._pool.submit(store.write_bytes, path, data))
        while sum(not f.done() for f in self._futures) > 2:  # bound the memory held by pending writes
            next(f for f in self._futures if not f.done()).exception()
        self._check_background()

    def _check_background(self, wait: bool = False) -> None:
        """Raise the first error of a background write (waiting for all of them if ``wait``)."""
        remaining = []
        for future in self._futures:
            if wait or future.done():
                error = future.exception()
                if error is not None:
                    raise error
            else:
                remaining.append(future)
        self._futures = remaining

    def flush(self) -> None:
        """Finish the background writes and write the queued objects."""
        self._check_background(wait=True)
        queued, self._queued, self._queued_bytes = self._queued, {}, 0
        for store, objects in queued.values():
            store.write_many(objects)

    def record_write(self, store, path: str, *, shared: bool = False) -> None:
        """Remove ``path`` from ``store`` if the current transaction does not commit.

        ``shared`` objects (hash-addressed) are removed only when no committed row
        references them.
        """
        self._written.append((store, path))
        if shared:
            connection = self.connection
            self.connection.on_rollback(lambda: _remove_unreferenced_quietly(connection, [(store.name, path)]))
        else:
            self.connection.on_rollback(lambda: _remove_quietly(store, path))

    def ensure_after_commit(self, store, path: str, data=None) -> None:
        """After commit, make sure the shared object at ``path`` exists (rewrite it from ``data`` if not)."""
        if data is not None:
            size = _nbytes(data)
            if self._kept_bytes + size > REPAIR_BUFFER_LIMIT:
                data = None
            else:
                self._kept_bytes += size
        if not self._ensure:
            entries = self._ensure
            self.connection.on_commit(lambda: _ensure_all(entries))
        self._ensure.append((store, path, data))

    def written(self) -> list:
        """(store, path) of the objects this ledger recorded."""
        return list(self._written)

    def referenced_paths(self, expr, attributes) -> list:
        """(store name, path) of objects the rows of ``expr`` reference through ``attributes``."""
        from .references import collect_references

        return collect_references(expr, attributes)

    def release_after_commit(self, references) -> None:
        """After commit, remove the objects in ``references`` that no row references any more.

        All releases of one transaction (every table of a cascading delete) are checked
        together, with one scan of the references, after the commit.
        """
        if not references:
            return
        from .references import remove_unreferenced

        connection = self.connection
        if not connection.in_transaction:
            remove_unreferenced(connection, list(references))
            return
        pending = _pending_releases.get(connection)
        if pending is None:
            pending = _pending_releases[connection] = []

            def flush():
                items = _pending_releases.pop(connection, [])
                if items:
                    remove_unreferenced(connection, items)

            connection.on_commit(flush)
            connection.on_rollback(lambda: _pending_releases.pop(connection, None))
        pending.extend(references)

    def release_unreferenced_writes_after_commit(self) -> None:
        """After commit, remove objects this ledger wrote that no row ended up referencing
        (rows skipped as duplicates, for example)."""
        if self._written:
            self.release_after_commit([(store.name, path) for store, path in self._written])


def _size(data) -> int:
    if isinstance(data, (list, tuple)):
        return sum(_size(part) for part in data)
    return len(data) if isinstance(data, bytes) else memoryview(data).nbytes


def _nbytes(data) -> int:
    """Memory that keeping ``data`` costs: copies (bytes) count, views of the caller's arrays do not."""
    if isinstance(data, (list, tuple)):
        return sum(_nbytes(part) for part in data)
    return len(data) if isinstance(data, (bytes, bytearray)) else 0


def _remove_quietly(store, path: str) -> None:
    try:
        store.remove(path)
    except Exception as error:  # the orphan is found later by dj.gc
        logger.warning("Could not remove %s from store %s after a rollback: %s", path, store.name, error)


def _remove_unreferenced_quietly(connection, references) -> None:
    from .stores import remove_if_unreferenced

    try:
        remove_if_unreferenced(connection, references)
    except Exception as error:
        logger.warning("Could not remove objects after a rollback (dj.gc removes them later): %s", error)


def _ensure_all(entries) -> None:
    by_store: dict = {}
    for store, path, data in entries:
        wanted = by_store.setdefault(id(store), (store, {}))[1]
        if wanted.get(path) is None:
            wanted[path] = data
    for store, wanted in by_store.values():
        try:
            present = store.exists_many(list(wanted))
        except Exception as error:
            logger.warning("Could not check objects in store %s after commit: %s", store.name, error)
            continue
        for path, found in zip(wanted, present):
            if not found:
                _restore(store, path, wanted[path])


def _restore(store, path: str, data) -> None:
    if data is None:
        logger.error("Object %s of a committed row vanished from store %s (removed concurrently) and its "
                     "bytes are no longer at hand; insert the row again to restore it.", path, store.name)
        return
    import base64
    import hashlib

    from .paths import HASH_PATTERN

    name = path.rsplit("/", 1)[-1]
    if HASH_PATTERN.match(name):  # the caller may have changed its array since: never store other content
        md5 = hashlib.md5()
        for part in data if isinstance(data, (list, tuple)) else (data,):
            md5.update(part)
        if base64.b32encode(md5.digest()).decode("ascii").rstrip("=").lower() != name:
            logger.error("Object %s of a committed row vanished from store %s and the data at hand has changed "
                         "since; insert the row again to restore it.", path, store.name)
            return
    try:
        store.write_bytes(path, data)
        logger.warning("Restored %s in store %s: a concurrent delete or gc removed it before our commit.",
                       path, store.name)
    except Exception as error:
        logger.error("Could not restore %s in store %s: %s", path, store.name, error)
