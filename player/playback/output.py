"""Audio outputs for the audio process: one stream that stays open, fed in push mode.

:class:`QtOutput` is a ``QAudioSink`` (PulseAudio, PipeWire…) opened once, in float32 stereo
at the device's preferred rate, and kept running for the whole session: a new stream per
track is what made QMediaPlayer leave up to 2 s of silence between songs on a default
PulseAudio. :class:`ClockOutput` is the same contract with no device (no sound server): it
consumes samples at real-time speed, so that playback, positions and track ends behave as
they would with sound.

Both must be used from one thread (the audio process's main thread).
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

#: Bytes per output frame: float32 stereo.
FRAME_BYTES = 8
#: Audio written ahead of what is heard. Small, because pause, seek and volume take effect
#: after it (nothing written to the device can be taken back without reopening the stream);
#: large enough for the audio process to miss a few ticks. The audio process has its own,
#: much longer, queue of decoded samples in front of it.
DEVICE_BUFFER_MS = 60


class OutputError(Exception):
    """The audio device cannot be opened or has failed."""


class Output(Protocol):
    """What the audio process needs from a sound device."""

    name: str
    rate: int

    def free_frames(self) -> int: ...

    def buffered_frames(self) -> int: ...

    def write(self, samples: np.ndarray) -> int: ...

    def close(self) -> None: ...


class ClockOutput:
    """A device that plays nothing, at real-time speed, with a buffer like a real one's."""

    name = "clock"

    def __init__(self, rate: int = 44100, buffer_ms: int = DEVICE_BUFFER_MS,
                 clock: type[time.monotonic] | None = None) -> None:
        self.rate = rate
        self._clock = clock or time.monotonic
        self._capacity = rate * buffer_ms // 1000
        self._buffered = 0.0
        self._last = self._clock()

    def _drain(self) -> None:
        now = self._clock()
        self._buffered = max(0.0, self._buffered - (now - self._last) * self.rate)
        self._last = now

    def free_frames(self) -> int:
        self._drain()
        return max(0, self._capacity - int(self._buffered))

    def buffered_frames(self) -> int:
        self._drain()
        return int(self._buffered)

    def write(self, samples: np.ndarray) -> int:
        n = min(len(samples), self.free_frames())
        self._buffered += n
        return n

    def close(self) -> None:
        pass


class QtOutput:
    """One ``QAudioSink`` in push mode, float32 stereo, open until :meth:`close`."""

    name = "qt"

    def __init__(self, buffer_ms: int = DEVICE_BUFFER_MS) -> None:
        from PySide6.QtMultimedia import QAudioFormat, QAudioSink, QMediaDevices

        device = QMediaDevices.defaultAudioOutput()
        if device.isNull():
            raise OutputError("no audio output device")
        preferred = device.preferredFormat().sampleRate()
        self.rate = preferred if 8000 <= preferred <= 384000 else 44100
        fmt = QAudioFormat()
        fmt.setSampleRate(self.rate)
        fmt.setChannelCount(2)
        fmt.setSampleFormat(QAudioFormat.SampleFormat.Float)
        if not device.isFormatSupported(fmt):
            raise OutputError(f"{device.description()} cannot play float32 stereo at {self.rate}")
        self.device_name = device.description()
        self._sink = QAudioSink(device, fmt)
        self._sink.setBufferSize(self.rate * buffer_ms // 1000 * FRAME_BYTES)
        self._io = self._sink.start()
        # (QAudio::Error became QtAudio::Error in Qt 6.7: compare by name.)
        if self._io is None or self._sink.error().name != "NoError":
            raise OutputError(f"cannot open {self.device_name}: {self._sink.error()}")
        self._capacity = self._sink.bufferSize() // FRAME_BYTES
        log.info("audio output: %s, %d Hz, buffer %d frames", self.device_name, self.rate,
                 self._capacity)

    def free_frames(self) -> int:
        return self._sink.bytesFree() // FRAME_BYTES

    def buffered_frames(self) -> int:
        return max(0, self._capacity - self.free_frames())

    def write(self, samples: np.ndarray) -> int:
        data = np.ascontiguousarray(samples, dtype=np.float32).tobytes()
        written = self._io.write(data)
        if written < 0:
            raise OutputError(f"the audio device failed: {self._sink.error()}")
        return written // FRAME_BYTES

    def close(self) -> None:
        self._sink.stop()


def open_output(prefer_device: bool = True, buffer_ms: int = DEVICE_BUFFER_MS) -> Output:
    """The default audio device, or a silent real-time clock when there is none."""
    if prefer_device:
        try:
            return QtOutput(buffer_ms)
        except OutputError as exc:
            log.warning("%s: playing without sound", exc)
    return ClockOutput(buffer_ms=buffer_ms)
