"""Benchmark: 1 GiB of float32 arrays through <npy@store> and <blob@store> on a local store.

References, measured in the same run on the same arrays and disk:

* ``numpy.save`` / ``numpy.load`` of each array to a file (the practical limit);
* DataJoint 2.3.5's ``<blob@store>`` on PostgreSQL (its store codecs have problems on MariaDB),
  against our ``<blob@store>`` on the same PostgreSQL server.

``run(report)`` calls ``report(name, seconds_ours, seconds_reference, note)`` once per row;
``python -m benchmarks.bench_objects`` prints the rows. Each timing is the best of a few
repetitions; dirty pages are flushed (``os.sync``, not timed) before every timed write so that
one measurement does not pay for another's write-back. Reads follow their writes, so both sides
read from the page cache.

Environment: ``DJ_BENCH_OBJECTS_MB`` (total size, default 1024), ``DJ_BENCH_ARRAY_MB`` (size of
one array, default 64), ``DJ_BENCH_REPEAT`` (default 2), ``DJ_BENCH_DATAJOINT=0`` skips
DataJoint 2.3.5 (its zlib pass over incompressible data makes it slow), ``DJ_BENCH_TMP``
(folder for the stores; default: the system temp folder).

Note on ``<blob@store>``: DataJoint's format names each object by the MD5 of its bytes, so
writing costs one MD5 pass (about 0.7 GB/s per core here), and reading verifies it by default
(the store option ``verify_hash: false`` skips the check; that row is reported too). ``<npy@>``
needs no hash.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def make_arrays(total_mb: int, array_mb: int) -> list[np.ndarray]:
    rng = np.random.default_rng(2024)
    count = max(1, total_mb // array_mb)
    n = array_mb * 1024 * 1024 // 4
    return [rng.standard_normal(n, dtype=np.float32) for _ in range(count)]


# ---------------------------------------------------------------------------------------------
# the measured operations: (name, write, read, clear) per contender
# ---------------------------------------------------------------------------------------------
def numpy_ops(arrays, folder: Path):
    def clear():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    def write():
        for i, a in enumerate(arrays):
            np.save(folder / f"a{i}.npy", a)

    def read():
        out = [np.load(folder / f"a{i}.npy") for i in range(len(arrays))]
        assert out[-1].shape == arrays[-1].shape

    return write, read, clear


@contextmanager
def ours_schema(connection_kwargs: dict, store_folder: Path):
    import dj_jupyter as dj
    from dj_jupyter.storage.stores import clear_store_cache

    store_folder.mkdir(parents=True, exist_ok=True)
    stores = {"default": "bench", "bench": {"protocol": "file", "location": str(store_folder)},
              "bench_unverified": {"protocol": "file", "location": str(store_folder), "verify_hash": False}}
    clear_store_cache()
    with dj.config.override({"stores": stores, "safemode": False}):
        connection = dj.Connection(**connection_kwargs)
        schema = dj.Schema("bench_" + uuid.uuid4().hex[:8], connection=connection)

        @schema
        class NpyArrays(dj.Manual):
            definition = """
            i : int32
            ---
            data : <npy@bench>
            """

        @schema
        class BlobArrays(dj.Manual):
            definition = """
            i : int32
            ---
            data : <blob@bench>
            """

        try:
            yield NpyArrays, BlobArrays
        finally:
            schema.drop(prompt=False, force=True)
            connection.close()
            clear_store_cache()


def ours_ops(arrays, table):
    def clear():
        table.delete()

    def write():
        table.insert({"i": i, "data": a} for i, a in enumerate(arrays))

    def read():
        values = table.to_arrays("data")
        out = [v.load() if hasattr(v, "load") else v for v in values]
        assert out[-1].shape == arrays[-1].shape

    return write, read, clear


def unverified_read(arrays, table):
    """Read the same rows with the MD5 check off (the rows name store 'bench'; its spec is switched)."""
    from dj_jupyter.storage.stores import get_store

    def read():
        store = get_store("bench")
        store.spec["verify_hash"] = False
        try:
            out = list(table.to_arrays("data"))
        finally:
            store.spec["verify_hash"] = True
        assert out[-1].shape == arrays[-1].shape

    return read


def md5_seconds(arrays, repeat: int) -> float:
    import hashlib

    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for a in arrays:
            hashlib.md5(a.data).digest()
        best = min(best, time.perf_counter() - start)
    return best


def round_robin(contenders: dict, repeat: int) -> dict:
    """Best write and read time of each contender, measured in alternation to share the disk's moods."""
    best = {name: {"write": float("inf"), "read": float("inf")} for name in contenders}
    for _ in range(repeat):
        for name, (write, read, clear) in contenders.items():
            if write is not None:
                clear()
                os.sync()
                gc.collect()
                start = time.perf_counter()
                write()
                best[name]["write"] = min(best[name]["write"], time.perf_counter() - start)
            os.sync()  # let the write-back of what was just written finish first
            gc.collect()
            start = time.perf_counter()
            read()
            best[name]["read"] = min(best[name]["read"], time.perf_counter() - start)
    return best


