"""Injection attempts through restrictions, dict values, expressions, orderings and attribute names.

Each attempt either returns the rows its text means as a single SQL expression
(or as a literal value) or raises ``DataJointError``. While the attempts run,
every statement sent to the database is recorded and checked: one SELECT, no
other statement kinds, no table outside the query, no sleeping or file
functions. Afterwards a canary table in another schema and a secret table
next to the queried ones must be intact.
"""

from __future__ import annotations

import datetime

import pytest
import sqlglot
from sqlglot import exp

import dj_jupyter as dj
from tests.schemas import university

ERROR = "error"
STUDENT_KEYS = ("student_id", "first_name", "last_name", "sex", "date_of_birth", "home_state")
BASE_IDS = {row[0] for row in university.STUDENTS}

# students whose names are attacks: a dict restriction by the name must find exactly that student
HOSTILE_NAMES = {
    101: "O'Brien",
    102: "Robert'); DROP TABLE canary;--",
    103: 'x" OR "1"="1',
    104: "back\\slash\\' OR 1=1 -- ",
    105: "\u201csmart\u201d \u2018quotes\u2019",
    106: "' UNION SELECT * FROM secret --",
    107: "%_*?",
    108: "a /* b */ c",
    109: "1; DROP TABLE canary",
    110: "Ünïcødé ✓ 日本",
}
ALL_IDS = BASE_IDS | set(HOSTILE_NAMES)
FORBIDDEN_FUNCTIONS = ("sleep", "pg_sleep", "benchmark", "load_file", "randomblob", "version", "pg_read_file",
                       "lo_import", "sys_exec", "dblink", "load_extension", "readfile", "writefile")


@pytest.fixture
def setup(make_schema, connection):
    canary_schema = make_schema()

    @canary_schema
    class Canary(dj.Manual):
        definition = """
        canary_id : int32
        ---
        note : varchar(32)
        """

    Canary.insert([(1, "tweet"), (2, "chirp"), (3, "still alive")])

    schema = make_schema()
    u = university.declare(schema)
    university.fill(u)

    @schema
    class Secret(dj.Manual):
        definition = """
        secret_id : int32
        ---
        password : varchar(32)
        """

    Secret.insert([(1, "hunter2"), (2, "correct horse")])
    u.Student.insert([(sid, "Hostile", name, "U", datetime.date(2000, 1, 1), "ZZ") for sid, name in HOSTILE_NAMES.items()])
    u.Canary, u.Secret = Canary, Secret
    state = snapshot(connection, u, canary_schema.database, schema.database)
    for table in (u.Student, u.Enroll, u.Canary, u.Secret, u.StudentMajor):
        table.heading  # noqa: B018 - load headings before recording
    yield u
    assert snapshot(connection, u, canary_schema.database, schema.database) == state, "the database changed"


def snapshot(connection, u, *databases):
    return (
        tuple(tuple(sorted(connection.backend.list_tables(connection, db))) for db in databases),
        tuple(sorted(tuple(r.values()) for r in u.Canary.to_dicts())),
        tuple(sorted(tuple(r.values()) for r in u.Secret.to_dicts())),
        len(u.Student), len(u.Enroll),
    )


