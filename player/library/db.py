"""The library database: with its companions in this package (playlists, folders), the only
code that speaks SQL.

One SQLite file, ``<data-dir>/library.db``, in WAL mode so that the GUI can read while a scan or
the listening log writes, and so that a crash or ``SIGKILL`` never corrupts it: every write is a
short transaction, and what was committed survives.

The schema is versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` takes a database of any
earlier version to the current one, each step in one transaction.

Each thread gets its own connection (SQLite connections must not be shared across threads);
:class:`Library` hands them out through :attr:`Library.db`.

Opening checks the file (``PRAGMA quick_check``): Segue never writes into a damaged database.
Damage found at open or later is copied aside first (``library.db.damaged-<time>``, before
anyone tries a repair) and refused with :class:`LibraryDamaged`, naming the copy. Every way
the library can fail a person — missing, damaged, read-only, busy, disk full — is a
:class:`LibraryError` subclass with a one-line message (:func:`library_error` turns
SQLite's exceptions into them).
The file and its ``-wal``/``-shm`` companions are created owner-only (``0600``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import sqlite3
import statistics
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import sqlite_utils

from player.library.paths import to_db
from player.memory import gc_paused
from player.playback.gain import LoudnessInfo, album_loudness, lufs_to_gain
from player.settings import PRIVATE_FILE_MODE, make_private, make_private_dir

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

DB_FILE = "library.db"
#: How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_S = 30.0
#: Imported plays per ``executemany`` (the transaction stays one: see add_imported_listens).
_IMPORT_CHUNK = 20_000
#: A file up to this size is checked (``PRAGMA quick_check``: 0.19 s for 7.8 MB, ``python -m
#: bench dbcheck``) before opening returns; a larger one on a thread of its own, and the first
#: write waits for the verdict - so that a big library still opens at once, and nothing
#: writes into a damaged one.
CHECK_IN_FOREGROUND_BYTES = 16 * 1024 * 1024

#: Columns a scan fills from a file's tags and stat; the rest of ``tracks`` belongs to the app.
TRACK_FIELDS = (
    "path",
    "mtime",
    "size",
    "title",
    "artist",
    "album",
    "albumartist",
    "track_number",
    "disc_number",
    "genre",
    "year",
    "duration_ms",
    "format",
    "has_cover",
    "compilation",  # the file's compilation flag (iTunes' TCMP/cpil, COMPILATION=1)
    "rg_track_gain",  # ReplayGain tags: dB towards -18 LUFS, peaks linear (tags.ReplayGainTags)
    "rg_track_peak",
    "rg_album_gain",
    "rg_album_peak",
    "tags_version",  # derived: which tag reader wrote the row (see TAGS_VERSION)
    "search",  # derived: folded title/artist/album text for the search box (see fold())
    "artist_key",  # derived: the browser's artist, album artist first (see browse_keys())
    "album_key",  # derived: the browser's album within that artist (see browse_keys())
)

LISTEN_SOURCES = ("user", "auto", "import")

#: What the tag reader extracts; raised when it learns a new field (2: ReplayGain, 3: the
#: compilation flag). A row written by an older reader is reported changed to the scanner
#: (:meth:`Library.known_files`), so the next scan reads it again; its stored size and mtime
#: stay as they were.
TAGS_VERSION = 3
#: The loudness analysis's algorithm (player.library.analysis): a row of an older one is redone.
ANALYSIS_VERSION = 1


class LibraryError(Exception):
    """The library database cannot be opened or used; the message says why, for a person."""


class LibraryMissing(LibraryError):
    """There is no library file yet (and the caller asked not to create one)."""


class LibraryDamaged(LibraryError):
    """The file is damaged: Segue will not write into it. ``backup`` is the copy made."""

    def __init__(self, message: str, backup: Path | None = None) -> None:
        super().__init__(message)
        self.backup = backup


class LibraryReadOnly(LibraryError):
    """The file or its folder cannot be written."""


class LibraryBusy(LibraryError):
    """Another program held the write lock longer than the busy timeout: try again later."""


class LibraryFull(LibraryError):
    """The disk (or quota) holding the library is full."""


#: SQLite's primary result codes (``sqlite3.Error.sqlite_errorcode & 0xff``) by meaning.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_IOERR = 5, 6, 8, 10
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 11, 13, 14, 26


def library_error(exc: BaseException, path: Path) -> LibraryError | None:
    """The one-line :class:`LibraryError` for an exception met while using the library at
    ``path``, or None when it is not a problem of the library's file or disk (a bug)."""
    if isinstance(exc, LibraryError):
        return exc
    folder = path.parent
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return LibraryFull(f"no space left on the disk holding {exc.filename or folder}")
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return LibraryReadOnly(f"cannot write {exc.filename or folder}: "
                                   f"{(exc.strerror or str(exc)).lower()}")
        return LibraryError(f"{exc.filename or folder}: {(exc.strerror or str(exc)).lower()}")
    if not isinstance(exc, sqlite3.Error):
        return None
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    text = " ".join(str(exc).split())[:300]  # one line
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in text:
        return LibraryBusy(
            f"the library {path} is busy: another program has held its write lock for over "
            f"{BUSY_TIMEOUT_S:.0f} s; try again when it is done")
    if code == _SQLITE_FULL or (code == _SQLITE_IOERR and _disk_full(folder)):
        return LibraryFull(f"no space left on the disk holding {path}; nothing was lost, "
                           "free some space and try again")
    if code == _SQLITE_READONLY or "readonly" in text:
        return LibraryReadOnly(f"the library {path} is read-only; Segue needs to write to it "
                               "and to its folder")
    if code == _SQLITE_CORRUPT or "malformed" in text:
        return damaged(path, text)
    if code == _SQLITE_NOTADB:
        return LibraryError(f"cannot open the library {path}: {text}")
    if code == _SQLITE_CANTOPEN:
        return LibraryError(f"cannot open the library {path}: {text} (is its folder "
                            "readable and writable?)")
    return LibraryError(f"the library {path}: {text}")


def damaged(path: Path, detail: str) -> LibraryDamaged:
    """The error for a damaged library at ``path``, after copying the file aside (once per
    damaged state, before anyone tries a repair): its message names the copy."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(_mtime(path)))
    backup: Path | None = path.with_name(f"{path.name}.damaged-{stamp}")
    try:
        if not backup.exists():  # the same damaged file is copied once
            for suffix in ("", "-wal"):
                source = path.with_name(path.name + suffix)
                if source.exists():
                    target = backup.with_name(backup.name + suffix)
                    shutil.copyfile(source, target)
                    make_private(target)
        saved = f"A copy is at {backup}"
    except OSError as exc:
        backup, saved = None, f"It could not be copied aside ({exc.strerror or exc})"
    detail = " ".join(detail.split())
    log.error("library %s is damaged: %s", path, detail)
    salvage = f" (to salvage its rows: sqlite3 {backup} .recover | sqlite3 {path})"
    return LibraryDamaged(
        f"the library {path} is damaged ({detail[:120]}); Segue will not write to it. "
        f"{saved}. Move {path.name} away to start a new library{salvage if backup else ''}",
        backup)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def _quick_check(conn: sqlite3.Connection) -> None:
    """``PRAGMA quick_check``: raise SQLite's "malformed" error for a damaged file."""
    problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    if problems != ["ok"]:
        detail = " ".join(" ".join(map(str, problems)).split())  # one line
        raise sqlite3.DatabaseError(f"database disk image is malformed: {detail[:200]}")


def _disk_full(folder: Path) -> bool:
    """SQLite reports some full disks as a bare I/O error: look at the free space."""
    try:
        return shutil.disk_usage(folder).free < 64 * 1024
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class AnalysisTask:
    """A track the loudness analysis has to (re)do: its file as the library knows it."""

    track_id: int
    path: str
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class Measurement:
    """What the loudness analysis measured in one file (player.library.analysis)."""

    #: Integrated loudness (EBU R128 / ITU-R BS.1770), LUFS; None for silence or a file
    #: shorter than one 400 ms block.
    integrated_lufs: float | None
    #: Sample peak, linear (1.0 = full scale).
    peak: float
    #: Silence (below the analysis' threshold) before the first and after the last sound.
    lead_silence_ms: int
    trail_silence_ms: int
    #: The decoded length.
    duration_ms: int


@dataclass(frozen=True, slots=True)
class KnownFile:
    """What a scan needs to know about a file already in the library."""

    id: int
    size: int
    mtime: float
    missing: bool


@dataclass(frozen=True, slots=True)
class TrackFilter:
    """Which tracks the track table shows: the search text, within an artist of the browser
    (its key, see :func:`browse_keys`) and one of its albums, or within everything (None).
    ``artist_range`` (without ``artist_key``): the artists whose keys lie between these two,
    both included, "Various Artists" excepted - a letter of a big library's tree."""

    text: str = ""
    artist_key: str | None = None
    album_key: str | None = None
    artist_range: tuple[str, str] | None = None

    @property
    def browsing(self) -> bool:
        """Within part of the library (an artist, an album, a letter), not all of it."""
        return self.artist_key is not None or self.artist_range is not None


@dataclass(frozen=True, slots=True)
class TrackRow:
    """One line of the track table."""

    id: int
    title: str
    artist: str | None
    album: str | None
    duration_ms: int | None
    plays: int


class ArtistRow(NamedTuple):
    """An artist of the browser: albums credited to them (as album artist, else artist).

    A named tuple, not a dataclass, like :class:`AlbumRow`: a library holds hundreds of
    thousands of these, and tuples of plain values leave the garbage collector's lists (a
    full collection over dataclass instances of 1.5M tracks' albums took 150 ms)."""

    key: str  # browse_keys()'s artist key: "" for tracks without any artist
    name: str  # as tagged (one of the spellings)
    albums: int
    tracks: int


class AlbumRow(NamedTuple):
    """An album of the browser."""

    artist_key: str
    key: str  # browse_keys()'s album key: "" for the artist's tracks without an album
    name: str
    artist: str
    year: int | None
    tracks: int
    cover_track: int  # the track whose cover stands for the album


