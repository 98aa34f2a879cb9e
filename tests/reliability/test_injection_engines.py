"""Hostile text in every place a user can put text, on every engine, checked against what the server ran.

Sixteen payloads (quotes, backslashes, comments, semicolons, UNION, stacked statements, NUL,
newline, PostgreSQL dollar quotes, format placeholders, backticks, unicode confusables) are
tried as: restriction strings, dict restriction values, inserted and updated values, insert
dict keys, proj names and expressions, aggr expressions, order_by strings, dj.Top orderings,
dj.U attribute names, fetch attribute names, schema names, table names (FreeTable), class
names, definition comments, defaults and enum values (DDL, where nothing can be a bound
parameter), and ``%dj`` / ``%%dj`` magic arguments through an in-process IPython shell.

Each attempt must either work as data or raise DataJointError (the magics: a short
UsageError/DataJointError message). Then three independent checks:

* a canary table in another schema (read by the raw driver) is unchanged;
* no table appeared or vanished except the ones the test declared;
* the server's statement log (PostgreSQL ``log_statement=all``, MariaDB general log, SQLite
  trace callback) is tokenized statement by statement: each payload carries a marker, and every
  token holding a marker must be a string literal or a quoted identifier, every logged entry one
  statement. PostgreSQL shows bound parameters separately (``DETAIL: parameters``); MariaDB
  (PyMySQL) and SQLite (trace) show them inlined as escaped literals, which the tokenizer checks.
"""

from __future__ import annotations

import collections
import re
import uuid

import pytest
import sqlglot
from sqlglot.tokens import TokenType

import dj_jupyter as dj
from dj_jupyter.errors import DataJointError
from tests.reliability import helpers
from tests.reliability.soaktools import qualified, raw_query

pytestmark = pytest.mark.timeout(300)

TEMPLATES = [
    "{m}' OR '1'='1",
    '{m}"; DROP TABLE {canary}; --',
    "{m}\\'; DROP TABLE {canary}; -- ",
    "{m}') UNION SELECT note FROM {canary} --",
    "{m}*/ OR 1=1 /*",
    "{m}; DELETE FROM {canary}",
    "{m}\x00' OR 1=1 --",
    "{m}\u02bc OR 1=1 --",
    "{m}\uff07; DROP TABLE {canary}; --",
    "{m}`; DROP TABLE {canary}; --",
    "{m}$$; DROP TABLE {canary}; $$",
    "{m}%s%s%(x)s?",
    "{m}\\",
    "{m}\n; DROP TABLE {canary}",
    "{m}' || pg_sleep(1) || '",
    "{m}#' OR 1=1",
]
SAFE_TOKENS = {TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.IDENTIFIER, TokenType.RAW_STRING,
               TokenType.BYTE_STRING, TokenType.HEX_STRING, TokenType.BIT_STRING, TokenType.UNICODE_STRING}
DIALECT = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql"}


class Attempts:
    def __init__(self):
        self.outcomes = collections.Counter()
        self.failures = []

    def run(self, vector: str, action):
        try:
            if action() == "inexpressible":
                self.outcomes[(vector, "Python refuses it")] += 1
                return
            self.outcomes[(vector, "worked as data")] += 1
        except DataJointError:
            self.outcomes[(vector, "DataJointError")] += 1
        except Exception as error:  # noqa: BLE001 - the finding
            self.failures.append(f"{vector}: {type(error).__name__}: {str(error)[:200]}")

    def summary(self) -> dict:
        vectors = collections.defaultdict(dict)
        for (vector, outcome), n in self.outcomes.items():
            vectors[vector][outcome] = n
        return dict(vectors)


def _payloads(engine: str, canary: str) -> list[tuple[str, str]]:
    return [(f"ZQX{i:02d}", t.format(m=f"ZQX{i:02d}", canary=canary)) for i, t in enumerate(TEMPLATES)]


@pytest.fixture
def statement_log(engine, request):
    """Start statement logging for the test; yields a function returning the statements logged since."""
    if engine == "sqlite":
        entries = []
        yield entries  # filled by the trace callback the test installs
        return
    srv = helpers.server(engine)
    srv.set_log_statements(True)
    start = _log_size(srv)
    yield (srv, start)
    srv.set_log_statements(False)


def _log_size(srv) -> int:
    import os

    return os.path.getsize(srv.log_path) if os.path.exists(srv.log_path) else 0


