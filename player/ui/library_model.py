"""The track table's model: the ids of the tracks shown, their rows read a block at a time.

Built for a million tracks. A new search, browser selection or sort asks a
:class:`~player.ui.browse_query.LatestQuery` (a thread of its own) for the ids of the matching
tracks in order; the GUI thread only swaps the answer in (one model reset) - it never waits for
a query over the whole library. The rows themselves are read when the view paints them, a block
of :data:`BLOCK` by primary key (a millisecond or two), and only the blocks in sight are kept.
A play-count change updates one cell; the playing track is bold without any lookup.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QPalette

from player.library.db import Library, TrackFilter, TrackRow, search_fold
from player.ui.browse_query import LatestQuery
from player.ui.track_drag import TRACK_IDS_MIME, track_ids_mime

Index = QModelIndex | QPersistentModelIndex

#: (header, order of Library.browse_track_ids, alignment)
COLUMNS = (
    ("Title", "title", Qt.AlignmentFlag.AlignLeft),
    ("Artist", "artist", Qt.AlignmentFlag.AlignLeft),
    ("Album", "album", Qt.AlignmentFlag.AlignLeft),
    ("Duration", "duration", Qt.AlignmentFlag.AlignRight),
    ("Plays", "plays", Qt.AlignmentFlag.AlignRight),
)
#: Rows read at once when the view needs one; blocks kept (LRU): about 12,800 rows.
BLOCK = 200
BLOCKS_KEPT = 64
TRACK_ID_ROLE = Qt.ItemDataRole.UserRole + 1


def format_ms(ms: int | None) -> str:
    """3:07, 1:02:03; an empty string for an unknown length."""
    if ms is None or ms < 0:
        return ""
    seconds = int(ms) // 1000
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class SearchIndex:
    """The folded search text of every present track, in the browser's order, held by the
    query thread: a keystroke is answered by a pass over these strings in memory (about 10
    ms for 100,000 tracks) instead of a table scan with ``LIKE`` (about 50 ms). Above
    :data:`MAX_TRACKS` (memory: some 100 bytes a track) the queries stay in SQL, on the
    query thread all the same. Only the query thread reads or loads it; the GUI thread only
    marks it stale when the library changed."""

    MAX_TRACKS = 400_000

    def __init__(self) -> None:
        self.stale = True
        self._ids: list[int] | None = None
        self._texts: list[str] = []
        # The last answer, with its texts: a query that only narrows it (a key typed at the
        # end of a word) looks through those tracks alone.
        self._last: tuple[list[str], list[int], list[str]] | None = None

    def usable(self, library: Library) -> bool:
        """Loaded (now, if stale) and small enough to be held."""
        if self.stale:
            self.stale = False
            self._last = None
            loaded = library.browse_search_texts(self.MAX_TRACKS)
            self._ids, self._texts = loaded if loaded is not None else (None, [])
        return self._ids is not None

    def find(self, words: list[str]) -> list[int]:
        """The ids whose text holds every word, in the browser's order."""
        ids, texts = self._ids or [], self._texts
        last = self._last
        if last is not None and all(any(o in w for w in words) for o in last[0]):
            ids, texts = last[1], last[2]  # every earlier word is still required
        if not words:
            return list(ids)
        if len(words) == 1:
            word = words[0]
            keep = [i for i, text in enumerate(texts) if word in text]
        else:
            keep = [i for i, text in enumerate(texts) if all(w in text for w in words)]
        found = [ids[i] for i in keep]
        self._last = (words, found, [texts[i] for i in keep])
        return found


class BrowseOrder:
    """Every present track's id in the browser's order, and each id's place in it: what a
    library too big for :class:`SearchIndex` is searched with. The search index
    (:meth:`Library.search_ids`) finds the matching ids in milliseconds, in id order; their
    places here put them in the browser's order without asking SQLite to sort them (a sort
    of 600,000 rows: half a second). Two arrays of int64 (24 MB for 1.5M tracks), loaded and
    read on the query thread only; the GUI thread only marks them stale."""

    def __init__(self) -> None:
        self.stale = True
        self._order = np.zeros(0, dtype=np.int64)
        self._place = np.zeros(0, dtype=np.int64)

    def ids(self, library: Library) -> np.ndarray:
        """Every present track, in the browser's order (loaded now, if stale)."""
        if self.stale:
            self.stale = False
            order = library.browse_order()
            place = np.full(int(order.max()) + 1 if len(order) else 0, -1, dtype=np.int64)
            place[order] = np.arange(len(order), dtype=np.int64)
            self._order, self._place = order, place
        return self._order

    def arrange(self, library: Library, found: np.ndarray) -> np.ndarray:
        """``found`` (ids in any order) in the browser's order, without missing tracks."""
        order = self.ids(library)
        place = self._place
        if len(found) and (found.min() < 0 or found.max() >= len(place)):
            found = found[(found >= 0) & (found < len(place))]  # tracks added since the load
        # A track not in the list (missing) has place -1: it marks the spare last slot.
        keep = np.zeros(len(order) + 1, dtype=bool)
        keep[place[found]] = True
        return order[keep[:-1]]


