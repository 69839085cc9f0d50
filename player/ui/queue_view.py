"""The "Up next" panel: the user's own queue, then the auto-queue's pick, marked as such.

The queue is edited here as people expect: drag rows to reorder them (or songs in from the
library, or queued songs out onto a playlist), Delete removes the selected rows, Alt+Up /
Alt+Down move them, a button clears it all; the auto pick can be turned down (*Another
pick*) or kept (*Keep*: it joins the queue). Every edit goes to the
:class:`~player.engine.Engine`, which owns the queue; this view only redraws what the engine
says (``queueChanged``, ``autoPickChanged``).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, QMimeData, Qt, Signal
from PySide6.QtGui import QAction, QFont, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from player.autoqueue import Pick
from player.library.db import Track
from player.ui.track_drag import TRACK_IDS_MIME, DropList, track_ids_mime

ROLE_INDEX = Qt.ItemDataRole.UserRole + 1  # position in the user queue, -1 for the auto pick
ROLE_TRACK = Qt.ItemDataRole.UserRole + 2


class QueueList(DropList):
    """The list: rows of the user queue can be dragged (also onto a playlist), songs dropped
    in from the library; drops ask for a move or an insert instead of moving items (the
    engine's queue is the truth; the view is redrawn from it)."""

    removeRequested = Signal(list)  # queue positions
    moveByRequested = Signal(int)  # -1 up, +1 down: the selected rows

    def queue_rows(self) -> int:
        """How many rows belong to the user queue (the auto pick's row follows them)."""
        return sum(1 for i in range(self.count()) if self.item(i).data(ROLE_INDEX) >= 0)

    def drop_limit(self) -> int:
        return self.queue_rows()  # the auto pick follows the queue: nothing goes after it

    def selected_positions(self) -> list[int]:
        """Queue positions of the selected rows (the auto pick is not one)."""
        return sorted(i for item in self.selectedItems()
                      if (i := item.data(ROLE_INDEX)) is not None and i >= 0)

    def selected_rows(self) -> list[int]:
        return self.selected_positions()

    def mimeData(self, items: Any) -> QMimeData:  # noqa: N802 - Qt's name
        """Qt's rows (a reorder here), and the songs (a drop onto a playlist)."""
        data = super().mimeData(items)
        ids = [item.data(ROLE_TRACK) for item in items if item.data(ROLE_TRACK) is not None]
        extra = track_ids_mime(ids)
        data.setData(TRACK_IDS_MIME, extra.data(TRACK_IDS_MIME))
        return data

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        alt = event.modifiers() & Qt.KeyboardModifier.AltModifier
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            positions = self.selected_positions()
            if positions:
                self.removeRequested.emit(positions)
                return
        elif alt and event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.moveByRequested.emit(-1 if event.key() == Qt.Key.Key_Up else 1)
            return
        super().keyPressEvent(event)


class QueueView(QWidget):
    """Lists what plays next and edits it through the engine (:meth:`attach_engine`).

    Signals for whoever embeds it: ``playRequested(track_id)`` (double-click, *Play now*),
    ``saveRequested(track_ids)`` (*Save queue as playlist…*).
    """

    playRequested = Signal(int)
    saveRequested = Signal(list)
    # Kept for embedders that wire the edits themselves (no engine attached).
    removeRequested = Signal(int)
    clearRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine: Any = None
        self.library: Any = None
        header = QLabel("Up next")
        font = QFont(header.font())
        font.setBold(True)
        header.setFont(font)
        self.list = QueueList()
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemDoubleClicked.connect(
            lambda item: self.playRequested.emit(item.data(ROLE_TRACK)))
        self.list.moveRequested.connect(self._move)
        self.list.insertRequested.connect(self._insert)
        self.list.removeRequested.connect(self._remove)
        self.list.moveByRequested.connect(self._move_by)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.list.dragEnded.connect(self._after_drag)
        self._refresh_pending = False
        self._pending_selection: list[int] | None = None
        self.empty_hint = QLabel("Your queue is empty.\nAuto-queue is off.")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setStyleSheet("color: palette(placeholder-text);")

        self.up_button = self._button("↑", "Move up (Alt+Up)", lambda: self._move_by(-1))
        self.down_button = self._button("↓", "Move down (Alt+Down)", lambda: self._move_by(1))
        self.remove_button = self._button("Remove", "Remove from the queue (Delete)",
                                          lambda: self._remove(self.list.selected_positions()))
        self.clear_button = self._button("Clear", "Clear the queue", self._clear)
        self.save_button = self._button("Save…", "Save the queue as a playlist",
                                        lambda: self.saveRequested.emit(self.queue_ids()))
        edit_row = QHBoxLayout()
        for b in (self.up_button, self.down_button, self.remove_button):
            edit_row.addWidget(b)
        edit_row.addStretch(1)
        edit_row.addWidget(self.clear_button)
        edit_row.addWidget(self.save_button)
        self._edit_row = edit_row
        # Compact (a narrow window): Clear and Save… go to a row of their own, so the panel
        # is as narrow as its widest row of buttons and the track table gets the width.
        self._second_row = QWidget()
        second = QHBoxLayout(self._second_row)
        second.setContentsMargins(0, 0, 0, 0)
        second.addStretch(1)
        self._second_row.hide()
        self.compact = False

        self.another_button = self._button("Another pick", "Choose something else to follow "
                                           "the queue", self._another_pick)
        self.pin_button = self._button("Keep", "Keep this pick: it joins the queue",
                                       self._pin_pick)
        pick_row = QHBoxLayout()
        pick_row.addStretch(1)
        pick_row.addWidget(self.another_button)
        pick_row.addWidget(self.pin_button)

        title_row = QHBoxLayout()
        title_row.addWidget(header)
        title_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(title_row)
        layout.addLayout(edit_row)
        layout.addWidget(self._second_row)
        layout.addWidget(self.list, 1)
        layout.addLayout(pick_row)
        layout.addWidget(self.empty_hint)
        self._has_pick = False
        self._update_buttons()

    def set_compact(self, compact: bool) -> None:
        """Two rows of edit buttons instead of one (a narrow window): every button stays,
        and the panel can be about half as wide."""
        if compact == self.compact:
            return
        self.compact = compact
        second = self._second_row.layout()
        for button in (self.clear_button, self.save_button):
            if compact:
                second.addWidget(button)
            else:
                self._edit_row.addWidget(button)
        self._second_row.setVisible(compact)
        self.updateGeometry()

    def _button(self, text: str, tip: str, slot: Any) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.clicked.connect(lambda _checked=False: slot())
        return button

    # -- the engine --------------------------------------------------------------------------

    def attach_engine(self, engine: Any, library: Any) -> None:
        """Show ``engine``'s queue and send the edits to it (``library`` gives the rows)."""
        self.engine, self.library = engine, library
        engine.queueChanged.connect(self.refresh)
        engine.autoPickChanged.connect(lambda _pick: self.refresh())
        engine.trackChanged.connect(lambda _track: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the engine (after the drag, when one is under way: redrawing would
        delete the rows being dragged - a pick arriving in the background must not end it)."""
        if self.engine is None:
            return
        if self.list.dragging:
            self._refresh_pending = True
            return
        self._refresh_pending = False
        queue, pick = self.engine.up_next()
        rows = self.library.tracks_by_id(queue + ([pick.track_id] if pick else []))
        self.show_queue([rows[t] for t in queue if t in rows], pick,
                        rows.get(pick.track_id) if pick else None)
        self.empty_hint.setText("Your queue is empty." + (
            "" if self.engine.autoqueue_enabled else "\nAuto-queue is off."))

    def _after_drag(self) -> None:
        if self._refresh_pending:
            self.refresh()
        if self._pending_selection is not None:
            self._select(self._pending_selection)
            self._pending_selection = None

    def queue_ids(self) -> list[int]:
        return list(self.engine.queue) if self.engine is not None else []

    def _move(self, positions: list[int], to: int) -> None:
        if self.engine is not None:
            moved = self.engine.move_in_queue(positions, to)
            if self.list.dragging:  # redrawn when the drag is over: selected then
                self._pending_selection = moved
            else:
                self._select(moved)

    def _insert(self, track_ids: list[int], at: int) -> None:
        """Songs dropped in from the library (or a playlist) before queue position ``at``."""
        if self.engine is not None and track_ids:
            self._select(self.engine.insert_in_queue(track_ids, at))

    def _move_by(self, step: int) -> None:
        positions = self.list.selected_positions()
        if self.engine is None or not positions:
            return
        moved = self.engine.move_up(positions) if step < 0 else self.engine.move_down(positions)
        self._select(moved)

    def _remove(self, positions: list[int]) -> None:
        if not positions:
            return
        if self.engine is None:
            for i in sorted(positions, reverse=True):
                self.removeRequested.emit(i)
            return
        first = min(positions)
        self.engine.remove_indices(positions)
        if self.engine.queue:  # the row that took the first removed one's place
            self._select([min(first, len(self.engine.queue) - 1)])

    def _clear(self) -> None:
        if self.engine is None:
            self.clearRequested.emit()
        else:
            self.engine.clear_queue()

    def _another_pick(self) -> None:
        if self.engine is not None:
            self.engine.another_pick()

    def _pin_pick(self) -> None:
        if self.engine is not None:
            self.engine.pin_pick()

    def _select(self, positions: list[int]) -> None:
        """Select the rows at these queue positions (after a move the rows follow)."""
        self.list.clearSelection()
        model = self.list.selectionModel()
        for pos in positions:
            if 0 <= pos < self.list.count():
                model.select(self.list.model().index(pos, 0),
                             QItemSelectionModel.SelectionFlag.Select)
        if positions and 0 <= positions[0] < self.list.count():
            self.list.setCurrentRow(positions[0], QItemSelectionModel.SelectionFlag.NoUpdate)
        self.list.setFocus()

    # -- drawing -----------------------------------------------------------------------------

    def show_queue(
        self, queue: list[Track], pick: Pick | None, pick_track: Track | None
    ) -> None:
        """Redraw: ``queue`` rows of the user queue, then the auto pick with its reason."""
        selected = self.list.selected_positions()
        self.list.clear()
        for i, track in enumerate(queue):
            item = QListWidgetItem(f"{i + 1}. {_line(track)}")
            item.setData(ROLE_INDEX, i)
            item.setData(ROLE_TRACK, track.id)
            item.setToolTip(track.path)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsDragEnabled)
            self.list.addItem(item)
        self._has_pick = pick is not None and pick_track is not None
        if pick is not None and pick_track is not None:
            item = QListWidgetItem(f"✦ Auto: {_line(pick_track)}\n    {pick.reason}")
            font = QFont(self.list.font())
            font.setItalic(True)
            item.setFont(font)
            item.setForeground(self.palette().link())
            item.setData(ROLE_INDEX, -1)
            item.setData(ROLE_TRACK, pick_track.id)
            item.setToolTip(f"Chosen by the auto-queue ({pick.strategy}): {pick.reason}")
            # The pick follows the queue: it is not dragged (Keep puts it in the queue).
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsDragEnabled)
            self.list.addItem(item)
        for pos in selected:  # a redraw keeps the selection where it still makes sense
            if pos < len(queue):
                self.list.item(pos).setSelected(True)
        self.empty_hint.setVisible(self.list.count() == 0)
        self._update_buttons()

    def _update_buttons(self) -> None:
        has_queue = self.list.queue_rows() > 0
        chosen = bool(self.list.selected_positions())
        for button in (self.up_button, self.down_button, self.remove_button):
            button.setEnabled(chosen)
        self.clear_button.setEnabled(has_queue)
        self.save_button.setEnabled(has_queue)
        self.another_button.setEnabled(self._has_pick)
        self.pin_button.setEnabled(self._has_pick)

    def _menu(self, pos: Any) -> None:
        item = self.list.itemAt(pos)
        menu = QMenu(self)
        if item is not None:
            play = QAction("Play now", menu)
            play.triggered.connect(lambda: self.playRequested.emit(item.data(ROLE_TRACK)))
            menu.addAction(play)
            if item.data(ROLE_INDEX) >= 0:
                remove = QAction("Remove from queue", menu)
                remove.setShortcut(QKeySequence(Qt.Key.Key_Delete))
                remove.triggered.connect(lambda: self._remove(
                    self.list.selected_positions() or [item.data(ROLE_INDEX)]))
                menu.addAction(remove)
                menu.addAction("Move up", lambda: self._move_by(-1))
                menu.addAction("Move down", lambda: self._move_by(1))
            else:
                menu.addAction("Another pick", self._another_pick)
                menu.addAction("Keep in the queue", self._pin_pick)
        menu.addSeparator()
        if self.list.queue_rows():
            menu.addAction("Save queue as playlist…",
                           lambda: self.saveRequested.emit(self.queue_ids()))
        clear = QAction("Clear queue", menu)
        clear.triggered.connect(self._clear)
        menu.addAction(clear)
        menu.exec(self.list.viewport().mapToGlobal(pos))


def _line(track: Track) -> str:
    return f"{track.title or '?'} — {track.artist or 'Unknown artist'}"

