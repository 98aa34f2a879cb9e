"""The code version recorded with every computed row."""

from __future__ import annotations

import functools
import hashlib
import inspect
import subprocess
from pathlib import Path



@functools.lru_cache(maxsize=256)
def _git_commit(directory: str) -> str:
    try:
        result = subprocess.run(["git", "-C", directory, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ""
    if result.returncode != 0:
        return ""
    dirty = subprocess.run(["git", "-C", directory, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5)
    return result.stdout.strip() + ("-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def _source_hash(table_class) -> str:
    parts = []
    for name in ("make", "make_fetch", "make_compute", "make_insert", "key_source"):
        member = getattr(table_class, name, None)
        if member is None:
            continue
        target = member.fget if isinstance(member, property) else member
        try:
            parts.append(inspect.getsource(target))
        except (OSError, TypeError):
            code = getattr(target, "__code__", None)
            if code is not None:  # no source file (e.g. exec'd code): hash the compiled code instead
                parts.append(repr((code.co_code, code.co_consts, code.co_names)))
    if not parts:
        return ""
    return "src-" + hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


def code_version(table) -> str:
    """Git commit of the package defining the table, else a hash of its make source (``jobs.version_method``)."""
    method = table.connection.config["jobs.version_method"]
    if method == "none":
        return ""
    table_class = type(table)
    functions = tuple(id(getattr(table_class, name, None)) for name in _MAKE_NAMES)
    return _class_version(table_class, method, functions)


_MAKE_NAMES = ("make", "make_fetch", "make_compute", "make_insert")


@functools.lru_cache(maxsize=1024)
def _class_version(table_class, method, functions) -> str:
    """Computed once per class, method and set of make functions (a notebook may rebind make)."""
    try:
        module_file = inspect.getsourcefile(table_class)
    except (TypeError, OSError):
        module_file = None
    if module_file:
        commit = _git_commit(str(Path(module_file).resolve().parent))
        if commit:
            return commit[:64]
    if method == "git":
        return ""
    return _source_hash(table_class)[:64]
