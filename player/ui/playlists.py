"""The playlists sidebar: every playlist (made in Segue, imported), its entries, and edits.

Top: the playlists — double-click plays one; songs dropped on one join it; its context menu
plays, queues, renames, exports (M3U8) or deletes it. Below: the selected playlist's entries —
drag to reorder, drop songs in, Delete removes, double-click plays from there. Entries whose
track is not in the library (an imported song you do not have, a folder removed) are greyed:
they cannot play, and still teach the model. Playlists are stored by
:class:`~player.library.playlists.PlaylistStore`; a playlist's writes are a few rows, done at
once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QMimeData, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from player.library.playlists import Entry, Playlist, PlaylistStore, move_rows
from player.ui import dialogs
from player.ui.track_drag import TRACK_IDS_MIME, DropList, track_ids_from, track_ids_mime

log = logging.getLogger(__name__)

ROLE_ID = Qt.ItemDataRole.UserRole + 1
ROLE_NAME = Qt.ItemDataRole.UserRole + 2
ROLE_TRACK = Qt.ItemDataRole.UserRole + 3


class EntryList(DropList):
    """A playlist's entries: drag to reorder, songs dropped in, Delete removes (the panel
    stores the edit)."""

    removeRequested = Signal(list)  # rows

    def mimeData(self, items: Any) -> QMimeData:  # noqa: N802 - Qt's name
        """Qt's rows (a reorder here), and the songs (a drop onto Up next)."""
        data = super().mimeData(items)
        ids = [t for item in items if (t := item.data(ROLE_TRACK)) is not None]
        data.setData(TRACK_IDS_MIME, track_ids_mime(ids).data(TRACK_IDS_MIME))
        return data

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selectedItems():
            self.removeRequested.emit(self.selected_rows())
            return
        super().keyPressEvent(event)


