"""Playback backends: what makes sound, behind one contract (:mod:`player.playback.base`).

:func:`create_backend` picks one by name; the environment variable ``SEGUE_BACKEND`` overrides
the default (``stream``: Segue's own gapless output; ``qt``: QtMultimedia's QMediaPlayer, the
baseline of the sound benchmark; ``null``: the silent test backend), so that a benchmark or a
test can run the whole app on a chosen backend.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # base imports Qt; player.playback.gain must load without it
    from player.playback.base import Backend

ENV_BACKEND = "SEGUE_BACKEND"
BACKENDS = ("stream", "qt", "null")
DEFAULT_BACKEND = "stream"


class UnknownBackendError(ValueError):
    """``SEGUE_BACKEND`` (or a caller) named a backend that does not exist."""


def create_backend(name: str | None = None) -> Backend:
    """A new backend by name; ``None`` means ``$SEGUE_BACKEND`` or the default.

    Imports happen here, not at module level: QtMultimedia loads FFmpeg, which must stay off
    the start-up path until the window is shown.
    """
    name = (name or os.environ.get(ENV_BACKEND) or DEFAULT_BACKEND).strip().lower()
    if name == "stream":
        from player.playback.stream import StreamBackend

        return StreamBackend()
    if name == "qt":
        from player.playback.qt import QtBackend

        return QtBackend()
    if name == "null":
        from player.playback.null import NullBackend

        return NullBackend(realtime=True)
    raise UnknownBackendError(f"unknown playback backend {name!r} (known: {', '.join(BACKENDS)})")
