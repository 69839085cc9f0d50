"""The app's background loudness analysis: one :class:`~player.workers.Job` at a time.

The app starts it at start-up (it ends at once when nothing is left to measure) and after each
scan, and stops it when a scan starts (the scan may change the files; the next run resumes)
and at quit. The work itself (:func:`player.library.analysis.analyse_library`) runs in a worker
process of the lowest CPU priority; this thread only waits for it and writes each result.
Whatever needs a full-table query (is a rescan due, the library's typical gain) is asked on
the job's thread too, never on the GUI thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6.QtCore import QObject, Signal

from player.library.db import Library
from player.workers import Job, describe

log = logging.getLogger(__name__)

#: What the job returns instead of measuring when an older Segue read the tags (start-up).
_TAGS_OUTDATED = "tags-outdated"


class LoudnessAnalysis(QObject):
    """Runs the analysis pass in the background; signals arrive on the GUI thread."""

    #: An :class:`~player.library.analysis.AnalysisProgress`.
    progress = Signal(object)
    #: An :class:`~player.library.analysis.AnalysisResult` (also when cancelled), or None
    #: when the pass failed.
    finished = Signal(object)
    #: ``start(check_tags=True)`` found tracks whose tags an older Segue read: scan first
    #: (the pass then runs after the scan).
    tagsOutdated = Signal()

    def __init__(self, library: Library, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.job: Job | None = None
        #: The library's median track gain as the last pass left it (None until a pass ran,
        #: or when nothing is known): what playback assumes for a track not measured yet.
        self.typical_gain_db: float | None = None
        self._restart = False

    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.finished

    def start(self, check_tags: bool = False) -> Job:
        """Start the pass, unless it runs already; returns its job. Right after a cancel,
        the pass starts again as soon as the cancelled one has ended. ``check_tags``: first
        see whether a scan must read tags again (:attr:`tagsOutdated` instead of a pass)."""
        if self.job is not None and not self.job.finished:
            if self.job.cancel_event.is_set() and not self._restart:
                self._restart = True
                self.job.ended.connect(self._restart_now)
            return self.job
        from player.library.analysis import analyse_library

        def work(report: Any, cancel: threading.Event) -> Any:
            if check_tags and self.library.tags_outdated():
                return _TAGS_OUTDATED
            return analyse_library(self.library, progress=report, cancel=cancel)

        job = Job(work, "loudness", parent=self)
        job.progress.connect(self.progress.emit)
        job.done.connect(self._done)
        job.failed.connect(self._failed)
        self.job = job
        job.start()
        return job

    def _done(self, result: Any) -> None:
        if result == _TAGS_OUTDATED:
            self.tagsOutdated.emit()
            return
        self.typical_gain_db = result.typical_gain_db
        self.finished.emit(result)

    def _restart_now(self) -> None:
        if self._restart:
            self._restart = False
            self.start()

    def _failed(self, error: Exception) -> None:
        log.warning("loudness analysis failed: %s", describe(error))
        self.finished.emit(None)

    def cancel(self, wait_s: float = 0.0) -> None:
        """Stop the pass (what it measured is kept); wait up to ``wait_s`` for it to end."""
        self._restart = False
        if self.job is None or self.job.finished:
            return
        self.job.cancel()
        if wait_s > 0:
            self.job.wait(wait_s)