def _logged_statements(engine, handle) -> list[str]:
    if engine == "sqlite":
        return list(handle)
    srv, start = handle
    with open(srv.log_path, "rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    if engine == "postgresql":
        return _pg_statements(text)
    return _maria_statements(text)


_PG_HEADER = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \w+ \[\d+\] ")


def _pg_statements(text: str) -> list[str]:
    entries, current = [], None
    for line in text.splitlines():
        if _PG_HEADER.match(line):
            if current is not None:
                entries.append(current)
            current = line
        elif current is not None:
            current += "\n" + line[1:] if line.startswith("\t") else "\n" + line
    if current is not None:
        entries.append(current)
    statements = []
    for entry in entries:
        found = re.search(r" LOG:  (?:statement|execute [^:]*): (.*)", entry, re.S)
        if found:
            statements.append(found.group(1))
    return statements


_MARIA_HEADER = re.compile(r"^(?:\d{6}\s+\d{1,2}:\d\d:\d\d)?\s+\d+ (Query|Connect|Quit|Init DB|Prepare|Execute|"
                           r"Close stmt|Field List|Statistics|Ping|Shutdown|Kill|Change user)\t?(.*)$")


def _maria_statements(text: str) -> list[str]:
    statements, current = [], None
    for line in text.splitlines():
        header = _MARIA_HEADER.match(line)
        if header:
            if current is not None:
                statements.append(current)
            current = header.group(2) if header.group(1) in ("Query", "Execute", "Prepare") else None
        elif current is not None:
            current += "\n" + line
    if current is not None:
        statements.append(current)
    return statements


def _check_statements(engine: str, statements: list[str], markers: list[str]) -> dict:
    """Every token holding a marker is a literal or quoted identifier; every entry is one statement."""
    dialect = sqlglot.Dialect.get_or_raise(DIALECT[engine])
    with_marker = 0
    problems = []
    for statement in statements:
        if "ZQX" not in statement:
            continue
        with_marker += 1
        try:
            tokens = dialect.tokenize(statement)
        except Exception as error:  # noqa: BLE001
            problems.append(f"cannot tokenize ({error}): {statement[:300]!r}")
            continue
        for token in tokens:
            if "ZQX" in token.text and token.token_type not in SAFE_TOKENS:
                problems.append(f"marker outside a literal ({token.token_type}): {statement[:300]!r}")
                break
        semicolons = [i for i, t in enumerate(tokens) if t.token_type == TokenType.SEMICOLON]
        if semicolons and semicolons != [len(tokens) - 1]:
            problems.append(f"stacked statements: {statement[:300]!r}")
    assert not problems, "\n".join(problems[:10])
    return {"statements": len(statements), "with_payload": with_marker}


@helpers.engines_param("sqlite", "postgresql", "mysql")
def test_no_payload_escapes_into_sql(engine, tmp_path, statement_log, capsys):
    connection = helpers.connect(engine, tmp_path)
    tag = uuid.uuid4().hex[:6]
    canary_schema = f"rcan_{tag}"
    schema = dj.Schema(f"rinj_{tag}", connection=connection)
    canary_db = dj.Schema(canary_schema, connection=connection)
    try:
        @canary_db
        class Canary(dj.Manual):
            definition = """
            canary_id : int32
            ---
            note : varchar(64)
            """

        Canary.insert([(1, "tweet"), (2, "chirp"), (3, "still alive")])
        canary = qualified(engine, canary_schema, "canary")

        @schema
        class Subject(dj.Manual):
            definition = """
            subject_id : int32
            ---
            name : varchar(200)
            weight = null : float64
            """

        Subject.insert([(1, "mouse", 20.5), (2, "rat", 300.0)])
        tables_before = _all_tables(connection)
        if engine == "sqlite":
            connection._raw.set_trace_callback(statement_log.append)
        payloads = _payloads(engine, canary)
        attempts = Attempts()
        declared = []
        for number, (marker, p) in enumerate(payloads):
            sid = 100 + number
            attempts.run("restriction string", lambda: len(Subject & p))
            attempts.run("restriction in a literal", lambda: len(Subject & f"name = '{p}'"))
            attempts.run("restriction in a literal (double quotes)", lambda: len(Subject & f'name = "{p}"'))
            attempts.run("negated restriction", lambda: len(Subject - p))
            attempts.run("dict value", lambda: _expect(len(Subject & {"name": p}) == 0))
            attempts.run("insert value + fetch back", lambda: _roundtrip(Subject, sid, p))
            attempts.run("update1 value", lambda: Subject.update1({"subject_id": sid, "name": p + "!"}))
            attempts.run("insert dict key", lambda: Subject.insert1({"subject_id": 900 + number, "name": "x", p: 1}))
            attempts.run("insert dict key (ignore_extra_fields)",
                         lambda: Subject.insert1({"subject_id": 900 + number, "name": "x", p: 1},
                                                 ignore_extra_fields=True))
            attempts.run("dict restriction key", lambda: len(Subject & {p: 1}))
            attempts.run("proj new name", lambda: Subject.proj(**{p: "weight"}).to_dicts())
            attempts.run("proj expression", lambda: Subject.proj(x=p).to_dicts())
            attempts.run("proj attribute", lambda: Subject.proj(p).to_dicts())
            attempts.run("aggr expression", lambda: Subject.aggr(Subject, n=p).to_dicts())
            attempts.run("order_by string", lambda: Subject.to_dicts(order_by=p))
            attempts.run("order_by list", lambda: Subject.to_dicts(order_by=["name", p]))
            attempts.run("order_by with DESC", lambda: Subject.to_dicts(order_by=f"name DESC, {p}"))
            attempts.run("dj.Top order", lambda: (Subject & dj.Top(1, p)).to_dicts())
            attempts.run("dj.U attribute", lambda: (dj.U(p) * Subject).to_dicts())
            attempts.run("dj.U aggr", lambda: dj.U(p).aggr(Subject, n="count(*)").to_dicts())
            attempts.run("fetch attribute", lambda: Subject.to_arrays(p))
            attempts.run("fetch1 attribute", lambda: (Subject & {"subject_id": 1}).fetch1(p))
            attempts.run("schema name", lambda: dj.Schema(p, connection=connection))
            attempts.run("virtual schema name", lambda: dj.virtual_schema(p, connection=connection))
            attempts.run("FreeTable name", lambda: len(dj.FreeTable(connection, schema.database, p)))
            attempts.run("FreeTable schema", lambda: len(dj.FreeTable(connection, p, "subject")))
            attempts.run("class name", lambda: _declare_class(schema, p, declared))
            attempts.run("definition comment", lambda: _declare_ddl(schema, f"Comment{number}", f"""
                # {p}
                k : int32   # {p}
                ---
                v = null : varchar(20)  # {p}
                """, declared))
            attempts.run("definition default", lambda: _declare_ddl(schema, f"Default{number}", f"""
                k : int32
                ---
                v = "{p}" : varchar(200)
                """, declared))
            attempts.run("definition default (single quotes)", lambda: _declare_ddl(schema, f"Single{number}", f"""
                k : int32
                ---
                v = '{p}' : varchar(200)
                """, declared))
            attempts.run("enum value", lambda: _declare_ddl(schema, f"Enum{number}", f"""
                k : int32
                ---
                v : enum('a', '{p}')
                """, declared))
        magic = _magic_attempts(engine, tmp_path, connection, schema, payloads, attempts, declared)
        if engine == "sqlite":
            connection._raw.set_trace_callback(None)
        assert not attempts.failures, "\n".join(attempts.failures[:20])

        # ---- independent checks ------------------------------------------------------------------
        rows = sorted(raw_query(engine, f"SELECT canary_id, note FROM {canary}", tmp_path))
        assert rows == [(1, "tweet"), (2, "chirp"), (3, "still alive")], rows
        tables_after = _all_tables(connection)
        created = {t for t in tables_after - tables_before}
        expected_new = {t for t in created if _is_declared_by_test(t, declared)}
        assert created == expected_new, f"unexpected tables: {created - expected_new}"
        assert not (tables_before - tables_after), f"tables vanished: {tables_before - tables_after}"
        statements = _logged_statements(engine, statement_log)
        checked = _check_statements(engine, statements, [m for m, _ in payloads])
        vectors = attempts.summary()
        helpers.report(f"[injection {engine}] {len(payloads)} payloads x {len(vectors)} vectors = "
              f"{sum(attempts.outcomes.values())} attempts, 0 non-DataJoint exceptions; magic lines/cells: {magic}; "
              f"canary 3/3 rows intact; tables: {len(created)} new (all declared by the test: {len(declared)} "
              f"classes), 0 vanished; server log: {checked['statements']} statements, {checked['with_payload']} "
              f"carried a payload, each only inside a literal/quoted identifier, no stacked statements")
        helpers.report(f"[injection {engine}] outcomes per vector: {vectors}")
    finally:
        if engine == "sqlite" and connection._raw is not None:
            connection._raw.set_trace_callback(None)
        for s in (schema, canary_db):
            try:
                s.drop(prompt=False, force=True)
            except Exception as error:  # noqa: BLE001
                print(f"drop failed: {error}")
        connection.close()


def _expect(condition):
    assert condition


def _roundtrip(table, sid, value):
    table.insert1({"subject_id": sid, "name": value})
    got = (table & {"subject_id": sid}).fetch1("name")
    assert got == value, (got, value)
    assert (table & {"name": value}).fetch1("subject_id") == sid


def _declare_class(schema, name, declared):
    try:
        cls = type(name, (dj.Manual,), {"definition": "k : int32\n"})
    except ValueError:  # Python itself refuses the name (NUL): no class can have it
        return "inexpressible"
    schema(cls)
    declared.append(cls.table_name)


def _declare_ddl(schema, name, definition, declared):
    cls = type(name, (dj.Manual,), {"definition": definition})
    schema(cls)
    declared.append(cls.table_name)
    cls.insert1({"k": 1})  # defaults apply
    row = cls.fetch1()
    assert set(row) == {"k", "v"}


def _all_tables(connection) -> set[str]:
    backend = connection.backend
    out = set()
    for s in backend.list_schemas(connection):
        for t in backend.list_tables(connection, s):
            out.add(f"{s}.{t}")
    return out


def _is_declared_by_test(name: str, declared: list[str]) -> bool:
    table = name.split(".", 1)[1] if "." in name else name
    return table in declared or table.lstrip("~") in declared or table.startswith("~") or \
        any(table == d or table.startswith(d) for d in declared)


# ---- the magics --------------------------------------------------------------------------------------------------
def _magic_attempts(engine, tmp_path, connection, schema, payloads, attempts, declared) -> dict:
    from IPython.core.interactiveshell import InteractiveShell

    from dj_jupyter import connection as connection_module

    shell = InteractiveShell.instance()
    if "DJMagic" not in shell.magics_manager.registry:
        shell.run_line_magic("load_ext", "dj_jupyter")
    saved = connection_module._global.get("connection")
    connection_module._global["connection"] = connection  # %dj uses the notebook's connection
    shell.user_ns["schema"] = schema
    outcomes = collections.Counter()
    try:
        shell.run_cell(f"%dj schema {schema.database}")
        shell.run_cell("%%dj manual Probe\nprobe_id : int32\n---\nnote = '' : varchar(200)\n")
        for number, (marker, p) in enumerate(payloads):
            shell.user_ns["P"] = p
            line_p = p.replace("\n", " ").replace("\x00", "")
            cells = [
                f"%dj schema {line_p}",
                f"%dj schema {schema.database} --as {line_p}",
                f"%dj query Probe --order-by '{line_p}'",
                f'%dj query Probe --order-by "{line_p}"',
                "%dj query Probe & {'note': P}",
                "%dj query Probe & P",
                f"%dj query Probe & '{line_p}'",
                f"%dj query Probe --limit 3 -o {line_p}",
                f"%dj describe {line_p}",
                f"%dj status {line_p}",
                f"%dj jobs {line_p}",
                f"%dj diagram {line_p}",
                f"%dj populate Probe {line_p}",
                "%dj delete Probe & {'note': P} --confirm",
                f"%%dj manual Probe{number}\nprobe_id : int32\n---\nnote = '' : varchar(200)  # {line_p}\n"
                f"contents\n1, '{line_p}'\n",
                f"%%dj lookup Look{number}\nlook_id : int32\n---\nnote : varchar(200)\ncontents\n"
                f"1, \"{line_p}\"\n2, {line_p}\n",
                f"%%dj manual {line_p}\nx : int32\n",
                "%%dj\nProbe & P",
            ]
            for source in cells:
                result = shell.run_cell(source, store_history=False, silent=True)
                error = result.error_in_exec or result.error_before_exec
                kind = "ok" if error is None else type(error).__name__
                outcomes[kind] += 1
                if error is not None and not _is_short_error(error):
                    attempts.failures.append(f"magic {source[:80]!r}: {type(error).__name__}: {error}")
            for name in (f"Probe{number}", f"Look{number}"):
                cls = shell.user_ns.get(name)
                if cls is not None:
                    attempts.run("magic contents row", lambda: _check_contents(cls, line_p))
        for value in list(shell.user_ns.values()):
            if isinstance(value, type) and issubclass(value, dj.Table) and getattr(value, "database", None) \
                    == schema.database:
                declared.append(value.table_name)
    finally:
        if saved is not None:
            connection_module._global["connection"] = saved
        else:
            connection_module._global.pop("connection", None)
        shell.user_ns.pop("P", None)
    return dict(outcomes)


def _check_contents(cls, text):
    notes = set(cls.to_arrays("note").tolist())
    assert text in notes or text.strip() in notes or any(text.strip("'\"") == n for n in notes), (notes, text)


def _is_short_error(error) -> bool:
    from IPython.core.error import UsageError

    return isinstance(error, (DataJointError, UsageError))
