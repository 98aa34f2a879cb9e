"""The AutoPopulate mixin of Imported and Computed tables: key_source, make, populate."""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

from ..errors import DataJointError

_populating: contextvars.ContextVar[frozenset] = contextvars.ContextVar("dj_populating", default=frozenset())


def inserting_allowed(table) -> bool:
    """True inside the make() of ``table`` or of its master."""
    active = _populating.get()
    if not active:
        return False
    node = (table.database, table.table_name)
    master = getattr(type(table), "_master", None)
    return node in active or (master is not None and (master.database, master.table_name) in active)


@contextmanager
def allow_inserts(table):
    token = _populating.set(_populating.get() | {(table.database, table.table_name)})
    try:
        yield
    finally:
        _populating.reset(token)


class AutoPopulate:
    """Mixin: compute missing rows from upstream data with ``make(key)``."""

    _key_source = None
    _upstream_key = None
    _upstream = None

    @property
    def upstream(self):
        """Ancestors restricted to the key being made: ``self.upstream[Session].fetch1(...)`` inside make()."""
        if self._upstream_key is None:
            raise DataJointError("self.upstream is only available inside make().",
                                 hint="Outside make(), restrict the ancestor yourself: Ancestor & key.")
        if self._upstream is None:
            from .upstream import Upstream

            self._upstream = Upstream(self, self._upstream_key)
        return self._upstream

    @property
    def key_source(self):
        """Primary keys to compute: the join of the primary-key parents, projected to their keys."""
        if self._key_source is not None:
            return self._key_source
        parents = self.parents(primary=True, as_objects=True, foreign_key_info=True)
        if not parents:
            raise DataJointError(f"{type(self).__name__} has no primary-key parents, so it has no key_source.",
                                 hint="Reference upstream tables in the primary key, or define key_source.")
        source = None
        for parent, info in parents:
            renames = {child: par for child, par in info["attr_map"].items() if child != par}
            projected = parent.proj(**renames) if renames else parent.proj()
            source = projected if source is None else source * projected
        return source

    def make(self, key):
        if hasattr(self, "make_fetch") and hasattr(self, "make_compute") and hasattr(self, "make_insert"):
            from .populate import run_tripartite

            return run_tripartite(self, key)
        raise NotImplementedError(f"{type(self).__name__} must define make(self, key).")

    def populate(self, *restrictions, **kwargs):
        from .populate import populate

        return populate(self, *restrictions, **kwargs)

    def progress(self, *restrictions, display: bool = False):
        from .populate import progress

        return progress(self, *restrictions, display=display)

    @property
    def jobs(self):
        """The job table ``~~name`` of this table (declared on first use)."""
        cached = self.__dict__.get("_jobs")
        if cached is None:
            from .jobtable import JobTable

            cached = JobTable(self)
            self.__dict__["_jobs"] = cached
        return cached
