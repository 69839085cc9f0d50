"""One command for every benchmark: ``python -m bench [NAME ...] [--quick]``.

Options after a single NAME go to that benchmark (``python -m bench sound --backend qt``).

Each benchmark is a function ``f(argv) -> dict`` of figures (ratios to a baseline measured in
the same run where one exists), run in its own Python process so that memory and time
figures start clean. The figures are printed as a table and written to
``bench/results/latest.json`` (a run of some NAMEs updates only theirs). With no NAME, every
benchmark runs (about 40 minutes on 2 cores); ``--quick`` shrinks the workloads to a few
minutes for a smoke check.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

#: name -> ("module:function", argv for a full run, argv for --quick); the function takes
#: an argv list and returns a dict of figures.
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "startup": ("bench.startup:main", [], []),
    "scan": ("bench.scan:main", [], ["--files", "500,2000"]),
    "analysis": ("bench.analysis:main", ["--files", "40", "--seconds", "60"],
                 ["--files", "10", "--seconds", "20"]),
    "rec_speed": ("bench.rec_speed:measure", [], ["--quick"]),
    "quality": ("bench.eval_public:quality", [], ["--quick"]),
    "train_load": ("bench.train_load:main", [], ["--plays", "20000", "--artists", "200"]),
    "scale": ("bench.scale:main", [], ["--tracks", "20000"]),
    "variety": ("bench.variety:main", [], ["--picks", "50", "--replay", "50"]),
    "retrain_gui": ("bench.retrain_gui:main", [], ["--listens", "5000", "--synthetic"]),
    "retrain_stall": ("bench.retrain_stall:main", [], ["--listens", "1000"]),
    "import_speed": ("bench.import_speed:main", [], []),
    "handsfree": ("bench.handsfree:main", ["--tracks", "500", "--busy", "--pulse"],
                  ["--tracks", "30"]),
    "fuzz": ("bench.fuzz:main", ["--inputs", "10000", "--rows", "10000"],
             ["--inputs", "1000", "--rows", "1000"]),
    "kills": ("bench.kills:main", ["--kills", "120"], ["--kills", "9"]),
    "dbcheck": ("bench.dbcheck:main", [], ["--tracks", "1000", "--listens", "5000"]),
    "sound": ("bench.sound:main", [], ["--quick"]),
    "playcost": ("bench.playcost:main", [], ["--seconds", "10"]),
    "soak": ("bench.soak:main", [], ["--minutes", "3", "--retrains", "2", "--rescans", "2"]),
    "browse": ("bench.browse:main", [], ["--tracks", "20000"]),
    "lists": ("bench.lists:main", [], ["--tracks", "2000"]),
    "rows": ("bench.rows:main", [], ["--tracks", "20000"]),
}


def _table(results: dict[str, Any]) -> str:
    lines = []
    for name, figures in results.items():
        lines.append(f"== {name}")
        if isinstance(figures, dict):
            for key, value in figures.items():
                if isinstance(value, (dict, list)):
                    value = json.dumps(value)[:100]
                lines.append(f"  {key:36} {value}")
        else:
            lines.append(f"  {figures}")
    return "\n".join(lines)


def run_one(name: str, quick: bool, extra: list[str] | None = None) -> dict[str, Any]:
    """Run benchmark ``name`` in this process; its figures, or ``{"error": ...}``."""
    target, full, small = BENCHMARKS[name]
    module_name, function = target.split(":")
    argv = (small if quick else full) + list(extra or [])
    try:
        figures = getattr(importlib.import_module(module_name), function)(argv)
    except Exception as exc:  # one broken benchmark must not hide the others' figures
        logging.getLogger("bench").exception("%s failed", name)
        figures = {"error": f"{type(exc).__name__}: {exc}"}
    return figures if isinstance(figures, dict) else {"result": figures}


def run_isolated(name: str, quick: bool, extra: list[str] | None = None) -> dict[str, Any]:
    """Run benchmark ``name`` in a fresh Python process: memory and time figures must not
    inherit what an earlier benchmark left behind (a 100,000-track model, imported torch…)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        cmd = [sys.executable, "-m", "bench", "--child", name, "--child-out", str(out),
               "--child-argv", json.dumps(list(extra or []))]
        proc = subprocess.run(cmd + (["--quick"] if quick else []), check=False)
        if out.exists():
            return json.loads(out.read_text())
        return {"error": f"benchmark process exited with {proc.returncode}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], metavar="NAME",
                        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="small workloads")
    parser.add_argument("--child", choices=list(BENCHMARKS), help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-argv", default="[]", help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args(argv)
    if extra and len(args.names) != 1:
        parser.error(f"options {' '.join(extra)} need exactly one benchmark NAME")
    logging.basicConfig(level=logging.WARNING)
    if args.child:  # one benchmark, in the process run_isolated started
        figures = run_one(args.child, args.quick, json.loads(args.child_argv))
        args.child_out.write_text(json.dumps(figures))
        return 0
    names = args.names or list(BENCHMARKS)
    results: dict[str, Any] = {}
    for name in names:
        started = time.monotonic()
        print(f"running {name}…", file=sys.stderr, flush=True)
        figures = run_isolated(name, args.quick, extra)
        figures["bench_seconds"] = round(time.monotonic() - started, 1)
        results[name] = figures
    report = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": args.quick,
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "platform": platform.platform()},
              "results": results}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("latest-quick.json" if args.quick else "latest.json")
    if args.names and out.exists():  # a partial run updates the figures it re-measured
        previous = json.loads(out.read_text())
        report["results"] = {**previous.get("results", {}), **results}
    out.write_text(json.dumps(report, indent=2))
    print(_table(results))
    print(f"\nwritten to {out}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