class Recorder:
    """Records every statement the connection runs and checks it after the attacks."""

    def __init__(self, connection, monkeypatch):
        self.connection = connection
        self.statements: list[str] = []
        original_query, original_many = connection.query, connection.executemany

        def query(sql, args=(), **kwargs):
            self.statements.append(sql)
            return original_query(sql, args, **kwargs)

        def executemany(sql, rows):
            self.statements.append(sql)
            return original_many(sql, rows)

        monkeypatch.setattr(connection, "query", query)
        monkeypatch.setattr(connection, "executemany", executemany)

    def check(self, allowed_tables: set[str]):
        dialect = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql"}[self.connection.backend.name]
        problems = []
        for sql in self.statements:
            text = sql.replace("%%", "%").replace("%s", "?")
            try:
                statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
            except Exception as error:  # pragma: no cover - reported below
                problems.append(f"unparseable statement ({error}): {sql}")
                continue
            if len(statements) != 1:
                problems.append(f"{len(statements)} statements: {sql}")
                continue
            tree = statements[0]
            if not isinstance(tree, (exp.Select, exp.Union)):
                problems.append(f"not a SELECT ({type(tree).__name__}): {sql}")
            for node in tree.walk():
                if isinstance(node, (exp.Drop, exp.Insert, exp.Delete, exp.Update, exp.Create, exp.Command,
                                     exp.Alter, exp.Into)):
                    problems.append(f"{type(node).__name__} inside: {sql}")
                if isinstance(node, exp.Table):
                    name = node.name.split(".")[-1]
                    if name not in allowed_tables:
                        problems.append(f"table {node.sql()} read by: {sql}")
                if isinstance(node, exp.Func):
                    fname = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
                    if fname in FORBIDDEN_FUNCTIONS:
                        problems.append(f"function {fname} called by: {sql}")
        assert not problems, "\n".join(problems)
        return len(self.statements)


def outcome(make_query):
    """The set of student ids a query returns, or ERROR when it raises DataJointError."""
    try:
        return {r["student_id"] for r in make_query().to_dicts()}
    except dj.DataJointError:
        return ERROR


def run_attacks(attacks, make_query):
    failures = []
    for attack, acceptable in attacks:
        got = outcome(lambda: make_query(attack))
        if got not in acceptable:
            failures.append(f"{attack!r}: got {got}, acceptable {acceptable}")
    assert not failures, "\n".join(failures)


STUDENT_TABLES = {"student"}

