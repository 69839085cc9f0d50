"""Speed of the recommender on this machine (targets from issue 3).

    python -m bench.rec_speed            # prints a table, writes bench/results/rec_speed.json
    python -m bench.rec_speed --log PATH # the public log's folder (bench/publiclog.py)

* training on 50,000 plays (the first 50,000 rows of the public log, skips included; and
  a synthetic log of 50,000 kept plays over 20,000 tracks, the worst case for the softmax)
  - target under 60 s on 2 cores;
* a fine-tune on the next 500 plays of the public log - target under 5 s;
* one recommendation over 20,000 and over 100,000 candidate tracks (context: the latest
  1,000 plays) - target under 5 ms at 20,000; also ``explain`` and checkpoint save/load.

Figures carry their ratio to a baseline of the same run where one exists: training time
against the 60 s budget and against the official GRU4Rec's 83 s on the same log (issue 3),
recommendation time against the ``markov`` baseline's on the same context.
``--quick`` (for ``python -m bench --quick``) shrinks the logs and skips the 100,000 tracks.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from recommender.api import Config, Event, Recommender
from recommender.baselines import Markov
from recommender.logs import load_log, sessions_by_user

from . import publiclog

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def public_sessions(path: Path, lo: int, hi: int) -> list[list[Event]]:
    """Sessions of the public log's rows ``lo..hi`` (in time order), skips included."""
    plays = sorted(load_log(path), key=lambda p: (p.time, p.order))[lo:hi]
    return next(iter(sessions_by_user(plays).values()))


def synthetic_sessions(plays: int = 50_000, tracks: int = 20_000, seed: int = 0
                       ) -> tuple[list[list[int]], dict[int, dict[str, str]]]:
    """Integer track ids (as the player passes them) on a sparse random graph, Zipf-ish."""
    rng = random.Random(seed)
    follow = {t: [rng.randrange(tracks) for _ in range(3)] for t in range(tracks)}
    # Cumulative weights once: ``choices`` would otherwise re-add all of them on every call.
    cum = list(itertools.accumulate(1.0 / (r + 10) for r in range(tracks)))
    population = range(tracks)
    sessions, made = [], 0
    while made < plays:
        n = min(rng.randint(5, 30), plays - made)
        cur = rng.choices(population, cum_weights=cum)[0]
        s = [cur]
        for _ in range(n - 1):
            cur = rng.choice(follow[cur]) if rng.random() < 0.7 else \
                rng.choices(population, cum_weights=cum)[0]
            s.append(cur)
        sessions.append(s)
        made += n
    # Every track appears at least once, so the vocabulary holds all 20,000.
    seen = {t for s in sessions for t in s}
    missing = [t for t in range(tracks) if t not in seen]
    for i in range(0, len(missing), 20):
        sessions.append(missing[i:i + 20])
    meta = {t: {"artist": f"artist {t % 2000}"} for t in range(tracks)}
    return sessions, meta


