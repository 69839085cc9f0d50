"""Preferences: the music folders (add, remove, rescan) and the scan's problems.

Removing a folder takes its tracks out of the library — in the background, since a big folder
is many rows — and keeps their listens in the history (:func:`player.library.folders.
remove_folder`). The scan's problems are listed file by file with the reason, not counted.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from player.library import folders
from player.library.folders import FolderRemoval
from player.workers import Job, describe

log = logging.getLogger(__name__)

ROLE_PATH = Qt.ItemDataRole.UserRole + 1


class PreferencesDialog(QDialog):
    """Music folders and scan problems. ``window`` is the :class:`MainWindow` (its library,
    settings, scans and engine)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window_ = window
        self.library = window.library
        self.remove_job: Job | None = None
        self.setWindowTitle("Preferences")
        self.resize(640, 420)

        box = QGroupBox("Music folders")
        self.folder_list = QListWidget()
        self.folder_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.folder_list.itemSelectionChanged.connect(self._update_buttons)
        self.add_button = QPushButton("Add…")
        self.add_button.clicked.connect(lambda: window.add_folder())
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(lambda: self.remove_selected())
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.setToolTip("Look for new, changed and deleted files (F5)")
        self.rescan_button.clicked.connect(window.rescan)
        buttons = QVBoxLayout()
        for b in (self.add_button, self.remove_button, self.rescan_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.folder_list, 1)
        row.addLayout(buttons)
        note = QLabel("Removing a folder takes its songs out of the library; your listening "
                      "history keeps every listen, and the recommendations still learn from "
                      "them.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(placeholder-text);")
        box_layout = QVBoxLayout(box)
        box_layout.addLayout(row)
        box_layout.addWidget(note)

        problems = QGroupBox("Scan problems")
        self.problems_label = QLabel()
        self.problems_button = QPushButton("Show…")
        self.problems_button.clicked.connect(window.show_scan_problems)
        problems_row = QHBoxLayout(problems)
        problems_row.addWidget(self.problems_label, 1)
        problems_row.addWidget(self.problems_button)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(box, 1)
        layout.addWidget(problems)
        layout.addWidget(close)
        window.service.scanStarted.connect(self._update_buttons)
        window.service.scanEnded.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Read the folders and the problems again."""
        selected = self.selected_folder()
        self.folder_list.clear()
        demo = str(folders.demo_folder_of(self.window_.data_dir))
        for folder in folders.folders(self.library):
            text = f"{folder.path}\n    {folder.tracks:,} songs"
            if folder.path == demo:
                text = f"Demo library\n    {folder.tracks:,} songs (removed when you add " \
                       "your own music)"
            if not folder.exists:
                text += " — folder not found (drive not mounted?)"
            item = QListWidgetItem(text)
            item.setData(ROLE_PATH, folder.path)
            item.setToolTip(folder.path)
            self.folder_list.addItem(item)
            if folder.path == selected:
                item.setSelected(True)
        count = len(self.library.scan_errors())
        self.problems_label.setText("Every file was read." if count == 0 else
                                    f"{count:,} file{'s' if count != 1 else ''} could not be "
                                    "read.")
        self.problems_button.setEnabled(count > 0)
        self._update_buttons()

    def selected_folder(self) -> str | None:
        items = self.folder_list.selectedItems()
        return items[0].data(ROLE_PATH) if items else None

    def _update_buttons(self) -> None:
        busy = self.window_.service.scanning or self.remove_job is not None
        self.remove_button.setEnabled(self.selected_folder() is not None and not busy)
        self.rescan_button.setEnabled(not busy)

    def remove_selected(self, confirm: bool = True) -> Job | None:
        """Remove the selected folder (after asking); returns the background job."""
        folder = self.selected_folder()
        if folder is None or self.window_.service.scanning or self.remove_job is not None:
            return None
        if confirm:
            answer = QMessageBox.question(
                self, "Remove music folder",
                f"Remove {folder} from the library? Its songs leave the library (the files "
                "stay on disk); your listening history keeps their listens.")
            if answer != QMessageBox.StandardButton.Yes:
                return None

        def work(_report: Any, _cancel: Any) -> FolderRemoval:
            return folders.remove_folder(self.library, folder)

        job = Job(work, "remove-folder", parent=self)
        job.done.connect(self._removed)
        job.failed.connect(lambda error: self._remove_failed(folder, describe(error)))
        job.ended.connect(job.deleteLater)
        self.remove_job = job
        self._update_buttons()
        job.start()
        return job

    def _removed(self, result: FolderRemoval) -> None:
        self.remove_job = None
        window = self.window_
        window.tracks_removed()
        name = os.path.basename(result.folder.rstrip(os.sep)) or result.folder
        window.statusBar().showMessage(
            f"Removed {name}: {result.tracks_removed:,} songs left the library; "
            f"{result.listens_kept:,} listens stay in your history", 10000)
        self.refresh()

    def _remove_failed(self, folder: str, message: str) -> None:
        self.remove_job = None
        QMessageBox.warning(self, "Remove music folder", f"Could not remove {folder}: {message}")
        self.refresh()


class ScanProblemsDialog(QDialog):
    """The files the scans could not read: file, reason; copyable."""

    def __init__(self, library: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Scan problems")
        self.resize(760, 380)
        rows = library.scan_errors()
        intro = QLabel(f"{len(rows):,} file{'s' if len(rows) != 1 else ''} could not be read. "
                       "Fix or remove them, then rescan (F5)." if rows else
                       "Every file was read.")
        intro.setWordWrap(True)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["File", "Reason"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        for i, row in enumerate(rows):
            path = QTableWidgetItem(row.path)
            path.setToolTip(row.path)
            reason = QTableWidgetItem(row.reason)
            reason.setToolTip(row.reason)
            self.table.setItem(i, 0, path)
            self.table.setItem(i, 1, reason)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 380)
        header.setStretchLastSection(True)
        self.rows = rows
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy list", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(self.copy)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)

    def copy(self) -> str:
        """Put the list on the clipboard as ``file<TAB>reason`` lines; returns the text."""
        text = "\n".join(f"{r.path}\t{r.reason}" for r in self.rows)
        QGuiApplication.clipboard().setText(text)
        return text
