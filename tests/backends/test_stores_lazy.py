"""Lazy references: fetching reads no object payloads; staged inserts write zarr and HDF5 straight into the store."""

from __future__ import annotations

import numpy as np
import pytest

import dj_jupyter as dj


@pytest.fixture
def arrays(make_schema, object_store):
    schema = make_schema()

    @schema
    class Frame(dj.Manual):
        definition = """
        frame : int32
        ---
        image : <npy@>
        mask : <npy@main>
        """

    return Frame


def test_fetching_1000_npy_rows_reads_no_payload(arrays, object_store):
    Frame = arrays
    rng = np.random.default_rng(0)
    Frame.insert({"frame": i, "image": rng.standard_normal((4, 3)).astype(np.float32),
                  "mask": np.arange(i % 7 + 1, dtype=np.int8)} for i in range(1000))
    wrapper = object_store.instrument()
    rows = Frame.to_dicts()
    frame = Frame.to_pandas()
    images, masks = Frame.to_arrays("image", "mask")
    one = (Frame & {"frame": 17}).fetch1("image")
    assert wrapper.reads == 0 and wrapper.writes == 0, wrapper.read_paths[:5]
    assert len(rows) == 1000 and len(frame) == 1000 and len(images) == 1000
    shapes = {r["image"].shape for r in rows}
    assert shapes == {(4, 3)} and {r["image"].dtype for r in rows} == {np.dtype("float32")}
    assert masks[5].shape == (6,) and masks[5].dtype == np.int8
    assert all(r["image"].path and r["image"].store == "main" and r["image"].timestamp for r in rows)
    assert repr(one) == "NpyRef(shape=(4, 3), dtype=float32, not loaded)"
    assert wrapper.reads == 0
    value = one.load()
    assert wrapper.reads == 1 and value.shape == (4, 3)
    one.load()
    assert wrapper.reads == 1, "a loaded array is cached"
    object_store.uninstrument()


def test_object_metadata_without_io(make_schema, object_store, tmp_path):
    import zarr as zarr
    schema = make_schema()

    @schema
    class Stack(dj.Manual):
        definition = """
        stack : int32
        ---
        volume : <object@>
        """

    local = tmp_path / "volume.zarr"
    z = zarr.open(str(local), mode="w", shape=(20, 30), chunks=(10, 15), dtype="i2")
    z[:] = np.arange(600, dtype="i2").reshape(20, 30)
    Stack.insert1({"stack": 1, "volume": local})
    wrapper = object_store.instrument()
    ref = Stack.fetch1("volume")
    assert ref.is_dir and ref.ext == ".zarr"
    assert ref.shape == (20, 30) and ref.chunks == (10, 15) and ref.dtype == np.dtype("int16")
    assert ref.size > 0 and ref.item_count >= 2 and ref.timestamp is not None
    assert ref.url.endswith(ref.path)
    assert wrapper.reads == 0
    object_store.uninstrument()
    opened = ref.load()
    np.testing.assert_array_equal(opened[3:5, :4], np.arange(600).reshape(20, 30)[3:5, :4])


def test_staged_insert_zarr(make_schema, object_store):
    import zarr as zarr
    schema = make_schema()

    @schema
    class Scan(dj.Manual):
        definition = """
        scan : int32
        ---
        movie : <object@>
        """

    data = np.random.default_rng(3).standard_normal((50, 16)).astype(np.float32)
    with Scan.staged_insert1 as staged:
        staged.rec["scan"] = 1
        z = zarr.open(store=staged.store("movie", ".zarr"), mode="w", shape=data.shape, chunks=(10, 16),
                      dtype="f4")
        z[:] = data
        assert object_store.files(), "written straight into the store, before the row exists"
        assert len(Scan()) == 0
    ref = Scan.fetch1("movie")
    assert ref.is_dir and ref.shape == (50, 16) and ref.chunks == (10, 16) and ref.dtype == np.dtype("float32")
    assert ref.path.startswith(f"_schema/{Scan.database}/{Scan.table_name}/scan=1/movie_") and ref.path.endswith(".zarr")
    np.testing.assert_array_equal(zarr.open(store=ref.fsmap, mode="r")[:], data)
    np.testing.assert_array_equal(ref.load()[:], data)
    assert ref.verify()
    Scan.delete()
    assert not object_store.files()


def test_staged_insert_hdf5(make_schema, object_store):
    import h5py as h5py
    schema = make_schema()

    @schema
    class Ephys(dj.Manual):
        definition = """
        session : int32
        ---
        raw : <object@>
        note = "" : varchar(32)
        """

    data = np.arange(1000, dtype=np.float64).reshape(100, 10)
    with Ephys.staged_insert1 as staged:
        staged.rec.update(session=5, note="hdf5")
        with staged.open("raw", ".h5") as f:
            with h5py.File(f, "w") as h5:
                h5.create_dataset("traces", data=data, chunks=(10, 10))
    ref = Ephys.fetch1("raw")
    assert not ref.is_dir and ref.ext == ".h5" and ref.size > data.nbytes
    with h5py.File(ref.open(), "r") as h5:
        np.testing.assert_array_equal(h5["traces"][:], data)
    loaded = ref.load()
    np.testing.assert_array_equal(loaded["traces"][5], data[5])
    loaded.close()
    Ephys.delete()
    assert not object_store.files()


def test_staged_insert_inside_rolled_back_transaction(make_schema, object_store):
    schema = make_schema()

    @schema
    class Blobby(dj.Manual):
        definition = """
        i : int32
        ---
        payload : <object@>
        """

    with pytest.raises(RuntimeError):
        with Blobby.connection.transaction:
            with Blobby.staged_insert1 as staged:
                staged.rec["i"] = 1
                with staged.open("payload", ".bin") as f:
                    f.write(b"x" * 1000)
            assert len(Blobby()) == 1
            raise RuntimeError("the surrounding transaction fails")
    assert len(Blobby()) == 0
    assert not object_store.files()


def test_staged_insert_requires_object_attribute_and_key(make_schema, object_store):
    schema = make_schema()

    @schema
    class Thing(dj.Manual):
        definition = """
        i : int32
        ---
        arr : <npy@>
        obj = null : <object@>
        """

    with pytest.raises(dj.DataJointError, match="primary key"):
        with Thing.staged_insert1 as staged:
            staged.store("obj", ".zarr")
    with pytest.raises(dj.DataJointError, match="not an <object@>"):
        with Thing.staged_insert1 as staged:
            staged.rec["i"] = 1
            staged.open("arr")
    assert not object_store.files()
