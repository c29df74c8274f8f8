"""A lock file that queues the SQLite writers of several processes (`backstack serve --workers N`).

SQLite's own busy handler polls with sleeps of up to 100 ms, which under write load gives seconds
of tail latency and leaves the file idle between polls. Writers of this package first take an
exclusive `flock` on `<db>-writer.lock`: the kernel wakes the next waiter the moment the holder
releases, so the file is handed over with no sleep. `BEGIN IMMEDIATE` and the busy timeout stay as
the guard against other programs (the sqlite3 CLI) that do not know this lock. A process that dies
holding the lock releases it with its file descriptor.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class WriterFileLock:
    """An exclusive `flock`, taken and released on the writer thread; releasing twice is harmless."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._held = False

    def acquire(self) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._held = True

    def release(self) -> None:
        if self._held and self._fd is not None:
            self._held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterFileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
