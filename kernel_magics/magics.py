"""``%dj`` and ``%%dj``: declare, query, populate and inspect a pipeline from notebook cells.

One ``Magics`` class (its declaration and populate subcommands live in
:mod:`.declarations` and :mod:`.populate_commands`). Every subcommand has an IPython ``magic_arguments`` parser
(``%dj SUBCOMMAND --help``); settings are traitlets, so ``%config DJMagic`` lists
them and ``%config DJMagic.short_errors = False`` changes one. The magics parse,
call the library and display: tables declared here are ordinary DataJoint classes
bound to an ordinary ``dj.Schema``, exactly as if declared in a module.
"""

from __future__ import annotations

import difflib
import html
import inspect
import keyword
import re
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from traitlets import Bool, Float, Int, Unicode
from traitlets.config.configurable import Configurable

import dj_jupyter as dj
from dj_jupyter.errors import DataJointError
from dj_jupyter.settings import config
from dj_jupyter.table import Table, tier_of

from . import display as views
from .confirm import Confirmation
from .declarations import DeclarationCommands
from .helpers import (MagicError, as_expression, ask_password, bound_instance, count_of, diagram_widget_class,
                      display_name, display_name_from, existing_connection, qualified, shortened, target_of)
from .parsing import scan, split_options
from .populate_commands import PopulateCommands

DECLARATION_TIERS = ("manual", "lookup", "imported", "computed")


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
class DJMagic(DeclarationCommands, PopulateCommands, Magics, Configurable):
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
                raise shortened(error) from None
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
        existing = existing_connection()
        if existing is not None and not given:
            print(f"Connected to {target_of(existing)}")
            return
        connection = self._open_connection(args)
        print(f"Connected to {target_of(connection)}")

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
            password = ask_password(user, host)
        return dj.conn(host, user, password, reset=True, backend=backend, port=port)

    def _connection(self):
        """The current connection, made from dj.config when there is none yet."""
        existing = existing_connection()
        if existing is not None:
            return existing
        connection = self._open_connection(None)
        print(f"Connected to {target_of(connection)}")
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
        summary = f"Schema `{schema.database}` is active ({count_of(len(tables), 'table')}); bound to `{variable}`."
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
            connection = existing_connection()
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
        expr = as_expression(expr, text)
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
            print(f"Stored {count_of(len(frame), 'row')} in `{args.out}` (a pandas DataFrame).")
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
        value = bound_instance(self._evaluate(text, what))
        if isinstance(value, Table):
            return value
        raise MagicError(f"`{text.strip()}` is not a table (it is a {type(value).__name__}).",
                         hint="Name a table class, e.g. %dj describe Session.")

    def _view(self, kind: str):
        return views.find_view(kind) if self.widgets else None

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
        print(f"# {display_name(type(table))}: {table.database}.{table.table_name} ({table.tier})")
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
            diagram_class = diagram_widget_class()
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
            title = f"{display_name(target)} and its neighbours"
        deps = connection.dependencies
        deps.load(schemas=set(connection.schemas) | {database})
        rows = []
        for schema_name, table_name in nodes:
            parents = sorted({qualified(e.parent, database) for e in deps.parents((schema_name, table_name))})
            rows.append([qualified((schema_name, table_name), database), tier_of(table_name), ", ".join(parents)])
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
        rows = [[display_name_from(name.split(".", 1)[1]), name, count] for name, count in shown.items()]
        summary = views.table(["table", "database table", "rows"], rows, numeric={2},
                              title=f"Delete {count_of(total, 'row')} from {count_of(len(shown), 'table')}:")

        def run() -> str:
            value.delete(prompt=False, part_integrity=part_integrity)
            return f"Deleted {count_of(total, 'row')} from {count_of(len(shown), 'table')}."

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
        confirmation = Confirmation(summary.text, run, confirm_label=f"Delete {count_of(total, 'row')}",
                                    cancel_label="Cancel", still_valid=still_valid, danger=True)
        note = self._confirm_note(f"Delete {count_of(total, 'row')}", "the magic")
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
