"""The base of every dj_jupyter widget: bundled ESM, message dispatch, static twins, plain reprs.

Front ends talk to the kernel with custom messages ``{"type": ..., "request_id": ...}``;
the kernel answers with the same ``request_id``. :meth:`DJWidget.handle_message` is
the whole protocol in one call, so tests drive a widget exactly as a browser does.
Every widget also renders a static twin (HTML/SVG/text) into its mimebundle for
nbconvert, GitHub and nbval, and its ``text/plain`` has no memory address.
"""

from __future__ import annotations

import html
import logging
import threading
from functools import lru_cache
from pathlib import Path

import anywidget

logger = logging.getLogger("dj_jupyter")

STATIC = Path(__file__).parent / "static"


@lru_cache(maxsize=None)
def static_text(name: str) -> str:
    path = STATIC / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: rebuild the widget bundles with scripts/build_widgets.sh")
    return path.read_text(encoding="utf-8")


class DJWidget(anywidget.AnyWidget):
    """Base class: subclasses set ``_esm = static_text("name.js")`` and define ``on_<type>(content, buffers)`` handlers."""

    sent: list  # replies sent, kept when ``record_messages`` is on (tests)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sent = []
        self.record_messages = False
        self._closed = threading.Event()
        self.on_msg(self._on_custom_message)

    # ---- messages ---------------------------------------------------------------------------------
    def handle_message(self, content: dict, buffers=None):
        """Answer one front-end message; returns the reply (also sent to the front end)."""
        kind = content.get("type")
        handler = getattr(self, f"on_{kind}", None) if isinstance(kind, str) and kind.isidentifier() else None
        out_buffers = []
        if handler is None:
            reply = {"type": kind, "error": f"unknown message type {kind!r}"}
        else:
            try:
                result = handler(content, list(buffers or []))
                if isinstance(result, tuple):
                    reply, out_buffers = result
                else:
                    reply = result
            except Exception as error:  # the front end shows the message; the kernel stays quiet
                logger.debug("widget message %s failed", kind, exc_info=True)
                reply = {"type": kind, "error": _error_text(error)}
        if reply is None:
            return None
        reply.setdefault("type", kind)
        if "request_id" in content:
            reply["request_id"] = content["request_id"]
        self.push(reply, out_buffers)
        return reply if not out_buffers else (reply, out_buffers)

    def _on_custom_message(self, widget, content, buffers):
        if isinstance(content, dict):
            self.handle_message(content, buffers)

    def push(self, message: dict, buffers=None) -> None:
        """Send a message to the front end (safe from background threads)."""
        if self.record_messages:
            self.sent.append((message, list(buffers or [])))
        try:
            self.send(message, list(buffers or []) or None)
        except Exception as error:  # no front end (closed comm): nothing to tell
            logger.debug("could not send %s: %s", message.get("type"), error)

    # ---- life cycle ------------------------------------------------------------------------------
    def close(self):
        if "_closed" not in self.__dict__:  # __init__ failed before the widget existed (e.g. a query that
            return                          # cannot run): nothing to stop; __del__ calls close() anyway
        self._closed.set()
        self._on_close()
        super().close()

    def _on_close(self) -> None:
        """Stop timers and subscriptions (subclasses)."""

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # ---- static twins -----------------------------------------------------------------------------
    def static_html(self) -> str | None:
        return None

    def static_svg(self) -> str | None:
        return None

    def static_markdown(self) -> str | None:
        return None

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data, metadata = (bundle if isinstance(bundle, tuple) else (bundle, {}))
        data = dict(data or {})
        data["text/plain"] = repr(self)
        for mime, make in (("text/html", self.static_html), ("image/svg+xml", self.static_svg),
                           ("text/markdown", self.static_markdown)):
            try:
                value = make()
            except Exception as error:  # a twin must never break the display
                value = None
                logger.debug("static twin %s failed: %s", mime, error)
            if value:
                data[mime] = value
        return (data, metadata) if metadata else data

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Poller:
    """Call ``work()`` every ``interval`` seconds in a daemon thread until stopped."""

    def __init__(self, interval: float, work, name: str = "dj-poll"):
        self.interval = interval
        self._work = work
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Poller":
        self._thread.start()
        return self

    def wake(self) -> None:
        """Run the work now (e.g. after an event), without waiting for the interval."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self._work()
            except Exception as error:
                logger.debug("poll failed: %s", error)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and wait for a poll in flight, so no query of this widget outlives it (e.g. into a drop)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()


def connection_open(connection) -> bool:
    """False once the user closed the connection: pollers then wait instead of reconnecting it."""
    return getattr(connection, "_raw", True) is not None


def _error_text(error: Exception) -> str:
    text = str(error) or type(error).__name__
    hint = getattr(error, "hint", None)
    if hint and hint not in text:
        text += f" ({hint})"
    return text


def escape(value) -> str:
    return html.escape("" if value is None else str(value))
