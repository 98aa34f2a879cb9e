"""make(), populate(), job tables and worker processes, on every engine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import dj_jupyter as dj
from dj_jupyter.errors import DataJointError
from dj_jupyter.jobs import events
from tests.conftest import ROOT, connection_settings


def declare_pipeline(schema):
    calls = []

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
        gain = 1.0 : float64
        """

    @schema
    class Analysis(dj.Computed):
        definition = """
        -> Session
        ---
        scaled : float64
        """

        class Sample(dj.Part):
            definition = """
            -> master
            sample : int16
            ---
            value : float64
            """

        def make(self, key, factor=1.0):
            calls.append(dict(key))
            weight = self.upstream[Subject].fetch1("weight")
            gain = self.upstream[Session].fetch1("gain")
            if weight < 0:
                raise ValueError(f"negative weight {weight}")
            self.insert1(dict(key, scaled=weight * gain * factor))
            self.Sample.insert([dict(key, sample=i, value=i * weight) for i in range(3)])

    return Subject, Session, Analysis, calls


@pytest.fixture
def pipeline(make_schema):
    schema = make_schema()
    Subject, Session, Analysis, calls = declare_pipeline(schema)
    Subject.insert([(1, 10.0), (2, 20.0), (3, -1.0)])
    Session.insert([(s, n, 1.0) for s in (1, 2, 3) for n in (1, 2)])
    return schema, Subject, Session, Analysis, calls


