"""Database backends; the only modules that know an SQL dialect."""

from __future__ import annotations

from ..errors import DataJointError
from .base import Backend

_MODULES = {
    "sqlite": ("sqlite", "SQLiteBackend"),
    "postgresql": ("postgres", "PostgresBackend"),
    "mysql": ("mysql", "MySQLBackend"),
}


def get_backend(name: str) -> Backend:
    """The backend object for ``name`` (sqlite, postgresql or mysql)."""
    try:
        module_name, class_name = _MODULES[name]
    except KeyError:
        raise DataJointError(f"Unknown database backend {name!r}.",
                             hint="Use 'sqlite', 'postgresql' or 'mysql'.") from None
    import importlib

    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ImportError as error:
        extra = {"postgresql": "postgres", "mysql": "mysql"}.get(name, name)
        raise DataJointError(f"The {name} backend needs a driver that is not installed ({error}).",
                             hint=f"pip install 'dj-jupyter[{extra}]'") from None
    return getattr(module, class_name)()
