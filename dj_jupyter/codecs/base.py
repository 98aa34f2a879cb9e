"""Codecs: user-extensible attribute types written ``<name>`` or ``<name@store>``.

A codec turns a Python value into a value of its storage type (a core type or
another codec) and back. Subclasses register themselves by ``name``; codecs in
other packages register through the ``dj_jupyter.codecs`` entry-point group
(DataJoint's ``datajoint.codecs`` group is read too).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from typing import Any

from ..declare.types import DeclaredType, classify
from ..errors import DataJointError

logger = logging.getLogger("dj_jupyter")

_registry: dict[str, "Codec"] = {}
_entry_points_loaded = False
ENTRY_POINT_GROUPS = ("dj_jupyter.codecs", "datajoint.codecs")


class Codec:
    """Base class of codecs; set ``name`` and implement ``get_dtype``, ``encode``, ``decode``."""

    name: str | None = None

    def __init_subclass__(cls, *, register: bool = True, **kwargs):
        super().__init_subclass__(**kwargs)
        if not register or cls.__dict__.get("name") is None:
            return
        if not isinstance(cls.name, str) or not cls.name.isidentifier():
            raise DataJointError(f"Codec name must be an identifier, got {cls.name!r}.")
        existing = _registry.get(cls.name)
        if existing is not None and type(existing).__qualname__ != cls.__qualname__:
            raise DataJointError(f"Codec <{cls.name}> is already registered by {type(existing).__module__}."
                                 f"{type(existing).__qualname__}.", hint="Choose another codec name.")
        _registry[cls.name] = cls()

    def get_dtype(self, is_store: bool) -> str:
        raise NotImplementedError(f"Codec <{self.name}> must implement get_dtype(is_store).")

    def encode(self, value: Any, *, key: dict | None = None, store_name: str | None = None) -> Any:
        raise NotImplementedError(f"Codec <{self.name}> must implement encode().")

    def decode(self, stored: Any, *, key: dict | None = None) -> Any:
        raise NotImplementedError(f"Codec <{self.name}> must implement decode().")

    def validate(self, value: Any) -> None:
        """Raise TypeError or ValueError for values this codec cannot store."""

    @staticmethod
    def _codec_config(key: dict | None = None, context: dict | None = None):
        """The configuration a codec call should use: the caller's, else ``dj.config``."""
        config = (context or {}).get("config") or (key or {}).get("_config")
        if config is None:
            from ..settings import config
        return config

    def referenced_paths(self, stored: Any) -> list[tuple[str, str | None]]:
        """Store paths that a stored value refers to, as (path, store) pairs."""
        value = stored
        if isinstance(value, (str, bytes)):
            try:
                value = json.loads(value)
            except (ValueError, TypeError):
                return []
        if isinstance(value, dict) and "path" in value:
            return [(value["path"], value.get("store"))]
        return []

    def __repr__(self) -> str:
        return f"<codec {self.name}>"


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for group in ENTRY_POINT_GROUPS:
        for entry in entry_points(group=group):
            if entry.name in _registry:
                continue
            try:
                loaded = entry.load()
            except Exception as error:
                logger.warning("Codec entry point %s (%s) failed to load: %s", entry.name, entry.value, error)
                continue
            if inspect.isclass(loaded) and issubclass(loaded, Codec) and entry.name not in _registry:
                _registry[entry.name] = loaded()
            elif entry.name not in _registry and hasattr(loaded, "encode") and hasattr(loaded, "decode"):
                _registry[entry.name] = loaded() if inspect.isclass(loaded) else loaded


def get_codec(name: str) -> Codec:
    if name not in _registry:
        _load_entry_points()
    try:
        return _registry[name]
    except KeyError:
        raise DataJointError(f"Codec <{name}> is not registered.",
                             hint=f"Define `class MyCodec(dj.Codec): name = '{name}'` or install the package providing it.") from None


def list_codecs() -> list[str]:
    _load_entry_points()
    return sorted(_registry)


def is_codec_registered(name: str) -> bool:
    _load_entry_points()
    return name in _registry


def unregister_codec(name: str) -> None:
    _registry.pop(name, None)


@functools.lru_cache(maxsize=1024)
def _resolve(text: str, inherited_store: str | None) -> tuple[tuple[Codec, ...], DeclaredType, str | None]:
    declared = classify(text)
    if declared.category != "codec":
        return (), declared, inherited_store
    store = declared.store if declared.store is not None else inherited_store
    codec = get_codec(declared.name)
    inner = codec.get_dtype(store is not None)
    chain, final, final_store = _resolve(inner, store)
    return (codec,) + chain, final, final_store


def resolve(declared: DeclaredType) -> tuple[tuple[Codec, ...], DeclaredType, str | None]:
    """Follow a codec chain to its storage type: (codecs outermost first, storage type, store)."""
    if declared.category != "codec":
        return (), declared, None
    seen: set[str] = set()
    text = declared.text
    while True:
        current = classify(text)
        if current.category != "codec":
            break
        if current.name in seen:
            raise DataJointError(f"Codec <{current.name}> refers to itself through its dtype chain.")
        seen.add(current.name)
        text = get_codec(current.name).get_dtype(current.store is not None or declared.store is not None)
    return _resolve(declared.text, None)


@functools.lru_cache(maxsize=None)
def accepts_keyword(function, name: str) -> bool:
    """Whether a codec method declares ``name`` (older codecs do not take ``context``)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
