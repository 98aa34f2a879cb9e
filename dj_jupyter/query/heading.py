"""Headings: the attributes of an expression and the primary-key rules of the algebra.

A heading is an immutable value; every operator derives a new one without
touching the database. ``Attribute.expression`` is SQL (already in the target
dialect) when the attribute is renamed or computed, and None for a plain column.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Iterator

from ..declare.types import DeclaredType, classify
from ..errors import DataJointError


@dataclass(frozen=True)
class Attribute:
    name: str
    type: DeclaredType
    in_key: bool = False
    nullable: bool = False
    default: object = None
    comment: str = ""
    lineage: str | None = None
    expression: str | None = None
    origin: str | None = None  # "schema.table.attribute" where the column lives, for messages
    autoincrement: bool = False
    sql_type: str = ""

    @property
    def is_codec(self) -> bool:
        return self.type.category == "codec"

    @property
    def codec_name(self) -> str | None:
        return self.type.name if self.is_codec else None

    @property
    def store(self) -> str | None:
        return self.type.store

    @property
    def is_blob(self) -> bool:
        """Values that are not shown inline in previews: codecs and raw bytes."""
        return self.is_codec or self.type.name == "bytes" or (
            self.type.category == "native" and ("blob" in self.type.name or "binary" in self.type.name))

    @property
    def numeric(self) -> bool:
        return self.type.category == "core" and (self.type.name.startswith(("int", "float")) or self.type.name == "decimal")

    @property
    def declared(self) -> str:
        return self.type.text

    def todict(self) -> dict:
        return {"name": self.name, "type": self.type.text, "in_key": self.in_key, "nullable": self.nullable,
                "default": self.default, "comment": self.comment, "lineage": self.lineage}


COMPUTED_TYPE = DeclaredType("<computed>", "native", "<computed>")


def computed_attribute(name: str, expression: str, like: Attribute | None = None) -> Attribute:
    """A computed attribute; ``like`` gives it the type of the column it passes through (``max(date)``)."""
    if like is not None and not like.is_codec and not like.is_blob:
        return Attribute(name=name, type=like.type, nullable=True, expression=expression, sql_type=like.sql_type)
    return Attribute(name=name, type=COMPUTED_TYPE, expression=expression)


class Heading:
    """Ordered attributes plus whether lineage is known for them."""

    __slots__ = ("_attributes", "_index", "lineage_available", "table_comment")

    def __init__(self, attributes: Iterable[Attribute], lineage_available: bool = True, table_comment: str = ""):
        ordered = list(attributes)
        self._attributes = tuple(ordered)
        self._index = {a.name: a for a in ordered}
        if len(self._index) != len(ordered):
            names = [a.name for a in ordered]
            duplicate = next(n for n in names if names.count(n) > 1)
            raise DataJointError(f"Attribute `{duplicate}` appears twice in a heading.")
        self.lineage_available = lineage_available
        self.table_comment = table_comment

    # ---- access ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._attributes)

    def __getitem__(self, name: str) -> Attribute:
        try:
            return self._index[name]
        except KeyError:
            raise DataJointError(f"Attribute `{name}` is not in the heading ({', '.join(self.names)}).") from None

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Heading) and self._attributes == other._attributes

    def __hash__(self) -> int:
        return hash(self._attributes)

    @property
    def attributes(self) -> dict[str, Attribute]:
        return dict(self._index)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self._attributes]

    @property
    def primary_key(self) -> list[str]:
        return [a.name for a in self._attributes if a.in_key]

    @property
    def secondary_attributes(self) -> list[str]:
        return [a.name for a in self._attributes if not a.in_key]

    @property
    def blobs(self) -> list[str]:
        return [a.name for a in self._attributes if a.is_blob]

    @property
    def non_blobs(self) -> list[str]:
        return [a.name for a in self._attributes if not a.is_blob]

    @property
    def has_expressions(self) -> bool:
        return any(a.expression is not None for a in self._attributes)

    def determines(self, other: "Heading") -> bool:
        """A determines B when all of B's primary key is in A's heading."""
        return all(name in self._index for name in other.primary_key)

    def __repr__(self) -> str:
        lines = []
        if self.table_comment:
            lines.append(f"# {self.table_comment}")
        separated = False
        for attribute in self._attributes:
            if not attribute.in_key and not separated:
                lines.append("---")
                separated = True
            comment = f"  # {attribute.comment}" if attribute.comment else ""
            kind = attribute.type.text if attribute.expression is None or attribute.type is not COMPUTED_TYPE else (
                f"= {attribute.expression}")
            lines.append(f"{attribute.name:<20} : {kind}{comment}")
        if not separated:
            lines.append("---")
        return "\n".join(lines)

    # ---- derivations -------------------------------------------------------------------
    def with_attributes(self, attributes: Iterable[Attribute]) -> "Heading":
        return Heading(attributes, self.lineage_available, self.table_comment)

    def plain(self) -> "Heading":
        """The heading of a subquery over this one: every attribute becomes a plain column."""
        return self.with_attributes(replace(a, expression=None) for a in self._attributes)

    def project(self, keep: list[str], renames: dict[str, str], computed: dict[str, str], quote,
                sources: dict[str, str] | None = None) -> "Heading":
        """Keep ``keep``, add ``renames`` (new -> old) next to their source, append ``computed``.

        ``sources`` maps a computed name to the attribute whose values it passes through unchanged.
        """
        sources = sources or {}
        result = []
        for attribute in self._attributes:
            if attribute.name in keep:
                result.append(attribute)
            for new, old in renames.items():
                if old == attribute.name:
                    result.append(replace(attribute, name=new, expression=attribute.expression or quote(old)))
        for name, expression in computed.items():
            source = sources.get(name)
            result.append(computed_attribute(name, expression, self[source] if source in self._index else None))
        return self.with_attributes(result)

    def set_primary_key(self, primary_key: list[str]) -> "Heading":
        first = [replace(self[name], in_key=True) for name in primary_key]
        rest = [replace(a, in_key=False) for a in self._attributes if a.name not in primary_key]
        return self.with_attributes(first + rest)

    def join(self, other: "Heading", left: bool = False) -> "Heading":
        """Heading of a join; the primary key follows functional dependency."""
        a_to_b = self.determines(other)
        b_to_a = other.determines(self)
        if a_to_b:
            attributes = self._dependent_join(other, left)
        elif left:  # a left join with a key that may be NULL in part (join(allow_nullable_pk=True))
            own_key = set(self.primary_key)
            other_key = set(other.primary_key)
            attributes = (
                [self[n] for n in self.primary_key]
                + [replace(other[n], in_key=True, nullable=n not in self._index) for n in other.primary_key
                   if n not in own_key]
                + [self[n] for n in self.secondary_attributes if n not in other_key]
                + [replace(other[n], nullable=True) for n in other.secondary_attributes
                   if n not in own_key and n not in self._index]
            )
        elif b_to_a:
            attributes = other._dependent_join(self, False)
        else:
            own_key = set(self.primary_key)
            other_key = set(other.primary_key)
            attributes = (
                [self[n] for n in self.primary_key]
                + [replace(other[n], in_key=True) for n in other.primary_key if n not in own_key]
                + [self[n] for n in self.secondary_attributes if n not in other_key]
                + [other[n] for n in other.secondary_attributes if n not in own_key and n not in self._index]
            )
        return Heading(attributes, self.lineage_available and other.lineage_available, "")

    def _dependent_join(self, dependent: "Heading", nullable: bool) -> list[Attribute]:
        extra = [dependent[n] for n in dependent.names if n not in self._index]
        if nullable:
            extra = [replace(a, in_key=False, nullable=True) for a in extra]
        else:
            extra = [replace(a, in_key=False) for a in extra]
        return [self[n] for n in self.primary_key] + [self[n] for n in self.secondary_attributes] + extra

    def union(self, other: "Heading") -> "Heading":
        """Heading of ``A + B``: same primary key, disjoint secondary attributes, PK(A) first.

        A row present on one side only has NULL in the other side's secondary
        attributes, so every secondary attribute becomes nullable.
        """
        if set(self.primary_key) != set(other.primary_key):
            raise DataJointError("The operands of a union must have the same primary key.",
                                 hint=f"Left: {self.primary_key}; right: {other.primary_key}. "
                                      "Project or restrict them to the same entity set first.")
        shared = set(self.secondary_attributes) & set(other.secondary_attributes)
        if shared:
            raise DataJointError(
                f"The operands of a union must not share secondary attributes ({', '.join(sorted(shared))}).",
                hint="Project them away from one side with proj(..., '-name') or rename them.")
        extra = [replace(other[n], nullable=True) for n in other.secondary_attributes]
        own = [replace(a, nullable=a.nullable or not a.in_key) for a in self._attributes]
        return Heading(own + extra, self.lineage_available and other.lineage_available, "")

    def aggregate(self, group: "Heading", computed: Iterable[str]) -> "Heading":
        """Heading of ``A.aggr(B, ...)``: PK(A), A's kept attributes, then the computed ones.

        Every row of A is one group of B's rows, so B must carry all of A's
        primary key (B -> A); otherwise there is nothing to group by.
        """
        missing = [n for n in self.primary_key if n not in group]
        if missing:
            raise DataJointError(
                f"Cannot aggregate: the aggregated expression lacks {', '.join(missing)} of the grouping "
                f"expression's primary key ({', '.join(self.primary_key)}).",
                hint="Aggregate an expression that depends on the grouping one (e.g. Subject.aggr(Session, ...)), "
                     "or join it first to bring in the missing attributes.")
        names = list(computed)
        for name in names:
            if name in self._index:
                raise DataJointError(f"The aggregate `{name}` has the name of an existing attribute.",
                                     hint="Choose a new name.")
        return self.with_attributes(list(self._attributes) + [computed_attribute(n, "") for n in names])

    def universal(self, primary_key: Iterable[str]) -> "Heading":
        """Heading of ``dj.U(*primary_key) & A``: the listed attributes, all in the key, nothing else."""
        names = list(primary_key)
        missing = [n for n in names if n not in self._index]
        if missing:
            raise DataJointError(f"dj.U attributes {missing} are not in the expression.",
                                 hint=f"Available attributes: {', '.join(self.names)}.")
        return Heading([replace(self[n], in_key=True) for n in names], self.lineage_available, "")


def attribute_from_column(name: str, sql_type: str, comment: str, *, in_key: bool, nullable: bool,
                          default: object, lineage: str | None, autoincrement: bool = False,
                          native_type: str | None = None) -> Attribute:
    """Rebuild an attribute from what the database stores: the ``:type:`` prefix of the comment wins."""
    declared_text = None
    if comment.startswith(":"):
        end = _type_end(comment)
        if end > 0:
            declared_text = comment[1:end]
            comment = comment[end + 1:]
    if declared_text is None:
        declared_text = native_type or sql_type
    try:
        declared = classify(declared_text)
    except DataJointError:
        declared = DeclaredType(declared_text.lower(), "native", declared_text.lower())
    return Attribute(name=name, type=declared, in_key=in_key, nullable=nullable, default=default,
                     comment=comment.strip(), lineage=lineage, autoincrement=autoincrement, sql_type=sql_type)


def _type_end(comment: str) -> int:
    """Index of the colon closing ``:type:`` (colons inside quotes or parentheses do not count)."""
    depth, quote = 0, None
    for i, char in enumerate(comment[1:], start=1):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "(<":
            depth += 1
        elif char in ")>":
            depth -= 1
        elif char == ":" and depth == 0:
            return i
    return -1
