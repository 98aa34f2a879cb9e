"""The table tiers users subclass: Manual, Lookup, Imported, Computed and Part.

The tier decides the table-name prefix (DataJoint's on-disk convention):
``#`` lookup, ``_`` imported, ``__`` computed, ``master__part`` for parts.
"""

from __future__ import annotations

from .errors import DataJointError
from .jobs.autopopulate import AutoPopulate
from .table import Table, TableMeta, from_camel_case


class UserTable(Table):
    _is_base_tier = True


class Manual(UserTable):
    """Rows entered by people or by acquisition software."""

    _is_base_tier = True
    _prefix = ""
    tier = "manual"


class Lookup(UserTable):
    """Small reference tables, typically filled from ``contents`` at declaration."""

    _is_base_tier = True
    _prefix = "#"
    tier = "lookup"
    contents = None


class Imported(UserTable, AutoPopulate):
    """Rows computed by ``make()`` from data outside the database."""

    _is_base_tier = True
    _prefix = "_"
    tier = "imported"


class Computed(UserTable, AutoPopulate):
    """Rows computed by ``make()`` from other tables."""

    _is_base_tier = True
    _prefix = "__"
    tier = "computed"


class PartMeta(TableMeta):
    @property
    def table_name(cls) -> str | None:
        virtual = cls.__dict__.get("_virtual_table_name")
        if virtual:
            return virtual
        master = cls._master
        if master is None:
            return None
        return master.table_name + "__" + from_camel_case(cls.__name__)

    @property
    def master(cls):
        return cls._master


class Part(UserTable, metaclass=PartMeta):
    """Rows that belong to a row of their master table and are inserted with it."""

    _is_base_tier = True
    _master = None
    tier = "part"

    @property
    def master(self):
        return type(self)._master

    @property
    def _master_tier(self):
        return self.master.tier if self.master is not None else None

    def delete(self, transaction: bool = True, prompt: bool | None = None, part_integrity: str = "enforce",
               dry_run: bool = False):
        if part_integrity == "enforce" and not dry_run:
            raise DataJointError(f"Cannot delete from the part table {type(self).__name__} directly.",
                                 hint="Delete from its master, or pass part_integrity='cascade' (also deletes the "
                                      "masters) or 'ignore'.")
        return super().delete(transaction=transaction, prompt=prompt, part_integrity=part_integrity, dry_run=dry_run)

    def drop(self, prompt: bool | None = None, part_integrity: str = "enforce"):
        if part_integrity == "enforce":
            raise DataJointError(f"Cannot drop the part table {type(self).__name__} directly.",
                                 hint="Drop its master, or pass part_integrity='ignore'.")
        if part_integrity != "ignore":
            raise ValueError("part_integrity for drop must be 'enforce' or 'ignore'.")
        return super().drop(prompt=prompt, part_integrity="ignore")


Entry = Manual
Ingest = Imported
Compute = Computed

TIERS = {"manual": Manual, "lookup": Lookup, "imported": Imported, "computed": Computed, "part": Part}
