"""``%dj populate``, ``%dj jobs`` and ``%dj status``: computing and watching a pipeline from cells."""

from __future__ import annotations

import inspect

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

import dj_jupyter as dj
from dj_jupyter.errors import DataJointError
from dj_jupyter.table import FreeTable, Table, tier_of
from dj_jupyter.tiers import Part

from . import display as views
from .helpers import MagicError, TextProgress, count_of, display_name, display_name_from, first_line, format_key


class PopulateCommands:
    """The populate, jobs and status subcommands of :class:`~kernel_magics.magics.DJMagic`."""

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
        name = display_name(type(table))
        view = self._view("progress_panel")
        panel = view(table, restrictions=restrictions, reserve_jobs=args.reserve_jobs,
                     processes=args.processes) if view else None
        if panel is not None:
            display(panel)
            progress = None
        else:
            progress = TextProgress(table.full_table_name, name, self.progress_after)
        try:
            result = table.populate(*restrictions, reserve_jobs=args.reserve_jobs, processes=args.processes,
                                    suppress_errors=args.suppress_errors, max_calls=args.max_calls)
        finally:
            if progress is not None:
                progress.close()
        errors = result["error_list"]
        remaining, total = table.progress(*restrictions)
        print(f"{name}: {count_of(result['success_count'], 'key')} made, {count_of(len(errors), 'error')}; "
              f"{total - remaining} of {total} done.")
        if errors:
            rows = [[format_key(key), first_line(str(message))] for key, message in errors]
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
        body = [[r[k] for k in key] + [r["status"], r["priority"], first_line(r["error_message"] or "")] +
                ([r["host"], r["pid"]] if reserved else []) for r in rows]
        title = f"Jobs of {display_name(type(table))}: {summary}"
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
            rows.append([display_name_from(jobs.target.table_name)] +
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
            rows.append([display_name_from(table_name), tier, count, done, failed])
        display(views.table(["table", "tier", "rows", "populated", "errors"], rows,
                            title=f"Schema `{schema.database}`: {count_of(len(rows), 'table')}", numeric={2, 3, 4},
                            error_rows=errors))

    def _classes_of(self, schema) -> dict:
        """table name -> class: the notebook's own classes first, then classes rebuilt from the database."""
        from dj_jupyter.schema import classes_from_database

        found = {}
        for cls in classes_from_database(schema).values():
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
