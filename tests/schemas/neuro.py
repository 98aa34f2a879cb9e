"""A small neurophysiology pipeline: subjects, sessions, trials, units and spike counts.

It is built to exercise the query algebra:

* lookups (``Lab``, ``Species``, ``Experimenter``, ``Stimulus``) with contents;
* a part table (``Session.Trial``) and a diamond (``SpikeCount`` depends on both a
  trial and a unit of the same session);
* renamed foreign keys: ``Session.reviewer`` comes from ``Experimenter.experimenter``
  and ``UnitPair`` references ``Unit`` twice (``pre_unit`` / ``post_unit``);
* same-named but unrelated attributes for semantic matching:
  ``Subject.notes`` and ``Session.notes`` are two unrelated secondary attributes,
  and ``Volunteer.subject_id`` is a human-study id that has nothing to do with
  ``Subject.subject_id``; ``Unit.depth`` and ``Probe.depth`` are unrelated too.

``fill(n)`` inserts a fixed data set; ``EXPECTED`` holds the same rows as plain
Python data so tests compute their expectations without asking the library.
"""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import dj_jupyter as dj


def declare(schema) -> SimpleNamespace:
    @schema
    class Lab(dj.Lookup):
        definition = """
        lab : varchar(16)        # short lab name
        ---
        institution : varchar(64)
        """
        contents = [("hubel", "Harvard"), ("cajal", "Madrid"), ("adrian", "Cambridge")]

    @schema
    class Species(dj.Lookup):
        definition = """
        species : varchar(32)    # latin name
        ---
        common_name : varchar(32)
        """
        contents = [("Mus musculus", "mouse"), ("Rattus norvegicus", "rat"), ("Macaca mulatta", "macaque")]

    @schema
    class Experimenter(dj.Lookup):
        definition = """
        experimenter : varchar(16)
        ---
        -> Lab
        full_name : varchar(64)
        """
        contents = [("torsten", "hubel", "Torsten Wiesel"), ("santiago", "cajal", "Santiago Ramon"),
                    ("edgar", "adrian", "Edgar Adrian"), ("idle", "adrian", "Never Ran A Session")]

    @schema
    class Subject(dj.Manual):
        definition = """
        subject_id : int32       # animal id
        ---
        -> Species
        sex : enum('F', 'M', 'U')
        date_of_birth : date
        weight=null : float64    # grams
        notes="" : varchar(255)  # husbandry notes
        """

    @schema
    class Volunteer(dj.Manual):
        definition = """
        # human participants of a separate psychophysics study
        subject_id : int32       # participant number (unrelated to Subject.subject_id)
        ---
        initials : char(3)
        """

    @schema
    class Stimulus(dj.Lookup):
        definition = """
        stim_id : int16
        ---
        stim_name : varchar(32)
        contrast : float64
        """
        contents = [(1, "grating", 0.5), (2, "grating", 1.0), (3, "noise", 0.8), (4, "blank", 0.0)]

    @schema
    class Session(dj.Manual):
        definition = """
        -> Subject
        session_idx : int16
        ---
        session_date : date
        -> Experimenter
        -> [nullable] Experimenter.proj(reviewer='experimenter')
        notes="" : varchar(255)  # session notes (unrelated to Subject.notes)
        """

        class Trial(dj.Part):
            definition = """
            -> master
            trial_idx : int16
            ---
            -> Stimulus
            outcome : enum('hit', 'miss', 'false_alarm', 'correct_reject')
            reaction_time=null : float64   # seconds
            """

    @schema
    class Unit(dj.Manual):
        definition = """
        -> Session
        unit_idx : int16
        ---
        depth : float64          # micrometres below the pia
        quality : enum('good', 'mua', 'noise')
        """

    @schema
    class Probe(dj.Lookup):
        definition = """
        probe : varchar(16)
        ---
        depth : float64          # insertion depth rating, unrelated to Unit.depth
        """
        contents = [("npx1", 3840.0), ("tetrode", 1200.0)]

    @schema
    class SpikeCount(dj.Manual):
        definition = """
        -> Session.Trial
        -> Unit
        ---
        spikes : int32
        """

    @schema
    class UnitPair(dj.Manual):
        definition = """
        -> Unit.proj(pre_unit='unit_idx')
        -> Unit.proj(post_unit='unit_idx')
        ---
        strength : float64
        """

    return SimpleNamespace(Lab=Lab, Species=Species, Experimenter=Experimenter, Subject=Subject,
                           Volunteer=Volunteer, Stimulus=Stimulus, Session=Session, Trial=Session.Trial, Unit=Unit,
                           Probe=Probe, SpikeCount=SpikeCount, UnitPair=UnitPair)


D = datetime.date

