"""The kernel side of the JupyterLab pipeline sidebar (``labextension/``).

``%load_ext dj_jupyter`` registers the comm target ``dj_jupyter.pipeline``. The sidebar
opens one comm per kernel and sends JSON requests; every reply echoes the request's
``id``:

* ``{"request": "hello"}`` -> ``{"reply": "hello", "version": ...}``
* ``{"request": "model"}`` -> ``{"reply": "model", "connected": bool, "target": str,
  "message": str | None, "schemas": [{"name", "error", "tables": [{"name",
  "class_name", "tier", "rows", "master", "jobs": {"pending", "reserved", "error",
  "success", "ignore"} | None}]}]}``
* anything else -> ``{"reply": "error", "error": "..."}``

The model covers the schemas activated in this kernel, on every connection the kernel
knows (``dj.conn()`` and the connections of schemas and tables in the user namespace).
It costs two queries per schema however many tables there are: one catalog listing and
one ``UNION ALL`` of ``COUNT(*)`` per table and per job table (chunked for SQLite's
compound-select limit on very large schemas).

Views that the sidebar and the commands open in the main area run through ``show``,
which the front end calls by executing
``__import__("dj_jupyter.jupyter.sidebar", fromlist=["show"]).show(view, target)``
so that the view is displayed with the notebook's own renderers (widgets included).

Nothing here is needed for dj_jupyter to work: the extension only adds sugar.
"""

from __future__ import annotations

import functools
import html
import logging
from ..errors import DataJointError

logger = logging.getLogger("dj_jupyter")

TARGET = "dj_jupyter.pipeline"
JOB_STATUSES = ("pending", "reserved", "error", "success", "ignore")
#: branches of one UNION ALL count query (SQLite allows at most 500 by default)
MAX_UNION = 200


# ---- registration ---------------------------------------------------------------------------
def register_comm_target(ipython=None) -> bool:
    """Register the sidebar's comm target in the running kernel; False outside a kernel."""
    if ipython is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        ipython = get_ipython()
    kernel = getattr(ipython, "kernel", None)
    if kernel is None:
        return False  # terminal IPython or a plain InteractiveShell: no front end to talk to
    manager = None
    try:
        from comm import get_comm_manager

        manager = get_comm_manager()
    except Exception:
        manager = None
    if manager is None:
        manager = getattr(kernel, "comm_manager", None)
    if manager is None:
        return False
    manager.register_target(TARGET, functools.partial(_on_comm_open, ipython))
    return True


def _on_comm_open(ipython, comm, open_msg) -> None:
    namespace = getattr(ipython, "user_ns", None)

    def on_msg(msg):
        comm.send(handle_request(msg["content"].get("data") or {}, namespace))

    comm.on_msg(on_msg)
    data = open_msg["content"].get("data") or {}
    if data:
        comm.send(handle_request(data, namespace))


def handle_request(data: dict, namespace: dict | None = None) -> dict:
    """Answer one sidebar request (pure apart from the database reads; tests call it directly)."""
    request = data.get("request") if isinstance(data, dict) else None
    request_id = data.get("id") if isinstance(data, dict) else None
    try:
        if request == "hello":
            from .. import __version__

            reply = {"reply": "hello", "version": __version__, "target": TARGET}
        elif request == "model":
            reply = {"reply": "model", **pipeline_model(namespace)}
        else:
            reply = {"reply": "error", "error": f"unknown request {request!r}"}
    except Exception as error:  # never let the comm die: the sidebar shows the message
        logger.debug("sidebar request %r failed", request, exc_info=True)
        reply = {"reply": "error", "error": _message(error)}
    reply["id"] = request_id
    return reply


def _message(error: Exception) -> str:
    text = str(error) or type(error).__name__
    hint = getattr(error, "hint", None)
    return f"{text} {hint}" if hint and hint not in text else text


