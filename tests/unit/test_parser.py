"""The definition language, parsed without a database.

Valid definitions are checked against what the DataJoint 2.3 definition
language means (key section, ``---``, defaults, types, foreign keys, indexes);
every invalid one must raise ``DataJointError`` whose message quotes the
offending line and carries a hint on how to fix it.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dj_jupyter.declare.parser import AttributeDecl, ForeignKeyDecl, parse_definition
from dj_jupyter.declare.types import classify
from dj_jupyter.errors import DataJointError


def attributes(spec) -> dict[str, AttributeDecl]:
    return {a.name: a for a in spec.attributes}


def key_names(spec) -> list[str]:
    return [a.name for a in spec.attributes if a.in_key]


def dependent_names(spec) -> list[str]:
    return [a.name for a in spec.attributes if not a.in_key]


def default_of(spec, name):
    """The default as a plain value: the literal, or the SQL constant's text."""
    default = attributes(spec)[name].default
    if default is None:
        return None
    return default.constant if default.constant else default.value


# ---------------------------------------------------------------------------------------------
# valid definitions: (id, definition, expectations)
# expectation keys: comment, key, dependent, types {name: (category, name, params)},
# text {name: canonical type text}, defaults {name: value}, nullable {names}, comments {name: text},
# fks [(reference, in_key, renames, nullable, unique)], indexes [(attrs, unique)], store {name: store}
# ---------------------------------------------------------------------------------------------
VALID = [
    ("single key", "subject_id : int32", {"key": ["subject_id"], "dependent": []}),
    ("table comment", "# experimental subjects\nsubject_id : int32",
     {"comment": "experimental subjects", "key": ["subject_id"]}),
    ("comment without space", "#terse\nx : int8", {"comment": "terse"}),
    ("key and dependent", "subject_id : int32\n---\nname : varchar(64)\nweight : float32",
     {"key": ["subject_id"], "dependent": ["name", "weight"]}),
    ("composite key", "a : int16\nb : char(3)\n---\nc : float64", {"key": ["a", "b"], "dependent": ["c"]}),
    ("no key section", "---\nvalue : float64", {"key": [], "dependent": ["value"]}),
    ("long separator", "a : int32\n----------\nb : int32", {"key": ["a"], "dependent": ["b"]}),
    ("underscore separator", "a : int32\n___\nb : int32", {"key": ["a"], "dependent": ["b"]}),
    ("separator with comment", "a : int32\n--- # the rest\nb : int32", {"key": ["a"], "dependent": ["b"]}),
    ("indented lines", "\n    # indented comment\n    a : int32\n    ---\n    b : int64\n",
     {"comment": "indented comment", "key": ["a"], "dependent": ["b"]}),
    ("blank and comment lines", "a : int32\n\n# a remark, not the table comment\n---\n\nb : int32",
     {"comment": "", "key": ["a"], "dependent": ["b"]}),
    ("attribute comment", "a : int32  # the id number\n---\nb : bool # flag",
     {"comments": {"a": "the id number", "b": "flag"}}),
    ("comment with arrow and colon", "a : int32 # maps a->b: see notes",
     {"comments": {"a": "maps a->b: see notes"}, "fks": []}),
    ("no spaces", "a:int32\n---\nb=5:int64#five",
     {"key": ["a"], "defaults": {"b": 5}, "comments": {"b": "five"}}),
    ("integer types", "---\na : int8\nb : int16\nc : int32\nd : int64",
     {"types": {n: ("core", t, ()) for n, t in zip("abcd", ("int8", "int16", "int32", "int64"))}}),
    ("float and bool", "---\nx : float32\ny : float64\nz : bool",
     {"types": {"x": ("core", "float32", ()), "y": ("core", "float64", ()), "z": ("core", "bool", ())}}),
    ("decimal", "---\namount : decimal(8,3)\nwide : decimal( 12 , 0 )",
     {"types": {"amount": ("core", "decimal", (8, 3)), "wide": ("core", "decimal", (12, 0))},
      "text": {"amount": "decimal(8,3)", "wide": "decimal(12,0)"}}),
    ("strings", "code : char(4)\n---\nlabel : varchar(255)",
     {"types": {"code": ("core", "char", (4,)), "label": ("core", "varchar", (255,))}}),
    ("temporal", "---\nday : date\nwhen : datetime\nprecise : datetime(3)\nmicro : datetime(6)",
     {"types": {"day": ("core", "date", ()), "when": ("core", "datetime", ()),
                "precise": ("core", "datetime", (3,)), "micro": ("core", "datetime", (6,))}}),
    ("enum", "---\nsex : enum('F', 'M', 'unknown')",
     {"types": {"sex": ("core", "enum", ("F", "M", "unknown"))}}),
    ("enum with quotes and commas", """---\nmood : enum('it''s fine', "a, b", 'x:y')""",
     {"types": {"mood": ("core", "enum", ("it's fine", "a, b", "x:y"))}}),
    ("uuid json bytes", "id : uuid\n---\nmeta : json\nraw : bytes",
     {"types": {"id": ("core", "uuid", ()), "meta": ("core", "json", ()), "raw": ("core", "bytes", ())}}),
    ("uppercase core type", "---\nx : INT32\ny : VarChar(10)",
     {"types": {"x": ("core", "int32", ()), "y": ("core", "varchar", (10,))},
      "text": {"x": "int32", "y": "varchar(10)"}}),
    ("codecs", "---\nimage : <blob>\nbig : <blob@raw>\nfolder : <object@>",
     {"types": {"image": ("codec", "blob", ()), "big": ("codec", "blob", ()), "folder": ("codec", "object", ())},
      "store": {"image": None, "big": "raw", "folder": ""}}),
    ("native types", "---\nn : tinyint unsigned\nd : double\nt : longblob\ns : smallint\nts : timestamp",
     {"types": {"n": ("native", "tinyint unsigned", ()), "d": ("native", "double", ()),
                "t": ("native", "longblob", ()), "s": ("native", "smallint", ()), "ts": ("native", "timestamp", ())}}),
    ("numeric defaults", "---\na = 0 : int32\nb = -7 : int8\nc = 1.5 : float32\nd = 2e-3 : float64\ne = 3 : float64",
     {"defaults": {"a": 0, "b": -7, "c": 1.5, "d": 0.002, "e": 3}}),
    ("integer defaults at the limits", "---\na = 127 : int8\nb = -128 : int8\nc = 2147483647 : int32",
     {"defaults": {"a": 127, "b": -128, "c": 2147483647}}),
    ("quoted defaults", """---\na = "hello" : varchar(16)\nb = 'world' : varchar(16)\nc = "" : varchar(4)""",
     {"defaults": {"a": "hello", "b": "world", "c": ""}}),
    ("default with colon and hash", """---\nurl = "http://x.org/#top" : varchar(64) # link""",
     {"defaults": {"url": "http://x.org/#top"}, "comments": {"url": "link"},
      "types": {"url": ("core", "varchar", (64,))}}),
    ("default with escaped quotes", r"""---
a = "say \"hi\"" : varchar(32)
b = 'it''s' : varchar(32)
c = "single ' inside" : varchar(32)""",
     {"defaults": {"a": 'say "hi"', "b": "it's", "c": "single ' inside"}}),
    ("default with arrow", """---\nrule = "a->b" : varchar(8)""", {"defaults": {"rule": "a->b"}, "fks": []}),
    ("null defaults", "---\nnote = null : varchar(255)\nscore = NULL : float64\nimg = null : <blob>",
     {"nullable": {"note", "score", "img"}, "defaults": {"note": "NULL", "score": "NULL"}}),
    ("current timestamp", "---\nts = CURRENT_TIMESTAMP : datetime\nts3 = current_timestamp(3) : datetime(3)",
     {"defaults": {"ts": "CURRENT_TIMESTAMP", "ts3": "CURRENT_TIMESTAMP(3)"}, "nullable": set()}),
    ("enum and bool defaults", "---\nsex = 'unknown' : enum('F','M','unknown')\nok = true : bool",
     {"defaults": {"sex": "unknown", "ok": True}}),
    ("date default", "---\nday = '2020-01-31' : date", {"defaults": {"day": "2020-01-31"}}),
    ("foreign key in key", "-> Subject\nsession : int16",
     {"fks": [("Subject", True, (), False, False)], "key": ["session"]}),
    ("foreign key below separator", "id : int32\n---\n-> Subject",
     {"fks": [("Subject", False, (), False, False)]}),
    ("module-qualified and part references", "-> lab.Subject\n-> Session.Trial\n---\n-> other . Thing",
     {"fks": [("lab.Subject", True, (), False, False), ("Session.Trial", True, (), False, False),
              ("other.Thing", False, (), False, False)]}),
    ("projected foreign keys", "-> Subject.proj(mother='subject_id')\n-> Subject.proj(father = 'subject_id')",
     {"fks": [("Subject", True, (("mother", "subject_id"),), False, False),
              ("Subject", True, (("father", "subject_id"),), False, False)]}),
    ("proj with two renames", "-> Pair.proj(left_id='a_id', right_id=\"b_id\")",
     {"fks": [("Pair", True, (("left_id", "a_id"), ("right_id", "b_id")), False, False)]}),
    ("nullable and unique options", "id : int32\n---\n-> [nullable] Rig\n-> [unique] Badge\n-> [nullable, unique] Desk",
     {"fks": [("Rig", False, (), True, False), ("Badge", False, (), False, True), ("Desk", False, (), True, True)]}),
    ("option case and spaces", "id : int32\n---\n->[ Nullable ]Rig  # optional rig",
     {"fks": [("Rig", False, (), True, False)]}),
    ("unique option in key", "-> [unique] Parent", {"fks": [("Parent", True, (), False, True)]}),
    ("foreign key with comment", "-> Subject  # who", {"fks": [("Subject", True, (), False, False)]}),
    ("indexes", "a : int32\n---\nb : int32\nc : varchar(8)\nindex(b)\nunique index(b, c)\nINDEX (c) # by c",
     {"indexes": [(("b",), False), (("b", "c"), True), (("c",), False)]}),
    ("items keep declaration order", "-> A\nx : int32\n-> B\n---\ny : int32",
     {"order": ["A", "x", "B", "y"]}),
]