class PlaylistList(QListWidget):
    """The playlists; songs dropped on one join its end (``tracksDropped(playlist, ids)``)."""

    tracksDropped = Signal(int, list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self._target: int | None = None

    def _playlist_at(self, event: Any) -> QListWidgetItem | None:
        if track_ids_from(event.mimeData()) is None:
            return None
        return self.itemAt(event.position().toPoint())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if track_ids_from(event.mimeData()) is not None:
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt's name
        item = self._playlist_at(event)
        self._target = self.row(item) if item is not None else None
        self.viewport().update()
        if item is None:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()

    def dragLeaveEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self._target = None
        self.viewport().update()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        self._target = None
        self.viewport().update()
        item = self._playlist_at(event)
        if item is None:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        self.tracksDropped.emit(item.data(ROLE_ID), track_ids_from(event.mimeData()) or [])

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        super().paintEvent(event)
        if self._target is None or self.item(self._target) is None:
            return
        painter = QPainter(self.viewport())  # the playlist the songs would join
        painter.setPen(QPen(self.palette().highlight().color(), 2))
        painter.drawRect(self.visualItemRect(self.item(self._target)).adjusted(1, 1, -2, -2))
        painter.end()


class PlaylistsPanel(QWidget):
    """The sidebar. Emits ``changed`` after any playlist was created, edited or deleted."""

    changed = Signal()

    def __init__(self, library: Any, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.settings = settings
        self.store = PlaylistStore(library)
        self.engine: Any = None
        self._entries: list[Entry] = []
        header = QLabel("Playlists")
        font = QFont(header.font())
        font.setBold(True)
        header.setFont(font)
        new = QToolButton()
        new.setText("New")
        new.setToolTip("A new, empty playlist")
        new.setAutoRaise(True)
        new.clicked.connect(lambda: self.new_playlist([]))
        self.lists = PlaylistList()
        self.lists.tracksDropped.connect(self.add_tracks)
        self.lists.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.lists.customContextMenuRequested.connect(self._lists_menu)
        self.lists.currentItemChanged.connect(lambda *_: self._show_entries())
        self.lists.itemDoubleClicked.connect(lambda _item: self.play_selected())
        self.empty_hint = QLabel("No playlists yet. Save the queue as one, or import an "
                                 "M3U file (File ▸ Import).")
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setStyleSheet("color: palette(placeholder-text);")
        self.entries = EntryList()
        # A narrow sidebar: long names end in "…" (the tooltip has the file) - no scrolling.
        self.entries.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.entries.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.entries.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.entries.customContextMenuRequested.connect(self._entries_menu)
        self.entries.itemDoubleClicked.connect(lambda item: self.play_selected(
            self.entries.row(item)))
        self.entries.moveRequested.connect(self._move_entries)
        self.entries.insertRequested.connect(self._insert_entries)
        self.entries.removeRequested.connect(self._remove_entries)
        self.summary = QLabel("")
        self.summary.setStyleSheet("color: palette(placeholder-text);")
        self.summary.setWordWrap(True)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(header)
        head.addStretch(1)
        head.addWidget(new)
        top_layout.addLayout(head)
        top_layout.addWidget(self.lists, 1)
        top_layout.addWidget(self.empty_hint)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.summary)
        bottom_layout.addWidget(self.entries, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([200, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.reload()

    def attach_engine(self, engine: Any) -> None:
        """Play and queue through ``engine``."""
        self.engine = engine

    # -- reading -----------------------------------------------------------------------------

    def reload(self, select: int | None = None) -> None:
        """Read the playlists again (an import added some); keep or make a selection."""
        current = select if select is not None else self.current_id()
        self.lists.blockSignals(True)
        self.lists.clear()
        for playlist in self.store.all():
            item = QListWidgetItem(_playlist_label(playlist))
            item.setData(ROLE_ID, playlist.id)
            item.setData(ROLE_NAME, playlist.name)
            item.setToolTip(_playlist_tip(playlist))
            self.lists.addItem(item)
            if playlist.id == current:
                self.lists.setCurrentItem(item)
        self.lists.blockSignals(False)
        self.empty_hint.setVisible(self.lists.count() == 0)
        self._show_entries()

    def current_id(self) -> int | None:
        item = self.lists.currentItem()
        return item.data(ROLE_ID) if item is not None else None

    def select(self, playlist_id: int) -> None:
        for i in range(self.lists.count()):
            if self.lists.item(i).data(ROLE_ID) == playlist_id:
                self.lists.setCurrentRow(i)
                return

    def _show_entries(self) -> None:
        playlist_id = self.current_id()
        self._entries = self.store.entries(playlist_id) if playlist_id is not None else []
        self._draw_entries()

    def _draw_entries(self, selected: list[int] = ()) -> None:
        self.entries.clear()
        grey = self.palette().placeholderText()
        for i, entry in enumerate(self._entries):
            item = QListWidgetItem(f"{i + 1}. {entry.label()}")
            if entry.present:
                item.setData(ROLE_TRACK, entry.track_id)
            if not entry.present:
                item.setForeground(grey)
                item.setToolTip("Not in your library: it cannot play (it still teaches "
                                "the recommendations)")
            else:
                item.setToolTip(entry.path or "")
            self.entries.addItem(item)
        for row in selected:
            if 0 <= row < self.entries.count():
                self.entries.selectionModel().select(
                    self.entries.model().index(row, 0), QItemSelectionModel.SelectionFlag.Select)
        playlist_id = self.current_id()
        if playlist_id is None:  # never an empty pane without a word
            self.summary.setText("Choose a playlist: its songs show here.")
            return
        playable = sum(1 for e in self._entries if e.present)
        minutes = sum((e.duration_ms or 0) for e in self._entries if e.present) / 60_000
        name = self.lists.currentItem().data(ROLE_NAME)
        text = f"{name}: {len(self._entries):,} songs, {minutes:.0f} min"
        if playable < len(self._entries):
            text += f"; {len(self._entries) - playable:,} not in your library"
        self.summary.setText(text)

    # -- editing -----------------------------------------------------------------------------

    def _store_entries(self) -> None:
        playlist_id = self.current_id()
        if playlist_id is not None:
            self.store.set_entries(playlist_id, self._entries)
            self._relabel(playlist_id)
            self.changed.emit()

    def _relabel(self, playlist_id: int) -> None:
        playlist = self.store.get(playlist_id)
        item = self.lists.currentItem()
        if playlist is not None and item is not None:
            item.setText(_playlist_label(playlist))
            item.setData(ROLE_NAME, playlist.name)
            item.setToolTip(_playlist_tip(playlist))

    def _move_entries(self, rows: list[int], to: int) -> None:
        self._entries, moved = move_rows(self._entries, rows, to)
        self._store_entries()
        self._draw_entries(moved)

    def _insert_entries(self, track_ids: list[int], at: int) -> None:
        """Songs dropped in (from the library, Up next) before row ``at``."""
        if self.current_id() is None or not track_ids:
            return
        rows = self.library.tracks_by_id(track_ids)
        new = [Entry(t, rows[t].artist, rows[t].title, rows[t].album,
                     rows[t].duration_ms, rows[t].path, not rows[t].missing)
               for t in track_ids if t in rows]
        at = max(0, min(at, len(self._entries)))
        self._entries[at:at] = new
        self._store_entries()
        self._draw_entries(list(range(at, at + len(new))))

    def _remove_entries(self, rows: list[int]) -> None:
        drop = set(rows)
        self._entries = [e for i, e in enumerate(self._entries) if i not in drop]
        self._store_entries()
        first = min(rows) if rows else 0
        self._draw_entries([min(first, len(self._entries) - 1)] if self._entries else [])

    def new_playlist(self, track_ids: list[int], name: str | None = None) -> int | None:
        """Ask for a name (unless given) and make a playlist of these tracks; returns its id."""
        if name is None:
            suggestion = self.store.unique_name("Queue" if track_ids else "New playlist")
            name, ok = QInputDialog.getText(self, "Save as playlist" if track_ids
                                            else "New playlist", "Name:", text=suggestion)
            if not ok or not name.strip():
                return None
        playlist_id = self.store.create(name, track_ids)
        self.reload(select=playlist_id)
        self.changed.emit()
        return playlist_id

    def add_tracks(self, playlist_id: int, track_ids: list[int]) -> None:
        self.store.append(playlist_id, track_ids)
        if playlist_id == self.current_id():
            self._show_entries()
            self._relabel(playlist_id)
        else:
            self.reload()
        self.changed.emit()

    def rename_selected(self) -> None:
        playlist = self.store.get(self.current_id() or -1)
        if playlist is None:
            return
        name, ok = QInputDialog.getText(self, "Rename playlist", "Name:", text=playlist.name)
        if ok and name.strip():
            self.store.rename(playlist.id, name)
            self.reload()
            self.changed.emit()

    def delete_selected(self, confirm: bool = True) -> None:
        playlist = self.store.get(self.current_id() or -1)
        if playlist is None:
            return
        if confirm:
            answer = QMessageBox.question(
                self, "Delete playlist", f"Delete the playlist “{playlist.name}”? Its songs "
                "stay in your library.")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.store.delete(playlist.id)
        self.reload()
        self.changed.emit()

    def export_selected(self, path: str | None = None) -> Path | None:
        """Export the selected playlist as M3U8 (asks where, unless ``path`` is given)."""
        playlist = self.store.get(self.current_id() or -1)
        if playlist is None:
            return None
        if path is None:
            start = Path(dialogs.start_folder(self.settings, self.library)) / \
                f"{_file_name(playlist.name)}.m3u8"
            path, _ = QFileDialog.getSaveFileName(self, "Export playlist", str(start),
                                                  "M3U8 playlists (*.m3u8)")
            if not path:
                return None
        if not path.lower().endswith((".m3u8", ".m3u")):
            path += ".m3u8"
        try:
            result = self.store.export_m3u8(playlist.id, path)
        except OSError as exc:
            QMessageBox.warning(self, "Export playlist",
                                f"Cannot write {path}: {(exc.strerror or str(exc)).lower()}")
            return None
        dialogs.remember(self.settings, path)
        text = f"Exported “{playlist.name}”: {result.written} songs"
        if result.skipped:
            text += f" ({result.skipped} not in your library left out)"
        window = self.window()
        if hasattr(window, "statusBar"):
            window.statusBar().showMessage(text, 8000)
        return result.path

    # -- playing -----------------------------------------------------------------------------

    def play_selected(self, from_row: int = 0) -> None:
        """Play the selected playlist from the entry at ``from_row``; the rest follows it
        (in front of the queue), then the auto-queue carries on."""
        if self.engine is None:
            return
        ids = [e.track_id for e in self._entries[from_row:] if e.present and e.track_id]
        if not ids:
            return
        self.engine.play_track(ids[0], "user")
        if len(ids) > 1:
            self.engine.enqueue(ids[1:], front=True)

    def queue_selected(self) -> None:
        if self.engine is None:
            return
        ids = [e.track_id for e in self._entries if e.present and e.track_id]
        if ids:
            self.engine.enqueue(ids)

    def fill_add_menu(self, menu: QMenu, track_ids: list[int]) -> None:
        """Items for "Add to playlist": each playlist, and a new one."""
        menu.addAction("New playlist…", lambda: self.new_playlist(track_ids))
        playlists = self.store.all()
        if playlists:
            menu.addSeparator()
        for playlist in playlists:
            menu.addAction(playlist.name,
                           lambda pid=playlist.id: self.add_tracks(pid, track_ids))

    # -- menus -------------------------------------------------------------------------------

    def _lists_menu(self, pos: Any) -> None:
        item = self.lists.itemAt(pos)
        menu = QMenu(self)
        if item is not None:
            self.lists.setCurrentItem(item)
            menu.addAction("Play", self.play_selected)
            menu.addAction("Add to queue", self.queue_selected)
            menu.addSeparator()
            menu.addAction("Rename…", self.rename_selected)
            menu.addAction("Export as M3U8…", lambda: self.export_selected())
            menu.addAction("Delete…", self.delete_selected)
            menu.addSeparator()
        menu.addAction("New playlist…", lambda: self.new_playlist([]))
        menu.exec(self.lists.viewport().mapToGlobal(pos))

    def _entries_menu(self, pos: Any) -> None:
        item = self.entries.itemAt(pos)
        if item is None:
            return
        row = self.entries.row(item)
        menu = QMenu(self)
        menu.addAction("Play from here", lambda: self.play_selected(row))
        menu.addAction("Remove from playlist",
                       lambda: self._remove_entries(self.entries.selected_rows() or [row]))
        menu.exec(self.entries.viewport().mapToGlobal(pos))


def _playlist_label(playlist: Playlist) -> str:
    return f"{playlist.name}  ({playlist.entries:,})"


def _playlist_tip(playlist: Playlist) -> str:
    where = (f"Imported from {playlist.source_path}" if playlist.kind == "imported"
             else "Made in Segue")
    return f"{where}; {playlist.playable:,} of {playlist.entries:,} songs in your library"


def _file_name(name: str) -> str:
    """A playlist's name as a file name (no slashes, no leading dot)."""
    cleaned = "".join("_" if c in '/\\:*?"<>|' else c for c in name).strip().lstrip(".")
    return cleaned or "playlist"

