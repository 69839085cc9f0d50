"""The loudness analysis pass: integrated loudness, peak and silences of every track.

:func:`measure` decodes one file with PyAV (FFmpeg) and returns a
:class:`~player.library.db.Measurement`:

* **integrated loudness** (EBU R128 / ITU-R BS.1770-4, LUFS) from FFmpeg's own ``ebur128``
  filter, run through PyAV's filter graph: C speed, streaming (constant memory whatever the
  length), no new dependency, and FFmpeg's implementation of the standard (it resamples to the
  48 kHz the filter works at);
* **sample peak**, and the **leading and trailing silence** (everything below
  :data:`SILENCE_DBFS` in every channel) for crossfades, with numpy on the decoded samples.

:func:`analyse_library` runs it over every track whose loudness is unknown or stale, in a
worker process of the lowest CPU priority (``SCHED_IDLE``, else ``nice 19``: it runs on
cycles nothing else wants, and a decoder crash on a hostile file takes down only the worker),
writing each result through :class:`~player.library.db.Library` in its own short transaction.
It reports progress, stops promptly when cancelled (the worker is killed mid-file), and a
later run resumes where it stopped: the library knows what was analysed, for which size and
mtime of the file. ``segue analyse`` and the app's background job both call it.

This module stays importable without Qt (the worker imports it) and imports PyAV only in
:func:`measure`.
"""

from __future__ import annotations

import logging
import os
import select
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from player.library.db import AnalysisTask, Library, Measurement
from player.library.paths import to_fs
from player.library.tagworkers import worker_command
from player.library.workerproc import receive, send, serve

log = logging.getLogger(__name__)

#: Quieter than this in every channel is silence (a crossfade may skip it). Dither and tape
#: hiss sit far below; a quiet intro does not.
SILENCE_DBFS = -60.0
#: The ebur128 filter reports this (its absolute gate) when no 400 ms block passed the gate.
NO_LOUDNESS_LUFS = -70.0
#: Least time between two progress events.
PROGRESS_INTERVAL = 0.1
#: How often a waiting pass looks at its cancel flag.
POLL_S = 0.1

_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2.0 ** 31, "s64": 2.0 ** 63, "flt": 1.0,
          "dbl": 1.0}


class AnalysisError(Exception):
    """A file could not be analysed; ``str(err)`` is the reason for a person."""


@dataclass(slots=True)
class AnalysisProgress:
    """A progress event of the pass."""

    done: int  # files finished this run (measured or failed)
    total: int  # files this run set out to do
    failed: int
    path: str | None = None  # the latest file


