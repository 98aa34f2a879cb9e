"""Store specifications and object paths (no database): DataJoint's layouts, and nothing leaves the store."""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dj_jupyter.errors import DataJointError
from dj_jupyter.settings import Config
from dj_jupyter.storage import paths
from dj_jupyter.storage.spec import store_spec
from dj_jupyter.storage.stores import Store


def config_with(stores: dict) -> Config:
    config = Config(load=False)
    config["stores"] = stores
    return config


def test_content_hash_is_datajoints():
    data = b"some bytes"
    expected = base64.b32encode(hashlib.md5(data).digest()).decode().rstrip("=").lower()
    assert paths.content_hash(data) == expected and len(expected) == 26
    import datajoint.hash_registry as datajoint
    assert datajoint.compute_hash(data) == expected


def test_hash_path_layout_and_subfolding():
    digest = paths.content_hash(b"x")
    assert paths.hash_path(digest, "lab", hash_prefix="_hash") == f"_hash/lab/{digest}"
    assert paths.hash_path(digest, "lab", hash_prefix="objects/h", subfolding=[2, 2]) == \
        f"objects/h/lab/{digest[:2]}/{digest[2:4]}/{digest}"
    assert paths.hash_path(digest, "lab", hash_prefix="") == f"lab/{digest}"
    with pytest.raises(DataJointError):
        paths.hash_path("../../etc/passwd", "lab", hash_prefix="_hash")
    import datajoint.hash_registry as datajoint
    assert datajoint.build_hash_path(digest, "lab", (2, 2), hash_prefix="_hash") == \
        paths.hash_path(digest, "lab", hash_prefix="_hash", subfolding=[2, 2])


def test_object_path_layout_matches_datajoint():
    key = {"subject": 12, "session": "s1", "day": datetime.date(2024, 5, 1),
           "at": datetime.datetime(2024, 5, 1, 13, 4, 5)}
    path, token = paths.object_path("lab", "_recording", "trace", key, ".npy", schema_prefix="_schema",
                                    token_length=10)
    assert path == (f"_schema/lab/_recording/subject=12/session=s1/day=2024-05-01/at=2024-05-01T13-04-05/"
                    f"trace_{token}.npy")
    assert re.fullmatch(r"[A-Za-z0-9_-]{10}", token)
    import datajoint.storage as storage
    for value in (12, "s1", "a/b", "x" * 150, 1.5, datetime.date(2024, 5, 1)):
        assert paths.encode_key_value(value) == storage.encode_pk_value(value)


def test_partition_pattern_moves_attributes_in_front():
    path, token = paths.object_path("lab", "scan", "movie", {"subject": 3, "session": 4, "scan": 5}, ".zarr",
                                    schema_prefix="_schema", partition_pattern="{subject}/{session}")
    assert path == f"_schema/subject=3/session=4/lab/scan/scan=5/movie_{token}.zarr"


@pytest.mark.parametrize("bad", ["", "/abs", "a/../b", "..", "./a", "a//b", "a\\b", "a\x00b", "s3://b/k",
                                 "file:///etc", "C:/x", "a/\n", "x" * 300, "/".join(["y" * 200] * 6)])
def test_clean_path_refuses(bad):
    with pytest.raises(paths.UnsafePathError):
        paths.clean_path(bad)


def test_clean_path_accepts_and_normalises():
    assert paths.clean_path("a/b.c/d_e-f") == "a/b.c/d_e-f"
    assert paths.clean_path("folder/") == "folder"
    assert paths.clean_path("ünïcode/名前") == "ünïcode/名前"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary(max_size=40), st.integers(), st.floats(allow_nan=True),
                 st.dates(), st.datetimes()))
def test_any_key_value_gives_one_safe_segment(value):
    segment = "subject=" + paths.encode_key_value(value)
    assert "/" not in segment and "\\" not in segment and "\x00" not in segment
    assert segment not in (".", "..")
    assert len(segment.encode("utf-8", "surrogatepass")) <= 255
    path, _ = paths.object_path("s", "t", "f", {"k": value}, None, schema_prefix="_schema")
    assert paths.clean_path(path) == path


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable + "../\\\x00é", max_size=80))
def test_store_full_path_never_escapes(relative):
    store = Store("main", {"protocol": "file", "location": "/data/store"})
    try:
        full = store.full_path(relative)
    except paths.UnsafePathError:
        return
    assert full.startswith("/data/store/")
    assert "/../" not in full + "/" and "\x00" not in full


def test_safe_local_name():
    assert paths.safe_local_name("../../etc/passwd") == "passwd"
    assert paths.safe_local_name("C:\\x\\evil.txt") == "evil.txt"
    assert paths.safe_local_name("..") == "attachment"
    assert paths.safe_local_name("a\x01b.txt") == "ab.txt"
    assert len(paths.safe_local_name("n" * 1000 + ".txt").encode()) < 255


def test_spec_defaults_and_validation():
    config = config_with({"default": "main", "main": {"protocol": "file", "location": "/tmp/x"},
                          "cloud": {"protocol": "s3", "endpoint": "s3.example.org", "bucket": "b",
                                    "location": "l", "access_key": "k", "secret_key": "s"}})
    spec = store_spec(config)
    assert spec["name"] == "main" and spec["hash_prefix"] == "_hash" and spec["schema_prefix"] == "_schema"
    assert spec["token_length"] == 8 and spec["subfolding"] is None and spec["filepath_prefix"] is None
    assert store_spec(config, "cloud")["secure"] is True
    assert config.get_store_spec("cloud")["bucket"] == "b"
    with pytest.raises(DataJointError, match="not configured"):
        store_spec(config, "nope")
    with pytest.raises(DataJointError, match="filepath_default"):
        store_spec(config, None, use_filepath_default=True)
    with pytest.raises(DataJointError, match="overlap"):
        store_spec(config_with({"a": {"protocol": "file", "location": "/x", "hash_prefix": "data",
                                      "schema_prefix": "data/schema"}}), "a")
    with pytest.raises(DataJointError, match="unknown key"):
        store_spec(config_with({"a": {"protocol": "file", "location": "/x", "bucket": "b"}}), "a")
    with pytest.raises(DataJointError, match="missing"):
        store_spec(config_with({"a": {"protocol": "s3", "bucket": "b", "location": ""}}), "a")
    with pytest.raises(DataJointError, match="access_key"):
        store_spec(config_with({"a": {"protocol": "s3", "endpoint": "e", "bucket": "b", "location": "",
                                      "access_key": "k"}}), "a")
    with pytest.raises(DataJointError, match="relative"):
        store_spec(config_with({"a": {"protocol": "file", "location": "/x", "hash_prefix": "../up"}}), "a")
    memory = store_spec(config_with({"m": {"protocol": "memory", "location": "bucket"}}), "m")
    assert memory["protocol"] == "memory"


def test_gcs_and_azure_configs_are_accepted_without_io():
    config = config_with({
        "g": {"protocol": "gcs", "bucket": "lab-data", "location": "dj", "project": "p", "token": "anon"},
        "a": {"protocol": "azure", "container": "lab", "location": "dj", "account_name": "acct",
              "account_key": "k"}})
    g = Store("g", store_spec(config, "g"))
    a = Store("a", store_spec(config, "a"))
    assert (g.fs_protocol, g.root) == ("gcs", "lab-data/dj")
    assert (a.fs_protocol, a.root) == ("abfs", "lab/dj")
    assert g.full_path("_hash/s/x") == "lab-data/dj/_hash/s/x"
