"""Attribute codecs: ``<blob>``, store-backed codecs, and user codecs registered by name or entry point.

Built in: ``<blob>`` / ``<blob@store>``, ``<attach>`` / ``<attach@store>``, ``<hash@store>``,
``<object@store>``, ``<npy@store>`` and ``<filepath@store>`` (``@`` alone names the default store).
"""

from .base import Codec, get_codec, is_codec_registered, list_codecs, resolve, unregister_codec
from . import blob as _blob  # noqa: F401  (registers <blob>)
from .hash import HashCodec
from .attach import AttachCodec
from .object import ObjectCodec, SchemaCodec
from .npy import NpyCodec
from .filepath import FilepathCodec
from ..storage.objectref import NpyRef, ObjectRef

__all__ = ["Codec", "SchemaCodec", "get_codec", "is_codec_registered", "list_codecs", "resolve", "unregister_codec",
           "HashCodec", "AttachCodec", "ObjectCodec", "NpyCodec", "FilepathCodec", "ObjectRef", "NpyRef"]
