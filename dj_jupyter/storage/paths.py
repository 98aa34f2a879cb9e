"""Object paths inside a store: DataJoint 2.3's layouts, built so that nothing leaves the store.

Hash-addressed (``<hash@>``, ``<blob@>``, ``<attach@>``)::

    {hash_prefix}/{schema}/[{fold1}/{fold2}/]{hash}

where ``hash`` is the MD5 digest in lowercase base32 without padding (26 characters).

Schema-addressed (``<object@>``, ``<npy@>``)::

    {schema_prefix}/[{part}={v}/...]{schema}/{table}/{pk}={v}/.../{field}_{token}{ext}

with the attributes named in ``partition_pattern`` pulled in front of the schema.

Every relative path that reaches a store goes through :func:`clean_path`: no
absolute paths, no ``..`` or ``.`` segments, no empty segments, no NUL or other
control characters, no backslashes, bounded length. Primary-key values are
encoded as DataJoint does when they are harmless (``subject=12``) and
percent-encoded, or shortened with a digest suffix, when they are not.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import secrets
import urllib.parse
from typing import Any

from ..errors import DataJointError

TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HASH_PATTERN = re.compile(r"^[a-z2-7]{26}$")
MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 1024  # S3's key limit; also far below PATH_MAX
MAX_VALUE_CHARS = 100  # DataJoint shortens longer key values
_UNSAFE_IN_VALUE = set('/\\:*?"<>|[]')  # DataJoint's set, plus glob brackets
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


class UnsafePathError(DataJointError):
    """A path would leave its store or is not a valid object name."""


def content_hash(data) -> str:
    """DataJoint's content hash: base32 of the MD5 digest, lowercase, no padding (26 characters)."""
    digest = hashlib.md5(data).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def clean_path(path: Any, *, what: str = "object path") -> str:
    """Return ``path`` as a normalised relative store path, or raise :class:`UnsafePathError`."""
    if not isinstance(path, str):
        raise UnsafePathError(f"The {what} must be a string, got {type(path).__name__}.")
    if not path:
        raise UnsafePathError(f"The {what} is empty.")
    if "\x00" in path or _has_control(path):
        raise UnsafePathError(f"The {what} {path!r} contains control characters.")
    if "\\" in path:
        raise UnsafePathError(f"The {what} {path!r} contains a backslash.",
                              hint="Write store paths with forward slashes.")
    if path.startswith("/") or _URL.match(path) or re.match(r"^[A-Za-z]:", path):
        raise UnsafePathError(f"The {what} {path!r} is absolute; store paths are relative to the store location.")
    parts = path.split("/")
    if parts and parts[-1] == "":
        parts = parts[:-1]  # one trailing slash (a folder) is tolerated
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePathError(f"The {what} {path!r} has an empty, '.' or '..' segment.",
                                  hint="Paths must stay inside the store.")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            raise UnsafePathError(f"The {what} has a name longer than {MAX_SEGMENT_BYTES} bytes.")
    cleaned = "/".join(parts)
    if len(cleaned.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise UnsafePathError(f"The {what} is longer than {MAX_PATH_BYTES} bytes.")
    return cleaned


def safe_segment(text: str) -> str:
    """A single path segment for a name (schema, table, field): as is when harmless, else percent-encoded."""
    text = str(text)
    if text and text not in (".", "..") and not (set(text) & _UNSAFE_IN_VALUE) and not _has_control(text) \
            and len(text.encode("utf-8", "surrogatepass")) <= 128:
        return text
    return _encode_unsafe(text)


def _encode_unsafe(text: str) -> str:
    """DataJoint's encoding of an unsafe or long value (first 50 characters, ``_`` and 8 hex digits of its MD5
    when longer than 100 characters; percent-encoded), kept under 200 bytes for multi-byte text."""
    digest = hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    shortened = text[:50] + "_" + digest if len(text) > MAX_VALUE_CHARS else text
    encoded = urllib.parse.quote(shortened, safe="")
    if len(encoded) > 200:
        prefix = ""
        for ch in text:  # the longest prefix whose encoding fits in 60 characters
            piece = urllib.parse.quote(ch, safe="")
            if len(prefix) + len(piece) > 60:
                break
            prefix += piece
        encoded = f"{prefix}_{digest}"
    return encoded or "%00"


def encode_key_value(value: Any) -> str:
    """A primary-key value as it appears in ``attr=value`` path segments (DataJoint's encoding when safe)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%dT%H-%M-%S")
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text if not (set(text) & _UNSAFE_IN_VALUE) else _encode_unsafe(text)
    if isinstance(value, bytes):
        value = value.hex()
    text = str(value)
    if (set(text) & _UNSAFE_IN_VALUE) or _has_control(text) or len(text) > MAX_VALUE_CHARS \
            or len(text.encode("utf-8", "surrogatepass")) > MAX_VALUE_CHARS * 2 or text != text.strip() \
            or text in ("", ".", ".."):
        return _encode_unsafe(text)
    return text


def generate_token(length: int = 8) -> str:
    length = max(4, min(16, int(length)))
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(length))


def _prefix_parts(prefix: str | None) -> list[str]:
    prefix = (prefix or "").strip("/")
    return prefix.split("/") if prefix else []


def hash_path(digest: str, schema: str, *, hash_prefix: str | None, subfolding=None) -> str:
    """``{hash_prefix}/{schema}/[folds/]{hash}``."""
    if not HASH_PATTERN.match(digest or ""):
        raise DataJointError(f"Invalid content hash {digest!r}: expected 26 lowercase base32 characters.")
    parts = _prefix_parts(hash_prefix) + [safe_segment(schema)]
    if subfolding:
        position = 0
        for width in subfolding:
            parts.append(digest[position:position + width])
            position += width
    parts.append(digest)
    return clean_path("/".join(parts))


def partition_attributes(pattern: str | None) -> list[str]:
    return re.findall(r"\{(\w+)\}", pattern) if pattern else []


def object_path(schema: str, table: str, field: str, key: dict, ext: str | None, *, schema_prefix: str | None,
                partition_pattern: str | None = None, token_length: int = 8) -> tuple[str, str]:
    """Schema-addressed path and its random token: ``{prefix}/[partition/]{schema}/{table}/{pk}/{field}_{token}{ext}``."""
    token = generate_token(token_length)
    filename = f"{safe_segment(field)}_{token}"
    if ext:
        filename += clean_extension(ext)
    partition = partition_attributes(partition_pattern)
    parts = _prefix_parts(schema_prefix)
    parts += [f"{safe_segment(a)}={encode_key_value(key[a])}" for a in partition if a in key]
    parts += [safe_segment(schema), safe_segment(table)]
    parts += [f"{safe_segment(a)}={encode_key_value(v)}" for a, v in key.items() if a not in partition]
    parts.append(filename)
    return clean_path("/".join(parts)), token


_EXTENSION = re.compile(r"^(\.[A-Za-z0-9_\-+]{1,24}){1,3}$")


def clean_extension(ext: str) -> str:
    """A file extension such as ``.npy`` or ``.tar.gz``; anything else is refused."""
    ext = str(ext)
    if not ext.startswith("."):
        ext = "." + ext
    if not _EXTENSION.match(ext):
        raise DataJointError(f"Invalid file extension {ext!r}.",
                             hint="Extensions are a dot and letters, digits, '-', '_' or '+', e.g. '.zarr'.")
    return ext


def safe_local_name(name: str) -> str:
    """The last component of a file name from a stored value, safe to create in a download folder."""
    text = str(name).replace("\\", "/")
    text = text.rsplit("/", 1)[-1]
    text = "".join(c for c in text if ord(c) >= 32 and ord(c) != 127)
    text = text.strip()
    if text in ("", ".", ".."):
        text = "attachment"
    if len(text.encode("utf-8", "surrogatepass")) > 200:
        stem, dot, suffix = text.rpartition(".")
        suffix = suffix if dot and len(suffix) <= 16 else ""
        digest = hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        text = text[:100] + "_" + digest + ("." + suffix if suffix else "")
    return text