SUBJECTS = [
    dict(subject_id=1, species="Mus musculus", sex="F", date_of_birth=D(2023, 1, 5), weight=21.5, notes="calm"),
    dict(subject_id=2, species="Mus musculus", sex="M", date_of_birth=D(2023, 2, 9), weight=25.0, notes=""),
    dict(subject_id=3, species="Rattus norvegicus", sex="M", date_of_birth=D(2022, 11, 30), weight=310.0,
         notes="bites"),
    dict(subject_id=4, species="Mus musculus", sex="F", date_of_birth=D(2023, 3, 14), weight=None, notes=""),
    dict(subject_id=5, species="Macaca mulatta", sex="M", date_of_birth=D(2015, 6, 1), weight=8100.0, notes="calm"),
]
VOLUNTEERS = [dict(subject_id=1, initials="ABC"), dict(subject_id=2, initials="XYZ"),
              dict(subject_id=42, initials="QED")]
SESSIONS = [
    dict(subject_id=1, session_idx=1, session_date=D(2024, 1, 10), experimenter="torsten", reviewer="edgar",
         notes="first"),
    dict(subject_id=1, session_idx=2, session_date=D(2024, 1, 11), experimenter="torsten", reviewer=None,
         notes=""),
    dict(subject_id=2, session_idx=1, session_date=D(2024, 1, 10), experimenter="santiago", reviewer="torsten",
         notes="calm"),
    dict(subject_id=3, session_idx=1, session_date=D(2024, 2, 1), experimenter="edgar", reviewer=None,
         notes="noisy"),
    dict(subject_id=3, session_idx=2, session_date=D(2024, 2, 2), experimenter="edgar", reviewer="santiago",
         notes=""),
    dict(subject_id=3, session_idx=3, session_date=D(2024, 2, 3), experimenter="santiago", reviewer=None,
         notes=""),
]
# (subject_id, session_idx, trial_idx, stim_id, outcome, reaction_time)
TRIALS = [
    (1, 1, 1, 1, "hit", 0.41), (1, 1, 2, 2, "miss", None), (1, 1, 3, 3, "hit", 0.38), (1, 1, 4, 4, "correct_reject", None),
    (1, 2, 1, 1, "hit", 0.52), (1, 2, 2, 1, "false_alarm", 0.30),
    (2, 1, 1, 2, "hit", 0.45), (2, 1, 2, 3, "miss", None), (2, 1, 3, 2, "hit", 0.47),
    (3, 1, 1, 3, "hit", 0.61),
    (3, 2, 1, 1, "miss", None), (3, 2, 2, 2, "hit", 0.55),
]
# (subject_id, session_idx, unit_idx, depth, quality)
UNITS = [
    (1, 1, 1, 120.0, "good"), (1, 1, 2, 340.5, "mua"), (1, 1, 3, 800.0, "noise"),
    (2, 1, 1, 210.0, "good"),
    (3, 1, 1, 150.0, "good"), (3, 1, 2, 155.0, "good"),
    (3, 3, 1, 999.0, "mua"),
]
UNIT_PAIRS = [(1, 1, 1, 2, 0.8), (1, 1, 2, 1, 0.1), (3, 1, 1, 2, 0.5)]


def spike_counts() -> list[dict]:
    """Deterministic spike counts for every (trial, unit) pair of the same session."""
    rows = []
    for s, e, t, *_ in TRIALS:
        for us, ue, u, *_ in UNITS:
            if (us, ue) == (s, e):
                rows.append(dict(subject_id=s, session_idx=e, trial_idx=t, unit_idx=u, spikes=(s * 7 + t * 3 + u * 5) % 11))
    return rows


TRIAL_KEYS = ("subject_id", "session_idx", "trial_idx", "stim_id", "outcome", "reaction_time")
UNIT_KEYS = ("subject_id", "session_idx", "unit_idx", "depth", "quality")
PAIR_KEYS = ("subject_id", "session_idx", "pre_unit", "post_unit", "strength")

EXPECTED = SimpleNamespace(
    subjects=SUBJECTS, volunteers=VOLUNTEERS, sessions=SESSIONS,
    trials=[dict(zip(TRIAL_KEYS, row)) for row in TRIALS],
    units=[dict(zip(UNIT_KEYS, row)) for row in UNITS],
    pairs=[dict(zip(PAIR_KEYS, row)) for row in UNIT_PAIRS],
    spike_counts=spike_counts(),
)


def fill(n: SimpleNamespace) -> None:
    n.Subject.insert(SUBJECTS)
    n.Volunteer.insert(VOLUNTEERS)
    n.Session.insert(SESSIONS)
    n.Trial.insert(EXPECTED.trials)
    n.Unit.insert(EXPECTED.units)
    n.SpikeCount.insert(EXPECTED.spike_counts)
    n.UnitPair.insert(EXPECTED.pairs)