def test_key_source_and_progress(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    assert sorted(k["subject_id"] for k in Analysis.key_source.keys()) == [1, 1, 2, 2, 3, 3]
    assert Analysis.progress() == (6, 6)
    Analysis.populate({"subject_id": 1})
    assert Analysis.progress() == (4, 6)
    assert Analysis.progress({"subject_id": 1}) == (0, 2)


def test_populate_commits_master_and_parts_together(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    result = Analysis.populate(suppress_errors=True)
    assert result["success_count"] == 4
    failed = sorted((key["subject_id"], key["session"]) for key, _ in result["error_list"])
    assert failed == [(3, 1), (3, 2)]
    assert all("negative weight" in message for _, message in result["error_list"])
    assert len(Analysis) == 4 and len(Analysis.Sample) == 12
    assert not (Analysis.Sample & {"subject_id": 3})  # a failed key leaves no part rows behind
    assert (Analysis & {"subject_id": 2, "session": 1}).fetch1("scaled") == 20.0


def test_errors_raise_without_suppress(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    with pytest.raises(ValueError, match="negative weight"):
        Analysis.populate({"subject_id": 3})
    assert len(Analysis) == 0


def test_restricted_populate_and_max_calls(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    assert Analysis.populate("subject_id = 2")["success_count"] == 2
    assert {k["subject_id"] for k in Analysis.keys()} == {2}
    assert Analysis.populate({"subject_id": 1}, max_calls=1)["success_count"] == 1
    assert len(Analysis) == 3
    with pytest.raises(DataJointError, match="restricted"):
        (Analysis & {"subject_id": 1}).populate()


def test_reserved_errors_are_recorded_and_skipped(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    result = Analysis.populate(reserve_jobs=True, suppress_errors=True)
    assert result["success_count"] == 4 and len(result["error_list"]) == 2
    errors = Analysis.jobs.errors.to_dicts()
    assert len(errors) == 2
    assert all("negative weight" in e["error_message"] for e in errors)
    assert all("ValueError" in e["error_stack"] and "make" in e["error_stack"] for e in errors)
    calls.clear()
    again = Analysis.populate(reserve_jobs=True, suppress_errors=True)
    assert again == {"success_count": 0, "error_list": []}
    assert calls == []  # the failed keys are not retried until their error records are cleared
    (Analysis.jobs & {"subject_id": 3, "session": 1}).delete()
    Subject.update1({"subject_id": 3, "weight": 30.0})
    assert Analysis.populate(reserve_jobs=True)["success_count"] == 1


def test_success_records_trace_each_row(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    Analysis.populate({"subject_id": 1})
    records = Analysis.jobs.completed.to_dicts()
    assert len(records) == 2
    for record in records:
        assert record["host"] and record["pid"] == os.getpid()
        assert record["version"]  # git commit or a hash of the make source
        assert record["duration"] is not None and record["duration"] >= 0
        assert record["reserved_time"] is not None


def test_ignore(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    Analysis.jobs.ignore({"subject_id": 1, "session": 1})
    Analysis.populate(reserve_jobs=True, suppress_errors=True)
    assert {"subject_id": 1, "session": 1} not in Analysis
    assert len(Analysis.jobs.ignored) == 1


def test_make_kwargs(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    Analysis.populate({"subject_id": 2}, make_kwargs={"factor": 3.0})
    assert sorted(Analysis.to_arrays("scaled").tolist()) == [60.0, 60.0]


def test_three_part_make_and_stale_upstream(make_schema):
    schema = make_schema()
    log = []

    @schema
    class Source(dj.Manual):
        definition = """
        source_id : int32
        ---
        level : float64
        """

    @schema
    class Derived(dj.Computed):
        definition = """
        -> Source
        ---
        result : float64
        """
        tamper = False

        def make_fetch(self, key, offset=0.0):
            log.append("fetch")
            return ((Source & key).fetch1("level") + offset,)

        def make_compute(self, key, level):
            log.append(("compute", type(self).__name__, self.connection.in_transaction))
            if Derived.tamper:
                # another session changes the upstream row while we compute
                Source.update1({**key, "level": level + 100})
            return (level * 2,)

        def make_insert(self, key, result):
            log.append(("insert", self.connection.in_transaction))
            self.insert1(dict(key, result=result))

    Source.insert([(1, 1.5), (2, 2.5)])
    assert Derived.populate({"source_id": 1}, make_kwargs={"offset": 1.0})["success_count"] == 1
    assert (Derived & {"source_id": 1}).fetch1("result") == 5.0
    assert ("compute", "Derived", False) in log  # computation runs outside any transaction
    assert ("insert", True) in log
    Derived.tamper = True
    result = Derived.populate(reserve_jobs=True, suppress_errors=True)
    assert result["success_count"] == 0 and len(result["error_list"]) == 1
    assert "changed" in result["error_list"][0][1]
    assert not (Derived & {"source_id": 2})
    assert "changed" in Derived.jobs.errors.fetch1("error_message")


def test_events_follow_populate(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    seen = []
    unsubscribe = events.subscribe(lambda event: seen.append((event.kind, event.key)))
    try:
        Analysis.populate(reserve_jobs=True, suppress_errors=True)
    finally:
        unsubscribe()
    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "start" and kinds[-1] == "finish"
    assert kinds.count("reserve") == 6 and kinds.count("success") == 4 and kinds.count("error") == 2


def test_schema_progress(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    Analysis.populate(reserve_jobs=True, suppress_errors=True)
    progress = schema.progress()
    assert progress["Analysis"]["total"] == 6 and progress["Analysis"]["done"] == 4
    assert progress["Analysis"]["error"] == 2


def test_upstream_only_inside_make_and_only_ancestors(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    with pytest.raises(DataJointError, match="inside make"):
        Analysis().upstream[Subject]


def test_parallel_processes(pipeline):
    schema, Subject, Session, Analysis, calls = pipeline
    result = Analysis.populate(processes=2, suppress_errors=True)
    assert result["success_count"] == 4 and len(result["error_list"]) == 2
    assert len(Analysis) == 4 and len(Analysis.Sample) == 12


# ---- worker processes ---------------------------------------------------------------------------
def _environment(backend: str, tmp_path: Path, schema_name: str, **extra) -> dict:
    settings = connection_settings(backend, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJ_")}
    env.update({"PYTHONPATH": str(ROOT), "POPDEMO_SCHEMA": schema_name, "DJ_BACKEND": backend})
    if backend == "sqlite":
        env["DJ_SQLITE_PATH"] = settings["path"]
    else:
        env.update({"DJ_HOST": settings["host"], "DJ_PORT": str(settings["port"]), "DJ_USER": settings["user"],
                    "DJ_PASS": settings["password"]})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _load_pipeline(env: dict):
    code = "import tests.pipelines.popdemo"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT, capture_output=True)


def _worker_command() -> list[str]:
    command = shutil.which("dj-jupyter")
    assert command, "the dj-jupyter console script is not installed (pip install -e .)"
    return [command]


@pytest.fixture
def popdemo(backend, tmp_path, connection):
    schema_name = "t_" + uuid.uuid4().hex[:10]
    env = _environment(backend, tmp_path, schema_name)
    _load_pipeline(env)
    module = dj.virtual_schema(schema_name, connection=connection)
    yield env, module
    module.schema.drop(prompt=False, force=True)


def test_exactly_once_with_four_workers(popdemo, tmp_path):
    env, module = popdemo
    module.Item.insert([(i, float(i)) for i in range(400)])
    side_file = tmp_path / "made.txt"
    env = dict(env, POPDEMO_SIDEFILE=str(side_file))
    script = ("import tests.pipelines.popdemo as p; "
              "r = p.Square.populate(reserve_jobs=True); print(r['success_count'])")
    workers = [subprocess.Popen([sys.executable, "-c", script], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(4)]
    counts = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        counts.append(int(out.strip().splitlines()[-1]))
    lines = side_file.read_text().split()
    assert sorted(map(int, lines)) == list(range(400))  # every key made exactly once
    assert sum(counts) == 400
    assert len(module.Square) == 400
    assert module.Square.progress() == (0, 400)


def test_killed_worker_leaves_nothing_and_its_job_returns(popdemo, tmp_path):
    env, module = popdemo
    module.Item.insert([(i, float(i)) for i in range(5)])
    marker = tmp_path / "marker"
    slow_env = dict(env, POPDEMO_SLOW_KEY="2", POPDEMO_MARKER=str(marker), POPDEMO_SLOW_SECONDS="120")
    script = "import tests.pipelines.popdemo as p; p.Square.populate({'item_id': 2}, reserve_jobs=True)"
    worker = subprocess.Popen([sys.executable, "-c", script], env=slow_env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not marker.exists():
        assert time.time() < deadline and worker.poll() is None, "the worker never reached make()"
        time.sleep(0.05)
    assert len(module.Square.jobs.reserved) == 1
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    assert not (module.Square & {"item_id": 2})  # no partial rows
    deadline = time.time() + 30
    while module.Square.jobs.release_orphans() == 0 and len(module.Square.jobs.reserved):
        assert time.time() < deadline, "the dead worker's reservation was never released"
        time.sleep(0.2)
    assert (module.Square.jobs & {"item_id": 2}).fetch1("status") == "pending"
    finish = "import tests.pipelines.popdemo as p; print(p.Square.populate(reserve_jobs=True)['success_count'])"
    done = subprocess.run([sys.executable, "-c", finish], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) == 5
    assert (module.Square & {"item_id": 2}).fetch1("square") == 4.0


def test_worker_and_status_commands(popdemo):
    env, module = popdemo
    module.Item.insert([(i, float(i)) for i in range(30)])
    workers = [subprocess.Popen(_worker_command() + ["worker", "tests.pipelines.popdemo", "--until-empty"],
                                env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    assert len(module.Square) == 30 and len(module.Cube) == 30
    status = subprocess.run(_worker_command() + ["status", "tests.pipelines.popdemo"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line.split()[1:] for line in status.stdout.splitlines()[1:]}
    assert rows["Square"][:2] == ["30", "30"] and rows["Cube"][:2] == ["30", "30"]
