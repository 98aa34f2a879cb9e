"""Small functions the ``%dj`` subcommands share: names, counts, keys, diffs and the text progress line."""

from __future__ import annotations

import getpass
import inspect
import re
import time
from pathlib import Path

from IPython.display import display

import dj_jupyter as dj
from dj_jupyter.errors import DataJointError
from dj_jupyter.query.expression import QueryExpression
from dj_jupyter.table import Table, to_camel_case
from dj_jupyter.tiers import Part

from . import display as views


class MagicError(DataJointError):
    """A magic could not do what the cell asks (shown as a short message, like DataJoint's errors)."""


def shortened(error: DataJointError) -> DataJointError:
    """The same exception, shown by IPython as its message and hint only (no traceback)."""
    lines = str(error).splitlines() or [""]
    name = type(error).__name__
    rendered = [f"\x1b[0;31m{name}\x1b[0m: {lines[0]}"] + lines[1:]
    error._render_traceback_ = lambda: rendered
    return error


def existing_connection():
    from dj_jupyter import connection as connection_module

    existing = connection_module.current()
    return existing


def target_of(connection) -> str:
    """Where the connection points, without credentials; SQLite files relative to the working directory."""
    target = connection.target
    if target.startswith("sqlite:///"):
        path = Path(target[len("sqlite:///"):])
        try:
            return "sqlite:///" + str(path.relative_to(Path.cwd().resolve()))
        except ValueError:
            return target
    return target


def ask_password(user, host) -> str | None:
    try:
        password = getpass.getpass(f"Password for {user}@{host}: ")
    except Exception as error:  # no way to prompt (nbconvert, a script, a test)
        raise MagicError(f"No password configured for {user}@{host}, and this session cannot prompt for one "
                         f"({type(error).__name__}).",
                         hint="Put it in .secrets/database.password next to datajoint.json, or set DJ_PASS.") from None
    return password or None


def count_of(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def display_name(cls) -> str:
    master = getattr(cls, "_master", None)
    if master is not None and inspect.isclass(cls) and issubclass(cls, Part):
        return f"{master.__name__}.{cls.__name__}"
    return cls.__name__


def display_name_from(table_name: str) -> str:
    """``__session_stats`` -> ``SessionStats``; ``session__trial`` -> ``Session.Trial``."""
    return ".".join(to_camel_case(part) for part in table_name.lstrip("#_~").split("__") if part)


def qualified(node, database) -> str:
    name = display_name_from(node[1])
    return name if node[0] == database else f"{node[0]}.{name}"


def bound_instance(value):
    """A table class as an instance (it must belong to a schema); any other value as it is."""
    if inspect.isclass(value) and issubclass(value, Table):
        if value.database is None:
            raise MagicError(f"{value.__name__} is not bound to a schema.", hint="Declare it first.")
        return value()
    return value


def as_expression(value, text: str) -> QueryExpression:
    value = bound_instance(value)
    if isinstance(value, QueryExpression):
        return value
    raise MagicError(f"The cell evaluates to a {type(value).__name__}, not a query expression.",
                     hint="Write a table or an expression of tables, e.g. Session * Subject.")


def format_key(key) -> str:
    if isinstance(key, dict):
        return ", ".join(f"{k}={v!r}" for k, v in key.items())
    return str(key)


def first_line(text: str, width: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def diff_lines(table, plan) -> list[tuple[str, str]]:
    """Per-attribute differences between the table in the database and the new definition."""
    old = lines_by_attribute(table().describe())
    new = lines_by_attribute(table.definition)
    label = display_name(table)
    lines = []
    for name in plan.added:
        lines.append(("+", f"{label}: {new.get(name, name)}"))
    for name in plan.dropped:
        lines.append(("-", f"{label}: {old.get(name, name)}"))
    for name in plan.changed:
        lines.append(("-", f"{label}: {old.get(name, name)}"))
        lines.append(("+", f"{label}: {new.get(name, name)}"))
    if plan.comment_changed:
        comment = next((line.strip()[1:].strip() for line in table.definition.splitlines()
                        if line.strip().startswith("#")), "")
        lines.append(("~", f"{label}: table comment -> {comment!r}"))
    return lines


def lines_by_attribute(definition: str) -> dict[str, str]:
    found = {}
    for line in definition.splitlines():
        match = re.match(r"\s*([a-z_][a-z0-9_]*)\s*(=|:)", line)
        if match:
            found[match.group(1)] = line.strip()
    return found


def diagram_widget_class():
    diagram = getattr(dj, "Diagram", None)
    if diagram is not None:
        return diagram
    try:
        from dj_jupyter.diagram import Diagram
    except Exception:
        return None
    return Diagram


class TextProgress:
    """Populate progress as one text line, shown only when a populate takes longer than ``after`` seconds.

    Quick populates print just the final summary, so notebooks stay deterministic.
    """

    def __init__(self, table: str, label: str, after: float):
        from dj_jupyter.jobs import events

        self.table, self.label, self.after = table, label, after
        self.started = time.monotonic()
        self.last = 0.0
        self.total = None
        self.counts = {"success": 0, "error": 0, "skip": 0}
        self.handle = None
        self._unsubscribe = events.subscribe(self)

    def __call__(self, event) -> None:
        if event.table != self.table:
            return
        if event.kind == "start":
            self.total = event.total
        elif event.kind in self.counts:
            self.counts[event.kind] += 1
        now = time.monotonic()
        if now - self.started < self.after or now - self.last < 0.5:
            return
        self.last = now
        text = self._text()
        if self.handle is None:
            self.handle = display(views.Rendered(text), display_id=True)
        else:
            self.handle.update(views.Rendered(text))

    def _text(self, final: bool = False) -> str:
        done = sum(self.counts.values())
        total = f"/{self.total}" if self.total is not None else ""
        state = "finished" if final else "running"
        return (f"{self.label}: {done}{total} keys ({self.counts['success']} made, {self.counts['error']} errors) "
                f"- {state}")

    def close(self) -> None:
        self._unsubscribe()
        if self.handle is not None:
            self.handle.update(views.Rendered(self._text(final=True)))