def _ordered_ids(library: Library, where: TrackFilter, sort: str, descending: bool,
                 index: SearchIndex, order: BrowseOrder) -> np.ndarray:
    """The query run on the query thread: the ids shown, in order (an int64 array: a million
    of them are 8 MB and never a Python object each, which held the GIL - the window - for
    100 ms and more while they were made and again while they were freed)."""
    if sort == "artist" and not where.browsing:
        if index.usable(library):  # small enough to be searched in memory
            found = index.find(search_fold(where.text).split())
            ids = np.array(found, dtype=np.int64)
            return ids[::-1] if descending else ids
        if not search_fold(where.text).split():
            ids = order.ids(library)
            return ids[::-1] if descending else ids
        matched = library.search_ids(where.text)
        if matched is not None:
            ids = order.arrange(library, matched)
            return ids[::-1] if descending else ids
    # A big library's search follows the index's rule in every order (short words at word
    # starts), not only in the browser's.
    big = bool(search_fold(where.text).split()) and not index.usable(library)
    if sort != "plays":
        return library.browse_id_array(where, sort, descending, word_starts=big)
    ids = library.browse_id_array(where, "artist", word_starts=big)
    plays = library.play_count_array()
    key = np.zeros(len(ids), dtype=np.int64)
    known = ids < len(plays)
    key[known] = plays[ids[known]]
    # Stable, as list.sort(reverse=True) is: equal counts keep the browser's order.
    return ids[np.argsort(-key if descending else key, kind="stable")]


