"""Confirmation in the notebook: a button, never an ``input()`` prompt.

A :class:`Confirmation` holds an action the user has been shown but not yet
approved (a cascade delete, an in-place alter). With ipywidgets it is displayed
as two buttons; the action runs once, when the confirm button is clicked, and
its messages and errors appear under the buttons. Without ipywidgets the magic
tells the user to re-run with ``--confirm`` instead.
"""

from __future__ import annotations

import html
import itertools
import logging
from typing import Callable

from dj_jupyter.errors import DataJointError

logger = logging.getLogger("dj_jupyter")

_ids = itertools.count(1)


class Confirmation:
    """An action waiting for approval.

    ``action()`` returns a message to show when it has run. ``still_valid()``
    (optional) is asked right before running: it returns None when what the
    user saw is still what would happen, or a message explaining what changed
    (then nothing runs).
    """

    def __init__(self, summary: str, action: Callable[[], str], *, confirm_label: str, cancel_label: str = "Cancel",
                 still_valid: Callable[[], str | None] | None = None, danger: bool = True):
        self.id = next(_ids)
        self.summary = summary
        self._action = action
        self._still_valid = still_valid
        self.confirm_label = confirm_label
        self.cancel_label = cancel_label
        self.danger = danger
        self.state = "pending"  # pending -> done | cancelled | failed | stale
        self.result: str | None = None
        self.widget = None
        self.confirm_button = None
        self.cancel_button = None
        self._output = None

    # ---- the decision --------------------------------------------------------------------------
    def confirm(self) -> str:
        """Run the action (once). Returns the message shown to the user."""
        if self.state != "pending":
            return self._say(f"Already {self.state}; nothing to do.")
        if self._still_valid is not None:
            changed = self._still_valid()
            if changed:
                self.state = "stale"
                self._finish()
                return self._say(changed, warning=True)
        try:
            self.result = self._action()
        except DataJointError as error:
            self.state = "failed"
            self._finish()
            return self._say(f"{type(error).__name__}: {error}", warning=True)
        except Exception as error:
            self.state = "failed"
            self._finish()
            if self._output is None:
                raise
            self._output.append_stderr(f"{type(error).__name__}: {error}\n")
            logger.exception("The confirmed action failed")
            return f"{type(error).__name__}: {error}"
        self.state = "done"
        self._finish()
        return self._say(self.result or "Done.")

    def cancel(self) -> str:
        if self.state != "pending":
            return self._say(f"Already {self.state}.")
        self.state = "cancelled"
        self._finish()
        return self._say("Cancelled; nothing was changed.")

    # ---- the buttons -----------------------------------------------------------------------------
    def build_widget(self, widgets):
        """The buttons (and the output area their results go to) as an ipywidgets box."""
        confirm = widgets.Button(description=self.confirm_label, button_style="danger" if self.danger else "primary",
                                 icon="check", layout=widgets.Layout(width="auto"))
        cancel = widgets.Button(description=self.cancel_label, icon="times", layout=widgets.Layout(width="auto"))
        output = widgets.Output()
        confirm.on_click(lambda _button: self.confirm())
        cancel.on_click(lambda _button: self.cancel())
        box_class = _confirmation_box_class(widgets)
        self.widget = box_class([widgets.HBox([confirm, cancel]), output])
        self.widget._dj_confirmation = self
        self.confirm_button, self.cancel_button, self._output = confirm, cancel, output
        return self.widget

    def _finish(self) -> None:
        for button in (self.confirm_button, self.cancel_button):
            if button is not None:
                button.disabled = True

    def _say(self, text: str, warning: bool = False) -> str:
        if self._output is not None:
            color = "#b00020" if warning else "inherit"
            self._output.append_display_data(_html_note(text, color))
        return text

    def __repr__(self) -> str:
        return f"<pending confirmation: {self.confirm_label}>" if self.state == "pending" else \
            f"<confirmation {self.state}: {self.confirm_label}>"


class _Note:
    def __init__(self, text: str, color: str):
        self.text, self.color = text, color

    def _repr_mimebundle_(self, include=None, exclude=None):
        body = "<br>".join(html.escape(line) for line in self.text.splitlines())
        return {"text/plain": self.text,
                "text/html": f'<p style="font-size:12px;margin:2px 0;color:{self.color}">{body}</p>'}


def _html_note(text: str, color: str) -> _Note:
    return _Note(text, color)


_box_classes: dict = {}


def _confirmation_box_class(widgets):
    """A VBox whose text form is deterministic (no memory addresses in saved notebooks)."""
    cls = _box_classes.get(id(widgets))
    if cls is None:
        class ConfirmationBox(widgets.VBox):
            def __repr__(self):
                confirmation = getattr(self, "_dj_confirmation", None)
                if confirmation is None:
                    return "ConfirmationBox()"
                return (f"[{confirmation.confirm_label}] [{confirmation.cancel_label}] "
                        "(buttons: open the notebook in Jupyter to use them)")

        cls = _box_classes[id(widgets)] = ConfirmationBox
    return cls
