"""Every %dj subcommand and %%dj cell kind, on SQLite and PostgreSQL, through an in-process IPython shell."""

from __future__ import annotations

import pytest

import dj_jupyter as dj
from tests.jupyter import cells
from tests.jupyter.cells import declare_pipeline, fill

SUBCOMMANDS = ["connect", "schema", "populate", "jobs", "status", "describe", "diagram", "delete", "query"]


# ---------------------------------------------------------------------------------------------
# help and settings
# ---------------------------------------------------------------------------------------------
def test_overview_and_help_on_every_subcommand(ipy):
    overview = ipy("%dj")
    assert "%%dj manual|lookup|imported|computed" in overview.stdout
    assert ipy("%dj --help").stdout == overview.stdout
    for command in SUBCOMMANDS:
        ran = ipy(f"%dj {command} --help")
        assert ran.stdout.startswith(f"usage: %dj {command}"), ran.stdout
    for tier in ("manual", "lookup", "imported", "computed"):
        ran = ipy(f"%dj {tier} --help")
        assert ran.stdout.startswith("usage: %%dj TIER"), ran.stdout
        assert "--confirm" in ran.stdout
    assert "--make" in ipy("%%dj computed -h\n-> Session\n").stdout
    assert "-o OUT" in ipy("%%dj query --help\nSession\n").stdout
    assert ipy("%%dj --help\nSession\n").stdout == overview.stdout


def test_config_options_are_traitlets(ipy):
    listing = ipy("%config DJMagic").stdout
    for option in ("short_errors", "default_limit", "schema_variable", "widgets", "progress_after"):
        assert option in listing
    ipy("%config DJMagic.default_limit = 3")
    assert ipy.magic.default_limit == 3
    ipy("%config DJMagic.schema_variable = 'lab'")
    assert ipy.magic.schema_variable == "lab"


def test_unknown_subcommands_are_usage_errors(ipy):
    ran = ipy("%dj popluate Foo", ok=False)
    assert "Did you mean `%dj populate`" in ran.text
    assert "Traceback" not in ran.text
    ran = ipy("%dj manual Foo", ok=False)
    assert "%%dj manual NAME" in ran.text
    ran = ipy("%%dj populate Foo\nx\n", ok=False)
    assert "line command" in ran.text


# ---------------------------------------------------------------------------------------------
# connect and schema
# ---------------------------------------------------------------------------------------------
def test_connect_and_schema(connected, schema_name):
    ipy = connected
    again = ipy("%dj connect")
    assert again.stdout.startswith("Connected to ")
    if ipy.backend == "sqlite":
        assert again.stdout.strip() == "Connected to sqlite:///pipeline.sqlite3"
    ran = ipy(f"%dj schema {schema_name}")
    assert f"Schema `{schema_name}` is active (0 tables); bound to `schema`." in ran.stdout
    assert isinstance(ipy.ns["schema"], dj.Schema) and ipy.ns["schema"].database == schema_name
    ran = ipy(f"%dj schema {schema_name} --as lab")
    assert ipy.ns["lab"] is ipy.ns["schema"]  # the same activated schema object
    ipy("%dj schema 'not a name' --as 1x", ok=False)


def test_schema_connects_from_config_when_not_connected(ipy, tmp_path, schema_name):
    dj.config["database.backend"] = "sqlite"
    dj.config["database.path"] = str(tmp_path / "configured.sqlite3")
    ran = ipy(f"%dj schema {schema_name} --as lab")
    assert ran.stdout.splitlines()[0] == "Connected to sqlite:///configured.sqlite3"
    assert (tmp_path / "configured.sqlite3").exists()
    assert ipy.ns["lab"].database == schema_name
    assert "[dj_jupyter] Using the SQLite database" not in ran.text


