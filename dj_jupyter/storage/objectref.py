"""Lazy references to stored objects: what ``<object@>``, ``<npy@>`` and ``<filepath@>`` fetch as.

A reference is built from the JSON metadata in the row alone: path, size, shape,
dtype, chunking (where known), extension and timestamp need no store I/O.
``load()``, ``read()``, ``open()``, ``fsmap``, ``download()``, ``listdir()`` and
``walk()`` do the I/O, through the store's fsspec filesystem.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from ..errors import DataJointError
from .paths import clean_path, safe_local_name


class IntegrityError(DataJointError):
    """A stored object does not match the metadata recorded in its row."""


def _timestamp(value) -> datetime.datetime | None:
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value


def _dtype(value) -> np.dtype | None:
    """A dtype from metadata: a string (``"float32"``) or a structured descr that JSON turned into lists."""
    if value is None:
        return None
    return np.dtype(_descr(value) if isinstance(value, list) else value)


def _descr(fields: list) -> list:
    result = []
    for field in fields:
        name, kind = field[0], field[1]
        name = tuple(name) if isinstance(name, list) else name
        kind = _descr(kind) if isinstance(kind, list) else kind
        result.append((name, kind, tuple(field[2])) if len(field) > 2 else (name, kind))
    return result


class _Reference:
    """Shared behaviour of lazy references: metadata in memory, I/O through the store."""

    def __init__(self, metadata: dict, store):
        self._meta = dict(metadata)
        self._store = store

    # ---- metadata (no I/O) ------------------------------------------------------------------
    @property
    def metadata(self) -> dict:
        """The JSON metadata stored in the row."""
        return dict(self._meta)

    def to_json(self) -> dict:
        return dict(self._meta)

    @property
    def path(self) -> str:
        return self._meta["path"]

    @property
    def store(self) -> str | None:
        return self._meta.get("store") or (self._store.name if self._store is not None else None)

    @property
    def timestamp(self) -> datetime.datetime | None:
        return _timestamp(self._meta.get("timestamp"))

    @property
    def url(self) -> str:
        """Full URL of the object (``file:///...``, ``s3://bucket/...``); no I/O."""
        return self._meta.get("url") or self._require_store().url(self.path)

    @property
    def full_path(self) -> str:
        """Path of the object inside the store's filesystem; no I/O."""
        return self._require_store().full_path(self.path)

    # ---- I/O ----------------------------------------------------------------------------------
    def _require_store(self):
        if self._store is None:
            raise DataJointError("This reference has no store to read from.",
                                 hint="Fetch it from a table so that its store is known.")
        return self._store

    @property
    def fs(self):
        """The fsspec filesystem holding the object."""
        return self._require_store().fs

    @property
    def fsmap(self):
        """An fsspec mapping of the object's folder, e.g. for ``zarr.open(ref.fsmap)``."""
        return self._require_store().fsmap(self.path)

    def _sub(self, subpath: str | None) -> str:
        if not subpath:
            return self.path
        return f"{self.path}/{clean_path(subpath, what='subpath')}"

    def exists(self, subpath: str | None = None) -> bool:
        return self._require_store().exists(self._sub(subpath))


class ObjectRef(_Reference):
    """A file or folder in an object store, fetched from an ``<object@>`` or ``<filepath@>`` attribute.

    Metadata attributes (no I/O): ``path``, ``store``, ``size``, ``ext``, ``is_dir``,
    ``item_count``, ``timestamp``, ``hash``, ``mime_type``, and ``shape``, ``dtype``
    and ``chunks`` when the object is an array whose layout was recorded (zarr).
    """

    @classmethod
    def from_json(cls, data, store=None) -> "ObjectRef":
        if isinstance(data, str):
            data = json.loads(data)
        return cls(data, store)

    @property
    def size(self) -> int | None:
        return self._meta.get("size")

    @property
    def ext(self) -> str | None:
        return self._meta.get("ext")

    @property
    def is_dir(self) -> bool:
        return bool(self._meta.get("is_dir", False))

    @property
    def item_count(self) -> int | None:
        return self._meta.get("item_count")

    @property
    def hash(self) -> str | None:
        return self._meta.get("hash")

    @property
    def mime_type(self) -> str | None:
        if self._meta.get("mime_type"):
            return self._meta["mime_type"]
        if self.is_dir or not self.ext:
            return None
        import mimetypes

        return mimetypes.types_map.get(self.ext.lower())

    @property
    def shape(self) -> tuple | None:
        shape = self._meta.get("shape")
        return tuple(shape) if shape is not None else None

    @property
    def dtype(self) -> np.dtype | None:
        return _dtype(self._meta.get("dtype"))

    @property
    def chunks(self) -> tuple | None:
        chunks = self._meta.get("chunks")
        return tuple(chunks) if chunks is not None else None

    # ---- I/O ----------------------------------------------------------------------------------
    def read(self) -> bytes:
        """The whole content of a file object."""
        if self.is_dir:
            raise DataJointError("Cannot read() a folder object.", hint="Use listdir(), walk(), open(subpath) or fsmap.")
        return self._require_store().read_bytes(self.path)

    def open(self, subpath: str | None = None, mode: str = "rb") -> IO:
        """Open the file (or a file inside a folder object) for reading."""
        if subpath and not self.is_dir:
            raise DataJointError("A subpath only applies to folder objects.")
        if not set(mode) <= set("rbt"):
            raise DataJointError("Stored objects are opened for reading only.",
                                 hint="Insert a new row to store new content.")
        return self._require_store().open_read(self._sub(subpath), mode)

    def listdir(self, subpath: str = "") -> list[str]:
        if not self.is_dir:
            raise DataJointError("listdir() applies to folder objects.")
        store = self._require_store()
        entries = store.fs.ls(store.full_path(self._sub(subpath)), detail=False)
        return sorted(e.rstrip("/").rsplit("/", 1)[-1] for e in entries)

    def walk(self) -> Iterator[tuple[str, list[str], list[str]]]:
        if not self.is_dir:
            raise DataJointError("walk() applies to folder objects.")
        store = self._require_store()
        base = store.full_path(self.path)
        for root, dirs, files in store.fs.walk(base):
            root = store.fs._strip_protocol(root).rstrip("/")
            yield root[len(base):].lstrip("/"), dirs, files

    def download(self, destination, subpath: str | None = None) -> Path:
        """Copy the object (or a file inside it) to a local folder or file path; returns the local path."""
        store = self._require_store()
        destination = Path(destination)
        remote = self._sub(subpath)
        if self.is_dir and not subpath:
            target_root = destination.resolve()
            target_root.mkdir(parents=True, exist_ok=True)
            for relative, _info in store.walk_files(remote).items():
                inner = relative[len(remote) + 1:]
                target = (target_root / inner).resolve()
                if target_root not in target.parents:
                    raise DataJointError(f"Refusing to write {inner!r} outside {target_root}.")
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_out(store, relative, target)
            return target_root
        if destination.is_dir():
            destination = destination / safe_local_name(remote.rsplit("/", 1)[-1])
        destination.parent.mkdir(parents=True, exist_ok=True)
        _copy_out(store, remote, destination)
        return destination

    def verify(self) -> bool:
        """Check that the object exists with the recorded size (and manifest, for folders)."""
        store = self._require_store()
        if self.is_dir:
            files = store.walk_files(self.path)
            if not files and not store.exists(self.path):
                raise IntegrityError(f"Folder object {self.path} does not exist.")
            manifest_path = self.path + ".manifest.json"
            if store.exists(manifest_path):
                manifest = json.loads(store.read_bytes(manifest_path))
                problems = []
                for item in manifest.get("files", []):
                    full = f"{self.path}/{item['path']}"
                    info = files.get(full)
                    if info is None:
                        problems.append(f"missing {item['path']}")
                    elif item.get("size") is not None and info.get("size") != item["size"]:
                        problems.append(f"size of {item['path']}: {info.get('size')} != {item['size']}")
                if problems:
                    raise IntegrityError(f"Folder object {self.path} does not match its manifest: "
                                         + "; ".join(problems))
            return True
        size = store.size(self.path)
        if size is None:
            raise IntegrityError(f"Object {self.path} does not exist in store {store.name!r}.")
        if self.size is not None and size != self.size:
            raise IntegrityError(f"Object {self.path}: size {size} differs from the recorded {self.size}.")
        if self.hash:
            from .paths import content_hash

            if content_hash(store.read_bytes(self.path)) != self.hash:
                raise IntegrityError(f"Object {self.path}: content hash differs from the recorded one.")
        return True

    def load(self):
        """The object's content as Python data: a numpy array for ``.npy``, a zarr array or group for
        zarr folders, an open ``h5py.File`` for HDF5, else the bytes of a file."""
        ext = (self.ext or "").lower()
        if ext == ".npy" and not self.is_dir:
            with self.open() as f:
                return read_npy(f)
        if ext == ".zarr" or (self.is_dir and self._meta.get("format") == "zarr"):
            import zarr

            return zarr.open(store=self.fsmap, mode="r")
        if ext in (".h5", ".hdf5", ".hdf", ".nwb"):
            import h5py

            return h5py.File(self.open(), "r")
        if self.is_dir:
            raise DataJointError(f"Folder object {self.path} has no loader.",
                                 hint="Use fsmap, open(subpath), listdir() or download().")
        return self.read()

    def __repr__(self) -> str:
        kind = "folder" if self.is_dir else "file"
        extra = f", shape={self.shape}, dtype={self.dtype}" if self.shape is not None else ""
        return f"ObjectRef({kind}: {self.path}, size={self.size}{extra})"

    def __str__(self) -> str:
        return self.path

    def __eq__(self, other) -> bool:
        return isinstance(other, ObjectRef) and other._meta == self._meta

    __hash__ = None


class NpyRef(_Reference):
    """A numpy array stored as a ``.npy`` file by ``<npy@>``; shape and dtype need no I/O.

    ``load()`` reads it (``mmap_mode`` maps a local file, or a cached copy of a remote
    one); numpy functions, indexing and ``len()`` work on the reference directly.
    """

    __array_priority__ = 10

    def __init__(self, metadata: dict, store):
        super().__init__(metadata, store)
        self._cached = None

    @property
    def shape(self) -> tuple:
        return tuple(self._meta["shape"])

    @property
    def dtype(self) -> np.dtype:
        return _dtype(self._meta["dtype"])

    @property
    def ndim(self) -> int:
        return len(self._meta["shape"])

    @property
    def size(self) -> int:
        """Number of elements (as numpy's ``size``)."""
        return math.prod(self._meta["shape"])

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def file_size(self) -> int | None:
        """Bytes of the ``.npy`` file, when recorded."""
        return self._meta.get("size")

    @property
    def ext(self) -> str:
        return ".npy"

    @property
    def chunks(self) -> None:
        return None

    @property
    def is_loaded(self) -> bool:
        return self._cached is not None

    def read(self) -> bytes:
        """The raw bytes of the ``.npy`` file."""
        return self._require_store().read_bytes(self.path)

    def open(self, mode: str = "rb") -> IO:
        if not set(mode) <= set("rb"):
            raise DataJointError("Stored arrays are opened for reading only.")
        return self._require_store().open_read(self.path, mode)

    def load(self, mmap_mode: str | None = None):
        """The array (cached after the first load); with ``mmap_mode``, a ``numpy.memmap``."""
        if mmap_mode is None:
            if self._cached is None:
                with self.open() as f:
                    self._cached = read_npy(f)
            return self._cached
        store = self._require_store()
        if getattr(store.fs, "local_file", False):
            return np.load(store.full_path(self.path), mmap_mode=mmap_mode, allow_pickle=False)
        import hashlib
        import tempfile

        cache = Path(tempfile.gettempdir()) / "dj_jupyter_mmap"
        cache.mkdir(exist_ok=True)
        name = hashlib.md5(f"{store.name}:{self.path}".encode()).hexdigest()[:16] + ".npy"
        local = cache / name
        if not local.exists():
            partial = local.with_suffix(f".{os.getpid()}.part")
            _copy_out(store, self.path, partial)
            os.replace(partial, local)
        return np.load(local, mmap_mode=mmap_mode, allow_pickle=False)

    def __array__(self, dtype=None, copy=None):
        array = self.load()
        if dtype is not None:
            return array.astype(dtype)
        return array

    def __getitem__(self, item):
        return self.load()[item]

    def __len__(self) -> int:
        if not self._meta["shape"]:
            raise TypeError("len() of a 0-d array")
        return self._meta["shape"][0]

    def __iter__(self):
        return iter(self.load())

    def __repr__(self) -> str:
        status = "loaded" if self.is_loaded else "not loaded"
        return f"NpyRef(shape={self.shape}, dtype={self.dtype}, {status})"

    __str__ = __repr__

    def __eq__(self, other):
        if isinstance(other, NpyRef):
            return other._meta == self._meta
        return NotImplemented

    __hash__ = None


def _copy_out(store, path: str, target) -> None:
    with store.open_read(path) as source, open(target, "wb") as out:
        while True:
            chunk = source.read(64 * 1024 * 1024)
            if not chunk:
                break
            out.write(chunk)


# ---------------------------------------------------------------------------------------------
# .npy without extra copies
# ---------------------------------------------------------------------------------------------
def npy_header(array: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The ``.npy`` header (as ``numpy.save`` writes it) and a C-contiguous view of the data to follow."""
    import io

    fmt = np.lib.format
    if array.flags.c_contiguous:
        data, fortran = array, False
    elif array.flags.f_contiguous:
        data, fortran = array.T, True
    else:
        array = np.ascontiguousarray(array)
        data, fortran = array, False
    header = {"descr": fmt.dtype_to_descr(array.dtype), "fortran_order": fortran, "shape": array.shape}
    buffer = io.BytesIO()
    try:
        fmt.write_array_header_1_0(buffer, header)
    except ValueError:
        buffer = io.BytesIO()
        fmt.write_array_header_2_0(buffer, header)
    return buffer.getvalue(), data


def npy_buffers(array: np.ndarray) -> list:
    """``[header, data]`` buffers whose concatenation equals ``numpy.save``'s output."""
    header, data = npy_header(array)
    if data.size == 0:
        return [header]
    return [header, data.reshape(-1).view(np.uint8)]


def read_npy(f) -> np.ndarray:
    """Read a ``.npy`` stream into a fresh array with one ``readinto`` (no intermediate bytes)."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(f)
    else:
        raise DataJointError(f"Unsupported .npy format version {version}.")
    if dtype.hasobject:
        raise DataJointError("Refusing to load a .npy file holding Python objects (it would need pickle).")
    array = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    flat = (array.T if fortran else array).reshape(-1).view(np.uint8)
    view = memoryview(flat)
    filled = 0
    total = len(view)
    while filled < total:
        count = f.readinto(view[filled:])
        if not count:
            raise DataJointError(f"The .npy file is truncated: {filled} of {total} data bytes.")
        filled += count
    return array
