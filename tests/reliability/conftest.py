"""Fixtures for the reliability tests: captured output, ``--long``, stores (helpers live in helpers.py).

The last test, ``test_zz_secrets.py``, greps for the distinctive passwords and keys of
``helpers.SECRETS``: the stdout, stderr and log records pytest captured of every
reliability test (collected by the report hook below), the files the tests wrote under
``capture_dir`` (worker output, notebooks, job error stacks) and the servers' logs.

``--long`` (or ``DJ_RELIABILITY_LONG=1``) runs the soak at its full size (5,000 keys per engine).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.reliability import helpers

CAPTURED: list[tuple[str, str]] = []  # (test id + section, text) of every reliability test's captured output


def pytest_addoption(parser):
    parser.addoption("--long", action="store_true", default=False,
                     help="reliability: run the soak at full size (5,000 keys per engine)")


def pytest_runtest_logreport(report):
    if "tests/reliability" not in report.nodeid.replace(os.sep, "/"):
        return
    for name, text in report.sections:
        CAPTURED.append((f"{report.nodeid} {name}", text))
    if report.longrepr is not None:
        CAPTURED.append((f"{report.nodeid} longrepr", str(report.longrepr)))


def pytest_sessionfinish(session, exitstatus):
    helpers.stop_servers()


@pytest.fixture(scope="session")
def captured_reports() -> list:
    return CAPTURED


@pytest.fixture(scope="session")
def long_run(request) -> bool:
    # the option exists when pytest starts in tests/reliability; DJ_RELIABILITY_LONG=1 works from anywhere
    return bool(request.config.getoption("--long", default=False)) or os.environ.get("DJ_RELIABILITY_LONG") == "1"


@pytest.fixture(scope="session")
def capture_dir():
    """Where the reliability tests put the output of their subprocesses, notebooks and dumps."""
    path = Path(tempfile.mkdtemp(prefix="djrel-capture-"))
    os.chmod(path, 0o755)
    helpers.CAPTURE_DIR[0] = path
    yield path
    if os.environ.get("DJ_RELIABILITY_KEEP") != "1":
        shutil.rmtree(path, ignore_errors=True)
    else:
        print(f"reliability output kept in {path}")


@pytest.fixture
def use_stores():
    """Set ``dj.config['stores']`` for the test (and forget cached store objects before and after)."""
    import dj_jupyter as dj
    from dj_jupyter.storage.stores import clear_store_cache

    entered = []

    def configure(spec: dict, download_path: str | None = None):
        clear_store_cache()
        values = {"stores": {"default": "main", "main": spec}}
        if download_path:
            values["download_path"] = download_path
        context = dj.config.override(values)
        context.__enter__()
        entered.append(context)

    yield configure
    for context in reversed(entered):
        context.__exit__(None, None, None)
    clear_store_cache()


