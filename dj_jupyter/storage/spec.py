"""Store specifications: ``dj.config['stores']`` resolved, defaulted and validated.

The keys and defaults are DataJoint 2.3's, so one ``datajoint.json`` serves both
libraries::

    "stores": {
        "default": "main",                  # the store of <blob@>, <npy@>, <object@>, ...
        "filepath_default": "raw",          # the store of <filepath@>
        "main": {"protocol": "file", "location": "/data/dj"},
        "raw":  {"protocol": "s3", "endpoint": "s3.example.org", "bucket": "lab",
                 "location": "raw", "access_key": "...", "secret_key": "..."}
    }

Common keys: ``subfolding`` (hash fan-out, e.g. ``[2, 2]``), ``partition_pattern``
(``"{subject_id}/{session_id}"``), ``token_length`` (4..16, default 8), ``hash_prefix``
(default ``_hash``), ``schema_prefix`` (default ``_schema``), ``filepath_prefix``
(``<filepath@>`` paths must stay under it; default unrestricted).

Beyond DataJoint: any other protocol that fsspec knows (``memory``, ``sftp``, ...)
is accepted with its constructor arguments in ``storage_options``; and
``verify_hash`` (default true) turns off the MD5 check of hash-addressed objects on
fetch for stores where reading speed matters more than a second integrity check.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import DataJointError

BUILTIN_PROTOCOLS = ("file", "s3", "gcs", "azure")

COMMON_KEYS = ("protocol", "location", "subfolding", "partition_pattern", "token_length", "hash_prefix",
               "schema_prefix", "filepath_prefix", "stage", "verify_hash")

REQUIRED_KEYS = {
    "file": ("protocol", "location"),
    "s3": ("protocol", "endpoint", "bucket", "location"),
    "gcs": ("protocol", "bucket", "location"),
    "azure": ("protocol", "container", "location"),
}

EXTRA_KEYS = {
    "file": (),
    "s3": ("endpoint", "bucket", "access_key", "secret_key", "secure", "proxy_server", "region"),
    "gcs": ("bucket", "token", "project"),
    "azure": ("container", "account_name", "account_key", "connection_string"),
}

DEFAULTS = {
    "subfolding": None,
    "partition_pattern": None,
    "token_length": 8,
    "hash_prefix": "_hash",
    "schema_prefix": "_schema",
    "filepath_prefix": None,
}

_HINT = ('Configure it as dj.config["stores"] = {"default": "main", "main": {"protocol": "file", '
         '"location": "/path/to/store"}} (or in datajoint.json).')


def _stores(config) -> dict:
    stores = config["stores"] if config is not None else {}
    return stores if isinstance(stores, dict) else {}


def resolve_store_name(config, store: str | None = None, *, use_filepath_default: bool = False) -> str:
    """The configured store name for ``store``; ``None`` or ``""`` means the default store."""
    if store:
        return store
    stores = _stores(config)
    key = "filepath_default" if use_filepath_default else "default"
    name = stores.get(key)
    if name is None:
        which = "<filepath@>" if use_filepath_default else "<codec@>"
        raise DataJointError(f"stores.{key} is not configured, so {which} has no store to use.",
                             hint=f'Set dj.config["stores"]["{key}"] to a store name, or name the store '
                                  f"in the type, e.g. <npy@main>.")
    if not isinstance(name, str):
        raise DataJointError(f"stores.{key} must be the name of a store, got {name!r}.")
    return name


def store_spec(config, store: str | None = None, *, use_filepath_default: bool = False) -> dict[str, Any]:
    """The validated specification of a store, with DataJoint's defaults applied."""
    name = resolve_store_name(config, store, use_filepath_default=use_filepath_default)
    stores = _stores(config)
    if name not in stores or name in ("default", "filepath_default"):
        known = sorted(k for k, v in stores.items() if isinstance(v, dict))
        raise DataJointError(f"Store {name!r} is requested but not configured in dj.config['stores']"
                             + (f" (configured: {', '.join(known)})." if known else "."), hint=_HINT)
    raw = stores[name]
    if not isinstance(raw, dict):
        raise DataJointError(f"dj.config['stores'][{name!r}] must be a dict, got {type(raw).__name__}.", hint=_HINT)
    spec = copy.deepcopy(raw)
    for key, value in DEFAULTS.items():
        spec.setdefault(key, value)
    protocol = str(spec.get("protocol") or "").lower()
    if not protocol:
        raise DataJointError(f"Store {name!r} has no protocol.",
                             hint="Set its protocol to file, s3, gcs or azure (or any fsspec protocol).")
    spec["protocol"] = protocol
    if protocol in BUILTIN_PROTOCOLS:
        missing = [k for k in REQUIRED_KEYS[protocol] if k not in spec]
        if missing:
            raise DataJointError(f"Store {name!r} ({protocol}) is missing {', '.join(missing)}.", hint=_HINT)
        allowed = set(COMMON_KEYS) | set(EXTRA_KEYS[protocol])
        invalid = sorted(k for k in spec if k not in allowed)
        if invalid:
            raise DataJointError(f"Store {name!r} ({protocol}) has unknown key(s): {', '.join(invalid)}.",
                                 hint=f"Allowed keys: {', '.join(sorted(allowed))}.")
        if protocol == "s3":
            spec.setdefault("secure", True)
            if bool(spec.get("access_key")) != bool(spec.get("secret_key")):
                raise DataJointError(f"Store {name!r}: set both access_key and secret_key, or neither to use "
                                     "the ambient AWS credentials.")
    else:
        _check_fsspec_protocol(name, protocol)
        spec.setdefault("location", "")
        options = spec.get("storage_options", {})
        if not isinstance(options, dict):
            raise DataJointError(f"Store {name!r}: storage_options must be a dict of fsspec arguments.")
    _check_layout(name, spec)
    spec["name"] = name
    return spec


