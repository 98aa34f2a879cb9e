"""Pure text handling of the magics (no IPython, no database)."""

from __future__ import annotations

import decimal

import pytest

from dj_jupyter.declare.types import classify
from dj_jupyter.query.heading import Attribute
from kernel_magics.parsing import (CellSyntaxError, RawValue, convert_row, parse_declaration, parse_row, scan,
                                   split_options, unquote)


def texts(line):
    return [t.text for t in scan(line)]


def test_scan_keeps_quotes_brackets_and_spacing_inside_them():
    assert texts("Session & 'species = \"mouse\"'  --limit 3") == ["Session", "&", "'species = \"mouse\"'",
                                                                     "--limit", "3"]
    assert texts("T & {'a': 1,  'b': 'x  y'}") == ["T", "&", "{'a': 1,  'b': 'x  y'}"]
    assert texts("Session&'a  b' x") == ["Session&'a  b'", "x"]
    assert texts("f(a, b) 'it\\'s'") == ["f(a, b)", "'it\\'s'"]
    assert texts("open 'unclosed string") == ["open", "'unclosed string"]
    assert texts("   ") == []


def test_unquote_only_whole_quoted_tokens():
    assert unquote('"score DESC"') == "score DESC"
    assert unquote("'/tmp/a b.sqlite3'") == "/tmp/a b.sqlite3"
    assert unquote("plain") == "plain"
    assert unquote("'a'b") == "'a'b"


def test_split_options_leaves_expressions_verbatim():
    from IPython.core.magic_arguments import argument, magic_arguments

    @magic_arguments()
    @argument("table")
    @argument("restriction", nargs="*")
    @argument("--processes", type=int)
    @argument("--reserve-jobs", action="store_true")
    @argument("--order-by")
    def spec(self, args):
        pass

    options, positionals, wants_help = split_options(
        "T Session & 'a = \"b c\"' --processes 2 --reserve-jobs --order-by=\"x DESC\"", spec.parser)
    assert options == ["--processes", "2", "--reserve-jobs", "--order-by", "x DESC"]
    assert positionals == ["T", "Session", "&", "'a = \"b c\"'"]
    assert not wants_help
    assert split_options("T -h", spec.parser)[2]
    assert split_options("-Session", spec.parser)[1] == ["-Session"]  # not an option: part of the expression


def test_declaration_blocks():
    cell = parse_declaration("""
    # sessions
    -> Subject
    session : int16
    ---
    note = "" : varchar(64)

    part Trial
    -> master
    trial : int16

    part Stimulus:   # with a comment
    -> master
    stim : int16
    """)
    assert cell.definition == '# sessions\n-> Subject\nsession : int16\n---\nnote = "" : varchar(64)\n'
    assert [(p.name, p.definition) for p in cell.parts] == [("Trial", "-> master\ntrial : int16\n"),
                                                            ("Stimulus", "-> master\nstim : int16\n")]
    assert cell.contents is None
    # an attribute named `part` or `contents` is not a block keyword
    cell = parse_declaration("part : int32\n---\ncontents = '' : varchar(10)\n")
    assert not cell.parts and cell.contents is None and "contents =" in cell.definition


def test_contents_rows():
    cell = parse_declaration("kind : varchar(16)\n---\nrank : int16\ncontents\n# a comment\nfirst, 1\n\n"
                             "'second, with comma', 2\n\"it's\", 3\n'SQL ''quote''', \n")
    assert cell.contents == [["first", "1"], ["second, with comma", "2"], ["it's", "3"], ["SQL 'quote'", ""]]
    assert isinstance(cell.contents[0][1], RawValue) and not isinstance(cell.contents[1][0], RawValue)
    with pytest.raises(CellSyntaxError, match="follows part"):
        parse_declaration("a : int32\npart P\n-> master\ncontents\n1\n")
    with pytest.raises(CellSyntaxError, match="second `contents`"):
        parse_declaration("a : int32\ncontents\n1\ncontents\n2\n")
    with pytest.raises(CellSyntaxError, match="unclosed quote"):
        parse_row("'open, 1")
    with pytest.raises(CellSyntaxError, match="no definition"):
        parse_declaration("a : int32\npart P\n")
    with pytest.raises(CellSyntaxError, match="no table definition"):
        parse_declaration("\n  \n")


def _attribute(name, declared, nullable=False):
    return Attribute(name=name, type=classify(declared), nullable=nullable)


def test_unquoted_values_are_converted_by_attribute_type():
    attributes = [_attribute("zip", "varchar(5)"), _attribute("n", "int32"), _attribute("x", "float64"),
                  _attribute("price", "decimal(5,2)"), _attribute("ok", "bool"), _attribute("note", "varchar(9)"),
                  _attribute("when", "date")]
    row = parse_row("02139, 7, 2.5, 3.10, true, null, 2024-01-02")
    assert convert_row(row, attributes) == {"zip": "02139", "n": 7, "x": 2.5, "price": decimal.Decimal("3.10"),
                                            "ok": True, "note": None, "when": "2024-01-02"}
    assert convert_row(parse_row("'007', 1, 1, 1, 0, '', '2024-01-02'"), attributes)["zip"] == "007"
    with pytest.raises(CellSyntaxError, match="has 2 values"):
        convert_row(parse_row("a, b"), attributes)
