"""populate() shares a transaction among a run of keys, one savepoint per key.

These tests make sure the sharing is invisible, direct and with reserved jobs: a key that
fails takes back exactly its own rows and stored objects, the keys before it stay made, and
a transaction that fails as a whole is made again one key at a time.
"""

from __future__ import annotations

import numpy as np
import pytest

import dj_jupyter as dj
from dj_jupyter.errors import TransactionConflictError
from dj_jupyter.jobs.populate import BATCH_KEYS
from tests.conftest import SERVER_BACKENDS, make_connection


def declare(schema, fail_ids: set, conflict_once: set | None = None):
    calls = []

    @schema
    class Source(dj.Manual):
        definition = """
        source_id : int32
        """

    @schema
    class Result(dj.Computed):
        definition = """
        -> Source
        ---
        trace : <npy@>
        summary : <blob@>
        """

        class Piece(dj.Part):
            definition = """
            -> master
            piece : int16
            ---
            payload : <blob@>
            """

        def make(self, key):
            calls.append(key["source_id"])
            n = key["source_id"]
            self.insert1(dict(key, trace=np.arange(n + 1, dtype=np.float32), summary={"id": n, "kind": "summary"}))
            self.Piece.insert([dict(key, piece=p, payload=np.full(4, n * 10 + p)) for p in range(2)])
            if n in fail_ids:  # after its rows and objects were written
                raise ValueError(f"source {n} fails after inserting")
            if conflict_once is not None and n in conflict_once:
                conflict_once.discard(n)  # the database chose this transaction as a deadlock victim, once
                raise TransactionConflictError("deadlock detected (this transaction was rolled back)")

    return Source, Result, calls


def declare_doubling(schema):
    """A pipeline without stored objects: each source id doubled."""

    @schema
    class Source(dj.Manual):
        definition = """
        source_id : int32
        """

    @schema
    class Doubled(dj.Computed):
        definition = """
        -> Source
        ---
        doubled : int32
        """

        def make(self, key):
            self.insert1(dict(key, doubled=2 * key["source_id"]))

    return Source, Doubled


def store_is_exactly_the_rows(object_store, Result):
    """Every row's objects decode, and deleting every row leaves the store empty: nothing was orphaned."""
    for row in Result.to_dicts():
        np.testing.assert_array_equal(row["trace"].load(), np.arange(row["source_id"] + 1, dtype=np.float32))
        assert row["summary"] == {"id": row["source_id"], "kind": "summary"}
    Result.delete()
    return object_store.files()


@pytest.fixture(params=[False, True], ids=["direct", "reserve_jobs"])
def reserve_jobs(request) -> bool:
    return request.param


def test_a_failing_key_takes_back_only_its_own_rows_and_objects(make_schema, object_store, reserve_jobs):
    keys = 2 * BATCH_KEYS + 20  # several shared transactions
    fail_ids = {n for n in range(keys) if n % 9 == 4}
    Source, Result, calls = declare(make_schema(), fail_ids)
    Source.insert([(n,) for n in range(keys)])

    result = Result.populate(suppress_errors=True, reserve_jobs=reserve_jobs)

    assert result["success_count"] == keys - len(fail_ids)
    assert sorted(key["source_id"] for key, _ in result["error_list"]) == sorted(fail_ids)
    assert all("fails after inserting" in message for _, message in result["error_list"])
    made = set(Result.to_arrays("source_id").tolist())
    assert made == set(range(keys)) - fail_ids
    assert len(Result.Piece) == 2 * len(made)
    assert not (Result.Piece & [{"source_id": n} for n in fail_ids])
    assert sorted(calls) == list(range(keys))  # every key made once
    assert Result.progress() == (len(fail_ids), keys)
    records = Result.jobs.completed.to_dicts()
    assert {r["source_id"] for r in records} == made  # one job record per made key
    assert all(r["duration"] is not None and r["reserved_time"] is not None for r in records)
    errors = Result.jobs.errors.to_dicts()
    if reserve_jobs:  # reserved failures are recorded with their stack, and nothing stays reserved
        assert {e["source_id"] for e in errors} == fail_ids
        assert all("fails after inserting" in e["error_message"] and "ValueError" in e["error_stack"]
                   for e in errors)
        assert len(Result.jobs.reserved) == 0
    else:
        assert errors == []
    assert store_is_exactly_the_rows(object_store, Result) == set()