# ---- which connections and schemas the kernel knows -----------------------------------------
def known_connections(namespace: dict | None = None) -> list:
    """``dj.conn()``'s connection if one was made, then connections found in ``namespace``."""
    from .. import connection as connection_module
    from ..connection import Connection
    from ..schema import Schema, VirtualModule
    from ..table import Table

    found: list = []
    seen: set[int] = set()

    def add(conn) -> None:
        if isinstance(conn, Connection) and id(conn) not in seen:
            seen.add(id(conn))
            found.append(conn)

    add(connection_module.current())
    for value in list((namespace or {}).values()):
        try:
            if isinstance(value, Connection):
                add(value)
            elif isinstance(value, Schema):
                add(value.connection)
            elif isinstance(value, VirtualModule):
                add(value.schema.connection)
            elif isinstance(value, type) and issubclass(value, Table):
                add(value.__dict__.get("_connection") or getattr(value, "_connection", None))
        except Exception:  # an odd object in the namespace must not break the sidebar
            continue
    return found


def _schema_owner(schema_name: str, namespace: dict | None = None):
    """The connection on which ``schema_name`` is active (or exists), or None."""
    connections = known_connections(namespace)
    for conn in connections:
        if schema_name in conn.schemas:
            return conn
    for conn in connections:
        try:
            if conn.backend.schema_exists(conn, schema_name):
                return conn
        except Exception:
            continue
    return None


# ---- the model --------------------------------------------------------------------------------
def _to_camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part)


def class_name(table_name: str) -> str:
    """``__segmentation__roi`` -> ``Segmentation.Roi`` (DataJoint's naming rule, reversed)."""
    from ..table import tier_of

    stripped = table_name.lstrip("#_")
    if tier_of(table_name) == "part":
        return ".".join(_to_camel(piece) for piece in stripped.split("__"))
    return _to_camel(stripped)


def _master_of(table_name: str) -> str | None:
    from ..table import tier_of

    if tier_of(table_name) != "part":
        return None
    return table_name.rsplit("__", 1)[0]


_TIER_ORDER = {"lookup": 0, "manual": 1, "imported": 2, "computed": 3}


def _display_order(table_name: str) -> tuple:
    """Lookup, manual, imported, computed; each part right after its master."""
    from ..table import tier_of

    master = _master_of(table_name) or table_name
    return (_TIER_ORDER.get(tier_of(master), 9), master, table_name != master, table_name)


def _count_sql(backend, schema: str, tables: list[str], job_tables: dict[str, str]) -> list[str]:
    """UNION ALL statements: per table (kind 0) its row count, per job table (kind 1) counts by status.

    Columns are read by position; only the first branch names them, quoted (``ignore`` is
    a reserved word in MySQL).
    """
    literal, quote = backend.string_literal, backend.quote
    names = ["table_name", "kind", "n", *JOB_STATUSES]
    branches = []
    for table in tables:
        branches.append([literal(table), "0", "COUNT(*)", *["0"] * len(JOB_STATUSES),
                         f"FROM {backend.table_ref(schema, table)}"])
    status = quote("status")
    for table, job_table in job_tables.items():
        sums = [f"SUM(CASE WHEN {status} = {literal(value)} THEN 1 ELSE 0 END)" for value in JOB_STATUSES]
        branches.append([literal(table), "1", "COUNT(*)", *sums, f"FROM {backend.table_ref(schema, job_table)}"])
    statements = []
    for start in range(0, len(branches), MAX_UNION):
        selects = []
        for i, branch in enumerate(branches[start:start + MAX_UNION]):
            columns = branch[:-1] if i else [f"{value} AS {quote(name)}" for value, name in zip(branch[:-1], names)]
            selects.append(f"SELECT {', '.join(columns)} {branch[-1]}")
        statements.append(" UNION ALL ".join(selects))
    return statements


