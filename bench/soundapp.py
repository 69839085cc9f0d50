"""The real app, driven through a scripted scenario, noting when it did what.

Run by :mod:`bench.soundrig` in a process of its own (the backend chosen by
``SEGUE_BACKEND``, the sound going to whatever PulseAudio the environment names)::

    python -m bench.soundapp DATA_DIR SCENARIO.json EVENTS.json

The scenario is a list of steps, each an action or a wait:

* ``{"do": "enqueue", "tracks": [ids]}``, ``{"do": "play"}`` (the engine's play: resume, or
  start the queue), ``{"do": "play_track", "track": id}``, ``{"do": "pause"}``,
  ``{"do": "seek", "ms": 4000}``, ``{"do": "stop"}``;
* ``{"wait": "position", "ms": 1500}`` (the backend's position counter: used only to time
  the next action, never to measure), ``{"wait": "seconds", "s": 0.5}``,
  ``{"wait": "playing"}``, ``{"wait": "idle"}`` (the queue played out: no current track).

Every action is noted as ``{"event": name, "t": time.monotonic(), ...}`` just before the
app is told (the instant a user's press would arrive); track changes and state changes are
noted too, each with the process's CPU time so far (``cpu``, seconds, all threads).
``time.monotonic()`` is the same clock in every process, which is what lets the
recorder place these events on the recording. The auto-queue is off: only what the scenario
queues plays. Exits 0 when the scenario ran to its end, 2 on a timeout.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

POLL_MS = 2
#: The whole scenario's limit; a step that never happens must not hang a test for ever.
TIMEOUT_S = 120.0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    data_dir, steps = Path(args[0]), json.loads(Path(args[1]).read_text())
    events_path = Path(args[2])
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from player.app import SegueApp
    from player.playback.base import PlaybackState

    qapp = QApplication([])
    segue = SegueApp(data_dir, enable_mpris=False)
    segue.start_playback()
    engine = segue.engine
    engine.set_autoqueue_enabled(False)
    engine.set_volume(100)
    events: list[dict[str, Any]] = [{"event": "backend", "t": time.monotonic(),
                                     "name": engine.backend.name}]

    def note(name: str, **data: Any) -> None:
        # cpu: the process's CPU seconds so far (every thread), for playback's CPU cost
        events.append({"event": name, "t": time.monotonic(), "cpu": time.process_time(),
                       **data})

    engine.trackChanged.connect(lambda t: note("track", track=t.id if t else None))
    engine.stateChanged.connect(lambda s: note("state", state=s.value))
    engine.message.connect(lambda m: note("message", text=m))
    state = {"step": 0, "since": time.monotonic(), "status": 0}
    started = time.monotonic()

    def act(step: dict[str, Any]) -> None:
        what = step["do"]
        if what == "enqueue":
            engine.enqueue(list(step["tracks"]))
            return
        note(what, **{k: v for k, v in step.items() if k != "do"})
        if what == "play":
            engine.play()
        elif what == "play_track":
            engine.play_track(int(step["track"]))
        elif what == "pause":
            engine.pause()
        elif what == "seek":
            engine.seek(int(step["ms"]))
        elif what == "stop":
            engine.stop()
        else:
            raise ValueError(f"unknown action {what!r}")

    def waited(step: dict[str, Any]) -> bool:
        what = step["wait"]
        if what == "position":
            return (engine.state is PlaybackState.PLAYING
                    and engine.backend.position() >= int(step["ms"]))
        if what == "seconds":
            return time.monotonic() - state["since"] >= float(step["s"])
        if what == "playing":
            return engine.state is PlaybackState.PLAYING
        if what == "idle":
            return engine.current is None
        raise ValueError(f"unknown wait {what!r}")

    def finish(status: int) -> None:
        timer.stop()
        state["status"] = status
        note("end", status=status)
        segue.shutdown()
        # The audio process reports its counters as it quits (0 where unknown, e.g. qt).
        note("underruns", count=engine.backend.underruns())
        events_path.write_text(json.dumps(events))
        qapp.quit()

    def tick() -> None:
        while state["step"] < len(steps):
            step = steps[state["step"]]
            if "wait" in step and not waited(step):
                if time.monotonic() - started > TIMEOUT_S:
                    log.error("timed out waiting for %s", step)
                    finish(2)
                return
            if "do" in step:
                act(step)
            state["step"] += 1
            state["since"] = time.monotonic()
        finish(0)

    timer = QTimer(interval=POLL_MS)
    timer.timeout.connect(tick)
    # The model loads in the background after start-up (torch): let it settle first, so that
    # what is measured is playback, not the import of a large library.
    deadline = time.monotonic() + 30

    def start_when_settled() -> None:
        if segue.learning.loaded or time.monotonic() > deadline:
            settle.stop()
            note("ready")
            timer.start()

    settle = QTimer(interval=20)
    settle.timeout.connect(start_when_settled)
    settle.start()
    qapp.exec()
    return int(state["status"])


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
