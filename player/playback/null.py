"""A silent backend: the whole playback state machine, without audio, for fast tests.

Time passes on a clock the test controls: :meth:`NullBackend.advance` moves the position by a
number of milliseconds (reaching the end emits ``finished``). With ``realtime=True`` a timer
advances it by the wall clock times the rate instead, like a real player.

At the end of a file it follows on to the cue given by ``set_next`` (``advanced``), as a
gapless backend would, or emits ``finished``.

Durations come from a callable (the library's ``duration_ms``) or default to 3 minutes; a path
that does not exist, or is listed in ``broken``, fails to load like an undecodable file; one
listed in ``stalled`` plays without ever advancing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from PySide6.QtCore import QTimer

from player.playback.base import Backend, PlaybackState, as_cue
from player.playback.cue import Cue

DEFAULT_DURATION_MS = 180_000


class NullBackend(Backend):
    name = "null"

    def __init__(
        self,
        duration_of: Callable[[str], int | None] | None = None,
        realtime: bool = False,
        broken: set[str] | None = None,
        stalled: set[str] | None = None,
    ) -> None:
        super().__init__()
        self._duration_of = duration_of or (lambda path: None)
        self.broken = broken if broken is not None else set()
        #: Paths that "play" but never advance, like a corrupt file FFmpeg accepts.
        self.stalled = stalled if stalled is not None else set()
        self._path: str | None = None
        self._state = PlaybackState.STOPPED
        self._position = 0
        self._duration = 0
        self._volume = 100
        self._rate = 1.0
        self.loads: list[str] = []  # every path loaded, for tests
        self._timer: QTimer | None = None
        self._last_tick = 0.0
        if realtime:
            self._timer = QTimer(self)
            self._timer.setInterval(20)
            self._timer.timeout.connect(self._tick)

    # -- the contract ------------------------------------------------------------------------

    def load(self, cue: Cue | str) -> None:
        path = as_cue(cue).path
        self._set_state(PlaybackState.STOPPED)
        self._path = path
        self.loads.append(path)
        self._position = 0
        if not os.path.exists(path):
            self._path = None
            self.failed.emit("file not found")
            return
        if path in self.broken:
            self._path = None
            self.failed.emit("cannot decode the file")
            return
        self._duration = self._duration_of(path) or DEFAULT_DURATION_MS
        self.durationChanged.emit(self._duration)
        self.positionChanged.emit(0)

    def play(self) -> None:
        if self._path is None:
            return
        self._last_tick = time.monotonic()
        self._set_state(PlaybackState.PLAYING)

    def pause(self) -> None:
        if self._state is PlaybackState.PLAYING:
            self._set_state(PlaybackState.PAUSED)

    def stop(self) -> None:
        self._position = 0
        self._set_state(PlaybackState.STOPPED)

    def seek(self, position_ms: int) -> None:
        if self._path is None:
            return
        self._position = max(0, min(int(position_ms), self._duration))
        self.positionChanged.emit(self._position)

    def position(self) -> int:
        return self._position

    def duration(self) -> int:
        return self._duration if self._path else 0

    def state(self) -> PlaybackState:
        return self._state

    def set_volume(self, volume: int) -> None:
        self._volume = max(0, min(100, int(volume)))

    def volume(self) -> int:
        return self._volume

    def set_rate(self, rate: float) -> None:
        self._rate = float(rate)

    # -- the test clock ----------------------------------------------------------------------

    def advance(self, ms: int) -> None:
        """Play ``ms`` milliseconds (only while playing); the end emits ``finished``."""
        if self._state is not PlaybackState.PLAYING or self._path is None:
            return
        if self._path in self.stalled:
            return
        self._position = min(self._position + int(ms), self._duration)
        self.positionChanged.emit(self._position)
        if self._position >= self._duration:
            if self._next_cue is None:
                self._set_state(PlaybackState.STOPPED)
            self._end_of_media()

    def _tick(self) -> None:
        now = time.monotonic()
        elapsed, self._last_tick = now - self._last_tick, now
        self.advance(int(elapsed * 1000 * self._rate))

    def _set_state(self, state: PlaybackState) -> None:
        if state is self._state:
            return
        self._state = state
        if self._timer is not None:
            if state is PlaybackState.PLAYING:
                self._timer.start()
            else:
                self._timer.stop()
        self.stateChanged.emit(state)
