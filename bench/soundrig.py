"""The measurement rig: the real app plays a scenario into a private PulseAudio null sink while
``parec`` records it; figures come from the recording, never from a position counter.

    from bench import pulse, soundrig as rig
    album = cut_album(tmp / "music", "flac")                  # player.audiogen
    with pulse.private_pulse(tmp, "default") as env:
        ids = rig.prepare(data_dir, [album])                  # scanned, volume 100
        run = rig.run_app(env, data_dir, rig.album_steps(ids), backend="qt")
    rig.measure_album(run, album)   # AlbumFigures: gap_ms, jump, audible_s ...

Scenarios are lists of steps for :mod:`bench.soundapp` (which runs the app in a process of
its own with ``SEGUE_BACKEND`` set); a :class:`Run` holds the recording (a
:class:`bench.pulse.Take`) and the app's events, both on ``time.monotonic()``.

How events are placed on the recording (and how far to trust it): the recorder stamps each
chunk from ``parec`` as it arrives; the earliest arrival line is the sink's render clock
(:class:`bench.soundcheck.Clock`). A null sink renders up to one block (the recorder's 2 ms
latency request) ahead of its clock, and when a new stream starts or a stream is flushed it
rewinds, so the first block of new sound can be missing from the monitor: a latency read here
is within about +-2 ms of the sink's own clock, plus the poll interval of the driver (2 ms)
for when the action was really taken. The measured ``Clock.spread_s`` tells when the
recorder was late (a loaded machine); figures stay right, only the clock fit would suffer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import soundcheck as sc
from bench.pulse import Recorder, Take
from player.audiogen import CutAlbum, Tone

#: The six formats of gapless playback (the keys of player.audiogen.FORMATS).
GAPLESS_FORMATS = ("wav", "flac", "vorbis", "opus", "mp3", "aac")
#: A track change is seamless when no silence is longer than this…
MAX_GAP_MS = 1.0
#: …and the sound never departs from the tone by more than this (relative to its amplitude;
#: one dropped sample of a 441 Hz sine at 44.1 kHz is 0.063; the material's own codec edges,
#: decoded by each format's reference decoder and joined, reach 0.015).
MAX_JUMP = 0.05
#: A pause or resume clicks when the sound steps by more than this (third difference relative
#: to the amplitude; a hard stop at a peak is ~1, a 5 ms fade ~0.001).
MAX_CLICK = 0.05
#: Frames to locate a stretch of a chirp by (93 ms at 44.1 kHz).
LOCATE_FRAMES = 4096
#: The seek material: a chirp, so that any stretch tells where in the track it is.
SEEK_TONE = Tone(freq=300.0, amplitude=0.5, sweep=150.0)
SEEK_TRACK_SECONDS = 8.0
#: The recorder's latency request (see the module's docstring).
RECORDER_LATENCY_MS = 2
#: The scenario's actions (as noted by bench.soundapp).
PRESSES = ("play", "play_track", "pause", "seek", "stop")


class ScenarioError(RuntimeError):
    """The app did not run the scenario to its end (it crashed or timed out)."""


@dataclass(frozen=True)
class Event:
    name: str
    t: float
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    """One scenario's recording and the app's events."""

    take: Take
    events: list[Event]
    backend: str
    log: str = ""

    def times(self, name: str) -> list[float]:
        return [e.t for e in self.events if e.name == name]

    def frame(self, t: float) -> int:
        return self.take.clock.frame_at(t)

    def ms_after(self, t: float, frame: int) -> float:
        """Milliseconds from monotonic time ``t`` to the recording's ``frame``."""
        return 1000.0 * (self.take.clock.time_of(frame) - t)

    def span(self, pressed: float) -> tuple[int, int] | None:
        """Frames [first, last] of the sound that a press at ``pressed`` started: from the
        first audible frame after it to the last before the next press (or the end)."""
        x = self.take.samples
        later = [e.t for e in self.events if e.t > pressed and e.name in PRESSES]
        end = min(max(self.frame(min(later)), 0), len(x)) if later else len(x)
        first = sc.first_audible(x[:end], start=max(0, self.frame(pressed)))
        last = sc.last_audible(x[:end])
        return (first, last) if first is not None and last is not None and last > first else None

    def cpu_share(self, start: str = "ready", end: str = "end") -> float:
        """The app's CPU time between its first ``start`` and last ``end`` events, as a share
        of one core (0.05 = 5%)."""
        a = next(e for e in self.events if e.name == start)
        b = [e for e in self.events if e.name == end][-1]
        return (b.data["cpu"] - a.data["cpu"]) / max(b.t - a.t, 1e-9)


