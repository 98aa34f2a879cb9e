"""``%dj`` and ``%%dj``: declare, query, populate and inspect a pipeline from notebook cells.

One ``Magics`` class. Every subcommand has an IPython ``magic_arguments`` parser
(``%dj SUBCOMMAND --help``); settings are traitlets, so ``%config DJMagic`` lists
them and ``%config DJMagic.short_errors = False`` changes one. The magics parse,
call the library and display: tables declared here are ordinary DataJoint classes
bound to an ordinary ``dj.Schema``, exactly as if declared in a module.
"""

from __future__ import annotations

import difflib
import getpass
import html
import inspect
import keyword
import re
import time
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from traitlets import Bool, Float, Int, Unicode
from traitlets.config.configurable import Configurable

import dj_jupyter as dj
from dj_jupyter.errors import DataJointError
from dj_jupyter.query.expression import QueryExpression
from dj_jupyter.settings import config
from dj_jupyter.table import FreeTable, Table, from_camel_case, tier_of, to_camel_case
from dj_jupyter.tiers import TIERS, Part

from . import display as views
from .confirm import Confirmation
from .parsing import convert_row, parse_declaration, scan, split_options

DECLARATION_TIERS = ("manual", "lookup", "imported", "computed")


class MagicError(DataJointError):
    """A magic could not do what the cell asks (shown as a short message, like DataJoint's errors)."""


OVERVIEW = """\
%dj / %%dj: DataJoint pipelines from notebook cells (%load_ext dj_jupyter).

  %dj connect [--backend B] [--host H] [--port P] [--user U] [--path FILE]
  %dj schema NAME [--as VAR] [--spawn]
  %%dj manual|lookup|imported|computed NAME [--schema S] [--make F[,F2,F3]] [--confirm]
      <definition>  [part NAME <definition>]...  [contents <rows>]
  %%dj [-o NAME] [--limit N] [--order-by ATTR]      (body: a query expression)
  %dj populate TABLE [RESTRICTION] [--processes N] [--reserve-jobs] [--suppress-errors]
  %dj jobs [TABLE|SCHEMA]     %dj status [SCHEMA]     %dj describe TABLE
  %dj diagram [SCHEMA|TABLE]  %dj delete EXPRESSION [--part-integrity M] [--confirm]

Each subcommand takes --help. Settings: %config DJMagic.
"""


