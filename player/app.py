"""The GUI application: window first, then audio, then the services around it.

Start-up order matters for the first impression: the window (Qt widgets and the SQLite
library) shows at once; the audio backend (QtMultimedia, FFmpeg), MPRIS and, later, the model
(torch) load after the first frame, from the event loop.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, QTimer
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QMessageBox

from player import memory, resources
from player.autoqueue import AutoQueue, Rules
from player.library.db import DB_FILE, Library, Track, library_error
from player.library.playlists import PlaylistStore
from player.playback.base import Backend
from player.services import LibraryService
from player.settings import DataDirError, Settings
from player.ui.main_window import MainWindow

log = logging.getLogger(__name__)

#: Save the queue and position this often, so that even a kill restores nearly everything.
STATE_SAVE_INTERVAL_MS = 15_000
#: A queue edit is written to the library this long after the last edit of a burst.
QUEUE_SAVE_DELAY_MS = 1_000
#: The loudness analysis (and a scan for tags an older Segue did not read) waits this long
#: after start-up, so that the first seconds (torch loading, the first track) have the CPU.
BACKGROUND_WORK_DELAY_MS = 3_000
#: How often the app looks whether a big library's background check is done.
CHECK_POLL_MS = 250


class SegueApp(QObject):
    """Everything a running Segue holds: library, settings, window, engine, services."""

    def __init__(
        self,
        data_dir: Path,
        backend_factory: Callable[[], Backend] | None = None,
        enable_mpris: bool = True,
    ) -> None:
        super().__init__()
        memory.limit_arenas()  # before any worker thread: see player.memory
        self.data_dir = data_dir
        self.backend_factory = backend_factory
        self.enable_mpris = enable_mpris
        self.library = Library.open(data_dir)
        self.settings = Settings.load(data_dir)
        #: Scans, imports and the demo library: the app's, shown by the window.
        self.library_service = LibraryService(self.library, data_dir, self)
        self.window = MainWindow(self.library, self.settings, data_dir, self.library_service)
        self.engine: Any = None
        self.mpris: Any = None
        from player.learning import Learning

        self.learning = Learning(self.library, data_dir, self.settings.finetune_every)
        self.window.attach_learning(self.learning)
        from player.loudness import LoudnessAnalysis

        self.analysis = LoudnessAnalysis(self.library, self)
        self.window.attach_analysis(self.analysis)
        # A scan may change files under the analysis: it stops, and resumes after the scan.
        self.library_service.scanStarted.connect(self.analysis.cancel)
        self.library_service.scanEnded.connect(self.analysis.start)
        self.analysis.tagsOutdated.connect(self.library_service.scan)
        self.playlists = PlaylistStore(self.library)
        self._saved_queue: list[int] = []
        # A queue edit is stored a moment later (edits in a row make one write).
        self._queue_save_timer = QTimer(self, interval=QUEUE_SAVE_DELAY_MS, singleShot=True)
        self._queue_save_timer.timeout.connect(self._save_queue)
        self._state_timer = QTimer(self, interval=STATE_SAVE_INTERVAL_MS)
        self._state_timer.timeout.connect(self.save_state)
        self._shut_down = False
        #: The dialog saying the library is damaged, once a background check found it.
        self.damage_box: QMessageBox | None = None
        self._check_timer = QTimer(self, interval=CHECK_POLL_MS)
        self._check_timer.timeout.connect(self._library_checked)
        self._check_timer.start()  # a big library is checked on a thread: its verdict

    def _library_checked(self) -> None:
        """A damaged library found after the window opened: say so, then close."""
        if not self.library.checked:
            return
        self._check_timer.stop()
        damage = self.library.damage
        if damage is None:
            return
        print(f"segue: {damage}", file=sys.stderr, flush=True)
        self.damage_box = QMessageBox(QMessageBox.Icon.Critical, "Segue", str(damage),
                                      parent=self.window)
        self.damage_box.finished.connect(self.window.close)
        self.damage_box.open()  # not exec(): the event loop (and the window) go on

    def start_playback(self) -> None:
        """Create the audio backend and the engine; restore the queue and the last track."""
        from player.engine import Engine

        if self.backend_factory is not None:
            backend = self.backend_factory()
        else:
            from player.playback import create_backend  # audio libraries: after the first frame

            backend = create_backend()
        backend.set_volume(self.settings.volume)
        backend.set_rate(self.settings.playback_rate)
        from player.bridge import ModelPicker

        rules = Rules(self.settings.repeat_window_plays, self.settings.repeat_window_hours,
                      self.settings.exploration)
        autoqueue = AutoQueue(self.library, rules,
                              model_picker=ModelPicker(self.learning.holder))
        from player.playback.cues import LibraryCuePolicy

        cues = LibraryCuePolicy(self.library, lambda: self.settings.replaygain,
                                lambda: self.settings.replaygain_preamp_db,
                                lambda: self.analysis.typical_gain_db)
        from player.library.writer import BackgroundWriter

        self.writer = BackgroundWriter(self.library)
        self.engine = Engine(self.library, backend, autoqueue, cue_policy=cues,
                             writer=self.writer)
        self.engine.set_crossfade(self.settings.crossfade_s)
        self.window.soundSettingsChanged.connect(self._apply_sound_settings)
        self.window.attach_engine(self.engine)
        self.engine.listenLogged.connect(lambda _tid: self.learning.maybe_finetune())
        # A new model: pick again with it. Loaded after the window, off the GUI thread.
        self.learning.modelChanged.connect(self.engine.repick)
        self.learning.load_async()
        self._restore_state()
        self._state_timer.start()
        if self.enable_mpris:
            self._start_mpris()
        QTimer.singleShot(BACKGROUND_WORK_DELAY_MS, self._start_background_work)

    def _start_background_work(self) -> None:
        """Index what the search index lacks; measure what is not measured yet (the pass ends
        at once when nothing is left); first, if an older Segue read the tags, a scan reads them
        again (the pass follows)."""
        if self._shut_down:
            return
        # A big library migrated from schema 7 is indexed for search now (until then its
        # searches scan the tracks, as before); at once when the index is complete.
        self.library_service.build_search_index()
        if not self.library_service.scanning:
            self.analysis.start(check_tags=True)

    def _apply_sound_settings(self) -> None:
        """Playback -> ReplayGain / Crossfade changed: the playing track's gain changes at
        once, the next transition follows the new crossfade."""
        self.engine.set_crossfade(self.settings.crossfade_s)
        self.engine.refresh_cues()

    def _start_mpris(self) -> None:
        if not sys.platform.startswith("linux"):
            return
        try:
            from player.mpris import MprisService
        except ImportError:  # pragma: no cover - the module ships with the app
            return
        from player.covers import cover_path

        def art_url(track: Track) -> str | None:
            path = cover_path(track, self.data_dir / "covers")
            return path.resolve().as_uri() if path else None

        self.mpris = MprisService(self.engine, raise_window=self.raise_window,
                                  quit_app=self.window.close, art_url=art_url)
        if not self.mpris.start():
            self.mpris = None

    def open_paths(self, paths: list[str]) -> Any:
        """Play files and folders given to Segue (``segue FILE...``, Open with), in order,
        adding them to the library; in the background. Returns the job."""
        from player.opener import open_paths
        from player.workers import Job, describe

        def work(_report: Any, cancel: Any) -> Any:
            return open_paths(self.library, paths, cancel)

        job = Job(work, "open", parent=self)
        job.done.connect(self._opened)
        job.failed.connect(lambda error: self.window.statusBar().showMessage(
            f"Could not open what was given: {describe(error)}", 10000))
        job.ended.connect(job.deleteLater)
        self.window.statusBar().showMessage(f"Opening {len(paths)} "
                                            f"item{'s' if len(paths) != 1 else ''}…")
        job.start()
        return job

    def _opened(self, result: Any) -> None:
        self.library_service.build_search_index()  # the files added (see Library.add_tracks)
        self.window.refresh_library()
        self.window.playlists_panel.reload()
        problems = "".join(f"; {os.path.basename(p)}: {r}" for p, r in result.failed[:3])
        if len(result.failed) > 3:
            problems += f" and {len(result.failed) - 3} more"
        ids = result.track_ids
        if not ids or self.engine is None or self._shut_down:
            self.window.statusBar().showMessage("Nothing to play in what was given" + problems,
                                                15000)
            return
        rows = self.library.tracks_by_id(ids)
        log.info("open: playing in order: %s",
                 json.dumps([rows[t].path for t in ids if t in rows], ensure_ascii=False))
        self.engine.play_track(ids[0], "user")
        if len(ids) > 1:
            self.engine.enqueue(ids[1:], front=True)
        self.window.statusBar().showMessage(
            f"Playing {len(ids)} song{'s' if len(ids) != 1 else ''} you opened" + problems, 15000)

    def raise_window(self) -> None:
        """Bring the window to the front (MPRIS Raise, a second launch)."""
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    def _restore_state(self) -> None:
        legacy = self.settings.pop_legacy_queue()  # an older Segue kept it in settings.json
        if legacy:
            self.playlists.adopt_settings_queue(legacy)
        queue = self.playlists.load_queue()
        self._saved_queue = list(queue)
        if queue:
            self.engine.set_queue(queue)
        self.engine.queueChanged.connect(self._queue_save_timer.start)
        current = self.settings.current_track
        if current is not None and self.library.track(current) is not None:
            self.engine.cue(current, self.settings.current_position_ms)

    def _save_queue(self) -> None:
        """Store the play queue in the library (its playlist row), when it changed: through
        the writer, off the GUI thread."""
        self._queue_save_timer.stop()
        queue = list(self.engine.queue)
        if queue != self._saved_queue:
            self._saved_queue = queue
            self.writer.submit(lambda library: PlaylistStore(library).save_queue(queue))

    def save_state(self) -> None:
        """Write settings (queue, current track and position, volume) to disk."""
        if self.engine is not None:
            self._save_queue()
            cur = self.engine.current
            self.settings.current_track = cur.id if cur else None
            self.settings.current_position_ms = self.engine.position()
            self.settings.volume = self.engine.volume()
        try:
            self.settings.save(self.data_dir)
        except OSError as exc:
            log.warning("cannot save settings: %s", exc)

    def shutdown(self) -> None:
        """Close the listen in progress, save the state, release audio and the database."""
        if self._shut_down:
            return
        self._shut_down = True
        self._state_timer.stop()
        self.analysis.cancel(wait_s=5)
        self.library_service.shutdown(wait_s=5)  # a scan or an import under way
        self.save_state()
        if self.mpris is not None:
            self.mpris.stop()
        if self.engine is not None:
            self.engine.shutdown()
            self.writer.close()  # the listen just closed, and any write still waiting
        self.learning.wait_for_load(10.0)
        if self.learning.loaded:
            self.learning.finetune_at_quit()
        self.window.close_queries()  # the library view's reading threads
        self.library.close()


def _quit_on_signals(app: QApplication) -> None:
    """SIGTERM/SIGINT quit through the event loop, so that shutdown closes the listen.

    Python runs signal handlers only when the interpreter gets control; Qt's loop is C++.
    ``set_wakeup_fd`` writes the signal's number to a socket that a QSocketNotifier watches,
    which wakes the loop, and the quit happens there. Never in the Python handler itself: it
    runs between any two bytecodes of the GUI thread, and ``quit()`` from the main thread
    emits ``aboutToQuit`` (hence the whole shutdown, which closes the library) at once - in
    the middle of whatever query that code was running.
    """
    read_sock, write_sock = socket.socketpair()
    read_sock.setblocking(False)
    write_sock.setblocking(False)
    signal.set_wakeup_fd(write_sock.fileno())
    notifier = QSocketNotifier(read_sock.fileno(), QSocketNotifier.Type.Read, app)
    quitting = {signal.SIGTERM.value, signal.SIGINT.value}

    def drain() -> None:
        try:
            received = read_sock.recv(64)
        except OSError:
            return
        if quitting.intersection(received):
            app.closeAllWindows()
            app.quit()

    notifier.activated.connect(drain)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)  # the work is drain's, from the event loop
    app._segue_signal_sockets = (read_sock, write_sock, notifier)  # keep them alive


def _startup_probe(app: QApplication) -> None:
    """Print when the first frame is up and whether torch was imported, then quit."""
    import time

    print(f"window-shown {time.time():.6f} torch={'torch' in sys.modules}", file=sys.stderr,
          flush=True)
    app.quit()


def _fatal(message: str) -> int:
    """A start-up failure: one line on stderr (a terminal), then a dialog (a double-click)."""
    print(f"segue: {message}", file=sys.stderr, flush=True)
    QMessageBox.critical(None, "Segue", message)
    return 1


def run_gui(data_dir: Path, play: bool = False, open_paths: list[str] | None = None) -> int:
    """Open the player window on the data dir (``play``: start hands-free playback at once;
    ``open_paths``: play these files and folders, in order); returns the exit status. When
    Segue already runs on that data dir, its window takes the files and this one leaves."""
    # FFmpeg and audio-device chatter on stderr helps nobody who double-clicked the app.
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Segue")
    app.setApplicationDisplayName("Segue")
    app.setDesktopFileName("segue")
    with resources.path(resources.ICON_PNG) as icon:
        app.setWindowIcon(QIcon(QPixmap(str(icon))))  # read now: the path lives for the block
    # Before anything slow (the library's migrations, the window): a SIGTERM from then on
    # quits through the event loop once it runs, never by the default action mid-start.
    _quit_on_signals(app)
    from player.single_instance import SingleInstance

    instance = SingleInstance(data_dir)
    try:
        first = instance.claim()
    except DataDirError as exc:  # a file, a read-only folder...
        return _fatal(str(exc))
    if not first:
        if open_paths:
            answered = instance.ask_first_to_open(open_paths)
            print("Segue is already running" + ("; it plays what you gave it."
                                                if answered else "."), file=sys.stderr)
            return 0 if answered else 1
        answered = instance.ask_first_to_raise()
        print("Segue is already running" + ("; its window was brought to the front."
                                            if answered else "."), file=sys.stderr)
        return 0
    try:
        segue = SegueApp(data_dir)
    except Exception as exc:  # the library's file or disk (damage met by a first read...)
        error = library_error(exc, data_dir / DB_FILE)
        if error is None:
            raise
        instance.release()
        return _fatal(str(error))
    segue.window.show()
    if os.environ.get("SEGUE_STARTUP_PROBE"):  # bench/startup.py: report, then leave
        QTimer.singleShot(0, lambda: _startup_probe(app))
    else:
        QTimer.singleShot(0, segue.start_playback)
        if open_paths:
            QTimer.singleShot(0, lambda: segue.open_paths(list(open_paths)))
        elif play:
            QTimer.singleShot(0, lambda: segue.engine.play() if segue.engine else None)
    instance.activated.connect(segue.raise_window)
    instance.openRequested.connect(segue.open_paths)
    app.aboutToQuit.connect(segue.shutdown)
    status = app.exec()
    segue.shutdown()
    instance.release()
    return status