@dataclass(frozen=True, slots=True)
class Track:
    """One track of the library, as stored (tags as read; None where a tag is absent)."""

    id: int
    path: str
    title: str
    artist: str | None = None
    album: str | None = None
    albumartist: str | None = None
    track_number: int | None = None
    disc_number: int | None = None
    genre: str | None = None  # several genres are joined by NUL
    year: int | None = None
    duration_ms: int | None = None
    format: str | None = None
    has_cover: bool = False
    compilation: bool = False  # the file's compilation flag
    mtime: float = 0.0
    size: int = 0
    added_at: float = 0.0
    missing: bool = False  # the file was not found at the last scan
    no_autoqueue: bool = False  # the user's "don't auto-queue this track"
    play_error: str | None = None  # why it failed to play last time
    rg_track_gain: float | None = None  # ReplayGain tags
    rg_track_peak: float | None = None
    rg_album_gain: float | None = None
    rg_album_peak: float | None = None
    artist_key: str | None = None  # the browser's keys (browse_keys)
    album_key: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Track":
        """From a ``SELECT *`` row of the tracks table (columns it does not know are left)."""
        values = {name: row[name] for name in _TRACK_ATTRS if name in row}
        for flag in _TRACK_FLAGS:  # stored as 0/1
            if flag in values:
                values[flag] = bool(values[flag])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class QueueableTrack:
    """A track the auto-queue may pick, as its pickers see it (:meth:`Library.
    queueable_tracks`): only what they read, because every pick reads all of them."""

    id: int
    title: str
    artist: str | None
    album: str | None
    albumartist: str | None
    genre: str | None
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class TrackMeta:
    """What identifies a track, present or missing (:meth:`Library.all_track_meta`): for
    the importer's matching of a history's plays and playlists' entries."""

    id: int
    path: str
    title: str
    artist: str | None
    album: str | None
    albumartist: str | None
    genre: str | None
    duration_ms: int | None
    missing: bool


@dataclass(frozen=True, slots=True)
class ScanError:
    """A file a scan could not read, and why (in words for the user)."""

    path: str
    reason: str
    seen_at: float


@dataclass(frozen=True, slots=True)
class Listen:
    """One play in the listening log: Segue's own, or imported (then ``artist``/``title`` are
    the history's words, and ``track_id`` is None when no library track matched)."""

    id: int
    track_id: int | None
    started_at: float
    ended_at: float | None  # None while it plays (or when the app was killed mid-song)
    played_ms: int | None
    skipped: bool | None  # None until the listen is closed
    source: str  # "user", "auto" or "import"
    session_id: int | None
    artist: str | None = None
    title: str | None = None
    album: str | None = None
    import_key: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Listen":
        skipped = row["skipped"]
        return cls(row["id"], row["track_id"], row["started_at"], row["ended_at"],
                   row["played_ms"], None if skipped is None else bool(skipped), row["source"],
                   row["session_id"], row.get("artist"), row.get("title"), row.get("album"),
                   row.get("import_key"))


@dataclass(frozen=True, slots=True)
class OpenListen:
    """A listen never closed (the app was killed mid-song), with its track's length."""

    id: int
    track_id: int | None
    started_at: float
    played_ms: int | None
    duration_ms: int | None


@dataclass(frozen=True, slots=True)
class PlaylistTracks:
    """A playlist as training reads it: its entries' track ids in order (None: unmatched)."""

    id: int
    name: str
    source_path: str | None
    track_ids: tuple[int | None, ...]


_Row = TypeVar("_Row")


def _row_maker(cls: type[_Row], **convert: Callable[[Any], Any]) -> Callable[[Sequence[Any]], _Row]:
    """A fast maker of ``cls`` (a frozen slots dataclass) from a row holding its fields in
    order, passing a field through ``convert[name]`` when one is given.

    A frozen dataclass's own ``__init__`` sets each field through ``object.__setattr__``:
    for the 100,000 rows of a bulk read that made typed rows 1.2-1.5x as slow as dicts
    (``python -m bench rows``). This maker sets the slots' descriptors directly, in code
    written once per class from its field names (as :mod:`dataclasses` writes ``__init__``).
    """
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = ["def make(row):", "    obj = _new(_cls)"]
    for i, field in enumerate(fields(cls)):  # type: ignore[arg-type]
        name = field.name
        env[f"_set_{name}"] = getattr(cls, name).__set__
        value = f"row[{i}]"
        if name in convert:
            env[f"_convert_{name}"] = convert.pop(name)
            value = f"_convert_{name}({value})"
        lines.append(f"    _set_{name}(obj, {value})")
    if convert:
        raise ValueError(f"{cls.__name__} has no field {sorted(convert)}")
    lines.append("    return obj")
    exec("\n".join(lines), env)  # field names of our own classes, nothing from outside
    return env["make"]


_queueable_row = _row_maker(QueueableTrack)
_track_meta_row = _row_maker(TrackMeta, missing=bool)
_TRACK_ATTRS = tuple(f.name for f in fields(Track))
_TRACK_FLAGS = ("has_cover", "compilation", "missing", "no_autoqueue")


# --------------------------------------------------------------------------------------------
# Schema and migrations
# --------------------------------------------------------------------------------------------

_SCHEMA_V1 = """
CREATE TABLE roots (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    added_at REAL NOT NULL
);
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    mtime REAL NOT NULL,
    size INTEGER NOT NULL,
    title TEXT NOT NULL,
    artist TEXT,
    album TEXT,
    albumartist TEXT,
    track_number INTEGER,
    disc_number INTEGER,
    genre TEXT,
    year INTEGER,
    duration_ms INTEGER,
    format TEXT,
    has_cover INTEGER NOT NULL DEFAULT 0,
    added_at REAL NOT NULL,
    missing INTEGER NOT NULL DEFAULT 0 CHECK (missing IN (0, 1))
);
CREATE INDEX tracks_artist ON tracks(artist);
CREATE INDEX tracks_album ON tracks(album);
CREATE TABLE listens (
    id INTEGER PRIMARY KEY,
    track_id INTEGER REFERENCES tracks(id),
    started_at REAL NOT NULL,
    ended_at REAL,
    played_ms INTEGER,
    skipped INTEGER CHECK (skipped IN (0, 1)),
    source TEXT NOT NULL CHECK (source IN ('user', 'auto', 'import')),
    session_id INTEGER
);
CREATE INDEX listens_track ON listens(track_id);
CREATE INDEX listens_started ON listens(started_at);
CREATE TABLE scan_errors (
    path TEXT NOT NULL PRIMARY KEY,
    reason TEXT NOT NULL,
    seen_at REAL NOT NULL,
    -- the failed file's size and mtime: an unchanged broken file is not read again
    size INTEGER,
    mtime REAL
);
"""


def _run_script(db: sqlite_utils.Database, script: str) -> None:
    # Not executescript(): it COMMITs first, which would split a migration in two.
    for statement in script.split(";"):
        if statement.strip():
            db.conn.execute(statement)


def _migrate_to_1(db: sqlite_utils.Database) -> None:
    _run_script(db, _SCHEMA_V1)


_SCHEMA_V2 = """
ALTER TABLE tracks ADD COLUMN no_autoqueue INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tracks ADD COLUMN play_error TEXT;
ALTER TABLE listens ADD COLUMN artist TEXT;
ALTER TABLE listens ADD COLUMN title TEXT;
ALTER TABLE listens ADD COLUMN album TEXT;
ALTER TABLE listens ADD COLUMN import_key TEXT;
CREATE UNIQUE INDEX listens_import_key ON listens(import_key) WHERE import_key IS NOT NULL;
CREATE INDEX listens_session ON listens(session_id);
CREATE TABLE playlists (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    source_path TEXT UNIQUE,
    imported_at REAL NOT NULL
);
CREATE TABLE playlist_items (
    playlist_id INTEGER NOT NULL REFERENCES playlists(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    track_id INTEGER REFERENCES tracks(id),
    artist TEXT,
    title TEXT,
    PRIMARY KEY (playlist_id, position)
)
"""


def _migrate_to_2(db: sqlite_utils.Database) -> None:
    """Auto-queue opt-out and playback errors per track; imported listens keep their text
    (an unmatched import still teaches the model) and a key that makes re-imports no-ops;
    imported playlists."""
    _run_script(db, _SCHEMA_V2)


def fold(text: str) -> str:
    """Text as the search box compares it: compatibility forms unified, case and accents
    dropped ("Björk", "BJORK" and "bjork" are one), white space collapsed."""
    if text.isascii():  # most tags: nothing to decompose (a scan folds every track's text)
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def search_fold(text: str) -> str:
    """:func:`fold`, and punctuation dropped (apostrophes, quotes, dashes, dots, slashes…):
    what the search box and the browser compare, so that "gods" finds "God's", "sandras"
    finds "Sandra’s" and "jayz" finds "Jay-Z". A word cut in two by a dash stays one word;
    the search matches each typed word anywhere, so "jay z" finds it too."""
    folded = fold(text)
    if folded.isalnum():
        return folded
    kept = "".join(c for c in folded if not unicodedata.category(c).startswith("P"))
    return " ".join(kept.split())


#: Album artists meaning "a compilation": their albums gather under one "Various Artists".
VARIOUS_ARTISTS_KEYS = frozenset({"various artists", "various", "va", "v a", "varios artistas",
                                  "verschiedene interpreten", "artistes divers", "vários artistas",
                                  "artisti vari", "diverse artiesten", "compilation"})
VARIOUS_ARTISTS = "various artists"


def browse_keys(row: dict[str, Any]) -> tuple[str, str]:
    """``(artist key, album key)`` a track is browsed under: the album artist first (a
    compilation's tracks have one album artist and many artists), else the artist, folded
    as the search is; every spelling of "Various Artists" is one key; "" for none. A track
    flagged as part of a compilation without an album artist is under "Various Artists" too
    (a named album artist wins: a DJ's mix is theirs)."""
    albumartist = row.get("albumartist")
    if not albumartist and row.get("compilation"):
        return VARIOUS_ARTISTS, search_fold(str(row.get("album") or ""))
    artist = search_fold(str(albumartist or row.get("artist") or ""))
    if artist in VARIOUS_ARTISTS_KEYS:
        artist = VARIOUS_ARTISTS
    return artist, search_fold(str(row.get("album") or ""))


