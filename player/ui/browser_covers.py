"""Album covers for the browser: read and scaled off the GUI thread, kept in memory.

The browser asks :meth:`CoverThumbnails.get` for a track's cover while it paints; the first
time, the answer is None and two worker threads find the picture (embedded first, then a
cover file beside the track: :func:`player.covers.cover_path`, which also keeps embedded
pictures in ``<data-dir>/covers``), decode it and scale it into a :class:`QImage` (the only
image class safe off the GUI thread). ``ready(track id)`` then tells the view to repaint;
the GUI thread only turns the small image into a pixmap. The last :data:`KEPT` thumbnails stay
in memory.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QImageReader, QPixmap

from player.covers import cover_path
from player.library.db import Library

log = logging.getLogger(__name__)

KEPT = 2000


def load_thumbnail(library: Library, track_id: int, cache_dir: Path, size: int) -> QImage | None:
    """The cover of a track scaled to fit ``size`` px (device pixels), or None: on any thread
    but the GUI's."""
    track = library.track(track_id)
    if track is None:
        return None
    path = cover_path(track, cache_dir)
    if path is None:
        return None
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    full = reader.size()
    if full.isValid() and (full.width() > size * 2 or full.height() > size * 2):
        # Let the decoder scale (JPEG decodes at 1/2, 1/4, 1/8 for free): a 3000 px scan
        # is never decoded whole for a 48 px thumbnail.
        reader.setScaledSize(full.scaled(QSize(size * 2, size * 2),
                                         Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        log.debug("cannot read the cover %s: %s", path, reader.errorString())
        return None
    return image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation)


class CoverThumbnails(QObject):
    """Thumbnails of covers by track id, loaded in the background, kept in memory (LRU)."""

    ready = Signal(int)  # the cover of this track id is now available (or known absent)
    _loaded = Signal(int, object)

    def __init__(self, library: Library, cache_dir: Path, size: int,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.cache_dir = cache_dir
        self.size = size
        self._pixmaps: OrderedDict[int, QPixmap | None] = OrderedDict()
        self._asked: set[int] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="segue-covers")
        self._loaded.connect(self._store, Qt.ConnectionType.QueuedConnection)

    def get(self, track_id: int) -> QPixmap | None:
        """The thumbnail if loaded (None while loading, or when the album has no cover)."""
        if track_id in self._pixmaps:
            self._pixmaps.move_to_end(track_id)
            return self._pixmaps[track_id]
        if track_id not in self._asked and not self._closed:
            self._asked.add(track_id)
            self._pool.submit(self._load, track_id)
        return None

    def known(self, track_id: int) -> bool:
        """True once the cover of this track was looked for."""
        return track_id in self._pixmaps

    def pending(self) -> int:
        """Covers asked for and not loaded yet."""
        return len(self._asked)

    def close(self) -> None:
        """Stop loading (before the library closes)."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _load(self, track_id: int) -> None:
        if self._closed:
            return
        try:
            image = load_thumbnail(self.library, track_id, self.cache_dir, self.size)
        except Exception:  # noqa: BLE001 - a bad picture must not stop the others
            log.exception("cannot load the cover of track %s", track_id)
            image = None
        if not self._closed:
            self._loaded.emit(track_id, image)

    def _store(self, track_id: int, image: QImage | None) -> None:
        self._asked.discard(track_id)
        self._pixmaps[track_id] = QPixmap.fromImage(image) if image is not None else None
        while len(self._pixmaps) > KEPT:
            self._pixmaps.popitem(last=False)
        self.ready.emit(track_id)
