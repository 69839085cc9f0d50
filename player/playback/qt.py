"""QMediaPlayer + QAudioOutput: the baseline the sound benchmark measures Segue against.

QMediaPlayer opens a new audio stream for every file, which on a default PulseAudio leaves up
to ~2 s of silence between songs, and it knows nothing of ReplayGain or crossfades: the app
plays with :class:`player.playback.stream.StreamBackend`. This backend stays for
``python -m bench sound`` (the same recordings of both, side by side) and as a fallback
(``SEGUE_BACKEND=qt``) should the audio process fail on some system.

Where there is no sound server, Qt still plays on a real-time clock, so positions advance and
files end; with a PulseAudio server (even a null sink) the samples reach an audio device.
"""

from __future__ import annotations

import logging
import os

from PySide6.QtCore import QUrl
from PySide6.QtMultimedia import QAudio, QAudioOutput, QMediaPlayer

from player.library.paths import to_fs
from player.playback.base import Backend, PlaybackState, as_cue
from player.playback.cue import Cue

log = logging.getLogger(__name__)

_STATES = {
    QMediaPlayer.PlaybackState.StoppedState: PlaybackState.STOPPED,
    QMediaPlayer.PlaybackState.PlayingState: PlaybackState.PLAYING,
    QMediaPlayer.PlaybackState.PausedState: PlaybackState.PAUSED,
}


#: Media states in which QMediaPlayer drops a seek.
_NOT_OPEN = (QMediaPlayer.MediaStatus.NoMedia, QMediaPlayer.MediaStatus.LoadingMedia)


class QtBackend(Backend):
    name = "qt"

    def __init__(self) -> None:
        super().__init__()
        self._player = QMediaPlayer(self)
        self._output = QAudioOutput(self)
        self._player.setAudioOutput(self._output)
        self._volume = 100
        self._failed_source = False
        #: A seek asked for before the media is open: QMediaPlayer would drop it (a position
        #: restored at start-up), so it is applied once the media is loaded.
        self._pending_seek: int | None = None
        self._player.playbackStateChanged.connect(self._on_state)
        self._player.positionChanged.connect(self._on_position)
        self._player.seekableChanged.connect(lambda _seekable: self._apply_pending_seek())
        self._player.durationChanged.connect(lambda ms: self.durationChanged.emit(int(ms)))
        self._player.mediaStatusChanged.connect(self._on_status)
        self._player.errorOccurred.connect(self._on_error)

    def load(self, cue: Cue | str) -> None:
        path = to_fs(as_cue(cue).path)  # a stored path: see player.library.paths
        self._failed_source = False
        self._pending_seek = None
        if not os.path.exists(path):
            # QMediaPlayer would report a generic resource error later; say it now, plainly.
            self._player.setSource(QUrl())
            self._failed_source = True
            self.failed.emit("file not found")
            return
        self._player.setSource(QUrl.fromLocalFile(path))

    def play(self) -> None:
        if not self._failed_source:
            self._player.play()

    def pause(self) -> None:
        self._player.pause()

    def stop(self) -> None:
        self._pending_seek = None
        self._player.stop()

    def seek(self, position_ms: int) -> None:
        if self._player.mediaStatus() in _NOT_OPEN or not self._player.isSeekable():
            self._pending_seek = max(0, int(position_ms))
            self.positionChanged.emit(self._pending_seek)
            return
        self._pending_seek = None
        self._player.setPosition(int(position_ms))

    def position(self) -> int:
        if self._pending_seek is not None:
            return self._pending_seek
        return int(self._player.position())

    def duration(self) -> int:
        return int(self._player.duration())

    def state(self) -> PlaybackState:
        return _STATES[self._player.playbackState()]

    def set_volume(self, volume: int) -> None:
        self._volume = max(0, min(100, int(volume)))
        # The slider is perceptual (logarithmic); the output takes a linear factor.
        linear = QAudio.convertVolume(
            self._volume / 100,
            QAudio.VolumeScale.LogarithmicVolumeScale,
            QAudio.VolumeScale.LinearVolumeScale,
        )
        self._output.setVolume(linear)

    def volume(self) -> int:
        return self._volume

    def set_rate(self, rate: float) -> None:
        self._player.setPlaybackRate(float(rate))

    def shutdown(self) -> None:
        self._player.stop()
        self._player.setSource(QUrl())

    # -- Qt signals -> the contract ------------------------------------------------------------

    def _apply_pending_seek(self) -> None:
        # Both are needed: a seek while the status is still LoadingMedia is dropped, even
        # when the player already says it is seekable.
        if self._pending_seek is not None and self._player.isSeekable() \
                and self._player.mediaStatus() not in _NOT_OPEN:
            position, self._pending_seek = self._pending_seek, None
            self._player.setPosition(position)

    def _on_position(self, ms: int) -> None:
        if self._pending_seek is None:  # the media's 0 before a pending seek is not news
            self.positionChanged.emit(int(ms))

    def _on_state(self, state: QMediaPlayer.PlaybackState) -> None:
        self.stateChanged.emit(_STATES[state])

    def _on_status(self, status: QMediaPlayer.MediaStatus) -> None:
        if status in (QMediaPlayer.MediaStatus.LoadedMedia, QMediaPlayer.MediaStatus.BufferedMedia):
            self._apply_pending_seek()
        if status == QMediaPlayer.MediaStatus.EndOfMedia:
            self._end_of_media()
        elif status == QMediaPlayer.MediaStatus.InvalidMedia and not self._failed_source:
            self._failed_source = True
            self.failed.emit(self._player.errorString() or "cannot decode the file")

    def _on_error(self, error: QMediaPlayer.Error, message: str) -> None:
        if error == QMediaPlayer.Error.NoError or self._failed_source:
            return
        self._failed_source = True
        log.info("playback error %s: %s", error, message)
        self.failed.emit(message or "cannot play the file")