def search_text(row: dict[str, Any]) -> str:
    """The folded text a track is found by."""
    parts = (row.get("title"), row.get("artist"), row.get("album"), row.get("albumartist"))
    return search_fold(" ".join(p for p in parts if p))


def _migrate_to_3(db: sqlite_utils.Database) -> None:
    """Unicode-aware search (SQLite's LIKE folds ASCII only): a folded text column."""
    db.conn.execute("ALTER TABLE tracks ADD COLUMN search TEXT")
    rows = db.conn.execute("SELECT id, title, artist, album, albumartist FROM tracks").fetchall()
    db.conn.executemany(
        "UPDATE tracks SET search = ? WHERE id = ?",
        [(search_text({"title": t, "artist": a, "album": al, "albumartist": aa}), i)
         for i, t, a, al, aa in rows],
    )


_SCHEMA_V4 = """
ALTER TABLE tracks ADD COLUMN rg_track_gain REAL;
ALTER TABLE tracks ADD COLUMN rg_track_peak REAL;
ALTER TABLE tracks ADD COLUMN rg_album_gain REAL;
ALTER TABLE tracks ADD COLUMN rg_album_peak REAL;
ALTER TABLE tracks ADD COLUMN tags_version INTEGER NOT NULL DEFAULT 1;
CREATE TABLE loudness (
    track_id INTEGER PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    -- the file as it was analysed: a track whose size or mtime differs is analysed again
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    version INTEGER NOT NULL,
    analysed_at REAL NOT NULL,
    integrated_lufs REAL,
    peak REAL,
    lead_silence_ms INTEGER,
    trail_silence_ms INTEGER,
    duration_ms INTEGER,
    -- why the file could not be analysed (the measurements are then NULL)
    error TEXT
)
"""


def _migrate_to_4(db: sqlite_utils.Database) -> None:
    """ReplayGain tags per track (rows read before are re-read by the next scan: their
    ``tags_version`` is 1) and the loudness analysis' results."""
    _run_script(db, _SCHEMA_V4)


_SCHEMA_V5 = """
ALTER TABLE playlists ADD COLUMN kind TEXT NOT NULL DEFAULT 'imported'
    CHECK (kind IN ('imported', 'user', 'queue'));
ALTER TABLE playlists ADD COLUMN updated_at REAL;
CREATE UNIQUE INDEX playlists_one_queue ON playlists(kind) WHERE kind = 'queue';
CREATE INDEX playlist_items_track ON playlist_items(track_id)
"""


def _migrate_to_5(db: sqlite_utils.Database) -> None:
    """Playlists of three kinds: imported (the rows so far), made in Segue, and the play
    queue itself (one row; it used to live in settings.json). See player.library.playlists."""
    _run_script(db, _SCHEMA_V5)


def _migrate_to_6(db: sqlite_utils.Database) -> None:
    """Browsing: each track's artist and album keys, indexed in album order; the search text
    folded without punctuation ("gods" finds "God's")."""
    db.conn.execute("ALTER TABLE tracks ADD COLUMN artist_key TEXT")
    db.conn.execute("ALTER TABLE tracks ADD COLUMN album_key TEXT")
    last = -1
    while batch := db.conn.execute(  # by id ranges: a million tracks are not held at once
            "SELECT id, title, artist, album, albumartist FROM tracks WHERE id > ? "
            "ORDER BY id LIMIT 10000", (last,)).fetchall():
        last = batch[-1][0]
        values = []
        for i, t, a, al, aa in batch:
            row = {"title": t, "artist": a, "album": al, "albumartist": aa}
            values.append((search_text(row), *browse_keys(row), i))
        db.conn.executemany(
            "UPDATE tracks SET search = ?, artist_key = ?, album_key = ? WHERE id = ?", values)
    db.conn.execute("CREATE INDEX tracks_browse ON tracks(artist_key, album_key, disc_number, "
                    "track_number)")


def _migrate_to_7(db: sqlite_utils.Database) -> None:
    """Track ids are never used twice (``AUTOINCREMENT``). Without it SQLite hands out the
    largest id + 1, so a removed folder's last ids went to the next songs scanned: a queue, a
    window or a trained model still holding an old id then meant another song.

    SQLite cannot add AUTOINCREMENT to a table, so the table is rebuilt (SQLite's own recipe:
    new table, copy, drop, rename, indexes). :meth:`Library._migrate` turns foreign keys off
    around it, or dropping the old table would cascade into ``loudness``."""
    conn = db.conn
    (sql,) = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'tracks'").fetchone()
    if "AUTOINCREMENT" in sql.upper():  # a database rebuilt by hand from a newer one
        return
    new_sql, n = re.subn(r"^CREATE TABLE \"?tracks\"?\s*\(\s*id INTEGER PRIMARY KEY\b",
                         "CREATE TABLE tracks_v7 (id INTEGER PRIMARY KEY AUTOINCREMENT", sql)
    if n != 1:
        raise LibraryError(f"unexpected tracks table: {sql[:80]}")
    indexes = [s for (s,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tracks' "
        "AND sql IS NOT NULL")]
    conn.execute(new_sql)
    conn.execute("INSERT INTO tracks_v7 SELECT * FROM tracks")
    conn.execute("DROP TABLE tracks")
    conn.execute("ALTER TABLE tracks_v7 RENAME TO tracks")
    for statement in indexes:
        conn.execute(statement)
    # Ids already handed out by playlists or listens of removed tracks are not used again
    # either: the sequence starts above every id the database still mentions.
    (top,) = conn.execute(
        "SELECT max(coalesce((SELECT max(id) FROM tracks), 0), "
        "coalesce((SELECT max(track_id) FROM listens), 0), "
        "coalesce((SELECT max(track_id) FROM playlist_items), 0))").fetchone()
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'tracks'")
    conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('tracks', ?)", (top,))
    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        log.warning("%d rows refer to missing rows after migrating to schema 7", len(broken))


def _migrate_to_8(db: sqlite_utils.Database) -> None:
    """The compilation flag of each track (0 until read: rows written by an older tag reader
    are read again by the next scan, see TAGS_VERSION, which then files a flagged album
    without an album artist under "Various Artists")."""
    db.conn.execute("ALTER TABLE tracks ADD COLUMN compilation INTEGER NOT NULL DEFAULT 0")


# -- the search index ---------------------------------------------------------------------------
#
# A search in a big library (a million tracks) cannot scan every track's text at each keystroke
# (``LIKE``: a second). ``tracks_fts`` is an FTS5 index of the folded search texts with the
# trigram tokenizer: any substring of three characters or more is found through it in
# milliseconds. It is contentless (the texts stay in ``tracks.search``); what it indexes is the
# text padded with a space at each end, so that a word of one or two characters can be looked
# up as the start of a word (" go" is one trigram). Triggers keep it current.
#
# Indexing 1.5M tracks takes 20-40 s, too long to hold the app's start: the migration creates
# the index and indexes a small library at once; a bigger one is indexed in the background
# (:meth:`Library.build_search_index`, a chunk of tracks per transaction, by id). The row of
# ``search_index`` says how far it got: the triggers keep the part already built current
# (tracks with an id up to ``built_upto``), the builder takes the rest, and once it is done
# ``built_upto`` is :data:`SEARCH_INDEX_COMPLETE` and every change goes through the triggers.
# Where SQLite has no FTS5 trigram tokenizer (before 3.34), there is no index and the search
# works as before.

#: ``search_index.built_upto`` of a finished index.
SEARCH_INDEX_COMPLETE = 2**62
#: A library of at most this many tracks is indexed by the migration itself (about a second).
SEARCH_INDEX_INLINE_TRACKS = 50_000
#: Tracks indexed per transaction by :meth:`Library.build_search_index` (a short write lock).
SEARCH_INDEX_CHUNK = 5_000

_PADDED_NEW = "' ' || coalesce(new.search, '') || ' '"
_PADDED_OLD = "' ' || coalesce(old.search, '') || ' '"
_SEARCH_INDEX_STATEMENTS = (
    "CREATE VIRTUAL TABLE tracks_fts USING fts5(search, content='', tokenize='trigram')",
    """CREATE TABLE search_index (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        -- tracks with an id up to this one are in tracks_fts (and kept current by triggers)
        built_upto INTEGER NOT NULL
    )""",
    f"""CREATE TRIGGER tracks_fts_insert AFTER INSERT ON tracks
    WHEN new.id <= (SELECT built_upto FROM search_index) BEGIN
        INSERT INTO tracks_fts(rowid, search) VALUES (new.id, {_PADDED_NEW});
    END""",
    f"""CREATE TRIGGER tracks_fts_update AFTER UPDATE OF search ON tracks
    WHEN old.search IS NOT new.search AND old.id <= (SELECT built_upto FROM search_index)
    BEGIN
        INSERT INTO tracks_fts(tracks_fts, rowid, search) VALUES ('delete', old.id,
                                                                  {_PADDED_OLD});
        INSERT INTO tracks_fts(rowid, search) VALUES (new.id, {_PADDED_NEW});
    END""",
    f"""CREATE TRIGGER tracks_fts_delete AFTER DELETE ON tracks
    WHEN old.id <= (SELECT built_upto FROM search_index) BEGIN
        INSERT INTO tracks_fts(tracks_fts, rowid, search) VALUES ('delete', old.id,
                                                                  {_PADDED_OLD});
    END""",
)


#: The present tracks in the browser's order, ids only: the whole library's list (1.5M ids)
#: read from this index alone in 0.2 s of CPU, where ``tracks_browse`` needs a look at each
#: track's row for ``missing`` (0.6 s, and seconds of disk reads when the file is not cached).
#: Built with the search index (a few seconds for 1.5M tracks).
_PRESENT_BROWSE_INDEX = ("CREATE INDEX IF NOT EXISTS tracks_present_browse ON tracks("
                         "artist_key, album_key, disc_number, track_number) WHERE missing = 0")


def trigram_available() -> bool:
    """Whether this SQLite has FTS5 with the trigram tokenizer (3.34 and later)."""
    try:
        conn = sqlite3.connect(":memory:")
        try:
            conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram')")
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return True


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() \
        is not None