def timed(fn, repeat: int = 1) -> tuple[float, Any]:
    """(best-of-``repeat`` seconds, last result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def latency_ms(fn, n: int = 200) -> dict[str, float]:
    """Median / p95 / max milliseconds of ``n`` calls (after 10 warm-up calls)."""
    for _ in range(10):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"median": round(statistics.median(samples), 3),
            "p95": round(samples[int(0.95 * n) - 1], 3), "max": round(samples[-1], 3)}


def _train_figures(res: dict[str, Any], path: Path) -> None:
    """Training on the first 50,000 rows of the public log, then a 500-row fine-tune."""
    sessions = public_sessions(path, 0, 50_000)
    n_kept = sum(1 for s in sessions for e in s if not e.skipped)
    secs, rec = timed(lambda: Recommender().fit(sessions))
    res["train_public_50k"] = {"rows": 50_000, "kept_plays": n_kept,
                               "tracks": len(rec.known_tracks()), "seconds": round(secs, 2),
                               "ratio_to_60s_budget": round(secs / 60, 3),
                               "ratio_to_gru4rec_83s": round(secs / 83, 3),
                               "epochs": rec.metrics["epochs"],
                               "best_epoch": rec.metrics["best_epoch"]}
    new = public_sessions(path, 50_000, 50_500)
    n_new = len({e.track for s in new for e in s} - set(rec.known_tracks()))
    before = len(rec.known_tracks())
    secs, _ = timed(lambda: rec.fit(new))
    res["finetune_public_500"] = {"rows": 500, "new_tracks": n_new, "vocab_before": before,
                                  "vocab_after": len(rec.known_tracks()),
                                  "seconds": round(secs, 2),
                                  "ratio_to_full_train": round(
                                      secs / res["train_public_50k"]["seconds"], 4)}


def _latency_figures(res: dict[str, Any], plays: int, tracks: int, max_train_s: float) -> None:
    """Train on a synthetic log over ``tracks`` tracks; time recommend/explain/checkpoints."""
    label = f"{tracks // 1000}k_tracks"
    syn, meta = synthetic_sessions(plays, tracks)
    config = Config(max_train_s=max_train_s)
    secs, big = timed(lambda: Recommender(config).fit(syn, metadata=meta))
    res[f"train_synthetic_{label}"] = {
        "plays": sum(len(s) for s in syn), "tracks": len(big.known_tracks()),
        "seconds": round(secs, 2), "epochs": big.metrics["epochs"],
        "best_epoch": big.metrics["best_epoch"]}
    markov = Markov().fit(syn)
    flat = [t for s in syn for t in s]
    ctx1000 = [Event(t, time=float(i * 200)) for i, t in enumerate(flat[-1000:])]
    gru_ms = latency_ms(lambda: big.recommend(ctx1000, k=10))
    markov_ms = latency_ms(lambda: markov.recommend(ctx1000, k=10))
    gru_ms["ratio_to_markov"] = round(gru_ms["median"] / max(markov_ms["median"], 1e-6), 3)
    gru_ms["ratio_to_5ms_target"] = round(gru_ms["median"] / 5, 3)
    res[f"recommend_{label}_ctx1000_ms"] = gru_ms
    res[f"markov_recommend_{label}_ctx1000_ms"] = markov_ms
    pick = big.recommend(ctx1000, k=1)[0][0]
    res[f"explain_{label}_ctx1000_ms"] = latency_ms(lambda: big.explain(ctx1000, pick), n=30)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        save_s, _ = timed(lambda: big.save(path), repeat=3)
        load_s, _ = timed(lambda: Recommender.load(path), repeat=3)
        res[f"checkpoint_{label}"] = {"save_s": round(save_s, 3), "load_s": round(load_s, 3),
                                      "bytes": path.stat().st_size}


def measure(argv: list[str] | None = None) -> dict[str, Any]:
    """Every measurement as a dict of figures (what ``python -m bench rec_speed`` prints)."""
    ap = argparse.ArgumentParser(prog="python -m bench.rec_speed")
    ap.add_argument("--quick", action="store_true", help="small logs, no 100,000 tracks")
    ap.add_argument("-v", "--verbose", action="store_true")
    publiclog.add_option(ap)
    args = ap.parse_args(argv)
    path = publiclog.resolve(args.log)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(2)
    res: dict[str, Any] = {"meta": {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"), "python": platform.python_version(),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "config": Config().to_dict()}}
    if args.quick:
        _latency_figures(res, plays=5_000, tracks=2_000, max_train_s=5)
        return res
    if path.exists():
        _train_figures(res, path)
    else:
        res["public"] = f"skipped: public log not found at {path} ({publiclog.SOURCE})"
    _latency_figures(res, plays=50_000, tracks=20_000, max_train_s=Config().max_train_s)
    # 100,000 tracks: the model is only trained long enough to exist - this measures the
    # cost of scoring the whole catalogue, not quality.
    _latency_figures(res, plays=150_000, tracks=100_000, max_train_s=20)
    return res


def main(argv: list[str] | None = None) -> int:
    """Run every measurement; print and write bench/results/rec_speed.json."""
    res = measure(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "rec_speed.json"
    out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    for k, v in res.items():
        if k != "meta":
            print(f"{k:<36} {v}")
    print(f"-> {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
