"""``%%dj manual|lookup|imported|computed``: declaring tables (and their parts and contents) from cells."""

from __future__ import annotations

from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from dj_jupyter.table import from_camel_case, tier_of
from dj_jupyter.tiers import TIERS, Part

from . import display as views
from .confirm import Confirmation
from .helpers import MagicError, count_of, diff_lines, display_name, display_name_from
from .parsing import convert_row, parse_declaration


class DeclarationCommands:
    """The declaration subcommands of :class:`~kernel_magics.magics.DJMagic`."""

    # =============================================================================================
    # declarations
    # =============================================================================================
    @magic_arguments(name="%dj TIER")
    @argument("name", help="the class name (CamelCase), bound in the notebook")
    @argument("--schema", help="dj.Schema variable or active schema name (default: the last %%dj schema)")
    @argument("--make", help="function(s) from the notebook: make, or make_fetch,make_compute,make_insert")
    @argument("--confirm", action="store_true",
              help="apply a changed definition (secondary attributes, comments) without asking")
    def _declare_spec(self, args):
        """Declare a table from the cell body: its definition, then optional `part NAME` blocks and (for
        lookup tables) a `contents` block of comma-separated rows. TIER is manual, lookup, imported or computed.
        Re-running an unchanged cell does nothing; a changed definition is shown and applied after confirmation."""

    def _declare(self, tier: str, rest: str, body: str) -> None:
        args = self._parse(self._declare_spec, rest)
        if args is None:
            return
        name = args.name
        if not name.isidentifier():
            raise MagicError(f"`{name}` is not a class name.", hint="Use CamelCase, e.g. SessionStats.")
        from_camel_case(name)  # raises with a hint if the name is not CamelCase
        cell = parse_declaration(body)
        if cell.contents is not None and tier != "lookup":
            raise MagicError(f"A `contents` block in a {tier} table.", hint="Only lookup tables have contents.")
        schema = self._schema_for(args.schema)
        ns = self.shell.user_ns
        attributes = {"definition": cell.definition, "__module__": "__main__", "__qualname__": name}
        make_names = self._make_functions(tier, args.make, attributes)
        parts = []
        for block in cell.parts:
            if not block.name.isidentifier():
                raise MagicError(f"`{block.name}` is not a part class name.")
            from_camel_case(block.name)
            part = type(block.name, (Part,), {"definition": block.definition, "__module__": "__main__",
                                               "__qualname__": f"{name}.{block.name}"})
            attributes[block.name] = part
            parts.append(part)
        cls = type(name, (TIERS[tier],), attributes)
        cls._dj_make_functions = make_names
        for part in parts:
            part._master = cls
        connection = schema.connection
        existing = set(connection.backend.list_tables(connection, schema.database))
        tables = [cls] + parts
        was_declared = {t: t.table_name in existing for t in tables}
        schema(cls, context=ns)

        changes = []
        for table in tables:
            if was_declared[table]:
                plan = table().alter_statements(context=table.declaration_context)
                if plan.statements:
                    changes.append((table, plan))
        ns[name] = cls
        has_contents = cell.contents is not None

        notes = self._declaration_notes(cls, tables, existing)
        new = [display_name(t) for t in tables if not was_declared[t]]
        kept = [display_name(t) for t in tables if was_declared[t] and all(t is not c[0] for c in changes)]
        if new:
            print(f"Declared {', '.join(new)} ({tier}) in `{schema.database}`.")
        if kept and not changes:
            print(f"{', '.join(kept)}: the table{'s match' if len(kept) > 1 else ' matches'} this definition.")
        for note in notes:
            print(note)
        if not changes:
            if has_contents:
                print(self._insert_contents(cls, self._contents_rows(cls, cell.contents)))
            return

        def apply() -> str:
            done = []
            for table, plan in changes:
                table().alter(prompt=False, context=table.declaration_context)
                done.append(f"{display_name(table)} ({plan.summary.replace(chr(10), ', ')})")
            message = "Altered " + "; ".join(done) + "."
            if has_contents:  # read against the altered heading
                message += "\n" + self._insert_contents(cls, self._contents_rows(cls, cell.contents))
            return message

        def still_valid() -> str | None:
            for table, plan in changes:
                fresh = table().alter_statements(context=table.declaration_context)
                if fresh.statements != plan.statements:
                    return "The table changed since this preview; nothing was altered. Run the cell again."
            return None

        lines = []
        for table, plan in changes:
            lines += diff_lines(table, plan)
        dropped = [f"{display_name(t)}.{n}" for t, p in changes for n in p.dropped]
        warning = (f"Applying drops {', '.join(dropped)} and the values stored there.") if dropped else None
        title = f"{name}: the definition differs from the table in `{schema.database}`:"
        if args.confirm:
            display(views.diff_view(title, lines, warning=warning))
            print(apply())
            return
        confirmation = Confirmation(title, apply, confirm_label="Apply changes" + (" (drops data)" if dropped else ""),
                                    cancel_label="Keep the table as is", still_valid=still_valid, danger=bool(dropped))
        self._ask(confirmation, views.diff_view(title, lines, warning=warning, note=self._confirm_note(
            "Apply changes", "this cell")))

    def _make_functions(self, tier: str, spec: str | None, attributes: dict) -> dict:
        if not spec:
            return {}
        if tier not in ("imported", "computed"):
            raise MagicError(f"--make is for imported and computed tables, not {tier} ones.")
        names = [n.strip() for n in spec.split(",") if n.strip()]
        if len(names) == 1:
            roles = ["make"]
        elif len(names) == 3:
            roles = ["make_fetch", "make_compute", "make_insert"]
        else:
            raise MagicError(f"--make takes one function or three (make_fetch,make_compute,make_insert), "
                             f"got {len(names)}.")
        bound = {}
        for role, function_name in zip(roles, names):
            function = self.shell.user_ns.get(function_name)
            if function is None:
                raise MagicError(f"--make: `{function_name}` is not defined in the notebook.",
                                 hint=f"Define `def {function_name}(self, key): ...` in a cell above and run it.")
            if not callable(function):
                raise MagicError(f"--make: `{function_name}` is not a function.")
            attributes[role] = function
            bound[role] = function_name
        return bound

    def _contents_rows(self, cls, rows) -> list[dict]:
        heading = cls().heading
        attributes = [heading[n] for n in heading.names]
        return [convert_row(row, attributes, number) for number, row in enumerate(rows, start=1)]

    @staticmethod
    def _insert_contents(cls, rows: list[dict]) -> str:
        cls.contents = [dict(r) for r in rows]
        table = cls()
        before = len(table)
        with table.connection.atomic():
            table.insert(rows, skip_duplicates=True)
        added = len(table) - before
        return f"{cls.__name__} contents: {count_of(len(rows), 'row')}, {added} new."

    @staticmethod
    def _declaration_notes(cls, tables, existing: set[str]) -> list[str]:
        notes = []
        stem = from_camel_case(cls.__name__)
        cell_names = {t.table_name for t in tables}
        for other in sorted(existing):
            if other != cls.table_name and other.lstrip("#_") == stem and "__" not in other.lstrip("_"):
                notes.append(f"Note: a {tier_of(other)} table `{other}` with this name also exists; it was left "
                             "as it is.")
            if other.startswith(cls.table_name + "__") and other not in cell_names and not other.startswith("~"):
                notes.append(f"Note: the part table {display_name_from(other)} is not in this cell; it stays in the "
                             "database with its rows.")
        return notes
