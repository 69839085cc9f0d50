"""A private PulseAudio server with a null sink: a real audio device on a headless machine.

Two configurations, because what a player does between two songs depends on the server's:

* ``minimal`` — ``pulseaudio -n`` with only the native protocol and the null sink;
* ``default`` — PulseAudio's own default configuration as on a desktop: a generated script
  that ``.include``\\ s the system's ``default.pa`` (stream/device restore, udev detection,
  ``module-always-sink``, ``module-suspend-on-idle``, role corking, filters…), then adds the
  null sink and makes it the default. With no sound card the detection modules load and find
  nothing; this starts on a headless machine and as root (checked on Debian's PulseAudio 16).

Used by the real-playback tests and the benchmarks::

    with private_pulse(tmp, "default") as env:   # env: the variables that point clients at it
        with Recorder(env) as rec:               # parec on the null sink's monitor
            subprocess.run([...], env=env)
        take = rec.take()                        # samples, rate, clock
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.soundcheck import Clock, from_s16le

log = logging.getLogger(__name__)

F_SETPIPE_SZ = 1031  # fcntl: a pipe's capacity (Linux)
SINK = "segue_null"
CONFIGS = ("minimal", "default")
#: The system's default script, as a desktop session's PulseAudio loads it.
SYSTEM_DEFAULT_PA = Path("/etc/pulse/default.pa")


class PulseError(RuntimeError):
    """The private server did not start (the message says why, from its log)."""


def available(config: str = "minimal") -> bool:
    """Are the programs (and, for ``default``, the system script) there?"""
    tools = all(shutil.which(t) for t in ("pulseaudio", "pactl", "parec"))
    return tools and (config != "default" or SYSTEM_DEFAULT_PA.is_file())


def _script(config: str) -> str:
    if config == "default":
        return (f".include {SYSTEM_DEFAULT_PA}\n"
                ".fail\n"
                f"load-module module-null-sink sink_name={SINK}\n"
                f"set-default-sink {SINK}\n")
    if config == "minimal":
        return ("load-module module-native-protocol-unix\n"
                f"load-module module-null-sink sink_name={SINK}\n"
                f"set-default-sink {SINK}\n")
    raise ValueError(f"unknown PulseAudio configuration {config!r} (known: {', '.join(CONFIGS)})")


#: Real-time priorities of the rig, where this machine allows them (root, an rtprio limit):
#: the sound server as on a desktop (RealtimeKit gives PulseAudio and PipeWire one), and the
#: recorder above everything else, so that what is measured is the player, not a busy rig.
SERVER_PRIORITY = 20
RECORDER_PRIORITY = 25


def try_realtime(tid: int = 0, priority: int = RECORDER_PRIORITY) -> bool:
    """Give thread ``tid`` (0: the calling thread) SCHED_RR ``priority`` if allowed."""
    try:
        os.sched_setscheduler(tid, os.SCHED_RR, os.sched_param(priority))
        return True
    except (AttributeError, PermissionError, OSError):
        return False


def _server_realtime(runtime: Path) -> bool:
    """Every thread of the private server real-time (what RealtimeKit does on a desktop)."""
    try:
        pid = int((runtime / "pulse" / "pid").read_text().split()[0])
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except (OSError, ValueError, IndexError):
        return False
    return all([try_realtime(tid, SERVER_PRIORITY) for tid in tids])


@contextlib.contextmanager
def private_pulse(workdir: Path, config: str = "minimal") -> Iterator[dict[str, str]]:
    """Start pulseaudio in ``config`` (its own runtime dir and HOME under ``workdir``), its
    default sink a null sink named :data:`SINK`; yields the environment for its clients."""
    script = _script(config)
    runtime = workdir / "pulse-runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime),
           "PULSE_RUNTIME_PATH": str(runtime / "pulse"), "HOME": str(workdir)}
    env.pop("PULSE_SERVER", None)
    config_file, server_log = workdir / f"segue-{config}.pa", workdir / "pulseaudio.log"
    config_file.write_text(script)
    # -n: no default script but ours (which, for "default", includes the system's)
    proc = subprocess.run(["pulseaudio", "-D", "-n", "-F", str(config_file),
                           "--exit-idle-time=-1", "--disallow-exit",
                           f"--log-target=file:{server_log}"],
                          env=env, capture_output=True, text=True, timeout=30)
    if proc.returncode:
        tail = server_log.read_text(errors="replace")[-1500:] if server_log.exists() else ""
        raise PulseError(f"pulseaudio ({config}) did not start: {proc.stderr.strip()} {tail}")
    try:
        deadline = time.monotonic() + 15
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode:
            if time.monotonic() > deadline:
                raise PulseError(f"pulseaudio ({config}) did not answer within 15 s")
            time.sleep(0.2)
        _server_realtime(runtime)
        yield env
    finally:
        subprocess.run(["pactl", "exit"], env=env, capture_output=True, timeout=10)
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True, timeout=10)


def modules(env: dict[str, str]) -> list[str]:
    """Names of the modules the server has loaded."""
    out = subprocess.run(["pactl", "list", "short", "modules"], env=env, capture_output=True,
                         text=True, check=True, timeout=10).stdout
    return [line.split("\t")[1] for line in out.splitlines() if "\t" in line]


@dataclass(frozen=True)
class SinkSpec:
    """The null sink's sample format: the recording takes the same, so nothing is resampled."""

    rate: int
    channels: int


