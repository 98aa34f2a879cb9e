"""Progress events of populate: any observer in the process can follow them.

The job tables hold the same facts for observers in other processes; these
events only make the local view immediate. Observers must be quick and must not
raise (an exception in an observer is logged and ignored).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

logger = logging.getLogger("dj_jupyter")

KINDS = ("start", "reserve", "success", "error", "skip", "finish")


@dataclass(frozen=True)
class JobEvent:
    kind: str  # one of KINDS
    table: str  # full table name of the populated table
    key: dict | None = None
    duration: float | None = None
    message: str = ""
    total: int | None = None  # keys to do, on "start"
    host: str = ""
    pid: int = 0
    time: float = field(default_factory=time.time)


_observers: list[Callable[[JobEvent], None]] = []
_lock = threading.Lock()


def subscribe(observer: Callable[[JobEvent], None]) -> Callable[[], None]:
    """Call ``observer(event)`` for every event; returns a function that unsubscribes."""
    with _lock:
        _observers.append(observer)

    def unsubscribe():
        with _lock:
            if observer in _observers:
                _observers.remove(observer)

    return unsubscribe


def emit(event: JobEvent) -> None:
    with _lock:
        observers = list(_observers)
    for observer in observers:
        try:
            observer(event)
        except Exception as error:
            logger.warning("A populate observer failed on %s: %s", event.kind, error)


def forget_observers() -> None:
    """Drop every observer (in a forked worker process, whose observers belong to the parent)."""
    with _lock:
        _observers.clear()
