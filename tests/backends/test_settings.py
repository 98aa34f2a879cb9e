"""dj.config: where settings come from (datajoint.json found walking up, .secrets/, DJ_* variables, run-time
values), in which order, and the zero-configuration SQLite default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dj_jupyter as dj
from dj_jupyter.settings import Config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch):
    for variable in list(os.environ):
        if variable.startswith("DJ_"):
            monkeypatch.delenv(variable)
    return monkeypatch


def make_project(root: Path, file_settings: dict | None = None, secrets: dict | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if file_settings is not None:
        (root / "datajoint.json").write_text(json.dumps(file_settings))
    if secrets:
        (root / ".secrets").mkdir()
        for name, value in secrets.items():
            (root / ".secrets" / name).write_text(value + "\n")
    return root


def test_config_file_is_found_walking_up(tmp_path, clean_env):
    project = make_project(tmp_path / "project", {"database": {"host": "db.example.org"}, "display.limit": 7})
    deep = project / "analysis" / "notebooks"
    deep.mkdir(parents=True)
    clean_env.chdir(deep)
    config = Config()
    assert config.config_path.resolve() == (project / "datajoint.json").resolve()
    assert config["database.host"] == "db.example.org"
    assert config["display.limit"] == 7 and config.display.limit == 7


def test_config_discovery_stops_at_a_git_folder(tmp_path, clean_env):
    project = make_project(tmp_path / "outer", {"database": {"host": "outer-host"}})
    repository = project / "repo"
    (repository / ".git").mkdir(parents=True)
    (repository / "src").mkdir()
    clean_env.chdir(repository / "src")
    config = Config()
    assert config.config_path is None
    assert config["database.host"] == "localhost"
    # a datajoint.json at the repository root itself is still found
    make_project(repository, {"database": {"host": "repo-host"}})
    assert Config()["database.host"] == "repo-host"


def test_secrets_directory(tmp_path, clean_env):
    project = make_project(tmp_path / "p", {"database": {"host": "h"}},
                           secrets={"database.password": "s3cret", "database.user": "alice"})
    clean_env.chdir(project)
    config = Config()
    assert config["database.password"] == "s3cret"
    assert config["database.user"] == "alice"
    assert "s3cret" not in repr(config)


def test_environment_variables(tmp_path, clean_env):
    clean_env.chdir(make_project(tmp_path / "p"))
    clean_env.setenv("DJ_HOST", "env-host")
    clean_env.setenv("DJ_PORT", "6543")
    clean_env.setenv("DJ_SAFEMODE", "false")
    clean_env.setenv("DJ_BACKEND", "postgres")
    config = Config()
    assert config["database.host"] == "env-host"
    assert config["database.port"] == 6543
    assert config["safemode"] is False
    assert config["database.backend"] == "postgresql"


def test_precedence_runtime_environment_file_secrets_defaults(tmp_path, clean_env):
    project = make_project(tmp_path / "p", {"database": {"user": "from-file", "host": "file-host"}},
                           secrets={"database.user": "from-secrets", "database.host": "secret-host",
                                    "database.password": "pw"})
    clean_env.chdir(project)
    clean_env.setenv("DJ_USER", "from-env")
    config = Config()
    assert config["database.user"] == "from-env"  # environment beats file and secrets
    assert config["database.host"] == "file-host"  # file beats secrets
    assert config["database.password"] == "pw"  # secrets beat defaults
    assert config["display.limit"] == 12  # defaults
    config["database.user"] = "at-runtime"
    assert config["database.user"] == "at-runtime"  # run time beats everything
    clean_env.setenv("DJ_USER", "changed-env")
    config.reload()
    assert config["database.user"] == "at-runtime"  # reloading keeps run-time values


def test_ignore_config_file(tmp_path, clean_env):
    clean_env.chdir(make_project(tmp_path / "p", {"database": {"host": "file-host"}}))
    clean_env.setenv("DJ_IGNORE_CONFIG_FILE", "true")
    assert Config()["database.host"] == "localhost"


def test_config_override_restores_values():
    before = (dj.config["display.limit"], dj.config["database.host"], dj.config["safemode"])
    with dj.config.override({"display.limit": 3}, database__host="override-host", safemode=True):
        assert dj.config["display.limit"] == 3
        assert dj.config.database.host == "override-host"
        assert dj.config["safemode"] is True
    assert (dj.config["display.limit"], dj.config["database.host"], dj.config["safemode"]) == before
    with pytest.raises(RuntimeError):
        with dj.config.override({"display.limit": 4}):
            raise RuntimeError
    assert dj.config["display.limit"] == before[0]


def test_config_refuses_unknown_keys_and_backends():
    with pytest.raises(KeyError):
        dj.config["no.such.setting"] = 1
    with pytest.raises(dj.DataJointError) as info:
        dj.config["database.backend"] = "oracle"
    assert info.value.hint
    assert dj.config["database.backend"] in ("sqlite", "postgresql", "mysql")


def test_zero_configuration_uses_sqlite_in_the_working_directory(tmp_path, clean_env):
    code = ("import dj_jupyter as dj\n"
            "c = dj.conn()\n"
            "s = dj.Schema('demo', connection=c)\n"
            "c2 = dj.conn(reset=True)\n"
            "print(sorted(dj.list_schemas(c2)))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJ_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    database = tmp_path / "datajoint.sqlite3"
    assert database.is_file()
    assert result.stdout.strip() == "['demo']"
    assert result.stderr.count(str(database.resolve())) == 1  # says where it is, once