def _create_search_index(conn: sqlite3.Connection) -> bool:
    """``tracks_fts``, its triggers and its progress row (in the caller's transaction); a
    small library indexed at once. False where SQLite cannot (no trigram tokenizer)."""
    if _has_table(conn, "search_index"):
        return True
    if not trigram_available():
        log.info("SQLite %s has no FTS5 trigram tokenizer: searches scan the tracks",
                 sqlite3.sqlite_version)
        return False
    for statement in _SEARCH_INDEX_STATEMENTS:
        conn.execute(statement)
    (tracks,) = conn.execute(  # counted up to the limit only: a big library at once
        "SELECT count(*) FROM (SELECT 1 FROM tracks LIMIT ?)",
        (SEARCH_INDEX_INLINE_TRACKS + 1,)).fetchone()
    if tracks <= SEARCH_INDEX_INLINE_TRACKS:
        conn.execute("INSERT INTO tracks_fts(rowid, search) SELECT id, ' ' || "
                     "coalesce(search, '') || ' ' FROM tracks")
        conn.execute(_PRESENT_BROWSE_INDEX)
        built = SEARCH_INDEX_COMPLETE
    else:
        built = 0  # Library.build_search_index, in the background
    conn.execute("INSERT INTO search_index(id, built_upto) VALUES (1, ?)", (built,))
    return True


#: What may follow a one-character word's first letter (the search index finds it as the
#: start of a word: one of these trigrams). Letters of other scripts are not listed: such a
#: one-letter search is answered by a scan instead (see :func:`fts_match`).
_WORD_SECOND = "abcdefghijklmnopqrstuvwxyz0123456789 "


def fts_match(words: Sequence[str]) -> str | None:
    """The ``tracks_fts MATCH`` expression of folded search words (all required); None when
    there are none or one the index cannot find (one character, not a-z or 0-9)."""
    terms = []
    for word in words:
        if len(word) >= 3:
            terms.append('"' + word.replace('"', '""') + '"')
        elif len(word) == 2:
            terms.append('" ' + word.replace('"', '""') + '"')
        elif word in _WORD_SECOND and word != " ":
            terms.append("(" + " OR ".join(f'" {word}{c}"' for c in _WORD_SECOND) + ")")
        else:
            return None
    return " AND ".join(terms) if terms else None


def id_array(text: str | None, piece: int = 1 << 20) -> "np.ndarray":
    """Ids from SQLite's ``group_concat`` ("3,1,2") as an int64 array. A long text is parsed a
    megabyte at a time, the GIL let go between pieces: the window's thread waits for it
    a few milliseconds at most, where a list of a million ints held it 100 ms and more."""
    import numpy as np

    if not text:
        return np.zeros(0, dtype=np.int64)
    if len(text) <= piece:
        return np.fromstring(text, dtype=np.int64, sep=",")
    parts = []
    start = 0
    while start < len(text):
        end = text.find(",", start + piece)
        if end < 0:
            end = len(text)
        parts.append(np.fromstring(text[start:end], dtype=np.int64, sep=","))
        start = end + 1
        time.sleep(0)  # let the GUI thread run
    return np.concatenate(parts)


def _migrate_to_9(db: sqlite_utils.Database) -> None:
    """The search index (``tracks_fts``, see above): searches of a big library in
    milliseconds. A library of more than :data:`SEARCH_INDEX_INLINE_TRACKS` tracks is indexed
    afterwards, in the background; searches scan the tracks until then."""
    _create_search_index(db.conn)


#: MIGRATIONS[n] takes a database at version n to version n + 1.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _migrate_to_1, _migrate_to_2, _migrate_to_3, _migrate_to_4, _migrate_to_5, _migrate_to_6,
    _migrate_to_7, _migrate_to_8, _migrate_to_9]
SCHEMA_VERSION = len(MIGRATIONS)


# --------------------------------------------------------------------------------------------
# The library
# --------------------------------------------------------------------------------------------