# ---------------------------------------------------------------------------------------------
# DataJoint 2.3.5
# ---------------------------------------------------------------------------------------------
@contextmanager
def datajoint_table(server, store_folder: Path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import datajoint as djr

    store_folder.mkdir(parents=True, exist_ok=True)
    djr.config["database.backend"] = "postgresql"
    djr.config["database.host"] = server.host
    djr.config["database.port"] = server.port
    djr.config["database.user"] = server.user
    djr.config["database.password"] = server.password
    djr.config["database.use_tls"] = False
    djr.config["safemode"] = False
    djr.config["stores"] = {"default": "bench", "bench": {"protocol": "file", "location": str(store_folder)}}
    connection = djr.conn(reset=True)
    schema = djr.Schema("djbench_" + uuid.uuid4().hex[:8], connection=connection)

    @schema
    class BlobArrays(djr.Manual):
        definition = """
        i : int32
        ---
        data : <blob@bench>
        """

    try:
        yield BlobArrays
    finally:
        schema.drop(prompt=False)
        connection.close()


def datajoint_ops(arrays, table, store_folder: Path):
    def clear():
        table.delete_quick()
        shutil.rmtree(store_folder / "_hash", ignore_errors=True)  # DataJoint leaves objects behind

    def write():
        for i, a in enumerate(arrays):
            table.insert1({"i": i, "data": a})

    def read():
        out = list(table.to_arrays("data"))
        assert out[-1].shape == arrays[-1].shape

    return write, read, clear


# ---------------------------------------------------------------------------------------------
# the runner's entry point
# ---------------------------------------------------------------------------------------------
def run(report) -> None:
    total_mb = _env_int("DJ_BENCH_OBJECTS_MB", 1024)
    array_mb = _env_int("DJ_BENCH_ARRAY_MB", 64)
    repeat = max(1, _env_int("DJ_BENCH_REPEAT", 2))
    with_datajoint = os.environ.get("DJ_BENCH_DATAJOINT", "1") not in ("0", "false", "no")
    arrays = make_arrays(total_mb, array_mb)
    volume = f"{len(arrays) * array_mb / 1024:g} GiB" if len(arrays) * array_mb >= 1024 else \
        f"{len(arrays) * array_mb} MiB"
    size = f"{len(arrays)} x {array_mb} MiB float32, best of {repeat}"
    base = Path(tempfile.mkdtemp(prefix="dj_bench_objects_", dir=os.environ.get("DJ_BENCH_TMP")))
    os.chmod(base, 0o755)
    try:
        sqlite = {"backend": "sqlite", "path": str(base / "bench.sqlite3"), "quiet": True}
        with ours_schema(sqlite, base / "store_sqlite") as (NpyArrays, BlobArrays):
            best = round_robin({
                "numpy": numpy_ops(arrays, base / "numpy"),
                "npy": ours_ops(arrays, NpyArrays),
                "blob": ours_ops(arrays, BlobArrays),
                "blob_unverified": (None, unverified_read(arrays, BlobArrays), None),
            }, repeat)
        save, load = best["numpy"]["write"], best["numpy"]["read"]
        report(f"objects: <npy@store> write {volume} (SQLite) vs numpy.save", best["npy"]["write"], save, size)
        report(f"objects: <npy@store> read {volume} (SQLite) vs numpy.load", best["npy"]["read"], load,
               "fetch lazy refs, then load() each")
        report(f"objects: <blob@store> write {volume} (SQLite) vs numpy.save", best["blob"]["write"], save,
               "includes DataJoint's MD5 content hash")
        report(f"objects: <blob@store> read {volume} (SQLite) vs numpy.load", best["blob"]["read"], load,
               "includes the MD5 check (verify_hash default)")
        report(f"objects: <blob@store> read {volume}, verify_hash=false vs numpy.load",
               best["blob_unverified"]["read"], load, "store option verify_hash: false")
        report(f"objects: MD5 of the same {volume} (the <blob@store> floor) vs numpy.save", md5_seconds(arrays, repeat),
               save, "hashlib.md5 over the arrays' memory, no I/O")
        if with_datajoint:
            _against_datajoint(arrays, base, repeat, report, volume)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _against_datajoint(arrays, base: Path, repeat: int, report, volume: str) -> None:
    try:
        from tests.tooling.servers import start_postgres

        server = start_postgres()
    except Exception as error:  # no PostgreSQL here: report why instead of failing the whole run
        report("objects: <blob@store> vs DataJoint 2.3.5 (PostgreSQL)", float("nan"), float("nan"),
               f"skipped: {error}".splitlines()[0])
        return
    try:
        connection = {"backend": "postgresql", "host": server.host, "port": server.port, "user": server.user,
                      "password": server.password}
        with ours_schema(connection, base / "store_pg") as (_NpyArrays, BlobArrays), \
                datajoint_table(server, base / "store_dj") as TheirBlobArrays:
            best = round_robin({"ours": ours_ops(arrays, BlobArrays),
                                "datajoint": datajoint_ops(arrays, TheirBlobArrays, base / "store_dj")}, repeat)
        report(f"objects: <blob@store> write {volume} vs DataJoint 2.3.5 (PostgreSQL)", best["ours"]["write"],
               best["datajoint"]["write"], "same server; DataJoint zlib-compresses first")
        report(f"objects: <blob@store> read {volume} vs DataJoint 2.3.5 (PostgreSQL)", best["ours"]["read"],
               best["datajoint"]["read"], "both verify the MD5")
    finally:
        server.stop()


def main() -> None:
    rows = []

    def report(name, ours, reference, note=""):
        rows.append((name, ours, reference, note))
        ratio = ours / reference if reference and reference == reference and ours == ours else float("nan")
        print(f"{name:<72} ours {ours:8.2f} s   reference {reference:8.2f} s   ratio {ratio:6.2f}x   {note}",
              flush=True)

    run(report)


if __name__ == "__main__":
    main()
