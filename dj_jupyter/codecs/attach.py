"""``<attach>`` / ``<attach@store>``: a file with its name, extracted to the download path on fetch.

Stored bytes: the UTF-8 file name, a NUL byte, then the content (DataJoint's
format), in the table or, with a store, through ``<hash@store>``. On fetch only the
last component of the stored name is used, stripped of separators and control
characters, so nothing is written outside the download folder; an existing file
with other content is never overwritten (``name_1.ext`` ... is used instead).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import DataJointError
from ..storage.paths import safe_local_name
from .base import Codec
from .stored import config_of


class AttachCodec(Codec):
    name = "attach"

    def get_dtype(self, is_store: bool) -> str:
        return "<hash>" if is_store else "bytes"

    def validate(self, value: Any) -> None:
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"<attach> takes the path of a file, got {type(value).__name__}")

    def encode(self, value, *, key=None, store_name=None, context=None) -> bytes:
        path = Path(value)
        if not path.exists():
            raise DataJointError(f"Attachment file not found: {path}")
        if path.is_dir():
            raise DataJointError(f"<attach> takes a file, not the folder {path}.", hint="Use <object@> for folders.")
        return path.name.encode("utf-8") + b"\0" + path.read_bytes()

    def decode(self, stored, *, key=None, context=None) -> str:
        data = bytes(stored) if not isinstance(stored, bytes) else stored
        split = data.find(b"\0")
        if split < 0:
            raise DataJointError("Invalid attachment: no file name.")
        name = safe_local_name(data[:split].decode("utf-8", "replace"))
        content = memoryview(data)[split + 1:]
        folder = (context or {}).get("download_path") or config_of(key, context).get("download_path") or "."
        return str(_save(Path(folder), name, content))


def _save(folder: Path, name: str, content) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, ""
    counter = 0
    while True:
        candidate = name if counter == 0 else f"{stem}_{counter}{'.' + suffix if suffix else ''}"
        target = root / candidate
        if target.parent != root:
            raise DataJointError(f"Refusing to write attachment {name!r} outside {root}.")
        if target.is_symlink() or target.is_dir():
            counter += 1
            continue
        if target.exists():
            if target.stat().st_size == len(content) and target.read_bytes() == content:
                return target
            counter += 1
            continue
        try:
            with open(target, "xb") as f:  # O_EXCL: never follows or replaces an existing entry
                f.write(content)
            return target
        except FileExistsError:
            counter += 1
