"""Segue's playback backend: one output stream that never closes, fed by the audio process.

The sound itself is made by :mod:`player.playback.audioproc`, a process of its own (see there
why); this class is its proxy on the GUI thread. It sends commands as JSON lines and turns
the events that come back into the :class:`~player.playback.base.Backend` signals:

* ``PLAYING`` when the first sample is audible (not when play was pressed);
* positions from the samples the device has played;
* ``advanced(tag)`` when the next cue's first sample is heard: a gapless join, or the start
  of a crossfade;
* ``failed`` and ``nextFailed`` with FFmpeg's reason.

Loads and seeks are numbered (generations) so that a position of what played before a jump
is never taken for one after it. If the audio process dies (or hangs on a hostile file), it
is started again and the track it was playing is reported as failed, so the engine moves on.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from player.playback.announcements import Announcements
from player.playback.base import Backend, PlaybackState, as_cue
from player.playback.cue import Cue

log = logging.getLogger(__name__)

#: A track that has produced no sound this long after play was pressed is given up on (an
#: FFmpeg that hangs on a hostile file): the audio process is restarted.
FIRST_SOUND_TIMEOUT_S = 15.0
#: Restart the audio process at most this often (a system where it cannot run at all
#: must not spin).
RESTART_MIN_INTERVAL_S = 2.0


def audio_process_command(rate: float = 1.0, silent: bool = False) -> list[str]:
    """The command line of the audio process.

    ``-I`` (isolated): the current folder and ``PYTHON*`` variables are not on its path,
    so a ``numpy.py`` lying where Segue was started cannot run; the folder that holds the
    ``player`` package is given explicitly instead.
    """
    import player

    root = os.path.dirname(os.path.dirname(os.path.abspath(player.__file__)))
    boot = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
            "from player.playback.audioproc import main; sys.exit(main(sys.argv[1:]))")
    cmd = [sys.executable, "-I", "-c", boot, root, "--rate", repr(float(rate))]
    if silent:
        cmd.append("--silent")
    return cmd


class _Relay(QObject):
    """Carries events from the reader thread to the GUI thread (queued connection)."""

    event = Signal(object)


@dataclass(slots=True)
class _Next:
    """A cue announced as next, and its duration once the audio process has opened it."""

    cue: Cue
    duration_ms: int = 0


class StreamBackend(Backend):
    name = "stream"
    gapless = True

    def __init__(self, silent: bool | None = None) -> None:
        """``silent``: no audio device even if there is one (a real-time clock instead);
        default from ``$SEGUE_AUDIO_SILENT``."""
        super().__init__()
        self._silent = bool(os.environ.get("SEGUE_AUDIO_SILENT")) if silent is None else silent
        self._relay = _Relay()
        self._relay.event.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        self._proc: subprocess.Popen[str] | None = None
        self._stdin: IO[str] | None = None
        self._write_lock = threading.Lock()
        self._state = PlaybackState.STOPPED
        self._position = 0
        self._duration = 0
        self._volume = 100
        self._rate = 1.0
        self._gen = 0
        self._cue: Cue | None = None
        self._next: Cue | None = None
        #: Every cue announced as next since the last load, with its duration once known.
        #: The audio process commits to a next track seconds before it is heard (its decoder
        #: runs ahead): an announcement that arrives later follows the committed track
        #: instead of replacing it, so a superseded cue may still be the one that starts.
        self._announced: Announcements[_Next] = Announcements()
        self._want_play = False
        self._underruns = 0
        self.ready = False
        self.output_name = ""
        self.device_rate = 0
        self.realtime = ""  # how the audio process got real-time scheduling ("": it did not)
        self.buffer_ms = 0
        self._started_at = 0.0
        self._shut_down = False
        self._first_sound = QTimer(self, singleShot=True)
        self._first_sound.setInterval(int(FIRST_SOUND_TIMEOUT_S * 1000))
        self._first_sound.timeout.connect(self._no_sound)
        # Started from the event loop (or by the first command), so that the volume and rate
        # set right after construction are its start-up values, not a restart.
        QTimer.singleShot(0, self._ensure_process)

    # -- the process -------------------------------------------------------------------------

    def _ensure_process(self) -> None:
        if self._proc is None and not self._shut_down:
            self._start_process()

    def _start_process(self) -> None:
        self._started_at = time.monotonic()
        self.ready = False
        cmd = audio_process_command(self._rate, self._silent)
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, encoding="utf-8", bufsize=1,
                                      errors="surrogateescape")
        self._stdin = self._proc.stdin
        reader = threading.Thread(target=self._read_events, args=(self._proc,),
                                  name="segue-audio-events", daemon=True)
        reader.start()
        self._send({"cmd": "volume", "value": self._volume / 100})

    def _read_events(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                log.warning("audio process: %s", line.rstrip()[:300])
                continue
            if isinstance(event, dict):
                if event.get("ev") == "stats":  # counters: kept even while shutting down
                    self._underruns = int(event.get("underruns", 0))
                self._relay.event.emit(event)
        self._relay.event.emit({"ev": "exit", "pid": proc.pid})

    def _send(self, cmd: dict[str, Any]) -> None:
        self._ensure_process()
        line = json.dumps(cmd, separators=(",", ":")) + "\n"
        with self._write_lock:
            try:
                if self._stdin is not None:
                    self._stdin.write(line)
                    self._stdin.flush()
            except (BrokenPipeError, OSError, ValueError) as exc:
                log.warning("audio process unreachable: %s", exc)

    def _restart(self, reason: str) -> None:
        """Kill and restart the audio process; the current track failed with ``reason``."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
        self._proc = None
        cue = self._cue
        self._cue, self._next = None, None
        self._announced.clear()
        self._set_state(PlaybackState.STOPPED)
        if self._shut_down:
            return
        wait = RESTART_MIN_INTERVAL_S - (time.monotonic() - self._started_at)
        QTimer.singleShot(max(0, int(wait * 1000)), self._ensure_process)
        if cue is not None:
            self.failed.emit(reason)

    def _no_sound(self) -> None:
        silent = self._want_play and self._state is not PlaybackState.PLAYING
        if not self._shut_down and silent and self._cue:
            log.warning("no sound from %s after %.0f s", self._cue.path, FIRST_SOUND_TIMEOUT_S)
            self._restart("no sound came out of the file (corrupt or unsupported)")

    # -- events (GUI thread) -----------------------------------------------------------------

    def _on_event(self, event: dict[str, Any]) -> None:
        if self._shut_down:
            return
        kind = event.get("ev")
        gen = event.get("gen")
        current = self._cue.tag if self._cue else None
        if kind == "ready":
            self.ready = True
            self.output_name = str(event.get("output", ""))
            self.device_rate = int(event.get("device_rate", 0))
            self.realtime = str(event.get("realtime", ""))
            self.buffer_ms = int(event.get("buffer_ms", 0))
            log.info("audio process ready: %s, %d Hz, %d ms buffer, real-time: %s",
                     self.output_name, self.device_rate, self.buffer_ms, self.realtime or "no")
        elif kind == "exit":
            if self._proc is not None and event.get("pid") == self._proc.pid \
                    and not self._shut_down:
                log.warning("the audio process ended (exit %s); restarting it",
                            self._proc.poll())
                self._restart("the audio engine stopped")
        elif kind == "loaded" and gen == self._gen and event.get("tag") == current:
            self._duration = int(event.get("duration_ms", 0))
            self.durationChanged.emit(self._duration)
        elif kind == "failed" and gen == self._gen and event.get("tag") == current:
            self._first_sound.stop()
            self._cue = None
            self._want_play = False
            self._set_state(PlaybackState.STOPPED)
            self.failed.emit(str(event.get("reason", "cannot play the file")))
        elif kind == "next_ready" and (ready := self._announced.get(event.get("tag"))):
            ready.duration_ms = int(event.get("duration_ms", 0))
        elif kind == "next_failed" and self._next and event.get("tag") == self._next.tag:
            self._next = None
            self.nextFailed.emit(int(event["tag"]), str(event.get("reason", "")))
        elif kind == "started" and gen == self._gen:
            self._on_started(int(event["tag"]))
        elif kind == "state" and gen == self._gen:
            state = PlaybackState(event["state"])
            if state is PlaybackState.PLAYING:
                self._first_sound.stop()
            if state is PlaybackState.PLAYING or not self._want_play:
                self._set_state(state)
        elif kind == "pos" and gen == self._gen and event.get("tag") == current:
            position = int(event.get("ms", 0))
            if position != self._position:
                self._position = position
                self.positionChanged.emit(position)
        elif kind == "ended" and gen == self._gen and event.get("tag") == current:
            self._want_play = False
            self._set_state(PlaybackState.STOPPED)
            self.finished.emit()

    def _on_started(self, tag: int) -> None:
        if self._cue is not None and tag == self._cue.tag:
            return  # the current cue's first sample (PLAYING follows with the state event)
        started = self._announced.started(tag)
        if started is not None:
            self._cue = started.cue
            if self._next is not None and self._next.tag <= tag:
                self._next = None
            self._duration = started.duration_ms
            self._position = 0
            self.advanced.emit(tag)
            self.durationChanged.emit(self._duration)
            self.positionChanged.emit(0)

    def _set_state(self, state: PlaybackState) -> None:
        if state is not self._state:
            self._state = state
            self.stateChanged.emit(state)

    # -- the contract ------------------------------------------------------------------------

    def load(self, cue: Cue | str) -> None:
        cue = as_cue(cue)
        self._gen += 1
        self._cue = cue
        self._next = None
        self._announced.clear()
        self._position, self._duration = 0, 0
        self._want_play = False
        self._first_sound.stop()
        self._set_state(PlaybackState.STOPPED)
        self._send({"cmd": "load", "gen": self._gen, "cue": cue.to_json()})

    def set_next(self, cue: Cue | None) -> None:
        if cue == self._next:
            return
        self._next = cue
        if cue is not None:
            self._announced.add(cue.tag, _Next(cue))
        self._send({"cmd": "set_next", "cue": cue.to_json() if cue else None})

    def play(self) -> None:
        if self._cue is None:
            return
        self._want_play = True
        if self._state is not PlaybackState.PLAYING:
            self._first_sound.start()
        self._send({"cmd": "play"})

    def pause(self) -> None:
        self._want_play = False
        self._first_sound.stop()
        self._send({"cmd": "pause"})
        if self._state is PlaybackState.PLAYING:
            self._set_state(PlaybackState.PAUSED)

    def stop(self) -> None:
        self._want_play = False
        self._first_sound.stop()
        self._gen += 1
        self._send({"cmd": "stop", "gen": self._gen})
        self._cue, self._next = None, None
        self._announced.clear()
        self._position = 0
        self._set_state(PlaybackState.STOPPED)

    def seek(self, position_ms: int) -> None:
        if self._cue is None:
            return
        target = max(0, int(position_ms))
        if self._duration > 0:
            target = min(target, self._duration)
        self._gen += 1
        self._send({"cmd": "seek", "gen": self._gen, "ms": target, "tag": self._cue.tag})
        self._position = target
        self.positionChanged.emit(target)

    def position(self) -> int:
        return self._position

    def duration(self) -> int:
        return self._duration if self._cue is not None else 0

    def state(self) -> PlaybackState:
        return self._state

    def set_volume(self, volume: int) -> None:
        self._volume = max(0, min(100, int(volume)))
        self._send({"cmd": "volume", "value": self._volume / 100})

    def volume(self) -> int:
        return self._volume

    def set_gain(self, tag: int, gain: float) -> None:
        self._send({"cmd": "gain", "tag": int(tag), "value": float(gain)})

    def set_rate(self, rate: float) -> None:
        """Playback speed (tests): the audio process restarts at that rate, between tracks."""
        rate = float(rate)
        if rate == self._rate:
            return
        self._rate = rate
        if self._proc is not None and self._cue is None:
            # The old process's exit event names its pid, which is no longer ours: ignored.
            proc = self._proc
            self._send({"cmd": "quit"})
            if proc is not None:
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
            self._start_process()

    def underruns(self) -> int:
        return self._underruns

    def request_stats(self) -> None:
        """Ask the audio process for its counters (they arrive as the ``stats`` event)."""
        self._send({"cmd": "stats"})

    def shutdown(self) -> None:
        self._shut_down = True
        self._first_sound.stop()
        self._send({"cmd": "quit"})
        proc = self._proc
        if proc is None:
            return
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        self._stdin = None
