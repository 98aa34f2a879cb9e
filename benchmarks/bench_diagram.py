"""Schema diagram of a 300-table pipeline in 10 schemas on PostgreSQL: ours next to DataJoint 2.3.5.

Ours: ``dj.Diagram(s0) + ... + dj.Diagram(s9)``, the status overlay (row counts,
populate progress and job states of every table) and the DOT text, starting from
a cold dependency graph. Reference: DataJoint 2.3.5's ``Diagram`` of the same
schemas and its ``make_dot()`` as DOT text (it has no status overlay).
Target: under 1 s and no slower than DataJoint.

Run alone: ``python -m benchmarks bench_diagram``.
"""

from __future__ import annotations

import contextlib
import io
import time
import uuid
import warnings

from .common import datajoint_connection, ours_connection, timed

SCHEMAS = 10
# per schema: 3 lookups, 7 manual, 5 imported, 10 computed, 5 parts = 30 tables
LOOKUPS, MANUALS, IMPORTED, COMPUTED = 3, 7, 5, 10


def _definitions(k: int, prefix: str) -> list[tuple[str, type, str, dict]]:
    """(class name, tier, definition, parts) of schema ``k`` in dependency order."""
    import dj_jupyter as dj

    tables = []
    for j in range(LOOKUPS):
        tables.append((f"L{k}x{j}", dj.Lookup, f"l{k}x{j} : int16\n---\nlabel : varchar(16)", {}))
    upstream = f"-> [nullable] M{k - 1}x0\n" if k else ""
    tables.append((f"M{k}x0", dj.Manual, f"m{k}x0 : int32\n---\n{upstream}note : varchar(32)", {}))
    tables.append((f"M{k}x1", dj.Manual, f"-> M{k}x0\nm{k}x1 : int16", {"Item": "-> master\nitem : int16"}))
    tables.append((f"M{k}x2", dj.Manual, f"-> M{k}x1\nm{k}x2 : int16\n---\n-> L{k}x0",
                   {"Item": "-> master\nitem : int16"}))
    tables.append((f"M{k}x3", dj.Manual, f"-> M{k}x2\n---\n-> L{k}x1.proj(alt='l{k}x1')", {}))
    for j in range(4, MANUALS):
        tables.append((f"M{k}x{j}", dj.Manual, f"m{k}x{j} : int32\n---\n-> M{k}x0\n-> L{k}x2", {}))
    for j in range(IMPORTED):
        parent = f"M{k}x{min(j, 3)}"
        tables.append((f"I{k}x{j}", dj.Imported, f"-> {parent}\n---\nvalue : float64", {}))
    for j in range(COMPUTED):
        if j == IMPORTED - 1:  # primary-key parents that share attributes: key_source is a real join
            definition = f"-> I{k}x2\n-> M{k}x1.Item\n---\nscore : float64"
        elif j < IMPORTED:
            definition = f"-> I{k}x{j}\n-> L{k}x{j % LOOKUPS}\n---\nscore : float64"
        else:
            definition = f"-> C{k}x{j - IMPORTED}\n---\nscore : float64"
        parts = {"Detail": "-> master\ndetail : int16\n---\nx : float64"} if j in (0, 1, 5) else {}
        tables.append((f"C{k}x{j}", dj.Computed, definition, parts))
    return tables


def build_pipeline(connection, prefix: str):
    """Declare the pipeline with dj_jupyter, put a few rows in the sources and fill the job queues."""
    import dj_jupyter as dj

    context: dict = {}
    schemas = []
    auto = []
    for k in range(SCHEMAS):
        schema = dj.Schema(f"{prefix}_{k}", context, connection=connection)
        schemas.append(schema)
        for name, tier, definition, parts in _definitions(k, prefix):
            body = {"definition": definition}
            if tier is dj.Lookup:
                body["contents"] = [(i, f"v{i}") for i in range(3)]
            for part_name, part_definition in parts.items():
                body[part_name] = type(part_name, (dj.Part,), {"definition": part_definition})
            if tier in (dj.Imported, dj.Computed):
                body["make"] = lambda self, key: None
            cls = type(name, (tier,), body)
            context[name] = cls
            schema(cls, context=context)
            if tier in (dj.Imported, dj.Computed):
                auto.append(cls)
        context[f"M{k}x0"].insert([(i, i, f"n{i}") if k else (i, f"n{i}") for i in range(20)])
        context[f"M{k}x1"].insert([(i, s) for i in range(20) for s in range(2)])
        context[f"M{k}x2"].insert([(i, s, 0, 0) for i in range(20) for s in range(2)])
        context[f"M{k}x1"].Item.insert([(i, s, n) for i in range(20) for s in range(2) for n in range(3)])
    for cls in auto:
        cls.jobs.refresh(delay=-1)
    return schemas


def run(report) -> None:
    import dj_jupyter as dj

    connection = ours_connection("postgresql")
    prefix = "bdg" + uuid.uuid4().hex[:6]
    start = time.perf_counter()
    schemas = build_pipeline(connection, prefix)
    tables = sum(len(s.list_tables()) for s in schemas)
    setup = time.perf_counter() - start

    def ours_with_status():
        connection.dependencies.invalidate()  # start from a cold dependency graph, as DataJoint does
        diagram = dj.Diagram(schemas[0])
        for schema in schemas[1:]:
            diagram = diagram + dj.Diagram(schema)
        return diagram.with_status().make_dot().source

    def ours_plain():
        connection.dependencies.invalidate()
        diagram = dj.Diagram(schemas[0])
        for schema in schemas[1:]:
            diagram = diagram + dj.Diagram(schema)
        return diagram.make_dot().source

    dot = ours_with_status()
    assert dot.count("dj-node") >= tables, "every table is drawn"
    ours_status_time = timed(ours_with_status, repeat=5)
    ours_plain_time = timed(ours_plain, repeat=5)

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        datajoint, dj_conn = datajoint_connection("postgresql")
        reference_schemas = [datajoint.Schema(s.database, connection=dj_conn, create_schema=False,
                                              create_tables=False) for s in schemas]

        def reference():
            diagram = datajoint.Diagram(reference_schemas[0])
            for schema in reference_schemas[1:]:
                diagram = diagram + datajoint.Diagram(schema)
            return diagram.make_dot().to_string()

        reference_dot = reference()
        assert reference_dot.count("->") > 0
        reference_time = timed(reference, repeat=3)

    note = f"{tables} tables, {len(schemas)} schemas; target < 1 s and ratio <= 1 (setup {setup:.0f} s)"
    report("diagram + status overlay -> DOT, 300 tables on PostgreSQL (ours / DataJoint Diagram->DOT)",
           ours_status_time, reference_time, note)
    report("diagram -> DOT without status, 300 tables on PostgreSQL (ours / DataJoint)", ours_plain_time,
           reference_time, "same DOT work as the reference")
    for schema in reversed(schemas):
        schema.drop(prompt=False, force=True)
    connection.close()
    with contextlib.suppress(Exception):
        dj_conn.close()


if __name__ == "__main__":
    from .__main__ import main

    main(["bench_diagram"])
