"""Playlists in the library database: imported ones, those made in Segue, and the play queue.

A playlist is a ``playlists`` row and its ordered ``playlist_items``. Each entry names a
library track, or — for an imported entry that matched nothing, or a track whose folder left
the library — keeps the artist and title it was known by: it is shown greyed, cannot play, and
still teaches the model what follows what (every playlist but the queue feeds training:
:meth:`player.library.db.Library.playlists`).

Kinds (``Playlist.kind``):

* ``imported``: read from an M3U/M3U8 or TSV file (:mod:`player.importer`); importing the same
  file again replaces it;
* ``user``: made in Segue ("Save queue as playlist", "New playlist");
* ``queue``: the one row holding the user's play queue, so that it survives a restart, a crash
  or a kill (it lived in ``settings.json`` before: :meth:`PlaylistStore.adopt_settings_queue`
  moves it here once).

Edits rewrite a playlist's entries in one transaction (a few thousand rows at most: cheaper
and simpler than shifting positions one by one).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from player.library.db import Library

log = logging.getLogger(__name__)

PLAYLIST_KINDS = ("imported", "user", "queue")
QUEUE_NAME = "Play queue"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Playlist:
    """A playlist as the sidebar lists it."""

    id: int
    name: str
    kind: str  # one of PLAYLIST_KINDS
    source_path: str | None  # the file it was imported from (``path#name`` for a TSV)
    entries: int  # how many entries
    playable: int  # of which name a present library track


@dataclass(frozen=True, slots=True)
class Entry:
    """One playlist entry: a library track (``track_id``), or only the text it was known by.

    ``artist``/``title`` are the track's own when it is in the library, else the entry's.
    """

    track_id: int | None
    artist: str | None
    title: str | None
    album: str | None = None
    duration_ms: int | None = None
    path: str | None = None
    present: bool = False  # a library track whose file is there: it can play

    def label(self) -> str:
        """"Title — Artist", as lists show an entry."""
        return f"{self.title or '?'} — {self.artist or 'Unknown artist'}"


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What :meth:`PlaylistStore.export_m3u8` wrote."""

    path: Path
    written: int
    skipped: int  # entries with no file (not in the library): an M3U line needs a location


