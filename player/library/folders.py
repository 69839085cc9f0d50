"""Music folders as the user manages them: add, remove, and files opened from outside them.

* :func:`remove_folder`: a folder leaves the library with its tracks, but **the listening
  history stays**: each of its listens (and playlist entries) keeps the artist, title and album
  it was heard as, in place of the track id — the model still learns from it, and the counts of
  ``segue stats`` still include it. A track also under another music folder (nested folders)
  stays.
* :func:`add_folder`: a music folder added; the first real one replaces the demo library.
* :func:`add_files`: files (and folders) opened with Segue ("Open with", ``segue FILE...``)
  join the library where they are, without making their folder a music folder; a rescan leaves
  them alone while their files exist.

Each runs its writes in one transaction: a kill leaves the folder either removed or not.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from player.library.db import Library, _chunks
from player.library.paths import to_db, to_fs
from player.library.tags import AUDIO_EXTENSIONS, read_many

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MusicFolder:
    """A music folder as the preferences list it."""

    path: str
    tracks: int  # present tracks under it
    exists: bool  # False: unmounted drive, deleted folder


@dataclass(frozen=True, slots=True)
class FolderRemoval:
    """What removing a music folder did."""

    folder: str
    tracks_removed: int
    listens_kept: int  # listens of those tracks, kept in the history by their text


@dataclass(frozen=True, slots=True)
class FolderAdded:
    """What adding a music folder did; ``demo_removed`` when it replaced the demo library."""

    folder: str
    new: bool  # False: it was a music folder already
    demo_removed: FolderRemoval | None = None


@dataclass
class AddedFiles:
    """Files opened with Segue: their track ids in the order given, and what failed."""

    track_ids: list[int] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    cancelled: bool = False


def _norm(folder: str | os.PathLike[str]) -> str:
    return os.path.abspath(os.fspath(folder))


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def folders(library: Library) -> list[MusicFolder]:
    """The music folders, in the order they were added, with their track counts."""
    out = []
    for root in library.roots():
        prefix = root.rstrip(os.sep) + os.sep
        count = library.db.conn.execute(
            "SELECT count(*) FROM tracks WHERE missing = 0 AND substr(path, 1, ?) = ?",
            (len(prefix), prefix)).fetchone()[0]
        out.append(MusicFolder(root, int(count), os.path.isdir(root)))
    return out


def remove_folder(library: Library, folder: str | os.PathLike[str]) -> FolderRemoval:
    """Remove a music folder and its tracks; their listens stay in the history (by text)."""
    folder = _norm(folder)
    prefix = folder.rstrip(os.sep) + os.sep
    with library.transaction() as db:
        conn = db.conn
        others = [r for (r,) in conn.execute("SELECT path FROM roots WHERE path != ?",
                                             (folder,))]
        ids = [tid for tid, path in conn.execute(
            "SELECT id, path FROM tracks WHERE substr(path, 1, ?) = ?", (len(prefix), prefix))
            if not any(_under(path, o) for o in others)]
        kept = 0
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            # The text the listen was heard as replaces the id: the history stays whole.
            kept += conn.execute(
                "UPDATE listens SET "
                "artist = coalesce(artist, (SELECT artist FROM tracks t WHERE t.id = track_id)), "
                "title = coalesce(title, (SELECT title FROM tracks t WHERE t.id = track_id)), "
                "album = coalesce(album, (SELECT album FROM tracks t WHERE t.id = track_id)), "
                f"track_id = NULL WHERE track_id IN ({marks})", chunk).rowcount
            conn.execute(
                "UPDATE playlist_items SET "
                "artist = coalesce(artist, (SELECT artist FROM tracks t WHERE t.id = track_id)), "
                "title = coalesce(title, (SELECT title FROM tracks t WHERE t.id = track_id)), "
                f"track_id = NULL WHERE track_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM tracks WHERE id IN ({marks})", chunk)
        conn.execute("DELETE FROM roots WHERE path = ?", (folder,))
        conn.execute("DELETE FROM scan_errors WHERE path = ? OR substr(path, 1, ?) = ?",
                     (folder, len(prefix), prefix))
    log.info("removed music folder %s: %d tracks, %d listens kept", folder, len(ids), kept)
    return FolderRemoval(folder, len(ids), kept)


def add_folder(library: Library, folder: str | os.PathLike[str],
               demo_folder: str | os.PathLike[str] | None = None) -> FolderAdded:
    """Add a music folder (the caller scans). When it is the first real one and the demo
    library is in the library, the demo leaves (its listens stay, as for any folder)."""
    folder = _norm(folder)
    new = library.add_root(folder)
    removed = None
    if demo_folder is not None:
        demo = _norm(demo_folder)
        roots = library.roots()
        if folder != demo and demo in roots and all(r == demo or _under(r, demo)
                                                    for r in roots if r != folder):
            removed = remove_folder(library, demo)
    return FolderAdded(folder, new, removed)


def add_files(library: Library, paths: Sequence[str | os.PathLike[str]],
              cancel: threading.Event | None = None) -> AddedFiles:
    """Add audio files (and the audio files under folders) to the library where they are,
    reading their tags; returns their track ids in the order given — a folder's files in
    album order (folder, disc, track number, name). Files already in the library, unchanged,
    are not read again. Never raises for a bad file: it goes into ``failed``."""
    result = AddedFiles()
    groups: list[list[str]] = []
    for raw in paths:
        path = _norm(raw)
        if os.path.isdir(path):
            groups.append([to_db(p) for p in _audio_files_under(path)])
        elif not os.path.exists(path):
            result.failed.append((path, "no such file"))
        elif os.path.splitext(path)[1].lower() not in AUDIO_EXTENSIONS:
            result.failed.append((path, "not an audio file Segue plays"))
        else:
            groups.append([to_db(path)])  # stored text from here on: player.library.paths
    known = {}
    to_read: list[str] = []
    for path in (p for g in groups for p in g):
        row = library.track_by_path(path)
        try:
            st = os.stat(to_fs(path))
        except OSError as exc:
            result.failed.append((path, (exc.strerror or str(exc)).lower()))
            continue
        if row is not None and not row.missing and row.size == st.st_size \
                and row.mtime == st.st_mtime:
            known[path] = row
        else:
            to_read.append(path)
    rows = []
    for i in range(0, len(to_read), 64):
        if cancel is not None and cancel.is_set():
            result.cancelled = True
            return result
        for path, row, reason in read_many(to_read[i:i + 64]):
            if row is None:
                result.failed.append((path, reason or "unreadable"))
                continue
            st = os.stat(to_fs(path))
            row.update(path=path, size=st.st_size, mtime=st.st_mtime)
            rows.append(row)
    if rows:
        library.add_tracks(rows)
    for row in rows:
        known[row["path"]] = library.track_by_path(row["path"])
    for group in groups:
        present = [known[p] for p in group if known.get(p) is not None]
        if len(group) > 1:  # a folder: in album order
            present.sort(key=lambda r: (os.path.dirname(r.path), r.disc_number or 1,
                                        r.track_number or 0, r.path))
        result.track_ids.extend(r.id for r in present)
    log.info("opened %d files: %d tracks, %d failed", len(to_read) + len(known),
             len(result.track_ids), len(result.failed))
    return result


def _audio_files_under(folder: str) -> Iterable[str]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
                yield os.path.join(dirpath, name)


def outside_roots(path: str, roots: Sequence[str]) -> bool:
    """True for a track added by :func:`add_files` outside every music folder."""
    return not any(_under(path, r) for r in roots)


def demo_folder_of(data_dir: str | os.PathLike[str]) -> Path:
    """Where the demo library lives (:func:`player.demo.install_demo_library` puts it)."""
    return Path(data_dir) / "demo"
