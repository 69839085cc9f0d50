"""Hands-free variety after a retrain: 200 auto picks in a row over a library matched to a
real listening log - how many artists, how much of it the most picked one takes - and how
often the auto-queue picks what the listener really played next.

    python -m bench.variety [--log PATH] [--picks 200] [--replay 200]
    python -m bench variety

``--log PATH`` is the listening log; by default the public one (one person's Spotify account
data, 54,429 plays, 2021-2022: github.com/jonas-mika/spotify-streaming-history-viz, data/,
MIT licence), found as bench/publiclog.py says (``$SEGUE_PUBLIC_LOG``, else ../shared);
without it the benchmark is skipped. The library holds one placeholder track per track of the log
(artist and title, no audio: nothing is played). The first 80% of the listener's sessions
are imported and the model is retrained on them, as "Retrain now" does; then:

* **replay**: the next sessions' real plays are logged one by one, and before each real next
  track the auto-queue picks (its rules on); hit rate = share of picks that are the track
  the listener really played next. The same replay with the model's own first choice (no
  listening rules) and with the auto-queue's simple pickers alone (no model) are the
  baselines, measured in the same run;
* **hands-free**: from there, ``--picks`` auto picks in a row, each logged as played: distinct
  artists, the largest artist's share (target <= 15% on a library of >= 40 artists), and
  windows of 8 consecutive picks with an artist more than twice (the rule: 0 unless the
  library leaves no other choice).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from . import publiclog

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TRACK_S = 210  # a played track's length on the fake clock


def _library(lib: Any, folder: Path, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Placeholder tracks (empty files) for ``keys`` (artist, title); their ids by key."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (artist, title) in enumerate(keys):
        path = folder / f"{i:05d}.mp3"
        path.write_bytes(b"")
        rows.append({"path": str(path), "mtime": 1.0, "size": 0, "title": title,
                     "artist": artist, "duration_ms": TRACK_S * 1000})
    lib.add_tracks(rows)
    by_path = {r.path: r.id for r in lib.all_track_meta()}
    return {k: by_path[r["path"]] for k, r in zip(keys, rows)}


def _write_tsv(path: Path, plays: list[Any]) -> None:
    lines = ["user\ttimestamp\tartist\ttitle\tms_played"]
    lines += [f"\t{p.time}\t{p.artist}\t{p.title}\t{p.ms_played if p.ms_played is not None else ''}"
              for p in plays]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(log_path: Path, picks: int = 200, replay: int = 200) -> dict[str, Any]:
    """The benchmark's figures (see the module doc)."""
    from player.autoqueue import AutoQueue, Rules
    from player.bridge import ModelHolder, ModelPicker, train
    from player.history import ListenLog
    from player.importer import import_history
    from player.library.db import Library
    from recommender.logs import kept_tracks, load_log, sessions_by_user, split_sessions

    plays = sorted(load_log([log_path]), key=lambda p: (p.time, p.order))
    (sessions,) = sessions_by_user(plays).values()
    train_s, test_s = split_sessions(sessions)
    cut = min(e.time for e in test_s[0])  # the first test session's first play
    first_of: dict[tuple[str, str], tuple[str, str]] = {}
    for p in plays:  # the library: every track of the log, as first written
        first_of.setdefault(p.key, (p.artist, p.title))
    figures: dict[str, Any] = {"log": str(log_path), "plays": len(plays)}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        lib = Library.open(data)
        try:
            ids = _library(lib, Path(tmp) / "files", list(first_of.values()))
            id_of = {key: ids[orig] for key, orig in first_of.items()}
            _write_tsv(Path(tmp) / "train.tsv", [p for p in plays if p.time < cut])
            import_history(lib, [Path(tmp) / "train.tsv"])
            t0 = time.perf_counter()
            model, result = train(lib, data)
            figures["retrain_s"] = round(time.perf_counter() - t0, 1)
            figures["heldout"] = result.heldout
            holder = ModelHolder(data)
            holder.set(model)
            clock = _Clock(cut)
            with_model = AutoQueue(lib, Rules(), model_picker=ModelPicker(holder), seed=0,
                                   clock=clock)
            no_model = AutoQueue(lib, Rules(), seed=0, clock=clock)
            figures.update(_replay(lib, test_s, id_of, replay, clock, with_model, no_model,
                                   ListenLog(lib, clock), kept_tracks))
            figures.update(_hands_free(lib, with_model, clock, ListenLog(lib, clock), picks))
            figures["library_tracks"] = len(ids)
            figures["library_artists"] = len({a.casefold() for a, _ in first_of.values()})
        finally:
            lib.close()
    return figures


