"""Training a heavy listener's model, on an idle machine and beside a CPU-bound process.

    python -m bench.train_load [--plays 137000] [--artists 1500] [--seed 0] [--no-burner]
    python -m bench train_load

Issue 14's targets: a history of about 137,000 plays over 20,000 tracks (the largest real
log the project was measured on; here ``recommender.synth.heavy_log`` makes one of that
size, with a library's metadata: artist, album, genre, year) trains within 60 s on 2 cores,
within 2x that with a CPU-bound process (``python -c 'while 1: pass'``) running beside it,
and both runs give the *same model*: training stops by work done (epochs, early stopping),
not by the clock, so the validation figures and a hash of the weights must be equal.

Figures: wall and CPU seconds of each run, the ratio loaded / idle, epochs and best epoch,
validation HR@20 / MRR@20, whether the time budget bit (``time_limited``), and whether the
two runs' weights are bitwise identical. CPU seconds by phase (``cpu_by_phase``): the
training thread's ``train`` and ``tail``, and beside it ``validate`` and ``blend`` (threads
of their own) and the work thrown away (``discarded``: training past the stop;
``blend_discarded``: blends a better round superseded); ``waited_s``: how long the training
thread waited for the others - on an idle machine the wall time is about the training
thread's CPU time (train + discarded + tail) plus that. The machine's load average is
printed too: on a shared machine the "idle" run is not idle either.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def heavy_sessions(plays: int, artists: int, seed: int) -> tuple[list[Any], dict[Any, dict]]:
    """The heavy synthetic listener's sessions (track keys) and the library's metadata."""
    from recommender.logs import sessions_by_user
    from recommender.synth import heavy_log

    log_plays, albums = heavy_log(plays=plays, artists=artists, seed=seed)
    (sessions,) = sessions_by_user(log_plays).values()
    from recommender.logs import track_key
    meta = {track_key(t.artist, t.title): t.metadata() for al in albums for t in al}
    return sessions, meta


def weights_hash(rec: Any) -> str:
    """SHA-256 of every tensor of the trained network, in state-dict order."""
    h = hashlib.sha256()
    for name, t in rec.net.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def train_once(sessions: list[Any], meta: dict[Any, dict]) -> dict[str, Any]:
    """One fresh training with the default configuration: its figures."""
    from recommender.api import Recommender

    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    rec = Recommender().fit(sessions, metadata=meta)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    m = rec.metrics
    return {"seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            "epochs": m.get("epochs"), "best_epoch": m.get("best_epoch"),
            "val_hr@20": round(m.get("val", {}).get("hr@20", 0.0), 6),
            "val_mrr@20": round(m.get("val", {}).get("mrr@20", 0.0), 6),
            "time_limited": m.get("time_limited"), "cpu_by_phase": m.get("cpu"),
            "waited_s": m.get("waited_s"),
            "weights": weights_hash(rec), "loadavg_before": round(load0, 2),
            "learned_tracks": len(rec.learned_tracks())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The figures (also written to bench/results/train_load.json)."""
    ap = argparse.ArgumentParser(prog="python -m bench.train_load")
    ap.add_argument("--plays", type=int, default=137_000)
    ap.add_argument("--artists", type=int, default=1_500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-burner", action="store_true", help="only the idle run")
    args = ap.parse_args(argv)
    sessions, meta = heavy_sessions(args.plays, args.artists, args.seed)
    n_plays = sum(len(s) for s in sessions)
    n_tracks = len({e.track for s in sessions for e in s if not e.skipped})
    figures: dict[str, Any] = {"plays": n_plays, "played_tracks": n_tracks,
                               "library_tracks": len(meta), "cpus": os.cpu_count()}
    figures["idle"] = train_once(sessions, meta)
    if not args.no_burner:
        burner = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
        try:
            time.sleep(1.0)
            figures["with_burner"] = train_once(sessions, meta)
        finally:
            burner.kill()
            burner.wait()
        idle, busy = figures["idle"], figures["with_burner"]
        figures["ratio_burner_to_idle"] = round(busy["seconds"] / max(idle["seconds"], 1e-9), 2)
        figures["same_model"] = idle["weights"] == busy["weights"]
        figures["same_val_metrics"] = (idle["val_hr@20"], idle["val_mrr@20"]) == \
            (busy["val_hr@20"], busy["val_mrr@20"])
    figures["target"] = "idle <= 60 s; with a burner <= 2x idle; same model"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "train_load.json").write_text(json.dumps(figures, indent=1) + "\n")
    return figures


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=1))
