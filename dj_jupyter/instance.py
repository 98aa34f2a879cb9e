"""``dj.Instance``: a configuration and a connection of their own, for several databases or tenants in
one process and for thread-safe mode (``DJ_THREAD_SAFE``), where ``dj.config`` and ``dj.conn()`` refuse."""

from __future__ import annotations

from typing import Any

from .connection import Connection
from .settings import Config


class Instance:
    """A settings object and a connection bound to it. Schemas and tables made through the instance read
    its settings (``safemode``, stores, jobs, display), not ``dj.config``."""

    def __init__(self, host: str | None = None, user: str | None = None, password: str | None = None,
                 port: int | None = None, use_tls: bool | dict | None = None, backend: str | None = None,
                 **settings: Any) -> None:
        self.config = Config()  # defaults, datajoint.json, .secrets and DJ_* variables, read afresh
        if backend is not None:
            self.config["database.backend"] = backend
        for key, value in settings.items():  # safemode=False, database__reconnect=False, stores={...}
            self.config[key.replace("__", ".")] = value
        self.connection = Connection(host, user, password, port, use_tls, backend=backend,
                                     config_override=self.config)

    def Schema(self, schema_name: str, *, context: dict | None = None, create_schema: bool = True,
               create_tables: bool | None = None, add_objects: dict | None = None):
        """A schema on this instance's connection."""
        from .schema import Schema

        return Schema(schema_name, context=context, connection=self.connection, create_schema=create_schema,
                      create_tables=create_tables, add_objects=add_objects)

    def FreeTable(self, full_table_name: str):
        """A table of this instance's database by its full name (``schema.table``)."""
        from .table import FreeTable

        return FreeTable(self.connection, full_table_name)

    def __repr__(self) -> str:
        return f"Instance({self.connection!r})"