# -- setting up and running ------------------------------------------------------------------


def prepare(data_dir: Path, albums: Sequence[CutAlbum], **settings: Any) -> list[list[int]]:
    """Scan the albums' folders into a fresh library in ``data_dir`` (volume 100, real-time
    rate, ReplayGain off, no crossfade, unless ``settings`` say otherwise); the track ids of
    each album in track order (absent files are skipped: a file the scanner refused has no
    id)."""
    from player.library.db import Library
    from player.library.paths import to_db
    from player.library.scanner import scan_folders
    from player.settings import Settings

    data_dir.mkdir(parents=True, exist_ok=True)
    Settings(**{"volume": 100, "playback_rate": 1.0, "autoqueue": False,
                "replaygain_mode": "off", "crossfade_s": 0, **settings}).save(data_dir)
    lib = Library.open(data_dir)
    try:
        folders = sorted({p.parent for a in albums for p in a.paths})
        scan_folders(lib, folders)
        known = {r["path"]: int(r["id"]) for r in lib.db.query("SELECT id, path FROM tracks")}
        stored = [[to_db(p) for p in album.paths] for album in albums]
        return [[known[p] for p in paths if p in known] for paths in stored]
    finally:
        lib.close()


def run_app(env: dict[str, str], data_dir: Path, steps: list[dict[str, Any]],
            backend: str, timeout_s: float = 150.0,
            latency_ms: int = RECORDER_LATENCY_MS) -> Run:
    """Run the app on ``backend`` through ``steps`` while recording the sink."""
    with tempfile.TemporaryDirectory() as tmp:
        scenario, events_file = Path(tmp) / "scenario.json", Path(tmp) / "events.json"
        scenario.write_text(json.dumps(steps))
        child_env = {**env, "SEGUE_BACKEND": backend, "QT_QPA_PLATFORM": "offscreen"}
        cmd = [sys.executable, "-m", "bench.soundapp", str(data_dir), str(scenario),
               str(events_file)]
        root = Path(__file__).resolve().parent.parent
        with Recorder(env, latency_ms) as rec:
            proc = subprocess.run(cmd, env=child_env, cwd=root, capture_output=True, text=True,
                                  timeout=timeout_s)
        if proc.returncode or not events_file.exists():
            raise ScenarioError(f"the app exited with {proc.returncode}: {proc.stderr[-2000:]}")
        events = [Event(e.pop("event"), e.pop("t"), e) for e in json.loads(events_file.read_text())]
    return Run(rec.take(), events, backend, proc.stderr)


def album_steps(ids: Sequence[int]) -> list[dict[str, Any]]:
    """Queue the album and press play; wait until it has played out (and a little more)."""
    return [{"do": "enqueue", "tracks": list(ids)}, {"do": "play"}, {"wait": "playing"},
            {"wait": "idle"}, {"wait": "seconds", "s": 0.3}]


def session_steps(albums: Sequence[Sequence[int]], chirp: int | None = None,
                  **transport: Any) -> list[dict[str, Any]]:
    """Each album in turn (each started by its own "play"), then, with a ``chirp`` track,
    the transport scenario: one app start for everything (the app takes seconds to start)."""
    steps = [step for ids in albums for step in album_steps(ids)]
    return steps + (transport_steps(chirp, **transport) if chirp is not None else [])


def transport_steps(track: int, plays: int = 3, seeks: Sequence[int] = (5000, 1500, 6500),
                    pauses: int = 2) -> list[dict[str, Any]]:
    """On the chirp track: ``plays`` times play -> stop; then play, ``pauses`` times pause ->
    resume, and a seek to each of ``seeks`` (ms), each followed by 0.6 s of listening."""
    steps: list[dict[str, Any]] = []
    for _ in range(plays):
        steps += [{"do": "play_track", "track": track}, {"wait": "position", "ms": 500},
                  {"do": "stop"}, {"wait": "seconds", "s": 0.4}]
    steps += [{"do": "play_track", "track": track}, {"wait": "position", "ms": 600}]
    for i in range(pauses):
        steps += [{"do": "pause"}, {"wait": "seconds", "s": 0.4}, {"do": "play"},
                  {"wait": "position", "ms": 1000 + 500 * (i + 1)}]
    for target in seeks:
        steps += [{"do": "seek", "ms": target}, {"wait": "seconds", "s": 0.6}]
    return steps + [{"do": "stop"}, {"wait": "seconds", "s": 0.2}]


