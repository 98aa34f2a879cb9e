"""Fuzzing the three parsers: any input works or raises DataJointError; no other exception, no hang.

Hypothesis draws both arbitrary text and text assembled from the languages' own pieces
(attribute lines, foreign keys, SQL operators and keywords, quotes, comments, magic options)
so that inputs get deep into each parser. Each example runs under a 5 s alarm (a hang is a
failure). The atheris runs (coverage-guided, libFuzzer) use the same targets in a subprocess
for a fixed time each, with libFuzzer's own per-input timeout.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability import helpers
from tests.reliability.fuzz_targets import TARGETS

pytestmark = pytest.mark.timeout(300)

EXAMPLES = int(os.environ.get("DJ_FUZZ_EXAMPLES", "600"))
ATHERIS_SECONDS = int(os.environ.get("DJ_ATHERIS_SECONDS", "12"))
STATS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


class Hang(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: float):
    def alarm(signum, frame):
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run(name: str, text: str) -> None:
    started = time.perf_counter()
    with deadline(5.0):
        try:
            TARGETS[name](text)
            STATS[name]["accepted"] += 1
        except Exception as error:
            from dj_jupyter.errors import DataJointError

            if not isinstance(error, DataJointError):
                raise AssertionError(f"{name}({text!r}) raised {type(error).__name__}: {error}") from error
            STATS[name]["DataJointError"] += 1
    STATS[name]["max_ms"] = max(STATS[name]["max_ms"], int(1000 * (time.perf_counter() - started)))


# ---- strategies -------------------------------------------------------------------------------------------
NASTY = ["'", '"', "`", "\\", "\x00", "\n", "\r", "\t", ";", "--", "#", "/*", "*/", "%", "%s", "?", "$1", "{", "}",
         "(", ")", "[", "]", "=", "->", ":", "|", "\u200b", "\u02bc", "\uff07", "\u2018", "\u201c", "\ufeff", "é",
         "𝔘", "\U0001f600", "\\'", "''", '""', "0x", "1e999", "-" * 3, "_" * 3]
NAMES = ["subject_id", "weight", "species", "session", "a", "b", "x", "Name", "select", "1a", "a b", "ä"]
TYPES = ["int32", "int64", "float64", "varchar(32)", "varchar(-1)", "varchar(999999999999)", "decimal(5,2)",
         "enum('a','b')", "enum('a\\'', \"b\")", "date", "datetime(3)", "<blob>", "<blob@>", "<npy@store>", "bool",
         "uuid", "json", "int", "float", "longblob", "char(0)", "bytes", "<attach@s>", "<filepath@>", "uint8",
         "enum()", "decimal(100,200)", "varchar(", "<>", "<blob@../x>"]
DEFAULTS = ["", " = null", " = NULL", " = 1", " = -1.5e3", ' = "x"', " = 'y'", " = CURRENT_TIMESTAMP",
            " = CURRENT_TIMESTAMP(3)", ' = "a\\"b"', " = (1)", " = 1; DROP TABLE x", " = now()", " = '", " = [1, 2]"]


def _attribute_line():
    return st.builds(lambda n, d, t, c: f"{n}{d} : {t}{c}", st.sampled_from(NAMES), st.sampled_from(DEFAULTS),
                     st.sampled_from(TYPES), st.sampled_from(["", " # comment", " # :x:", " #", "# ' \" ;"]))


def _fk_line():
    return st.builds(lambda o, r: f"-> {o}{r}", st.sampled_from(["", "[nullable] ", "[unique] ", "[x] ", "[", "[]"]),
                     st.sampled_from(["Subject", "lab.Subject", "Subject.proj(s='subject_id')", "Master.Part",
                                      "Subject.proj(", "Subject.proj(a=b, c='d')", "__import__('os')", "1", ""]))


def _index_line():
    return st.builds(lambda u, c: f"{u}index({c})", st.sampled_from(["", "unique ", "UNIQUE "]),
                     st.sampled_from(["a", "a, b", "", "a,", "(a)", "a b", "'a'"]))


def _mutate(base):
    return st.builds(lambda text, pos, junk: text[:pos % (len(text) + 1)] + junk + text[pos % (len(text) + 1):],
                     base, st.integers(0, 10_000), st.sampled_from(NASTY))


definition_lines = st.one_of(_attribute_line(), _fk_line(), _index_line(), st.sampled_from(["---", "___", "--- x",
                                                                                          "# table comment", "#:x"]))
definitions = st.one_of(
    st.text(max_size=300),
    st.lists(definition_lines, max_size=12).map("\n".join),
    _mutate(st.lists(definition_lines, min_size=1, max_size=8).map("\n".join)),
)

SQL_TOKENS = ["subject_id", "weight", "species", "a", "b", "1", "-1", "1.5", "1e308", "'mouse'", '"rat"', "'O''Brien'",
              "'a\\'b'", "NULL", "TRUE", "=", "<>", "!=", "<=>", "<", ">=", "AND", "OR", "NOT", "XOR", "IN", "(", ")",
              ",", "BETWEEN", "LIKE", "'%m_'", "IS", "+", "-", "*", "/", "DIV", "%", "&", "|", "^", "~", "count(*)",
              "sum(weight)", "now()", "concat(", "sleep(1)", "benchmark(1,1)", "load_file('/etc/passwd')", "SELECT",
              "FROM", "UNION", "UNION SELECT 1", ";", "; DROP TABLE t", "--", "#", "/*", "*/", "@@version", "@x",
              ":=", "INTO OUTFILE '/tmp/x'", "CASE WHEN", "THEN", "ELSE", "END", "CAST(a AS CHAR)", "x'41'",
              "b'01'", "`a`", "`a``b`", "\\", "\x00", "é", "\u02bc", "\uff1d", "pg_sleep(1)", "$$", "E'\\x41'",
              "interval 1 day", "->", "->>", "'$.a'", "regexp", "collate", "binary", "?", "%s", "$1"]
restrictions = st.one_of(
    st.text(max_size=120),
    st.lists(st.sampled_from(SQL_TOKENS), max_size=14).map(" ".join),
    st.lists(st.sampled_from(SQL_TOKENS), max_size=10).map("".join),
    _mutate(st.lists(st.sampled_from(SQL_TOKENS), min_size=1, max_size=8).map(" ".join)),
)

CELL_LINES = ["manual Subject", "computed X --make f", "subject_id : int32", "---", "species : varchar(32)",
              "part Trial", "part Trial:", "-> master", "contents", "contents:", "1, 'mouse', 3.5", "2, \"rat\", x",
              "'a''b', 'c\\'d', 1", "'unclosed, 1", "1,,2", ",", "# comment", "  indented : int", "--order-by a",
              "--processes=2 'a = \"b\"' {'x': 1}", "-o out", "--help", "'", '"', "{", "(", "[", "\\", "\t", ""]
cells = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(CELL_LINES), max_size=14).map("\n".join),
    _mutate(st.lists(st.sampled_from(CELL_LINES), min_size=1, max_size=10).map("\n".join)),
)

FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@FUZZ_SETTINGS
@given(definitions)
def test_fuzz_definition_parser(text):
    run("definition", text)


@FUZZ_SETTINGS
@given(restrictions)
def test_fuzz_restriction_parser(text):
    run("restriction", text)


@FUZZ_SETTINGS
@given(cells)
def test_fuzz_cell_parser(text):
    run("cell", text)


def test_fuzz_summary():
    """Prints what the hypothesis runs above tried (run after them in file order)."""
    for name in TARGETS:
        counts = STATS.get(name)
        if counts:
            helpers.report(f"[fuzz hypothesis {name}] {counts['accepted'] + counts['DataJointError']} inputs: "
                  f"{counts['accepted']} accepted, {counts['DataJointError']} DataJointError, 0 other exceptions, "
                  f"slowest {counts['max_ms']} ms (limit 5000 ms)")


# ---- atheris ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_atheris(target, tmp_path, capture_dir):
    try:
        import atheris  # noqa: F401
    except ImportError as error:
        pytest.fail(f"atheris is not installed ({error}); pip install -e '.[test]' installs it")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(_seeds(target)):
        (corpus / f"seed{i}").write_bytes(seed.encode("utf-8", "surrogatepass"))
    log = capture_dir / f"atheris-{target}.log"
    env = {**os.environ, "PYTHONPATH": str(helpers.ROOT)}
    with open(log, "w") as out:
        done = subprocess.run([sys.executable, "-m", "tests.reliability.fuzz_targets", target, str(corpus),
                               f"-max_total_time={ATHERIS_SECONDS}", "-timeout=5", "-rss_limit_mb=2048",
                               f"-artifact_prefix={tmp_path}/"], env=env, cwd=tmp_path, stdout=out,
                              stderr=subprocess.STDOUT, timeout=ATHERIS_SECONDS + 120)
    text = log.read_text(errors="replace")
    runs = [line for line in text.splitlines() if line.startswith("Done ") or "DONE" in line]
    crashes = list(tmp_path.glob("crash-*")) + list(tmp_path.glob("timeout-*"))
    assert done.returncode == 0 and not crashes, (
        f"atheris found a failing input for {target}: {[c.read_bytes()[:200] for c in crashes]}\n{text[-3000:]}")
    coverage = [line for line in text.splitlines() if " cov: " in line]
    helpers.report(f"[fuzz atheris {target}] {ATHERIS_SECONDS} s coverage-guided: {runs[-1] if runs else '(no summary)'}; "
          f"last status {coverage[-1].strip() if coverage else '-'}; no crash, no timeout (-timeout=5)")


def _seeds(target: str) -> list[str]:
    if target == "definition":
        return ["# a table\nsubject_id : int32\n---\nweight = null : float64  # grams\n-> Other\nindex(weight)",
                "-> [nullable] Session.proj(s='session')\nx : enum('a', 'b')"]
    if target == "restriction":
        return ['species = "mouse" AND weight > 20', "subject_id IN (1, 2) OR name LIKE 'a%'",
                "count(*) > 1", "weight BETWEEN 1 AND 2 AND NOT a IS NULL"]
    return ["manual Subject\nsubject_id : int32\n---\nname : varchar(8)\ncontents\n1, 'a'\n2, \"b\"",
            "--processes=2 Subject 'a = \"b\"' {'x': 1}", "part Trial\n-> master\ntrial : int16"]