def test_without_suppress_errors_the_keys_before_the_failure_stay_made(make_schema, object_store, reserve_jobs):
    Source, Result, calls = declare(make_schema(), fail_ids={17})
    Source.insert([(n,) for n in range(30)])

    with pytest.raises(ValueError, match="source 17 fails"):
        Result.populate(reserve_jobs=reserve_jobs)

    if reserve_jobs:  # the failure is recorded; the keys reserved ahead of it went back to pending
        assert [e["source_id"] for e in Result.jobs.errors.to_dicts()] == [17]
        assert len(Result.jobs.reserved) == 0
        assert len(Result.jobs.pending) == 30 - len(calls)

    assert calls[-1] == 17
    assert set(Result.to_arrays("source_id").tolist()) == set(calls[:-1])
    assert len(Result.Piece) == 2 * (len(calls) - 1)
    assert store_is_exactly_the_rows(object_store, Result) == set()


def test_a_transaction_that_fails_as_a_whole_is_made_again_key_by_key(make_schema, object_store, reserve_jobs):
    conflict_once = {3}
    Source, Result, calls = declare(make_schema(), fail_ids=set(), conflict_once=conflict_once)
    Source.insert([(n,) for n in range(12)])
    result = Result.populate(reserve_jobs=reserve_jobs)

    assert result == {"success_count": 12, "error_list": []}
    assert sorted(Result.to_arrays("source_id").tolist()) == list(range(12))
    # the keys of the aborted transaction up to the victim were made twice; nothing was committed twice
    twice = sorted(key for key in set(calls) if calls.count(key) == 2)
    assert set(calls) == set(range(12)) and max(calls.count(key) for key in calls) == 2
    assert twice == list(range(twice[0], 4))
    assert len(Result.Piece) == 24
    assert len(Result.jobs.completed) == 12
    assert store_is_exactly_the_rows(object_store, Result) == set()


def test_job_records_of_a_batch_tell_who_made_each_key_and_when(make_schema, reserve_jobs):
    import os
    import platform

    Source, Doubled = declare_doubling(make_schema())
    Source.insert([(n,) for n in range(2 * BATCH_KEYS + 7)])
    if reserve_jobs:  # the reserved jobs keep the priority they were queued with
        Doubled.jobs.refresh(priority=2)
    Doubled.populate(reserve_jobs=reserve_jobs)

    records = Doubled.jobs.completed.to_dicts()
    assert sorted(r["source_id"] for r in records) == list(range(2 * BATCH_KEYS + 7))
    for record in records:
        assert (record["host"], record["pid"], record["error_message"]) == (platform.node(), os.getpid(), "")
        assert record["reserved_time"] <= record["completed_time"] and record["duration"] >= 0
        assert record["priority"] == (2 if reserve_jobs else dj.config["jobs.default_priority"])
        assert record["version"]


def test_without_keep_completed_a_batch_leaves_only_its_errors_in_the_job_table(make_schema, object_store,
                                                                                reserve_jobs):
    Source, Result, calls = declare(make_schema(), fail_ids={4})
    Source.insert([(n,) for n in range(BATCH_KEYS + 5)])
    with dj.config.override({"jobs.keep_completed": False}):
        result = Result.populate(reserve_jobs=reserve_jobs, suppress_errors=True)

    assert result["success_count"] == BATCH_KEYS + 4
    assert len(Result.jobs.completed) == 0
    if reserve_jobs:  # DataJoint's default: a success removes its job, an error stays
        assert [e["source_id"] for e in Result.jobs.errors.to_dicts()] == [4]
        assert len(Result.jobs) == 1
    else:  # direct populate writes no job rows at all
        assert len(Result.jobs) == 0


@pytest.mark.parametrize("backend", SERVER_BACKENDS)
def test_a_reservation_batch_that_meets_a_lock_gives_back_what_it_took(make_schema, connection, backend):
    """Reserving several keys is one round trip; if one of them is locked by another transaction, the
    keys before it (already reserved on MariaDB) go back to pending instead of staying reserved."""
    Source, Result = declare_doubling(make_schema())
    Source.insert([(n,) for n in range(4)])
    jobs = Result.jobs
    jobs.refresh()
    other = make_connection(backend)
    quote, placeholder = connection.backend.quote, connection.backend.placeholder
    timeout = "SET innodb_lock_wait_timeout = 1" if backend == "mysql" else "SET lock_timeout = '1s'"
    connection.query(timeout)
    try:
        with other.transaction:  # another worker's transaction holds the job row of key 2
            other.query(f"UPDATE {jobs.full_table_name} SET {quote('priority')} = 9 "
                        f"WHERE {quote('source_id')} = {placeholder}", (2,))
            with pytest.raises(TransactionConflictError):
                jobs.reserve_many([{"source_id": n} for n in range(4)])
            assert len(jobs.reserved) == 0, "a key reserved before the lock was left reserved"
    finally:
        other.close()
    assert sorted(jobs.pending.to_arrays("source_id").tolist()) == [0, 1, 2, 3]
    assert Result.populate(reserve_jobs=True)["success_count"] == 4
