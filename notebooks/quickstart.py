"""A short demo pipeline on the embedded SQLite default: declare, insert, query, populate.

Run from anywhere: ``python notebooks/quickstart.py``. It writes its database to
``quickstart.sqlite3`` next to this file and removes the demo schema at the end.
"""

from pathlib import Path

import dj_jupyter as dj

dj.config["database.path"] = str(Path(__file__).with_name("quickstart.sqlite3"))
dj.config["safemode"] = False
schema = dj.Schema("quickstart")


@schema
class Subject(dj.Manual):
    definition = """
    # animals in the study
    subject_id : int32
    ---
    species = "mouse" : varchar(32)
    weight : float64   # grams
    """


@schema
class Session(dj.Manual):
    definition = """
    -> Subject
    session : int16
    ---
    session_date : date
    """


@schema
class SessionSummary(dj.Computed):
    definition = """
    -> Session
    ---
    weight_kg : float64
    """

    def make(self, key):
        weight = self.upstream[Subject].fetch1("weight")
        self.insert1(dict(key, weight_kg=weight / 1000))


Subject.insert([(1, "mouse", 21.5), (2, "mouse", 24.0), (3, "rat", 310.0)], skip_duplicates=True)
Session.insert([(1, 1, "2024-05-01"), (1, 2, "2024-05-02"), (3, 1, "2024-05-03")], skip_duplicates=True)

print("Subjects heavier than 22 g:")
print(Subject & "weight > 22")
print("\nSessions with their subjects:")
print((Session * Subject).to_pandas())
print("\nSessions per subject:")
print(Subject.aggr(Session, n="count(*)").to_pandas())
result = SessionSummary.populate()
print(f"\npopulate(): {result['success_count']} rows computed; progress (remaining, total) = "
      f"{SessionSummary.progress()}")
print(SessionSummary.to_pandas())
schema.drop(prompt=False)