@magics_class
class DJMagic(Magics, Configurable):
    """The ``%dj`` line magic and the ``%%dj`` cell magic."""

    short_errors = Bool(True, config=True, help="Show DataJoint errors as a short message with their hint; "
                                                "False shows the full Python traceback.")
    default_limit = Int(None, allow_none=True, config=True,
                        help="Rows a query cell shows (None: dj.config['display.limit']).")
    schema_variable = Unicode("schema", config=True,
                              help="Variable that %dj schema binds (unless --as is given), and the schema "
                                   "that declaration cells use when no %dj schema ran in this kernel.")
    widgets = Bool(True, config=True, help="Use ipywidgets buttons and the dj_jupyter.jupyter widgets when they "
                                           "are installed; False shows plain output and asks for --confirm.")
    progress_after = Float(1.0, config=True, help="Seconds a populate runs before its text progress line appears "
                                                  "(when no progress panel widget is available).")

    def __init__(self, shell=None, **kwargs):
        Configurable.__init__(self, config=shell.config)
        Magics.__init__(self, shell=shell, **kwargs)
        shell.configurables.append(self)
        self.current_schema = None
        self.last_confirmation: Confirmation | None = None

    # =============================================================================================
    # entry point
    # =============================================================================================
    @no_var_expand  # restrictions such as {'subject_id': 1} and '$' reach Python as typed
    @line_cell_magic
    def dj(self, line: str = "", cell: str | None = None):
        """DataJoint from notebook cells. ``%dj --help`` lists the subcommands."""
        try:
            if cell is None:
                self._run_line(line)
            else:
                self._run_cell(line, cell)
        except DataJointError as error:
            if self.short_errors:
                raise _shortened(error) from None
            raise

    def _run_line(self, line: str) -> None:
        tokens = scan(line)
        if not tokens or tokens[0].text in ("-h", "--help", "help"):
            print(OVERVIEW, end="")
            return
        command, rest = tokens[0].text, line[tokens[0].end:]
        handler = self._line_commands().get(command)
        if handler is not None:
            handler(rest)
            return
        if command in DECLARATION_TIERS:
            if any(t.text in ("-h", "--help") for t in tokens[1:]):
                self._parse(self._declare_spec, "--help")
                return
            raise UsageError(f"%dj {command} declares a table from a cell: write %%dj {command} NAME on the first "
                             "line of a cell and the definition below it.")
        if re.fullmatch(r"[a-z]+", command) and command not in self.shell.user_ns:
            close = difflib.get_close_matches(command, list(self._line_commands()), n=1)
            hint = f" Did you mean `%dj {close[0]}`?" if close else ""
            raise UsageError(f"Unknown %dj subcommand `{command}`.{hint} (%dj --help lists them.)")
        self._query(line, "")

    def _run_cell(self, line: str, cell: str) -> None:
        tokens = scan(line)
        command = tokens[0].text if tokens else ""
        rest = line[tokens[0].end:] if tokens else ""
        if command in ("-h", "--help") and len(tokens) == 1:
            print(OVERVIEW, end="")
            return
        if command in DECLARATION_TIERS:
            self._declare(command, rest, cell)
        elif command == "query":
            self._query(rest, cell)
        elif command == "delete":
            self._delete(rest, cell)
        elif not command or command.startswith("-"):
            self._query(line, cell)
        elif command in self._line_commands():
            raise UsageError(f"`{command}` is a line command: write %dj {command} ... on one line.")
        else:
            raise UsageError(f"Unknown %%dj cell kind `{command}`: use manual, lookup, imported or computed to "
                             "declare a table, or write a query expression with no subcommand.")

    def _line_commands(self) -> dict:
        return {"connect": self._connect, "schema": self._schema_command, "populate": self._populate,
                "jobs": self._jobs, "status": self._status, "describe": self._describe, "diagram": self._diagram,
                "delete": lambda rest: self._delete(rest, ""), "query": lambda rest: self._query(rest, "")}

    # ---- argument parsing ------------------------------------------------------------------------
    def _parse(self, spec, text: str):
        """Parse ``text`` with the parser of ``spec`` (a magic_arguments-decorated function).

        Returns None after printing the help when -h/--help is given.
        """
        parser = spec.parser
        options, positionals, wants_help = split_options(text, parser)
        if wants_help:
            print(parser.format_help().replace("::\n\n  ", "usage: ", 1), end="")
            return None
        takes_positionals = any(not action.option_strings for action in parser._actions)  # noqa: SLF001
        if positionals and not takes_positionals:
            raise UsageError(f"{parser.prog} takes only options (see {parser.prog} --help).")
        return parser.parse_args(options + (["--"] + positionals if positionals else []))

    # =============================================================================================
    # connect and schema
    # =============================================================================================
    @magic_arguments(name="dj connect")
    @argument("--backend", help="sqlite (default), postgresql or mysql; default: dj.config['database.backend']")
    @argument("--host", help="database server host (default: dj.config['database.host'])")
    @argument("--port", type=int, help="server port (default: the backend's)")
    @argument("--user", help="database user (default: dj.config['database.user'])")
    @argument("--path", help="SQLite database file (default: dj.config['database.path'])")
    @argument("--prompt", action="store_true",
              help="ask for the password (hidden) even when one is configured")
    def _connect_spec(self, args):
        """Connect to the database. The password comes from dj.config (DJ_PASS, .secrets/database.password)
        or a hidden prompt; it is never an option, never printed and never stored in the notebook."""

    def _connect(self, rest: str) -> None:
        if any(t.text.split("=")[0] in ("--password", "--pass", "-p", "--passwd") for t in scan(rest)):
            raise UsageError("Passwords never go on the %dj line (they would be saved in the notebook). Put it in "
                             ".secrets/database.password or DJ_PASS, or let %dj connect ask for it (--prompt).")
        args = self._parse(self._connect_spec, rest)
        if args is None:
            return
        given = any(v not in (None, False) for v in vars(args).values())
        existing = _existing_connection()
        if existing is not None and not given:
            print(f"Connected to {_target(existing)}")
            return
        connection = self._open_connection(args)
        print(f"Connected to {_target(connection)}")

    def _open_connection(self, args=None):
        """A new process-wide connection from ``args`` over dj.config (which keeps the non-secret settings)."""
        backend = getattr(args, "backend", None)
        if backend:
            config["database.backend"] = backend  # validates and normalizes (postgres -> postgresql)
        backend = config["database.backend"]
        for key, value in (("host", getattr(args, "host", None)), ("port", getattr(args, "port", None)),
                           ("user", getattr(args, "user", None))):
            if value is not None:
                config[f"database.{key}"] = value
        path = getattr(args, "path", None)
        if path:
            config["database.path"] = str(Path(path).expanduser().resolve())
        self.current_schema = None
        if backend == "sqlite":
            return dj.conn(reset=True, backend="sqlite", path=config["database.path"], quiet=True)
        host, user, port = config["database.host"], config["database.user"], config["database.port"]
        password = None if getattr(args, "prompt", False) else config["database.password"]
        if password is None and (user or getattr(args, "prompt", False)):
            password = _ask_password(user, host)
        return dj.conn(host, user, password, reset=True, backend=backend, port=port)

    def _connection(self):
        """The current connection, made from dj.config when there is none yet."""
        existing = _existing_connection()
        if existing is not None:
            return existing
        connection = self._open_connection(None)
        print(f"Connected to {_target(connection)}")
        return connection

    @magic_arguments(name="dj schema")
    @argument("name", help="database schema name")
    @argument("--as", dest="variable", help="variable to bind the dj.Schema to (default: %%config "
                                            "DJMagic.schema_variable, 'schema')")
    @argument("--spawn", action="store_true", help="also create classes for tables that have none in the notebook")
    def _schema_spec(self, args):
        """Activate a schema for the following %%dj cells (creating it if needed) and bind it to a variable."""

    def _schema_command(self, rest: str) -> None:
        args = self._parse(self._schema_spec, rest)
        if args is None:
            return
        variable = args.variable or self.schema_variable
        if not variable.isidentifier() or keyword.iskeyword(variable):
            raise UsageError(f"`{variable}` is not a valid variable name.")
        connection = self._connection()
        schema = connection.schemas.get(args.name)
        if not isinstance(schema, dj.Schema) or schema.connection is not connection:
            schema = dj.Schema(args.name, connection=connection)
        self.shell.user_ns[variable] = schema
        self.current_schema = schema
        tables = [t for t in schema.list_tables()]
        summary = f"Schema `{schema.database}` is active ({_count(len(tables), 'table')}); bound to `{variable}`."
        print(summary)
        if args.spawn:
            before = set(self.shell.user_ns)
            schema.spawn_missing_classes(context=self.shell.user_ns)
            spawned = sorted(set(self.shell.user_ns) - before)
            if spawned:
                print("Classes created: " + ", ".join(spawned))

    def _schema_for(self, name: str | None):
        """The schema a declaration or a status goes to: --schema, the last %dj schema, or `schema`."""
        ns = self.shell.user_ns
        if name:
            value = ns.get(name)
            if isinstance(value, dj.Schema):
                return self._active(value, name)
            connection = _existing_connection()
            if connection is not None and isinstance(connection.schemas.get(name), dj.Schema):
                return connection.schemas[name]
            raise MagicError(f"`{name}` is neither a dj.Schema variable nor an active schema.",
                             hint=f"Activate it first: %dj schema {name} --as {name if name.isidentifier() else 'S'}")
        if self.current_schema is not None:
            return self.current_schema
        value = ns.get(self.schema_variable)
        if isinstance(value, dj.Schema):
            return self._active(value, self.schema_variable)
        raise MagicError("No schema is active.", hint="Run %dj schema NAME first (or pass --schema VAR).")

    @staticmethod
    def _active(schema, label):
        if not schema.is_activated():
            raise MagicError(f"The schema `{label}` is not activated.", hint=f"Call {label}.activate('name').")
        return schema

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
        new = [_display_name(t) for t in tables if not was_declared[t]]
        kept = [_display_name(t) for t in tables if was_declared[t] and all(t is not c[0] for c in changes)]
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
                done.append(f"{_display_name(table)} ({plan.summary.replace(chr(10), ', ')})")
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
            lines += _diff_lines(table, plan)
        dropped = [f"{_display_name(t)}.{n}" for t, p in changes for n in p.dropped]
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
        return f"{cls.__name__} contents: {_count(len(rows), 'row')}, {added} new."

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
                notes.append(f"Note: the part table {_display_name_from(other)} is not in this cell; it stays in the "
                             "database with its rows.")
        return notes

    # =============================================================================================
    # queries
    # =============================================================================================
    @magic_arguments(name="dj query")
    @argument("-o", "--out", dest="out", help="also store the result as a pandas DataFrame in this variable")
    @argument("--limit", type=int, help="rows to show (and to store with -o); default: %%config DJMagic.default_limit")
    @argument("--order-by", dest="order_by", help="attributes to sort by, comma-separated, e.g. 'score DESC'")
    @argument("expression", nargs="*", help="a query expression (or write it in the cell body)")
    def _query_spec(self, args):
        """Evaluate a query expression in the notebook's namespace and show it."""

    def _query(self, rest: str, body: str) -> None:
        args = self._parse(self._query_spec, rest)
        if args is None:
            return
        text = "\n".join(p for p in (" ".join(args.expression), body.strip()) if p.strip())
        if not text.strip():
            raise UsageError("Write a query expression, e.g. Session * Subject & 'species = \"mouse\"'.")
        expr = self._evaluate(text, "query")
        expr = _as_expression(expr, text)
        if args.limit is not None and args.limit < 0:
            raise UsageError("--limit must not be negative.")
        order_by = [o.strip() for o in args.order_by.split(",") if o.strip()] if args.order_by else None
        limit = args.limit if args.limit is not None else (
            self.default_limit if self.default_limit is not None else config["display.limit"])
        if args.out:
            if not args.out.isidentifier():
                raise UsageError(f"-o: `{args.out}` is not a valid variable name.")
            frame = expr.to_pandas(order_by=order_by, limit=args.limit)
            self.shell.user_ns[args.out] = frame
            print(f"Stored {_count(len(frame), 'row')} in `{args.out}` (a pandas DataFrame).")
        shown = expr if not order_by else (expr & dj.Top(None, order_by))
        view = self._view("table_browser")
        widget = view(expr, limit=limit, order_by=order_by) if view else None
        if widget is None:
            from dj_jupyter.query.preview import repr_html, repr_text

            widget = views.Rendered(repr_text(shown, limit=limit), repr_html(shown, limit=limit))
        display(widget)

    def _evaluate(self, text: str, what: str):
        """Evaluate ``text`` as a Python expression in the notebook's namespace."""
        source = "(\n" + text.strip() + "\n)"
        try:
            code = compile(source, f"<%dj {what}>", "eval")
        except SyntaxError as error:
            lines = source.splitlines()
            line = lines[min(max((error.lineno or 1) - 1, 1), len(lines) - 2)].strip()
            raise MagicError(f"The {what} is not a Python expression ({error.msg}): {line}",
                             hint="Write one expression, e.g. Session * Subject & 'species = \"mouse\"'.") from None
        try:
            return eval(code, self.shell.user_ns)  # noqa: S307 - the user's own notebook code
        except NameError as error:
            name = getattr(error, "name", None) or str(error)
            raise MagicError(f"`{name}` is not defined in this notebook.",
                             hint="Declare it with a %%dj cell, or import/define it in a cell above.") from None

    def _table(self, text: str, what: str = "table"):
        """A table instance from a class name or expression (``Session``, ``lab.Session.Trial``)."""
        value = self._evaluate(text, what)
        if inspect.isclass(value) and issubclass(value, Table):
            if value.database is None:
                raise MagicError(f"{value.__name__} is not bound to a schema.", hint="Declare it first.")
            return value()
        if isinstance(value, Table):
            return value
        raise MagicError(f"`{text.strip()}` is not a table (it is a {type(value).__name__}).",
                         hint="Name a table class, e.g. %dj describe Session.")

    def _view(self, kind: str):
        return views.find_view(kind) if self.widgets else None

    # =============================================================================================
    # populate, jobs, status
    # =============================================================================================
    @magic_arguments(name="dj populate")
    @argument("table", help="the imported or computed table class")
    @argument("restriction", nargs="*", help="optional restriction of the keys, e.g. Session & 'session_date > "
                                             "\"2024-01-01\"' or {'subject_id': 1}")
    @argument("--processes", type=int, default=1, help="worker processes on this machine (default 1)")
    @argument("--reserve-jobs", dest="reserve_jobs", action="store_true",
              help="reserve keys in the job table, so workers elsewhere can share the work")
    @argument("--suppress-errors", dest="suppress_errors", action="store_true",
              help="record errors in the job table and go on with the other keys")
    @argument("--max-calls", dest="max_calls", type=int, help="make at most this many keys")
    def _populate_spec(self, args):
        """Compute the missing rows of TABLE with its make(), showing progress."""

    def _populate(self, rest: str) -> None:
        args = self._parse(self._populate_spec, rest)
        if args is None:
            return
        table = self._table(args.table)
        if not hasattr(table, "populate") or not hasattr(table, "key_source"):
            raise MagicError(f"{type(table).__name__} is a {table.tier} table; only imported and computed tables "
                             "are populated.")
        self._refresh_make(type(table))
        restrictions = (self._evaluate(" ".join(args.restriction), "restriction"),) if args.restriction else ()
        if args.processes < 1:
            raise UsageError("--processes must be at least 1.")
        name = _display_name(type(table))
        view = self._view("progress_panel")
        panel = view(table, restrictions=restrictions, reserve_jobs=args.reserve_jobs,
                     processes=args.processes) if view else None
        if panel is not None:
            display(panel)
            progress = None
        else:
            progress = _TextProgress(table.full_table_name, name, self.progress_after)
        try:
            result = table.populate(*restrictions, reserve_jobs=args.reserve_jobs, processes=args.processes,
                                    suppress_errors=args.suppress_errors, max_calls=args.max_calls)
        finally:
            if progress is not None:
                progress.close()
        errors = result["error_list"]
        remaining, total = table.progress(*restrictions)
        print(f"{name}: {_count(result['success_count'], 'key')} made, {_count(len(errors), 'error')}; "
              f"{total - remaining} of {total} done.")
        if errors:
            rows = [[_format_key(key), _first_line(str(message))] for key, message in errors]
            display(views.table(["key", "error"], rows, error_rows=set(range(len(rows))),
                                note=f"The job table keeps the errors: %dj jobs {type(table).__name__}"))

    def _refresh_make(self, cls) -> None:
        """Use the notebook's current version of the functions a declaration cell bound with --make."""
        bound = getattr(cls, "_dj_make_functions", None) or {}
        for role, function_name in bound.items():
            current = self.shell.user_ns.get(function_name)
            if callable(current) and cls.__dict__.get(role) is not current:
                setattr(cls, role, current)
                print(f"Using the current `{function_name}` as {cls.__name__}.{role}.")

    @magic_arguments(name="dj jobs")
    @argument("target", nargs="*", help="an imported/computed table class, or a dj.Schema (default: the active "
                                        "schema)")
    @argument("--all", dest="all", action="store_true", help="also list successful jobs")
    def _jobs_spec(self, args):
        """Show the job queue: per table in a schema, or the jobs of one table."""

    def _jobs(self, rest: str) -> None:
        args = self._parse(self._jobs_spec, rest)
        if args is None:
            return
        target = self._evaluate(" ".join(args.target), "target") if args.target else self._schema_for(None)
        view = self._view("jobs")
        widget = view(target) if view else None
        if widget is not None:
            display(widget)
            return
        if isinstance(target, dj.Schema):
            self._schema_jobs(target)
            return
        table = target() if inspect.isclass(target) and issubclass(target, Table) else target
        if not isinstance(table, Table) or not hasattr(table, "jobs"):
            raise MagicError("%dj jobs takes an imported or computed table, or a schema.")
        jobs = table.jobs
        counts = jobs.progress()
        summary = ", ".join(f"{status} {counts[status]}" for status in ("pending", "reserved", "error", "ignore",
                                                                           "success"))
        listed = jobs if args.all else (jobs & 'status != "success"')
        key = list(jobs.primary_key)
        reserved = bool(counts["reserved"])
        fields = ["status", "priority", "error_message"] + (["host", "pid"] if reserved else [])
        rows = listed.proj(*fields).to_dicts(order_by=["status", *key], limit=200)
        headers = key + fields
        body = [[r[k] for k in key] + [r["status"], r["priority"], _first_line(r["error_message"] or "")] +
                ([r["host"], r["pid"]] if reserved else []) for r in rows]
        title = f"Jobs of {_display_name(type(table))}: {summary}"
        if not body:
            print(title)
            return
        display(views.table(headers, body, title=title,
                            error_rows={i for i, r in enumerate(rows) if r["status"] == "error"}))

    def _schema_jobs(self, schema) -> None:
        from dj_jupyter.jobs.jobtable import schema_job_tables

        rows = []
        for jobs in schema_job_tables(schema):
            counts = jobs.progress()
            rows.append([_display_name_from(jobs.target.table_name)] +
                        [counts[s] for s in ("pending", "reserved", "error", "ignore", "success")])
        if not rows:
            print(f"No job tables in `{schema.database}` yet (they appear with the first populate).")
            return
        display(views.table(["table", "pending", "reserved", "error", "ignore", "success"], rows,
                            title=f"Jobs in `{schema.database}`", numeric={1, 2, 3, 4, 5},
                            error_rows={i for i, r in enumerate(rows) if r[3]}))

    @magic_arguments(name="dj status")
    @argument("schema", nargs="?", help="a dj.Schema variable or an active schema name (default: the active one)")
    def _status_spec(self, args):
        """Rows per table of a schema, and for auto-populated tables how much is done and how many jobs failed."""

    def _status(self, rest: str) -> None:
        args = self._parse(self._status_spec, rest)
        if args is None:
            return
        schema = self._schema_for(args.schema)
        view = self._view("status")
        widget = view(schema) if view else None
        if widget is not None:
            display(widget)
            return
        from dj_jupyter.jobs.jobtable import schema_job_tables

        connection = schema.connection
        classes = self._classes_of(schema)
        job_tables = {jobs.target.table_name: jobs for jobs in schema_job_tables(schema)}
        rows, errors = [], set()
        for table_name in schema.list_tables():
            tier = tier_of(table_name)
            count = len(FreeTable(connection, schema.database, table_name))
            done = failed = ""
            if tier in ("imported", "computed") and table_name in classes:
                try:
                    remaining, total = classes[table_name]().progress()
                    done = f"{total - remaining}/{total}"
                except DataJointError:
                    done = "?"
                if table_name in job_tables:
                    failed = job_tables[table_name].progress()["error"]
                    if failed:
                        errors.add(len(rows))
            rows.append([_display_name_from(table_name), tier, count, done, failed])
        display(views.table(["table", "tier", "rows", "populated", "errors"], rows,
                            title=f"Schema `{schema.database}`: {_count(len(rows), 'table')}", numeric={2, 3, 4},
                            error_rows=errors))

    def _classes_of(self, schema) -> dict:
        """table name -> class: the notebook's own classes first, then classes rebuilt from the database."""
        from dj_jupyter.schema import make_classes

        found = {}
        for cls in make_classes(schema).values():
            found[cls.table_name] = cls
            for member in vars(cls).values():
                if inspect.isclass(member) and issubclass(member, Part):
                    found[member.table_name] = member
        for value in list(self.shell.user_ns.values()):
            if inspect.isclass(value) and issubclass(value, Table) and "_is_base_tier" not in value.__dict__ \
                    and value.__dict__.get("database") == schema.database:
                found[value.table_name] = value
                for member in vars(value).values():
                    if inspect.isclass(member) and issubclass(member, Part) and member.database == schema.database:
                        found[member.table_name] = member
        return found

    # =============================================================================================
    # describe and diagram
    # =============================================================================================
    @magic_arguments(name="dj describe")
    @argument("table", nargs="+", help="a table class")
    def _describe_spec(self, args):
        """Print the definition of a table as the database has it."""

    def _describe(self, rest: str) -> None:
        args = self._parse(self._describe_spec, rest)
        if args is None:
            return
        table = self._table(" ".join(args.table))
        print(f"# {_display_name(type(table))}: {table.database}.{table.table_name} ({table.tier})")
        print(table.describe(context=self.shell.user_ns), end="")

    @magic_arguments(name="dj diagram")
    @argument("target", nargs="*", help="a dj.Schema or a table class (default: the active schema)")
    def _diagram_spec(self, args):
        """Show the schema diagram (dj.Diagram; the diagram widget when installed)."""

    def _diagram(self, rest: str) -> None:
        args = self._parse(self._diagram_spec, rest)
        if args is None:
            return
        target = self._evaluate(" ".join(args.target), "target") if args.target else self._schema_for(None)
        if isinstance(target, Table):
            target = type(target)
        if not (isinstance(target, dj.Schema) or (inspect.isclass(target) and issubclass(target, Table))):
            raise MagicError("%dj diagram takes a dj.Schema or a table class.")
        view = self._view("diagram")
        widget = view(target) if view else None
        if widget is None:
            diagram_class = _diagram_class()
            if diagram_class is not None:
                widget = diagram_class(target)
            else:
                widget = self._text_diagram(target)
        display(widget)

    def _text_diagram(self, target):
        """A plain listing of tables and their parents, for when dj.Diagram is not available."""
        if isinstance(target, dj.Schema):
            connection, database = target.connection, target.database
            nodes = [(database, t) for t in target.list_tables()]
            title = f"Schema `{database}`"
        else:
            table = target()
            connection, database = table.connection, table.database
            deps = connection.dependencies
            deps.load(schemas=set(connection.schemas) | {database})
            node = (database, table.table_name)
            nodes = deps.topological(set(deps.ancestors(node)) | set(deps.descendants(node)) | {node})
            title = f"{_display_name(target)} and its neighbours"
        deps = connection.dependencies
        deps.load(schemas=set(connection.schemas) | {database})
        rows = []
        for schema_name, table_name in nodes:
            parents = sorted({_qualified(e.parent, database) for e in deps.parents((schema_name, table_name))})
            rows.append([_qualified((schema_name, table_name), database), tier_of(table_name), ", ".join(parents)])
        return views.table(["table", "tier", "depends on"], rows, title=title)

    # =============================================================================================
    # delete
    # =============================================================================================
    @magic_arguments(name="dj delete")
    @argument("expression", nargs="*", help="a table or a restricted table, e.g. Session & {'session': 3}")
    @argument("--part-integrity", dest="part_integrity", default="enforce", choices=("enforce", "ignore", "cascade"),
              help="parts without their master: refuse (enforce), allow (ignore), or delete the masters (cascade)")
    @argument("--confirm", action="store_true", help="delete without asking (the counts are still shown)")
    def _delete_spec(self, args):
        """Show how many rows a cascading delete removes from each table; delete after confirmation."""

    def _delete(self, rest: str, body: str) -> None:
        args = self._parse(self._delete_spec, rest)
        if args is None:
            return
        text = "\n".join(p for p in (" ".join(args.expression), body.strip()) if p.strip())
        if not text.strip():
            raise UsageError("Name what to delete, e.g. %dj delete Session & {'session': 3}")
        value = self._evaluate(text, "delete expression")
        if inspect.isclass(value) and issubclass(value, Table):
            value = value()
        if not isinstance(value, Table):
            raise MagicError("%dj delete works on a table or a restricted table, not on a join or projection.",
                             hint="Restrict the table itself, e.g. Session & (Session * Subject & 'species=\"rat\"')"
                                  ".proj()")
        from dj_jupyter.deletes import build_cascade

        part_integrity = args.part_integrity

        def counts() -> dict:
            return {name: count for name, count in build_cascade(value, part_integrity).counts().items() if count}

        shown = counts()
        if not shown:
            print("Nothing to delete.")
            return
        total = sum(shown.values())
        rows = [[_display_name_from(name.split(".", 1)[1]), name, count] for name, count in shown.items()]
        summary = views.table(["table", "database table", "rows"], rows, numeric={2},
                              title=f"Delete {_count(total, 'row')} from {_count(len(shown), 'table')}:")

        def run() -> str:
            value.delete(prompt=False, part_integrity=part_integrity)
            return f"Deleted {_count(total, 'row')} from {_count(len(shown), 'table')}."

        def still_valid() -> str | None:
            if counts() != shown:
                return "The rows changed since this preview; nothing was deleted. Run the cell again."
            return None

        if args.confirm:
            display(summary)
            print(run())
            return
        view = self._view("delete_preview") if self._widgets_module() is not None else None
        widget = view(value, part_integrity=part_integrity) if view else None
        if widget is not None:
            display(widget)
            return
        confirmation = Confirmation(summary.text, run, confirm_label=f"Delete {_count(total, 'row')}",
                                    cancel_label="Cancel", still_valid=still_valid, danger=True)
        note = self._confirm_note(f"Delete {_count(total, 'row')}", "the magic")
        self._ask(confirmation, views.Rendered(summary.text + "\n" + note,
                                               summary.html + f'<p class="dj-note">{html.escape(note)}</p>'))

    # =============================================================================================
    # confirmation
    # =============================================================================================
    def _widgets_module(self):
        return views.ipywidgets_module() if self.widgets else None

    def _confirm_note(self, label: str, where: str) -> str:
        if self._widgets_module() is not None:
            return f"Nothing changes until you click “{label}”."
        return f"Nothing was changed. To go ahead, run {where} again with --confirm."

    def _ask(self, confirmation: Confirmation, preview) -> None:
        self.last_confirmation = confirmation
        display(preview)
        widgets = self._widgets_module()
        if widgets is not None:
            display(confirmation.build_widget(widgets))


