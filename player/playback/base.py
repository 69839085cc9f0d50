"""The playback backend contract: what the player needs from something that makes sound.

Two implementations: :class:`player.playback.qt.QtBackend` (QMediaPlayer, real audio) and
:class:`player.playback.null.NullBackend` (silent, deterministic, for fast tests). The engine
talks only to this interface, so every rule above it is tested without audio and then again,
end to end, with it.

A backend plays one file at a time. It reports, through Qt signals on the GUI thread:

* ``stateChanged(PlaybackState)`` when it starts, pauses or stops;
* ``positionChanged(int)`` / ``durationChanged(int)`` in milliseconds;
* ``finished()`` once when the file played to its end (the training signal: "heard it all");
* ``failed(str)`` when the file cannot be played (missing, undecodable), with the reason.
"""

from __future__ import annotations

import enum

from PySide6.QtCore import QObject, Signal


class PlaybackState(enum.Enum):
    STOPPED = "stopped"
    PLAYING = "playing"
    PAUSED = "paused"


class Backend(QObject):
    """Base class of playback backends; subclasses implement every method below."""

    stateChanged = Signal(object)  # PlaybackState
    positionChanged = Signal(int)
    durationChanged = Signal(int)
    finished = Signal()
    failed = Signal(str)

    name = "abstract"

    def load(self, path: str) -> None:
        """Make ``path`` the current file, stopped at 0. Problems arrive as ``failed``."""
        raise NotImplementedError

    def play(self) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def seek(self, position_ms: int) -> None:
        raise NotImplementedError

    def position(self) -> int:
        raise NotImplementedError

    def duration(self) -> int:
        """The current file's length in ms (0 while unknown)."""
        raise NotImplementedError

    def state(self) -> PlaybackState:
        raise NotImplementedError

    def set_volume(self, volume: int) -> None:
        """Volume 0..100 (perceptual: the backend maps it to its own scale)."""
        raise NotImplementedError

    def volume(self) -> int:
        raise NotImplementedError

    def set_rate(self, rate: float) -> None:
        """Playback speed; tests use up to 32x to play real files quickly."""
        raise NotImplementedError

    def shutdown(self) -> None:
        """Release devices before the application quits."""
        self.stop()
