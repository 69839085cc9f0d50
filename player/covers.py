"""Cover art for a track: the picture embedded in the file, else an image beside it.

Covers are written once to ``<data-dir>/covers/<track id>.img`` so that the UI and MPRIS
(``mpris:artUrl`` must be a URL) can share them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from player.library.db import Track
from player.library.paths import to_fs
from player.library.tags import read_cover

log = logging.getLogger(__name__)

#: Image file names looked for in a track's folder, in order (case-insensitive).
FOLDER_IMAGES = ("cover", "folder", "front", "album", "albumart")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


def folder_image(track_path: str) -> Path | None:
    """cover.jpg, folder.png… in the track's folder, if any."""
    folder = Path(to_fs(os.fspath(track_path))).parent
    try:
        names = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    except OSError:
        return None
    for stem in FOLDER_IMAGES:
        for ext in IMAGE_EXTENSIONS:
            if stem + ext in names:
                return names[stem + ext]
    return None


def cover_path(track: Track, cache_dir: Path) -> Path | None:
    """A file holding the track's cover (embedded first, then the folder's), or None."""
    cached = cache_dir / f"{track.id}.img"
    try:
        if cached.exists() and cached.stat().st_mtime >= float(track.mtime or 0):
            return cached
    except OSError:
        pass
    data = read_cover(track.path) if track.has_cover else None
    if data:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, cached)
            return cached
        except OSError as exc:
            log.warning("cannot cache cover of %s: %s", track.path, exc)
    return folder_image(track.path)
