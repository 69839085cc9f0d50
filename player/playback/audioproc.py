"""The audio process: decodes, mixes and feeds one output stream, apart from the app.

Why a process of its own: the app runs torch training, SQLite, JSON imports of hundreds of
megabytes and Python's garbage collector, any of which can hold the interpreter lock for
longer than an audio buffer lasts. Here nothing else runs, so the device is fed on time
whatever the window is doing; and a decoder that crashes on a hostile file takes down only
this process, which the app restarts.

Three threads:

* the **reader** takes commands (JSON lines on stdin) and hands them to the two others;
* the **decoder** owns the :class:`~player.playback.pipeline.Pipeline` and keeps a few
  seconds of decoded blocks ready in the ring;
* the **main thread** (Qt's event loop: ``QAudioSink`` wants one) writes from the ring to the
  output every few milliseconds, applying volume, gain and fades, and maps the samples the
  device has played back to tracks and positions.

Events go to the app as JSON lines on stdout: ``ready``, ``loaded``, ``failed``,
``next_ready``, ``next_failed``, ``state``, ``started`` (a track's first sample was heard),
``pos``, ``ended``, ``stats``. Every position comes from samples played, never from a clock.

Protocol: see :mod:`player.playback.stream`, its only client.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from player.playback.cue import Cue
from player.playback.decoder import DecodeError
from player.playback.output import DEVICE_BUFFER_MS, Output, OutputError, open_output
from player.playback.pipeline import Block, Pipeline
from player.playback.realtime import PRIORITY as WRITER_PRIORITY
from player.playback.realtime import request_realtime

log = logging.getLogger("segue.audio")

#: Decoded audio kept ready in front of the output (seconds): what a slow disk or a busy
#: CPU may delay decoding by without a gap.
RING_LEAD_S = 3.0
#: The writer's tick: 10 ms leaves 50 of the device's 60 ms for a late wake-up, at half
#: the CPU time of 5 ms.
TICK_MS = 10
#: Fades for pause/resume and seek: long enough to be no click, short enough to be instant.
FADE_MS = 8
#: A tick this late is logged (INFO): the device ran on what was buffered meanwhile.
LATE_TICK_S = 0.03
#: How often a position event is sent while playing.
POSITION_EVERY_S = 0.05
#: While waiting for the first samples of a track, keep at most this much silence queued:
#: less lets a busy machine run the server dry between ticks, and a server that ran dry may
#: drop the first samples written after it (seen as a track start missing its first ms).
WAIT_SILENCE_MS = 30
#: A track (or a seek) starts sounding once this much is decoded: its first packets come in
#: small pieces (an MP3's first frame after the encoder delay is 47 samples), and silence
#: written between them would be a gap in the music.
START_MS = 40
#: The device buffer when this process could not get real-time scheduling (ms).
DEVICE_BUFFER_MS_NORMAL = 160
#: The decoder pauses this long between blocks while filling the ring, so that a long fill
#: neither holds the interpreter lock against the writer nor counts, for the kernel, as a
#: real-time thread that never sleeps.
DECODER_BREATH_S = 0.0005


@dataclass
class _End:
    """The ring's marker: nothing follows (the last track ended, nothing next)."""


@dataclass
class _Mark:
    """A run of written frames that belong to a track: [start, end) in written frames."""

    start: int
    end: int
    tag: int
    frame: int  # the track frame of ``start``
    gen: int  # the generation (load, seek) the samples come from


