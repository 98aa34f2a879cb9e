"""Errors raised by dj_jupyter.

Every message says what went wrong and what to do next. The class names and
hierarchy are DataJoint 2.3's, so ``except dj.DataJointError`` and friends in
existing user code keep working.
"""

from __future__ import annotations


class DataJointError(Exception):
    """Base class of every error this library raises on purpose."""

    def __init__(self, message: str = "", *, hint: str | None = None):
        self.hint = hint
        super().__init__(message if not hint else f"{message}\nHint: {hint}")

    @property
    def message(self) -> str:
        return str(self)

    def suggest(self, *args: object) -> "DataJointError":
        """Return the same kind of error with more explanation appended."""
        return self.__class__(" ".join(str(a) for a in (self.args + args)))


class LostConnectionError(DataJointError):
    """The database server went away and the operation could not be retried."""


class QueryError(DataJointError):
    """The database refused a query."""


class QuerySyntaxError(QueryError):
    """A query or restriction could not be parsed."""


class TransactionConflictError(QueryError):
    """A deadlock, serialization failure or lock timeout: the transaction was rolled back and may simply be
    run again (``populate`` does so by itself)."""


class AccessError(QueryError):
    """The database user lacks a privilege the operation needs."""


class MissingTableError(DataJointError):
    """A table is used before it was declared."""


class DuplicateError(QueryError):
    """An insert collides with an existing primary key or unique index."""


class IntegrityError(QueryError):
    """A foreign key constraint would be violated."""


class UnknownAttributeError(QueryError):
    """An attribute name is not in the heading."""


class MissingAttributeError(QueryError):
    """A required attribute was not given a value."""


class MissingExternalFile(DataJointError):
    """An object referenced by a row is missing from its store."""


class BucketInaccessible(DataJointError):
    """An object store bucket cannot be reached."""


class SemanticMatchError(DataJointError):
    """Same-named attributes with different lineages met in a binary operator."""


class StaleDataError(DataJointError):
    """Upstream data changed between make_fetch and make_insert."""


class ThreadSafetyError(DataJointError):
    """Process-wide state (``dj.config``, ``dj.conn()``) was used while ``DJ_THREAD_SAFE`` forbids it."""
