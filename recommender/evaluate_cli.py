"""``segue evaluate PATH... [--candidates train|log] [--models gru,pop,...] [--json]``.

``--candidates train`` (the default) is protocol v1; ``--candidates log`` its library
variant (every track of the user's log is a candidate; see docs/evaluation.md).

The player's CLI calls ``main(argv)`` for its ``evaluate`` subcommand; ``python -m
recommender.evaluate_cli`` runs it directly. Exit codes: 0 ok, 2 bad usage, missing path or
unreadable log, 1 training failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import TextIO

from .evaluate import CANDIDATES, MODEL_NAMES, evaluate_users, format_table, load_users
from .logs import LogFormatError

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``segue evaluate``."""
    p = argparse.ArgumentParser(
        prog="segue evaluate",
        description="Measure next-track models on a listening log with protocol v1 or its "
                    "library variant (HR@10/20, MRR@10/20 per user and macro).")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="a log file or a folder of files of one listening log (TSV, Spotify "
                        "StreamingHistory / extended export, ListenBrainz), several users' "
                        "TSV, or playlists (M3U/M3U8, playlist TSV)")
    p.add_argument("--models", default=",".join(MODEL_NAMES),
                   help=f"comma-separated models (default: {','.join(MODEL_NAMES)})")
    p.add_argument("--candidates", choices=list(CANDIDATES), default="train",
                   help="train: the tracks of the train sessions (protocol v1, the default); "
                        "log: every track of the user's log (the library variant)")
    p.add_argument("--json", action="store_true", help="print one JSON object, no table")
    p.add_argument("-v", "--verbose", action="store_true", help="log training progress")
    return p


class _Bar:
    """A one-line progress bar on a terminal; plain start/done lines elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0

    def __call__(self, user: str, model: str, frac: float, msg: str) -> None:
        label = f"{model} {user}".strip()
        if not self.tty:
            if frac <= 0.0 or frac >= 1.0:
                print(f"{label}: {msg}", file=self.stream, flush=True)
            return
        now = time.monotonic()
        if 0.0 < frac < 1.0 and now - self.last < 0.1:
            return
        self.last = now
        width = 30
        done = int(round(frac * width))
        line = f"\r[{'#' * done}{'.' * (width - done)}] {frac * 100:5.1f}% {label}: {msg}"
        print(f"{line[:110]:<110}", end="" if frac < 1.0 else "\n", file=self.stream,
              flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run ``segue evaluate``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODEL_NAMES]
    if not models or unknown:
        print(f"segue evaluate: unknown model(s) {', '.join(unknown) or '(none)'}; choose "
              f"from {', '.join(MODEL_NAMES)}", file=sys.stderr)
        return 2
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"segue evaluate: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        users = load_users(args.paths, default_user=Path(args.paths[0]).stem,
                           candidates=args.candidates)
    except (LogFormatError, FileNotFoundError, OSError, ValueError) as exc:
        print(f"segue evaluate: cannot read the log: {exc}", file=sys.stderr)
        return 2
    if not users:
        print("segue evaluate: the log holds no plays", file=sys.stderr)
        return 2
    progress = None if args.json else _Bar(sys.stderr)
    try:
        report = evaluate_users(users, models, progress=progress)
    except Exception as exc:  # noqa: BLE001 - report, do not dump a traceback on users
        log.debug("evaluation failed", exc_info=True)
        print(f"segue evaluate: evaluation failed: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report))
    else:
        if not report["users"]:
            print("no user has enough sessions for a test split", file=sys.stderr)
        print(f"protocol {report['protocol']}, {report['variant']} variant "
              f"(candidates: {report['candidates']})")
        print(format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
