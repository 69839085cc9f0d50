"""Dragging songs: the library's rows onto Up next or a playlist, and rows within a list.

Songs travel as their track ids (``application/x-segue-track-ids``, a JSON list). The lists
that take drops (:class:`DropList`: Up next, a playlist's entries) draw where the songs will
land, take their own rows as a move and songs from elsewhere as an insert, and never change
their items themselves: they emit what was asked and are redrawn from the truth (the engine's
queue, the playlist's rows).
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QWidget

TRACK_IDS_MIME = "application/x-segue-track-ids"
#: What Qt's item views pack their own rows as (a drag inside one list).
ROWS_MIME = "application/x-qabstractitemmodeldatalist"


def track_ids_mime(track_ids: list[int]) -> QMimeData:
    """Songs as a drag carries them."""
    data = QMimeData()
    data.setData(TRACK_IDS_MIME, json.dumps([int(t) for t in track_ids]).encode())
    return data


def track_ids_from(mime: QMimeData) -> list[int] | None:
    """The songs a drag carries, or None when it carries none (files, text, rows)."""
    if not mime.hasFormat(TRACK_IDS_MIME):
        return None
    try:
        ids = json.loads(bytes(mime.data(TRACK_IDS_MIME)).decode())
    except ValueError:
        return None
    if not isinstance(ids, list) or not all(isinstance(t, int) for t in ids):
        return None
    return ids


def drop_row(view: QListWidget, event: QDropEvent | QDragMoveEvent) -> int:
    """The row a drop puts the dragged rows before: a drop on a row's upper half goes
    before it, on its lower half after it; below the last row, at the end."""
    point = event.position().toPoint()
    index = view.indexAt(point)
    if not index.isValid():
        return view.count()
    rect = view.visualRect(index)
    return index.row() + (1 if point.y() > rect.center().y() else 0)


class DropList(QListWidget):
    """A list whose rows can be dragged to reorder it, and that takes songs dropped on it.

    ``moveRequested(rows, to)``: its own rows dropped before row ``to``;
    ``insertRequested(track_ids, to)``: songs from elsewhere dropped before row ``to``.
    :meth:`drop_limit` caps ``to`` (Up next: the auto pick's row is not a place).
    """

    moveRequested = Signal(list, int)
    insertRequested = Signal(list, int)
    dragEnded = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setDropIndicatorShown(False)  # drawn here: Qt's knows nothing of songs
        self._drop_at: int | None = None
        self._held = False

    # -- what is dragged in ----------------------------------------------------------------

    def drop_limit(self) -> int:
        return self.count()

    def own_rows(self, event: Any) -> bool:
        """True when the drag carries this list's own rows (a reorder)."""
        return event.mimeData().hasFormat(ROWS_MIME) and event.source() in (self, None)

    def _wanted(self, event: Any) -> bool:
        return self.own_rows(event) or track_ids_from(event.mimeData()) is not None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if self._wanted(event):
            event.setDropAction(Qt.DropAction.MoveAction if self.own_rows(event)
                                else Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt's name
        if not self._wanted(event):
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.MoveAction if self.own_rows(event)
                            else Qt.DropAction.CopyAction)
        event.accept()
        self._drop_at = min(drop_row(self, event), self.drop_limit())
        self.viewport().update()

    def dragLeaveEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self._drop_at = None
        self.viewport().update()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        self._drop_at = None
        self.viewport().update()
        if not self._wanted(event):
            event.ignore()
            return
        to = min(drop_row(self, event), self.drop_limit())
        if self.own_rows(event):
            rows = self.selected_rows()
            # Accepted, but not as a Qt move (which would delete the dragged items): the
            # owner moves them, and the list is redrawn.
            event.setDropAction(Qt.DropAction.IgnoreAction)
            event.accept()
            if rows:
                self.moveRequested.emit(rows, to)
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.insertRequested.emit(track_ids_from(event.mimeData()) or [], to)

    def selected_rows(self) -> list[int]:
        return sorted(self.row(item) for item in self.selectedItems())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        if self._drop_at is None:
            return
        if self._drop_at < self.count():
            y = self.visualItemRect(self.item(self._drop_at)).top()
        elif self.count():
            y = self.visualItemRect(self.item(self.count() - 1)).bottom() + 1
        else:
            y = 1
        painter = QPainter(self.viewport())
        painter.setPen(QPen(self.palette().highlight().color(), 2))
        painter.drawLine(2, y, self.viewport().width() - 2, y)
        painter.end()

    # -- a gesture under way: the rows must not be redrawn meanwhile -----------------------

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self._held = True
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().mouseReleaseEvent(event)
        self._end_gesture()

    def startDrag(self, actions: Qt.DropAction) -> None:  # noqa: N802 - Qt's name
        try:
            super().startDrag(actions)  # Qt's drag loop: returns when the drag is over
        finally:
            self._end_gesture()  # the release went to the drag, not to this view

    def _end_gesture(self) -> None:
        if self._held:
            self._held = False
            self.dragEnded.emit()

    @property
    def dragging(self) -> bool:
        """True from a press on the list until its release or the end of the drag it
        started: redrawing the rows meanwhile would end the gesture."""
        return self._held