# =================================================================================================
# helpers
# =================================================================================================
def _shortened(error: DataJointError) -> DataJointError:
    """The same exception, shown by IPython as its message and hint only (no traceback)."""
    lines = str(error).splitlines() or [""]
    name = type(error).__name__
    rendered = [f"\x1b[0;31m{name}\x1b[0m: {lines[0]}"] + lines[1:]
    error._render_traceback_ = lambda: rendered
    return error


def _existing_connection():
    from dj_jupyter import connection as connection_module

    existing = connection_module.current()
    return existing


def _target(connection) -> str:
    """Where the connection points, without credentials; SQLite files relative to the working directory."""
    target = connection.target
    if target.startswith("sqlite:///"):
        path = Path(target[len("sqlite:///"):])
        try:
            return "sqlite:///" + str(path.relative_to(Path.cwd().resolve()))
        except ValueError:
            return target
    return target


def _ask_password(user, host) -> str | None:
    try:
        password = getpass.getpass(f"Password for {user}@{host}: ")
    except Exception as error:  # no way to prompt (nbconvert, a script, a test)
        raise MagicError(f"No password configured for {user}@{host}, and this session cannot prompt for one "
                         f"({type(error).__name__}).",
                         hint="Put it in .secrets/database.password next to datajoint.json, or set DJ_PASS.") from None
    return password or None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _display_name(cls) -> str:
    master = getattr(cls, "_master", None)
    if master is not None and inspect.isclass(cls) and issubclass(cls, Part):
        return f"{master.__name__}.{cls.__name__}"
    return cls.__name__