def sink_spec(env: dict[str, str]) -> SinkSpec:
    out = subprocess.run(["pactl", "list", "short", "sinks"], env=env, capture_output=True,
                         text=True, check=True, timeout=10).stdout
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) >= 4 and fields[1] == SINK:  # "s16le 2ch 44100Hz"
            _fmt, chans, rate = fields[3].split()[:3]
            return SinkSpec(int(rate.removesuffix("Hz")), int(chans.removesuffix("ch")))
    raise PulseError(f"no sink {SINK} on the server")


@dataclass(frozen=True)
class Take:
    """A recording: ``samples`` (frames, channels) floats, its ``rate``, its :class:`Clock`."""

    samples: np.ndarray
    rate: int
    clock: Clock

    def between(self, t_start: float, t_end: float | None = None) -> tuple[int, int]:
        """Frame range of monotonic times [t_start, t_end) (clamped to the recording)."""
        n = self.samples.shape[0]
        start = min(max(self.clock.frame_at(t_start), 0), n)
        end = n if t_end is None else min(max(self.clock.frame_at(t_end), start), n)
        return start, end


def parec_command(spec: SinkSpec, latency_ms: int) -> list[str]:
    """``parec`` recording the null sink's monitor as raw s16le in the sink's format."""
    return ["parec", "-d", f"{SINK}.monitor", "--raw", "--format=s16le",
            f"--rate={spec.rate}", f"--channels={spec.channels}",
            f"--latency-msec={latency_ms}"]


class Recorder:
    """``parec`` on the null sink's monitor, read by a thread that stamps each chunk's
    arrival with ``time.monotonic()`` (for :class:`Clock`).

    ``latency_ms`` is the recorder's requested latency; the null sink renders in blocks no
    longer than the shortest latency its clients ask for, so it bounds how early a frame can
    arrive before its time (the clock's error: see :class:`bench.soundcheck.Clock`).
    """

    def __init__(self, env: dict[str, str], latency_ms: int = 2) -> None:
        self.env = env
        self.spec = sink_spec(env)
        self.latency_ms = latency_ms
        self._chunks: list[bytes] = []
        self._stamps: list[tuple[float, int]] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._first = threading.Event()

    def start(self) -> None:
        """Start recording; returns once the first samples have arrived."""
        self._proc = subprocess.Popen(
            parec_command(self.spec, self.latency_ms), stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=self.env, preexec_fn=try_realtime)
        self._reader = threading.Thread(target=self._read, name="parec-reader", daemon=True)
        self._reader.start()
        if not self._first.wait(15):
            self.stop()
            raise PulseError("parec recorded nothing within 15 s")

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        fd, frame_bytes, received = self._proc.stdout.fileno(), 2 * self.spec.channels, 0
        # A busy test process must not make parec drop samples: read at a real-time
        # priority where allowed, through a pipe with room for seconds of sound.
        try_realtime()
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)
        while chunk := os.read(fd, 65536):
            now = time.monotonic()
            self._chunks.append(chunk)
            received += len(chunk)
            self._stamps.append((now, received // frame_bytes))
            self._first.set()

    @property
    def frames(self) -> int:
        """Frames received so far."""
        return self._stamps[-1][1] if self._stamps else 0

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        if self._reader is not None:
            self._reader.join(10)

    def take(self) -> Take:
        """What was recorded (call after :meth:`stop`)."""
        samples = from_s16le(b"".join(self._chunks), self.spec.channels)
        return Take(samples, self.spec.rate, Clock.fit(self._stamps, self.spec.rate))

    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