# (restriction string, acceptable outcomes)
STRING_ATTACKS = [
    ('last_name = "O\'Brien"', [{101}]),
    ("last_name = 'O''Brien'", [{101}]),
    ("last_name = 'O\\'Brien'", [{101}]),  # MySQL backslash escape
    ('last_name = "x\\" OR \\"1\\"=\\"1"', [{103}]),  # escaped double quotes stay inside the literal
    ("last_name = 'Robert''); DROP TABLE canary;--'", [{102}]),
    ("last_name = 'back\\\\slash\\\\\\' OR 1=1 -- '", [{104}]),  # escaped backslashes then an escaped quote
    ("last_name = '\u201csmart\u201d \u2018quotes\u2019'", [{105}]),
    ("last_name = ''' UNION SELECT * FROM secret --'", [{106}]),
    ("last_name like '\\%\\_*?'", [{107}]),
    ("last_name = 'a /* b */ c'", [{108}]),
    ("last_name = '1; DROP TABLE canary'", [{109}]),
    ("last_name = 'Ünïcødé ✓ 日本'", [{110}]),
    # real expressions mean what they say
    ("last_name = 'x' OR '1'='1'", [ALL_IDS]),
    ("student_id = 1 OR 1 = 1", [ALL_IDS]),
    ("last_name like '%'", [ALL_IDS]),
    # second statements
    ("student_id = 1; DROP TABLE canary", [ERROR]),
    ("student_id = 1; SELECT 1", [ERROR]),
    ("last_name = 'a'; DELETE FROM canary; SELECT 'b'", [ERROR]),
    ("student_id = 1;", [ERROR, {1}]),
    ("student_id = 1\nDROP TABLE canary", [ERROR]),
    ("student_id = 1\uff1bDROP TABLE canary", [ERROR]),
    # breaking out of the parentheses the condition is wrapped in
    ("student_id = 1) OR (1 = 1", [ERROR]),
    ("1) OR 1=1 OR (1", [ERROR]),
    ("student_id = 1)) OR ((1 = 1", [ERROR]),
    # comments that hide the rest
    ("student_id = 1 -- ' OR 1=1", [ERROR, {1}]),
    ("student_id = 1 #' OR 1=1", [ERROR, {1}]),
    ("student_id = 1 /* */ OR 1 = 1", [ERROR, ALL_IDS]),
    ("student_id = 1 /*! OR 1=1 */", [ERROR, {1}]),
    ("student_id = 1 /*", [ERROR, {1}]),
    # other tables
    ("student_id = 1 UNION SELECT secret_id FROM secret", [ERROR]),
    ("1 = 1 UNION SELECT * FROM canary", [ERROR]),
    ("student_id IN (SELECT secret_id FROM secret)", [ERROR]),
    ("student_id = (SELECT max(canary_id) FROM canary)", [ERROR]),
    ("EXISTS (SELECT * FROM secret)", [ERROR]),
    ("student_id = (SELECT 1)", [ERROR]),
    ("student_id IN (SELECT 1 UNION SELECT 2)", [ERROR]),
    ("student.student_id = 1", [ERROR]),
    ("secret.password = 'hunter2'", [ERROR]),
    # slow or dangerous functions, server variables
    ("sleep(1) = 0", [ERROR]),
    ("student_id = 1 AND SLEEP(5)", [ERROR]),
    ("benchmark(1000000, md5('x')) = 0", [ERROR]),
    ("pg_sleep(1) IS NULL", [ERROR]),
    ("load_file('/etc/passwd') IS NULL", [ERROR]),
    ("randomblob(1000000000) IS NOT NULL", [ERROR]),
    ("version() LIKE '%'", [ERROR]),
    ("@@version LIKE '%'", [ERROR]),
    ("@x := 1", [ERROR]),
    ("database() = database()", [ERROR]),
    ("user() IS NOT NULL", [ERROR]),
    ("student_id = 1 INTO OUTFILE '/tmp/dj_injection'", [ERROR]),
    ("student_id = 1 LIMIT 1", [ERROR]),
    ("student_id = 1 ORDER BY 1", [ERROR]),
    # quoting tricks
    ("last_name = \u201cLovelace\u201d", [ERROR, set()]),
    ("last_name = \uff07Lovelace\uff07", [ERROR, set()]),
    ("last_name = 'a\x00' OR 1=1", [ERROR]),
    ("`last_name``) OR 1=1; --` = 1", [ERROR]),
    ('"student_id" = 1', [ERROR, set()]),  # a MySQL string, not a column
    ("last_name = N'O''Brien'", [ERROR, {101}]),
    ("last_name = 0x4f27427269656e", [ERROR, set(), {101}]),
    ("$$ OR 1=1 $$", [ERROR, set()]),
    ("student_id = ?", [ERROR]),
    ("student_id = %s", [ERROR, set()]),
    ("student_id = %(x)s", [ERROR, set()]),
    ("last_name = 'unterminated", [ERROR]),
    ("", [ERROR]),
    ("   ", [ERROR]),
]


class TestStringRestrictions:
    def test_attacks(self, setup, connection, monkeypatch):
        recorder = Recorder(connection, monkeypatch)
        run_attacks(STRING_ATTACKS, lambda text: setup.Student & text)
        negated = [(text, [ERROR] + [ALL_IDS - r for r in ok if r is not ERROR]) for text, ok in STRING_ATTACKS]
        run_attacks(negated, lambda text: setup.Student - text)
        assert recorder.check(STUDENT_TABLES) > 0

    def test_attacks_inside_lists_and_and_lists(self, setup, connection, monkeypatch):
        recorder = Recorder(connection, monkeypatch)
        for text, acceptable in STRING_ATTACKS:
            either = outcome(lambda: setup.Student & [text, {"student_id": 1}])
            assert either in [ERROR] + [r | {1} for r in acceptable if r is not ERROR], text
            both = outcome(lambda: setup.Student & dj.AndList([text, "student_id > 100"]))
            assert both in [ERROR] + [{i for i in r if i > 100} for r in acceptable if r is not ERROR], text
        recorder.check(STUDENT_TABLES)


