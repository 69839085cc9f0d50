"""Read queries for browsing, off the GUI thread, the latest one winning.

Typing in the search box or clicking through the browser asks for a new list of tracks at each
keystroke or click. On a big library (a million tracks) one such query can take a second: run
on the GUI thread it would freeze the window, and queued one after another the answer to the
last keystroke would wait for all the earlier ones. :class:`LatestQuery` runs queries on a
thread of its own (with its own SQLite connection), drops those overtaken while waiting and
abandons the one running when a newer one arrives (SQLite's progress handler); only the newest
result reaches the GUI thread.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from player.library.db import Library, LibraryError, library_error
from player.memory import gc_paused

log = logging.getLogger(__name__)

QueryFunction = Callable[[Library], Any]
#: SQLite virtual-machine steps between two looks at whether a newer query waits (about a
#: millisecond of a table scan).
PROGRESS_STEPS = 20_000


class LatestQuery(QObject):
    """One worker thread answering the newest of the queries submitted to it.

    ``done(generation, result)`` and ``failed(generation, exception)`` are delivered on the
    GUI thread, and only for the latest :meth:`submit` (its return value is the generation).
    """

    done = Signal(int, object)
    failed = Signal(int, object)
    _done = Signal(int, object)
    _failed = Signal(int, object)

    def __init__(self, library: Library, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.name = name
        self._cond = threading.Condition()
        self._pending: tuple[int, QueryFunction] | None = None
        self._running_generation = 0
        self._generation = 0
        self._stopped = False
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        queued = Qt.ConnectionType.QueuedConnection
        self._done.connect(self._deliver_done, queued)
        self._failed.connect(self._deliver_failed, queued)

    def submit(self, fn: QueryFunction) -> int:
        """Run ``fn(library)`` on the worker thread (instead of any query not finished yet)."""
        with self._cond:
            if self._stopped:
                return self._generation
            self._generation += 1
            self._pending = (self._generation, fn)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"segue-{self.name}",
                                                daemon=True)
                self._thread.start()
            # A query running now is abandoned by its connection's progress handler, which
            # sees this one waiting (see _overtaken).
            self._cond.notify()
            return self._generation

    @property
    def generation(self) -> int:
        """The latest query's number."""
        return self._generation

    def busy(self) -> bool:
        """True while the latest query's answer has not been delivered."""
        return self._generation != self._delivered

    _delivered = 0

    def close(self, wait_s: float = 2.0) -> None:
        """Stop the worker (before the library closes): a running query is abandoned."""
        with self._cond:
            self._stopped = True
            self._pending = None
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(wait_s)

    def _overtaken(self) -> int:
        """SQLite's progress handler: non-zero abandons the running statement."""
        return int(self._stopped or self._pending is not None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                generation, fn = self._pending  # type: ignore[misc]
                self._pending = None
                self._running_generation = generation
            try:
                if self._conn is None:
                    self._conn = self.library.db.conn
                    # Room for the pages a browse query scans again at each keystroke
                    # (SQLite's default keeps 2 MB; the OS cache behind it costs a syscall
                    # per page): up to 64 MB, used only as the library needs it.
                    self._conn.execute("PRAGMA cache_size = -65536")
                    # Every so many steps SQLite asks whether to go on: not when a newer query
                    # waits (or the app quits). Unlike interrupt(), which is lost when it
                    # comes just before the statement starts, this cannot miss.
                    self._conn.set_progress_handler(self._overtaken, PROGRESS_STEPS)
                with gc_paused():
                    result = fn(self.library)
            except sqlite3.OperationalError as exc:
                if "interrupt" in str(exc):  # abandoned for a newer query (or quitting)
                    with self._cond:
                        self._running_generation = 0
                    continue
                self._fail(generation, exc)
            except Exception as exc:  # noqa: BLE001 - reported to the GUI, never lost
                self._fail(generation, exc)
            else:
                with self._cond:
                    self._running_generation = 0
                if not self._stopped:
                    self._done.emit(generation, result)
            finally:
                with self._cond:
                    self._running_generation = 0

    def _fail(self, generation: int, exc: Exception) -> None:
        if self._stopped:
            return
        error = library_error(exc, self.library.path)
        if error is None:
            log.exception("%s query failed", self.name, exc_info=exc)
            error = LibraryError(f"{type(exc).__name__}: {exc}")
        self._failed.emit(generation, error)

    def _deliver_done(self, generation: int, result: Any) -> None:
        if generation == self._generation and not self._stopped:
            self._delivered = generation
            self.done.emit(generation, result)

    def _deliver_failed(self, generation: int, error: Any) -> None:
        if generation == self._generation and not self._stopped:
            self._delivered = generation
            self.failed.emit(generation, error)
