"""IPython extension for dj_jupyter: ``%load_ext dj_jupyter`` registers ``%dj`` and ``%%dj``."""


def load_ipython_extension(ipython):
    from .magics import DJMagic

    ipython.register_magics(DJMagic)


def unload_ipython_extension(ipython):
    """Magics stay registered until the kernel restarts, as with other IPython extensions."""