def schema_model(conn, schema: str) -> dict:
    """Tables of one schema with tiers, row counts and job counts (two queries)."""
    from ..jobs.jobtable import job_table_name
    from ..table import tier_of

    backend = conn.backend
    names = backend.list_tables(conn, schema)
    present = set(names)
    tables = sorted((n for n in names if not n.startswith("~")), key=_display_order)
    job_tables = {}
    for table in tables:
        if tier_of(table) in ("imported", "computed") and job_table_name(table) in present:
            job_tables[table] = job_table_name(table)
    rows: dict[str, int | None] = {table: None for table in tables}
    jobs: dict[str, dict | None] = {table: None for table in tables}
    error = None
    if tables and conn.in_transaction:
        # a failed read would abort the user's transaction on PostgreSQL: wait for the commit
        error = "Counts are paused while a transaction is open."
    elif tables:
        for sql in _count_sql(backend, schema, tables, job_tables):
            for record in conn.query(sql).fetchall():
                table, kind, count = record[0], int(record[1]), int(record[2] or 0)
                if kind == 0:
                    rows[table] = count
                else:
                    jobs[table] = {status: int(value or 0) for status, value in zip(JOB_STATUSES, record[3:])}
    return {
        "name": schema,
        "error": error,
        "tables": [
            {
                "name": table,
                "class_name": class_name(table),
                "tier": tier_of(table),
                "rows": rows[table],
                "master": _master_of(table),
                "jobs": jobs[table],
            }
            for table in tables
        ],
    }


def pipeline_model(namespace: dict | None = None) -> dict:
    """What the sidebar shows: every schema activated in this kernel, on every known connection."""
    connections = known_connections(namespace)
    if not connections:
        return {"connected": False, "target": None, "schemas": [],
                "message": "No database connection yet: run %dj connect, dj.conn(), or activate a schema."}
    schemas = []
    targets = []
    for conn in connections:
        try:
            targets.append(conn.target)
        except Exception:
            pass
        for name in sorted(conn.schemas):
            try:
                schemas.append(schema_model(conn, name))
            except Exception as error:
                logger.debug("sidebar: schema %s failed", name, exc_info=True)
                schemas.append({"name": name, "tables": [], "error": _message(error)})
    message = None if schemas else "No schema is active yet: run %dj schema NAME or dj.Schema(NAME)."
    return {"connected": True, "target": ", ".join(targets) or None, "message": message, "schemas": schemas}


# ---- views shown in the main area -------------------------------------------------------------
def free_table(full_name: str, namespace: dict | None = None):
    """The ``FreeTable`` for ``schema.table`` on the connection where that schema lives."""
    from ..table import FreeTable

    if "." not in full_name:
        raise DataJointError(f"`{full_name}` is not a full table name.", hint="Write it as schema.table.")
    schema, table = full_name.split(".", 1)
    conn = _schema_owner(schema, namespace)
    if conn is None:
        raise DataJointError(f"No known connection has the schema `{schema}`.",
                             hint="Activate the schema in this kernel first.")
    return FreeTable(conn, schema, table)


def _view(kind: str):
    """A view factory of dj_jupyter's widgets (``dj_jupyter.jupyter.display``), or None without them."""
    try:
        from .display import get_view
    except Exception:  # anywidget missing, or the widgets not installed
        return None
    try:
        return get_view(kind)
    except Exception:
        return None


def _html(body: str):
    from IPython.display import HTML

    return HTML(body)


def browse(full_name: str, namespace: dict | None = None):
    """The table browser widget for ``schema.table``, or its HTML preview without widgets."""
    table = free_table(full_name, namespace if namespace is not None else _user_ns())
    schema, name = full_name.split(".", 1)
    view = _view("browse")
    if view is not None:
        try:
            return view(table, title=f"{class_name(name)} ({full_name})")
        except Exception:
            logger.warning("The table browser could not open %s; showing the HTML preview.", full_name,
                           exc_info=True)
    title = (f'<div class="dj-sidebar-title"><b>{html.escape(class_name(name))}</b> '
             f'<code>{html.escape(full_name)}</code> — {len(table)} rows</div>')
    return _html(title + table._repr_html_())


def _find_schema(name: str, namespace: dict | None):
    conn = _schema_owner(name, namespace)
    if conn is None:
        raise DataJointError(f"No known connection has the schema `{name}`.",
                             hint="Activate the schema in this kernel first.")
    schema = conn.schemas.get(name)
    if schema is None:
        from ..schema import Schema

        schema = Schema(name, connection=conn, create_schema=False)
    return schema


def _active_schemas(namespace: dict | None) -> list:
    return [schema for conn in known_connections(namespace) for schema in conn.schemas.values()]


