"""IPython extension for dj_jupyter: ``%load_ext dj_jupyter`` registers ``%dj`` and ``%%dj``.

It also registers completion for ``%%dj`` cells and ``%dj`` lines (see
:mod:`kernel_magics.completion`, whose :func:`~kernel_magics.completion.complete`
is a pure function other front ends can reuse).
"""

_MATCHERS: dict[int, object] = {}


def load_ipython_extension(ipython):
    from .magics import DJMagic

    ipython.register_magics(DJMagic)
    _register_completion(ipython)
    from dj_jupyter.jupyter.sidebar import register_comm_target  # the JupyterLab sidebar's comm (labextension/)

    register_comm_target(ipython)


def unload_ipython_extension(ipython):
    """Remove the completion matcher; the magics stay registered until the kernel restarts (as with other
    IPython extensions)."""
    matcher = _MATCHERS.pop(id(ipython), None)
    completer = getattr(ipython, "Completer", None)
    if matcher is not None and completer is not None and matcher in getattr(completer, "custom_matchers", []):
        completer.custom_matchers.remove(matcher)


def _register_completion(ipython) -> None:
    completer = getattr(ipython, "Completer", None)
    if completer is None or id(ipython) in _MATCHERS:
        return
    from . import completion

    if hasattr(completer, "custom_matchers"):
        try:
            matcher = completion.make_ipython_matcher(ipython)
        except ImportError:  # IPython < 8.6: no Matcher API v2
            matcher = None
        if matcher is not None:
            completer.custom_matchers.insert(0, matcher)
            _MATCHERS[id(ipython)] = matcher
            return
    ipython.set_hook("complete_command", completion.make_line_hook(ipython), str_key="%dj")
    _MATCHERS[id(ipython)] = None