class _Clock:
    """Time as the benchmark moves it: at the real plays' times, then a track at a time."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _replay(lib: Any, test_s: list[Any], id_of: dict, n: int, clock: _Clock, aq: Any,
            no_model: Any, log_: Any, kept: Any) -> dict[str, Any]:
    """Real test plays logged one by one; before each real next track, the picks."""
    hits = raw_hits = simple_hits = targets = 0
    latencies = []
    picker = aq.model_picker
    for session in test_s:
        tracks = [id_of[t] for t in kept(session)]
        times = [e.time for e in session if not e.skipped]
        for i, track in enumerate(tracks):
            clock.now = times[i] - TRACK_S
            log_.start(track, "user", TRACK_S * 1000)
            log_.heard(TRACK_S * 1000)
            clock.now = times[i]
            log_.finish(completed=True)
            if i + 1 >= len(tracks) or targets >= n:
                continue
            t0 = time.perf_counter()
            pick = aq.pick(track)
            latencies.append(time.perf_counter() - t0)
            ctx = aq.context(track)
            raw = [c[0] for c in picker.candidates(ctx) if c[0] != track][:1]
            simple = no_model.pick(track)
            nxt = tracks[i + 1]
            targets += 1
            hits += pick is not None and pick.track_id == nxt
            raw_hits += raw == [nxt]
            simple_hits += simple is not None and simple.track_id == nxt
        if targets >= n:
            break
    latencies.sort()
    return {"replay_targets": targets,
            "hit_rate": round(hits / max(targets, 1), 4),
            "hit_rate_model_without_rules": round(raw_hits / max(targets, 1), 4),
            "hit_rate_without_model": round(simple_hits / max(targets, 1), 4),
            "pick_ms_median": round(1000 * latencies[len(latencies) // 2], 1)
            if latencies else None}


def _hands_free(lib: Any, aq: Any, clock: _Clock, log_: Any, n: int) -> dict[str, Any]:
    """``n`` auto picks in a row, each played to its end."""
    current = lib.listens(limit=1, newest_first=True)[0].track_id
    artists, strategies = [], Counter()
    for _ in range(n):
        pick = aq.pick(current)
        if pick is None:
            break
        strategies[pick.strategy] += 1
        clock.now += 5
        log_.start(pick.track_id, "auto", TRACK_S * 1000)
        log_.heard(TRACK_S * 1000)
        clock.now += TRACK_S
        log_.finish(completed=True)
        current = pick.track_id
        artists.append((lib.track(current).artist or "").casefold())
    counts = Counter(artists)
    worst = counts.most_common(1)[0] if counts else ("", 0)
    over_cap = sum(1 for i in range(len(artists) - 7)
                   if max(Counter(artists[i:i + 8]).values()) > 2)
    return {"picks": len(artists), "distinct_artists": len(counts),
            "largest_artist_share": round(worst[1] / max(len(artists), 1), 4),
            "largest_artist": worst[0], "windows_of_8_over_cap": over_cap,
            "pickers": dict(strategies)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m bench variety``: the figures as a dict (written to
    bench/results/variety.json)."""
    ap = argparse.ArgumentParser(prog="python -m bench.variety")
    publiclog.add_option(ap)
    ap.add_argument("--picks", type=int, default=200)
    ap.add_argument("--replay", type=int, default=200)
    args = ap.parse_args(argv)
    path = publiclog.resolve(args.log)
    if not path.exists():
        return {"skipped": f"log not found at {path} ({publiclog.SOURCE}; --log PATH)"}
    figures = run(path, args.picks, args.replay)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "variety.json").write_text(json.dumps(figures, indent=1) + "\n")
    return figures


if __name__ == "__main__":
    out = main(sys.argv[1:])
    print(json.dumps(out, indent=1))
