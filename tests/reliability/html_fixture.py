"""A pipeline whose names, comments, values, file names and error messages are HTML/JS payloads.

Used in-process by test_html.py and, as notebook cells, by the browser test. Every payload,
if it ran, would set ``window.__pwned`` (or call ``alert``).
"""

PAYLOADS = [
    "<script>window.__pwned='script'</script>",
    "<img src=x onerror=\"window.__pwned='img'\">",
    "javascript:window.__pwned='js-url'",
    "\"><svg onload=\"window.__pwned='svg'\">",
    "</td></tr></table><script>window.__pwned='break-out'</script>",
    "<a href=\"javascript:window.__pwned='link'\">click</a>",
    "' onmouseover='window.__pwned=\"attr\"' x='",
    "<iframe srcdoc=\"<script>parent.__pwned='iframe'</script>\"></iframe>",
    "{{7*7}}<style>body{background:url(javascript:alert(1))}</style>",
    "<details open ontoggle=\"window.__pwned='toggle'\">",
]

SETUP = r'''
import numpy as np
import dj_jupyter as dj
from tests.reliability.html_fixture import PAYLOADS

def build_hostile(connection, tmp_dir):
    schema = dj.Schema("hostile", connection=connection)
    comment = PAYLOADS[0].replace("\n", " ") + " " + PAYLOADS[3]

    @schema
    class Subject(dj.Manual):
        definition = f"""
        # {comment}
        subject_id : int32
        ---
        name : varchar(200)   # {PAYLOADS[1]}
        url = "" : varchar(200)   # {PAYLOADS[2]}
        """

    @schema
    class Doc(dj.Manual):
        definition = """
        -> Subject
        ---
        doc : <attach>
        trace : <blob>
        """

    @schema
    class Score(dj.Computed):
        definition = f"""
        # {PAYLOADS[4]}
        -> Subject
        ---
        score : float64
        """

        def make(self, key):
            name = (Subject & key).fetch1("name")
            if key["subject_id"] % 2:
                raise ValueError(f"bad subject {name} {PAYLOADS[6]}")
            self.insert1(dict(key, score=float(len(name))))

    Subject.insert([(i, p, PAYLOADS[2]) for i, p in enumerate(PAYLOADS)])
    import os
    for i, p in enumerate(PAYLOADS[:4]):
        safe = "".join(c for c in p if c not in "/\\\x00")[:60] or "x"
        path = os.path.join(tmp_dir, f"{i}_{safe}.txt")
        with open(path, "w") as f:
            f.write(p)
        Doc.insert1(dict(subject_id=i, doc=path, trace=np.arange(5.0)))
    Score.populate(reserve_jobs=True, suppress_errors=True)
    return schema, Subject, Doc, Score
'''
