"""Writes that must never make the window or the music wait: one writer, off the GUI thread.

The listening log writes as the music plays (a listen opens, is checkpointed, closes). If
another process holds SQLite's write lock, or the disk is full, such a write can wait seconds
or fail; on the GUI thread that froze the window, and a failed close stopped the music for
good. Here every such write is an operation handed to :class:`BackgroundWriter`: one thread,
its own connection, operations in the order they were given, and an operation that fails
because the database is busy or the disk full is **retried until it succeeds** — the
operations behind it wait their turn, nothing is lost, nothing is reordered, and the caller
never waits.

:class:`InlineWriter` runs operations at once on the caller's thread: for command-line tools
and fast tests, where there is no window to keep alive.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from player.library.db import (
    Library,
    LibraryBusy,
    LibraryFull,
    LibraryReadOnly,
    library_error,
)

log = logging.getLogger(__name__)

Operation = Callable[[Library], Any]

#: Waits between retries of a write the database refused for now (seconds): short first, so a
#: brief lock costs little, then capped so a long one is not hammered.
RETRY_DELAYS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class Writer(Protocol):
    """Where the listening log sends its writes."""

    def submit(self, op: Operation) -> None: ...

    def flush(self, timeout: float | None = None) -> bool: ...

    def close(self) -> None: ...


def is_transient(exc: BaseException, path: Path) -> bool:
    """True for errors a retry can cure: a lock held elsewhere, a full disk, a file made
    read-only for a while. A damaged database is not (Segue refuses to write into it)."""
    problem = library_error(exc, path)
    if isinstance(problem, (LibraryBusy, LibraryFull, LibraryReadOnly)):
        return True
    if isinstance(exc, sqlite3.OperationalError):  # e.g. "disk I/O error" on a full disk
        text = str(exc).lower()
        return any(s in text for s in ("locked", "busy", "full", "disk i/o"))
    return False


class InlineWriter:
    """Runs each operation now, on the caller's thread (no window to keep alive)."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def submit(self, op: Operation) -> None:
        op(self.library)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self) -> None:
        pass


class BackgroundWriter:
    """One thread that performs the operations in order, retrying the transient failures."""

    def __init__(self, library: Library, name: str = "segue-writer") -> None:
        self.library = library
        self._ops: queue.Queue[Operation | None] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._closed = False
        #: How many writes had to wait for the database, and for how long in all (seconds).
        self.retries = 0
        self.waited_s = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Operations given and not yet written."""
        with self._idle:
            return self._pending

    def submit(self, op: Operation) -> None:
        if self._closed:
            raise RuntimeError("the writer is closed")
        with self._idle:
            self._pending += 1
        self._ops.put(op)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every operation given so far is written; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to ``timeout``), then stop the thread."""
        if self._closed:
            return
        if not self.flush(timeout):
            log.warning("%d listening-log writes could not be saved before quitting",
                        self.pending)
        self._closed = True
        self._ops.put(None)
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while True:
            op = self._ops.get()
            if op is None:
                return
            self._perform(op)
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _perform(self, op: Operation) -> None:
        attempt = 0
        started = time.monotonic()
        while True:
            try:
                op(self.library)
                if attempt:
                    waited = time.monotonic() - started
                    self.waited_s += waited
                    log.info("a write went through after %.1f s of waiting", waited)
                return
            except Exception as exc:  # noqa: BLE001 - the writer must survive every failure
                if not is_transient(exc, Path(self.library.path)) or self._closed:
                    log.error("a listening-log write failed and was dropped: %s", exc)
                    return
                if attempt == 0:
                    log.warning("the database is busy (%s); the write will be retried", exc)
                self.retries += 1
                time.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                attempt += 1