DICT_VALUE_ATTACKS = [
    "' OR '1'='1", "\" OR \"1\"=\"1", "2; DROP TABLE canary", "1' ; DROP TABLE canary; --", "\\", "\\'", "'",
    "%", "_", "*/ OR 1=1 /*", "' UNION SELECT password FROM secret --", "\u2019 OR 1=1 --", "x\x00y",
    "'; SELECT pg_sleep(5); --", "' AND SLEEP(5) AND '1'='1", "$$; DROP TABLE canary; $$", "?", "%s", "%(x)s",
]


class TestDictRestrictions:
    def test_hostile_values_match_exactly(self, setup, connection, monkeypatch):
        recorder = Recorder(connection, monkeypatch)
        failures = []
        for sid, name in HOSTILE_NAMES.items():
            if outcome(lambda: setup.Student & {"last_name": name}) != {sid}:
                failures.append(f"& {name!r}")
            if outcome(lambda: setup.Student - {"last_name": name}) != ALL_IDS - {sid}:
                failures.append(f"- {name!r}")
        names = list(HOSTILE_NAMES.values())
        if outcome(lambda: setup.Student & [{"last_name": n} for n in names]) != set(HOSTILE_NAMES):
            failures.append("list of hostile names")
        assert not failures, failures
        recorder.check(STUDENT_TABLES)

    def test_hostile_values_that_match_nothing(self, setup, connection, monkeypatch):
        recorder = Recorder(connection, monkeypatch)
        for value in DICT_VALUE_ATTACKS:
            assert outcome(lambda: setup.Student & {"last_name": value}) in (set(), ERROR), value
            assert outcome(lambda: setup.Student & {"home_state": value, "sex": "F"}) in (set(), ERROR), value
            assert outcome(lambda: setup.Student - {"first_name": value}) in (ALL_IDS, ERROR), value
            # a value for a numeric or date attribute is either refused or matches nothing
            assert outcome(lambda: setup.Student & {"student_id": value}) in (set(), ERROR), value
            assert outcome(lambda: setup.Student & {"date_of_birth": value}) in (set(), ERROR), value
        assert outcome(lambda: setup.Student & {"student_id": "1 OR 1=1"}) in (set(), ERROR)
        recorder.check(STUDENT_TABLES)

    def test_hostile_keys_are_ignored(self, setup, connection, monkeypatch):
        recorder = Recorder(connection, monkeypatch)
        for key in ("student_id = 1 OR 1", "last_name`; DROP TABLE canary; --", "1=1) OR (1", "secret.password",
                    "student_id\x00"):
            assert outcome(lambda: setup.Student & {key: 1}) == ALL_IDS
            assert outcome(lambda: setup.Student & {key: 1, "student_id": 3}) == {3}
        recorder.check(STUDENT_TABLES)

    def test_hostile_values_through_a_join(self, setup, connection, monkeypatch):
        recorder = Recorder(connection, monkeypatch)
        joined = setup.Student * setup.Enroll
        for value in DICT_VALUE_ATTACKS:
            assert outcome(lambda: joined & {"dept": value}) in (set(), ERROR), value
        recorder.check(STUDENT_TABLES | {"enroll"})


