"""``dj.config``: layered settings compatible with DataJoint 2.3's keys.

Layers, highest first: values set at run time, ``DJ_*`` environment variables,
``datajoint.json`` (found by walking up from the working directory, stopping at
a ``.git`` folder), files in ``.secrets/``, then defaults. Reading a key asks the
layers in that order; writing a key sets it in the run-time layer.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import DataJointError, ThreadSafetyError

logger = logging.getLogger("dj_jupyter")

CONFIG_FILENAME = "datajoint.json"
SECRETS_DIRNAME = ".secrets"
SYSTEM_SECRETS_DIR = Path("/run/secrets/datajoint")
BACKENDS = ("sqlite", "postgresql", "mysql")
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
SECRET_KEYS = {"database.password"}
# credentials inside a store spec: kept in .secrets/stores.<name>.<field>, never written by config.save()
STORE_SECRET_FIELDS = {"access_key", "secret_key", "account_key", "connection_string", "sas_token", "password",
                       "token", "session_token"}


def _without_store_secrets(stores) -> dict:
    if not isinstance(stores, dict):
        return stores
    return {name: ({k: v for k, v in spec.items() if k not in STORE_SECRET_FIELDS} if isinstance(spec, dict) else spec)
            for name, spec in stores.items()}

DEFAULTS: dict[str, Any] = {
    "database": {
        "backend": "sqlite",
        "host": "localhost",
        "port": None,
        "user": None,
        "password": None,
        "name": None,
        "path": None,
        "reconnect": True,
        "use_tls": None,
        "database_prefix": "",
        "create_tables": True,
    },
    "connection": {"charset": ""},
    "display": {
        "limit": 12,
        "width": 14,
        "show_tuple_count": True,
        "diagram_direction": "LR",
        "diagram_theme": "auto",
    },
    "jobs": {
        "auto_refresh": True,
        "keep_completed": True,
        "stale_timeout": 3600,
        "default_priority": 5,
        "version_method": None,
        "allow_new_pk_fields_in_computed_tables": False,
        "add_job_metadata": False,
    },
    "provenance": {"capture": False, "source": {}},
    "stores": {},
    "loglevel": "INFO",
    "safemode": True,
    "ignore_config_file": False,
    "query_cache": None,
    "download_path": ".",
}

ENVIRONMENT = {
    "DJ_HOST": "database.host",
    "DJ_USER": "database.user",
    "DJ_PASS": "database.password",
    "DJ_PORT": "database.port",
    "DJ_BACKEND": "database.backend",
    "DJ_DATABASE_NAME": "database.name",
    "DJ_SQLITE_PATH": "database.path",
    "DJ_USE_TLS": "database.use_tls",
    "DJ_DATABASE_PREFIX": "database.database_prefix",
    "DJ_CREATE_TABLES": "database.create_tables",
    "DJ_LOG_LEVEL": "loglevel",
    "DJ_SAFEMODE": "safemode",
    "DJ_IGNORE_CONFIG_FILE": "ignore_config_file",
    "DJ_DIAGRAM_DIRECTION": "display.diagram_direction",
    "DJ_DIAGRAM_THEME": "display.diagram_theme",
    "DJ_JOBS_AUTO_REFRESH": "jobs.auto_refresh",
    "DJ_JOBS_KEEP_COMPLETED": "jobs.keep_completed",
    "DJ_JOBS_STALE_TIMEOUT": "jobs.stale_timeout",
    "DJ_JOBS_DEFAULT_PRIORITY": "jobs.default_priority",
    "DJ_JOBS_VERSION_METHOD": "jobs.version_method",
    "DJ_JOBS_ADD_JOB_METADATA": "jobs.add_job_metadata",
}

_MISSING = object()


def find_config_file(start: Path | None = None) -> Path | None:
    """Walk up from ``start`` to the first ``datajoint.json``; stop at a repository root."""
    current = (start or Path.cwd()).resolve()
    while True:
        candidate = current / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
        if (current / ".git").exists() or (current / ".hg").exists() or current == current.parent:
            return None
        current = current.parent


def find_secrets_dir(config_path: Path | None) -> Path | None:
    if config_path is not None and (config_path.parent / SECRETS_DIRNAME).is_dir():
        return config_path.parent / SECRETS_DIRNAME
    if (Path.cwd() / SECRETS_DIRNAME).is_dir():
        return Path.cwd() / SECRETS_DIRNAME
    if SYSTEM_SECRETS_DIR.is_dir():
        return SYSTEM_SECRETS_DIR
    return None


def _coerce(key: str, value: Any) -> Any:
    """Convert environment strings and validate the few keys with fixed choices."""
    default = _lookup(DEFAULTS, key.split("."))
    if isinstance(value, str):
        lowered = value.strip().lower()
        if isinstance(default, bool) or key in ("database.use_tls",):
            if lowered in ("1", "true", "yes", "on"):
                value = True
            elif lowered in ("0", "false", "no", "off", ""):
                value = False if key != "database.use_tls" or lowered else None
        elif key in ("database.port", "jobs.stale_timeout", "jobs.default_priority", "display.limit",
                     "display.width") and lowered:
            try:
                value = int(lowered)
            except ValueError:
                raise DataJointError(f"Setting {key!r} must be an integer, got {value!r}.") from None
    if key == "database.backend" and value is not None:
        value = {"postgres": "postgresql", "mariadb": "mysql"}.get(str(value).lower(), str(value).lower())
        if value not in BACKENDS:
            raise DataJointError(
                f"Unknown database backend {value!r}.",
                hint=f"Set dj.config['database.backend'] to one of {', '.join(BACKENDS)}.",
            )
    if key == "display.diagram_direction" and value not in ("TB", "LR"):
        raise DataJointError("display.diagram_direction must be 'TB' or 'LR'.")
    if key == "loglevel" and value is not None:
        value = str(value).upper()
        logger.setLevel(value)
    return value


def _lookup(tree: dict, parts: list[str]) -> Any:
    node: Any = tree
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _assign(tree: dict, parts: list[str], value: Any) -> None:
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise DataJointError(f"Cannot set {'.'.join(parts)}: {part} is not a group of settings.")
    node[parts[-1]] = value


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """Flatten nested settings into dotted keys; ``stores`` stays a nested mapping per store."""
    flat = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted != "provenance.source" and not dotted.startswith("stores."):
            if dotted == "stores":
                for store, spec in value.items():
                    flat[f"stores.{store}"] = copy.deepcopy(spec)
            else:
                flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def thread_safe_mode() -> bool:
    """``DJ_THREAD_SAFE`` is set: process-wide settings and connection are off, each ``dj.Instance`` has its own."""
    return os.environ.get("DJ_THREAD_SAFE", "").lower() in ("true", "1", "yes")


def check_thread_safe() -> None:
    if thread_safe_mode():
        raise ThreadSafetyError("Global DataJoint state is disabled in thread-safe mode (DJ_THREAD_SAFE).",
                                hint="Use dj.Instance(...) for an isolated configuration and connection, and its "
                                     ".config, .Schema() and .FreeTable().")


class _Group:
    """Attribute access to a group of settings: ``config.database.host``."""

    def __init__(self, config: "Config", prefix: str):
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._config[f"{self._prefix}.{name}"]
        except KeyError:
            raise AttributeError(f"No setting {self._prefix}.{name}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._config[f"{self._prefix}.{name}"] = value

    def __repr__(self) -> str:
        return f"<settings {self._prefix}>"


class Config:
    """DataJoint-compatible configuration with layered sources."""

    def __init__(self, load: bool = True):
        self._process_wide = False  # the global dj.config: refused in thread-safe mode
        self._runtime: dict[str, Any] = {}
        self._environment: dict[str, Any] = {}
        self._file: dict[str, Any] = {}
        self._secrets: dict[str, Any] = {}
        self.config_path: Path | None = None
        self.secrets_dir: Path | None = None
        if load:
            self.reload()

    def reload(self) -> None:
        """Re-read the environment, ``datajoint.json`` and ``.secrets/`` (run-time values stay)."""
        self._environment = {}
        for variable, key in ENVIRONMENT.items():
            if os.environ.get(variable) not in (None, ""):
                self._environment[key] = _coerce(key, os.environ[variable])
        if os.environ.get("DJ_STORES"):
            try:
                stores = json.loads(os.environ["DJ_STORES"])
            except json.JSONDecodeError as error:
                raise DataJointError(f"DJ_STORES is not valid JSON: {error}") from None
            for name, spec in stores.items():
                self._environment[f"stores.{name}"] = spec
        self._file, self._secrets, self.config_path, self.secrets_dir = {}, {}, None, None
        if self.get("ignore_config_file"):
            return
        path = find_config_file()
        if path is not None:
            self.load(path)
        self._load_secrets(find_secrets_dir(path))

    def load(self, filename: str | Path) -> None:
        """Load settings from a JSON file (nested groups or dotted keys)."""
        if self._process_wide:
            check_thread_safe()
        path = Path(filename)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise DataJointError(f"Configuration file {path} does not exist.") from None
        except json.JSONDecodeError as error:
            raise DataJointError(f"Configuration file {path} is not valid JSON: {error}",
                                 hint="Fix the file or remove it to use defaults.") from None
        self._file = {}
        for key, value in _flatten(self._expand_dotted(data)).items():
            self._file[key] = _coerce(key, value) if not key.startswith("stores.") else value
        self.config_path = path

    @staticmethod
    def _expand_dotted(data: dict) -> dict:
        nested: dict = {}
        for key, value in data.items():
            parts = key.split(".")
            if isinstance(value, dict) and len(parts) == 1 and isinstance(nested.get(key), dict):
                nested[key].update(value)
            else:
                _assign(nested, parts, value)
        return nested

    def _load_secrets(self, directory: Path | None) -> None:
        self.secrets_dir = directory
        if directory is None:
            return
        for item in sorted(directory.iterdir()):
            if not item.is_file() or item.name.startswith("."):
                continue
            parts = item.name.split(".")
            value = item.read_text().strip()
            if item.name in ("database.user", "database.password", "database.host", "database.port"):
                self._secrets[item.name] = _coerce(item.name, value)
            elif len(parts) == 3 and parts[0] == "stores":
                self._secrets.setdefault(f"stores.{parts[1]}", {})[parts[2]] = value

    # ---- access -----------------------------------------------------------------
    def _layers(self) -> list[dict[str, Any]]:
        return [self._runtime, self._environment, self._file, self._secrets]

    def _stores(self) -> dict[str, Any]:
        """Merge store specs across layers; a higher layer's key wins per attribute."""
        merged: dict[str, Any] = {}
        for layer in reversed(self._layers()):
            if "stores" in layer:
                merged = {k: copy.deepcopy(v) for k, v in layer["stores"].items()}
            for key, value in layer.items():
                if key.startswith("stores."):
                    name = key.split(".", 1)[1]
                    if isinstance(value, dict) and isinstance(merged.get(name), dict):
                        merged[name] = {**merged[name], **value}
                    else:
                        merged[name] = copy.deepcopy(value)
        return merged

    def __getitem__(self, key: str) -> Any:
        if self._process_wide:
            check_thread_safe()
        if key == "stores":
            return self._stores()
        if key.startswith("stores."):
            parts = key.split(".")
            value = _lookup(self._stores(), parts[1:])
            if value is _MISSING:
                raise KeyError(f"Setting {key!r} not found")
            return value
        for layer in self._layers():
            if key in layer:
                return self._with_backend_port(key, layer[key])
        default = _lookup(DEFAULTS, key.split("."))
        if default is _MISSING:
            raise KeyError(f"Setting {key!r} not found")
        if isinstance(default, dict):
            return {sub: self[f"{key}.{sub}"] for sub in default}
        return self._with_backend_port(key, copy.deepcopy(default) if isinstance(default, (list, set)) else default)

    def _with_backend_port(self, key: str, value: Any) -> Any:
        if key == "database.port" and value is None:
            return DEFAULT_PORTS.get(self["database.backend"])
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if self._process_wide:
            check_thread_safe()
        if key == "stores":
            if not isinstance(value, dict):
                raise DataJointError("dj.config['stores'] must be a dict of store specifications.")
            self._runtime = {k: v for k, v in self._runtime.items() if not k.startswith("stores.")}
            self._runtime["stores"] = copy.deepcopy(value)
            return
        if key.startswith("stores."):
            parts = key.split(".")
            stores = self._stores()
            _assign(stores, parts[1:], value)
            self._runtime = {k: v for k, v in self._runtime.items() if not k.startswith("stores.")}
            self._runtime["stores"] = stores
            return
        default = _lookup(DEFAULTS, key.split("."))
        if default is _MISSING:
            raise KeyError(f"Setting {key!r} not found; see dj.config.keys() for the known settings.")
        if isinstance(default, dict) and key != "provenance.source":
            if not isinstance(value, dict):
                raise DataJointError(f"dj.config[{key!r}] is a group; assign a dict or set its keys.")
            for sub, sub_value in value.items():
                self[f"{key}.{sub}"] = sub_value
            return
        self._runtime[key] = _coerce(key, value)

    def __delitem__(self, key: str) -> None:
        if self._process_wide:
            check_thread_safe()
        self._runtime.pop(key, None)

    def __contains__(self, key: str) -> bool:
        try:
            self[key]
            return True
        except KeyError:
            return False

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> list[str]:
        return sorted(k for k in _flatten(DEFAULTS) if not k.startswith("stores"))

    def update(self, values: dict[str, Any] | None = None, **kwargs: Any) -> None:
        for key, value in {**(values or {}), **kwargs}.items():
            self[key] = value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        default = DEFAULTS.get(name, _MISSING)
        if default is _MISSING:
            raise AttributeError(f"dj.config has no setting {name!r}")
        if isinstance(default, dict) and name != "stores":
            return _Group(self, name)
        return self[name]

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name in ("config_path", "secrets_dir"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    @contextmanager
    def override(self, settings: dict[str, Any] | None = None, **kwargs: Any) -> Iterator["Config"]:
        """Temporarily set values: ``override(safemode=False, database__host='h')``."""
        if self._process_wide:
            check_thread_safe()
        values = dict(settings or {})
        values.update({key.replace("__", "."): value for key, value in kwargs.items()})
        saved = copy.deepcopy(self._runtime)
        try:
            for key, value in values.items():
                self[key] = value
            yield self
        finally:
            self._runtime = saved

    def save(self, filename: str | Path) -> None:
        """Write the run-time and file settings (never secrets) to a JSON file."""
        if self._process_wide:
            check_thread_safe()
        data: dict = {}
        for layer in (self._file, self._runtime):
            for key, value in layer.items():
                if key in SECRET_KEYS:
                    continue
                if key == "stores":
                    data.setdefault("stores", {}).update(_without_store_secrets(value))
                elif key.startswith("stores.") and isinstance(value, dict):
                    data.setdefault("stores", {})[key.split(".", 1)[1]] = _without_store_secrets({"_": value})["_"]
                elif key.startswith("stores.") and key.rsplit(".", 1)[-1] in STORE_SECRET_FIELDS:
                    continue
                else:
                    _assign(data, key.split("."), value)
        Path(filename).write_text(json.dumps(data, indent=2, default=str) + "\n")

    def save_template(self, path: str | Path = CONFIG_FILENAME, minimal: bool = True,
                      create_secrets_dir: bool = True) -> Path:
        """Write a starter ``datajoint.json`` (and an empty ``.secrets/``) without credentials."""
        target = Path(path)
        if target.exists():
            raise FileExistsError(f"{target} already exists; remove it or choose another path.")
        template: dict = {"database": {"backend": "sqlite"}}
        if not minimal:
            template = {k: v for k, v in copy.deepcopy(DEFAULTS).items() if k != "stores"}
            template["database"].pop("password")
        target.write_text(json.dumps(template, indent=2) + "\n")
        if create_secrets_dir:
            secrets = target.parent / SECRETS_DIRNAME
            secrets.mkdir(exist_ok=True)
            (secrets / ".gitignore").write_text("*\n!.gitignore\n")
        return target.resolve()

    def get_store_spec(self, store: str | None = None, *, use_filepath_default: bool = False) -> dict[str, Any]:
        from .storage.spec import store_spec

        return store_spec(self, store, use_filepath_default=use_filepath_default)

    def __repr__(self) -> str:
        shown = {}
        for key in self.keys():
            value = self[key]
            shown[key] = "*****" if key in SECRET_KEYS and value else value
        return "dj.config(" + json.dumps(shown, indent=1, default=str) + ")"

    def describe_sources(self) -> dict[str, str]:
        """Where each effective value came from (for diagnostics; secrets are not shown)."""
        sources = {}
        for key in self.keys():
            for name, layer in zip(("runtime", "environment", "file", "secrets"), self._layers()):
                if key in layer:
                    sources[key] = name
                    break
            else:
                sources[key] = "default"
        return sources


config = Config()
logger.setLevel(config["loglevel"])  # as DataJoint: the library logger follows the setting from the start
config._process_wide = True