class LibraryModel(QAbstractTableModel):
    """Tracks of the library within the browser's selection, filtered by the search text and
    sorted by a column. Answers arrive asynchronously: :attr:`resultsShown` says when."""

    #: A query's answer is in the model (its total): the view shows it.
    resultsShown = Signal(int)
    #: A query failed (a LibraryError): the window says so.
    queryFailed = Signal(object)

    def __init__(self, library: Library, parent: Any = None) -> None:
        super().__init__(parent)
        self.library = library
        self._ids = np.zeros(0, dtype=np.int64)
        self._blocks: OrderedDict[int, list[TrackRow | None]] = OrderedDict()
        self._loaded: dict[int, int] = {}  # track id -> row, for the rows in loaded blocks
        self._where = TrackFilter()
        self._sort = "artist"
        self._descending = False
        self._current: int | None = None  # the playing track, shown in bold
        self._bold = QFont()
        self._bold.setBold(True)
        self._dim = QPalette().brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        self._index = SearchIndex()  # read and loaded on the query thread only
        self._order = BrowseOrder()  # the same
        self._query = LatestQuery(library, "track-query", self)
        self._query.done.connect(self._show)
        self._query.failed.connect(self._failed)
        #: The latest query's failure (a LibraryError), until one succeeds.
        self.last_error: Exception | None = None
        #: When the latest query was asked (perf_counter) and how long its answer took.
        self.asked_at = 0.0
        self.last_latency_s = 0.0
        #: The CPU time the query thread spent on the latest answer (the bench's figure on a
        #: busy machine, where the wall time depends on the other work).
        self.last_query_cpu_s = 0.0
        self.reload()

    # -- what the view asks ------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._ids)):
            return None
        if role == TRACK_ID_ROLE:
            return int(self._ids[index.row()])
        col = index.column()
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(COLUMNS[col][2] | Qt.AlignmentFlag.AlignVCenter)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                        Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole):
            return None
        row = self._row(index.row())
        if row is None:  # gone from the library since the query
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return row.title
            if col == 1:
                return row.artist or "Unknown artist"
            if col == 2:
                return row.album or "Unknown album"
            if col == 3:
                return format_ms(row.duration_ms)
            return str(row.plays) if row.plays else ""
        if role == Qt.ItemDataRole.ToolTipRole and col < 3:
            return (row.title, row.artist, row.album)[col]
        if role == Qt.ItemDataRole.ForegroundRole and col in (1, 2) and not (
                row.artist if col == 1 else row.album):
            return self._dim
        if role == Qt.ItemDataRole.FontRole and row.id == self._current:
            return self._bold
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

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt's name
        return [TRACK_IDS_MIME]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # noqa: N802 - Qt's name
        """The dragged rows' songs, in the table's order (for Up next or a playlist)."""
        return track_ids_mime(self.track_ids(sorted({i.row() for i in indexes if i.isValid()})))

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802 - Qt's name
        return Qt.DropAction.CopyAction  # the library keeps its songs

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self._sort = COLUMNS[column][1]
        self._descending = order == Qt.SortOrder.DescendingOrder
        self.reload()

    # -- what the app asks -------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        """Search as you type: every word must appear in the title, artist or album (folded:
        case, accents and punctuation do not count)."""
        if text != self._where.text:
            self._where = replace(self._where, text=text)
            self.reload()

    def filter_text(self) -> str:
        return self._where.text

    def set_scope(self, artist_key: str | None, album_key: str | None = None,
                  artist_range: tuple[str, str] | None = None) -> None:
        """Show one artist of the browser (its key), one of its albums, the artists of a
        letter (``artist_range``: the first and last keys), or all (None)."""
        album_key = album_key if artist_key is not None else None
        artist_range = artist_range if artist_key is None else None
        if (artist_key, album_key, artist_range) != (
                self._where.artist_key, self._where.album_key, self._where.artist_range):
            self._where = replace(self._where, artist_key=artist_key, album_key=album_key,
                                  artist_range=artist_range)
            self.reload()

    def scope(self) -> TrackFilter:
        return self._where

    def reload(self, changed: bool = False) -> None:
        """Ask again (a sort, a new filter; ``changed``: the library itself changed, after a
        scan or an import); the answer replaces the rows."""
        if changed:
            self._index.stale = True
            self._order.stale = True
        where, sort, descending = self._where, self._sort, self._descending
        index, order = self._index, self._order
        self.asked_at = time.perf_counter()

        def query(lib: Library) -> tuple[np.ndarray, float]:
            started = time.thread_time()
            ids = _ordered_ids(lib, where, sort, descending, index, order)
            return ids, time.thread_time() - started

        self._query.submit(query)

    def busy(self) -> bool:
        """True while the latest query has not been answered."""
        return self._query.busy()

    def close(self) -> None:
        """Stop the query thread (before the library closes)."""
        self._query.close()

    def _failed(self, _generation: int, error: Exception) -> None:
        self.last_error = error
        self.queryFailed.emit(error)

    def _show(self, _generation: int, answer: tuple[np.ndarray, float]) -> None:
        ids, self.last_query_cpu_s = answer
        self.last_error = None
        self.beginResetModel()
        self._ids = ids
        self._blocks.clear()
        self._loaded.clear()
        self.endResetModel()
        self.last_latency_s = time.perf_counter() - self.asked_at
        self.resultsShown.emit(len(ids))

    def total(self) -> int:
        """Tracks shown (all of them: rows are read as they come into sight)."""
        return len(self._ids)

    def track_id(self, row: int) -> int | None:
        return int(self._ids[row]) if 0 <= row < len(self._ids) else None

    def track_ids(self, rows: list[int]) -> list[int]:
        return [int(self._ids[r]) for r in rows if 0 <= r < len(self._ids)]

    def row_of(self, track_id: int) -> int | None:
        """The row of a track, if shown (a scan of the id list: for a rare action)."""
        row = self._loaded.get(track_id)
        if row is not None:
            return row
        found = np.flatnonzero(self._ids == track_id)
        return int(found[0]) if len(found) else None

    def set_current(self, track_id: int | None) -> None:
        """Mark the playing track (bold); only its row and the previous one repaint."""
        previous, self._current = self._current, track_id
        for tid in (previous, track_id):
            row = self._loaded.get(tid) if tid is not None else None
            if row is not None:
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1),
                                      [Qt.ItemDataRole.FontRole])

    def refresh_play_count(self, track_id: int) -> None:
        """A listen was logged: re-read that row if it is in sight (the rest when seen)."""
        row = self._loaded.get(track_id)
        if row is None:
            return
        block = self._blocks.get(row // BLOCK)
        if block is not None:
            block[row % BLOCK] = self.library.browse_rows([track_id]).get(track_id)
        idx = self.index(row, 4)
        self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DisplayRole])

    # -- rows, a block at a time ---------------------------------------------------------------

    def _row(self, row: int) -> TrackRow | None:
        number = row // BLOCK
        block = self._blocks.get(number)
        if block is None:
            block = self._load_block(number)
        else:
            self._blocks.move_to_end(number)
        return block[row % BLOCK]

    def _load_block(self, number: int) -> list[TrackRow | None]:
        start = number * BLOCK
        ids = self._ids[start:start + BLOCK].tolist()
        rows = self.library.browse_rows(ids)
        block = [rows.get(t) for t in ids]
        self._blocks[number] = block
        for i, tid in enumerate(ids):
            self._loaded[tid] = start + i
        while len(self._blocks) > BLOCKS_KEPT:
            old, old_block = self._blocks.popitem(last=False)
            for row in old_block:
                if row is not None:
                    self._loaded.pop(row.id, None)
        return block