class Events:
    """JSON lines to the app, from any thread."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, kind: str, **fields: Any) -> None:
        line = json.dumps({"ev": kind, **fields}, separators=(",", ":"))
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError):  # the app is gone
                pass


class Ring:
    """Decoded blocks between the decoder thread and the writer, each with a generation.

    A load, seek or stop starts a new generation; the writer fades out and drops what is
    older, so a jump never plays a stale block.
    """

    def __init__(self) -> None:
        self._items: deque[tuple[int, Block | _End]] = deque()
        self._frames = 0
        self._lock = threading.Lock()
        self.space = threading.Condition(self._lock)

    def frames(self) -> int:
        with self._lock:
            return self._frames

    def ready(self, frames: int) -> bool:
        """At least ``frames`` decoded, or all there is (an end marker is queued)."""
        with self._lock:
            return self._frames >= frames or any(isinstance(i, _End) for _, i in self._items)

    def push(self, gen: int, item: Block | _End) -> None:
        with self._lock:
            self._items.append((gen, item))
            if isinstance(item, Block):
                self._frames += len(item)

    def peek(self) -> tuple[int, Block | _End] | None:
        with self._lock:
            return self._items[0] if self._items else None

    def take(self, frames: int) -> None:
        """Consume ``frames`` from the head block (the whole item if it is used up)."""
        with self._lock:
            gen, item = self._items[0]
            if isinstance(item, _End) or frames >= len(item):
                self._items.popleft()
                if isinstance(item, Block):
                    self._frames -= len(item)
            else:
                item.samples = item.samples[frames:]
                item.frame += frames
                self._frames -= frames
            self.space.notify()

    def drop_older(self, gen: int) -> None:
        with self._lock:
            while self._items and self._items[0][0] < gen:
                _, item = self._items.popleft()
                if isinstance(item, Block):
                    self._frames -= len(item)
            self.space.notify()


class Decoder(threading.Thread):
    """Owns the pipeline; keeps the ring :data:`RING_LEAD_S` ahead of the output."""

    def __init__(self, rate: int, ring: Ring, events: Events) -> None:
        super().__init__(name="segue-decoder", daemon=True)
        self.pipeline = Pipeline(rate)
        self.ring = ring
        self.events = events
        self.commands: queue.Queue[dict[str, Any]] = queue.Queue()
        self.gen = 0
        self.realtime = False  # set when the process got real-time scheduling
        self._order: list[Cue] = []  # the cues given, in play order (the last few)
        self._ended = True  # nothing to decode
        self._ended_naturally = False  # ...because the last track ran out (not a stop)
        self._lead = int(RING_LEAD_S * rate)

    def run(self) -> None:
        if self.realtime:
            request_realtime(WRITER_PRIORITY - 1)  # below the writer: it never waits for us
        while True:
            need_more = not self._ended and self.ring.frames() < self._lead
            try:
                cmd = self.commands.get(timeout=0 if need_more else 0.05)
            except queue.Empty:
                cmd = None
            if cmd is not None:
                if cmd["cmd"] == "quit":
                    self.pipeline.clear()
                    return
                self._handle(cmd)
                self.commands.task_done()
                continue
            if need_more:
                self._fill()
                time.sleep(DECODER_BREATH_S)

    def settled(self) -> bool:
        """Every command handled and the ring as full as it gets (for tests and benches
        that move time by hand)."""
        return self.commands.unfinished_tasks == 0 and (
            self._ended or self.ring.frames() >= self._lead)

    def _handle(self, cmd: dict[str, Any]) -> None:
        kind = cmd["cmd"]
        try:
            if kind == "load":
                self.gen = cmd["gen"]
                cue = Cue.from_json(cmd["cue"])
                self._order = [cue]
                try:
                    duration = self.pipeline.load(cue, int(cmd.get("start_ms", 0)))
                except DecodeError as exc:
                    self._ended = True
                    self.events.send("failed", tag=cue.tag, gen=self.gen, reason=str(exc))
                    return
                self._ended = False
                self._ended_naturally = False
                self.events.send("loaded", tag=cue.tag, gen=self.gen, duration_ms=duration)
            elif kind == "set_next":
                cue = Cue.from_json(cmd["cue"]) if cmd.get("cue") else None
                self._remember_next(cue)
                try:
                    duration = self.pipeline.set_next(cue)
                except DecodeError as exc:
                    assert cue is not None
                    self.events.send("next_failed", tag=cue.tag, reason=str(exc))
                    return
                if cue is not None:
                    self.events.send("next_ready", tag=cue.tag, duration_ms=duration)
                    if self._ended and self._ended_naturally \
                            and self.pipeline.resume_with_next():
                        # The decoder had already reached the end (a short track, a late
                        # pick): the new track's blocks go in after the end marker, and the
                        # writer carries on through it if it has not played the end yet.
                        self._ended = False
            elif kind == "seek":
                self.gen = cmd["gen"]
                tag = int(cmd.get("tag", self._order[-1] if self._order else 0))
                try:
                    self._seek(tag, int(cmd["ms"]))
                except DecodeError as exc:
                    self.events.send("failed", tag=tag, gen=self.gen, reason=str(exc))
                    self._ended = True
            elif kind == "stop":
                self.gen = cmd["gen"]
                self.pipeline.clear()
                self._ended = True
        except Exception:  # noqa: BLE001 - one bad command must not end the music for good
            log.exception("audio command %s failed", kind)

    def _remember_next(self, cue: Cue | None) -> None:
        """Keep the cues in play order: the one sounding may be behind the decoder's."""
        current = self.pipeline.current
        if current is not None and current.cue in self._order:
            # What the decoder plays now and what follows it; older cues are kept (seeks
            # may aim at a track the decoder has already left, still sounding).
            self._order = self._order[:self._order.index(current.cue) + 1]
        self._order = [c for c in self._order if c != cue][-3:]
        if cue is not None:
            self._order.append(cue)

    def _seek(self, tag: int, ms: int) -> None:
        """Jump within the track ``tag`` (the one sounding). The decoder may have left it
        already (it runs seconds ahead: a gapless join, or the end of the album): then it
        is opened again, and what followed it is set to follow again."""
        current = self.pipeline.current
        if current is not None and current.cue.tag == tag:
            self.pipeline.seek(ms)
        else:
            tags = [c.tag for c in self._order]
            if tag not in tags:
                log.warning("seek in an unknown track %s", tag)
                return
            i = tags.index(tag)
            self.pipeline.load(self._order[i], start_ms=ms)
            if i + 1 < len(self._order):
                self.pipeline.set_next(self._order[i + 1])
        self._ended = False
        self._ended_naturally = False

    def _fill(self) -> None:
        try:
            block = self.pipeline.produce()
        except Exception as exc:  # noqa: BLE001 - a decoder bug ends the track, not the process
            log.exception("decoding failed")
            tag = self.pipeline.current.cue.tag if self.pipeline.current else 0
            self.events.send("failed", tag=tag, gen=self.gen, reason=f"decoding failed: {exc}")
            self.pipeline.clear()
            block = None
        if block is None:
            self.ring.push(self.gen, _End())
            self._ended = True
            self._ended_naturally = self.pipeline.current is None
        else:
            self.ring.push(self.gen, block)


