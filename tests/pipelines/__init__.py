"""Pipeline modules imported by worker subprocesses in tests (configured through DJ_* variables)."""
