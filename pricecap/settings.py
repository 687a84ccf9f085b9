"""InfluxDB connection settings, read the way the InfluxDB ecosystem does it.

Precedence, highest first: command-line options; the environment variables that influxdb-client's
``from_env_properties`` reads (``INFLUXDB_V2_URL``, ``INFLUXDB_V2_TOKEN``, ``INFLUXDB_V2_ORG``, and
``INFLUXDB_V2_TIMEOUT`` in ms) plus ``INFLUXDB_V2_BUCKET``; the ``[influxdb]`` table of the config file;
defaults.
The config file is ``--config PATH``, else ``$PRICECAP_CONFIG``, else ``config.toml`` in the user's config
folder (``~/.config/pricecap/`` on Linux); a missing default file is fine, a missing named one is an error
(except for ``pricecap up``, which writes it).
"""

from __future__ import annotations

import os
import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from pricecap.errors import ConfigError

CONFIG_ENV = "PRICECAP_CONFIG"
ENV_VARS = {
    "url": "INFLUXDB_V2_URL",
    "token": "INFLUXDB_V2_TOKEN",
    "org": "INFLUXDB_V2_ORG",
    "bucket": "INFLUXDB_V2_BUCKET",
    "timeout_ms": "INFLUXDB_V2_TIMEOUT",
}

_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[?[0-9A-Fa-f:.]{2,45}\]?").fullmatch


def valid_host(host: str) -> bool:
    """True for a host name or an IP address (no quotes, spaces or other characters a URL cannot hold)."""
    return _HOST(host) is not None


def valid_url(url: str, schemes: tuple[str, ...]) -> bool:
    """True for a URL with one of ``schemes``, a valid host and, if any, a port from 1 to 65535."""
    parts = urllib.parse.urlsplit(url)
    try:
        port_ok = parts.port != 0
    except ValueError:  # not a number, or out of range
        return False
    return parts.scheme in schemes and valid_host(parts.hostname or "") and port_ok


class InfluxSettings(BaseModel):
    """Where the trades live. The token is a secret: it never appears in logs, reprs or error messages."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = "http://localhost:8086"
    token: SecretStr | None = None
    org: str | None = None
    bucket: str = "trades"
    timeout_ms: int = Field(default=10_000, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not valid_url(url, ("http", "https")):
            raise ValueError(f"InfluxDB URL must start with http:// or https:// and name a host, got {url!r}")
        return url.rstrip("/")

    @field_validator("org")
    @classmethod
    def _org(cls, org: str | None) -> str | None:
        if org is not None and (not org.strip() or not org.isprintable()):
            raise ValueError(f"bad organization {org!r}: give its name")
        return org

    @field_validator("token")
    @classmethod
    def _token(cls, token: SecretStr | None) -> SecretStr | None:
        value = "x" if token is None else token.get_secret_value()
        if not value or not value.isprintable() or any(c.isspace() for c in value):
            raise ValueError("an InfluxDB token is one word of printable characters (it is not shown here)")
        return token

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, name: str) -> str:
        if not name or '"' in name or name.startswith("_") or not name.isprintable():
            raise ValueError(f"bad bucket name {name!r}: InfluxDB refuses empty ones, quotes and a leading _")
        return name

    def require_credentials(self) -> tuple[str, str]:
        """The token and org, or a ConfigError that says how to set the missing one."""
        if self.token is None or not self.token.get_secret_value():
            raise ConfigError(f"no InfluxDB token: set {ENV_VARS['token']}, --token, or token in the config file")
        if not self.org:
            raise ConfigError(f"no InfluxDB organization: set {ENV_VARS['org']}, --org, or org in the config file")
        return self.token.get_secret_value(), self.org

    def environment(self) -> dict[str, str]:
        """The ``INFLUXDB_V2_*`` variables that point another process (a child ``pricecap``) at these settings."""
        token, org = self.require_credentials()
        values = {"url": self.url, "token": token, "org": org, "bucket": self.bucket}
        return {ENV_VARS[key]: value for key, value in values.items()}


def default_config_path() -> Path:
    """The config file used when neither --config nor $PRICECAP_CONFIG names one."""
    return Path(platformdirs.user_config_dir("pricecap")) / "config.toml"


def named_config_path(path: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The config file named by ``--config`` or ``$PRICECAP_CONFIG``, if any."""
    return path or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)


def config_path(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The config file in use: ``--config``, else ``$PRICECAP_CONFIG``, else the default one."""
    return named_config_path(path, os.environ if environ is None else environ) or default_config_path()


def read_config_file(path: Path | None, environ: Mapping[str, str], may_be_missing: bool = False) -> dict[str, Any]:
    """The ``[influxdb]`` table of the config file (empty when the default file does not exist, or a named one
    when ``may_be_missing``: ``pricecap up`` creates it)."""
    named = named_config_path(path, environ)
    target = named or default_config_path()
    try:
        with target.open("rb") as f:
            document = tomllib.load(f)
    except FileNotFoundError:
        if named is not None and not may_be_missing:
            raise ConfigError(f"config file {target} does not exist") from None
        return {}
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"config file {target}: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {target} is not a text (UTF-8 TOML) file") from None
    table = document.get("influxdb", {})
    if not isinstance(table, dict):
        raise ConfigError(f"config file {target}: [influxdb] must be a table")
    return table


def load_settings(
    config_path: Path | None = None,
    overrides: Mapping[str, object | None] | None = None,
    environ: Mapping[str, str] | None = None,
    config_may_be_missing: bool = False,
) -> InfluxSettings:
    """Settings from config file, environment and ``overrides`` (CLI options; None means not given)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = read_config_file(config_path, env, config_may_be_missing)
    values.update({key: env[var] for key, var in ENV_VARS.items() if env.get(var)})
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    try:
        return InfluxSettings(**values)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {where}: {message}") from None


def store_settings(settings: InfluxSettings, path: Path) -> None:
    """Add an ``[influxdb]`` table with the settings (token included) to the config file, readable by its
    owner only (0600). Other tables are kept; a file that has an ``[influxdb]`` table already is refused."""
    token, org = settings.require_credentials()
    try:
        existing = path.read_text() if path.exists() else ""
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path} cannot be read: {e}") from None
    if existing:
        try:
            has_table = "influxdb" in tomllib.loads(existing)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {path}: {e}") from None
        if has_table:
            raise ConfigError(f"config file {path} has an [influxdb] table already; complete or remove it")
    values = {"url": settings.url, "org": org, "bucket": settings.bucket, "token": token}
    table = "[influxdb]\n" + "".join(f"{key} = {_toml_string(value)}\n" for key, value in values.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "a") as f:
        f.write(("\n" if existing and not existing.endswith("\n\n") else "") + table)


def _toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for the characters these values hold)."""
    return orjson.dumps(value).decode()
