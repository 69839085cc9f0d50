"""Segue's command line: ``segue [--data-dir DIR] COMMAND ...``; no command starts the GUI.

Commands print a readable summary, or with ``--json`` exactly one JSON object on stdout (logs go
to stderr).  Exit status: 0 on success (a scan that met broken files still succeeded), 2 for a
usage error such as a folder that does not exist, 1 for a library that cannot be opened.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from player.settings import resolve_data_dir

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def version() -> str:
    """The installed distribution's version (pyproject.toml is the one place it is written)."""
    from importlib import metadata

    try:
        return metadata.version("segue")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """``--version``: like argparse's own, but looks the version up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(f"segue {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segue",
        description="Segue: an offline music player that learns the order in which you listen. "
        "Without a command, opens the player window.",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where the library, listening log and model live "
        "(default: $SEGUE_DATA_DIR, else the platform's user data folder)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (to stderr)")
    parser.add_argument("--version", action=_VersionAction,
                        help="print the installed version of Segue and exit")
    parser.add_argument("--play", action="store_true",
                        help="with no command: start playing hands-free as the window opens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = sub.add_parser("scan", help="add music folders and scan the library")
    scan.add_argument("folders", nargs="*", metavar="FOLDER", help="folders to add first")
    scan.add_argument("--json", action="store_true", help="print one JSON object")
    scan.add_argument(
        "--workers", type=int, default=None, help="tag-reading processes (default: CPU count)"
    )

    stats = sub.add_parser("stats", help="count tracks, artists, albums and listens")
    stats.add_argument("--json", action="store_true", help="print one JSON object")

    imp = sub.add_parser(
        "import",
        help="import listening history (Spotify, ListenBrainz, TSV) and playlists (M3U)",
    )
    imp.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    imp.add_argument("--json", action="store_true", help="print one JSON object")

    train = sub.add_parser(
        "train", help="train the recommendation model on your listening (held-out metrics)")
    train.add_argument("--fresh", action="store_true",
                       help="retrain from scratch (default: continue the saved model on the "
                            "listens since it was trained; from scratch when there is none)")
    train.add_argument("--json", action="store_true", help="print one JSON object")

    nxt = sub.add_parser("next", help="what the auto-queue would play next, and why")
    nxt.add_argument("-n", type=int, default=10, help="how many picks (default 10)")
    nxt.add_argument("--json", action="store_true", help="print one JSON object")

    desktop = sub.add_parser(
        "install-desktop",
        help="add Segue to the applications menu (a .desktop file and an icon, per user)",
    )
    desktop.add_argument("--prefix", metavar="DIR", default=None,
                         help="data folder to install into (default: ~/.local/share)")

    evaluate = sub.add_parser(
        "evaluate",
        help="measure the recommender and its baselines on a listening log (protocol v1)",
        add_help=False,
    )
    evaluate.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command is None:
        from player.app import run_gui  # Qt is imported only for the GUI

        return run_gui(args.data_dir, play=args.play)
    if args.command == "evaluate":
        from recommender.evaluate_cli import main as evaluate_main  # torch: only on demand

        return evaluate_main(args.rest)
    handler = {"scan": cmd_scan, "stats": cmd_stats, "import": cmd_import,
               "train": cmd_train, "next": cmd_next,
               "install-desktop": cmd_install_desktop}[args.command]
    return handler(args)


def _missing_path(paths: Sequence[str], folders_only: bool = False) -> bool:
    """Print a usage error for the first path that does not exist; True if there was one."""
    for path in paths:
        if not (os.path.isdir(path) if folders_only else os.path.exists(path)):
            kind = "folder" if folders_only else "file or folder"
            print(f"segue: {path}: no such {kind}", file=sys.stderr)
            return True
    return False


def _open_library(args: argparse.Namespace) -> Any:
    """The library of the chosen data dir, or None after printing why it cannot be opened."""
    from player.library.db import Library, LibraryError

    try:
        return Library.open(resolve_data_dir(args.data_dir))
    except LibraryError as exc:
        print(f"segue: {exc}", file=sys.stderr)
        return None


def cmd_scan(args: argparse.Namespace) -> int:
    from player.library.scanner import scan_folders

    if _missing_path(args.folders, folders_only=True):
        return EXIT_USAGE
    library = _open_library(args)
    if library is None:
        return EXIT_ERROR
    try:
        if not args.folders and not library.roots():
            print(
                "segue: no music folders yet; give one: segue scan ~/Music", file=sys.stderr
            )
            return EXIT_USAGE
        bar = None if args.json else TerminalProgress(sys.stderr)
        result = scan_folders(
            library,
            args.folders,
            progress=bar.scan_event if bar else None,
            workers=args.workers,
        )
        if bar:
            bar.close()
    finally:
        library.close()
    if args.json:
        data = result.as_json()
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(
            f"{result.added} added, {result.updated} updated, {result.moved} moved, "
            f"{result.unchanged} unchanged, {result.missing} missing, "
            f"{len(result.failed)} failed in {result.seconds:.1f} s"
        )
        for path, reason in result.failed[:20]:
            print(f"  failed: {path}: {reason}")
        if len(result.failed) > 20:
            print(f"  ... and {len(result.failed) - 20} more (segue stats --json lists none; "
                  f"see the scan_errors table)")
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    library = _open_library(args)
    if library is None:
        return EXIT_ERROR
    try:
        stats = library.stats()
    finally:
        library.close()
    if args.json:
        print(json.dumps(stats))
    else:
        print(
            f"{stats['tracks']} tracks ({stats['missing']} missing), {stats['artists']} artists, "
            f"{stats['albums']} albums, {stats['listens']} listens, "
            f"{stats['scan_errors']} files with errors, {stats['roots']} music folders"
        )
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from player.importer import import_history

    if _missing_path(args.paths):
        return EXIT_USAGE
    library = _open_library(args)
    if library is None:
        return EXIT_ERROR
    try:
        report = import_history(library, args.paths)
    except ValueError as exc:
        print(f"segue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        library.close()
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        print(f"{report.rows} plays read: {report.listens} new listens ({report.matched} "
              f"matched to your library, {report.unmatched} not), {report.duplicates} already "
              f"imported; {report.playlists} playlists")
        for where, reason in report.errors[:20]:
            print(f"  skipped: {reason}")
        if len(report.errors) > 20:
            print(f"  ... and {len(report.errors) - 20} more")
    if report.unreadable:  # a file the user gave could not be read at all: not a success
        for path, reason in report.unreadable:
            print(f"segue: {reason}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from player.bridge import ModelHolder, NotEnoughHistory, finetune, train

    library = _open_library(args)
    if library is None:
        return EXIT_ERROR
    data_dir = resolve_data_dir(args.data_dir)
    bar = None if args.json else TerminalProgress(sys.stderr)
    try:
        holder = ModelHolder(data_dir)
        model = None if args.fresh else holder.load()
        outcome = finetune(library, data_dir, model) if model is not None else None
        if model is not None and outcome is None:
            status = holder.status()
            result = {"mode": "unchanged", "plays": 0, "seconds": 0.0,
                      "targets": int(model.metrics.get("segue_targets", 0)),
                      "heldout": status["heldout"], "model": str(holder.path)}
        else:
            if outcome is None:
                progress = (lambda phase, frac, msg, loss: bar.show(int(frac * 1000), 1000, msg)
                            ) if bar else None
                outcome = train(library, data_dir, progress=progress)
            result = outcome[1].as_json()
    except NotEnoughHistory as exc:
        print(f"segue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if bar:
            bar.close()
        library.close()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['mode']}: {result['plays']:,} listens in {result['seconds']:.1f} s")
        for name, m in result["heldout"].items():
            print(f"  {name:8} HR@20 {m['hr@20']:.3f}  MRR@20 {m['mrr@20']:.3f}")
    return EXIT_OK


def cmd_next(args: argparse.Namespace) -> int:
    from player.autoqueue import AutoQueue
    from player.bridge import ModelHolder, ModelPicker

    library = _open_library(args)
    if library is None:
        return EXIT_ERROR
    try:
        holder = ModelHolder(resolve_data_dir(args.data_dir))
        holder.load()
        queue = AutoQueue(library, model_picker=ModelPicker(holder))
        last = library.listens(newest_first=True, limit=1)
        current = last[0]["track_id"] if last else None
        picks = queue.ranked(current, args.n)
        rows = library.tracks_by_id(p.track_id for p in picks)
    finally:
        library.close()
    out = [{"track_id": p.track_id, "path": rows[p.track_id]["path"],
            "artist": rows[p.track_id]["artist"], "title": rows[p.track_id]["title"],
            "score": round(p.score, 6) if p.score is not None else None,
            "reason": p.reason, "strategy": p.strategy} for p in picks]
    if args.json:
        print(json.dumps({"next": out}, ensure_ascii=False))
    else:
        for i, p in enumerate(out, 1):
            print(f"{i:2}. {p['title']} — {p['artist'] or 'Unknown artist'}   ({p['reason']})")
    return EXIT_OK


def cmd_install_desktop(args: argparse.Namespace) -> int:
    from player.desktop import install_desktop_entry

    entry = install_desktop_entry(Path(args.prefix) if args.prefix else None)
    print(f"installed {entry}; Segue is in your applications menu")
    return EXIT_OK


class TerminalProgress:
    """A one-line progress bar on a terminal; silent when the stream is not one."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.active = stream.isatty()
        self._last = 0.0

    def show(self, done: int, total: int, label: str) -> None:
        if not self.active:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done < total:
            return
        self._last = now
        frac = done / total if total else 1.0
        filled = int(frac * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {label[:40]:<40}")
        self.stream.flush()

    def scan_event(self, event: Any) -> None:
        if event.phase == "walk":
            self.show(0, 0, f"looking: {event.seen} files")
        else:
            label = f"reading, {event.failed} failed" if event.failed else "reading"
            self.show(event.read, event.to_read, label)

    def close(self) -> None:
        if self.active:
            self.stream.write("\r" + " " * (self.WIDTH + 60) + "\r")
            self.stream.flush()
