"""The local stack of ``pricecap up``: a managed influxd with persistent data, and the state of a running stack.

The data folder is ``--data-dir``, else ``pricecap`` in the user's data folder (``$XDG_DATA_HOME/pricecap``,
by default ``~/.local/share/pricecap``). It holds:

- ``influxd/``: the managed server's data (bolt, engine, sqlite) and its log, ``influxd.log``;
- ``influxd.json``: where the managed server listens, written when it is first set up (no token), and the
  influxd version that last opened its data;
- ``influxd-backup-<version>/``: a copy of ``influxd/`` made before another influxd version first opened it;
- ``stack.json``: the running stack (pids, URL, log), written once it runs and removed when it stops;
- ``stack.log``: the output of a stack started with ``--detach``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import platformdirs
from pydantic import BaseModel, SecretStr, ValidationError

from pricecap.errors import ConfigError, StackError
from pricecap.influxd import InfluxdServer, Onboarding, ensure_binary, influxd_version
from pricecap.settings import InfluxSettings, store_settings
from queries import rollup

M = TypeVar("M", bound=BaseModel)


def default_data_dir() -> Path:
    """The data folder used when ``--data-dir`` is not given."""
    return Path(platformdirs.user_data_dir("pricecap"))


@dataclass(frozen=True)
class StackPaths:
    """The files of one data folder."""

    root: Path

    @property
    def influxd_dir(self) -> Path:
        """The managed server's data and log."""
        return self.root / "influxd"

    @property
    def managed(self) -> Path:
        """Where the managed server listens (JSON, no secrets)."""
        return self.root / "influxd.json"

    @property
    def state(self) -> Path:
        """The state file of the running stack."""
        return self.root / "stack.json"

    @property
    def log(self) -> Path:
        """The output of a detached stack."""
        return self.root / "stack.log"


class ManagedServer(BaseModel):
    """The record of the managed influxd: the URL it was set up with, the version that last opened its data."""

    url: str
    influxd_version: str | None = None
    """None when not known: an earlier pricecap did not record it, or the influxd does not say its version."""


class StackState(BaseModel):
    """What runs: the ``pricecap up`` process, its influxd (None when the InfluxDB is not managed), where."""

    pid: int
    influxd_pid: int | None
    url: str
    org: str
    bucket: str
    symbols: list[str]
    simulate: bool
    log: str | None
    started: float
    exchange: str | None = None
    """The WebSocket base URL the collector reads (the simulated exchange's own, with ``--simulate``)."""


def read_json(path: Path, model: type[M]) -> M | None:
    """The model stored at ``path``, or None when there is no such file."""
    try:
        return model.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValidationError as e:
        raise StackError(f"{path} is damaged ({e.error_count()} errors); remove it") from None


def write_json(path: Path, model: BaseModel) -> None:
    """Write ``model`` to ``path`` atomically (a reader sees the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(model.model_dump_json(indent=2) + "\n")
    temporary.replace(path)


def alive(pid: int) -> bool:
    """True while process ``pid`` exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def is_influxd(pid: int) -> bool:
    """True when process ``pid`` is an influxd (so a recycled pid is never signalled by mistake)."""
    try:
        return b"influxd" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False


def terminate(pid: int, timeout_s: float) -> bool:
    """SIGTERM ``pid`` and wait until it is gone; False if it still runs after ``timeout_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def running(paths: StackPaths) -> StackState | None:
    """The state of the stack that runs from this data folder, if one does."""
    state = read_json(paths.state, StackState)
    return state if state is not None and alive(state.pid) else None


def clear_stale(paths: StackPaths) -> None:
    """Clean up after a stack that died without stopping: its orphaned influxd and its state file."""
    state = read_json(paths.state, StackState)
    if state is None or alive(state.pid):
        return
    if state.influxd_pid is not None and alive(state.influxd_pid) and is_influxd(state.influxd_pid):
        terminate(state.influxd_pid, 30.0)
    paths.state.unlink(missing_ok=True)


def uses_managed(settings: InfluxSettings, paths: StackPaths) -> bool:
    """True when ``up`` runs the managed influxd: no InfluxDB is configured, or the configured one is it."""
    configured = settings.token is not None and bool(settings.org)
    managed = read_json(paths.managed, ManagedServer)
    return not configured or (managed is not None and settings.url == managed.url)


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port``."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextlib.contextmanager
def managed_influxd(
    settings: InfluxSettings, paths: StackPaths, port: int, config_file: Path, say: Callable[[str], None]
) -> Iterator[tuple[InfluxdServer, InfluxSettings]]:
    """Run the managed influxd and yield it with settings that reach it; stop it on the way out.

    The first time, the settings (a fresh token) go to the config file and the URL to ``influxd.json``
    before the server starts, and the server is onboarded with them. Later starts reuse data and settings; the
    first start of another influxd version backs the data up before (:func:`back_up_before_upgrade`) and ``say``s
    where.
    """
    managed = read_json(paths.managed, ManagedServer)
    first_time = managed is None
    if managed is not None and settings.url != managed.url:
        raise ConfigError(
            f"the managed InfluxDB in {paths.influxd_dir} was set up before, but {config_file} holds no token "
            f"for it; restore its [influxdb] table, or remove {paths.root} to start afresh"
        )
    if not first_time:
        port = urllib.parse.urlsplit(settings.url).port or port
    if not port_free(port):
        hint = "; choose another with --influxd-port" if first_time else ""
        raise StackError(f"port {port} of the managed InfluxDB is in use by another program{hint}")
    if first_time:
        fresh = Onboarding.generate(bucket=settings.bucket)
        settings = InfluxSettings(
            url=f"http://127.0.0.1:{port}", token=SecretStr(fresh.token), org=fresh.org, bucket=fresh.bucket
        )
        store_settings(settings, config_file)
        write_json(paths.managed, ManagedServer(url=settings.url))
    token, org = settings.require_credentials()
    binary = ensure_binary()
    version = influxd_version(binary)
    if (backup := back_up_before_upgrade(paths, version)) is not None:
        say(f"InfluxDB data of {paths.influxd_dir} copied to {backup} before influxd {version} first opens it")
    server = InfluxdServer(binary, paths.influxd_dir, port, ui=True)
    with server:
        if not server.onboarded():
            server.onboard(Onboarding(org, settings.bucket, password=secrets.token_urlsafe(18), token=token))
            rollup.shape_raw_bucket(settings)  # day shard groups, as pricecap setup gives
        if (managed := read_json(paths.managed, ManagedServer)) is not None and managed.influxd_version != version:
            write_json(paths.managed, managed.model_copy(update={"influxd_version": version}))
        yield server, settings


def back_up_before_upgrade(paths: StackPaths, version: str | None) -> Path | None:
    """Before an influxd of another version than the one that last opened the managed data first opens it (its
    migrations change the data for good; 2.9 and later hash the tokens), copy the data folder beside it, to
    ``influxd-backup-<old version>`` (``influxd-backup-before-<new version>`` when the old one is not known), and
    return the copy; None when there is nothing to back up or the copy exists already. influxd does not run at
    this point, so a plain copy is a consistent one."""
    managed = read_json(paths.managed, ManagedServer)
    if managed is None or managed.influxd_version == version or not (paths.influxd_dir / "influxd.bolt").exists():
        return None
    backup = paths.root / f"influxd-backup-{managed.influxd_version or f'before-{version}'}"
    if backup.exists():
        return None
    partial = backup.with_name(f"{backup.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(paths.influxd_dir, partial, ignore=shutil.ignore_patterns("influxd.log"))
    partial.rename(backup)  # a copy cut short stays .partial, never taken for the backup
    return backup