def _check_fsspec_protocol(name: str, protocol: str) -> None:
    import fsspec

    if protocol not in fsspec.available_protocols():
        raise DataJointError(f'Unknown protocol "{protocol}" in store {name!r}.',
                             hint=f"Use one of {', '.join(BUILTIN_PROTOCOLS)} or a protocol fsspec knows.")
    try:
        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError) as error:
        raise DataJointError(f'Store {name!r}: the fsspec protocol "{protocol}" is not usable: {error}',
                             hint="Install the fsspec implementation for it.") from None


def _relative_prefix(name: str, key: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataJointError(f"Store {name!r}: {key} must be a string.")
    stripped = value.strip("/")
    parts = stripped.split("/") if stripped else []
    if any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise DataJointError(f"Store {name!r}: {key}={value!r} must be a plain relative folder name.")
    return stripped


def _check_layout(name: str, spec: dict) -> None:
    prefixes = []
    for key in ("hash_prefix", "schema_prefix", "filepath_prefix"):
        value = _relative_prefix(name, key, spec.get(key))
        if value:
            prefixes.append((key, value + "/"))
    for i, (k1, p1) in enumerate(prefixes):
        for k2, p2 in prefixes[i + 1:]:
            if p1.startswith(p2) or p2.startswith(p1):
                raise DataJointError(f"Store {name!r}: {k1}={p1[:-1]!r} and {k2}={p2[:-1]!r} overlap.",
                                     hint="The hash, schema and filepath sections of a store must be separate folders.")
    token_length = spec.get("token_length")
    if not isinstance(token_length, int) or isinstance(token_length, bool):
        raise DataJointError(f"Store {name!r}: token_length must be an integer (4 to 16).")
    subfolding = spec.get("subfolding")
    if subfolding is not None:
        if not isinstance(subfolding, (list, tuple)) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in subfolding) or sum(subfolding) > 20:
            raise DataJointError(f"Store {name!r}: subfolding must be a list of positive folder-name lengths, "
                                 "e.g. [2, 2].")
    pattern = spec.get("partition_pattern")
    if pattern is not None and not isinstance(pattern, str):
        raise DataJointError(f"Store {name!r}: partition_pattern must be a string such as '{{subject_id}}'.")
