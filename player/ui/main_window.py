"""The main window: library table with search, Up next, now playing, menus and status bar.

Widgets only: the window talks to the :class:`~player.engine.Engine` (playback) through its
own API, reads the :class:`~player.library.db.Library` through its methods (no SQL here), and
shows the long work of the app's :class:`~player.services.LibraryService` (scans, imports, the
demo library) and of :class:`~player.learning.Learning` (training); it runs none of it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from player.covers import cover_path
from player.playback.gain import ReplayGainMode
from player.library.db import Library, Track
from player.library.scanner import ScanProgress, ScanResult
from player.services import LibraryService
from player.settings import Settings
from player.ui.browser import BrowserPane
from player.ui.now_playing import SEEK_STEP_MS, NowPlaying
from player.ui import dialogs
from player.ui.playlists import PlaylistsPanel
from player.ui.queue_view import QueueView
from player.workers import Job, describe

log = logging.getLogger(__name__)

#: Below this window width the playlists fold away (see MainWindow._fit_width).
NARROW_WIDTH = 960
#: Recommendations → Exploration: from always the top pick to sampling widely.
EXPLORATION_LEVELS = (("Familiar: the likeliest next track", 0.0),
                      ("Balanced", 0.2),
                      ("Adventurous", 0.5),
                      ("Discover: sample widely", 1.0))
#: Playback → ReplayGain.
REPLAYGAIN_LABELS = ((ReplayGainMode.OFF, "&Off"),
                     (ReplayGainMode.TRACK, "&Track: every track equally loud"),
                     (ReplayGainMode.ALBUM, "&Album: each album as mastered"),
                     (ReplayGainMode.AUTO, "A&uto: album gain for albums played in order"))
#: Playback → Crossfade: seconds (0 = off).
CROSSFADE_CHOICES = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12)


class MainWindow(QMainWindow):
    """Segue's window. :meth:`attach_engine` connects playback once audio is ready."""

    #: The user changed ReplayGain or crossfade (the values are in ``settings``).
    soundSettingsChanged = Signal()

    def __init__(self, library: Library, settings: Settings, data_dir: Path,
                 service: LibraryService) -> None:
        """``service``: the app's scans, imports and demo library, which this window shows."""
        super().__init__()
        self.library = library
        self.settings = settings
        self.data_dir = data_dir
        self.service = service
        self.engine: Any = None
        self.learning: Any = None
        self.retrain_dialog: Any = None
        self.scan_notes: list[str] = []  # said with the running scan's result
        self.setWindowTitle("Segue")
        self.resize(1100, 700)

        # The library: search box, artist -> album tree, track table (player.ui.browser).
        self.browser = BrowserPane(library, data_dir, self)
        self.browser.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.model, self.search, self.table = (self.browser.model, self.browser.search,
                                               self.browser.table)
        self.count_label = self.browser.count_label
        # Songs are dragged from the table onto Up next or a playlist (player.ui.track_drag).
        self.table.setDragEnabled(True)
        self.table.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.now_playing = NowPlaying()
        self.queue_view = QueueView()
        self.playlists_panel = PlaylistsPanel(library, settings)
        self.browser.track_menu_hooks.append(
            lambda menu, ids: self.playlists_panel.fill_add_menu(menu.addMenu("Add to playlist"),
                                                                 ids))
        self._build_central()
        self._build_status_bar()
        self._build_menus()
        self.now_playing.setEnabled(False)  # until the audio backend is ready
        service.scanStarted.connect(self._scan_started)
        service.scanProgress.connect(self._scan_progress)
        service.scanFinished.connect(self._scan_done)
        service.scanFailed.connect(
            lambda error: self.statusBar().showMessage(f"Scan failed: {describe(error)}", 10000))
        service.scanEnded.connect(self._scan_ended)
        # (a lambda: PySide cannot connect a Signal(object) to the C++ slot showMessage(str))
        service.importProgress.connect(lambda text: self.statusBar().showMessage(str(text)))
        service.importFinished.connect(self._import_done)
        service.importFailed.connect(lambda error: self.statusBar().showMessage(
            f"Import failed: {describe(error)}", 10000))
        if settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(settings.window_geometry.encode()))
        self.refresh_library()

    # -- layout ------------------------------------------------------------------------------

    def _build_central(self) -> None:
        left = self.browser
        splitter = QSplitter()
        splitter.addWidget(self.playlists_panel)
        splitter.addWidget(left)
        splitter.addWidget(self.queue_view)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([180, 720, 280])
        splitter.setCollapsible(1, False)
        self.main_splitter = splitter
        self._wide_sizes: list[int] | None = None  # the sizes before the window got narrow
        self._last_wide: list[int] | None = None  # the latest sizes of a wide window
        splitter.splitterMoved.connect(self._splitter_moved)

        self.empty_state = self._build_empty_state()
        self.stack = QStackedWidget()
        self.stack.addWidget(splitter)
        self.stack.addWidget(self.empty_state)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.now_playing)
        layout.addWidget(line)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

    def _build_empty_state(self) -> QWidget:
        page = QWidget()
        title = QLabel("Your library is empty")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        title.setFont(font)
        text = QLabel("Add a folder of music, or try Segue at once with a few demo tracks.\n"
                      "Segue learns the order you like to listen in, and keeps the music "
                      "coming.")
        text.setWordWrap(True)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setMinimumWidth(460)  # word wrap inside a centred layout would squeeze it
        icon = QLabel()
        icon.setPixmap(self.windowIcon().pixmap(96, 96))
        add = QPushButton("Add music folder…")
        add.clicked.connect(lambda _checked=False: self.add_folder())
        demo = QPushButton("Play the demo library")
        demo.setDefault(True)
        demo.clicked.connect(self.play_demo)
        self.demo_button = demo
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(add)
        buttons.addWidget(demo)
        buttons.addStretch(1)
        layout = QVBoxLayout(page)
        layout.addStretch(2)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignCenter)
        layout.addSpacing(8)
        layout.addWidget(title, 0, Qt.AlignmentFlag.AlignCenter)
        layout.addSpacing(8)
        layout.addWidget(text, 0, Qt.AlignmentFlag.AlignCenter)
        layout.addSpacing(16)
        layout.addLayout(buttons)
        layout.addStretch(3)
        return page

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_scan_button = QToolButton()
        self.cancel_scan_button.setText("Cancel")
        self.cancel_scan_button.clicked.connect(self.cancel_scan)
        self.cancel_scan_button.hide()
        self.model_status = QLabel("")
        self.model_status.setStyleSheet("color: palette(placeholder-text);")
        self.loudness_status = QLabel("")
        self.loudness_status.setStyleSheet("color: palette(placeholder-text);")
        self.loudness_status.hide()
        bar.addPermanentWidget(self.loudness_status)
        bar.addPermanentWidget(self.model_status)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_scan_button)
        self.scan_problems_button = QToolButton()
        self.scan_problems_button.setAutoRaise(True)
        self.scan_problems_button.setToolTip("Which files, and why")
        self.scan_problems_button.clicked.connect(self.show_scan_problems)
        self.scan_problems_button.hide()
        bar.addPermanentWidget(self.scan_problems_button)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file = menu.addMenu("&File")
        self.act_add = self._action(file, "&Add music folder…", self.add_folder, "Ctrl+O")
        self.act_rescan = self._action(file, "&Rescan library", self.rescan, "F5")
        self.act_import = self._action(file, "&Import listening history…", self.import_history)
        self.act_preferences = self._action(file, "&Preferences…", self.preferences, "Ctrl+,")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        playback = menu.addMenu("&Playback")
        self.act_play = self._action(playback, "&Play/Pause", self._engine_call("play_pause"),
                                     "Space")
        self.act_next = self._action(playback, "&Next", self._engine_call("next"), "Ctrl+Right")
        self.act_prev = self._action(playback, "P&revious", self._engine_call("previous"),
                                     "Ctrl+Left")
        self.act_forward = self._action(playback, "Forward 5 s",
                                        lambda: self.now_playing.step(SEEK_STEP_MS), "Shift+Right")
        self.act_back = self._action(playback, "Back 5 s",
                                     lambda: self.now_playing.step(-SEEK_STEP_MS), "Shift+Left")
        self.act_show_playing = self._action(playback, "&Show playing track",
                                             self.show_playing, "Ctrl+J")
        playback.addSeparator()
        self.act_autoqueue = self._action(playback, "&Auto-queue", self._toggle_autoqueue)
        self.act_autoqueue.setCheckable(True)
        self.act_autoqueue.setChecked(self.settings.autoqueue)
        playback.addSeparator()
        self._build_sound_menus(playback)

        self.recommend_menu = menu.addMenu("&Recommendations")
        self.act_retrain = self._action(self.recommend_menu, "&Retrain now…", self.retrain)
        self.act_reset_model = self._action(self.recommend_menu, "Re&set model",
                                            self.reset_model)
        self.recommend_menu.addSeparator()
        self.exploration_actions = self._radio_menu(
            self.recommend_menu.addMenu("&Exploration"), list(EXPLORATION_LEVELS),
            self.settings.exploration, self._set_exploration)

        help_menu = menu.addMenu("&Help")
        self._action(help_menu, "&About Segue", self.about)

    def _build_sound_menus(self, playback: QMenu) -> None:
        """Playback → ReplayGain and Crossfade: radio choices stored in the settings."""
        current = self.settings.replaygain
        self.replaygain_actions = self._radio_menu(
            playback.addMenu("Replay&Gain"),
            [(label, mode) for mode, label in REPLAYGAIN_LABELS], current,
            lambda mode: self._set_sound(replaygain_mode=mode.value))
        self.crossfade_actions = self._radio_menu(
            playback.addMenu("&Crossfade"),
            [("&Off" if s == 0 else f"{s} s", s) for s in CROSSFADE_CHOICES],
            self.settings.crossfade_s, lambda s: self._set_sound(crossfade_s=s))

    def _radio_menu(self, menu: QMenu, choices: list[tuple[str, Any]], current: Any,
                    choose: Any) -> dict[Any, QAction]:
        """One checkable action per ``(label, value)``, ``current`` checked; ``choose(value)``
        when the user picks one. Returns the actions by value."""
        group = QActionGroup(self)
        actions = {}
        for label, value in choices:
            act = QAction(label, self, checkable=True)
            act.setChecked(value == current)
            act.triggered.connect(lambda _c=False, v=value: choose(v))
            group.addAction(act)
            menu.addAction(act)
            actions[value] = act
        return actions

    def _set_sound(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self.settings, name, value)
        self.soundSettingsChanged.emit()

    def attach_analysis(self, analysis: Any) -> None:
        """Show the background loudness analysis' progress in the status bar."""
        analysis.progress.connect(self._analysis_progress)
        analysis.finished.connect(lambda _result: self.loudness_status.hide())

    def _analysis_progress(self, event: Any) -> None:
        self.loudness_status.setText(f"Measuring loudness: {event.done:,} / {event.total:,}")
        self.loudness_status.show()

    def _action(self, menu: QMenu, text: str, slot: Any, shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _engine_call(self, name: str) -> Any:
        return lambda: getattr(self.engine, name)() if self.engine is not None else None

    # -- the engine --------------------------------------------------------------------------

    def attach_engine(self, engine: Any) -> None:
        """Connect playback (called once the audio backend is ready)."""
        self.engine = engine
        np = self.now_playing
        np.setEnabled(True)
        np.playPauseClicked.connect(engine.play_pause)
        np.nextClicked.connect(engine.next)
        np.previousClicked.connect(engine.previous)
        np.seekRequested.connect(engine.seek)
        np.volumeChanged.connect(engine.set_volume)
        engine.trackChanged.connect(self._on_track)
        engine.stateChanged.connect(np.show_state)
        engine.positionChanged.connect(np.show_position)
        engine.volumeChanged.connect(np.show_volume)
        engine.listenLogged.connect(self.model.refresh_play_count)
        engine.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.browser.attach_engine(engine)
        self.queue_view.playRequested.connect(lambda tid: engine.play_track(tid, "user"))
        self.queue_view.saveRequested.connect(self.playlists_panel.new_playlist)
        self.queue_view.attach_engine(engine, self.library)
        self.playlists_panel.attach_engine(engine)
        engine.set_autoqueue_enabled(self.settings.autoqueue)
        np.show_volume(engine.volume())

    def _on_track(self, track: Track | None) -> None:
        cover = cover_path(track, self.data_dir / "covers") if track else None
        self.now_playing.show_track(track, cover)
        title = f"{track.title} — {track.artist or 'Unknown artist'}" if track else ""
        self.setWindowTitle(f"{title} · Segue" if track else "Segue")
        # Bold in the list, which does not jump to it (the user may be browsing elsewhere):
        # Playback -> Show playing track (Ctrl+J) goes there.
        self.model.set_current(track.id if track else None)

    def _toggle_autoqueue(self) -> None:
        self.settings.autoqueue = self.act_autoqueue.isChecked()
        if self.engine is not None:
            self.engine.set_autoqueue_enabled(self.settings.autoqueue)
            self.queue_view.refresh()

    # -- the library table ---------------------------------------------------------------------

    def refresh_library(self) -> None:
        self.browser.reload()
        empty = not self.library.has_tracks() and not self.search.text()
        busy = self.service.scanning
        self.stack.setCurrentWidget(self.empty_state if empty and not busy
                                    else self.stack.widget(0))

    def show_playing(self) -> None:
        """Scroll the list to the playing track (it never jumps there by itself)."""
        current = self.engine.current if self.engine is not None else None
        if current is not None and not self.browser.show_track(current.id):
            self.statusBar().showMessage("The playing track is not in the list shown "
                                         "(clear the search or choose All music)", 6000)

    def close_queries(self) -> None:
        """Stop the library view's worker threads (before the library closes)."""
        self.browser.close_queries()

    # -- scanning ----------------------------------------------------------------------------

    def add_folder(self, folder: str | None = None) -> None:
        """Add a music folder (asked for, unless given) and scan; the first real folder
        replaces the demo library."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(
                self, "Add music folder", dialogs.start_folder(self.settings, self.library))
            if not folder:
                return
        dialogs.remember(self.settings, folder)
        scanning = self.service.scanning
        added = self.service.add_folder(folder)
        if scanning:
            self.statusBar().showMessage("A scan is already running: press F5 (Rescan) after "
                                         "it to read the new folder", 8000)
        if added.demo_removed is not None:
            self.scan_notes.append("the demo library was removed: your music replaces it")
            self.tracks_removed()
            self.service.after_scan(self.tracks_removed)  # pick again among the new music

    def tracks_removed(self) -> None:
        """Tracks left the library (a folder removed): the queue forgets them, the auto-queue
        picks again (its pick may have been one of them), the lists are read again."""
        if self.engine is not None:
            self.engine.forget_removed_tracks()
        self.refresh_library()
        self.playlists_panel.reload()

    def preferences(self) -> Any:
        """Open the preferences (music folders, scan problems); returns the dialog."""
        from player.ui.preferences import PreferencesDialog

        dialog = PreferencesDialog(self)
        dialog.setModal(False)
        dialog.show()
        self.preferences_dialog = dialog
        return dialog

    def show_scan_problems(self) -> Any:
        """The files the last scans could not read, with why; returns the dialog."""
        from player.ui.preferences import ScanProblemsDialog

        dialog = ScanProblemsDialog(self.library, self)
        dialog.show()
        self.scan_problems_dialog = dialog
        return dialog

    def rescan(self) -> None:
        self.start_scan([])

    def play_demo(self) -> None:
        """Install the demo library, scan it, then play."""
        self.demo_button.setEnabled(False)
        if self.service.install_demo() is None:
            self.statusBar().showMessage("A scan is already running", 4000)
            self.demo_button.setEnabled(True)
            return
        self.service.after_scan(lambda: self.engine.play() if self.engine else None)

    def start_scan(self, folders: list[str | Path]) -> None:
        """Scan (``folders`` added first); says so when a scan is already running."""
        if self.service.scan(folders) is None:
            self.statusBar().showMessage("A scan is already running", 4000)

    def cancel_scan(self) -> None:
        if self.service.scanning:
            self.service.cancel_scan()
            self.statusBar().showMessage("Stopping the scan…")

    def _scan_started(self) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat("Scanning…")
        self.progress.show()
        self.cancel_scan_button.show()
        self.act_rescan.setEnabled(False)
        self.statusBar().showMessage("Scanning your music…")

    def _scan_progress(self, event: ScanProgress) -> None:
        if event.phase == "walk":
            self.progress.setRange(0, 0)
            self.progress.setFormat(f"Looking: {event.seen:,} files")
        elif event.to_read:
            self.progress.setRange(0, event.to_read)
            self.progress.setValue(event.read)
            self.progress.setFormat("Reading %v / %m")

    def _scan_done(self, result: ScanResult) -> None:
        parts = [f"{result.added} added"]
        if result.updated or result.moved:
            parts.append(f"{result.updated + result.moved} updated")
        if result.missing:
            parts.append(f"{result.missing} missing")
        if result.failed:
            parts.append(f"{len(result.failed)} could not be read")
        self.scan_problems_button.setVisible(bool(result.failed))
        self.scan_problems_button.setText(f"{len(result.failed)} could not be read…")
        verb = "Scan cancelled" if result.cancelled else "Scan finished"
        notes, self.scan_notes = self.scan_notes, []
        self.statusBar().showMessage(
            f"{verb}: " + ", ".join(parts) + "".join(f"; {n}" for n in notes), 10000)

    def _scan_ended(self) -> None:
        """However the scan ended (its result or failure is in the status bar already)."""
        self.scan_notes = []
        self.progress.hide()
        self.cancel_scan_button.hide()
        self.act_rescan.setEnabled(True)
        self.demo_button.setEnabled(True)
        self.refresh_library()

    # -- recommendations -------------------------------------------------------------------------

    def attach_learning(self, learning: Any) -> None:
        self.learning = learning
        learning.statusChanged.connect(self.model_status.setText)

    def retrain(self) -> Any:
        """Open the retrain dialog and start training; returns the dialog (tests use it)."""
        from player.ui.retrain_dialog import RetrainDialog

        if self.learning is None:
            return None
        job = self.learning.retrain()
        dialog = RetrainDialog(self)
        if job is None:
            dialog.show_failure("A training is already running; try again when it ends.",
                                cancelled=False)
        else:
            job.progress.connect(dialog.show_progress)
            job.done.connect(dialog.show_result_of)
            job.failed.connect(dialog.show_error)
            dialog.cancelRequested.connect(job.cancel)
        self.retrain_dialog = dialog
        dialog.setModal(False)
        dialog.show()
        return dialog

    def reset_model(self) -> None:
        if self.learning is None:
            return
        answer = QMessageBox.question(
            self, "Reset model", "Forget the trained model? Segue goes back to simple picks "
            "until you retrain. Your listening history is kept.")
        if answer == QMessageBox.StandardButton.Yes:
            self.learning.reset()

    def _set_exploration(self, value: float) -> None:
        self.settings.exploration = value
        if self.engine is not None:
            self.engine.set_exploration(value)

    # -- importing history -----------------------------------------------------------------------

    def import_history(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Import listening history or playlists",
            dialogs.start_folder(self.settings, self.library),
            "Histories and playlists (*.json *.jsonl *.tsv *.m3u *.m3u8);;All files (*)")
        if paths:
            dialogs.remember(self.settings, paths[0])
            self.start_import(paths)

    def start_import(self, paths: list[str]) -> Job:
        """Import histories and playlists in the background (the service's job)."""
        return self.service.import_files(paths)

    def _import_done(self, report: Any) -> None:
        text = (f"Imported {report.listens:,} listens ({report.matched:,} matched to your "
                f"library), {report.duplicates:,} already there, {report.playlists_phrase()}"
                + (" (in the Playlists sidebar)" if report.playlists else ""))
        if report.errors:
            text += f"; {len(report.errors)} rows skipped"
        self.statusBar().showMessage(text, 15000)
        self.browser.reload()
        self.playlists_panel.reload()

    def about(self) -> None:
        stats = self.library.stats()
        QMessageBox.about(
            self,
            "About Segue",
            "<h3>Segue</h3><p>An offline music player that learns the order in which you "
            "listen, and keeps the music coming.</p>"
            f"<p>{stats['tracks']:,} tracks · {stats['listens']:,} listens logged</p>"
            f"<p>Data: {self.data_dir}</p>",
        )

    # -- state ---------------------------------------------------------------------------------

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit_width()

    def _fit_width(self) -> None:
        """A narrow window (under NARROW_WIDTH) folds the playlists away and slims Up next
        (its buttons on two rows, the panel at its narrowest), so that the track table keeps
        room for its titles, artists and albums and its Duration and Plays columns in sight;
        widening it again brings the earlier sizes back. (The fold is the splitter's: drag
        to reopen.)"""
        splitter = self.main_splitter
        narrow = self.width() < NARROW_WIDTH
        if not narrow and self._wide_sizes is None:
            # The splitter has its new width already (the window's layout runs before this
            # event): what a later narrow spell must bring back is what it has now.
            self._last_wide = splitter.sizes()
        if narrow and self._wide_sizes is None:
            self._wide_sizes = self._last_wide or splitter.sizes()
            self.queue_view.set_compact(True)
            total = sum(self._wide_sizes)
            queue = min(self._wide_sizes[2],
                        max(self.queue_view.minimumSizeHint().width(), total * 2 // 9))
            splitter.setSizes([0, total - queue, queue])
        elif not narrow and self._wide_sizes is not None:
            sizes, self._wide_sizes = self._wide_sizes, None
            self.queue_view.set_compact(False)
            splitter.setSizes(sizes)

    def _splitter_moved(self, _pos: int, _index: int) -> None:
        if self._wide_sizes is None:  # the user's own layout of a wide window
            self._last_wide = self.main_splitter.sizes()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        self.settings.window_geometry = bytes(self.saveGeometry().toBase64()).decode()
        super().closeEvent(event)