# -- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlbumFigures:
    """An album played in order: the longest silence between its first and last audible
    sample, the largest jump away from the sine (and where, in seconds of the recording),
    how long it sounded against how long it is, and play pressed -> first audible sample."""

    gap_ms: float
    gap_at_s: float
    jump: float
    jump_at_s: float
    audible_s: float
    expected_s: float
    play_ms: float

    @property
    def seamless(self) -> bool:
        return self.gap_ms < MAX_GAP_MS and self.jump < MAX_JUMP


def measure_album(run: Run, album: CutAlbum, index: int = 0,
                  edge_ms: float = 20.0) -> AlbumFigures:
    """Figures of ``album``, the one started by the ``index``-th "play" of ``run`` (its
    sound ends before the next press of any kind)."""
    x, rate = run.take.samples, run.take.rate
    pressed = run.times("play")[index]
    heard = run.span(pressed)
    if heard is None:
        raise ScenarioError(f"nothing audible was recorded for {album.fmt}")
    first, last = heard
    span = x[first:last + 1]
    gap = sc.longest_silence(span, rate)
    # the very start and end are abrupt by design (a cut sine; the monitor may miss the
    # first block of a new stream): jumps are looked for inside
    edge = int(edge_ms / 1000 * rate)
    inner = span[edge:len(span) - edge]
    jump = sc.largest_jump(inner, rate, album.tone.freq, amplitude=sc.tone_peak(inner))
    return AlbumFigures(gap.ms, (first + gap.start) / rate, jump.size,
                        (first + edge + jump.at) / rate, len(span) / rate, album.seconds,
                        run.ms_after(pressed, first))


def reference(tone: Tone, rate: int, seconds: float) -> np.ndarray:
    return tone.render(rate, 0, int(round(seconds * rate)))


def _alignment(x: np.ndarray, ref: np.ndarray, start: int,
               rate: int) -> tuple[int, float] | None:
    """(reference frame - recording frame, score) of the stretch at ``start``, or None."""
    seg = x[start:start + LOCATE_FRAMES]
    if (start < 0 or len(seg) < LOCATE_FRAMES or sc.first_audible(seg, start=0) is None
            or sc.silences(seg, rate, -40.0, min_ms=1.0)):
        return None  # not wholly audible: a pause, an edge
    loc = sc.locate(seg, ref)
    return loc.offset - start, loc.score


def _switch_frame(x: np.ndarray, ref: np.ndarray, shift: int, lo: int, hi: int) -> int:
    """The first frame in [lo, hi] from which the recording follows ``ref`` shifted by
    ``shift`` without a break up to ``hi`` (a frame known to follow it).

    Walks back from ``hi`` in blocks of 32 frames while each block is the reference scaled by
    an audible gain (a fade-in still matches; silence and other sound do not), then frame by
    frame inside the block that broke."""
    mono, block = sc.as_frames(x).mean(axis=1), 32
    floor = sc.db_to_amplitude(sc.AUDIBLE_DB)

    def fits(a: np.ndarray, b: np.ndarray) -> float | None:
        gain = float(np.dot(a, b) / max(float(np.dot(b, b)), 1e-12))
        if gain * float(np.abs(b).max(initial=0.0)) < floor:
            return None
        err = float(np.sqrt(np.mean((a - gain * b) ** 2)))
        return gain if err <= 0.1 * gain * float(np.sqrt(np.mean(b * b))) else None

    i = hi
    gain = None
    while i - block >= max(lo, -shift):
        g = fits(mono[i - block:i], ref[i - block + shift:i + shift])
        if g is None:
            break
        gain, i = g, i - block
    if gain is None:
        gain = fits(mono[hi:hi + block], ref[hi + shift:hi + shift + block]) or 1.0
    window = ref[max(0, i + shift):i + shift + block]
    tolerance = 0.1 * gain * float(np.abs(window).max(initial=1.0))
    while i - 1 >= max(lo, -shift) and abs(mono[i - 1] - gain * ref[i - 1 + shift]) <= tolerance \
            and abs(mono[i - 1]) >= floor * 0.1:
        i -= 1
    return i


@dataclass(frozen=True)
class SeekFigure:
    """A seek to ``target_ms``: when its sound was first heard, and where it landed."""

    target_ms: int
    latency_ms: float
    landed_ms: float

    @property
    def error_ms(self) -> float:
        return self.landed_ms - self.target_ms


