"""Open with Segue: ``segue FILE_OR_FOLDER...`` and the desktop's "Open with" play what they
are given, in order, adding it to the library.

Audio files and folders join the library where they are (:func:`player.library.folders.
add_files`: a folder's files in album order); an M3U/M3U8 playlist is imported (it then shows
in the sidebar) and its entries that are in the library play in its order.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from urllib.parse import unquote, urlparse

from player.importer import PLAYLIST_SUFFIXES, import_history
from player.library.db import Library
from player.library.folders import AddedFiles, add_files
from player.library.playlists import PlaylistStore

log = logging.getLogger(__name__)


class NotALocalFile(ValueError):
    """A URI that is not a local file (``http://...``): Segue plays local files only."""


def local_path(arg: str) -> str:
    """A command-line argument as a local path: ``file://`` URIs (what the desktop's ``%U``
    gives) decoded, other paths made absolute. Raises :class:`NotALocalFile` for a URL."""
    if "://" in arg:
        url = urlparse(arg)
        if url.scheme != "file" or url.netloc not in ("", "localhost"):
            raise NotALocalFile(f"{arg}: not a local file (Segue plays files on this computer)")
        arg = unquote(url.path)
    return os.path.abspath(os.path.expanduser(arg))


def open_paths(library: Library, paths: Sequence[str],
               cancel: threading.Event | None = None) -> AddedFiles:
    """Add what was opened to the library; its track ids in the order to play them."""
    result = AddedFiles()
    for path in paths:
        if cancel is not None and cancel.is_set():
            result.cancelled = True
            break
        if os.path.splitext(path)[1].lower() in PLAYLIST_SUFFIXES and os.path.isfile(path):
            report = import_history(library, [path])
            if report.unreadable or not report.playlists:
                reason = report.errors[0][1] if report.errors else "an empty playlist"
                result.failed.append((path, reason))
                continue
            store = PlaylistStore(library)
            playlist = next((p for p in store.all() if p.source_path == path), None)
            if playlist is not None:
                result.track_ids.extend(store.playable_ids(playlist.id))
            continue
        part = add_files(library, [path], cancel)
        result.track_ids.extend(part.track_ids)
        result.failed.extend(part.failed)
    log.info("opened %d paths: %d tracks to play, %d problems", len(paths),
             len(result.track_ids), len(result.failed))
    return result