def _diagram_class():
    import dj_jupyter

    diagram = getattr(dj_jupyter, "Diagram", None)
    if diagram is None:
        try:
            from ..diagram import Diagram as diagram  # noqa: N813
        except Exception:
            diagram = None
    return diagram


def diagram(schema_name: str | None = None, namespace: dict | None = None):
    """``dj.Diagram(schema)`` (of every active schema when none is named)."""
    namespace = namespace if namespace is not None else _user_ns()
    schemas = [_find_schema(schema_name, namespace)] if schema_name else _active_schemas(namespace)
    if not schemas:
        raise DataJointError("No schema is active in this kernel.", hint="Activate one with dj.Schema(name).")
    diagram_class = _diagram_class()
    if diagram_class is None:
        return _html(_dependency_listing(schemas))
    result = diagram_class(schemas[0])
    for schema in schemas[1:]:
        result = result + diagram_class(schema)
    view = _view("diagram")
    if view is not None:
        try:
            return view(result)
        except Exception:
            logger.warning("The diagram widget could not open; showing the static diagram.", exc_info=True)
    return result


def _dependency_listing(schemas: list) -> str:
    """A plain HTML stand-in for the diagram: each table with its tier and parents."""
    from ..table import tier_of

    parts = ['<div class="dj-sidebar-diagram"><p><i>dj.Diagram is not available; '
             'tables and their parents:</i></p>']
    for schema in schemas:
        conn = schema.connection
        deps = conn.dependencies
        deps.load(force=True, schemas=set(conn.schemas))
        parts.append(f"<h4>{html.escape(schema.database)}</h4><ul>")
        for table in schema.list_tables():
            parents = [f"{p[0]}.{p[1]}" if p[0] != schema.database else p[1]
                       for p in (edge.parent for edge in deps.parents((schema.database, table)))]
            parts.append(f"<li><b>{html.escape(class_name(table))}</b> ({tier_of(table)})"
                         + (f" &larr; {html.escape(', '.join(parents))}" if parents else "") + "</li>")
        parts.append("</ul>")
    parts.append("</div>")
    return "".join(parts)


def jobs(target: str | None = None, namespace: dict | None = None, ipython="current"):
    """The jobs view of a table or schema: ``%dj jobs`` / the widgets' jobs view when available.

    ``target`` is a name in the notebook (``Segmentation``), a schema name, ``schema.table``
    or None for every active schema. Without the widgets, or for names they cannot take,
    an HTML table of job counts per auto-populated table (with the errors of a single table).
    """
    namespace = namespace if namespace is not None else _user_ns()
    ipython = _ipython() if ipython == "current" else ipython  # None: do not use the magics
    name, resolved = _jobs_target(target, namespace)
    if name is not None and ipython is not None and ipython.find_line_magic("dj") is not None:
        return ipython.run_line_magic("dj", f"jobs {name}")
    view = _view("jobs")
    if resolved is not None and view is not None:
        try:
            return view(resolved)
        except DataJointError:
            pass  # e.g. no job table yet: the summary below says so
    return _jobs_summary(target, namespace)


def _jobs_target(target: str | None, namespace: dict) -> tuple[str | None, object]:
    """``target`` as the magics take it (a name in the notebook, or None) and as an object (table class or Schema)."""
    if not target:
        return None, None
    if target.split(".", 1)[0] in namespace:
        try:
            value = _resolve(target, namespace)
        except Exception:
            value = None
        if value is not None and hasattr(value, "jobs"):
            return target, value
    for conn in known_connections(namespace):
        if target in conn.schemas:
            return None, conn.schemas[target]
    return None, None


