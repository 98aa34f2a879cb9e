"""Regenerate a table's definition from the database (the inverse of declaration)."""

from __future__ import annotations

from ..query.heading import Attribute


def _class_name_for(connection, node, context: dict | None, own_schema: str) -> str:
    """How the definition should name a referenced table: a class in context, else schema.Class."""
    from ..table import to_camel_case

    schema, table = node
    if context:
        for name, value in context.items():
            if isinstance(value, type) and getattr(value, "database", None) == schema:
                try:
                    if value.table_name == table:
                        return name
                except Exception:
                    continue
                for part_name, part in vars(value).items():
                    if isinstance(part, type) and getattr(part, "_master", None) is value:
                        try:
                            if part.table_name == table:
                                return f"{name}.{part_name}"
                        except Exception:
                            continue
    parts = table.lstrip("#_").split("__")
    class_name = ".".join(to_camel_case(p) for p in parts)
    return class_name if schema == own_schema else f"{schema}.{class_name}"


def _format_default(attribute: Attribute) -> str:
    default = attribute.default
    if attribute.nullable:
        return "null"
    if default is None:
        return ""
    return default.as_text()


def describe_table(table, context: dict | None = None) -> str:
    connection = table.connection
    backend = connection.backend
    heading = _full_heading(table)
    node = (table.database, table.table_name)
    edges = connection.dependencies.parents(node)
    indexes = backend.indexes(connection, table.database, table.table_name)
    context = context if context is not None else (table.declaration_context or {})
    lines = []
    comment = heading.table_comment
    if comment:
        lines.append(f"# {comment}")
    emitted_edges = set()
    in_key = True
    unique_fk_indexes = set()
    # A foreign key is written once all its columns have been seen (as DataJoint does), so that
    # overlapping references (a part's `-> master` and `-> Other.Part`) are all regenerated.
    positions = {a.name: i for i, a in enumerate(heading._attributes)}
    edges = sorted(edges, key=lambda e: min(positions.get(c, len(positions)) for c, _ in e.columns))
    seen: set[str] = set()
    for attribute in heading._attributes:
        if attribute.name.startswith("_"):
            continue
        if in_key and not attribute.in_key:
            lines.append("---")
            in_key = False
        seen.add(attribute.name)
        covering = [e for e in edges if attribute.name in dict(e.columns)]
        for edge in covering:
            if id(edge) in emitted_edges or not all(c in seen for c, _ in edge.columns):
                continue
            emitted_edges.add(id(edge))
            columns = tuple(c for c, _ in edge.columns)
            options = []
            if any(heading[c].nullable for c in columns if c in heading):
                options.append("nullable")
            if (columns, True) in indexes:
                options.append("unique")
                unique_fk_indexes.add(columns)
            reference = _class_name_for(connection, edge.parent, context, table.database)
            renames = [(c, p) for c, p in edge.columns if c != p]
            if renames:
                reference += ".proj(" + ", ".join(f"{c}='{p}'" for c, p in renames) + ")"
            option_text = f"[{', '.join(options)}] " if options else ""
            lines.append(f"-> {option_text}{reference}")
        if covering:
            continue
        default = _format_default(attribute)
        text = attribute.name + (f" = {default}" if default else "") + f" : {attribute.type.text}"
        if attribute.comment:
            text += f"  # {attribute.comment}"
        lines.append(text)
    if in_key:
        lines.append("---")
    for columns, unique in indexes:
        if unique and columns in unique_fk_indexes:
            continue
        if not unique and any(tuple(c for c, _ in e.columns) == columns for e in edges):
            continue
        lines.append(f"{'unique ' if unique else ''}index({', '.join(columns)})")
    return "\n".join(lines) + "\n"


def _full_heading(table):
    from ..table import load_heading

    return load_heading(table.connection, table.database, table.table_name, include_hidden=True)
