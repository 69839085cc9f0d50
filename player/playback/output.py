"""Audio outputs for the audio process: one stream that stays open, fed in push mode.

Each is opened once, in float32 stereo, and kept running for the whole session: a new stream
per track is what made QMediaPlayer leave up to 2 s of silence between songs on a default
PulseAudio.

* :class:`PulseOutput` — PulseAudio's own client library (``libpulse-simple``, which
  PipeWire provides too), through ctypes. Preferred: what we write goes straight into the
  sound server's buffer, so a hiccup of this process up to the whole buffer is inaudible.
  (``QAudioSink`` keeps most of its buffer in the process and gives the server only ~17 ms,
  refilled from the process's event loop: measured, that turned 30-40 ms hiccups into gaps.)
* :class:`QtOutput` — ``QAudioSink``, where libpulse is missing (other sound systems).
* :class:`ClockOutput` — no device (no sound server): consumes samples at real-time speed,
  so that playback, positions and track ends behave as they would with sound.

``SEGUE_AUDIO_OUTPUT=pulse|qt|clock`` forces one (benchmarks compare them). All are used
from one thread (the audio process's writer).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
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
    #: How many frames the writer keeps in the device. The room for more is
    #: ``capacity - buffered_frames()``: one query a tick (for PulseAudio, a round trip to the
    #: server), so the outputs have no second method for it.
    capacity: int

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
        self._capacity = self.capacity = rate * buffer_ms // 1000
        self._buffered = 0.0
        self._last = self._clock()

    def _drain(self) -> None:
        now = self._clock()
        self._buffered = max(0.0, self._buffered - (now - self._last) * self.rate)
        self._last = now

    def buffered_frames(self) -> int:
        self._drain()
        return int(self._buffered)

    def write(self, samples: np.ndarray) -> int:
        n = min(len(samples), max(0, self._capacity - self.buffered_frames()))
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
        self._capacity = self.capacity = self._sink.bufferSize() // FRAME_BYTES
        log.info("audio output: %s, %d Hz, buffer %d frames", self.device_name, self.rate,
                 self._capacity)

    def buffered_frames(self) -> int:
        # (The sink reports the free part of its buffer.)
        return max(0, self._capacity - self._sink.bytesFree() // FRAME_BYTES)

    def write(self, samples: np.ndarray) -> int:
        data = np.ascontiguousarray(samples, dtype=np.float32).tobytes()
        written = self._io.write(data)
        if written < 0:
            raise OutputError(f"the audio device failed: {self._sink.error()}")
        return written // FRAME_BYTES

    def close(self) -> None:
        self._sink.stop()


class _SampleSpec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32),
                ("channels", ctypes.c_uint8)]


class _BufferAttr(ctypes.Structure):
    _fields_ = [("maxlength", ctypes.c_uint32), ("tlength", ctypes.c_uint32),
                ("prebuf", ctypes.c_uint32), ("minreq", ctypes.c_uint32),
                ("fragsize", ctypes.c_uint32)]


_PA_SAMPLE_FLOAT32LE = 5
_PA_STREAM_PLAYBACK = 1
_PA_DEFAULT = 0xFFFFFFFF  # (uint32_t) -1: the server's choice


def _load_libpulse() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    names = [ctypes.util.find_library("pulse-simple") or "libpulse-simple.so.0",
             ctypes.util.find_library("pulse") or "libpulse.so.0"]
    try:
        simple, pulse = (ctypes.CDLL(name) for name in names)
    except OSError as exc:
        raise OutputError(f"libpulse is not installed ({exc})") from exc
    simple.pa_simple_new.restype = ctypes.c_void_p
    simple.pa_simple_new.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                     ctypes.c_char_p, ctypes.c_char_p,
                                     ctypes.POINTER(_SampleSpec), ctypes.c_void_p,
                                     ctypes.POINTER(_BufferAttr),
                                     ctypes.POINTER(ctypes.c_int)]
    simple.pa_simple_write.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                       ctypes.POINTER(ctypes.c_int)]
    simple.pa_simple_get_latency.restype = ctypes.c_uint64
    simple.pa_simple_get_latency.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
    simple.pa_simple_free.argtypes = [ctypes.c_void_p]
    pulse.pa_strerror.restype = ctypes.c_char_p
    pulse.pa_strerror.argtypes = [ctypes.c_int]
    return simple, pulse


class SinkFloor:
    """Our stream's share of PulseAudio's latency.

    ``pa_simple_get_latency`` is our stream's buffer plus the sink's own latency, which the
    server sets and may raise at any time (a client asking for more, a sink that re-plans).
    Keeping the sum at the target works while the sink's part stays below it; once it does
    not, nothing is ever "free" again, our buffer runs dry and the music stops for good while
    the process waits (seen on a desktop-like server with no recorder attached).

    So the sink's part is taken off once it shows: when nothing has been free for
    ``STALL_S`` - longer than our own buffer takes to drain - what remains is the sink's,
    and the lowest latency seen meanwhile becomes the floor. The floor then only follows the
    latency down. Until a first stall it is 0: the sum, as before.
    """

    STALL_S = 0.1

    def __init__(self, rate: int, target: int) -> None:
        self.rate = rate
        self.target = target
        self.floor = 0
        self._full_since: float | None = None
        self._lowest = 0

    def ours(self, latency: int, now: float) -> int:
        """Frames of ``latency`` (frames, as the server reports it) in our own buffer."""
        self.floor = min(self.floor, latency)
        if latency - self.floor < self.target:
            self._full_since = None
        elif self._full_since is None:
            self._full_since, self._lowest = now, latency
        else:
            self._lowest = min(self._lowest, latency)
            if now - self._full_since >= self.STALL_S:
                log.info("the sound server's own latency rose to %d ms: counted apart",
                         self._lowest * 1000 // self.rate)
                self.floor, self._full_since = self._lowest, None
        return max(0, latency - self.floor)


class PulseOutput:
    """A PulseAudio playback stream (``pa_simple``) whose buffer lives in the server.

    ``buffer_ms`` is how much is kept written ahead (what pause and seek wait for); the
    server's buffer is twice that, so that a write never blocks.
    """

    name = "pulse"

    def __init__(self, rate: int = 44100, buffer_ms: int = DEVICE_BUFFER_MS) -> None:
        self._simple, self._pulse = _load_libpulse()
        self.rate = rate
        self._target = self.capacity = rate * buffer_ms // 1000
        spec = _SampleSpec(_PA_SAMPLE_FLOAT32LE, rate, 2)
        room = 2 * self._target * FRAME_BYTES
        attr = _BufferAttr(maxlength=_PA_DEFAULT, tlength=room,
                           prebuf=rate * 5 // 1000 * FRAME_BYTES,  # start at once
                           minreq=_PA_DEFAULT, fragsize=_PA_DEFAULT)
        error = ctypes.c_int(0)
        self._stream = self._simple.pa_simple_new(
            None, b"Segue", _PA_STREAM_PLAYBACK, None, b"Music", ctypes.byref(spec), None,
            ctypes.byref(attr), ctypes.byref(error))
        if not self._stream:
            raise OutputError(f"cannot open a PulseAudio stream: {self._error(error)}")
        self.device_name = "PulseAudio default sink"
        self._floor = SinkFloor(rate, self._target)
        log.info("audio output: PulseAudio, %d Hz, %d ms ahead", rate, buffer_ms)

    def _error(self, error: ctypes.c_int) -> str:
        return (self._pulse.pa_strerror(error.value) or b"unknown error").decode()

    def buffered_frames(self) -> int:
        """Frames written and not yet heard in our stream's buffer (see :class:`SinkFloor`)."""
        error = ctypes.c_int(0)
        usec = self._simple.pa_simple_get_latency(self._stream, ctypes.byref(error))
        if error.value:
            raise OutputError(f"the audio server failed: {self._error(error)}")
        return self._floor.ours(int(usec) * self.rate // 1_000_000, time.monotonic())

    def write(self, samples: np.ndarray) -> int:
        data = np.ascontiguousarray(samples, dtype=np.float32)
        error = ctypes.c_int(0)
        # ctypes releases the interpreter lock for the call.
        if self._simple.pa_simple_write(self._stream, data.ctypes.data, data.nbytes,
                                        ctypes.byref(error)) < 0:
            raise OutputError(f"the audio server failed: {self._error(error)}")
        return len(data)

    def close(self) -> None:
        if self._stream:
            self._simple.pa_simple_free(self._stream)
            self._stream = None


def _device_rate() -> int:
    """The default output's preferred rate (Qt asks the sound server), else 44.1 kHz."""
    try:
        from PySide6.QtMultimedia import QMediaDevices

        rate = QMediaDevices.defaultAudioOutput().preferredFormat().sampleRate()
        return rate if 8000 <= rate <= 384000 else 44100
    except Exception:  # noqa: BLE001 - no Qt multimedia, no server: a sane default
        return 44100


def open_output(prefer_device: bool = True, buffer_ms: int = DEVICE_BUFFER_MS) -> Output:
    """The default audio device (see the module for which), or a silent real-time clock
    when there is none."""
    choice = os.environ.get("SEGUE_AUDIO_OUTPUT", "").strip().lower()
    if prefer_device and choice != "clock":
        if choice in ("", "pulse"):
            try:
                return PulseOutput(_device_rate(), buffer_ms)
            except OutputError as exc:
                log.info("%s; trying Qt's audio output", exc)
        try:
            return QtOutput(buffer_ms)
        except OutputError as exc:
            log.warning("%s: playing without sound", exc)
    return ClockOutput(buffer_ms=buffer_ms)
