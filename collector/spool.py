"""The durable spool: write requests InfluxDB gave up on, kept on disk until they can be replayed.

Append-only segment files of records ``<length u32><crc32 u32><body>``; every append is flushed and fsynced
before it counts, so a crash (even ``kill -9`` or a power cut after the fsync) loses nothing that was
spooled. A torn record at the end of the newest segment (a crash during an append) is cut off at open.
Replay goes in order; ``spool.offset`` (replaced atomically) records how far it got, and fully replayed
segments are deleted. Bodies are line protocol, so replaying a record twice changes nothing.

The spool is bounded by ``max_bytes``; an append that does not fit is refused (the caller counts the loss
and raises the alarm). A lock file keeps two collectors from sharing one spool.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import threading
import zlib
from pathlib import Path

from pricecap.errors import ConfigError

log = logging.getLogger(__name__)

HEADER = struct.Struct("<II")
SEGMENT_BYTES = 64 * 2**20


class Spool:
    """A directory of segment files; thread-safe (the writer appends from its callback thread)."""

    def __init__(self, directory: Path, max_bytes: int = 2**30) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = (directory / "lock").open("w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another collector uses the spool {directory}: give each its own --spool-dir") from None
        self._mutex = threading.Lock()
        self._offset_path = directory / "spool.offset"
        self._read_segment, self._read_offset = self._load_offset()
        self._segments = self._existing_segments()
        self._repair_tail()
        self._write_segment = self._segments[-1] if self._segments else self._read_segment
        self.full = False
        self.maybe_unread = bool(self._segments)
        """False once :meth:`peek` found nothing to replay and nothing was appended since: replay need not look."""

    # appending

    def append(self, body: bytes) -> bool:
        """Store one request body durably; False (nothing stored) when the spool is full."""
        record = HEADER.pack(len(body), zlib.crc32(body)) + body
        with self._mutex:
            if self.size_bytes() + len(record) > self.max_bytes:
                self.full = True
                return False
            path = self._path(self._write_segment)
            if path.exists() and path.stat().st_size + len(record) > SEGMENT_BYTES:
                self._write_segment += 1
                path = self._path(self._write_segment)
            with path.open("ab") as f:
                f.write(record)
                f.flush()
                os.fsync(f.fileno())
            if self._write_segment not in self._segments:
                self._segments.append(self._write_segment)
                _fsync_directory(self.directory)
            self.maybe_unread = True
            return True

    # replaying

    def peek(self) -> bytes | None:
        """The oldest record not replayed yet, or None when the spool is empty."""
        with self._mutex:
            while self._segments:
                segment = self._segments[0]
                with self._path(segment).open("rb") as f:
                    f.seek(self._read_offset if segment == self._read_segment else 0)
                    header = f.read(HEADER.size)
                    if len(header) == HEADER.size:
                        length, _ = HEADER.unpack(header)
                        return f.read(length)
                if segment == self._write_segment:
                    break
                self._drop_segment(segment)
            self.maybe_unread = False
            return None

    def commit(self, body: bytes) -> None:
        """Mark the record :meth:`peek` returned as replayed."""
        with self._mutex:
            segment = self._segments[0]
            offset = (self._read_offset if segment == self._read_segment else 0) + HEADER.size + len(body)
            self._read_segment, self._read_offset = segment, offset
            write_atomically(self._offset_path, f"{segment} {offset}\n".encode())
            self.full = False

    # sizes

    def size_bytes(self) -> int:
        """Bytes on disk not replayed yet."""
        total = sum(self._path(s).stat().st_size for s in self._segments if self._path(s).exists())
        return total - (self._read_offset if self._read_segment in self._segments else 0)

    def close(self) -> None:
        """Release the lock."""
        self._lock_file.close()

    # internals

    def _path(self, segment: int) -> Path:
        return self.directory / f"spool-{segment:08d}.log"

    def _existing_segments(self) -> list[int]:
        numbers = sorted(int(p.name[6:14]) for p in self.directory.glob("spool-*.log"))
        return [n for n in numbers if n >= self._read_segment]

    def _load_offset(self) -> tuple[int, int]:
        try:
            segment, offset = self._offset_path.read_text().split()
            return int(segment), int(offset)
        except (FileNotFoundError, ValueError):
            return 0, 0

    def _drop_segment(self, segment: int) -> None:
        self._segments.remove(segment)
        self._path(segment).unlink(missing_ok=True)

    def _repair_tail(self) -> None:
        """Cut a torn or corrupt record off the end of the newest segment (a crash during an append)."""
        if not self._segments:
            return
        path = self._path(self._segments[-1])
        data = path.read_bytes()
        good = self._read_offset if self._segments[-1] == self._read_segment else 0
        position = good
        while position + HEADER.size <= len(data):
            length, crc = HEADER.unpack_from(data, position)
            body = data[position + HEADER.size : position + HEADER.size + length]
            if len(body) != length or zlib.crc32(body) != crc:
                break
            position += HEADER.size + length
        if position != len(data):
            log.warning("spool: cut a torn record", extra={"segment": path.name, "bytes": len(data) - position})
            with path.open("r+b") as f:
                f.truncate(position)
                os.fsync(f.fileno())


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (temporary file, fsync, rename)."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    with temporary.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    temporary.replace(path)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
