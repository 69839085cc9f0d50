"""The library's long work in the running app: scans, imports and the demo library.

:class:`LibraryService` is owned by the app (:class:`player.app.SegueApp`), not by a window:
it runs each piece of work as a background :class:`~player.workers.Job` and says what happens
through its signals (always on the GUI thread). The window only shows it — a progress bar, a
status line — and the loudness analysis, the preferences and the app react to the same
signals. One scan at a time, one import at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from player.library.db import Library
from player.library.folders import FolderAdded, add_folder, demo_folder_of
from player.library.scanner import ScanResult, scan_folders
from player.workers import Job

log = logging.getLogger(__name__)


class LibraryService(QObject):
    """Scans, imports and the demo library of one :class:`Library`, off the GUI thread."""

    #: A scan began (before any progress).
    scanStarted = Signal()
    #: A :class:`player.library.scanner.ScanProgress`.
    scanProgress = Signal(object)
    #: The scan's :class:`ScanResult` (``result.cancelled`` when it was stopped early).
    scanFinished = Signal(object)
    #: The exception that ended the scan.
    scanFailed = Signal(object)
    #: Last, however the scan ended (after the callbacks of :meth:`after_scan`).
    scanEnded = Signal()
    #: A line about the import under way.
    importProgress = Signal(object)
    #: The import's :class:`player.importer.ImportReport`.
    importFinished = Signal(object)
    #: The exception that ended the import.
    importFailed = Signal(object)
    #: The search index is complete (a big library's searches go through it from now on).
    searchIndexReady = Signal()

    def __init__(self, library: Library, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.data_dir = data_dir
        self.scan_job: Job | None = None
        self.import_job: Job | None = None
        self._after_scan: list[Callable[[], None]] = []
        self.index_job: Job | None = None

    # -- scanning ----------------------------------------------------------------------------

    @property
    def scanning(self) -> bool:
        return self.scan_job is not None

    def scan(self, folders: Sequence[str | Path] = ()) -> Job | None:
        """Add ``folders`` (if any) and scan every music folder; None (nothing started)
        while a scan is running."""
        if self.scan_job is not None:
            return None
        folders = list(folders)

        def work(report: Callable[[Any], None], cancel: threading.Event) -> ScanResult:
            return scan_folders(self.library, folders, progress=report, cancel=cancel)

        job = Job(work, "scan", parent=self)
        job.progress.connect(self.scanProgress)
        job.done.connect(self.scanFinished)
        job.failed.connect(self.scanFailed)
        job.ended.connect(self._scan_ended)
        self.scan_job = job
        self.scanStarted.emit()
        job.start()
        return job

    def after_scan(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once when the running (or next) scan has ended."""
        self._after_scan.append(callback)

    def cancel_scan(self, wait_s: float = 0.0) -> None:
        """Stop the running scan (what it read is kept); wait up to ``wait_s`` for it."""
        if self.scan_job is not None:
            self.scan_job.cancel()
            if wait_s:
                self.scan_job.wait(wait_s)

    def _scan_ended(self) -> None:
        self.scan_job = None
        self.build_search_index()  # the scan's new tracks (see Library.add_tracks)
        callbacks, self._after_scan = self._after_scan, []
        for callback in callbacks:
            callback()
        self.scanEnded.emit()

    def add_folder(self, folder: str | Path) -> FolderAdded:
        """Add a music folder and scan; the first real folder replaces the demo library
        (``demo_removed`` in the answer: the caller's queue and lists must forget its
        tracks)."""
        added = add_folder(self.library, folder, demo_folder_of(self.data_dir))
        self.scan()
        return added

    def install_demo(self) -> Job | None:
        """Copy the demo library into the data folder, add it and scan it; None while a scan
        is running (the demo waits for no one: ask again after it)."""
        from player.demo import install_demo_library

        if self.scan_job is not None:
            return None
        folder = install_demo_library(self.library, self.data_dir)
        return self.scan([folder])

    # -- importing ---------------------------------------------------------------------------

    def import_files(self, paths: Sequence[str | Path]) -> Job:
        """Import listening histories and playlists (Spotify, ListenBrainz, TSV, M3U) in the
        background; the report arrives with ``importFinished``."""
        from player.importer import import_history

        paths = [str(p) for p in paths]

        def work(report: Callable[[Any], None], cancel: threading.Event) -> Any:
            return import_history(self.library, paths, progress=report, cancel=cancel)

        job = Job(work, "import", parent=self)
        job.progress.connect(self.importProgress)
        job.done.connect(self.importFinished)
        job.failed.connect(self.importFailed)
        job.ended.connect(lambda: setattr(self, "import_job", None))
        self.import_job = job
        job.start()
        return job

    # -- the search index ----------------------------------------------------------------------

    def build_search_index(self) -> Job | None:
        """Index the tracks the search index does not hold yet (a big library migrated from
        schema 7: 20-40 s for 1.5M tracks), in the background, a chunk per short transaction;
        nothing to do (at once) when it is complete. None while it runs already."""
        if self.index_job is not None:
            return None

        def work(_report: Callable[[Any], None], cancel: threading.Event) -> bool:
            return self.library.build_search_index(cancel)

        job = Job(work, "search-index", parent=self)
        job.done.connect(lambda ready: self.searchIndexReady.emit() if ready else None)
        job.ended.connect(lambda: setattr(self, "index_job", None))
        self.index_job = job
        job.start()
        return job

    # -- quitting ----------------------------------------------------------------------------

    def shutdown(self, wait_s: float = 5.0) -> None:
        """Stop the work under way before the library closes."""
        self.cancel_scan(wait_s)
        for job in (self.import_job, self.index_job):
            if job is not None:
                job.cancel()
                job.wait(wait_s)