class Writer:
    """The main thread's job: ring -> output, with volume, gain and fades; the clock."""

    def __init__(self, output: Output, ring: Ring, events: Events, rate: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.out = output
        self.clock = clock
        self.ring = ring
        self.events = events
        self.rate = rate  # the timeline's rate (frames of the ring)
        self.commands: queue.Queue[dict[str, Any]] = queue.Queue()
        self.gen = 0
        self.playing = False  # the person's intent: play or not
        self.level = 0.0  # the fade envelope now: 0 silent .. 1 full
        self.volume = 1.0
        self._volume_now = 1.0
        self.gains: dict[int, float] = {}
        self.written = 0  # frames written to the device, silence included
        self.marks: deque[_Mark] = deque()
        self.end_at: int | None = None  # written index where the last track ends
        self.audible_tag: int | None = None
        self.loaded_tag = 0  # the last cue loaded (what failed, if nothing was heard)
        self.audible_frame = 0
        self.audible_gen = 0
        self.heard_state = "stopped"
        self.underruns = 0
        self._wrote_audio = False  # the last tick wrote music (not silence)
        self._decoder_late = False
        self._awaiting = True
        self._tags_written: set[int] = set()
        self._last_pos_sent = 0.0
        self._last_tick = 0.0
        self._tick_start = (0, 0)  # (frames written, frames in the device) when it began
        self._fade = max(1, FADE_MS * rate // 1000)
        self._start_frames = START_MS * rate // 1000

    # -- commands ----------------------------------------------------------------------------

    def handle(self, cmd: dict[str, Any]) -> None:
        kind = cmd["cmd"]
        if kind == "play":
            self.playing = True
        elif kind == "pause":
            self.playing = False
            self._send_state("paused")
        elif kind in ("load", "seek", "stop"):
            self.gen = cmd["gen"]
            self.end_at = None
            self._awaiting = True  # no music of this generation yet: silence is expected
            if kind == "load":
                cue = Cue.from_json(cmd["cue"])
                self.gains[cue.tag] = cue.gain
                self.audible_tag = None
                self.loaded_tag = cue.tag
                # The app shows a loaded track as stopped until its first sample is heard.
                self.heard_state = "stopped"
                self._tags_written.discard(cue.tag)
            if kind == "stop":
                self.playing = False
                self._send_state("stopped")
        elif kind == "set_next" and cmd.get("cue"):
            cue = Cue.from_json(cmd["cue"])
            self.gains[cue.tag] = cue.gain
        elif kind == "volume":
            self.volume = min(1.0, max(0.0, float(cmd["value"])))
        elif kind == "gain":
            self.gains[int(cmd["tag"])] = max(0.0, float(cmd["value"]))
        elif kind == "stats":
            self.send_stats()

    def send_stats(self) -> None:
        self.events.send("stats", underruns=self.underruns, written=self.written,
                         output=self.out.name, rate=self.out.rate)

    def _send_state(self, state: str) -> None:
        if state != self.heard_state:
            self.heard_state = state
            self.events.send("state", state=state, gen=self.gen)

    # -- the tick ----------------------------------------------------------------------------

    def tick(self) -> None:
        now = self.clock()
        if self._last_tick and now - self._last_tick > LATE_TICK_S:
            log.info("tick late by %.0f ms (%s, %d frames left in the device)",
                     1000 * (now - self._last_tick), self.heard_state,
                     self.out.buffered_frames())
        self._last_tick = now
        while True:
            try:
                self.handle(self.commands.get_nowait())
            except queue.Empty:
                break
        # One question to the device per tick: with PulseAudio each is a round trip to the
        # server, and three a tick were most of this process's CPU time.
        buffered = self.out.buffered_frames()
        self._tick_start = (self.written, buffered)
        if self._wrote_audio and buffered == 0:
            # The last tick left music in the device and it ran dry before this one.
            self.underruns += 1
            log.warning("underrun (%d so far)", self.underruns)
        self._wrote_audio = False
        self._fill(max(0, self.out.capacity - buffered))
        self._report(self._tick_start[0] - buffered)  # frames heard as of this tick

    def _fill(self, free: int) -> None:
        while free > 0:
            head = self.ring.peek()
            stale = head is not None and head[0] < self.gen
            if stale and self.level > 0 and isinstance(head[1], Block):
                # A jump or a stop: fade out what was playing before dropping it.
                free -= self._write_block(head[0], head[1], free, target=0.0)
                continue
            if stale:
                self.ring.drop_older(self.gen)
                continue
            if not self.playing and self.level > 0 and head is not None \
                    and isinstance(head[1], Block):
                free -= self._write_block(head[0], head[1], free, target=0.0)  # pause: fade out
                continue
            if self._awaiting and head is not None and not self.ring.ready(self._start_frames):
                head = None  # a new start: let the decoder get ahead before the first sample
            if not self.playing or head is None:
                # Nothing to play: keep the stream running with silence (a stream that stops
                # costs a long wake-up on some sinks), but only a little of it ahead, so that
                # the next sound is not queued behind it.
                limit = self.rate * WAIT_SILENCE_MS // 1000
                written, buffered = self._tick_start
                room = limit - (buffered + self.written - written)
                if room > 0:
                    self._write_silence(min(free, room))
                if self.playing and head is None and self.end_at is None \
                        and self.heard_state == "playing" and not self._decoder_late \
                        and not self._awaiting:
                    self._decoder_late = True  # a gap of our own making: count it too
                    self.underruns += 1
                    log.warning("decoder late (%d underruns so far)", self.underruns)
                return
            gen, item = head
            self._decoder_late = False
            if isinstance(item, _End):
                self.ring.take(0)
                if self.end_at is None:
                    self.end_at = self.written
                continue
            # Music after an end marker: a next track was set in time; the end is called off.
            self.end_at = None
            self._awaiting = False
            free -= self._write_block(gen, item, free, target=1.0)

    def _write_block(self, gen: int, block: Block, free: int, target: float) -> int:
        """Write up to ``free`` frames of ``block`` with the envelope moving to ``target``."""
        n = min(free, len(block))
        if target == 0.0:
            n = min(n, max(1, int(np.ceil(self.level * self._fade))))
        samples = block.samples[:n]
        gain = 1.0 if block.gain_applied else self.gains.get(block.tag, 1.0)
        envelope = self._envelope(n, target)
        scale = envelope * np.float32(gain)
        out = samples * (scale[:, None] if isinstance(scale, np.ndarray) else scale)
        written = self.out.write(out)
        if written <= 0:
            return n  # the device took nothing: try again next tick
        self._add_mark(block.tag, block.frame, written, gen)
        self._tags_written.add(block.tag)
        self._wrote_audio = True
        self.ring.take(written)
        return written

    def _envelope(self, n: int, target: float) -> np.ndarray | np.float32:
        """Fade level times volume for the next ``n`` frames (both ramp, never jump); one
        number when neither moves (nearly always: no arrays to build each tick)."""
        if self.level == target and self._volume_now == self.volume:
            return np.float32(target * self.volume ** 3)
        step = 1.0 / self._fade
        if target >= self.level:
            level = np.minimum(target, self.level + step * np.arange(1, n + 1))
        else:
            level = np.maximum(target, self.level - step * np.arange(1, n + 1))
        self.level = float(level[-1]) if n else self.level
        vstep = 1.0 / self._fade
        if self.volume >= self._volume_now:
            vol = np.minimum(self.volume, self._volume_now + vstep * np.arange(1, n + 1))
        else:
            vol = np.maximum(self.volume, self._volume_now - vstep * np.arange(1, n + 1))
        self._volume_now = float(vol[-1]) if n else self._volume_now
        # Perceptual volume: the amplitude follows the cube of the slider (as PulseAudio does).
        return (level * vol ** 3).astype(np.float32)

    def _write_silence(self, n: int) -> None:
        written = self.out.write(np.zeros((n, 2), np.float32))
        self.written += written

    def _add_mark(self, tag: int, frame: int, n: int, gen: int) -> None:
        last = self.marks[-1] if self.marks else None
        if last is not None and last.tag == tag and last.gen == gen \
                and last.end == self.written and last.frame + (last.end - last.start) == frame:
            last.end += n
        else:
            self.marks.append(_Mark(self.written, self.written + n, tag, frame, gen))
        self.written += n

    # -- what the device has played ----------------------------------------------------------

    def _report(self, played: int) -> None:
        """Turn the played-frames clock into events: started, position, ended, state."""
        while self.marks and self.marks[0].end <= played and len(self.marks) > 1:
            old = self.marks.popleft()
            self._note_audible(old.tag, old.frame + (old.end - old.start), old.gen)
        mark = self.marks[0] if self.marks else None
        if mark is not None and mark.start <= played < mark.end:
            self._note_audible(mark.tag, mark.frame + played - mark.start, mark.gen)
        elif mark is not None and played >= mark.end and self.end_at is not None \
                and played >= self.end_at:
            self._note_audible(mark.tag, mark.frame + mark.end - mark.start, mark.gen)
            self.marks.clear()
        if self.end_at is not None and played >= self.end_at and not self.marks:
            tag = self.audible_tag if self.audible_tag is not None else self.loaded_tag
            self.end_at = None
            self.playing = False
            self._send_state("stopped")
            if tag not in self._tags_written:
                self.events.send("failed", tag=tag, gen=self.gen, reason="no sound in the file")
            else:
                self.events.send("ended", tag=tag, gen=self.gen)
            return
        now = self.clock()
        if self.audible_tag is not None and self.heard_state == "playing" \
                and now - self._last_pos_sent >= POSITION_EVERY_S:
            self._last_pos_sent = now
            self.events.send("pos", tag=self.audible_tag, gen=self.audible_gen,
                             ms=self.audible_frame * 1000 // self.rate)

    def _note_audible(self, tag: int, frame: int, gen: int) -> None:
        """The device is playing ``frame`` of track ``tag`` now."""
        if gen != self.gen:
            return  # the fade-out of what a jump left behind: not the music any more
        self.audible_frame, self.audible_gen = frame, gen
        if tag != self.audible_tag:
            self.audible_tag = tag
            self.events.send("started", tag=tag, gen=gen, ms=frame * 1000 // self.rate,
                             wall=time.time())
        if self.playing and self.heard_state != "playing" and gen == self.gen:
            self._send_state("playing")


class AudioProcess:
    """Wires the threads together; :func:`main` runs it."""

    def __init__(self, output: Output, events: Events, playback_rate: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.output = output
        self.events = events
        rate = max(1000, round(output.rate / max(0.05, min(64.0, playback_rate))))
        self.ring = Ring()
        self.decoder = Decoder(rate, self.ring, events)
        self.writer = Writer(output, self.ring, events, rate, clock)
        self._gen = 0

    def dispatch(self, cmd: dict[str, Any]) -> bool:
        """Route one command; False on ``quit``."""
        kind = cmd.get("cmd")
        if kind in ("load", "seek", "stop"):
            # Generations order the jumps; the app numbers them so that it can tell the
            # positions of what it asked for from those of what played before.
            self._gen = max(self._gen + 1, int(cmd.get("gen", 0)))
            cmd["gen"] = self._gen
        if kind in ("load", "set_next", "seek", "stop", "quit"):
            self.decoder.commands.put(cmd)
        if kind != "quit":
            self.writer.commands.put(cmd)
        return kind != "quit"


def _read_commands(proc: AudioProcess, stdin: Any, on_quit: Any, realtime: bool) -> None:
    if realtime:
        request_realtime(WRITER_PRIORITY - 1)
    for line in stdin:
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict) or "cmd" not in cmd:
                raise ValueError("not a command")
        except ValueError as exc:
            log.warning("bad command %r: %s", line[:200], exc)
            continue
        if not proc.dispatch(cmd):
            break
    proc.dispatch({"cmd": "quit"})
    on_quit()


def main(argv: list[str] | None = None) -> int:
    """Run the audio process (``python -m player.playback.audioproc [--rate R] [--silent]``)."""
    import argparse

    parser = argparse.ArgumentParser(description="Segue's audio process (started by the app)")
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed (tests)")
    parser.add_argument("--silent", action="store_true", help="no device: a real-time clock")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("SEGUE_AUDIO_LOG", "WARNING"),
                        format="audio: %(levelname)s %(message)s")
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")
    from PySide6.QtCore import QCoreApplication

    # Before any thread starts: the threads started later inherit the scheduling; the
    # decoder and the command reader then step down below the writer (see Decoder.run).
    realtime = request_realtime(WRITER_PRIORITY)
    # The writer waits for the interpreter lock at most this long when another thread has it.
    sys.setswitchinterval(0.001)
    app = QCoreApplication([sys.argv[0]])  # QtOutput's QAudioSink needs one
    events = Events(sys.stdout)
    # Without real-time scheduling a busy machine can keep this process waiting longer:
    # keep more in the device (pause and seek then answer a little later).
    buffer_ms = DEVICE_BUFFER_MS if realtime else DEVICE_BUFFER_MS_NORMAL
    output = open_output(prefer_device=not args.silent, buffer_ms=buffer_ms)
    proc = AudioProcess(output, events, args.rate)
    proc.decoder.realtime = bool(realtime)
    proc.decoder.start()

    def tick() -> None:
        try:
            proc.writer.tick()
        except OutputError as exc:  # the device went away: carry on without sound
            log.warning("%s: playing without sound", exc)
            from player.playback.output import ClockOutput

            proc.output = proc.writer.out = ClockOutput(output.rate)

    quit_requested = threading.Event()  # set by the reader: stdin closed or "quit"
    events.send("ready", rate=proc.writer.rate, device_rate=output.rate, output=output.name,
                realtime=realtime, buffer_ms=buffer_ms)
    # A closed stdin (the app quit, or died) ends this process too.
    reader = threading.Thread(target=_read_commands, name="segue-audio-commands",
                              args=(proc, sys.stdin, quit_requested.set, bool(realtime)),
                              daemon=True)
    reader.start()
    if output.name == "qt":  # QAudioSink lives on Qt's event loop
        _run_qt_loop(app, tick, quit_requested)
    else:  # a plain loop: the Qt one cost as much CPU as the ticks themselves
        _run_loop(tick, quit_requested)
    proc.writer.send_stats()
    output.close()
    return 0


def _run_loop(tick: Callable[[], None], quit_requested: threading.Event) -> None:
    """Tick every TICK_MS until asked to quit; a late tick does not try to catch up."""
    period = TICK_MS / 1000
    due = time.monotonic()
    while not quit_requested.is_set():
        tick()
        due += period
        delay = due - time.monotonic()
        if delay <= 0:
            due, delay = time.monotonic(), 0.0005
        # Always a real sleep: a real-time thread that never blocks is stopped by the kernel
        # (RLIMIT_RTTIME, see realtime.py) - a late tick must not turn into a busy loop.
        time.sleep(delay)


def _run_qt_loop(app: Any, tick: Callable[[], None], quit_requested: threading.Event) -> None:
    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: app.quit() if quit_requested.is_set() else tick())
    timer.start()
    app.exec()


if __name__ == "__main__":
    sys.exit(main())
