"""dj_jupyter: DataJoint 2.x's relational workflow model, at home in Jupyter.

``import dj_jupyter as dj`` gives DataJoint 2.3's public names. This module only
re-exports; it imports nothing from IPython or the widget libraries, so compute
workers can install and import the core alone.
"""

import logging

from . import errors
from .codecs import Codec, NpyRef, ObjectRef, SchemaCodec, get_codec, list_codecs
from .codecs.blob_format import MatCell, MatStruct
from .connection import Connection, conn
from .diagram import Diagram
from .errors import DataJointError, ThreadSafetyError
from .export import export, import_export
from .instance import Instance
from .introspect import describe_pipeline
from .jobs.autopopulate import AutoPopulate
from .jobs.jobtable import JobTable as Job
from .query.condition import AndList, Not, Top
from .query.expression import QueryExpression, U
from .schema import Schema, VirtualModule, list_schemas, virtual_schema
from .settings import config
from .storage import gc
from .table import FreeTable, Table
from .tiers import Compute, Computed, Entry, Imported, Ingest, Lookup, Manual, Part
from .validation import ValidationResult

logger = logging.getLogger("dj_jupyter")

__version__ = "0.1.0"

__all__ = [
    "__version__", "config", "conn", "Connection", "Schema", "VirtualModule", "virtual_schema", "list_schemas",
    "Table", "FreeTable", "QueryExpression", "AutoPopulate", "Manual", "Entry", "Lookup", "Imported", "Ingest",
    "Computed", "Compute", "Part", "Not", "AndList", "Top", "U", "Codec", "get_codec", "list_codecs",
    "MatCell", "MatStruct", "errors", "DataJointError", "describe_pipeline", "export", "import_export", "SchemaCodec", "ObjectRef", "NpyRef", "gc", "Diagram",
    "Job", "ValidationResult", "logger", "Instance", "ThreadSafetyError",
]


def load_ipython_extension(ipython):
    """``%load_ext dj_jupyter`` loads the kernel magics (imported only here)."""
    from kernel_magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):
    from kernel_magics import unload_ipython_extension as unload

    unload(ipython)
