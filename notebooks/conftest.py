"""nbval runs the demo notebooks; the scale-out notebook gets the test suite's PostgreSQL server.

Its settings travel in ``DJ_DEMO_*`` variables (inherited by the notebook kernels), so
the other notebooks keep the SQLite default they are about.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_collection_finish(session):
    if not any("03_scale_out" in str(getattr(item, "fspath", "")) for item in session.items):
        return
    from tests.conftest import database_server

    server = database_server("postgresql")
    os.environ.update({"DJ_DEMO_HOST": server.host, "DJ_DEMO_PORT": str(server.port),
                       "DJ_DEMO_USER": server.user, "DJ_DEMO_PASS": server.password})
