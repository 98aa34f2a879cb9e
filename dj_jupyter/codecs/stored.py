"""Helpers shared by the codecs that keep their values in object stores."""

from __future__ import annotations

import json
from typing import Any

from ..errors import DataJointError


def config_of(key: dict | None, context: dict | None):
    config = (context or {}).get("config") or (key or {}).get("_config")
    if config is None:
        from ..settings import config
    return config


def _cached_store(name: str | None, key, context, filepath: bool):
    """``get_store`` once per insert or fetch: the caller's context dict lives that long."""
    from ..storage.stores import get_store

    cache = context.setdefault("_stores", {}) if isinstance(context, dict) else None
    if cache is not None and (name, filepath) in cache:
        return cache[(name, filepath)]
    store = get_store(name or None, config_of(key, context), use_filepath_default=filepath)
    if cache is not None:
        cache[(name, filepath)] = store
    return store


def store_for_write(store_name: str | None, key, context, *, filepath: bool = False):
    """The :class:`~dj_jupyter.storage.stores.Store` an encode writes to (``""``/``None``: the default)."""
    if store_name is None:
        store_name = (context or {}).get("store")
    return _cached_store(store_name or None, key, context, filepath)


def store_for_read(metadata: dict, key, context, *, filepath: bool = False):
    """The store holding the object described by ``metadata`` (its ``store``, else the attribute's)."""
    name = metadata.get("store") if "store" in metadata else (context or {}).get("store")
    if not name:
        name = (context or {}).get("store") or None
    return _cached_store(name or None, key, context, filepath)


def as_metadata(stored: Any, codec: str) -> dict:
    """The JSON metadata of a stored value as a dict."""
    if isinstance(stored, (bytes, bytearray, memoryview)):
        stored = bytes(stored).decode("utf-8")
    if isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except ValueError:
            raise DataJointError(f"<{codec}> value is not JSON metadata: {stored[:80]!r}") from None
    if not isinstance(stored, dict) or "path" not in stored:
        raise DataJointError(f"<{codec}> value has no object path: {stored!r}"[:300])
    return stored


def schema_table_field(key: dict | None, context: dict | None) -> tuple[str, str, str, dict]:
    """(schema, table, field, primary key) of the value being encoded."""
    key = dict(key or {})
    context = context or {}
    schema = context.get("schema") or key.pop("_schema", None) or "unknown"
    table = context.get("table") or key.pop("_table", None) or "unknown"
    field = context.get("field") or key.pop("_field", None) or "data"
    primary_key = {k: v for k, v in key.items() if not str(k).startswith("_")}
    return schema, table, field, primary_key


def ledger_of(context: dict | None):
    return (context or {}).get("ledger")
