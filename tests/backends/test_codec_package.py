"""A codec from another package, registered through the ``dj_jupyter.codecs`` entry point group.

The package in tests/codec_package is installed with pip into a temporary folder
(no network: its build backend is already installed), that folder is put on
``sys.path``, and a table declares ``<bitmask>`` without importing the package.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import dj_jupyter as dj

PACKAGE = Path(__file__).resolve().parent.parent / "codec_package"


@pytest.fixture(scope="session")
def codec_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("codec_site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--quiet", "--target", str(site), str(PACKAGE)],
        capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"pip could not install the test codec package:\n{result.stdout}\n{result.stderr}")
    return site


@pytest.fixture
def installed_codec(codec_site):
    from dj_jupyter.codecs import base

    sys.path.insert(0, str(codec_site))
    importlib.invalidate_caches()
    base.unregister_codec("bitmask")
    base._entry_points_loaded = False
    base._resolve.cache_clear()
    try:
        yield
    finally:
        sys.path.remove(str(codec_site))
        base.unregister_codec("bitmask")
        base._entry_points_loaded = False
        base._resolve.cache_clear()
        sys.modules.pop("djtest_bitmask", None)


def test_entry_point_codec_in_a_table(installed_codec, make_schema, object_store):
    assert "djtest_bitmask" not in sys.modules
    assert "bitmask" in dj.list_codecs()
    schema = make_schema()

    @schema
    class Segmentation(dj.Manual):
        definition = """
        image : int32
        ---
        mask : <bitmask>            # in the table
        stored = null : <bitmask@>  # through <hash@> in the store
        """

    rng = np.random.default_rng(5)
    masks = {i: rng.random((17, 9 + i)) > 0.5 for i in range(3)}
    Segmentation.insert({"image": i, "mask": m, "stored": m} for i, m in masks.items())
    for row in Segmentation.to_dicts():
        np.testing.assert_array_equal(row["mask"], masks[row["image"]])
        np.testing.assert_array_equal(row["stored"], masks[row["image"]])
    assert len([f for f in object_store.files() if f.startswith("_hash/")]) == 3
    with pytest.raises(dj.DataJointError, match="boolean"):
        Segmentation.insert1({"image": 9, "mask": np.zeros(3)})
    Segmentation.delete()
    assert not object_store.files()


def test_entry_point_codec_in_a_fresh_interpreter(codec_site, tmp_path):
    """A new process finds the codec from the installed package's metadata alone."""
    root = Path(__file__).resolve().parents[2]
    script = textwrap.dedent(f"""
        import numpy as np
        import dj_jupyter as dj
        dj.config["safemode"] = False
        connection = dj.Connection(backend="sqlite", path={str(tmp_path / 'p.sqlite3')!r}, quiet=True)
        schema = dj.Schema("codec_pkg", connection=connection)

        @schema
        class Masks(dj.Manual):
            definition = '''
            i : int32
            ---
            m : <bitmask>
            '''

        Masks.insert1({{"i": 1, "m": np.array([True, False, True])}})
        print(Masks.fetch1("m").tolist())
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(codec_site), str(root)])}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[True, False, True]"