class PlaylistStore:
    """Reads and edits the playlists of a :class:`Library` (thread-safe as the library is)."""

    def __init__(self, library: Library) -> None:
        self.library = library

    # -- reading -----------------------------------------------------------------------------

    def all(self) -> list[Playlist]:
        """Every playlist but the queue: Segue's own first, then imported, each by name."""
        rows = self.library.db.conn.execute(
            "SELECT p.id, p.name, p.kind, p.source_path, count(i.position), "
            "count(CASE WHEN t.missing = 0 THEN 1 END) FROM playlists p "
            "LEFT JOIN playlist_items i ON i.playlist_id = p.id "
            "LEFT JOIN tracks t ON t.id = i.track_id "
            "WHERE p.kind != 'queue' GROUP BY p.id "
            "ORDER BY p.kind = 'imported', p.name COLLATE NOCASE, p.id")
        return [Playlist(*r) for r in rows]

    def get(self, playlist_id: int) -> Playlist | None:
        return next((p for p in self.all() if p.id == playlist_id), None)

    def entries(self, playlist_id: int) -> list[Entry]:
        """The playlist's entries in order."""
        rows = self.library.db.conn.execute(
            "SELECT i.track_id, coalesce(t.artist, i.artist), coalesce(t.title, i.title), "
            "t.album, t.duration_ms, t.path, coalesce(t.missing = 0, 0) "
            "FROM playlist_items i LEFT JOIN tracks t ON t.id = i.track_id "
            "WHERE i.playlist_id = ? ORDER BY i.position", (playlist_id,))
        return [Entry(tid, a, ti, al, d, p, bool(present))
                for tid, a, ti, al, d, p, present in rows]

    def playable_ids(self, playlist_id: int) -> list[int]:
        """The entries that can play (present library tracks), in order."""
        return [e.track_id for e in self.entries(playlist_id)
                if e.present and e.track_id is not None]

    def names(self) -> set[str]:
        return {p.name for p in self.all()}

    def unique_name(self, base: str) -> str:
        """``base``, or ``base (2)``, ``base (3)``... whichever no playlist has yet."""
        taken = {n.casefold() for n in self.names()}
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base} ({n})"
        return name

    # -- editing -----------------------------------------------------------------------------

    def create(self, name: str, track_ids: Iterable[int] = ()) -> int:
        """A new playlist of Segue's own with these tracks; returns its id."""
        name = name.strip() or "Playlist"
        with self.library.transaction() as db:
            cur = db.conn.execute(
                "INSERT INTO playlists(name, source_path, imported_at, kind, updated_at) "
                "VALUES (?, NULL, ?, 'user', ?)", (name, time.time(), time.time()))
            playlist_id = int(cur.lastrowid)
            self._write(playlist_id, [(t, None, None) for t in track_ids])
        return playlist_id

    def rename(self, playlist_id: int, name: str) -> None:
        name = name.strip()
        if not name:
            raise ValueError("a playlist needs a name")
        with self.library.transaction() as db:
            db.conn.execute("UPDATE playlists SET name = ?, updated_at = ? WHERE id = ?",
                            (name, time.time(), playlist_id))

    def delete(self, playlist_id: int) -> None:
        """Delete a playlist (never the queue's row) and its entries."""
        with self.library.transaction() as db:
            db.conn.execute("DELETE FROM playlists WHERE id = ? AND kind != 'queue'",
                            (playlist_id,))

    def set_entries(self, playlist_id: int, entries: Sequence[Entry]) -> None:
        """Rewrite the playlist with these entries (reordered, some removed, some added)."""
        with self.library.transaction() as db:
            db.conn.execute("UPDATE playlists SET updated_at = ? WHERE id = ?",
                            (time.time(), playlist_id))
            self._write(playlist_id, [(e.track_id, e.artist, e.title) for e in entries])

    def append(self, playlist_id: int, track_ids: Sequence[int]) -> None:
        """Add tracks at the end of a playlist."""
        with self.library.transaction() as db:
            start = db.conn.execute(
                "SELECT coalesce(max(position) + 1, 0) FROM playlist_items "
                "WHERE playlist_id = ?", (playlist_id,)).fetchone()[0]
            db.conn.executemany(
                "INSERT INTO playlist_items(playlist_id, position, track_id) VALUES (?, ?, ?)",
                [(playlist_id, start + i, t) for i, t in enumerate(track_ids)])
            db.conn.execute("UPDATE playlists SET updated_at = ? WHERE id = ?",
                            (time.time(), playlist_id))

    def _write(self, playlist_id: int,
               items: Sequence[tuple[int | None, str | None, str | None]]) -> None:
        """Replace the entries (inside the caller's transaction)."""
        conn = self.library.db.conn
        conn.execute("DELETE FROM playlist_items WHERE playlist_id = ?", (playlist_id,))
        conn.executemany(
            "INSERT INTO playlist_items(playlist_id, position, track_id, artist, title) "
            "VALUES (?, ?, ?, ?, ?)",
            [(playlist_id, i, t, a, ti) for i, (t, a, ti) in enumerate(items)])

    # -- the play queue ----------------------------------------------------------------------

    def _queue_id(self) -> int | None:
        row = self.library.db.conn.execute(
            "SELECT id FROM playlists WHERE kind = 'queue'").fetchone()
        return int(row[0]) if row else None

    def load_queue(self) -> list[int]:
        """The saved play queue: its tracks still in the library, in order."""
        queue_id = self._queue_id()
        return [] if queue_id is None else self.playable_ids(queue_id)

    def save_queue(self, track_ids: Sequence[int]) -> None:
        """Store the play queue (creating its row the first time)."""
        with self.library.transaction() as db:
            queue_id = self._queue_id()
            if queue_id is None:
                queue_id = int(db.conn.execute(
                    "INSERT INTO playlists(name, source_path, imported_at, kind, updated_at) "
                    "VALUES (?, NULL, ?, 'queue', ?)",
                    (QUEUE_NAME, time.time(), time.time())).lastrowid)
            else:
                db.conn.execute("UPDATE playlists SET updated_at = ? WHERE id = ?",
                                (time.time(), queue_id))
            self._write(queue_id, [(t, None, None) for t in track_ids])

    def adopt_settings_queue(self, track_ids: Sequence[int]) -> bool:
        """Move a queue kept in ``settings.json`` by an older Segue into the database, once:
        only when the database has no queue yet. True if it was adopted."""
        if self._queue_id() is not None:
            return False
        known = self.library.tracks_by_id(track_ids)
        self.save_queue([t for t in track_ids if t in known])
        return True

    # -- export ------------------------------------------------------------------------------

    def export_m3u8(self, playlist_id: int, path: str | os.PathLike[str]) -> ExportResult:
        """Write the playlist as an extended M3U in UTF-8 (``.m3u8``), absolute paths.

        Entries without a file cannot be written (an M3U line is a location; a path with a
        line break cannot be one) and are counted in ``skipped``. Written to a temporary file
        first, then renamed: a failed export never leaves half a playlist over an older one.
        """
        target = Path(path)
        lines = ["#EXTM3U"]
        playlist = self.get(playlist_id)
        if playlist is not None:
            lines.append(f"#PLAYLIST:{_one_line(playlist.name)}")
        written = skipped = 0
        for entry in self.entries(playlist_id):
            if entry.path is None or "\n" in entry.path or "\r" in entry.path:
                skipped += 1
                continue
            seconds = round(entry.duration_ms / 1000) if entry.duration_ms else -1
            name = " - ".join(_one_line(p) for p in (entry.artist, entry.title) if p)
            lines.append(f"#EXTINF:{seconds},{name}")
            lines.append(entry.path)
            written += 1
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        log.info("exported playlist %s to %s: %d entries, %d skipped", playlist_id, target,
                 written, skipped)
        return ExportResult(target, written, skipped)


def move_rows(items: Sequence[T], rows: Iterable[int], to: int) -> tuple[list[T], list[int]]:
    """``items`` with those at ``rows`` (kept in their order) moved to stand before the item
    now at ``to`` (``len(items)``: the end), as a drop between two rows does; and the rows
    they land at. Rows out of range are ignored. The queue's and the playlists' one rule."""
    picked = sorted({r for r in rows if 0 <= r < len(items)})
    to = max(0, min(to, len(items)))
    chosen = set(picked)
    moving = [items[r] for r in picked]
    rest = [x for r, x in enumerate(items) if r not in chosen]
    at = to - sum(1 for r in picked if r < to)  # where ``to`` lands once they are out
    return rest[:at] + moving + rest[at:], list(range(at, at + len(moving)))


def _one_line(text: str) -> str:
    return " ".join(text.split())