class Library:
    """The music library and listening log in one SQLite file.

    Safe to use from several threads: each thread gets its own connection. Safe to use from
    several processes: WAL mode plus a busy timeout, and writes take the write lock up front
    (``BEGIN IMMEDIATE``) so that two writers queue instead of failing with "database is locked".
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        """Open the library at ``path``: checked, migrated, ready. ``create=False``: raise
        :class:`LibraryMissing` instead of creating a new one. Any problem is a
        :class:`LibraryError` with a one-line message."""
        self.path = Path(path)
        self._local = threading.local()
        # Every connection with its thread: a finished thread's connection is closed when
        # the next one opens (a thread-local alone would leave it, with its page cache, to
        # the garbage collector - in practice one more open connection per worker job).
        self._conns: list[tuple[threading.Thread, sqlite_utils.Database]] = []
        self._conns_lock = threading.Lock()
        self._checked = threading.Event()  # set once the file's check has a verdict
        self._damaged: LibraryDamaged | None = None
        self._checker: sqlite3.Connection | None = None
        self._prepare_file(create)
        try:
            self._start_check()
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise library_error(exc, self.path) from exc
        except LibraryError:
            self.close()
            raise

    @classmethod
    def open(cls, data_dir: str | os.PathLike[str], *, create: bool = True) -> "Library":
        """Open (creating if needed, unless ``create`` is False) ``<data_dir>/library.db``."""
        return cls(Path(data_dir) / DB_FILE, create=create)

    # -- the file ----------------------------------------------------------------------------

    def _prepare_file(self, create: bool) -> None:
        """The file exists (created owner-only), is a file, and can be written."""
        path = self.path
        if path.is_dir():
            raise LibraryError(f"cannot open the library: {path} is a folder, not a file")
        if not path.exists() and not create:
            raise LibraryMissing(f"there is no library at {path} yet")
        try:
            make_private_dir(path.parent)
            if not path.exists():
                # Created here, 0600, because SQLite gives its -wal and -shm files the mode of
                # the database file: the listening log is readable by its owner only.
                os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE))
        except OSError as exc:
            if exc.errno == errno.ENOTDIR or path.parent.is_file():
                raise LibraryError(f"cannot use the data folder {path.parent}: it is a "
                                   "file, not a folder") from exc
            raise library_error(exc, path) from exc
        for companion in (path, *self._companions()):
            make_private(companion)
        for target in (path, path.parent):
            if not os.access(target, os.W_OK):
                raise LibraryReadOnly(
                    f"the library {path} is read-only "
                    f"({'its folder' if target != path else 'the file'} cannot be written); "
                    "Segue needs to write to it")

    def _companions(self) -> list[Path]:
        return [self.path.with_name(self.path.name + suffix) for suffix in ("-wal", "-shm")]

    def _start_check(self) -> None:
        """Check the file now (small) or on a thread (large: see CHECK_IN_FOREGROUND_BYTES)."""
        if self.path.stat().st_size <= CHECK_IN_FOREGROUND_BYTES:
            _quick_check(self.db.conn)  # raises for a damaged file
            self._checked.set()
            return
        self._checker = self._connect()
        threading.Thread(target=self._check_in_background, args=(self._checker,),
                         name="segue-db-check", daemon=True).start()

    def _check_in_background(self, conn: sqlite3.Connection) -> None:
        try:
            _quick_check(conn)
        except sqlite3.Error as exc:
            error = library_error(exc, self.path)
            if isinstance(error, LibraryDamaged):
                self._damaged = error
            elif "interrupt" not in str(exc):  # close() stops a check that is no longer needed
                log.warning("could not check the library %s: %s", self.path, exc)
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            self._checked.set()

    @property
    def checked(self) -> bool:
        """True once the file's check has a verdict (at once for a file checked at open)."""
        return self._checked.is_set()

    @property
    def damage(self) -> "LibraryDamaged | None":
        """What the check found wrong (None: sound, or not known yet: see :attr:`checked`)."""
        return self._damaged

    def require_sound(self) -> None:
        """Wait for the file's check; raise :class:`LibraryDamaged` if it failed. Every write
        transaction calls this first."""
        self._checked.wait()
        if self._damaged is not None:
            raise self._damaged

    # -- connections -------------------------------------------------------------------------

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection, wrapped by sqlite-utils."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self._connect())
            self._local.db = db
            with self._conns_lock:
                live = []
                for thread, other in self._conns:
                    if thread.is_alive():
                        live.append((thread, other))
                    else:
                        with contextlib.suppress(sqlite3.Error):
                            other.conn.close()
                live.append((threading.current_thread(), db))
                self._conns = live
        return db

    def open_connections(self) -> int:
        """How many connections are open (one per thread that used the library and is
        alive, plus at most the latest finished ones until the next connection opens)."""
        with self._conns_lock:
            return len(self._conns)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; we open them ourselves, briefly.
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                log.warning("SQLite refused WAL mode for %s (got %s)", self.path, mode)
            # NORMAL is crash-safe in WAL mode (a kill loses nothing committed); only a power
            # cut can drop the last transactions, never corrupt the file.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        """Close every thread's connection (call once, at shutdown)."""
        if self._checker is not None and not self._checked.is_set():
            with contextlib.suppress(sqlite3.Error):
                self._checker.interrupt()  # a background check nobody waits for any more
        with self._conns_lock:
            dbs = [db for _, db in self._conns]
            self._conns = []
        for db in dbs:
            with contextlib.suppress(sqlite3.Error):
                db.conn.close()
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction that holds the write lock from its first statement.

        ``BEGIN IMMEDIATE`` waits (busy timeout) for another writer instead of failing later when
        a read transaction tries to upgrade, which in WAL mode fails at once with SQLITE_BUSY.
        """
        db = self.db
        if db.conn.in_transaction:  # nested use: join the outer transaction
            yield db
            return
        self.require_sound()
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        else:
            db.conn.execute("COMMIT")

    def _migrate(self) -> None:
        db = self.db
        version = db.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LibraryError(
                f"the library {self.path} was written by a newer Segue (schema {version}, "
                f"this one knows {SCHEMA_VERSION}); update Segue"
            )
        if version >= SCHEMA_VERSION:
            return
        # Off for the steps that rebuild a table (a DROP would cascade); the pragma is a no-op
        # inside a transaction, hence here. Each step checks the keys itself.
        db.conn.execute("PRAGMA foreign_keys = OFF")
        try:
            self._migrate_steps(version)
        finally:
            db.conn.execute("PRAGMA foreign_keys = ON")

    def _migrate_steps(self, version: int) -> None:
        db = self.db
        while version < SCHEMA_VERSION:
            with self.transaction():
                # Re-read inside the lock: another process may have migrated meanwhile.
                version = db.conn.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    break
                log.info("migrating %s from schema %d to %d", self.path, version, version + 1)
                MIGRATIONS[version](db)
                db.conn.execute(f"PRAGMA user_version = {version + 1}")
            version += 1

    @property
    def schema_version(self) -> int:
        return int(self.db.conn.execute("PRAGMA user_version").fetchone()[0])

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: "ok" for a sound file."""
        return str(self.db.conn.execute("PRAGMA integrity_check").fetchone()[0])

    # -- roots -------------------------------------------------------------------------------

    def add_root(self, folder: str | os.PathLike[str]) -> bool:
        """Add a library folder (absolute, normalised). Returns False if it was already there."""
        path = to_db(os.path.abspath(os.fspath(folder)))
        with self.transaction() as db:
            cur = db.conn.execute(
                "INSERT OR IGNORE INTO roots(path, added_at) VALUES (?, ?)", (path, time.time())
            )
            return cur.rowcount > 0

    def remove_root(self, folder: str | os.PathLike[str]) -> None:
        """Forget a library folder; its tracks stay (marked missing by the next scan)."""
        path = to_db(os.path.abspath(os.fspath(folder)))
        with self.transaction() as db:
            db.conn.execute("DELETE FROM roots WHERE path = ?", (path,))

    def roots(self) -> list[str]:
        return [r[0] for r in self.db.conn.execute("SELECT path FROM roots ORDER BY id")]

    # -- tracks, for the scanner -------------------------------------------------------------

    def known_files(self) -> dict[str, KnownFile]:
        """Every track's path with what decides whether it must be re-read.

        A row whose tags an older reader wrote (``tags_version``) is reported with an mtime
        no file has, so that the scanner reads it again and fills the new fields.
        """
        rows = self.db.conn.execute(
            "SELECT path, id, size, CASE WHEN tags_version < ? THEN -1.0 ELSE mtime END, "
            "missing FROM tracks", (TAGS_VERSION,))
        return {p: KnownFile(i, s, m, bool(x)) for p, i, s, m, x in rows}

    def tags_outdated(self) -> int:
        """Present tracks whose tags an older tag reader wrote: the next scan reads them."""
        return int(self.db.conn.execute(
            "SELECT count(*) FROM tracks WHERE missing = 0 AND tags_version < ?",
            (TAGS_VERSION,)).fetchone()[0])

    def tracks_by_id(self, ids: Iterable[int]) -> dict[int, Track]:
        """The given tracks by id (unknown ids are left out)."""
        out: dict[int, Track] = {}
        ids = list(ids)
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(f"SELECT * FROM tracks WHERE id IN ({marks})", chunk):
                out[row["id"]] = Track.from_row(row)
        return out

    def track(self, track_id: int) -> Track | None:
        return self.tracks_by_id([track_id]).get(track_id)

    def track_by_path(self, path: str) -> Track | None:
        rows = list(self.db.query("SELECT * FROM tracks WHERE path = ?", [path]))
        return Track.from_row(rows[0]) if rows else None

    def add_tracks(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert new tracks (dicts with :data:`TRACK_FIELDS`).

        A path already present (another process scanning at the same time) is updated in
        place, keeping its id.
        """
        now = time.time()
        cols = ", ".join(TRACK_FIELDS)
        marks = ", ".join("?" * len(TRACK_FIELDS))
        updates = ", ".join(f"{f} = excluded.{f}" for f in TRACK_FIELDS if f != "path")
        sql = (
            f"INSERT INTO tracks({cols}, added_at, missing) VALUES ({marks}, ?, 0) "
            f"ON CONFLICT(path) DO UPDATE SET {updates}, missing = 0"
        )
        with self.transaction() as db:
            top = self._index_new_tracks_later(db.conn)
            db.conn.executemany(sql, [[*_track_values(row), now] for row in rows])
            if top is not None:
                self._index_new_tracks(db.conn, top)

    def _index_new_tracks_later(self, conn: sqlite3.Connection) -> int | None:
        """Before a bulk insert (in its transaction): the search index's insert trigger
        leaves the new rows alone (``built_upto`` = the last id so far), so that
        :meth:`_index_new_tracks` indexes them in one statement afterwards. Row by row, FTS5
        writes its pending terms out at each statement of ``executemany`` (a savepoint each):
        3x the CPU of the insert itself (200,000 tracks: 18.5 s instead of 5.5 s; 11 s this
        way). None when the index is not complete (its builder takes new rows anyway)."""
        if self.search_index_built_upto() != SEARCH_INDEX_COMPLETE:
            return None
        (top,) = conn.execute(
            "SELECT max(coalesce((SELECT max(id) FROM tracks), 0), coalesce((SELECT seq FROM "
            "sqlite_sequence WHERE name = 'tracks'), 0))").fetchone()
        conn.execute("UPDATE search_index SET built_upto = ?", (top,))
        return int(top)

    def _index_new_tracks(self, conn: sqlite3.Connection, top: int) -> None:
        """After a bulk insert: its rows (ids above ``top``) into the search index, and the
        triggers on again for every row."""
        conn.execute("INSERT INTO tracks_fts(rowid, search) SELECT id, ' ' || "
                     "coalesce(search, '') || ' ' FROM tracks WHERE id > ?", (top,))
        conn.execute("UPDATE search_index SET built_upto = ?", (SEARCH_INDEX_COMPLETE,))

    def update_tracks(self, updates: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Rewrite the scanned fields (path included, for moves) of existing tracks by id.

        The id, ``added_at`` and all history stay; the track is no longer missing.
        """
        sets = ", ".join(f"{f} = ?" for f in TRACK_FIELDS)
        with self.transaction() as db:
            db.conn.executemany(
                f"UPDATE tracks SET {sets}, missing = 0, play_error = NULL WHERE id = ?",
                [[*_track_values(row), track_id] for track_id, row in updates],
            )

    def set_missing(self, ids: Iterable[int], missing: bool) -> int:
        """Flag tracks as missing (file gone) or back; never deletes a row. Returns the count."""
        n = 0
        with self.transaction() as db:
            for chunk in _chunks(list(ids), 500):
                marks = ",".join("?" * len(chunk))
                cur = db.conn.execute(
                    f"UPDATE tracks SET missing = ?, play_error = NULL "
                    f"WHERE id IN ({marks}) AND missing != ?",
                    [int(missing), *chunk, int(missing)],
                )
                n += cur.rowcount
        return n

    # -- scan errors -------------------------------------------------------------------------

    def record_scan_errors(
        self, errors: Sequence[tuple[str, str, int | None, float | None]]
    ) -> None:
        """Remember why files could not be read: ``(path, reason, size, mtime)`` each.

        One row per path, the latest reason; size and mtime are None for what has none (a
        folder, a broken link).
        """
        now = time.time()
        with self.transaction() as db:
            db.conn.executemany(
                "INSERT INTO scan_errors(path, reason, seen_at, size, mtime) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET reason = excluded.reason, "
                "seen_at = excluded.seen_at, size = excluded.size, mtime = excluded.mtime",
                [(p, r, now, size, mtime) for p, r, size, mtime in errors],
            )

    def known_failures(self) -> dict[str, tuple[str, int | None, float | None]]:
        """Paths that failed before: ``path -> (reason, size, mtime)``."""
        rows = self.db.conn.execute("SELECT path, reason, size, mtime FROM scan_errors")
        return {p: (r, s, m) for p, r, s, m in rows}

    def clear_scan_errors(self, keep: Iterable[str] | None = None) -> None:
        """Drop error rows, except those for the paths in ``keep`` (still failing)."""
        with self.transaction() as db:
            if keep is None:
                db.conn.execute("DELETE FROM scan_errors")
                return
            keep = set(keep)
            stale = [
                p for (p,) in db.conn.execute("SELECT path FROM scan_errors") if p not in keep
            ]
            db.conn.executemany("DELETE FROM scan_errors WHERE path = ?", [(p,) for p in stale])

    def scan_errors(self) -> list[ScanError]:
        """The files the scans could not read, by path."""
        return [ScanError(*row) for row in self.db.conn.execute(
            "SELECT path, reason, seen_at FROM scan_errors ORDER BY path")]

    # -- per-track flags -----------------------------------------------------------------------

    def set_no_autoqueue(self, track_id: int, value: bool) -> None:
        """The user's "don't auto-queue this track"."""
        with self.transaction() as db:
            db.conn.execute(
                "UPDATE tracks SET no_autoqueue = ? WHERE id = ?", (int(value), track_id)
            )

    def set_play_error(self, track_id: int, reason: str | None) -> None:
        """Remember (or clear) why a track could not be played."""
        with self.transaction() as db:
            db.conn.execute("UPDATE tracks SET play_error = ? WHERE id = ?", (reason, track_id))

    # -- loudness: the analysis pass writes it, playback reads it -----------------------------

    #: A loudness row describes the track's current file, by the current algorithm.
    _FRESH = "l.size = t.size AND l.mtime = t.mtime AND l.version = {v}".format(v=ANALYSIS_VERSION)

    def analysis_todo(self, limit: int | None = None) -> list[AnalysisTask]:
        """Present tracks whose loudness is unknown or stale (the file's size or mtime
        changed since, or an older analysis), in id order."""
        sql = ("SELECT t.id, t.path, t.size, t.mtime FROM tracks t "
               "LEFT JOIN loudness l ON l.track_id = t.id "
               f"WHERE t.missing = 0 AND (l.track_id IS NULL OR NOT ({self._FRESH})) "
               "ORDER BY t.id")
        params: list[Any] = []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [AnalysisTask(*row) for row in self.db.conn.execute(sql, params)]

    def analysis_remaining(self) -> int:
        """How many present tracks the analysis pass still has to do."""
        return int(self.db.conn.execute(
            "SELECT count(*) FROM tracks t LEFT JOIN loudness l ON l.track_id = t.id "
            f"WHERE t.missing = 0 AND (l.track_id IS NULL OR NOT ({self._FRESH}))"
        ).fetchone()[0])

    def save_loudness(
        self, task: AnalysisTask, measured: Measurement | None, error: str | None = None
    ) -> None:
        """Store one file's analysis (or why it failed: it is not tried again until the file
        changes), tied to the size and mtime it had when the task was made."""
        m = measured
        with self.transaction() as db:
            db.conn.execute(
                "INSERT OR REPLACE INTO loudness(track_id, size, mtime, version, analysed_at, "
                "integrated_lufs, peak, lead_silence_ms, trail_silence_ms, duration_ms, error) "
                "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS "
                "(SELECT 1 FROM tracks WHERE id = ?)",
                (task.track_id, task.size, task.mtime, ANALYSIS_VERSION, time.time(),
                 m and m.integrated_lufs, m and m.peak, m and m.lead_silence_ms,
                 m and m.trail_silence_ms, m and m.duration_ms, error, task.track_id),
            )

    def analysis_errors(self) -> list[tuple[str, str]]:
        """``(path, reason)`` of present files the analysis could not decode."""
        return [tuple(r) for r in self.db.conn.execute(
            "SELECT t.path, l.error FROM loudness l JOIN tracks t ON t.id = l.track_id "
            f"WHERE l.error IS NOT NULL AND t.missing = 0 AND {self._FRESH} ORDER BY t.path")]

    def loudness(self, track_id: int) -> LoudnessInfo:
        """Everything known of a track's loudness, for playback (an empty info for an unknown
        track). Measurements of a file that changed since are left out."""
        rows = list(self.db.query(
            "SELECT t.path, t.album, t.albumartist, t.rg_track_gain, t.rg_track_peak, "
            "t.rg_album_gain, t.rg_album_peak, l.integrated_lufs, l.peak, l.lead_silence_ms, "
            f"l.trail_silence_ms, l.duration_ms FROM tracks t LEFT JOIN loudness l "
            f"ON l.track_id = t.id AND {self._FRESH} WHERE t.id = ?", [track_id]))
        if not rows:
            return LoudnessInfo()
        r = rows[0]
        album_lufs, album_peak = self._album_loudness(r)
        return LoudnessInfo(
            tag_track_gain=r["rg_track_gain"], tag_track_peak=r["rg_track_peak"],
            tag_album_gain=r["rg_album_gain"], tag_album_peak=r["rg_album_peak"],
            measured_lufs=r["integrated_lufs"], measured_peak=r["peak"],
            album_lufs=album_lufs, album_measured_peak=album_peak,
            lead_silence_ms=r["lead_silence_ms"], trail_silence_ms=r["trail_silence_ms"],
            duration_ms=r["duration_ms"],
        )

    def _album_loudness(self, track: dict[str, Any]) -> tuple[float | None, float | None]:
        """The measured loudness and peak of the track's album, once every present track of
        it is analysed (else None, None). An album is the tracks with the same album tag and
        the same album artist, or, without one, in the same folder."""
        if not track["album"]:
            return None, None
        key = _album_key(track)
        rows = self.db.query(
            "SELECT t.path, t.album, t.albumartist, l.integrated_lufs, l.peak, l.duration_ms, "
            "l.lead_silence_ms, l.trail_silence_ms, l.version IS NOT NULL AS fresh "
            f"FROM tracks t LEFT JOIN loudness l ON l.track_id = t.id AND {self._FRESH} "
            "WHERE t.album = ? AND t.missing = 0", [track["album"]])
        parts, peaks = [], []
        for row in rows:
            if _album_key(row) != key:
                continue
            if not row["fresh"]:
                return None, None
            if row["peak"] is not None:
                peaks.append(row["peak"])
            audible = (row["duration_ms"] or 0) - (row["lead_silence_ms"] or 0) - (
                row["trail_silence_ms"] or 0)
            parts.append((row["integrated_lufs"], audible))
        return album_loudness(parts), max(peaks, default=None)

    def typical_gain_db(self) -> float | None:
        """The median track gain of the library (tags, else measured), or None when nothing
        is known: what playback assumes for a track not analysed yet."""
        gains = [
            g if g is not None else lufs_to_gain(lufs)
            for g, lufs in self.db.conn.execute(
                "SELECT t.rg_track_gain, l.integrated_lufs FROM tracks t "
                f"LEFT JOIN loudness l ON l.track_id = t.id AND {self._FRESH} "
                "WHERE t.missing = 0 AND (t.rg_track_gain IS NOT NULL "
                "OR l.integrated_lufs IS NOT NULL)")
        ]
        return statistics.median(gains) if gains else None

    # -- the listening log ---------------------------------------------------------------------

    def open_listen(
        self, track_id: int, started_at: float, source: str, session_id: int
    ) -> int:
        """Start a listen (``ended_at`` NULL until closed); returns its id."""
        if source not in LISTEN_SOURCES:
            raise ValueError(f"unknown listen source {source!r}")
        with self.transaction() as db:
            cur = db.conn.execute(
                "INSERT INTO listens(track_id, started_at, played_ms, source, session_id) "
                "VALUES (?, ?, 0, ?, ?)",
                (track_id, started_at, source, session_id),
            )
            return int(cur.lastrowid)

    def save_listen_progress(self, listen_id: int, played_ms: int) -> None:
        """Checkpoint an open listen, so that a crash loses at most the last few seconds."""
        with self.transaction() as db:
            db.conn.execute(
                "UPDATE listens SET played_ms = ? WHERE id = ? AND ended_at IS NULL",
                (played_ms, listen_id),
            )

    def close_listen(
        self, listen_id: int, ended_at: float, played_ms: int, skipped: bool
    ) -> None:
        with self.transaction() as db:
            db.conn.execute(
                "UPDATE listens SET ended_at = ?, played_ms = ?, skipped = ? WHERE id = ?",
                (ended_at, played_ms, int(skipped), listen_id),
            )

    def delete_listen(self, listen_id: int) -> None:
        """Remove a listen that never was one (the file failed before playing)."""
        with self.transaction() as db:
            db.conn.execute("DELETE FROM listens WHERE id = ? AND ended_at IS NULL", (listen_id,))

    def open_listens(self) -> list[OpenListen]:
        """Listens never closed (the app was killed mid-song), with their tracks' durations."""
        return [OpenListen(*row) for row in self.db.conn.execute(
            "SELECT l.id, l.track_id, l.started_at, l.played_ms, t.duration_ms "
            "FROM listens l LEFT JOIN tracks t ON t.id = l.track_id "
            "WHERE l.ended_at IS NULL ORDER BY l.started_at")]

    def last_listen(self) -> Listen | None:
        """The latest listen by start time (any source)."""
        rows = list(
            self.db.query("SELECT * FROM listens ORDER BY started_at DESC, id DESC LIMIT 1")
        )
        return Listen.from_row(rows[0]) if rows else None

    def max_session_id(self) -> int:
        return int(self.db.conn.execute("SELECT coalesce(max(session_id), 0) FROM listens")
                   .fetchone()[0])

    def listens(
        self, since: float | None = None, limit: int | None = None, newest_first: bool = False
    ) -> list[Listen]:
        """Listens in time order (or newest first), optionally since a time / the last N."""
        where = "WHERE started_at >= ?" if since is not None else ""
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT * FROM listens {where} ORDER BY started_at {order}, id {order}"
        params: list[Any] = [since] if since is not None else []
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [Listen.from_row(row) for row in self.db.query(sql, params)]

    def completed_listens_after(self, listen_id: int) -> int:
        """Closed, not skipped listens newer than ``listen_id`` (what a fine-tune would add)."""
        return int(self.db.conn.execute(
            "SELECT count(*) FROM listens WHERE id > ? AND ended_at IS NOT NULL "
            "AND coalesce(skipped, 0) = 0", (listen_id,)).fetchone()[0])

    def listen_count(self, source: str | None = None, closed_only: bool = False) -> int:
        conds, params = [], []
        if source is not None:
            conds.append("source = ?")
            params.append(source)
        if closed_only:
            conds.append("ended_at IS NOT NULL")
        where = ("WHERE " + " AND ".join(conds)) if conds else ""
        return int(self.db.conn.execute(f"SELECT count(*) FROM listens {where}", params)
                   .fetchone()[0])

    # -- tracks for the UI and the auto-queue ----------------------------------------------------

    #: Sortable columns of :meth:`query_tracks`, by name.
    SORT_KEYS = {
        "title": "t.title COLLATE NOCASE",
        "artist": "coalesce(t.artist, '') COLLATE NOCASE, t.album COLLATE NOCASE, "
        "t.disc_number, t.track_number",
        "album": "coalesce(t.album, '') COLLATE NOCASE, t.disc_number, t.track_number",
        "duration": "t.duration_ms",
        "plays": "plays",
        "added": "t.added_at",
    }

    def _track_filter(self, text: str) -> tuple[str, list[Any]]:
        """WHERE clause for the search box: every word must appear in the title, artist or
        album, compared folded (case and accents ignored)."""
        conds, params = ["t.missing = 0"], []
        for word in search_fold(text).split():
            like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conds.append("t.search LIKE ? ESCAPE '\\'")
            params.append(like)
        return " AND ".join(conds), params

    def count_tracks(self, text: str = "") -> int:
        where, params = self._track_filter(text)
        return int(self.db.conn.execute(f"SELECT count(*) FROM tracks t WHERE {where}", params)
                   .fetchone()[0])

    def query_tracks(
        self,
        text: str = "",
        sort: str = "artist",
        descending: bool = False,
        offset: int = 0,
        limit: int = 1000,
    ) -> list[tuple[Any, ...]]:
        """A page of present tracks for the library view:
        ``(id, title, artist, album, duration_ms, plays)`` rows."""
        where, params = self._track_filter(text)
        order = self.SORT_KEYS.get(sort, self.SORT_KEYS["artist"])
        if descending:
            order = ", ".join(part.strip() + " DESC" for part in order.split(","))
        sql = (
            "SELECT t.id, t.title, t.artist, t.album, t.duration_ms, "
            "coalesce(p.n, 0) AS plays FROM tracks t "
            "LEFT JOIN (SELECT track_id, count(*) AS n FROM listens "
            "WHERE skipped = 0 GROUP BY track_id) p ON p.track_id = t.id "
            f"WHERE {where} ORDER BY {order}, t.id LIMIT ? OFFSET ?"
        )
        return [tuple(r) for r in self.db.conn.execute(sql, [*params, limit, offset])]

    # -- browsing: artists, albums, and the track table's rows -------------------------------

    #: Orders of :meth:`browse_track_ids`, by column name ("plays" is sorted by the caller,
    #: from :meth:`play_counts`). "artist" is the browser's order: album artist, album, disc,
    #: track (the index ``tracks_browse``: no sort step), so a compilation stays together.
    BROWSE_ORDERS = {
        "title": "t.title COLLATE NOCASE",
        "artist": "t.artist_key, t.album_key, t.disc_number, t.track_number",
        "album": "t.album_key, t.artist_key, t.disc_number, t.track_number",
        "duration": "t.duration_ms",
        "added": "t.added_at",
        # an album's own order (albums.album_position): no disc is disc 1, no number is last
        "position": "coalesce(t.disc_number, 1), coalesce(t.track_number, 1073741824), "
                    "t.title COLLATE NOCASE",
    }

    def _browse_filter(self, where: "TrackFilter",
                       word_starts: bool = False) -> tuple[str, list[Any]]:
        words = search_fold(where.text).split()
        match = fts_match(words) if word_starts and words else None
        if match is not None and self.search_index_ready():
            # The search index's own rule (see search_ids): short words at word starts.
            sql = "t.missing = 0 AND t.id IN (SELECT rowid FROM tracks_fts WHERE " \
                  "tracks_fts MATCH ?)"
            params: list[Any] = [match]
        else:
            sql, params = self._track_filter(where.text)
            # Words of three characters or more narrow the rows through the search index
            # first (the LIKE tests stay: same answer, on those rows only).
            long_words = [w for w in words if len(w) >= 3]
            if long_words and self.search_index_ready():
                sql += " AND t.id IN (SELECT rowid FROM tracks_fts WHERE tracks_fts MATCH ?)"
                params.append(fts_match(long_words))
        if where.artist_key is not None:
            sql += " AND t.artist_key = ?"
            params.append(where.artist_key)
            if where.album_key is not None:
                sql += " AND t.album_key = ?"
                params.append(where.album_key)
        elif where.artist_range is not None:
            # A range of the index tracks_browse; Various Artists has a row of its own, even
            # when its key falls among a letter's artists (between "vangelis" and "vivaldi").
            sql += " AND t.artist_key BETWEEN ? AND ? AND t.artist_key != ?"
            params += [*where.artist_range, VARIOUS_ARTISTS]
        return sql, params

    def browse_track_ids(self, where: "TrackFilter", sort: str = "artist",
                         descending: bool = False) -> list[int]:
        """The ids of the present tracks ``where`` selects, in ``sort`` order (a name of
        :data:`BROWSE_ORDERS`), ties by id. Run it off the GUI thread for a big library."""
        sql, params = self._browse_filter(where)
        order = self.BROWSE_ORDERS.get(sort, self.BROWSE_ORDERS["artist"])
        if descending:
            order = ", ".join(part.strip() + " DESC" for part in order.split(","))
        return [r[0] for r in self.db.conn.execute(
            f"SELECT t.id FROM tracks t WHERE {sql} ORDER BY {order}, t.id", params)]

    def browse_id_array(self, where: "TrackFilter", sort: str = "artist",
                        descending: bool = False, word_starts: bool = False) -> "np.ndarray":
        """:meth:`browse_track_ids` as an int64 array, built in one SQLite step (the GIL free
        while it runs) instead of a Python int per track: for the track table's thread.
        ``word_starts``: the search words as :meth:`search_ids` matches them (a big library's
        rule, when the index is ready: one or two characters at the start of a word)."""
        sql, params = self._browse_filter(where, word_starts)
        order = self.BROWSE_ORDERS.get(sort, self.BROWSE_ORDERS["artist"])
        if descending:
            order = ", ".join(part.strip() + " DESC" for part in order.split(","))
        (found,) = self.db.conn.execute(
            f"SELECT group_concat(id) FROM (SELECT t.id FROM tracks t WHERE {sql} "
            f"ORDER BY {order}, t.id)", params).fetchone()
        return id_array(found)

    def play_count_array(self) -> "np.ndarray":
        """Completed plays of every track, indexed by track id (int64; ids past its end were
        never played): :meth:`play_counts` for sorting a million tracks by plays. One pass
        over the listens in table order and a count in numpy: 0.11 s of CPU for 750,000
        listens, where ``GROUP BY track_id`` through the index visits each listen's row out
        of order for ``skipped`` (1.4 s)."""
        import numpy as np

        (played,) = self.db.conn.execute(
            "SELECT group_concat(track_id) FROM listens NOT INDEXED "
            "WHERE skipped = 0 AND track_id IS NOT NULL").fetchone()
        ids = id_array(played)
        return np.bincount(ids[ids >= 0]) if len(ids) else np.zeros(0, dtype=np.int64)

    def browse_rows(self, ids: Sequence[int]) -> dict[int, "TrackRow"]:
        """What the track table shows of these tracks (missing ones are left out)."""
        out: dict[int, TrackRow] = {}
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            for row in self.db.conn.execute(
                    "SELECT t.id, t.title, t.artist, t.album, t.duration_ms, "
                    "(SELECT count(*) FROM listens l WHERE l.track_id = t.id AND l.skipped = 0)"
                    f" FROM tracks t WHERE t.id IN ({marks})", chunk):
                out[row[0]] = TrackRow(*row)
        return out

    def browse_search_texts(self, limit: int) -> tuple[list[int], list[str]] | None:
        """Every present track's id and folded search text, in the browser's order ("artist"
        of :data:`BROWSE_ORDERS`) - or None when there are more than ``limit`` of them. What
        the track table's query thread keeps to answer a keystroke without a table scan."""
        if self.db.conn.execute("SELECT count(*) FROM tracks WHERE missing = 0").fetchone()[0] \
                > limit:
            return None
        ids: list[int] = []
        texts: list[str] = []
        for tid, text in self.db.conn.execute(
                "SELECT t.id, coalesce(t.search, '') FROM tracks t WHERE t.missing = 0 "
                f"ORDER BY {self.BROWSE_ORDERS['artist']}, t.id"):
            ids.append(tid)
            texts.append(text)
        return ids, texts

    # -- the search index (see tracks_fts above) ---------------------------------------------

    def search_index_built_upto(self) -> int | None:
        """How far the search index got (``SEARCH_INDEX_COMPLETE`` when done); None: there
        is none (an SQLite without the trigram tokenizer)."""
        conn = self.db.conn
        try:
            row = conn.execute("SELECT built_upto FROM search_index").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        return int(row[0]) if row else None

    def search_index_ready(self) -> bool:
        """Whether every track is in the search index (:meth:`search_ids` can answer)."""
        return self.search_index_built_upto() == SEARCH_INDEX_COMPLETE

    def build_search_index(self, cancel: threading.Event | None = None,
                           chunk: int = SEARCH_INDEX_CHUNK) -> bool:
        """Index the tracks not yet in the search index, ``chunk`` of them per transaction
        (so that the listening log's writes wait a fraction of a second at most), until done
        or ``cancel`` is set; another run continues where this one stopped. True when the
        index is complete; False where SQLite has no trigram tokenizer (or when cancelled)."""
        built = self.search_index_built_upto()
        if built == SEARCH_INDEX_COMPLETE:  # the usual start: nothing to write
            return True
        if built is None:
            with self.transaction() as db:
                if not _create_search_index(db.conn):
                    return False
        while cancel is None or not cancel.is_set():
            with self.transaction() as db:
                conn = db.conn
                built = self.search_index_built_upto()
                if built is None or built >= SEARCH_INDEX_COMPLETE:
                    return built is not None
                last = conn.execute(
                    "SELECT max(id) FROM (SELECT id FROM tracks WHERE id > ? ORDER BY id "
                    "LIMIT ?)", (built, chunk)).fetchone()[0]
                if last is None:  # every track indexed: from now on the triggers do it all
                    conn.execute(_PRESENT_BROWSE_INDEX)
                    conn.execute("UPDATE search_index SET built_upto = ?",
                                 (SEARCH_INDEX_COMPLETE,))
                    log.info("search index of %s complete", self.path)
                    return True
                conn.execute("INSERT INTO tracks_fts(rowid, search) SELECT id, ' ' || "
                             "coalesce(search, '') || ' ' FROM tracks WHERE id > ? AND id <= ?",
                             (built, last))
                conn.execute("UPDATE search_index SET built_upto = ?", (last,))
        return False

    def search_ids(self, text: str) -> "np.ndarray | None":
        """The ids of the tracks (present or missing, in no order) whose search text holds
        every word of ``text`` - from the search index, in milliseconds: a word of three
        characters or more anywhere, a shorter one at the start of a word (trigrams cannot
        find one or two characters anywhere). None when the index is not ready or ``text``
        has no word. Built in C (one SQLite step, the GIL free), parsed by numpy."""
        match = fts_match(search_fold(text).split())
        if match is None or not self.search_index_ready():
            return None
        (found,) = self.db.conn.execute(
            "SELECT group_concat(rowid) FROM tracks_fts WHERE tracks_fts MATCH ?",
            (match,)).fetchone()
        return id_array(found)

    def browse_order(self) -> "np.ndarray":
        """The ids of every present track in the browser's order (album artist, album, disc,
        track, id): one SQLite step over the index ``tracks_browse`` (the GIL free while it
        runs), not a million Python objects."""
        (found,) = self.db.conn.execute(
            "SELECT group_concat(id) FROM (SELECT t.id FROM tracks t WHERE t.missing = 0 "
            f"ORDER BY {self.BROWSE_ORDERS['artist']}, t.id)").fetchone()
        return id_array(found)

    def play_counts(self) -> dict[int, int]:
        """Completed plays of every track played at least once (for sorting by plays)."""
        return dict(self.db.conn.execute(
            "SELECT track_id, count(*) FROM listens WHERE skipped = 0 AND track_id IS NOT NULL "
            "GROUP BY track_id"))

    def browse_tree(self) -> list[tuple["ArtistRow", tuple["AlbumRow", ...]]]:
        """The browser's artists (album artist first) in key order, each with its albums
        (oldest first, then by name; tracks without an album last) - in one pass over the
        index ``tracks_browse``, so that opening an artist asks nothing more."""
        tree: list[tuple[ArtistRow, list[AlbumRow]]] = []
        albums: list[AlbumRow] = []
        for row in self.db.conn.execute(
                "SELECT t.artist_key, t.album_key, min(t.album), "
                f"min({_ALBUM_ARTIST_SQL}), min(t.year), count(*), "
                "coalesce(max(CASE WHEN t.has_cover THEN t.id END), min(t.id)) "
                "FROM tracks t WHERE t.missing = 0 GROUP BY t.artist_key, t.album_key "
                "ORDER BY t.artist_key, t.album_key = '', min(t.year) IS NULL, min(t.year), "
                "t.album_key"):
            artist_key, album_key, name, artist, year, tracks, cover = row
            if not albums or albums[-1].artist_key != artist_key:
                albums = []
                tree.append((ArtistRow(artist_key or "", "", 0, 0), albums))
            albums.append(AlbumRow(artist_key or "", album_key or "", name or "", artist or "",
                                   year, tracks, cover))
        return [(ArtistRow(a.key, min((al.artist for al in als if al.artist), default=""),
                           sum(1 for al in als if al.key), sum(al.tracks for al in als)),
                 tuple(als)) for a, als in tree]

    def browse_albums(self, artist_key: str, text: str = "") -> list["AlbumRow"]:
        """One artist's albums, oldest first (then by name; tracks without an album last),
        each with the track whose cover stands for it (one with an embedded picture, if any)."""
        sql, params = self._track_filter(text)
        return [AlbumRow(artist_key, key, name or "", artist or "", year, tracks, cover)
                for key, name, artist, year, tracks, cover in self.db.conn.execute(
                    f"SELECT t.album_key, min(t.album), min({_ALBUM_ARTIST_SQL}), "
                    "min(t.year), count(*), "
                    "coalesce(max(CASE WHEN t.has_cover THEN t.id END), min(t.id)) "
                    f"FROM tracks t WHERE {sql} AND t.artist_key = ? GROUP BY t.album_key "
                    "ORDER BY t.album_key = '', min(t.year) IS NULL, min(t.year), t.album_key",
                    [*params, artist_key])]

    def has_tracks(self) -> bool:
        """Whether any track is present (at once, whatever the library's size)."""
        return self.db.conn.execute(
            "SELECT 1 FROM tracks WHERE missing = 0 LIMIT 1").fetchone() is not None

    def play_count(self, track_id: int) -> int:
        return int(self.db.conn.execute(
            "SELECT count(*) FROM listens WHERE track_id = ? AND skipped = 0", (track_id,)
        ).fetchone()[0])

    def queueable_tracks(self) -> list[QueueableTrack]:
        """Every track the auto-queue may pick: present, playable, not opted out. Read
        whole for every pick, so made as fast as dicts were (``python -m bench rows``): by
        :func:`_row_maker`, with the garbage collector paused (100,000 new objects set off
        collections that cost a sixth of the time)."""
        cursor = self.db.conn.execute(
            "SELECT id, title, artist, album, albumartist, genre, duration_ms FROM tracks "
            "WHERE missing = 0 AND no_autoqueue = 0 AND play_error IS NULL")
        with gc_paused():
            return list(map(_queueable_row, cursor))

    def all_track_meta(self) -> list[TrackMeta]:
        """What identifies every track, missing ones too: for the importer's matching."""
        cursor = self.db.conn.execute(
            "SELECT id, path, title, artist, album, albumartist, genre, duration_ms, missing "
            "FROM tracks")
        with gc_paused():
            return list(map(_track_meta_row, cursor))

    def iter_track_features(self) -> Iterator[tuple[Any, ...]]:
        """(id, artist, albumartist, album, genre, year, integrated LUFS or None) of every
        track, streamed (a million rows are not held at once): what the recommender knows
        of a track it never learned."""
        yield from self.db.conn.execute(
            "SELECT t.id, t.artist, t.albumartist, t.album, t.genre, t.year, l.integrated_lufs "
            "FROM tracks t LEFT JOIN loudness l ON l.track_id = t.id")

    def track_durations(self) -> dict[int, int | None]:
        return dict(self.db.conn.execute("SELECT id, duration_ms FROM tracks").fetchall())

    # -- imports -------------------------------------------------------------------------------

    def add_imported_listens(
        self, rows: Iterable[dict[str, Any]], session_gap_s: float
    ) -> tuple[int, int]:
        """Insert imported plays (time-ordered dicts with track_id, started_at, ended_at,
        played_ms, skipped, artist, title, import_key) in one transaction; a play whose
        ``import_key`` is already there is ignored. Sessions break at ``session_gap_s``.

        ``rows`` may be a generator: it is consumed in chunks, so a history of millions of
        plays is never held a second time as statement values. Returns (inserted, of which
        matched to a track).
        """
        sql = (
            "INSERT OR IGNORE INTO listens(track_id, started_at, ended_at, played_ms, skipped, "
            "source, session_id, artist, title, import_key) "
            "VALUES (?, ?, ?, ?, ?, 'import', ?, ?, ?, ?)"
        )
        matched = unmatched = 0
        with self.transaction() as db:
            session = self.max_session_id()
            last_end: float | None = None
            values: dict[bool, list[tuple[Any, ...]]] = {True: [], False: []}

            def insert() -> None:
                nonlocal matched, unmatched
                # (Two statements: the matched count is the first one's rowcount.)
                matched += db.conn.executemany(sql, values[True]).rowcount
                unmatched += db.conn.executemany(sql, values[False]).rowcount
                values[True].clear()
                values[False].clear()

            for r in rows:
                if last_end is None or r["started_at"] - last_end > session_gap_s:
                    session += 1
                last_end = r["ended_at"]
                values[r["track_id"] is not None].append((
                    r["track_id"], r["started_at"], r["ended_at"], r["played_ms"], r["skipped"],
                    session, r["artist"], r["title"], r["import_key"]))
                if len(values[True]) + len(values[False]) >= _IMPORT_CHUNK:
                    insert()
            insert()
        return matched + unmatched, matched

    def save_playlist(
        self,
        name: str,
        source_path: str,
        items: Sequence[tuple[int | None, str | None, str | None]],
    ) -> int:
        """Store a playlist ``(track_id or None, artist, title)`` per entry, replacing one
        imported before from the same source. Returns its id."""
        with self.transaction() as db:
            db.conn.execute("DELETE FROM playlists WHERE source_path = ?", (source_path,))
            cur = db.conn.execute(
                "INSERT INTO playlists(name, source_path, imported_at) VALUES (?, ?, ?)",
                (name, source_path, time.time()),
            )
            playlist_id = int(cur.lastrowid)
            db.conn.executemany(
                "INSERT INTO playlist_items(playlist_id, position, track_id, artist, title) "
                "VALUES (?, ?, ?, ?, ?)",
                [(playlist_id, i, t, a, ti) for i, (t, a, ti) in enumerate(items)],
            )
        return playlist_id

    def playlists(self) -> list[PlaylistTracks]:
        """Every playlist (imported or made in Segue; not the play queue) with its entries'
        track ids (None where unmatched), in order: what training reads."""
        out = []
        for pid, name, source in self.db.conn.execute(
                "SELECT id, name, source_path FROM playlists WHERE kind != 'queue' ORDER BY id"
        ).fetchall():
            items = tuple(r[0] for r in self.db.conn.execute(
                "SELECT track_id FROM playlist_items WHERE playlist_id = ? ORDER BY position",
                (pid,)))
            out.append(PlaylistTracks(pid, name, source, items))
        return out

    # -- statistics --------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counts for ``segue stats`` and the status bar."""
        q = self.db.conn.execute
        present = "FROM tracks WHERE missing = 0"
        return {
            "tracks": q(f"SELECT count(*) {present}").fetchone()[0],
            "missing": q("SELECT count(*) FROM tracks WHERE missing = 1").fetchone()[0],
            "artists": q(
                f"SELECT count(DISTINCT lower(coalesce(albumartist, artist))) {present} "
                "AND coalesce(albumartist, artist) IS NOT NULL"
            ).fetchone()[0],
            "albums": q(
                f"SELECT count(*) FROM (SELECT DISTINCT lower(album), "
                f"lower(coalesce(albumartist, artist, '')) {present} AND album IS NOT NULL)"
            ).fetchone()[0],
            "listens": q("SELECT count(*) FROM listens").fetchone()[0],
            "scan_errors": q("SELECT count(*) FROM scan_errors").fetchone()[0],
            "roots": q("SELECT count(*) FROM roots").fetchone()[0],
        }


#: An album's artist as the browser names it (see :func:`browse_keys`): the album artist,
#: else "Various Artists" for a flagged compilation, else the track artist.
_ALBUM_ARTIST_SQL = ("coalesce(t.albumartist, CASE WHEN t.compilation THEN 'Various Artists' "
                     "END, t.artist)")


def _track_values(row: dict[str, Any]) -> list[Any]:
    """The row's :data:`TRACK_FIELDS` in order; has_cover and compilation default to 0,
    search and tags_version are derived."""
    artist_key, album_key = browse_keys(row)
    values = {"has_cover": 0, "compilation": 0, **row, "search": search_text(row),
              "tags_version": TAGS_VERSION, "artist_key": artist_key, "album_key": album_key}
    return [values.get(f) for f in TRACK_FIELDS]


def _album_key(row: dict[str, Any]) -> tuple[str, str]:
    """What makes two tracks one album for album gain (see :meth:`Library.loudness`)."""
    artist = row["albumartist"]
    return (row["album"], fold(artist) if artist else os.path.dirname(row["path"]))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
