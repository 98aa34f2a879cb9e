"""Plan the change from a declared table to a new definition.

Only what can change in place without losing data is planned: added, removed or
modified secondary attributes and comments. Changes to the primary key or to
foreign keys are refused with an explanation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import DataJointError
from .ddl import build_declaration


@dataclass
class AlterPlan:
    statements: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    comment_changed: bool = False

    @property
    def summary(self) -> str:
        lines = [f"+ {name}" for name in self.added] + [f"- {name}" for name in self.dropped] + \
                [f"~ {name}" for name in self.changed]
        if self.comment_changed:
            lines.append("~ table comment")
        return "\n".join(lines) or "(no changes)"

    @property
    def drops_data(self) -> bool:
        return bool(self.dropped or self.changed)


def plan_alter(table, definition: str, context: dict) -> AlterPlan:
    from ..table import load_heading, resolve_reference

    connection = table.connection
    backend = connection.backend
    declaration = build_declaration(table.database, table.table_name, definition,
                                    lambda fk: resolve_reference(fk, context, table))
    new = declaration.ddl
    old = load_heading(connection, table.database, table.table_name, include_hidden=True)
    old_key = [a.name for a in old._attributes if a.in_key]
    if new.primary_key != old_key:
        raise DataJointError(f"The new definition changes the primary key of {table.table_name} "
                             f"({', '.join(old_key)} -> {', '.join(new.primary_key)}).",
                             hint="The primary key cannot be altered in place; create a new table and copy the rows.")
    node = (table.database, table.table_name)
    old_fks = sorted((e.parent, e.columns) for e in connection.dependencies.parents(node))
    new_fks = sorted((fk.parent, fk.columns) for fk in new.foreign_keys)
    if old_fks != new_fks:
        raise DataJointError(f"The new definition changes the foreign keys of {table.table_name}.",
                             hint="Foreign keys cannot be altered in place; create a new table and copy the rows.")
    plan = AlterPlan()
    old_columns = {a.name: a for a in old._attributes}
    new_columns = {c.name: c for c in new.columns}
    added = [c for c in new.columns if c.name not in old_columns]
    dropped = [n for n in old_columns if n not in new_columns and not n.startswith("_")]
    changed = []
    for column in new.columns:
        before = old_columns.get(column.name)
        if before is None or before.in_key:
            continue
        old_comment = (f":{before.type.text}:" if before.type.category in ("core", "codec") else "") + before.comment
        if column.comment != old_comment or column.nullable != before.nullable:
            changed.append(column)
    comment = new.comment if new.comment != old.table_comment else None
    plan.added = [c.name for c in added]
    plan.dropped = dropped
    plan.changed = [c.name for c in changed]
    plan.comment_changed = comment is not None
    if added or dropped or changed or comment is not None:
        plan.statements = backend.alter_sql(table.database, table.table_name, added, changed, dropped, comment)
    return plan
