"""A three-level pipeline with objects in a store, for the reliability tests' worker processes.

Configured from the environment like a worker on a cluster node: ``DJ_*`` for the
database, ``DJ_STORES`` (JSON) for the object store, ``SOAK_SCHEMA`` for the schema.

    Subject (manual) -> Session (manual)
        -> Trace    (computed, <blob@>, hash-addressed; every 5th session shares its content)
        -> Spectrum (computed, <npy@>, with a part table Band)
        -> Summary  (computed, <object@>, three-part make)

Every make records its key in ``SOAK_LOG`` *after its transaction commits* (an
``on_commit`` callback), so the log counts committed computations exactly.
``SOAK_HOLD`` = ``Table:phase:subject_id:session`` makes that key's make write
``SOAK_MARKER`` (its pid) and sleep ``SOAK_HOLD_SECONDS`` at ``phase`` (``make``:
after the rows and objects are written, before the commit; ``compute``: in
make_compute; ``insert``: in make_insert after insert1), so a test can kill it or
restart the server there. ``SOAK_SLOW`` seconds of sleep per make (default 0)
stretch a populate so a server can be restarted in its middle.
"""

from __future__ import annotations

import os
import time

import numpy as np

import dj_jupyter as dj

schema = dj.Schema(os.environ["SOAK_SCHEMA"])


def _log(table: str, key: dict) -> None:
    path = os.environ.get("SOAK_LOG")
    if not path:
        return
    line = f"{table} {key['subject_id']} {key['session']} {os.getpid()}\n".encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def _after_commit(table, key: dict) -> None:
    key = dict(key)
    table.connection.on_commit(lambda: _log(type(table).__name__, key))


def _hold(table_name: str, phase: str, key: dict) -> None:
    hold = os.environ.get("SOAK_HOLD")
    slow = float(os.environ.get("SOAK_SLOW", "0") or 0)
    if slow and phase in ("make", "insert"):
        time.sleep(slow)
    if not hold:
        return
    name, wanted, subject, session = hold.split(":")
    if (name, wanted, int(subject), int(session)) != (table_name, phase, key["subject_id"], key["session"]):
        return
    with open(os.environ["SOAK_MARKER"], "w") as marker:
        marker.write(str(os.getpid()))
    time.sleep(float(os.environ.get("SOAK_HOLD_SECONDS", "120")))


def trace_of(key: dict) -> np.ndarray:
    """The computed trace: content shared by every 5th session (deduplicated in the store)."""
    if key["session"] % 5 == 0:
        return np.arange(64, dtype=np.float64)
    rng = np.random.default_rng(key["subject_id"] * 1000 + key["session"])
    return rng.normal(size=64)


@schema
class Subject(dj.Manual):
    definition = """
    subject_id : int32
    ---
    weight : float64
    """


@schema
class Session(dj.Manual):
    definition = """
    -> Subject
    session : int16
    ---
    gain : float64
    """


@schema
class Trace(dj.Computed):
    definition = """
    -> Session
    ---
    trace : <blob@>
    n : int32
    """

    def make(self, key):
        gain = (Session & key).fetch1("gain")
        trace = trace_of(key) * (1.0 if key["session"] % 5 == 0 else gain)
        self.insert1(dict(key, trace=trace, n=len(trace)))
        _after_commit(self, key)
        _hold("Trace", "make", key)


@schema
class Spectrum(dj.Computed):
    definition = """
    -> Trace
    ---
    spectrum : <npy@>
    peak : float64
    """

    class Band(dj.Part):
        definition = """
        -> master
        band : int8
        ---
        power : float64
        """

    def make(self, key):
        trace = (Trace & key).fetch1("trace")
        spectrum = np.abs(np.fft.rfft(trace))
        self.insert1(dict(key, spectrum=spectrum, peak=float(spectrum.max())))
        self.Band.insert([dict(key, band=b, power=float(part.sum()))
                          for b, part in enumerate(np.array_split(spectrum, 3))])
        _after_commit(self, key)
        _hold("Spectrum", "make", key)


@schema
class Summary(dj.Computed):
    definition = """
    -> Spectrum
    ---
    report : <object@>
    total : float64
    """

    def make_fetch(self, key):
        return (Spectrum & key).fetch1("peak"), sorted((Spectrum.Band & key).to_arrays("power").tolist())

    def make_compute(self, key, peak, powers):
        _hold("Summary", "compute", key)
        total = float(sum(powers))
        return total, f"subject {key['subject_id']} session {key['session']} peak {peak:.6f} total {total:.6f}"

    def make_insert(self, key, total, text):
        self.insert1(dict(key, total=total, report=(".txt", text.encode())))
        _after_commit(self, key)
        _hold("Summary", "insert", key)


TABLES = (Trace, Spectrum, Summary)
