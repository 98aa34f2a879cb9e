"""The cells of a small pipeline declared only through ``%%dj`` (shared by the magic tests)."""

SPECIES = """%%dj lookup Species
# species of experimental animals
species : varchar(32)
---
common_name : varchar(64)
contents
mouse, house mouse
rat, "brown rat"
'zebra finch', 'songbird, small'
"""

SUBJECT = """%%dj manual Subject
# experimental subjects
subject_id : int32
---
-> Species
sex : enum('F', 'M', 'U')
weight = null : float32   # grams
"""

SESSION = """%%dj manual Session
# recording sessions
-> Subject
session : int16
---
session_date : date
notes = "" : varchar(255)

part Trial
-> master
trial : int16
---
outcome : enum('hit', 'miss')
reaction_time = null : float64   # seconds
"""

FUNCTIONS = """
def make_stats(self, key):
    trials = (Session.Trial & key).to_dicts()
    hits = sum(trial["outcome"] == "hit" for trial in trials)
    self.insert1({**key, "n_trials": len(trials), "hit_rate": hits / len(trials) if trials else None})

def fetch_times(self, key):
    return [t["reaction_time"] for t in (Session.Trial & key).to_dicts() if t["reaction_time"] is not None]

def mean_time(self, key, times):
    return sum(times) / len(times) if times else None

def insert_mean(self, key, mean):
    self.insert1({**key, "mean_rt": mean})
"""

SESSION_STATS = """%%dj computed SessionStats --make make_stats
-> Session
---
n_trials : int32
hit_rate = null : float64
"""

REACTION_TIME = """%%dj computed ReactionTime --make fetch_times,mean_time,insert_mean
-> Session
---
mean_rt = null : float64   # mean reaction time, seconds
"""

FILL = """
Subject.insert([(1, 'mouse', 'F', 21.5), (2, 'rat', 'M', None), (3, 'mouse', 'M', 19.0)])
Session.insert([(1, 1, '2024-03-01', ''), (1, 2, '2024-03-02', 'tired'), (2, 1, '2024-03-01', ''),
                (3, 1, '2024-03-05', '')])
Session.Trial.insert([(1, 1, 1, 'hit', 0.31), (1, 1, 2, 'miss', None), (1, 1, 3, 'hit', 0.29),
                      (1, 2, 1, 'hit', 0.40), (2, 1, 1, 'miss', 0.52), (3, 1, 1, 'hit', 0.25)])
"""


def declare_pipeline(ipy, schema_name: str) -> None:
    ipy(f"%dj schema {schema_name}")
    for cell in (SPECIES, SUBJECT, SESSION, FUNCTIONS, SESSION_STATS, REACTION_TIME):
        ipy(cell)


def fill(ipy) -> None:
    ipy(FILL)
