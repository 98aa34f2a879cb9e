"""The fuzzed entry points and the rule they must keep: work, or raise DataJointError.

Shared by the hypothesis tests (test_fuzz.py) and the atheris runs (``python -m
tests.reliability.fuzz_targets TARGET -max_total_time=N``), which report a crash for any
other exception and a hang for an input that takes longer than ``-timeout`` seconds.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

NAMES = ("subject_id", "species", "weight", "session", "name", "a", "b")


@dataclass
class _Type:
    name: str
    category: str = "core"


@dataclass
class _Attribute:
    name: str
    type: _Type
    numeric: bool = False


ATTRIBUTES = [_Attribute("subject_id", _Type("int32"), True), _Attribute("species", _Type("varchar")),
              _Attribute("weight", _Type("float64"), True), _Attribute("ok", _Type("bool"))]


def _magic_parser():
    parser = argparse.ArgumentParser(prog="%dj populate", add_help=False)
    parser.add_argument("table")
    parser.add_argument("restriction", nargs="*")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--reserve-jobs", action="store_true")
    parser.add_argument("--order-by")
    parser.add_argument("-o", dest="out")
    return parser


_PARSER = _magic_parser()


def definition(text: str) -> None:
    from dj_jupyter.declare.parser import parse_definition

    parse_definition(text)


def restriction(text: str) -> None:
    from dj_jupyter.backends import get_backend
    from dj_jupyter.query.sqlexpr import compile_expression

    for name in ("sqlite", "postgresql", "mysql"):
        backend = get_backend(name)
        compile_expression(text, NAMES, backend)
        compile_expression(text, NAMES, backend, allow_aggregates=True, count_column="a", where="projection")


def cell(text: str) -> None:
    from kernel_magics.parsing import convert_row, parse_declaration, parse_row, scan, split_options

    scan(text)
    split_options(text, _PARSER)
    declaration = parse_declaration(text)
    for row in declaration.contents or []:
        if len(row) == len(ATTRIBUTES):
            convert_row(row, ATTRIBUTES)
    first = text.splitlines()[0] if text.splitlines() else ""
    parse_row(first)


TARGETS = {"definition": definition, "restriction": restriction, "cell": cell}


def check(target, text: str) -> None:
    """The rule: ``target(text)`` returns or raises DataJointError; anything else propagates (a finding)."""
    from dj_jupyter.errors import DataJointError

    try:
        target(text)
    except DataJointError:
        pass


def main() -> None:  # atheris entry point
    import atheris

    name = sys.argv.pop(1)
    assert "dj_jupyter" not in sys.modules, "instrument before the first import"
    with atheris.instrument_imports(include=["dj_jupyter", "kernel_magics", "sqlglot"]):
        import dj_jupyter  # noqa: F401
        import dj_jupyter.declare.parser  # noqa: F401
        import dj_jupyter.query.sqlexpr  # noqa: F401
        import kernel_magics.parsing  # noqa: F401
    target = TARGETS[name]

    def one_input(data: bytes) -> None:
        text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(4096)
        check(target, text)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
