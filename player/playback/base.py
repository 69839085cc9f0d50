"""The playback backend contract: what the player needs from something that makes sound.

Three implementations: :class:`player.playback.stream.StreamBackend` (the default: PyAV
decoding into one output stream that stays open, in an audio process of its own: gapless,
gain, crossfade), :class:`player.playback.qt.QtBackend` (QMediaPlayer: one stream per file,
kept as the baseline the sound benchmark compares against) and
:class:`player.playback.null.NullBackend` (silent, deterministic, for fast tests). The engine
talks only to this interface, so every rule above it is tested without audio and then again,
end to end, with it.

A backend plays one :class:`~player.playback.cue.Cue` at a time and may be told the next one
(:meth:`Backend.set_next`). It reports, through Qt signals on the GUI thread:

* ``stateChanged(PlaybackState)``: ``PLAYING`` once sound is heard (a backend with its own
  output reports it at the first audible sample), ``PAUSED``, ``STOPPED``;
* ``positionChanged(int)`` / ``durationChanged(int)`` in milliseconds, from the samples played;
* at the end of the current cue, exactly one of: ``advanced(tag)`` when the cue set with
  :meth:`~Backend.set_next` took over (it is now current: the one before played to its end),
  or ``finished()`` when nothing was set to follow;
* ``failed(str)`` when the current cue cannot be played (missing, undecodable), with the
  reason; ``nextFailed(tag, str)`` when the cue set to follow cannot.
"""

from __future__ import annotations

import enum

from PySide6.QtCore import QObject, Signal

from player.playback.cue import Cue


class PlaybackState(enum.Enum):
    STOPPED = "stopped"
    PLAYING = "playing"
    PAUSED = "paused"


def as_cue(cue: Cue | str) -> Cue:
    """A plain path is a cue with the defaults (tag 0, no gain, gapless)."""
    return cue if isinstance(cue, Cue) else Cue(str(cue))


class Backend(QObject):
    """Base class of playback backends; subclasses implement every method below."""

    stateChanged = Signal(object)  # PlaybackState
    positionChanged = Signal(int)
    durationChanged = Signal(int)
    finished = Signal()
    failed = Signal(str)
    advanced = Signal(int)  # the tag of the cue that followed on
    nextFailed = Signal(int, str)  # tag, reason

    name = "abstract"
    #: True when set_next joins the tracks sample to sample (and can crossfade).
    gapless = False

    def __init__(self) -> None:
        super().__init__()
        self._next_cue: Cue | None = None

    def load(self, cue: Cue | str) -> None:
        """Make ``cue`` the current one, stopped at 0. Problems arrive as ``failed``."""
        raise NotImplementedError

    def set_next(self, cue: Cue | None) -> None:
        """What plays when the current cue ends (``None``: nothing; ``finished`` then).

        Called again whenever that changes; the last call before the end wins. This base
        version is for backends without a stream of their own: at the end they load the next
        cue and play it (with the gap their output makes); see :meth:`_end_of_media`.
        """
        self._next_cue = cue

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

    def set_gain(self, tag: int, gain: float) -> None:
        """Change the gain of a cue already given (the ReplayGain setting changed)."""

    def set_rate(self, rate: float) -> None:
        """Playback speed; tests use up to 32x to play real files quickly."""
        raise NotImplementedError

    def underruns(self) -> int:
        """How many times the device ran dry while music played (0 where unknown)."""
        return 0

    def shutdown(self) -> None:
        """Release devices before the application quits."""
        self.stop()

    def _end_of_media(self) -> None:
        """For backends without a stream: the current cue ended; follow on or finish."""
        cue, self._next_cue = self._next_cue, None
        if cue is None:
            self.finished.emit()
            return
        # The engine hears of the change first (the new cue is current from now on), so that
        # a failure to load it is reported as that cue's failure.
        self.advanced.emit(cue.tag)
        self.load(cue)
        self.play()
