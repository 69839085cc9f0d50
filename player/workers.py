"""Background jobs for the GUI: scans, training, auto-queue picks.

A :class:`Job` runs a plain function on a Python thread and reports back **on the GUI thread**
through Qt signals: ``progress(object)``, then ``done(object)`` or ``failed(exception)``, and
always ``ended()`` last. The function receives ``report(value)`` and a ``threading.Event`` it
must check to stop early when the user cancels; stopping by raising is fine (a cancelled job's
exception is logged as such, not as an error). Whoever handles ``failed`` tells kinds of
failure apart by the exception's type, never by its text.

Why the relay: a signal emitted on a worker thread and connected to a plain Python callable is
delivered *on the worker thread*. Jobs therefore emit private signals, connected with
``QueuedConnection`` to the job itself (a QObject of the GUI thread), which re-emits the public
ones there. Whoever connects to a Job is called on the GUI thread, always.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)

JobFunction = Callable[[Callable[[Any], None], threading.Event], Any]


class Job(QObject):
    """One background task with progress, cancel, and a result delivered to the GUI thread."""

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(object)  # the exception the function raised
    ended = Signal()

    _progress = Signal(object)
    _done = Signal(object)
    _failed = Signal(object)

    def __init__(
        self,
        fn: JobFunction,
        name: str = "job",
        parent: QObject | None = None,
        executor: Executor | None = None,
    ) -> None:
        """``executor``: run on this (e.g. a one-thread pool reused for frequent small jobs)
        instead of a new thread of its own."""
        super().__init__(parent)
        self._executor = executor
        self._future: Future[None] | None = None
        self.fn = fn
        self.name = name
        self.cancel_event = threading.Event()
        self._thread: threading.Thread | None = None
        queued = Qt.ConnectionType.QueuedConnection
        self._progress.connect(self.progress.emit, queued)
        self._done.connect(self._finish_done, queued)
        self._failed.connect(self._finish_failed, queued)
        self.result: Any = None
        self.error: Exception | None = None
        self.finished = False

    def start(self) -> "Job":
        if self._executor is not None:
            self._future = self._executor.submit(self._run)
            return self
        self._thread = threading.Thread(target=self._run, name=f"segue-{self.name}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the function to stop; it ends soon after with ``done`` or ``failed``."""
        self.cancel_event.set()

    @property
    def running(self) -> bool:
        if self._future is not None:
            return not self._future.done()
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work ends (tests, shutdown). True if it did."""
        if self._future is not None:
            try:
                self._future.result(timeout)
            except FutureTimeout:
                return False
            return True
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            result = self.fn(self._progress.emit, self.cancel_event)
        except Exception as exc:  # noqa: BLE001 - any failure of a job is reported, not raised
            if self.cancel_event.is_set():  # the user asked it to stop: not an error
                log.info("%s cancelled (%s)", self.name, type(exc).__name__)
            else:
                log.error("%s failed", self.name, exc_info=True)
            self._failed.emit(exc)
        else:
            self._done.emit(result)

    def _finish_done(self, result: Any) -> None:
        self.result, self.finished = result, True
        self.done.emit(result)
        self.ended.emit()

    def _finish_failed(self, error: Exception) -> None:
        self.error, self.finished = error, True
        self.failed.emit(error)
        self.ended.emit()


def describe(error: BaseException) -> str:
    """An exception in words for a status line: its message, or its type when it has none."""
    return str(error) or type(error).__name__
