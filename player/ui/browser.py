"""Browsing the library: artists and their albums (with covers) beside the track table.

:class:`BrowserPane` is the left part of the window: the search box on top, then the
artist → album tree and the track table. Artists are album artists first, so a compilation's
tracks stay together, and every spelling of "Various Artists" is one entry, listed first.
Clicking an artist or an album shows its tracks (an album's in disc and track order); playing
an album plays it in that order and the auto-queue continues after it; "Start radio" plays a
track (an artist's or album's most played) and lets the auto-queue's model continue from it.

The search box searches the whole library (folded: case, accents and punctuation do not
count); Ctrl+F reaches it, Escape clears it, Down or Enter go to the results. Nothing here
waits for a query over the whole library on the GUI thread (see
:mod:`player.ui.browse_query`), and covers load on worker threads
(:mod:`player.ui.browser_covers`).
"""

from __future__ import annotations

import bisect
import logging
from pathlib import Path
from typing import Any, NamedTuple

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QFont, QFontMetrics, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from player.library.db import (
    VARIOUS_ARTISTS,
    AlbumRow,
    ArtistRow,
    Library,
    Track,
    TrackFilter,
    browse_keys,
)
from player.ui.browse_query import LatestQuery
from player.ui.browser_covers import CoverThumbnails
from player.ui.library_model import COLUMNS, TRACK_ID_ROLE, LibraryModel

log = logging.getLogger(__name__)

COVER_SIZE = 32
#: Every row of the tree is this tall (uniform heights: a tree of 30,000 artists lays out
#: without asking each row its size).
ROW_HEIGHT = COVER_SIZE + 4
#: What the tree's rows are (Qt.UserRole + 2): "all", "artist" or "album".
KIND_ROLE = Qt.ItemDataRole.UserRole + 2
Index = QModelIndex | QPersistentModelIndex


# --------------------------------------------------------------------------------------------
# Eliding at word ends
# --------------------------------------------------------------------------------------------