def measure_seeks(run: Run, tone: Tone = SEEK_TONE,
                  seconds: float = SEEK_TRACK_SECONDS) -> list[SeekFigure]:
    x, rate = run.take.samples, run.take.rate
    ref = reference(tone, rate, seconds)
    out = []
    for event in (e for e in run.events if e.name == "seek"):
        target = int(event.data["ms"])
        begin = max(0, run.frame(event.t))
        found = None
        for start in range(begin, len(x) - LOCATE_FRAMES, LOCATE_FRAMES // 4):
            aligned = _alignment(x, ref, start, rate)
            if aligned and abs((aligned[0] + start) / rate * 1000 - target) < 1000 \
                    and aligned[1] > 0.9:
                found = (start, aligned[0])
                break
        if found is None:
            out.append(SeekFigure(target, float("nan"), float("nan")))
            continue
        start, shift = found
        # the located stretch may begin with the old sound: walk back from its end
        switch = _switch_frame(x, ref, shift, begin, start + LOCATE_FRAMES - 32)
        out.append(SeekFigure(target, run.ms_after(event.t, switch),
                              1000.0 * (switch + shift) / rate))
    return out


@dataclass(frozen=True)
class PauseFigure:
    """A pause and its resume: the largest step (click) at either edge of the silence, how
    much of the track was skipped (+) or repeated (-) across it, and the latencies from the
    presses to silence and to sound."""

    click: float
    skipped_ms: float
    pause_ms: float
    resume_ms: float

    @property
    def clean(self) -> bool:
        return self.click < MAX_CLICK


def measure_pauses(run: Run, tone: Tone = SEEK_TONE,
                   seconds: float = SEEK_TRACK_SECONDS) -> list[PauseFigure]:
    x, rate = run.take.samples, run.take.rate
    ref = reference(tone, rate, seconds)
    pauses, plays = run.times("pause"), run.times("play")
    out = []
    for t_pause in pauses:
        t_resume = min((t for t in plays if t > t_pause), default=None)
        if t_resume is None:
            continue
        p, r = run.frame(t_pause), run.frame(t_resume)
        last = sc.last_audible(x[:r])
        first = sc.first_audible(x, start=r)
        before = _alignment(x, ref, p - LOCATE_FRAMES - rate // 20, rate)
        after = _alignment(x, ref, first + rate // 20, rate) if first is not None else None
        if last is None or first is None or before is None or after is None:
            out.append(PauseFigure(float("nan"), float("nan"), float("nan"), float("nan")))
            continue
        edge = rate // 10
        stop = sc.largest_jump(x[last - edge:last + 10], rate,
                               amplitude=tone.amplitude).size
        start = sc.largest_jump(x[first - 10:first + edge], rate,
                                amplitude=tone.amplitude).size
        skipped = (first + after[0]) - (last + before[0] + 1)
        out.append(PauseFigure(max(stop, start), 1000.0 * skipped / rate,
                               run.ms_after(t_pause, last), run.ms_after(t_resume, first)))
    return out


@dataclass(frozen=True)
class PlayFigure:
    """A press of play on a track: the time to its first audible sample, and the position
    in the track of that sample (0 when nothing of its start was lost)."""

    latency_ms: float
    started_ms: float


def measure_plays(run: Run, tone: Tone = SEEK_TONE,
                  seconds: float = SEEK_TRACK_SECONDS) -> list[PlayFigure]:
    """Each ``play_track`` press of the transport scenario (on the chirp track)."""
    x, rate = run.take.samples, run.take.rate
    ref = reference(tone, rate, seconds)
    out = []
    for t in run.times("play_track"):
        first = sc.first_audible(x, start=max(0, run.frame(t)))
        lead = rate // 20
        aligned = _alignment(x, ref, first + lead, rate) if first is not None else None
        if first is None or aligned is None:
            out.append(PlayFigure(float("nan"), float("nan")))
            continue
        out.append(PlayFigure(run.ms_after(t, first), 1000.0 * (first + aligned[0]) / rate))
    return out


def chirp_track(folder: Path, fmt: str = "flac") -> CutAlbum:
    """The transport material: one track of :data:`SEEK_TONE`."""
    from player.audiogen import cut_album

    return cut_album(folder, fmt, (SEEK_TRACK_SECONDS,), SEEK_TONE, album="Chirp",
                     names=["chirp"])

