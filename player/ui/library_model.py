"""The library table's model: SQLite rows, loaded a page at a time.

Built for 50,000 tracks: the view asks for rows as it scrolls (``canFetchMore`` /
``fetchMore``), sorting and filtering are SQL (``ORDER BY`` / ``LIKE``) and reset the model
once, and a single play-count change updates a single cell — never a full reload.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from player.library.db import Library

Index = QModelIndex | QPersistentModelIndex

#: (header, sort key of Library.query_tracks, alignment)
COLUMNS = (
    ("Title", "title", Qt.AlignmentFlag.AlignLeft),
    ("Artist", "artist", Qt.AlignmentFlag.AlignLeft),
    ("Album", "album", Qt.AlignmentFlag.AlignLeft),
    ("Duration", "duration", Qt.AlignmentFlag.AlignRight),
    ("Plays", "plays", Qt.AlignmentFlag.AlignRight),
)
PAGE = 2000
TRACK_ID_ROLE = Qt.ItemDataRole.UserRole + 1


def format_ms(ms: int | None) -> str:
    """3:07, 1:02:03; an empty string for an unknown length."""
    if ms is None or ms < 0:
        return ""
    seconds = int(ms) // 1000
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class LibraryModel(QAbstractTableModel):
    """Present tracks of the library, filtered by the search text, sorted by a column."""

    def __init__(self, library: Library, parent: Any = None) -> None:
        super().__init__(parent)
        self.library = library
        self._rows: list[list[Any]] = []  # [id, title, artist, album, duration_ms, plays]
        self._row_of: dict[int, int] = {}
        self._total = 0
        self._filter = ""
        self._sort = "artist"
        self._descending = False
        self._current: int | None = None  # the playing track, shown in bold
        self.reload()

    # -- what the view asks ------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return row[1]
            if col == 1:
                return row[2] or "Unknown artist"
            if col == 2:
                return row[3] or "Unknown album"
            if col == 3:
                return format_ms(row[4])
            if col == 4:
                return str(row[5]) if row[5] else ""
        elif role == Qt.ItemDataRole.TextAlignmentRole:
            return int(COLUMNS[col][2] | Qt.AlignmentFlag.AlignVCenter)
        elif role == Qt.ItemDataRole.ForegroundRole and col in (1, 2) and not row[col + 1]:
            from PySide6.QtGui import QPalette

            return QPalette().brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        elif role == Qt.ItemDataRole.FontRole and row[0] == self._current:
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        elif role == TRACK_ID_ROLE:
            return row[0]
        elif role == Qt.ItemDataRole.ToolTipRole and col == 0:
            return row[1]
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section][0]
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(COLUMNS[section][2] | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsDragEnabled)

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and len(self._rows) < self._total

    def fetchMore(self, parent: Index) -> None:
        if parent.isValid():
            return
        start = len(self._rows)
        page = self._query(start, PAGE)
        if not page:
            self._total = start  # the library shrank meanwhile
            return
        self.beginInsertRows(QModelIndex(), start, start + len(page) - 1)
        for i, row in enumerate(page):
            self._row_of[row[0]] = start + i
        self._rows.extend(page)
        self.endInsertRows()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self._sort = COLUMNS[column][1]
        self._descending = order == Qt.SortOrder.DescendingOrder
        self.reload()

    # -- what the app asks -------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        """Search as you type: every word must appear in the title, artist or album."""
        if text != self._filter:
            self._filter = text
            self.reload()

    def reload(self) -> None:
        """Re-read from the database (after a scan, a sort, a new filter): one reset."""
        self.beginResetModel()
        self._total = self.library.count_tracks(self._filter)
        self._rows = self._query(0, min(PAGE, self._total))
        self._row_of = {row[0]: i for i, row in enumerate(self._rows)}
        self.endResetModel()

    def total(self) -> int:
        """Tracks matching the filter (loaded or not)."""
        return self._total

    def track_id(self, row: int) -> int | None:
        return self._rows[row][0] if 0 <= row < len(self._rows) else None

    def row_of(self, track_id: int) -> int | None:
        return self._row_of.get(track_id)

    def set_current(self, track_id: int | None) -> None:
        """Mark the playing track (bold); only its row and the previous one repaint."""
        previous, self._current = self._current, track_id
        for tid in (previous, track_id):
            row = self._row_of.get(tid) if tid is not None else None
            if row is not None:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1),
                                      [Qt.ItemDataRole.FontRole])

    def refresh_play_count(self, track_id: int) -> None:
        """A listen was logged: update that one cell, if the row is loaded."""
        row = self._row_of.get(track_id)
        if row is None:
            return
        self._rows[row][5] = self.library.play_count(track_id)
        idx = self.index(row, 4)
        self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DisplayRole])

    def _query(self, offset: int, limit: int) -> list[list[Any]]:
        if limit <= 0:
            return []
        return [list(r) for r in self.library.query_tracks(
            self._filter, self._sort, self._descending, offset, limit)]
