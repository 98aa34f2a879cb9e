"""``<filepath@store>``: a reference to a file or folder that already lives in a store.

Nothing is copied and the object's life is not managed: deleting the row leaves
the file alone. The value is a path relative to the store location (or an
absolute path / URL that points inside it). Paths that would leave the store
(``..``, other absolute paths, other buckets) are refused, and so are paths in
the store's managed ``hash_prefix`` and ``schema_prefix`` sections; with
``filepath_prefix`` set, paths must be under it. ``<filepath@>`` uses
``stores.filepath_default``. Fetches as a lazy
:class:`~dj_jupyter.storage.objectref.ObjectRef`; the column holds
``{path, store, size, is_dir, timestamp}``.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import DataJointError
from ..storage.paths import UnsafePathError, clean_path
from .base import Codec
from .object import now_iso
from .stored import as_metadata, store_for_read, store_for_write


def store_relative(store, value) -> str:
    """``value`` as a path relative to ``store``, refusing anything outside it."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str):
        raise TypeError(f"<filepath> takes a path, got {type(value).__name__}")
    if text.startswith("/") or re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", text):
        if "://" in text:
            scheme = text.split("://", 1)[0].lower()
            protocols = store.fs.protocol if isinstance(store.fs.protocol, (tuple, list)) else (store.fs.protocol,)
            if scheme not in protocols and not (scheme == "gs" and "gcs" in protocols) \
                    and not (scheme == "az" and "abfs" in protocols):
                raise UnsafePathError(f"<filepath@{store.name}> refuses {text!r}: it is not in this store.")
        full = store.fs._strip_protocol(text)
        root = store.root.rstrip("/")
        if not full.startswith(root + "/"):
            raise UnsafePathError(f"<filepath@{store.name}> refuses {text!r}: it is outside the store location.",
                                  hint="Give a path relative to the store location.")
        text = full[len(root) + 1:]
    return clean_path(text, what="<filepath> path")


def _refuse_links_out_of(store, path: str) -> None:
    """On a local store, a symbolic link inside the store must not lead out of it."""
    if store.fs_protocol != "file":
        return
    root = os.path.realpath(store.root)
    target = os.path.realpath(store.full_path(path))
    if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
        raise UnsafePathError(f"<filepath@{store.name}> refuses {path!r}: it is a link that leads outside the store "
                              "location.", hint="Copy the file into the store instead of linking to it.")


class FilepathCodec(Codec):
    name = "filepath"

    def get_dtype(self, is_store: bool) -> str:
        if not is_store:
            raise DataJointError("<filepath> refers to files in a store.",
                                 hint="Write <filepath@store>, or <filepath@> for stores.filepath_default.")
        return "json"

    def validate(self, value: Any) -> None:
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"<filepath> takes a path, got {type(value).__name__}")

    def encode(self, value, *, key=None, store_name=None, context=None) -> dict:
        store = store_for_write(store_name, key, context, filepath=True)
        path = store_relative(store, value)
        spec = store.spec
        for option in ("hash_prefix", "schema_prefix"):
            prefix = (spec.get(option) or "").strip("/")
            if prefix and (path == prefix or path.startswith(prefix + "/")):
                raise DataJointError(f"<filepath@{store.name}> cannot refer to {path!r}: {prefix}/ is the store's "
                                     f"{option} section, managed by DataJoint.")
        prefix = (spec.get("filepath_prefix") or "").strip("/")
        if prefix and not path.startswith(prefix + "/"):
            raise DataJointError(f"<filepath@{store.name}> paths must be under {prefix}/ (filepath_prefix); "
                                 f"got {path!r}.")
        _refuse_links_out_of(store, path)
        try:
            info = store.info(path)
        except FileNotFoundError:
            raise DataJointError(f"File not found in store {store.name!r}: {path}",
                                 hint="<filepath@> refers to files already in the store; copy it there first.") from None
        is_dir = info.get("type") == "directory"
        return {"path": path, "store": store.name, "size": None if is_dir else info.get("size"), "is_dir": is_dir,
                "timestamp": now_iso()}

    def decode(self, stored, *, key=None, context=None):
        from ..storage.objectref import ObjectRef

        metadata = as_metadata(stored, "filepath")
        return ObjectRef(metadata, store_for_read(metadata, key, context, filepath=True))

    def referenced_paths(self, stored) -> list:
        return []  # the files are not managed: deleting a row never removes them