def _jobs_summary(target: str | None, namespace: dict):
    model = pipeline_model(namespace)
    schema_filter = table_filter = None
    if target:
        if "." in target and target.split(".", 1)[0] in {s["name"] for s in model["schemas"]}:
            schema_filter, table_filter = target.split(".", 1)
        elif target in {s["name"] for s in model["schemas"]}:
            schema_filter = target
        else:
            table_filter = target
    rows = []
    for schema in model["schemas"]:
        if schema_filter and schema["name"] != schema_filter:
            continue
        for table in schema["tables"]:
            if table["tier"] not in ("imported", "computed"):
                continue
            if table_filter and table_filter not in (table["name"], table["class_name"]):
                continue
            rows.append((schema["name"], table))
    header = "".join(f"<th>{h}</th>" for h in ("schema", "table", "rows", *JOB_STATUSES))
    body = []
    for schema_name, table in rows:
        counts = table["jobs"] or {}
        cells = "".join(
            f'<td class="dj-jobs-{status}">{counts.get(status, "") if table["jobs"] else "–"}</td>'
            for status in JOB_STATUSES)
        body.append(f"<tr><td>{html.escape(schema_name)}</td><td><b>{html.escape(table['class_name'])}</b></td>"
                    f"<td>{table['rows'] if table['rows'] is not None else '?'}</td>{cells}</tr>")
    if not body:
        return _html("<p>No auto-populated tables here.</p>")
    out = [f'<table class="dj-jobs"><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>']
    if len(rows) == 1:
        out.append(_error_listing(*rows[0], namespace))
    return _html("".join(out))


def _error_listing(schema_name: str, table: dict, namespace: dict | None) -> str:
    from ..jobs.jobtable import job_table_name
    from ..table import FreeTable

    if not table["jobs"] or not table["jobs"].get("error"):
        return ""
    conn = _schema_owner(schema_name, namespace)
    job_table = FreeTable(conn, schema_name, job_table_name(table["name"]))
    errors = (job_table & {"status": "error"}).proj("error_message", "host", "completed_time")
    return "<h4>Errors</h4>" + errors._repr_html_()


def _resolve(name: str, namespace: dict):
    """A table class from the user namespace by (dotted) name: ``Segmentation``, ``lab.Session.Trial``."""
    parts = name.split(".")
    if parts[0] not in namespace:
        raise DataJointError(f"`{parts[0]}` is not defined in the notebook.",
                             hint="Run the cell that declares the table first.")
    value = namespace[parts[0]]
    for part in parts[1:]:
        value = getattr(value, part)
    return value


def populate(name: str, namespace: dict | None = None, ipython="current"):
    """Populate a table of the notebook as a worker would (reserved jobs, errors kept in the job table):
    ``%dj populate NAME --reserve-jobs --suppress-errors`` when the magics are loaded (with its progress
    panel), else ``populate(display_progress=True, reserve_jobs=True, suppress_errors=True)``."""
    namespace = namespace if namespace is not None else _user_ns()
    ipython = _ipython() if ipython == "current" else ipython  # None: do not use the magics
    if ipython is not None and ipython.find_line_magic("dj") is not None:
        # like a worker: keys are reserved in the job table, errors stay there (and in the panel),
        # the other keys go on
        return ipython.run_line_magic("dj", f"populate {name} --reserve-jobs --suppress-errors")
    table = _resolve(name, namespace)
    instance = table() if isinstance(table, type) else table
    if not hasattr(instance, "populate"):
        raise DataJointError(f"{name} is not an auto-populated table.", hint="Populate Imported or Computed tables.")
    return instance.populate(display_progress=True, reserve_jobs=True, suppress_errors=True)


VIEWS = {"browse": browse, "diagram": diagram, "jobs": jobs, "populate": populate}


def show(view: str, target: str | None = None) -> None:
    """Display a view for the sidebar or a command: ``browse``, ``diagram``, ``jobs`` or ``populate``."""
    from IPython.display import display

    if view not in VIEWS:
        raise DataJointError(f"Unknown view {view!r}.", hint=f"Use one of {', '.join(VIEWS)}.")
    try:
        result = VIEWS[view](target) if target is not None else VIEWS[view]()
    except DataJointError as error:
        display(_html(f'<div class="dj-error" style="color:#c62828"><b>DataJointError:</b> '
                      f"{html.escape(_message(error))}</div>"))
        return
    if result is not None:
        display(result)


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _user_ns() -> dict:
    ip = _ipython()
    return getattr(ip, "user_ns", {}) if ip is not None else {}


__all__ = ["TARGET", "register_comm_target", "handle_request", "pipeline_model", "schema_model",
           "known_connections", "browse", "diagram", "jobs", "populate", "show", "free_table"]