def _display_name_from(table_name: str) -> str:
    """``__session_stats`` -> ``SessionStats``; ``session__trial`` -> ``Session.Trial``."""
    return ".".join(to_camel_case(part) for part in table_name.lstrip("#_~").split("__") if part)


def _qualified(node, database) -> str:
    name = _display_name_from(node[1])
    return name if node[0] == database else f"{node[0]}.{name}"


def _as_expression(value, text: str) -> QueryExpression:
    if inspect.isclass(value) and issubclass(value, Table):
        if value.database is None:
            raise MagicError(f"{value.__name__} is not bound to a schema.", hint="Declare it first.")
        return value()
    if isinstance(value, QueryExpression):
        return value
    raise MagicError(f"The cell evaluates to a {type(value).__name__}, not a query expression.",
                     hint="Write a table or an expression of tables, e.g. Session * Subject.")


def _format_key(key) -> str:
    if isinstance(key, dict):
        return ", ".join(f"{k}={v!r}" for k, v in key.items())
    return str(key)


def _first_line(text: str, width: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _diff_lines(table, plan) -> list[tuple[str, str]]:
    """Per-attribute differences between the table in the database and the new definition."""
    old = _lines_by_attribute(table().describe())
    new = _lines_by_attribute(table.definition)
    label = _display_name(table)
    lines = []
    for name in plan.added:
        lines.append(("+", f"{label}: {new.get(name, name)}"))
    for name in plan.dropped:
        lines.append(("-", f"{label}: {old.get(name, name)}"))
    for name in plan.changed:
        lines.append(("-", f"{label}: {old.get(name, name)}"))
        lines.append(("+", f"{label}: {new.get(name, name)}"))
    if plan.comment_changed:
        comment = next((line.strip()[1:].strip() for line in table.definition.splitlines()
                        if line.strip().startswith("#")), "")
        lines.append(("~", f"{label}: table comment -> {comment!r}"))
    return lines


def _lines_by_attribute(definition: str) -> dict[str, str]:
    found = {}
    for line in definition.splitlines():
        match = re.match(r"\s*([a-z_][a-z0-9_]*)\s*(=|:)", line)
        if match:
            found[match.group(1)] = line.strip()
    return found


def _diagram_class():
    diagram = getattr(dj, "Diagram", None)
    if diagram is not None:
        return diagram
    try:
        from dj_jupyter.diagram import Diagram
    except Exception:
        return None
    return Diagram


class _TextProgress:
    """Populate progress as one text line, shown only when a populate takes longer than ``after`` seconds.

    Quick populates print just the final summary, so notebooks stay deterministic.
    """

    def __init__(self, table: str, label: str, after: float):
        from dj_jupyter.jobs import events

        self.table, self.label, self.after = table, label, after
        self.started = time.monotonic()
        self.last = 0.0
        self.total = None
        self.counts = {"success": 0, "error": 0, "skip": 0}
        self.handle = None
        self._unsubscribe = events.subscribe(self)

    def __call__(self, event) -> None:
        if event.table != self.table:
            return
        if event.kind == "start":
            self.total = event.total
        elif event.kind in self.counts:
            self.counts[event.kind] += 1
        now = time.monotonic()
        if now - self.started < self.after or now - self.last < 0.5:
            return
        self.last = now
        text = self._text()
        if self.handle is None:
            self.handle = display(views.Rendered(text), display_id=True)
        else:
            self.handle.update(views.Rendered(text))

    def _text(self, final: bool = False) -> str:
        done = sum(self.counts.values())
        total = f"/{self.total}" if self.total is not None else ""
        state = "finished" if final else "running"
        return (f"{self.label}: {done}{total} keys ({self.counts['success']} made, {self.counts['error']} errors) "
                f"- {state}")

    def close(self) -> None:
        self._unsubscribe()
        if self.handle is not None:
            self.handle.update(views.Rendered(self._text(final=True)))
