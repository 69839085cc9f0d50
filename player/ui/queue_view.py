"""The "Up next" panel: the user's own queue, then the auto-queue's pick, marked as such."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QMenu, QVBoxLayout, QWidget

from player.autoqueue import Pick

ROLE_INDEX = Qt.ItemDataRole.UserRole + 1  # position in the user queue, -1 for the auto pick
ROLE_TRACK = Qt.ItemDataRole.UserRole + 2


class QueueView(QWidget):
    """Lists what plays next. Emits ``removeRequested(index)`` and ``playRequested(track_id)``."""

    removeRequested = Signal(int)
    playRequested = Signal(int)
    clearRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        header = QLabel("Up next")
        font = QFont(header.font())
        font.setBold(True)
        header.setFont(font)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemDoubleClicked.connect(
            lambda item: self.playRequested.emit(item.data(ROLE_TRACK)))
        self.empty_hint = QLabel("Your queue is empty.\nAuto-queue is off.")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setStyleSheet("color: palette(placeholder-text);")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(header)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_hint)

    def show_queue(
        self, queue: list[dict[str, Any]], pick: Pick | None, pick_track: dict[str, Any] | None
    ) -> None:
        """Redraw: ``queue`` rows of the user queue, then the auto pick with its reason."""
        self.list.clear()
        for i, track in enumerate(queue):
            item = QListWidgetItem(f"{i + 1}. {_line(track)}")
            item.setData(ROLE_INDEX, i)
            item.setData(ROLE_TRACK, track["id"])
            item.setToolTip(track.get("path", ""))
            self.list.addItem(item)
        if pick is not None and pick_track is not None:
            item = QListWidgetItem(f"✦ Auto: {_line(pick_track)}\n    {pick.reason}")
            font = QFont(self.list.font())
            font.setItalic(True)
            item.setFont(font)
            item.setForeground(self.palette().link())
            item.setData(ROLE_INDEX, -1)
            item.setData(ROLE_TRACK, pick_track["id"])
            item.setToolTip(f"Chosen by the auto-queue ({pick.strategy}): {pick.reason}")
            self.list.addItem(item)
        self.empty_hint.setVisible(self.list.count() == 0)

    def _menu(self, pos: Any) -> None:
        item = self.list.itemAt(pos)
        menu = QMenu(self)
        if item is not None:
            play = QAction("Play now", menu)
            play.triggered.connect(lambda: self.playRequested.emit(item.data(ROLE_TRACK)))
            menu.addAction(play)
            if item.data(ROLE_INDEX) >= 0:
                remove = QAction("Remove from queue", menu)
                remove.triggered.connect(lambda: self.removeRequested.emit(item.data(ROLE_INDEX)))
                menu.addAction(remove)
        clear = QAction("Clear queue", menu)
        clear.triggered.connect(self.clearRequested)
        menu.addAction(clear)
        menu.exec(self.list.viewport().mapToGlobal(pos))


def _line(track: dict[str, Any]) -> str:
    return f"{track.get('title') or '?'} — {track.get('artist') or 'Unknown artist'}"