@dataclass
class AnalysisResult:
    """What a pass did. ``audio_seconds`` is the length of the audio it measured."""

    analysed: int = 0
    failed: int = 0
    remaining: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    audio_seconds: float = 0.0
    errors: list[tuple[str, str]] = field(default_factory=list)
    #: The library's median track gain after the pass (Library.typical_gain_db), computed
    #: here, off the GUI thread: a full-table query.
    typical_gain_db: float | None = None

    @property
    def files_per_s(self) -> float:
        return (self.analysed + self.failed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def realtime(self) -> float:
        """How many times faster than real time the audio was analysed."""
        return self.audio_seconds / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = [{"path": p, "reason": r} for p, r in self.errors]
        data.update(seconds=round(self.seconds, 3), audio_seconds=round(self.audio_seconds, 1),
                    files_per_s=round(self.files_per_s, 2), realtime=round(self.realtime, 1))
        return data


# --------------------------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------------------------


def measure(path: str | os.PathLike[str]) -> Measurement:
    """Decode ``path`` and measure it. Raises :class:`AnalysisError` for a file that cannot be
    decoded (missing, not audio, no audio stream, broken beyond the decoder's repair)."""
    import av

    path = to_fs(os.fspath(path))  # a stored path: see player.library.paths
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the worker for ever
            raise AnalysisError("not a regular file")
        if st.st_size == 0:
            raise AnalysisError("empty file (0 bytes)")
        # Our own file object: PyAV then never has to turn a path that is not valid UTF-8
        # into a C string.
        f = open(path, "rb")
    except OSError as exc:
        raise AnalysisError(f"cannot read the file: {(exc.strerror or str(exc)).lower()}") from None
    with f:
        try:
            with av.open(f, mode="r") as container:
                if not container.streams.audio:
                    raise AnalysisError("no audio stream")
                return _measure_stream(container, container.streams.audio[0])
        except AnalysisError:
            raise
        except Exception as exc:  # noqa: BLE001 - av.FFmpegError, or a hostile file's surprise
            raise AnalysisError(f"cannot decode: {type(exc).__name__}: {exc}"[:200]) from None


class _Meter:
    """Sample peak and first/last sound of a stream, fed decoded frames one by one.

    Works on the decoder's own sample format (no conversion): the peak from the extremes,
    silence by comparing with the threshold in that format's units.
    """

    def __init__(self, rate: int, channels: int, planar: bool, fmt: str) -> None:
        self.rate, self.channels, self.planar = rate, channels, planar
        self.unsigned = fmt.startswith("u8")
        self.scale = _SCALE.get(fmt.rstrip("p"), 1.0)
        self.threshold = 10 ** (SILENCE_DBFS / 20) * self.scale
        self.samples = 0
        self.peak = 0.0
        self.first: int | None = None
        self.last: int | None = None

    def add(self, frame: Any) -> None:
        import numpy as np

        data = frame.to_ndarray()
        if self.unsigned:
            data = data.astype(np.int16) - 128
        if data.size == 0:
            return
        self.peak = max(self.peak, float(data.max()) / self.scale,
                        -float(data.min()) / self.scale)
        loud = (data > self.threshold) | (data < -self.threshold)
        # Planar frames are (channels, n); packed ones (1, n * channels), interleaved.
        if self.planar:
            loud = loud.any(axis=0)
            step = 1
        else:
            loud = loud.ravel()
            step = self.channels
        n = loud.size // step
        first = int(loud.argmax())
        if loud[first]:
            last = loud.size - 1 - int(loud[::-1].argmax())
            if self.first is None:
                self.first = self.samples + first // step
            self.last = self.samples + last // step
        self.samples += n

    def silences_ms(self) -> tuple[int, int]:
        """(leading, trailing) silence; a silent file is all leading silence."""
        ms = 1000.0 / self.rate
        if self.first is None or self.last is None:
            return round(self.samples * ms), 0
        return round(self.first * ms), round((self.samples - 1 - self.last) * ms)


def _measure_stream(container: Any, stream: Any) -> Measurement:
    """Decoded frames -> (1 s chunks) -> ebur128 (48 kHz, doubles) -> the meter.

    The chunking keeps Python's share small: the filter gets few, large frames and hands back
    100 ms ones (fewer than a codec's), each with the integrated loudness so far in its
    metadata; the meter looks at each once.
    """
    import av
    from av.filter import Graph

    graph = resampler = None
    shape: tuple[str, int, str] | None = None
    meter: _Meter | None = None
    lufs: float | None = None

    def drain() -> None:
        nonlocal meter, lufs
        while True:
            try:
                out = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            if meter is None:
                meter = _Meter(out.sample_rate, len(out.layout.channels),
                               out.format.is_planar, out.format.name)
            meter.add(out)
            value = out.metadata.get("lavfi.r128.I")  # absent on the last, partial block
            if value is not None:
                lufs = float(value)

    for frame in container.decode(stream):
        if graph is None:
            shape = (frame.format.name, frame.sample_rate, frame.layout.name)
            graph = Graph()
            nodes = [graph.add_abuffer(format=shape[0], sample_rate=shape[1], layout=shape[2]),
                     graph.add("asetnsamples", f"n={shape[1]}:p=0"),
                     graph.add("ebur128", "metadata=1:framelog=quiet"),
                     graph.add("abuffersink")]
            for a, b in zip(nodes, nodes[1:]):
                a.link_to(b)
            graph.configure()
        frames = [frame]
        if (frame.format.name, frame.sample_rate, frame.layout.name) != shape:
            # A chained stream changing format mid-file: convert to the first one's.
            resampler = resampler or av.AudioResampler(format=shape[0], layout=shape[2],
                                                       rate=shape[1])
            frames = resampler.resample(frame)
        for f in frames:
            f.pts = None  # the filters need no timestamps; odd ones only make them complain
            graph.push(f)
        drain()
    if graph is None:
        raise AnalysisError("no audio could be decoded")
    graph.push(None)
    drain()
    if meter is None or meter.samples == 0:
        raise AnalysisError("no audio could be decoded")
    lead, trail = meter.silences_ms()
    integrated = lufs if lufs is not None and lufs > NO_LOUDNESS_LUFS else None
    return Measurement(integrated_lufs=integrated, peak=meter.peak, lead_silence_ms=lead,
                       trail_silence_ms=trail,
                       duration_ms=round(meter.samples * 1000 / meter.rate))


# --------------------------------------------------------------------------------------------
# The worker process
# --------------------------------------------------------------------------------------------


def lower_priority() -> None:
    """Run on CPU time nothing else wants: ``SCHED_IDLE`` (Linux; its disk reads get the idle
    I/O class too), else the lowest nice level."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # type: ignore[attr-defined]
        return
    except (AttributeError, OSError):
        pass
    try:
        os.nice(19)
    except (AttributeError, OSError):
        log.debug("cannot lower the analysis worker's priority")


def _reply(path: str) -> tuple[str, Any]:
    """One request of the worker: ``("ok", Measurement)`` or ``("error", reason)``."""
    try:
        return ("ok", measure(path))
    except AnalysisError as exc:
        return ("error", str(exc))


def main(low_priority: str = "1") -> None:
    """A worker's entry point (started by :class:`_Worker`)."""
    if low_priority == "1":
        lower_priority()
    serve(sys.stdin.buffer, sys.stdout.buffer, _reply)


class WorkerDied(Exception):
    """The worker process ended while measuring a file (a decoder crash, a kill)."""


class _Worker:
    """One analysis worker process, started on first use and again after a crash."""

    def __init__(self, low_priority: bool) -> None:
        self.low_priority = low_priority
        self.proc: subprocess.Popen[bytes] | None = None

    def measure(self, path: str, cancel: threading.Event) -> Measurement | None:
        """Measure in the worker; None if cancelled first (the worker is then killed)."""
        if self.proc is None or self.proc.poll() is not None:
            cmd = worker_command("player.library.analysis", "1" if self.low_priority else "0")
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            send(self.proc.stdin, path)
            while not select.select([self.proc.stdout], [], [], POLL_S)[0]:
                if cancel.is_set():
                    self.close(kill=True)
                    return None
            kind, payload = receive(self.proc.stdout)
        except (OSError, EOFError) as exc:
            self.close(kill=True)
            raise WorkerDied(str(exc)) from None
        if kind == "error":
            raise AnalysisError(payload)
        return payload

    def close(self, kill: bool = False) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if kill:
            proc.kill()
        else:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            try:
                pipe.close()  # type: ignore[union-attr]
            except OSError:
                pass


# --------------------------------------------------------------------------------------------
# The pass
# --------------------------------------------------------------------------------------------


def analyse_library(
    library: Library,
    progress: Callable[[AnalysisProgress], None] | None = None,
    cancel: threading.Event | None = None,
    limit: int | None = None,
    low_priority: bool = True,
) -> AnalysisResult:
    """Measure every present track whose loudness is unknown or stale (at most ``limit``).

    Never raises for a bad file: its reason is stored (not tried again until the file
    changes) and listed in the result. ``low_priority=False`` runs the worker at normal
    priority (benchmarks).
    """
    started = time.monotonic()
    cancel = cancel or threading.Event()
    result = AnalysisResult()
    tasks = library.analysis_todo(limit)
    last_event = 0.0
    worker = _Worker(low_priority)
    try:
        for i, task in enumerate(tasks):
            if cancel.is_set():
                break
            measured = _analyse_one(library, worker, task, cancel, result)
            if measured is None and cancel.is_set():
                break
            now = time.monotonic()
            if progress is not None and (now - last_event >= PROGRESS_INTERVAL
                                         or i == len(tasks) - 1):
                last_event = now
                progress(AnalysisProgress(result.analysed + result.failed, len(tasks),
                                          result.failed, task.path))
    finally:
        worker.close()
    result.cancelled = cancel.is_set()
    result.remaining = library.analysis_remaining()
    result.typical_gain_db = library.typical_gain_db()
    result.seconds = time.monotonic() - started
    log.info("loudness analysis %s: %d measured, %d failed, %d remaining in %.1f s (%.0fx "
             "real time)", "cancelled" if result.cancelled else "done", result.analysed,
             result.failed, result.remaining, result.seconds, result.realtime)
    return result


def _analyse_one(library: Library, worker: _Worker, task: AnalysisTask,
                 cancel: threading.Event, result: AnalysisResult) -> Measurement | None:
    """Measure one task and store the outcome; None when it failed or was cancelled.

    A worker that dies is replaced and the file tried once more (it may have been killed
    for reasons of its own); dying twice on the same file is that file's doing.
    """
    measured: Measurement | None = None
    reason: str | None = None
    for attempt in (1, 2):
        try:
            measured, reason = worker.measure(task.path, cancel), None
        except AnalysisError as exc:
            reason = str(exc)
        except WorkerDied:
            log.warning("the analysis worker died on %r (attempt %d)", task.path, attempt)
            reason = "the decoder crashed on this file"
            continue
        break
    if reason is None:
        if measured is None:  # cancelled mid-file: nothing stored, the next pass redoes it
            return None
        library.save_loudness(task, measured)
        result.analysed += 1
        result.audio_seconds += measured.duration_ms / 1000
        return measured
    library.save_loudness(task, None, error=reason)
    result.failed += 1
    result.errors.append((task.path, reason))
    return None