@pytest.mark.parametrize("definition,expected", [v[1:] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_definition(definition, expected):
    spec = parse_definition(definition)
    if "comment" in expected:
        assert spec.comment == expected["comment"]
    if "key" in expected:
        assert key_names(spec) == expected["key"]
    if "dependent" in expected:
        assert dependent_names(spec) == expected["dependent"]
    attrs = attributes(spec)
    for name, (category, type_name, params) in expected.get("types", {}).items():
        declared = attrs[name].type
        assert (declared.category, declared.name) == (category, type_name)
        if params:
            assert tuple(declared.params) == params
    for name, text in expected.get("text", {}).items():
        assert attrs[name].type.text == text
    for name, value in expected.get("defaults", {}).items():
        got = default_of(spec, name)
        assert got == value and type(got) is type(value), (name, got)
    if "nullable" in expected:
        assert {a.name for a in spec.attributes if a.nullable} == expected["nullable"]
    for name, comment in expected.get("comments", {}).items():
        assert attrs[name].comment == comment
    for name, store in expected.get("store", {}).items():
        assert attrs[name].type.store == store
    if "fks" in expected:
        got = [(fk.reference, fk.in_key, tuple(fk.renames), fk.nullable, fk.unique) for fk in spec.foreign_keys]
        assert got == expected["fks"]
    if "indexes" in expected:
        assert [(tuple(i.attributes), i.unique) for i in spec.indexes] == expected["indexes"]
    if "order" in expected:
        assert [i.reference if isinstance(i, ForeignKeyDecl) else i.name for i in spec.items] == expected["order"]


def test_separator_is_recorded():
    assert parse_definition("a : int32\n---\nb : int32").has_separator
    assert not parse_definition("a : int32").has_separator


def test_every_core_type_is_classified_as_core():
    for text in ("int8", "int16", "int32", "int64", "float32", "float64", "bool", "decimal(5,2)", "char(1)",
                 "varchar(1)", "date", "datetime", "datetime(3)", "enum('a')", "uuid", "json", "bytes"):
        declared = classify(text)
        assert declared.category == "core", text
        assert not declared.is_codec


def test_canonical_type_text_round_trips():
    """The canonical text of a type classifies to the same type (describe() relies on this)."""
    for text in ("decimal( 7, 2 )", "DATETIME (3)", "enum( 'a' ,\"b\")", "< blob @ raw >", "VARCHAR(20)",
                 "enum('it''s')", "<object@>"):
        declared = classify(text)
        again = classify(declared.text)
        assert (again.category, again.name, again.params, again.store) == \
               (declared.category, declared.name, declared.params, declared.store)


# ---------------------------------------------------------------------------------------------
# invalid definitions: (id, definition, offending line)
# ---------------------------------------------------------------------------------------------
INVALID = [
    ("default after type", "x : int32 = 5", "x : int32 = 5"),
    ("unterminated quoted default", 'a : int32\n---\nx = "abc : varchar(3)', 'x = "abc : varchar(3)'),
    ("unescaped inner quote", "a : int32\n---\nx = 'it's' : varchar(8)", "x = 'it's' : varchar(8)"),
    ("missing type", "x :", "x :"),
    ("missing colon", "x int32", "x int32"),
    ("plain words", "a : int32\n---\nthis is not an attribute", "this is not an attribute"),
    ("capital letters", "Subject_id : int32", "Subject_id : int32"),
    ("leading underscore", "a : int32\n---\n_hidden : int32", "_hidden : int32"),
    ("leading digit", "1st : int32", "1st : int32"),
    ("space in name", "first name : varchar(8)", "first name : varchar(8)"),
    ("unknown type", "x : integer32", "x : integer32"),
    ("made-up int width", "x : int24", "x : int24"),
    ("misspelled native int", "x : tinyinteger", "x : tinyinteger"),
    ("zero-length varchar", "x : varchar(0)", "x : varchar(0)"),
    ("too long char", "x : char(70000)", "x : char(70000)"),
    ("scale above precision", "x : decimal(5,6)", "x : decimal(5,6)"),
    ("precision too large", "x : decimal(70,2)", "x : decimal(70,2)"),
    ("decimal without scale", "x : decimal(5)", None),  # native decimal(5) is accepted; see test below
    ("datetime precision 7", "x : datetime(7)", "x : datetime(7)"),
    ("empty enum", "x : enum()", "x : enum()"),
    ("repeated enum value", "x : enum('a','b','a')", "x : enum('a','b','a')"),
    ("unquoted enum values", "x : enum(a, b)", "x : enum(a, b)"),
    ("unclosed codec", "---\nimg : <blob", "img : <blob"),
    ("empty codec", "---\nimg : <>", "img : <>"),
    ("double store", "---\nimg : <blob@a@b>", "img : <blob@a@b>"),
    ("text after codec", "---\nimg : <blob> extra", "img : <blob> extra"),
    ("float default for int", "---\nx = 1.5 : int32", "x = 1.5 : int32"),
    ("string default for int", "---\nx = 'abc' : int32", "x = 'abc' : int32"),
    ("int8 default out of range", "---\nx = 300 : int8", "x = 300 : int8"),
    ("int16 default out of range", "---\nx = -40000 : int16", "x = -40000 : int16"),
    ("string default for float", "---\nx = 'a' : float64", "x = 'a' : float64"),
    ("default not in enum", "---\nx = 'c' : enum('a','b')", "x = 'c' : enum('a','b')"),
    ("default too long", "---\nx = 'toolong' : varchar(3)", "x = 'toolong' : varchar(3)"),
    ("non-null default for bytes", "---\nx = 1 : bytes", "x = 1 : bytes"),
    ("non-null default for codec", "---\nx = 'a' : <blob>", "x = 'a' : <blob>"),
    ("nullable key attribute", "x = null : int32", "x = null : int32"),
    ("empty default", "---\nx = : int32", "x = : int32"),
    ("unreadable default", "---\nx = abc! : varchar(8)", "x = abc! : varchar(8)"),
    ("comment starting with colon", "x : int32 # :looks like a type", "x : int32 # :looks like a type"),
    ("table comment starting with colon", "# :int32: nope\nx : int32", "# :int32: nope"),
    ("second separator", "a : int32\n---\nb : int32\n---\nc : int32", "---"),
    ("text after separator", "a : int32\n--- b : int32", "--- b : int32"),
    ("duplicate attribute", "a : int32\n---\nb : int32\nb : int64", "b : int64"),
    ("arrow without table", "->", "->"),
    ("unknown option", "-> [bogus] Parent", "-> [bogus] Parent"),
    ("unclosed option list", "-> [nullable Parent", "-> [nullable Parent"),
    ("nullable key reference", "-> [nullable] Parent", "-> [nullable] Parent"),
    ("options without table", "id : int32\n---\n-> [nullable]", "-> [nullable]"),
    ("reference starts with digit", "-> 2Parent", "-> 2Parent"),
    ("two names after the arrow", "-> Parent Other", "-> Parent Other"),
    ("text before the arrow", "x -> Parent", "x -> Parent"),
    ("positional proj argument", "-> Parent.proj(new)", "-> Parent.proj(new)"),
    ("unquoted proj value", "-> Parent.proj(new=old)", "-> Parent.proj(new=old)"),
    ("uppercase proj name", "-> Parent.proj(New='old')", "-> Parent.proj(New='old')"),
    ("unclosed proj", "-> Parent.proj(new='old'", "-> Parent.proj(new='old'"),
    ("chained proj", "-> Parent.proj(a='b').proj(c='d')", "-> Parent.proj(a='b').proj(c='d')"),
    ("other method than proj", "-> Parent.proj(a='b') & 'x'", "-> Parent.proj(a='b') & 'x'"),
    ("empty index", "a : int32\n---\nb : int32\nindex()", "index()"),
    ("index of a non-name", "a : int32\n---\nb : int32\nindex(b c)", "index(b c)"),
    ("unique without index", "a : int32\n---\nb : int32\nunique(b)", "unique(b)"),
]


@pytest.mark.parametrize("definition,line", [v[1:] for v in INVALID if v[2] is not None],
                         ids=[v[0] for v in INVALID if v[2] is not None])
def test_invalid_definition_names_the_line_and_gives_a_hint(definition, line):
    with pytest.raises(DataJointError) as info:
        parse_definition(definition)
    error = info.value
    assert f'"{line}"' in str(error), str(error)
    assert error.hint and error.hint.strip(), str(error)
    assert "Hint:" in str(error)


def test_decimal_without_scale_is_a_native_type():
    """``decimal(5)`` is not the core decimal(p,s); it passes through as a native type."""
    (attribute,) = parse_definition("x : decimal(5)").attributes
    assert attribute.type.category == "native"


@pytest.mark.parametrize("value", [None, 42, b"x : int32", ["x : int32"]])
def test_definition_must_be_text(value):
    with pytest.raises(DataJointError) as info:
        parse_definition(value)
    assert info.value.hint


def test_nul_character_is_refused():
    with pytest.raises(DataJointError):
        parse_definition("x : int32\x00")


def test_errors_are_raised_for_the_first_bad_line():
    with pytest.raises(DataJointError) as info:
        parse_definition("a : int32\n---\nb : nosuchtype\nc : alsobad")
    assert '"b : nosuchtype"' in str(info.value)
    assert "alsobad" not in str(info.value)


@pytest.mark.parametrize("text", ["", "   ", "int 32", "varchar", "varchar()", "varchar(-1)", "char(x)",
                                  "decimal(,2)", "enum", "enum(", "<blob@ra w>", "<1blob>", "datetime(10)",
                                  "float32 unsigned", "json json", "uuid(4)"])
def test_classify_rejects(text):
    with pytest.raises(DataJointError) as info:
        classify(text)
    assert info.value.hint


# ---------------------------------------------------------------------------------------------
# property tests: any text parses or raises DataJointError, never another exception
# ---------------------------------------------------------------------------------------------
_TOKENS = ["a", "x", "id", "Parent", "lab", " ", "  ", "\t", "\n", ":", "=", "#", "->", "---", "___", ".", ",", "'",
           '"', "\\", "(", ")", "[", "]", "<", ">", "@", "int32", "int8", "float64", "varchar(", "char(", "decimal(",
           "datetime(", "enum(", "uuid", "json", "bytes", "bool", "date", "<blob", "<object@", "null",
           "CURRENT_TIMESTAMP", "proj(", ".proj(", "nullable", "unique", "index(", "unique index(", "64", "3",
           "-1", "1e5", "0", "65536", "é", "\x00", "\r", "tinyint unsigned", "true"]

_grammar_text = st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join)
_PROPERTY_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


@_PROPERTY_SETTINGS
@given(st.one_of(st.text(), _grammar_text))
def test_parse_definition_raises_only_datajoint_errors(text):
    try:
        spec = parse_definition(text)
    except DataJointError:
        return
    for attribute in spec.attributes:  # whatever parses is well formed
        assert attribute.name and attribute.type.category in ("core", "codec", "native")


@_PROPERTY_SETTINGS
@given(st.one_of(st.text(), _grammar_text))
def test_classify_raises_only_datajoint_errors(text):
    try:
        declared = classify(text)
    except DataJointError:
        return
    assert declared.category in ("core", "codec", "native")


_line = st.one_of(
    st.builds(lambda n, t, c: f"{n} : {t}  # {c}", st.sampled_from(["a", "b", "x_1", "B", "_z", "9"]),
              st.sampled_from(["int32", "varchar(8)", "enum('a','b')", "<blob@s>", "float64", "decimal(4,2)", "junk"]),
              st.text(max_size=10)),
    st.builds(lambda d, t: f"v = {d} : {t}", st.one_of(st.text(max_size=8), st.integers().map(str)),
              st.sampled_from(["int8", "varchar(4)", "enum('a')", "bool", "datetime", "bytes"])),
    st.builds(lambda o, r: f"-> {o}{r}", st.sampled_from(["", "[nullable] ", "[unique]", "[x] ", "["]),
              st.sampled_from(["P", "m.P", "P.proj(a='b')", "P.proj(a=", "P.proj(**k)", "P.proj(a=f'x')", ""])),
    st.sampled_from(["---", "index(a)", "unique index(a, b)", "index(", "# note", ""]),
)


@_PROPERTY_SETTINGS
@given(st.lists(_line, max_size=8).map("\n".join))
def test_line_shaped_definitions_raise_only_datajoint_errors(text):
    try:
        parse_definition(text)
    except DataJointError as error:
        assert str(error)