def elide_words(text: str, metrics: QFontMetrics, width: int) -> str:
    """``text`` cut after the last whole word that fits in ``width`` px, with "…" (a single
    word too long for the space is cut where it must, as Qt does)."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    words = text.split(" ")
    for n in range(len(words) - 1, 0, -1):
        candidate = " ".join(words[:n]).rstrip(" ,;:-–—/(&+") + "…"
        if len(candidate) > 1 and metrics.horizontalAdvance(candidate) <= width:
            return candidate
    return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)


class WordElideDelegate(QStyledItemDelegate):
    """Paints text cells elided at word ends ("A Day in the…", never "A Day in th…")."""

    def paint(self, painter: Any, option: QStyleOptionViewItem, index: Index) -> None:
        text = index.data(Qt.ItemDataRole.DisplayRole)
        # Most cells of the table fit: painted as usual (this runs for every cell on screen,
        # so the style's layout is asked only for text too wide, or beside a cover).
        if not text or (index.data(Qt.ItemDataRole.DecorationRole) is None
                        and option.fontMetrics.horizontalAdvance(text)
                        <= option.rect.width() - 12):
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        # The text's own rectangle (the cell less margins and any icon), as the style lays
        # it out: elided there, at a word end, so the style has nothing left to cut.
        room = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, widget).width()
        opt.text = elide_words(opt.text, opt.fontMetrics, max(room - 2, 8))
        opt.textElideMode = Qt.TextElideMode.ElideNone
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)


# --------------------------------------------------------------------------------------------
# The artist → album tree
# --------------------------------------------------------------------------------------------

class _Artist(NamedTuple):
    """An artist's row and its albums' (tuples: see ArtistRow)."""

    row: ArtistRow
    albums: tuple[AlbumRow, ...]


#: Above this many artists the tree's first level is letters ("A", "B"… each opening onto its
#: artists): a tree view lays out every first-level row at each reset, a Python call or three
#: per row - a second for 30,000 artists.
GROUP_OVER = 1000
#: internalId of an album row: ALBUM_BASE + the artist's place in the list.
ALBUM_BASE = 1 << 24


class _Group:
    """A letter of a big library's tree: artists ``start`` to ``end`` (excluded). A "direct"
    one is a single artist shown as its own first-level row (Various Artists, Unknown
    artist: a letter holding one artist would be a click for nothing)."""

    __slots__ = ("label", "start", "end", "direct")

    def __init__(self, label: str, start: int, end: int, direct: bool = False) -> None:
        self.label, self.start, self.end, self.direct = label, start, end, direct


class _Tree:
    """What the tree shows, prepared on the query thread."""

    __slots__ = ("artists", "groups", "starts")

    def __init__(self, artists: list[_Artist], groups: list[_Group] | None) -> None:
        self.artists = artists
        self.groups = groups
        self.starts = [g.start for g in groups] if groups else []


def _letter(artist: _Artist) -> str:
    key = artist.row.key
    if key == VARIOUS_ARTISTS:
        return "Various Artists"
    if not key:
        return "Unknown artist"
    first = key[0]
    if first.isascii() and first.isalpha():
        return first.upper()
    return "0–9" if first.isdigit() else "Other"


def _tree_rows(library: Library) -> _Tree:
    """The tree's rows, on the query thread: Various Artists first, then artists by key,
    then the tracks without any artist; grouped by letter above GROUP_OVER artists."""
    rows = library.browse_tree()
    various = [r for r in rows if r[0].key == VARIOUS_ARTISTS]
    named = [r for r in rows if r[0].key and r[0].key != VARIOUS_ARTISTS]
    unknown = [r for r in rows if not r[0].key]
    artists = [_Artist(a, albums) for a, albums in various + named + unknown]
    if len(artists) <= GROUP_OVER:
        return _Tree(artists, None)
    groups: list[_Group] = []
    for i, artist in enumerate(artists):
        label = _letter(artist)
        if not artist.row.key or artist.row.key == VARIOUS_ARTISTS:
            groups.append(_Group(label, i, i + 1, direct=True))
        elif groups and groups[-1].label == label and not groups[-1].direct:
            groups[-1].end = i + 1
        else:
            groups.append(_Group(label, i, i + 1))
    return _Tree(artists, groups)


def artist_name(row: ArtistRow) -> str:
    if row.key == VARIOUS_ARTISTS:
        return "Various Artists"
    return row.name or "Unknown artist"


_ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


class BrowserModel(QAbstractItemModel):
    """"All music", then the artists, each with its albums, all read at once on a worker
    thread (opening an artist then inserts nothing: a tree view re-lays out every row after
    an insert, which for 30,000 artists takes a second). An album row shows its cover."""

    #: The artists are in (the list was read).
    artistsShown = Signal()

    def __init__(self, library: Library, covers: CoverThumbnails | None,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.library = library
        self.covers = covers
        self._artists: list[_Artist] = []
        self._groups: list[_Group] | None = None
        self._starts: list[int] = []
        self._bold = QFont()
        self._bold.setBold(True)
        self._cover_rows: dict[int, list[tuple[int, int]]] = {}  # track -> (artist, album)
        self._query = LatestQuery(library, "artist-query", self)
        self._query.done.connect(self._show)
        if covers is not None:
            covers.ready.connect(self._cover_ready)
        self.reload()

    def reload(self) -> None:
        """Read the artists again (after a scan): on the worker thread."""
        self._query.submit(_tree_rows)

    def close(self) -> None:
        self._query.close()

    def busy(self) -> bool:
        return self._query.busy()

    def _show(self, _generation: int, tree: _Tree) -> None:
        # Everything was prepared on the query thread: here only the swap.
        self.beginResetModel()
        self._artists = tree.artists
        self._groups = tree.groups
        self._starts = tree.starts
        self._cover_rows = {}
        self.endResetModel()
        self.artistsShown.emit()

    # -- structure -------------------------------------------------------------------------------
    # internalId: 0 for a first-level row ("All music", an artist, or in a big library a
    # letter); the letter's row for an artist under a letter; ALBUM_BASE + the artist's place
    # in self._artists for an album.

    def _artist_number(self, index: Index) -> int | None:
        """The place in self._artists of an artist row."""
        if not index.isValid():
            return None
        internal = int(index.internalId())
        if internal == 0:
            if index.row() == 0:
                return None
            if self._groups is None:
                return index.row() - 1
            group = self._groups[index.row() - 1]
            return group.start if group.direct else None
        if internal < ALBUM_BASE and self._groups is not None:
            return self._groups[internal - 1].start + index.row()
        return None

    def _group_at(self, index: Index) -> _Group | None:
        if (self._groups is not None and index.isValid() and index.internalId() == 0
                and index.row() > 0):
            group = self._groups[index.row() - 1]
            return None if group.direct else group
        return None

    def artist_index(self, number: int) -> QModelIndex:
        """The row of the artist at ``number`` in the list."""
        if not 0 <= number < len(self._artists):
            return QModelIndex()
        if self._groups is None:
            return self.createIndex(number + 1, 0, 0)
        group = bisect.bisect_right(self._starts, number) - 1
        if self._groups[group].direct:
            return self.createIndex(group + 1, 0, 0)
        return self.createIndex(number - self._groups[group].start, 0, group + 1)

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column != 0 or row < 0 or row >= self.rowCount(parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, 0, 0)
        number = self._artist_number(parent)
        if number is not None:
            return self.createIndex(row, 0, ALBUM_BASE + number)
        if self._group_at(parent) is not None:
            return self.createIndex(row, 0, parent.row())
        return QModelIndex()

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        internal = int(index.internalId())
        if internal < ALBUM_BASE:
            return self.createIndex(internal, 0, 0)  # an artist's letter
        return self.artist_index(internal - ALBUM_BASE)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return 1 + (len(self._groups) if self._groups is not None else len(self._artists))
        number = self._artist_number(parent)
        if number is not None:
            return len(self._artists[number].albums)
        group = self._group_at(parent)
        return group.end - group.start if group is not None else 0

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 1

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        # Every artist has an album (its tracks without one are "Other tracks"): no look-up.
        if not parent.isValid():
            return True
        internal = int(parent.internalId())
        return (internal == 0 and parent.row() > 0) or (0 < internal < ALBUM_BASE)

    # -- content ---------------------------------------------------------------------------------

    def artist_at(self, index: Index) -> ArtistRow | None:
        number = self._artist_number(index)
        return self._artists[number].row if number is not None else None

    def album_at(self, index: Index) -> AlbumRow | None:
        if index.isValid() and index.internalId() >= ALBUM_BASE:
            albums = self._artists[int(index.internalId()) - ALBUM_BASE].albums
            return albums[index.row()] if index.row() < len(albums) else None
        return None

    def scope_of(self, index: Index) -> tuple[str | None, str | None]:
        """(artist key, album key) of a row: (None, None) for "All music" (and a letter)."""
        album = self.album_at(index)
        if album is not None:
            return album.artist_key, album.key
        artist = self.artist_at(index)
        return (artist.key, None) if artist is not None else (None, None)

    def range_of(self, index: Index) -> tuple[str, str] | None:
        """A letter's artists as the keys of its first and last (None for any other row)."""
        group = self._group_at(index)
        if group is None:
            return None
        return self._artists[group.start].row.key, self._artists[group.end - 1].row.key

    def find_letter(self, artist_range: tuple[str, str]) -> QModelIndex:
        """The letter row holding the artist that starts ``artist_range`` (after a rescan:
        the letter it is now under), or an invalid index."""
        for row, group in enumerate(self._groups or ()):
            if not group.direct and (self._artists[group.start].row.key <= artist_range[0]
                                     <= self._artists[group.end - 1].row.key):
                return self.createIndex(row + 1, 0, 0)
        return QModelIndex()

    def artist_count(self) -> int:
        return len(self._artists)

    def find_artist(self, key: str) -> QModelIndex:
        for i, artist in enumerate(self._artists):
            if artist.row.key == key:
                return self.artist_index(i)
        return QModelIndex()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        album = self.album_at(index)
        artist = self.artist_at(index)
        group = self._group_at(index) if album is None and artist is None else None
        if role == KIND_ROLE:
            return "album" if album else "artist" if artist else "letter" if group else "all"
        if role == Qt.ItemDataRole.DisplayRole:
            if group is not None:
                return f"{group.label}  ({group.end - group.start:,})"
            if album is not None:
                name = album.name or "Other tracks"
                return f"{name} ({album.year})" if album.year else name
            if artist is not None:
                return artist_name(artist)
            return "All music"
        if role == Qt.ItemDataRole.ToolTipRole:
            if album is not None:
                by = f" — {album.artist}" if album.artist else ""
                return f"{album.name or 'Other tracks'}{by}\n{album.tracks} tracks"
            if artist is not None:
                return (f"{artist_name(artist)}\n{artist.albums} album"
                        f"{'s' if artist.albums != 1 else ''}, {artist.tracks} tracks")
        if role == Qt.ItemDataRole.DecorationRole and album is not None \
                and self.covers is not None:
            pixmap = self.covers.get(album.cover_track)
            if pixmap is None and not self.covers.known(album.cover_track):
                # Loading: remember where it shows, to repaint it when it comes.
                where = (int(index.internalId()), index.row())
                rows = self._cover_rows.setdefault(album.cover_track, [])
                if where not in rows:
                    rows.append(where)
            return pixmap
        if role == Qt.ItemDataRole.SizeHintRole:
            return QSize(0, ROW_HEIGHT)
        if role == Qt.ItemDataRole.FontRole and album is None:
            return self._bold
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        # Asked of every row at each layout: a constant, not an enum sum each time.
        return _ROW_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def _cover_ready(self, track_id: int) -> None:
        for internal, album_row in self._cover_rows.pop(track_id, ()):
            if internal - ALBUM_BASE < len(self._artists):
                idx = self.createIndex(album_row, 0, internal)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])


