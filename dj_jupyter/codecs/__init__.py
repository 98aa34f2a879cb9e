"""Attribute codecs: ``<blob>``, store-backed codecs, and user codecs registered by name or entry point."""

from .base import Codec, get_codec, is_codec_registered, list_codecs, resolve, unregister_codec
from . import blob as _blob  # noqa: F401  (registers <blob>)

__all__ = ["Codec", "get_codec", "is_codec_registered", "list_codecs", "resolve", "unregister_codec"]