def test_spawn_classes_of_an_existing_schema(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    ipy("%reset -f")
    assert "Session" not in ipy.ns
    ran = ipy(f"%dj schema {schema_name} --spawn")
    assert "Classes created:" in ran.stdout
    assert ipy.ns["Session"].table_name == "session"
    assert ipy.ns["Session"].Trial.table_name == "session__trial"


# ---------------------------------------------------------------------------------------------
# a whole pipeline from %%dj cells
# ---------------------------------------------------------------------------------------------
def test_pipeline_declared_filled_populated_and_queried(connected, schema_name):
    ipy = connected
    ipy(f"%dj schema {schema_name}")
    ran = ipy(cells.SPECIES)
    assert f"Declared Species (lookup) in `{schema_name}`." in ran.stdout
    assert "Species contents: 3 rows, 3 new." in ran.stdout
    assert ipy(cells.SUBJECT).stdout.startswith("Declared Subject (manual)")
    assert "Declared Session, Session.Trial (manual)" in ipy(cells.SESSION).stdout
    ipy(cells.FUNCTIONS)
    assert "Declared SessionStats (computed)" in ipy(cells.SESSION_STATS).stdout
    assert "Declared ReactionTime (computed)" in ipy(cells.REACTION_TIME).stdout
    fill(ipy)
    ns = ipy.ns

    # the same classes and tables as a module would declare
    assert issubclass(ns["Species"], dj.Lookup) and ns["Species"].table_name == "#species"
    assert issubclass(ns["Subject"], dj.Manual) and ns["Subject"].table_name == "subject"
    assert ns["Session"].Trial.master is ns["Session"] and ns["Session"].Trial.table_name == "session__trial"
    assert issubclass(ns["SessionStats"], dj.Computed) and ns["SessionStats"].table_name == "__session_stats"
    assert (ns["Species"] & {"species": "zebra finch"}).fetch1("common_name") == "songbird, small"
    assert (ns["Species"] & {"species": "rat"}).fetch1("common_name") == "brown rat"
    module_ns = {"dj": dj, "schema": ns["schema"], "Subject": ns["Subject"]}
    exec("@schema\nclass Subject(dj.Manual):\n    definition = '''\n    # experimental subjects\n    subject_id : int32\n"
         "    ---\n    -> Species\n    sex : enum('F', 'M', 'U')\n    weight = null : float32   # grams\n    '''\n",
         {**module_ns, "Species": ns["Species"]}, module_ns)
    assert module_ns["Subject"] is not ns["Subject"]
    assert module_ns["Subject"].full_table_name == ns["Subject"].full_table_name
    assert len(module_ns["Subject"]()) == 3
    assert not module_ns["Subject"]().alter_statements().statements
    virtual = dj.virtual_schema(schema_name, connection=ns["schema"].connection)
    assert virtual.SessionStats.table_name == ns["SessionStats"].table_name

    # populate: a restriction, reserved jobs, the three-part make
    ran = ipy("%dj populate SessionStats")
    assert "SessionStats: 4 keys made, 0 errors; 4 of 4 done." in ran.stdout
    assert (ns["SessionStats"] & {"subject_id": 1, "session": 1}).fetch1("n_trials") == 3
    ran = ipy("%dj populate ReactionTime Subject & 'species = \"mouse\"'")
    assert "ReactionTime: 3 keys made, 0 errors; 3 of 3 done." in ran.stdout
    assert len(ns["ReactionTime"]) == 3
    ran = ipy("%dj populate ReactionTime --reserve-jobs")
    assert "ReactionTime: 1 key made, 0 errors; 4 of 4 done." in ran.stdout
    assert (ns["ReactionTime"] & {"subject_id": 1, "session": 1}).fetch1("mean_rt") == pytest.approx(0.30)
    assert "0 keys made" in ipy("%dj populate ReactionTime").stdout

    # queries
    ran = ipy("%%dj\nSession * Subject & 'species = \"mouse\"'\n")
    assert len(ran.displays) == 1
    assert "(3 tuples)" in ran.displays[0]["text/plain"]
    assert "<table" in ran.displays[0]["text/html"] and "Total: 3" in ran.displays[0]["text/html"]
    ran = ipy("%%dj -o frame --limit 2 --order-by \"session_date DESC\"\nSession\n")
    assert "Stored 2 rows in `frame`" in ran.stdout
    frame = ns["frame"]
    assert list(frame.reset_index()["subject_id"]) == [3, 1]
    shown = ran.displays[0]["text/plain"]
    assert shown.index("2024-03-05") < shown.index("2024-03-02")
    ran = ipy("%dj Subject & 'sex = \"F\"'")
    assert "(1 tuples)" in ran.displays[0]["text/plain"]
    ran = ipy("%%dj query --limit 1\nSession.Trial\n")
    assert "..." in ran.displays[0]["text/plain"] and "(6 tuples)" in ran.displays[0]["text/plain"]
    ran = ipy("%%dj\n(Session * SessionStats)\n  .proj('hit_rate')\n  & 'hit_rate > 0.5'\n")
    assert "(3 tuples)" in ran.displays[0]["text/plain"]

    # status, jobs, describe, diagram
    ran = ipy("%dj status")
    status = ran.displays[0]["text/plain"]
    assert f"Schema `{schema_name}`: 6 tables" in status
    assert "Session.Trial" in status and "4/4" in status
    ran = ipy("%dj jobs ReactionTime")
    assert "Jobs of ReactionTime: pending 0, reserved 0, error 0, ignore 0, success 4" in ran.text
    ran = ipy("%dj jobs")
    assert "ReactionTime" in ran.displays[0]["text/plain"]
    ran = ipy("%dj describe Session.Trial")
    assert ran.stdout.splitlines()[0] == f"# Session.Trial: {schema_name}.session__trial (part)"
    assert "-> Session" in ran.stdout and "outcome : enum('hit','miss')" in ran.stdout.replace(", ", ",")
    ran = ipy("%dj diagram")
    assert ran.displays, ran.text
    ran = ipy("%dj diagram Session")
    assert ran.displays


def test_declaration_cells_reject_mistakes(connected, schema_name):
    ipy = connected
    ran = ipy("%%dj manual Subject\nsubject_id : int32\n", ok=False)
    assert "No schema is active" in ran.text
    ipy(f"%dj schema {schema_name}")
    assert "not CamelCase" in ipy("%%dj manual subject\nx : int32\n", ok=False).text
    assert "no table definition" in ipy("%%dj manual Subject\n\n", ok=False).text
    assert "Only lookup tables have contents" in ipy("%%dj manual A\nx : int32\ncontents\n1\n", ok=False).text
    assert "--make is for imported and computed" in ipy("%%dj manual A --make f\nx : int32\n", ok=False).text
    assert "`nowhere` is not defined" in ipy("%%dj computed A --make nowhere\n-> B\n", ok=False).text
    ipy("def f(self, key): pass\n")
    assert "one function or three" in ipy("%%dj computed A --make f,f\nx : int32\n", ok=False).text
    ran = ipy("%%dj manual Thing\n-> Nowhere\n---\n", ok=False)
    assert "Nowhere" in ran.text and "Traceback" not in ran.text
    assert "Thing" not in ipy.ns
    ran = ipy("%%dj lookup Kind\nkind : varchar(8)\n---\nrank : int16\ncontents\nfirst, 1, extra\n", ok=False)
    assert "has 3 values" in ran.text


def test_schema_option_and_default_schema_variable(connected, schema_name):
    ipy = connected
    ipy(f"%dj schema {schema_name} --as lab")
    ipy.magic.current_schema = None
    ran = ipy("%%dj manual Probe --schema lab\nprobe : int32\n")
    assert f"in `{schema_name}`" in ran.stdout
    ran = ipy("%%dj manual Probe2 --schema nothing_here\nprobe : int32\n", ok=False)
    assert "neither a dj.Schema variable nor an active schema" in ran.text
    ipy("%config DJMagic.schema_variable = 'lab'")
    ran = ipy("%%dj manual Probe3\nprobe : int32\n")
    assert f"in `{schema_name}`" in ran.stdout


# ---------------------------------------------------------------------------------------------
# re-running cells
# ---------------------------------------------------------------------------------------------
def test_rerunning_unchanged_cells_is_a_no_op(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    ipy("%dj populate SessionStats")
    before = {name: len(ipy.ns[name]) for name in ("Species", "Subject", "Session", "SessionStats")}
    old_session = ipy.ns["Session"]
    for cell in (cells.SPECIES, cells.SUBJECT, cells.SESSION, cells.SESSION_STATS, cells.REACTION_TIME):
        ran = ipy(cell)
        assert "matches this definition" in ran.stdout or "match this definition" in ran.stdout, ran.text
        assert "Declared" not in ran.stdout and not ran.displays
    assert "Species contents: 3 rows, 0 new." in ipy(cells.SPECIES).stdout
    assert {name: len(ipy.ns[name]) for name in before} == before
    assert ipy.ns["Session"] is not old_session and ipy.ns["Session"].full_table_name == old_session.full_table_name
    assert ipy.magic.last_confirmation is None


def test_changed_definition_applies_after_the_button(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    changed = cells.SUBJECT.replace("weight = null : float32   # grams",
                                    "weight = null : float32   # body weight, grams\n"
                                    "date_of_birth = null : date")
    ran = ipy(changed)
    assert "the definition differs from the table" in ran.text
    assert "+ Subject: date_of_birth = null : date" in ran.text
    assert "- Subject: weight = null : float32  # grams" in ran.text
    assert "Nothing changes until you click" in ran.text
    assert any("application/vnd.jupyter.widget-view+json" in d for d in ran.displays)
    assert "date_of_birth" not in ipy.ns["Subject"]().heading.names  # nothing changed yet
    confirmation = ipy.magic.last_confirmation
    assert confirmation.state == "pending"
    confirmation.confirm_button.click()
    assert confirmation.state == "done", confirmation.result
    assert "Altered Subject" in confirmation.result
    assert confirmation.confirm_button.disabled and confirmation.cancel_button.disabled
    heading = ipy.ns["Subject"]().heading
    assert "date_of_birth" in heading.names and heading["weight"].comment == "body weight, grams"
    assert len(ipy.ns["Subject"]) == 3
    assert "matches this definition" in ipy(changed).stdout
    confirmation.confirm()  # a second click does nothing
    assert confirmation.state == "done"


def test_changed_definition_without_widgets_needs_confirm(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    ipy("%config DJMagic.widgets = False")
    changed = cells.SESSION.replace('notes = "" : varchar(255)', 'notes = "" : varchar(255)\nrig = null : int16')
    ran = ipy(changed)
    assert "+ Session: rig = null : int16" in ran.text
    assert "run this cell again with --confirm" in ran.text
    assert not any("application/vnd.jupyter.widget-view+json" in d for d in ran.displays)
    assert "rig" not in ipy.ns["Session"]().heading.names
    ran = ipy(changed.replace("%%dj manual Session", "%%dj manual Session --confirm"))
    assert "Altered Session (+ rig)." in ran.stdout
    assert "rig" in ipy.ns["Session"]().heading.names and len(ipy.ns["Session"]) == 4


def test_dropping_an_attribute_warns_and_cancel_keeps_data(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    ran = ipy(cells.SUBJECT.replace("weight = null : float32   # grams\n", ""))
    assert "Applying drops Subject.weight and the values stored there." in ran.text
    confirmation = ipy.magic.last_confirmation
    assert "drops data" in confirmation.confirm_label
    confirmation.cancel_button.click()
    assert confirmation.state == "cancelled"
    assert (ipy.ns["Subject"] & {"subject_id": 1}).fetch1("weight") == pytest.approx(21.5)


def test_stale_alter_preview_is_not_applied(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    ipy(cells.SUBJECT.replace("sex :", "extra = null : int16\nsex :"))
    confirmation = ipy.magic.last_confirmation
    ipy(cells.SUBJECT.replace("sex :", "extra = null : int16\nsex :").replace("%%dj manual Subject",
                                                                              "%%dj manual Subject --confirm"))
    message = confirmation.confirm()
    assert confirmation.state == "stale" and "nothing was altered" in message


def test_primary_key_change_is_refused_with_a_short_error(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    original = ipy.ns["Subject"]
    ran = ipy(cells.SUBJECT.replace("subject_id : int32", "subject_id : int32\nlab : varchar(8)"), ok=False)
    assert "changes the primary key" in ran.text and "Hint:" in ran.text
    assert "Traceback" not in ran.text
    assert ipy.ns["Subject"] is original


def test_new_part_in_a_rerun_cell_is_declared_and_removed_part_is_kept(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    with_part = cells.SESSION + "\npart Stimulus\n-> master\nstim : int16\n---\nkind : varchar(16)\n"
    ran = ipy(with_part)
    assert "Declared Session.Stimulus (manual)" in ran.stdout
    assert "Session, Session.Trial: the tables match this definition." in ran.stdout
    without_trial = with_part.replace(cells.SESSION.split("part Trial")[1], "\n").replace("part Trial", "")
    ran = ipy(without_trial)
    assert "the part table Session.Trial is not in this cell; it stays in the database" in ran.stdout
    assert len(dj.FreeTable(ipy.ns["schema"].connection, schema_name, "session__trial")) == 6


# ---------------------------------------------------------------------------------------------
# populate details
# ---------------------------------------------------------------------------------------------
def test_populate_errors_processes_and_current_make(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    ipy("def flaky(self, key):\n    if key['subject_id'] == 2:\n        raise ValueError('no trials for rats')\n"
        "    self.insert1({**key, 'n_trials': 0, 'hit_rate': None})\n")
    ipy("%%dj computed Flaky --make flaky\n-> Session\n---\nn_trials : int32\nhit_rate = null : float64\n")
    ran = ipy("%dj populate Flaky --suppress-errors --reserve-jobs")
    assert "Flaky: 3 keys made, 1 error; 3 of 4 done." in ran.stdout
    assert "ValueError: no trials for rats" in ran.text and "subject_id=2" in ran.text
    ran = ipy("%dj jobs Flaky")
    assert "error 1" in ran.text and "ValueError: no trials for rats" in ran.displays[0]["text/plain"]
    assert "success 3" in ran.text
    ran = ipy("%dj status")
    assert "3/4" in ran.displays[0]["text/plain"]
    # without --suppress-errors the user's exception shows with its traceback (it is not a DataJointError)
    ran = ipy("%dj populate Flaky", ok=False)
    assert isinstance(ran.error, ValueError) and "Traceback" in ran.text
    # a fixed function is picked up without re-running the declaration cell
    ipy("def flaky(self, key):\n    self.insert1({**key, 'n_trials': -1, 'hit_rate': None})\n")
    ran = ipy("%dj populate Flaky")
    assert "Using the current `flaky` as Flaky.make." in ran.stdout
    assert "Flaky: 1 key made" in ran.stdout
    ran = ipy("%dj populate SessionStats --processes 2 --max-calls 3")
    assert "SessionStats: 3 keys made, 0 errors; 3 of 4 done." in ran.stdout
    assert "is a manual table" in ipy("%dj populate Subject", ok=False).text
    assert "at least 1" in ipy("%dj populate SessionStats --processes 0", ok=False).text


def test_text_progress_for_slow_populates(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    ipy("%config DJMagic.progress_after = 0.0")
    ran = ipy("%dj populate SessionStats")
    assert any("SessionStats:" in d.get("text/plain", "") and "keys" in d.get("text/plain", "")
               for d in ran.displays), ran.text


# ---------------------------------------------------------------------------------------------
# delete
# ---------------------------------------------------------------------------------------------
def test_delete_shows_cascade_counts_and_waits_for_the_button(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    ipy("%dj populate SessionStats")
    ran = ipy("%dj delete Subject & {'subject_id': 1}")
    text = ran.displays[0]["text/plain"]
    assert "Delete 9 rows from 4 tables:" in text
    for name, count in (("Subject", 1), ("Session", 2), ("Session.Trial", 4), ("SessionStats", 2)):
        assert any(line.split()[0] == name and line.split()[-1] == str(count) for line in text.splitlines()[2:])
    assert "Nothing changes until you click “Delete 9 rows”." in text
    assert len(ipy.ns["Subject"]) == 3  # nothing deleted yet
    confirmation = ipy.magic.last_confirmation
    confirmation.confirm_button.click()
    assert confirmation.state == "done" and confirmation.result == "Deleted 9 rows from 4 tables."
    assert len(ipy.ns["Subject"]) == 2 and len(ipy.ns["Session"].Trial) == 2
    assert ipy("%dj delete Subject & {'subject_id': 1}").stdout.strip() == "Nothing to delete."


def test_delete_refuses_when_rows_changed_since_preview(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    ipy("%%dj delete\nSession & 'session_date = \"2024-03-01\"'\n")
    confirmation = ipy.magic.last_confirmation
    ipy("Session.insert1((3, 2, '2024-03-01', 'late'))")
    message = confirmation.confirm()
    assert confirmation.state == "stale" and "nothing was deleted" in message
    assert len(ipy.ns["Session"]) == 5


def test_delete_without_widgets_needs_confirm_flag(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    ipy("%config DJMagic.widgets = False")
    ran = ipy("%dj delete Session & {'subject_id': 3}")
    assert "run the magic again with --confirm" in ran.text
    assert len(ipy.ns["Session"]) == 4
    ran = ipy("%dj delete Session & {'subject_id': 3} --confirm")
    assert "Deleted 2 rows from 2 tables." in ran.stdout
    assert len(ipy.ns["Session"]) == 3
    assert "not on a join" in ipy("%dj delete Session * Subject --confirm", ok=False).text


def test_deleting_parts_follows_part_integrity(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    ran = ipy("%dj delete Session.Trial & {'trial': 2} --confirm", ok=False)
    assert "part table" in ran.text and "Traceback" not in ran.text
    ran = ipy("%dj delete Session.Trial & {'trial': 2} --part-integrity ignore --confirm")
    assert "Deleted 1 row from 1 table." in ran.stdout


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
def test_short_errors_and_the_full_traceback(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    ran = ipy("%%dj\nSession & 'no_such_attribute = 1'\n", ok=False)
    assert isinstance(ran.error, dj.DataJointError)
    assert "no_such_attribute" in ran.text and "Traceback" not in ran.text
    assert ran.text.count("\n") < 12
    ran = ipy("%dj describe Sesion", ok=False)
    assert "`Sesion` is not defined in this notebook." in ran.text and "Hint:" in ran.text
    ran = ipy("%%dj\nSession &\n", ok=False)
    assert "not a Python expression" in ran.text and "Traceback" not in ran.text
    ran = ipy("%%dj\n42\n", ok=False)
    assert "evaluates to a int, not a query expression" in ran.text
    ipy("%config DJMagic.short_errors = False")
    ran = ipy("%%dj\nSession & 'no_such_attribute = 1'\n", ok=False)
    assert "Traceback" in ran.text and "no_such_attribute" in ran.text


def test_imported_tables_jobs_listing_and_default_limit(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    fill(ipy)
    assert "No job tables" in ipy("%dj jobs").stdout
    ipy("RAW = {1: [0.1, 0.2], 2: [0.3], 3: []}\n"
        "def load_raw(self, key):\n    self.insert1({**key, 'n_samples': len(RAW[key['subject_id']])})\n")
    ran = ipy("%%dj imported Recording --make load_raw\n# raw recordings\n-> Subject\n---\nn_samples : int32\n")
    assert f"Declared Recording (imported) in `{schema_name}`." in ran.stdout
    assert issubclass(ipy.ns["Recording"], dj.Imported) and ipy.ns["Recording"].table_name == "_recording"
    assert "Recording: 3 keys made, 0 errors; 3 of 3 done." in ipy("%dj populate Recording").stdout
    assert (ipy.ns["Recording"] & {"subject_id": 1}).fetch1("n_samples") == 2
    assert "is a manual table" not in ipy("%dj jobs Recording").text
    assert "%dj jobs takes an imported or computed table" in ipy("%dj jobs Subject", ok=False).text
    ipy("%config DJMagic.default_limit = 2")
    shown = ipy("%%dj\nSession.Trial\n").displays[0]["text/plain"]
    assert shown.count("\n") < 8 and "(6 tuples)" in shown


def test_lookup_contents_follow_an_added_attribute(connected, schema_name):
    ipy = connected
    declare_pipeline(ipy, schema_name)
    changed = cells.SPECIES.replace("common_name : varchar(64)", "common_name : varchar(64)\nlegs = 4 : int16")
    changed = changed.replace("mouse, house mouse", "mouse, house mouse, 4").replace('rat, "brown rat"',
                                                                                    'rat, "brown rat", 4')
    changed = changed.replace("'songbird, small'", "'songbird, small', 2") + "spider, garden spider, 8\n"
    ran = ipy(changed.replace("%%dj lookup Species", "%%dj lookup Species --confirm"))
    assert "Altered Species (+ legs)." in ran.stdout and "Species contents: 4 rows, 1 new." in ran.stdout
    assert (ipy.ns["Species"] & {"species": "spider"}).fetch1("legs") == 8
    assert (ipy.ns["Species"] & {"species": "zebra finch"}).fetch1("legs") == 4  # existing rows are not updated


def test_diagram_without_dj_diagram_lists_tables_and_parents(connected, schema_name, monkeypatch):
    from kernel_magics import magics

    ipy = connected
    declare_pipeline(ipy, schema_name)
    monkeypatch.setattr(magics, "diagram_widget_class", lambda: None)
    listing = ipy("%dj diagram").displays[0]["text/plain"]
    assert f"Schema `{schema_name}`" in listing
    assert any(line.split()[:3] == ["SessionStats", "computed", "Session"] for line in listing.splitlines())
    listing = ipy("%dj diagram Session.Trial").displays[0]["text/plain"]
    assert "Subject" in listing and "Session.Trial" in listing and "ReactionTime" not in listing
    assert "takes a dj.Schema or a table class" in ipy("%dj diagram 42", ok=False).text