# --------------------------------------------------------------------------------------------
# The search box and the track table
# --------------------------------------------------------------------------------------------

class SearchBox(QLineEdit):
    """Escape clears; Down and Enter go to the results."""

    toResults = Signal()

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        key = event.key()
        if key == Qt.Key.Key_Escape and self.text():
            self.clear()
            return
        if key in (Qt.Key.Key_Down, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_PageDown):
            self.toResults.emit()
            return
        super().keyPressEvent(event)


class LibraryTable(QTableView):
    """The track table; Enter plays the selection."""

    activatedRows = Signal(list)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
            if rows:
                self.activatedRows.emit(rows)
                return
        super().keyPressEvent(event)


class BrowserTree(QTreeView):
    """The artist → album tree; Enter plays the selected artist or album."""

    activatedScope = Signal(QModelIndex)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.activatedScope.emit(self.currentIndex())
            return
        super().keyPressEvent(event)


# --------------------------------------------------------------------------------------------
# The pane
# --------------------------------------------------------------------------------------------

class BrowserPane(QWidget):
    """Search box, artist → album tree and track table, with their keys and menus.

    Playback goes through the engine given to :meth:`attach_engine`; ``message(text)`` is for
    the status bar.
    """

    message = Signal(str)

    def __init__(self, library: Library, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.engine: Any = None
        #: ``hook(menu, track ids)`` adds entries to a track menu after "Add to queue" (the
        #: window's "Add to playlist").
        self.track_menu_hooks: list[Any] = []
        self.covers = CoverThumbnails(library, data_dir / "covers",
                                      COVER_SIZE * max(1, round(self.devicePixelRatioF())), self)
        self.model = LibraryModel(library, self)
        self.tree_model = BrowserModel(library, self.covers, self)

        self.search = SearchBox()
        self.search.setPlaceholderText("Search title, artist, album…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._search_changed)
        self.search.toResults.connect(self.focus_results)
        self.count_label = QLabel()
        self.count_label.setStyleSheet("color: palette(placeholder-text);")
        self.find_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self)
        self.find_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        self.find_shortcut.activated.connect(self.focus_search)

        self.tree = BrowserTree()
        self.tree.setModel(self.tree_model)
        self.tree.setHeaderHidden(True)
        self.tree.setIndentation(14)  # room for album names beside their covers
        self.tree.setUniformRowHeights(True)
        self.tree.setIconSize(QSize(COVER_SIZE, COVER_SIZE))
        self.tree.setItemDelegate(WordElideDelegate(self.tree))
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._tree_menu)
        # A double-click plays an album; on an artist it opens or closes its albums (Enter
        # or the menu plays all of them).
        self.tree.doubleClicked.connect(
            lambda index: self.play_scope(index) if self.tree_model.album_at(index) else None)
        self.tree.activatedScope.connect(self.play_scope)
        self.tree.selectionModel().currentChanged.connect(self._scope_changed)
        self.tree_model.artistsShown.connect(self._artists_shown)

        self.table = LibraryTable()
        self.table.setModel(self.model)
        self._elide = WordElideDelegate(self.table)
        for col in range(3):  # title, artist, album (numbers never need eliding)
            self.table.setItemDelegateForColumn(col, self._elide)
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        vertical = self.table.verticalHeader()
        vertical.hide()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # a million rows, one size
        vertical.setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(36)
        # Title, artist and album share the width; duration and plays keep theirs, so that a
        # narrow window (760 px) still shows them instead of scrolling them away.
        for col in range(len(COLUMNS)):
            if col < 3:
                header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
            else:
                header.setSectionResizeMode(col, QHeaderView.ResizeMode.Fixed)
                header.resizeSection(col, 62 if col == 3 else 46)
        self.table.doubleClicked.connect(self._play_index)
        self.table.activatedRows.connect(self.play_rows)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._table_menu)

        self.no_results = QLabel(self.table.viewport())
        self.no_results.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_results.setWordWrap(True)
        self.no_results.setStyleSheet("color: palette(placeholder-text); padding: 24px;")
        self.no_results.hide()
        self.model.resultsShown.connect(self._results_shown)
        self.model.queryFailed.connect(lambda error: self.message.emit(str(error)))

        search_row = QHBoxLayout()
        search_row.addWidget(self.search, 1)
        search_row.addWidget(self.count_label)
        self.splitter = QSplitter()
        self.splitter.addWidget(self.tree)
        self.splitter.addWidget(self.table)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([260, 580])
        self.splitter.setCollapsible(1, False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(search_row)
        layout.addWidget(self.splitter, 1)

    # -- state -----------------------------------------------------------------------------------

    def attach_engine(self, engine: Any) -> None:
        self.engine = engine

    def reload(self) -> None:
        """The library changed (a scan, an import): read the table and the artists again."""
        self.model.reload(changed=True)
        self.tree_model.reload()

    def close_queries(self) -> None:
        """Stop the worker threads (before the library closes)."""
        self.model.close()
        self.tree_model.close()
        self.covers.close()

    def busy(self) -> bool:
        """True while the table or the artists wait for a query's answer."""
        return self.model.busy() or self.tree_model.busy()

    # -- searching -------------------------------------------------------------------------------

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _search_changed(self, text: str) -> None:
        # A search looks through the whole library: the browser's selection steps back to
        # "All music" (clicking an artist or album afterwards clears the search).
        if text and self.model.scope().browsing:
            self.model.set_scope(None)
            self._select_tree_row(self.tree_model.index(0, 0))
        self.model.set_filter(text)

    def focus_results(self) -> None:
        """Down or Enter in the search box: the first result, selected, keyboard in the table."""
        if self.model.filter_text() != self.search.text():
            self.model.set_filter(self.search.text())
        self.table.setFocus(Qt.FocusReason.OtherFocusReason)
        if self.model.total() and not self.table.selectionModel().hasSelection():
            self.table.selectRow(0)
        elif self.model.busy():  # the answer is on its way: select when it comes
            self._select_first_when_shown = True

    _select_first_when_shown = False

    def _results_shown(self, total: int) -> None:
        n = f"{total:,} track{'s' if total != 1 else ''}"
        self.count_label.setText(n)
        text = self.model.filter_text()
        if total == 0 and text:
            self.no_results.setText(f"No tracks match “{text}”.\nCheck the spelling, or "
                                    "try fewer words (Escape clears the search).")
        self.no_results.setVisible(total == 0 and bool(text))
        self.no_results.resize(self.table.viewport().size())
        if self._select_first_when_shown and total:
            self._select_first_when_shown = False
            if self.table.hasFocus():
                self.table.selectRow(0)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        QTimer.singleShot(0, lambda: self.no_results.resize(self.table.viewport().size()))

    # -- browsing --------------------------------------------------------------------------------

    def _select_tree_row(self, index: QModelIndex) -> None:
        selection = self.tree.selectionModel()
        selection.blockSignals(True)
        self.tree.setCurrentIndex(index)
        selection.blockSignals(False)

    def _artists_shown(self) -> None:
        scope = self.model.scope()
        index = self.tree_model.index(0, 0)
        if scope.artist_key is not None:
            found = self.tree_model.find_artist(scope.artist_key)
            if found.isValid():
                index = found
            else:  # gone after a rescan
                self.model.set_scope(None)
        elif scope.artist_range is not None:
            found = self.tree_model.find_letter(scope.artist_range)
            if found.isValid():  # the letter's artists as they are now
                index = found
                self.model.set_scope(None, None, self.tree_model.range_of(found))
            else:  # no longer grouped by letter, or the letter is gone
                self.model.set_scope(None)
        self._select_tree_row(index)

    def _scope_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        artist_key, album_key = self.tree_model.scope_of(current)
        letter = self.tree_model.range_of(current)  # a big library's letter: its artists
        if (artist_key is not None or letter is not None) and self.search.text():
            self.search.blockSignals(True)  # browsing replaces the search
            self.search.clear()
            self.search.blockSignals(False)
            self.model.set_filter("")
        self.model.set_scope(artist_key, album_key, letter)

    def scope_track_ids(self, index: Index) -> list[int]:
        """The tracks of a tree row in playing order: an album by disc and track; an artist
        album by album (oldest first); "All music": nothing (it is not played at once)."""
        album = self.tree_model.album_at(index)
        if album is not None:
            return self.album_track_ids(album.artist_key, album.key)
        artist = self.tree_model.artist_at(index)
        if artist is None:
            return []
        ids: list[int] = []
        for row in self.library.browse_albums(artist.key):
            ids += self.album_track_ids(artist.key, row.key)
        return ids

    def album_track_ids(self, artist_key: str, album_key: str) -> list[int]:
        """An album's tracks in playing order (disc, then track number)."""
        return self.library.browse_track_ids(TrackFilter(artist_key=artist_key,
                                                         album_key=album_key), "position")

    def play_scope(self, index: QModelIndex) -> None:
        """Play an album in order (or an artist's albums), then the auto-queue continues."""
        self.play_in_order(self.scope_track_ids(index))

    def play_in_order(self, ids: list[int]) -> None:
        """Play ``ids`` now, one after the other, ahead of the queue."""
        if not ids or self.engine is None:
            return
        self.engine.play_track(ids[0], "user")
        if len(ids) > 1:
            self.engine.enqueue(ids[1:], front=True)

    def start_radio(self, seed: int, what: str) -> None:
        """Play ``seed`` now instead of the queue; the auto-queue's model continues from it."""
        if self.engine is None:
            return
        self.engine.clear_queue()
        self.engine.play_track(seed, "user")
        self.message.emit(f"Radio from {what}: Segue continues from here")

    def _radio_seed(self, ids: list[int]) -> int | None:
        """The most played of these tracks (the first on a tie or none played)."""
        ids = ids[:2000]
        if not ids:
            return None
        rows = self.library.browse_rows(ids)
        best = max(range(len(ids)), key=lambda i: (rows[ids[i]].plays if ids[i] in rows
                                                   else -1, -i))
        return ids[best]

    # -- the track table -------------------------------------------------------------------------

    def selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.table.selectionModel().selectedRows()})

    def selected_ids(self) -> list[int]:
        return self.model.track_ids(self.selected_rows())

    def _play_index(self, index: QModelIndex) -> None:
        tid = index.data(TRACK_ID_ROLE)
        if tid is not None and self.engine is not None:
            self.engine.play_track(tid, "user")

    def play_rows(self, rows: list[int]) -> None:
        self.play_in_order(self.model.track_ids(rows))

    def show_track(self, track_id: int) -> bool:
        """Scroll to a track and select it (the playing one, on request: the list never
        jumps by itself). False when it is not in the list shown."""
        row = self.model.row_of(track_id)
        if row is None:
            return False
        index = self.model.index(row, 0)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        self.table.selectRow(row)
        return True

    def _table_menu(self, pos: Any) -> None:
        ids = self.selected_ids()
        if not ids or self.engine is None:
            return
        menu = self.track_menu(ids)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    def track_menu(self, ids: list[int]) -> QMenu:
        """The context menu of selected tracks (returned unshown: tests trigger its actions)."""
        menu = QMenu(self)
        menu.addAction("Play", lambda: self.play_in_order(ids))
        menu.addAction("Play next", lambda: self.engine.enqueue(ids, front=True))
        menu.addAction("Add to queue", lambda: self.engine.enqueue(ids))
        for hook in self.track_menu_hooks:
            hook(menu, ids)
        track = self.library.track(ids[0])
        artist_key, album_key = (track.artist_key, track.album_key) if track else (None, None)
        if album_key:
            menu.addAction("Play the whole album",
                           lambda: self.play_in_order(self.album_track_ids(artist_key,
                                                                           album_key)))
        menu.addSeparator()
        title = (track.title if track else None) or "this track"
        menu.addAction("Start radio from this track",
                       lambda: self.start_radio(ids[0], f"“{title}”"))
        if track is not None and (track.artist or track.albumartist):
            menu.addAction("Start radio from this artist",
                           lambda: self._radio_from_artist(track))
        if album_key:
            menu.addAction("Start radio from this album",
                           lambda: self._radio_from(artist_key, album_key,
                                                    f"the album “{track.album}”"))
        menu.addSeparator()
        rows = self.library.tracks_by_id(ids)
        excluded = all(t in rows and rows[t].no_autoqueue for t in ids)
        act = menu.addAction("Don't auto-queue this track" if len(ids) == 1
                             else "Don't auto-queue these tracks")
        act.setCheckable(True)
        act.setChecked(excluded)
        act.triggered.connect(lambda checked: self._set_no_autoqueue(ids, checked))
        return menu

    def _radio_from_artist(self, track: Track) -> None:
        """The track's own artist (a compilation's track: its performer, not "Various
        Artists"): their most played track, else this one."""
        name = track.artist or track.albumartist or ""
        key = browse_keys({"artist": name})[0]
        ids = self.library.browse_track_ids(TrackFilter(artist_key=key), "position")
        seed = self._radio_seed(ids or [track.id])
        if seed is not None:
            self.start_radio(seed, name)

    def _radio_from(self, artist_key: str | None, album_key: str | None, what: str) -> None:
        ids = self.library.browse_track_ids(TrackFilter(artist_key=artist_key,
                                                        album_key=album_key), "position")
        seed = self._radio_seed(ids)
        if seed is not None:
            self.start_radio(seed, what)

    def _set_no_autoqueue(self, ids: list[int], value: bool) -> None:
        for tid in ids:
            self.library.set_no_autoqueue(tid, value)
        if self.engine is not None:
            self.engine.repick()

    def _tree_menu(self, pos: Any) -> None:
        index = self.tree.indexAt(pos)
        menu = self.tree_menu(index)
        if menu is not None:
            menu.exec(self.tree.viewport().mapToGlobal(pos))

    def tree_menu(self, index: Index) -> QMenu | None:
        """The context menu of an artist or album (returned unshown: tests use its actions)."""
        if self.engine is None:
            return None
        album = self.tree_model.album_at(index)
        artist = self.tree_model.artist_at(index)
        if album is None and artist is None:
            return None
        menu = QMenu(self)
        ids = self.scope_track_ids(index)
        menu.addAction("Play" if album is None else "Play album", lambda: self.play_in_order(ids))
        menu.addAction("Play next", lambda: self.engine.enqueue(ids, front=True))
        menu.addAction("Add to queue", lambda: self.engine.enqueue(ids))
        menu.addSeparator()
        if album is not None:
            menu.addAction("Start radio from this album", lambda: self._radio_from(
                album.artist_key, album.key, f"the album “{album.name or 'Other tracks'}”"))
        else:
            assert artist is not None
            menu.addAction("Start radio from this artist", lambda: self._radio_from(
                artist.key, None, artist_name(artist)))
        return menu
