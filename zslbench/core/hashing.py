"""Content hashes used for fingerprints and cache keys.

`file_fingerprint` hashes every byte of a file (BLAKE3). A hash of a few samples let a file edited in
place keep its fingerprint: a word2vec file with one vector rewritten kept its embedder id, so the
class-vector cache served the old vector, and two same-size videos that differ in some frames shared
a feature-cache key. Whole-file hashing is fast (BLAKE3 uses every core on a big file) but not free,
so the result is remembered per (path, device, inode, size, mtime_ns, ctime_ns): in this process,
and across processes in a small SQLite database under `$ZSLBENCH_CACHE/fingerprints/`. An unchanged
4 GB file is read once, not on every run (docs/benchmarks.md has the numbers).

The ctime is what catches a file rewritten in place whose mtime was set back (`os.utime`): nothing can
set a ctime back. A file changed within the last `RECENT_NS` is hashed but not remembered, because
two writes within one timestamp tick (coarse on some filesystems) would share every stat field; git
calls such entries "racily clean" and re-checks them the same way.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

from zslbench.core.files import not_regular, open_regular
from zslbench.core.paths import cache_dir

FINGERPRINT_VERSION = 2  # 1: size + sha256 of three 1 MiB samples; 2: size + BLAKE3 of every byte
RECENT_NS = 2_000_000_000  # a file changed this recently is hashed every time (see the module doc)
PARALLEL_BYTES = 64 << 20  # from this size BLAKE3 hashes with every core
CHUNK_BYTES = 16 << 20
BUSY_S = 5.0  # a memo database that cannot answer in this time is not used by this process
MEMO_ENTRIES = 1 << 17  # fingerprints held in this process's memory


def sha256_text(text: str) -> str:
    """Hex SHA-256 of `text` encoded as UTF-8 (64 characters)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_json(value: Any) -> str:
    """Hex SHA-256 of `value`'s `canonical_json`: equal values give equal hashes, whatever the key order."""
    return sha256_text(canonical_json(value))


def file_fingerprint(path: Path | str) -> str:
    """`<size>-<BLAKE3 of the whole content>`: equal only for byte-identical files.

    Remembered per path and stat (including the ctime), so an unchanged file is read once. Raises
    OSError for a missing or unreadable file, and for a pipe or device (EINVAL) or a folder
    (IsADirectoryError), from `files.not_regular`: opening a named pipe would block until a writer came.
    """
    path = Path(path)
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise not_regular(info.st_mode, path)
    name, state = os.path.abspath(path), _stat_state(info)
    remembered = _memo.get((name, state)) or _disk_memo.get(name, state)
    if remembered:
        _remember_here(name, state, remembered)
        return remembered
    fingerprint, before, after = _hash_file(path)
    if before == after == state and not _recent(info):
        _remember_here(name, state, fingerprint)
        _disk_memo.put(name, state, fingerprint)
    return fingerprint


def _stat_state(info: os.stat_result) -> str:
    """What must be unchanged for a remembered fingerprint to stand (text: inodes can pass 2**63)."""
    return f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}"


def _recent(info: os.stat_result) -> bool:
    """Changed within RECENT_NS of now, or stamped in the future (a clock ahead of this one)."""
    return time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) < RECENT_NS


def _hash_file(path: Path) -> tuple[str, str, str]:
    """(fingerprint, stat state when opened, stat state after reading): the same file only when equal."""
    import blake3

    descriptor = open_regular(path)  # a pipe swapped in after the stat: an error, not a hang
    with open(descriptor, "rb", buffering=0) as handle:
        info = os.fstat(descriptor)
        digest = blake3.blake3(max_threads=blake3.blake3.AUTO if info.st_size >= PARALLEL_BYTES else 1)
        buffer = memoryview(bytearray(min(CHUNK_BYTES, max(info.st_size, 1))))
        size = 0
        while read := handle.readinto(buffer):
            digest.update(buffer[:read])
            size += read
        after = os.fstat(descriptor)
    return f"{size}-{digest.hexdigest()}", _stat_state(info), _stat_state(after)


_memo: dict[tuple[str, str], str] = {}


def _remember_here(name: str, state: str, fingerprint: str) -> None:
    if len(_memo) >= MEMO_ENTRIES:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # another thread got there first
            del _memo[next(iter(_memo))]  # the oldest
    _memo[(name, state)] = fingerprint


class _DiskMemo:
    """Fingerprints remembered across processes: one SQLite row per path, in WAL mode so that readers
    (DataLoader workers, DDP ranks) never wait for a writer. It is only a cache: any error (unwritable
    folder, locked past BUSY_S, corrupt file) costs a hash, never a run; a corrupt file is replaced.
    One database per host, since the stat fields of a shared folder are each host's own view.

    One connection per process, used under a lock by its threads. A connection inherited through fork
    is never used or closed in the child (SQLite's rule): it is kept aside, and the child opens its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: tuple[Path, Any] | None = None  # (database file, connection or None when unusable)
        self._inherited: list[Any] = []
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # a thread of the parent may have held it
        if self._held and self._held[1] is not None:
            self._inherited.append(self._held[1])
        self._held = None

    def file(self) -> Path:
        return cache_dir("fingerprints") / f"v{FINGERPRINT_VERSION}-{_host()}.sqlite"

    def get(self, name: str, state: str) -> str | None:
        row = self._run("SELECT state, fingerprint FROM fingerprints WHERE path = ?", (name,))
        return row[1] if row and row[0] == state else None

    def put(self, name: str, state: str, fingerprint: str) -> None:
        self._run("INSERT OR REPLACE INTO fingerprints VALUES (?, ?, ?)", (name, state, fingerprint))

    def _run(self, sql: str, parameters: tuple) -> tuple | None:
        import sqlite3

        file = self.file()
        with self._lock:
            if self._held is None or self._held[0] != file:  # first use, or another cache folder now
                if self._held and self._held[1] is not None:
                    self._held[1].close()
                self._held = (file, _open(file))
            connection = self._held[1]
            if connection is None:
                return None
            try:
                return connection.execute(sql, parameters).fetchone()
            except sqlite3.Error as err:
                connection.close()
                if _corrupt(err):  # replaced for everybody; the next call makes a fresh one
                    _remove(file)
                    self._held = None
                else:  # locked past BUSY_S, or unwritable: hash from now on
                    self._held = (file, None)
                return None


@functools.cache
def _host() -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in socket.gethostname()) or "host"


def _open(file: Path) -> Any:
    """A connection to the memo at `file` with its table, or None when it cannot be had."""
    import sqlite3

    for attempt in range(2):
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(file, timeout=BUSY_S, isolation_level=None, check_same_thread=False)
        except (sqlite3.Error, OSError):
            return None
        try:
            with contextlib.suppress(sqlite3.OperationalError):  # another mode stays usable (e.g. read-only)
                connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # WAL: no fsync per row; a crash loses rows only
            connection.execute(
                "CREATE TABLE IF NOT EXISTS fingerprints (path TEXT PRIMARY KEY, state TEXT, fingerprint TEXT)"
            )
            connection.execute("SELECT state FROM fingerprints LIMIT 1").fetchall()
            return connection
        except sqlite3.Error as err:
            connection.close()
            if not (_corrupt(err) and attempt == 0):
                return None
            _remove(file)
    return None


def _corrupt(err: Exception) -> bool:
    import sqlite3

    return (getattr(err, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _remove(file: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            os.unlink(f"{file}{suffix}")


_disk_memo = _DiskMemo()


def forget_fingerprints() -> None:
    """Forget the fingerprints this process holds in memory (the disk memo stays)."""
    _memo.clear()