class TestExpressionsAndNames:
    def test_computed_expressions(self, setup, connection, monkeypatch):
        recorder = Recorder(connection, monkeypatch)
        attacks = ["(SELECT count(*) FROM secret)", "1); DROP TABLE canary; --", "1; DROP TABLE canary",
                   "sleep(1)", "student_id -- comment", "student_id /* x */", "(SELECT password FROM secret LIMIT 1)",
                   "load_file('/etc/passwd')", "@@version", "student_id FROM canary --", "1 UNION SELECT 1"]
        for text in attacks:
            with pytest.raises(dj.DataJointError):
                setup.Student.proj(x=text).to_dicts()
            with pytest.raises(dj.DataJointError):
                setup.Student.aggr(setup.Enroll, n=f"count(*) + {text}").to_dicts()
            with pytest.raises(dj.DataJointError):
                dj.U().aggr(setup.Student, n=text).to_dicts()
        # a harmless literal containing the same text is just a value
        values = {r["x"] for r in setup.Student.proj(x="'1); DROP TABLE canary; --'").to_dicts()}
        assert values == {"1); DROP TABLE canary; --"}
        recorder.check(STUDENT_TABLES | {"enroll"})

    def test_orderings(self, setup, connection, monkeypatch):
        recorder = Recorder(connection, monkeypatch)
        for order in ["student_id; DROP TABLE canary", "(SELECT 1)", "student_id DESC, (SELECT 1)", "sleep(1)",
                      "student_id -- x", "1", "student_id DESC; --", "last_name COLLATE x", "RAND()",
                      "student_id ASC DESC", "`student_id`; DROP TABLE canary"]:
            with pytest.raises(dj.DataJointError):
                setup.Student.to_dicts(order_by=order, limit=2)
            with pytest.raises(dj.DataJointError):
                setup.Student & dj.Top(2, order)
        recorder.check(STUDENT_TABLES)

    def test_attribute_names(self, setup, connection, monkeypatch):
        recorder = Recorder(connection, monkeypatch)
        for name in ["first_name FROM canary --", "first_name`; DROP TABLE canary; --", 'first_name"; DROP',
                     "*", "first_name, password", "(SELECT 1)"]:
            with pytest.raises(dj.DataJointError):
                setup.Student.proj(name)
            with pytest.raises(dj.DataJointError):
                setup.Student.to_arrays(name)
            with pytest.raises(dj.DataJointError):
                (setup.Student & {"student_id": 1}).fetch1(name)
            with pytest.raises(dj.DataJointError):
                dj.U(name)
            with pytest.raises(dj.DataJointError):
                setup.Student.proj(**{"x": name})
            with pytest.raises(dj.DataJointError):
                setup.Student.proj(..., f"-{name}")
        with pytest.raises(dj.DataJointError):
            setup.Student.proj(**{"x; DROP TABLE canary": "student_id"})
        with pytest.raises(dj.DataJointError):
            setup.Student.aggr(setup.Enroll, **{"n FROM canary --": "count(*)"})
        recorder.check(STUDENT_TABLES)


class TestSafeQueriesStillWork:
    def test_hostile_rows_survive_every_fetch_path(self, setup):
        hostile = setup.Student & "student_id > 100"
        assert {r["last_name"] for r in hostile.to_dicts()} == set(HOSTILE_NAMES.values())
        assert set(hostile.to_pandas()["last_name"]) == set(HOSTILE_NAMES.values())
        assert set(hostile.to_arrays("last_name").tolist()) == set(HOSTILE_NAMES.values())
        for sid, name in HOSTILE_NAMES.items():
            assert (setup.Student & {"student_id": sid}).fetch1("last_name") == name
        html = hostile._repr_html_()
        assert "DROP TABLE canary" in html and "<script" not in html
        assert len(hostile) == len(HOSTILE_NAMES)
        assert bool(hostile)

    def test_hostile_values_in_semijoins_and_unions(self, setup):
        names = setup.Student.proj("last_name") & "student_id > 100"
        assert len(setup.Student & names.proj()) == len(HOSTILE_NAMES)
        union = (setup.Student & {"last_name": HOSTILE_NAMES[102]}).proj() + (
            setup.Student & {"last_name": HOSTILE_NAMES[106]}).proj()
        assert {r["student_id"] for r in union.to_dicts()} == {102, 106}
        counts = dj.U("last_name").aggr(setup.Student & "student_id > 100", n="count(*)")
        assert {r["last_name"] for r in counts.to_dicts()} == set(HOSTILE_NAMES.values())
