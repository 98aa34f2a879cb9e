"""Object stores for tests: a local folder or a bucket on a moto S3 server, plus fsspec instrumentation.

The ``object_store`` fixture (tests/conftest.py) yields a :class:`StoreEnv` with
``dj.config['stores']`` set to ``{"default": "main", "main": {...}}`` for the test.
``DJ_TEST_STORES`` (comma-separated: ``local``, ``s3``) limits the kinds.

:class:`InstrumentedFS` wraps a store's fsspec filesystem to count payload reads
and writes and to fail the Nth write (fault injection); ``env.instrument()`` puts
it in place.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

ALL_STORE_KINDS = ("local", "s3")
STORE_KINDS = tuple(k.strip() for k in os.environ.get("DJ_TEST_STORES", ",".join(ALL_STORE_KINDS)).split(",")
                    if k.strip())

_BUCKET = "djtest"
_bucket_ready: set[str] = set()


class InjectedFault(OSError):
    """Raised by :class:`InstrumentedFS` on the write it was told to fail."""


class InstrumentedFS:
    """Proxy of an fsspec filesystem that counts payload I/O and can fail the Nth write."""

    _READ_METHODS = ("cat_file", "cat", "cat_ranges", "get_file", "get", "read_bytes", "read_block", "read_text")
    _WRITE_METHODS = ("pipe_file", "pipe", "put_file", "put", "write_bytes", "write_text", "copy", "cp_file")

    def __init__(self, fs, fail_on_write: int | None = None):
        object.__setattr__(self, "_fs", fs)
        object.__setattr__(self, "reads", 0)
        object.__setattr__(self, "writes", 0)
        object.__setattr__(self, "read_paths", [])
        object.__setattr__(self, "write_paths", [])
        object.__setattr__(self, "fail_on_write", fail_on_write)

    def _count_write(self, path):
        object.__setattr__(self, "writes", self.writes + 1)
        self.write_paths.append(str(path))
        if self.fail_on_write is not None and self.writes == self.fail_on_write:
            raise InjectedFault(f"injected failure on write #{self.writes} ({path})")

    def _count_read(self, path):
        object.__setattr__(self, "reads", self.reads + 1)
        self.read_paths.append(str(path))

    def open(self, path, mode="rb", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            self._count_write(path)
        else:
            self._count_read(path)
        return self._fs.open(path, mode, *args, **kwargs)

    def pipe(self, path, value=None, **kwargs):
        """Batched writes (``{path: bytes}``) are counted, and may fail, one object at a time."""
        items = path if isinstance(path, dict) else {path: value}
        for target, data in items.items():
            self._count_write(target)
            self._fs.pipe_file(target, data, **kwargs)

    def __getattr__(self, name):
        attribute = getattr(self._fs, name)
        if name in self._READ_METHODS:
            def read(path, *args, **kwargs):
                self._count_read(path)
                return attribute(path, *args, **kwargs)
            return read
        if name in self._WRITE_METHODS:
            def write(path, *args, **kwargs):
                self._count_write(path)
                return attribute(path, *args, **kwargs)
            return write
        return attribute

    def __setattr__(self, name, value):
        if name in ("fail_on_write",):
            object.__setattr__(self, name, value)
        else:
            setattr(self._fs, name, value)


class StoreEnv:
    """One configured store for a test: its spec, a direct view of its files, instrumentation."""

    name = "main"

    def __init__(self, kind: str, spec: dict, root: str, raw_fs):
        self.kind = kind
        self.spec = spec
        self.root = root.rstrip("/")
        self.raw_fs = raw_fs  # an fsspec filesystem of our own, not the library's

    @property
    def stores_config(self) -> dict:
        return {"default": self.name, self.name: dict(self.spec)}

    def store(self):
        from dj_jupyter.storage.stores import get_store

        return get_store(self.name)

    def files(self, prefix: str = "") -> set[str]:
        """Relative paths of every file in the store (read directly, bypassing the library)."""
        self.raw_fs.invalidate_cache()
        base = self.root + ("/" + prefix.strip("/") if prefix else "")
        try:
            found = self.raw_fs.find(base, withdirs=False)
        except FileNotFoundError:
            return set()
        result = set()
        for path in found:
            path = self.raw_fs._strip_protocol(path)
            result.add(path[len(self.root) + 1:])
        return {p for p in result if not p.startswith(".dj_gc/")}

    def exists(self, path: str) -> bool:
        self.raw_fs.invalidate_cache()
        return self.raw_fs.exists(f"{self.root}/{path}")

    def write(self, path: str, data: bytes) -> None:
        self.raw_fs.pipe_file(f"{self.root}/{path}", data)

    def instrument(self, fail_on_write: int | None = None) -> InstrumentedFS:
        """Wrap the library's filesystem of this store; returns the wrapper (with its counters)."""
        store = self.store()
        base = store.fs._fs if isinstance(store.fs, InstrumentedFS) else store.fs
        wrapper = InstrumentedFS(base, fail_on_write)
        store.fs = wrapper
        return wrapper

    def uninstrument(self) -> None:
        store = self.store()
        if isinstance(store.fs, InstrumentedFS):
            store.fs = store.fs._fs


def _s3_env(s3_server, tmp_path: Path) -> StoreEnv:
    import s3fs

    server = s3_server()
    raw = s3fs.S3FileSystem(key=server.access_key, secret=server.secret_key,
                            client_kwargs={"endpoint_url": server.endpoint_url}, skip_instance_cache=True,
                            use_listings_cache=False)
    if server.endpoint_url not in _bucket_ready:
        if not raw.exists(_BUCKET):
            raw.mkdir(_BUCKET)
        _bucket_ready.add(server.endpoint_url)
    location = "t" + uuid.uuid4().hex[:12] + "/objects"
    spec = {"protocol": "s3", "endpoint": server.endpoint_url, "bucket": _BUCKET, "location": location,
            "access_key": server.access_key, "secret_key": server.secret_key, "secure": False}
    return StoreEnv("s3", spec, f"{_BUCKET}/{location}", raw)


def _local_env(tmp_path: Path) -> StoreEnv:
    import fsspec

    location = tmp_path / "store"
    location.mkdir()
    spec = {"protocol": "file", "location": str(location)}
    return StoreEnv("local", spec, str(location.resolve()), fsspec.filesystem("file", auto_mkdir=True, skip_instance_cache=True))


@contextmanager
def store_env(kind: str, tmp_path: Path, s3_server, **spec_extra):
    """Configure ``dj.config['stores']`` with a fresh store of ``kind`` for the duration of the block."""
    import dj_jupyter as dj
    from dj_jupyter.storage.stores import clear_store_cache

    env = _s3_env(s3_server, tmp_path) if kind == "s3" else _local_env(tmp_path)
    env.spec.update(spec_extra)
    clear_store_cache()
    with dj.config.override({"stores": env.stores_config, "download_path": str(tmp_path / "downloads")}):
        try:
            yield env
        finally:
            clear_store_cache()
