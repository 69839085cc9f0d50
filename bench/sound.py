"""Seamless playback, measured from recorded audio: ``python -m bench sound`` (or
``python -m bench.sound``) ``[--backend NAME] [--baseline NAME|none] [--config
default|minimal|both] [--recorder-latency MS]``.

For each PulseAudio configuration and each backend (the one under test and a baseline, in the
same run), the real app plays, from one start: for each of six formats, a 441 Hz sine cut
across two tracks of one album; then, on an 8 s chirp, three play -> stop, two pause ->
resume and three seeks. Printed per format: the longest silence between the album's first and
last audible sample and the largest jump away from the sine; then play -> first audible
sample and seek -> first sample of the new place (median and max), where seeks landed, and
the click of a pause. Targets (issue 10): silence < 1 ms, play < 150 ms, seek < 100 ms.

How it is measured and how far the clock is to be trusted: :mod:`bench.soundrig`. The
recorder asks the sink for 2 ms blocks (a precise clock); that also makes the sink's latency
short, which shortens the silence QMediaPlayer leaves between tracks against a desktop, where
the player's own stream sets it: ``--recorder-latency 2000`` shows that case (its latencies
are then unreliable, and the monitor may miss up to a block of each new stream's start).
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import pulse, soundrig

log = logging.getLogger(__name__)


def _default_backend() -> str:
    from player.playback import BACKENDS

    return "stream" if "stream" in BACKENDS else "qt"


def _stats(values: list[float]) -> tuple[float, float]:
    real = [v for v in values if not math.isnan(v)]
    if not real:
        return float("nan"), float("nan")
    return round(statistics.median(real), 1), round(max(real), 1)


def measure(backend: str, config: str, workdir: Path,
            recorder_latency_ms: int = soundrig.RECORDER_LATENCY_MS) -> dict[str, Any]:
    """One app start on ``backend`` under a ``config`` PulseAudio: its figures."""
    from player.audiogen import available_formats, cut_album

    formats = [f for f in soundrig.GAPLESS_FORMATS if f in available_formats()]
    music = workdir / "music"
    albums = [cut_album(music / fmt, fmt) for fmt in formats]
    chirp = soundrig.chirp_track(music / "chirp")
    with pulse.private_pulse(workdir, config) as env:
        ids = soundrig.prepare(workdir / "data", [*albums, chirp])
        steps = soundrig.session_steps(ids[:-1], ids[-1][0])
        run = soundrig.run_app(env, workdir / "data", steps, backend,
                               latency_ms=recorder_latency_ms)
    figures: dict[str, Any] = {}
    for i, album in enumerate(albums):
        f = soundrig.measure_album(run, album, i)
        figures[f"gap_ms.{album.fmt}"] = round(f.gap_ms, 2)
        figures[f"jump.{album.fmt}"] = round(f.jump, 3)
        # how much longer than the album it sounded: its gaps, less any sound lost
        figures[f"extra_ms.{album.fmt}"] = round(1000 * (f.audible_s - f.expected_s), 1)
    plays = soundrig.measure_plays(run)
    seeks = soundrig.measure_seeks(run)
    pauses = soundrig.measure_pauses(run)
    first_play = soundrig.measure_album(run, albums[0], 0).play_ms if albums else float("nan")
    figures["first_play_ms"] = round(first_play, 1)
    figures["play_ms.median"], figures["play_ms.max"] = _stats([p.latency_ms for p in plays])
    figures["seek_ms.median"], figures["seek_ms.max"] = _stats([s.latency_ms for s in seeks])
    figures["seek_error_ms.max_abs"] = _stats([abs(s.error_ms) for s in seeks])[1]
    figures["pause_click.max"] = round(max((p.click for p in pauses), default=float("nan")), 3)
    figures["pause_ms.median"] = _stats([p.pause_ms for p in pauses])[0]
    figures["resume_ms.median"] = _stats([p.resume_ms for p in pauses])[0]
    figures["resume_skipped_ms.max_abs"] = _stats([abs(p.skipped_ms) for p in pauses])[1]
    figures["app_cpu_pct"] = round(100 * run.cpu_share(), 1)  # of one core, start to end
    figures["clock_spread_ms"] = round(1000 * run.take.clock.spread_s, 1)
    # The player's own count of times its device ran dry (the audio process's; 0 for qt).
    counts = [e.data.get("count", 0) for e in run.events if e.name == "underruns"]
    figures["underruns"] = counts[-1] if counts else float("nan")
    return figures


def _table(results: dict[str, dict[str, Any]], formats: list[str]) -> str:
    columns = list(results)
    lines = ["what".ljust(30) + "".join(c.rjust(22) for c in columns)]

    def row(label: str, key: str) -> None:
        lines.append(label.ljust(30) + "".join(
            str(results[c].get(key, results[c].get("error", "-")))[:20].rjust(22)
            for c in columns))

    for fmt in formats:
        row(f"{fmt}: longest silence ms", f"gap_ms.{fmt}")
        row(f"{fmt}: largest jump", f"jump.{fmt}")
    for label, key in [("first play -> audible ms", "first_play_ms"),
                       ("play -> audible ms, median", "play_ms.median"),
                       ("play -> audible ms, max", "play_ms.max"),
                       ("seek -> audible ms, median", "seek_ms.median"),
                       ("seek -> audible ms, max", "seek_ms.max"),
                       ("seek landed off by ms, max", "seek_error_ms.max_abs"),
                       ("pause/resume click, max", "pause_click.max"),
                       ("resume skipped ms, max", "resume_skipped_ms.max_abs"),
                       ("app CPU while playing, %", "app_cpu_pct"),
                       ("recorder clock spread ms", "clock_spread_ms"),
                       ("underruns counted by the player", "underruns")]:
        row(label, key)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench sound", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default=None, help="backend under test (default: stream "
                        "where the app has it, else qt)")
    parser.add_argument("--baseline", default=None, help="backend measured alongside (default: "
                        "qt when testing another; 'none' for none)")
    parser.add_argument("--config", choices=[*pulse.CONFIGS, "both"], default="both")
    parser.add_argument("--recorder-latency", type=int, default=soundrig.RECORDER_LATENCY_MS,
                        metavar="MS")
    parser.add_argument("--quick", action="store_true", help="the default configuration only")
    args = parser.parse_args(argv)
    backend = args.backend or _default_backend()
    baseline = args.baseline or ("qt" if backend != "qt" else "none")
    backends = [backend] + ([baseline] if baseline not in ("none", backend) else [])
    configs = list(pulse.CONFIGS) if args.config == "both" else [args.config]
    if args.quick:
        configs = ["default"]
    if not all(pulse.available(c) for c in configs):
        raise RuntimeError("pulseaudio, pactl and parec are needed (bash .ci/install)")
    from player.audiogen import available_formats

    formats = [f for f in soundrig.GAPLESS_FORMATS if f in available_formats()]
    results: dict[str, dict[str, Any]] = {}
    for config in configs:
        for name in backends:
            started = time.monotonic()
            print(f"sound: {name} on a {config} PulseAudio…", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    results[f"{name}/{config}"] = measure(name, config, Path(tmp),
                                                          args.recorder_latency)
                except (soundrig.ScenarioError, pulse.PulseError) as exc:
                    results[f"{name}/{config}"] = {"error": str(exc)[:300]}
            log.info("%s/%s took %.0f s", name, config, time.monotonic() - started)
    print(_table(results, formats))
    flat: dict[str, Any] = {"backend": backend, "baseline": baseline,
                            "recorder_latency_ms": args.recorder_latency}
    for column, figures in results.items():
        flat.update({f"{column}.{k}": v for k, v in figures.items()})
    return flat


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
