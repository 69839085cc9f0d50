"""Segue's command line: ``segue [--data-dir DIR] COMMAND ...``; no command starts the GUI.

Commands print a readable summary, or with ``--json`` exactly one JSON object on stdout (logs go
to stderr). Whatever goes wrong is said in one line on stderr (``segue: ...``), never a
traceback. Exit status:

* 0 on success (a scan that met broken files, an import that skipped bad rows, succeeded);
* 1 when the work cannot be done: a library that is damaged, read-only or on a full disk, a
  file given to ``import`` that cannot be read, a model that cannot be saved;
* 2 for a usage error: a folder that does not exist, an empty ``--data-dir``, too little
  history to train on;
* 3 when the library is busy: another program held its write lock for over 30 s (try again).
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

from player.settings import DataDirError, resolve_data_dir

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUSY = 3


class CommandError(Exception):
    """Why a command cannot go on, in one line, with its exit status."""

    def __init__(self, message: str, status: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.status = status


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
        "Without a command, opens the player window; `segue FILE_OR_FOLDER...` plays those "
        "(adding them to the library), in the running window if Segue is open.",
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
        "--workers", type=int, default=None,
        help="tag-reading processes besides this one (default: one per idle CPU core, "
             "keeping one for this process)"
    )

    analyse = sub.add_parser(
        "analyse", aliases=["analyze"],
        help="measure the loudness and silences of tracks not measured yet (ReplayGain, "
             "crossfades); resumes where the last run stopped")
    analyse.add_argument("--json", action="store_true", help="print one JSON object")
    analyse.add_argument("--limit", type=int, default=None, metavar="N",
                         help="measure at most N files")

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
        add_help=False,  # its own parser answers -h: see _evaluate_args
    )
    evaluate.add_argument("rest", nargs=argparse.REMAINDER,
                          help="segue evaluate -h tells its options")
    #: Every command's name (aliases too): a first word that is none of them is a file to open.
    parser.command_names = frozenset(sub.choices)  # type: ignore[attr-defined]
    return parser


def _evaluate_args(argv: list[str]) -> tuple[list[str], list[str]] | None:
    """``(segue's own options, evaluate's arguments)`` when the command is ``evaluate``.

    Evaluate has a parser of its own (recommender.evaluate_cli); argparse's REMAINDER would
    refuse its options when they come first (``evaluate -h``, ``evaluate --json LOG``), so the
    split happens here, at the first word that is not one of segue's own options.
    """
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return None
        if word.startswith("-"):
            i += 2 if word in _VALUED_OPTIONS else 1  # --data-dir DIR
            continue
        return (argv[:i], argv[i + 1:]) if word == "evaluate" else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    evaluate = _evaluate_args(argv)
    opened: list[str] = []
    if evaluate is None:
        argv, opened = _split_open_targets(argv, parser)
    args = parser.parse_args(argv if evaluate is None else [*evaluate[0], "evaluate"])
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if evaluate is not None:
        from recommender.evaluate_cli import main as evaluate_main  # torch: only on demand

        return evaluate_main(evaluate[1])
    try:
        args.data_path = resolve_data_dir(args.data_dir)
    except DataDirError as exc:
        print(f"segue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command is None:
        paths = _local_paths(opened)
        if paths is None:
            return EXIT_USAGE
        from player.app import run_gui  # Qt is imported only for the GUI

        return run_gui(args.data_path, play=args.play, open_paths=paths)
    handler = {"scan": cmd_scan, "analyse": cmd_analyse, "analyze": cmd_analyse,
               "stats": cmd_stats, "import": cmd_import,
               "train": cmd_train, "next": cmd_next,
               "install-desktop": cmd_install_desktop}[args.command]
    try:
        return handler(args)
    except CommandError as exc:
        print(f"segue: {exc}", file=sys.stderr)
        return exc.status
    except Exception as exc:
        error = _library_error(exc, args)
        if error is None:
            raise  # a bug: its traceback is what a report needs
        log.debug("%s failed", args.command, exc_info=True)
        print(f"segue: {error}", file=sys.stderr)
        return error.status


#: Options of the main parser that take a value (the next argument is not a file to open).
_VALUED_OPTIONS = ("--data-dir",)


def _split_open_targets(argv: list[str], parser: argparse.ArgumentParser
                        ) -> tuple[list[str], list[str]]:
    """``segue [OPTIONS] FILE_OR_FOLDER...``: the files to open, apart from the options.
    When the first word that is not an option names a command, nothing is opened."""
    commands = parser.command_names  # type: ignore[attr-defined]
    skip = False
    for i, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word in _VALUED_OPTIONS:
            skip = True
            continue
        if word == "--":
            return argv[:i], argv[i + 1:]
        if word.startswith("-"):
            continue
        if word in commands:
            return argv, []
        options = [w for w in argv[i:] if w.startswith("-") and w != "-"]
        return argv[:i] + options, [w for w in argv[i:] if w not in options]
    return argv, []


def _local_paths(words: list[str]) -> list[str] | None:
    """The files and folders to open as local paths; None after printing a usage error."""
    from player.opener import NotALocalFile, local_path

    paths = []
    for word in words:
        try:
            path = local_path(word)
        except NotALocalFile as exc:
            print(f"segue: {exc}", file=sys.stderr)
            return None
        if not os.path.exists(path):
            print(f"segue: {word}: no such file or folder", file=sys.stderr)
            return None
        paths.append(path)
    return paths


def _library_error(exc: Exception, args: argparse.Namespace) -> CommandError | None:
    """The one-line error for a problem of the library's file, folder or disk, or None."""
    from player.library.db import DB_FILE, LibraryBusy, library_error

    error = library_error(exc, args.data_path / DB_FILE)
    if error is None:
        return None
    return CommandError(str(error), EXIT_BUSY if isinstance(error, LibraryBusy) else EXIT_ERROR)


def _missing_path(paths: Sequence[str], folders_only: bool = False) -> bool:
    """Print a usage error for the first path that does not exist; True if there was one."""
    for path in paths:
        if not (os.path.isdir(path) if folders_only else os.path.exists(path)):
            kind = "folder" if folders_only else "file or folder"
            print(f"segue: {path}: no such {kind}", file=sys.stderr)
            return True
    return False


def _print_some(lines: Sequence[str], limit: int = 20) -> None:
    """The first ``limit`` lines, then how many more there were."""
    for line in lines[:limit]:
        print(line)
    if len(lines) > limit:
        print(f"  ... and {len(lines) - limit} more")


def _open_library(args: argparse.Namespace, create: bool = True) -> Any:
    """The library of the chosen data dir. Raises ``LibraryError`` (a one-line message:
    see :func:`main`); ``create=False``: ``LibraryMissing`` rather than a new library."""
    from player.library.db import Library

    return Library.open(args.data_path, create=create)


def cmd_scan(args: argparse.Namespace) -> int:
    from player.library.scanner import scan_folders

    if _missing_path(args.folders, folders_only=True):
        return EXIT_USAGE
    library = _open_library(args)
    try:
        if not args.folders and not library.roots():
            print(
                "segue: no music folders yet; give one: segue scan ~/Music", file=sys.stderr
            )
            return EXIT_USAGE
        from player.library.folders import add_folder, demo_folder_of

        demo_removed = None
        for folder in args.folders:  # the first real folder replaces the demo library
            added = add_folder(library, folder, demo_folder_of(args.data_path))
            demo_removed = demo_removed or added.demo_removed
        if demo_removed is not None and not args.json:
            print(f"the demo library was removed ({demo_removed.tracks_removed} tracks): "
                  "your music replaces it", file=sys.stderr)
        bar = None if args.json else TerminalProgress(sys.stderr)
        result = scan_folders(
            library,
            [],
            progress=bar.scan_event if bar else None,
            workers=args.workers,
        )
        if bar:
            bar.close()
        library.build_search_index()  # the new tracks (the app would do it in the background)
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


def cmd_analyse(args: argparse.Namespace) -> int:
    from player.library.analysis import analyse_library

    if args.limit is not None and args.limit < 0:
        print("segue: --limit must be 0 or more", file=sys.stderr)
        return EXIT_USAGE
    library = _open_library(args)
    bar = None if args.json else TerminalProgress(sys.stderr)
    try:
        result = analyse_library(
            library, progress=(lambda e: bar.show(e.done, e.total, "measuring loudness"))
            if bar else None, limit=args.limit)
    except KeyboardInterrupt:  # Ctrl+C: what was measured is kept; the next run resumes
        print("segue: interrupted; run it again to go on", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if bar:
            bar.close()
        library.close()
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        print(f"{result.analysed} measured, {result.failed} failed in {result.seconds:.1f} s "
              f"({result.files_per_s:.1f} files/s, {result.realtime:.0f}x real time); "
              f"{result.remaining} remaining")
        _print_some([f"  failed: {path}: {reason}" for path, reason in result.errors])
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    from player.library.db import LibraryMissing

    try:
        library = _open_library(args, create=False)  # counting creates nothing
    except LibraryMissing as exc:
        print(f"segue: {exc}; `segue scan FOLDER` makes one", file=sys.stderr)
        stats = dict.fromkeys(("tracks", "missing", "artists", "albums", "listens",
                               "scan_errors", "roots"), 0)
    else:
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
            f"{stats['scan_errors']} files with errors, "
            f"{stats['roots']} music folder{'' if stats['roots'] == 1 else 's'}"
        )
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from player.importer import import_history

    if _missing_path(args.paths):
        return EXIT_USAGE
    library = _open_library(args)
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
              f"imported; {report.playlists_phrase()}")
        _print_some([f"  skipped: {reason}" for _, reason in report.errors])
    if report.unreadable:  # a file the user gave could not be read at all: not a success
        for _path, reason in report.unreadable:  # the reason names the file
            print(f"segue: {reason}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from player import memory
    from player.bridge import ModelHolder, NotEnoughHistory, finetune, train

    # Before the training's threads (validation, blend): with glibc's default arenas the
    # 1.5M-track training peaked at 4.2-4.9 GB, with two at 3.9 GB (bench scale's history).
    memory.limit_arenas()

    from player.library.db import LibraryMissing

    data_dir = args.data_path
    try:
        library = _open_library(args, create=False)
    except LibraryMissing as exc:
        raise CommandError(f"{exc}: no listens to learn from", EXIT_USAGE) from None
    bar = None if args.json else TerminalProgress(sys.stderr)
    try:
        holder = ModelHolder(data_dir)
        _check_model_target(holder.path)  # before the training, not after it
        model = None if args.fresh else holder.load()
        outcome = finetune(library, data_dir, model) if model is not None else None
        if model is not None and outcome is None:
            status = holder.status()
            result = {"mode": "unchanged", "plays": 0, "seconds": 0.0,
                      "targets": int(model.metrics.get("segue_targets", 0)),
                      "heldout": status["heldout"], "model": str(holder.path)}
        else:
            if outcome is None:
                progress = (lambda p: bar.show(int(p.fraction * 1000), 1000,
                                               p.detail or p.phase)) if bar else None
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
        print(_train_summary(result))
        for name, m in result["heldout"].items():
            print(f"  {name:8} HR@20 {m['hr@20']:.3f}  MRR@20 {m['mrr@20']:.3f}")
    return EXIT_OK


def _train_summary(result: dict[str, Any]) -> str:
    """The first line ``segue train`` prints: what happened, in words."""
    if result["mode"] == "unchanged":
        return "The model is up to date: no new listens since it was trained."
    plays, seconds = plural(result["plays"], "listen"), result["seconds"]
    if result["mode"] == "finetune":
        return f"Fine-tuned on {plays} since the last training, in {seconds:.1f} s."
    return f"Trained from scratch on {plays} in {seconds:.1f} s."


def plural(n: int, noun: str) -> str:
    """``1 playlist``, ``2 playlists``, ``1,204 listens``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def cmd_next(args: argparse.Namespace) -> int:
    from player.autoqueue import AutoQueue
    from player.bridge import ModelHolder, ModelPicker
    from player.library.db import LibraryMissing

    try:
        library = _open_library(args, create=False)
    except LibraryMissing as exc:
        raise CommandError(f"{exc}; `segue scan FOLDER` makes one") from None
    try:
        holder = ModelHolder(args.data_path)
        holder.load()
        queue = AutoQueue(library, model_picker=ModelPicker(holder))
        last = library.listens(newest_first=True, limit=1)
        current = last[0].track_id if last else None
        picks = queue.ranked(current, args.n)
        rows = library.tracks_by_id(p.track_id for p in picks)
    finally:
        library.close()
    out = [{"track_id": p.track_id, "path": rows[p.track_id].path,
            "artist": rows[p.track_id].artist, "title": rows[p.track_id].title,
            "score": round(p.score, 6) if p.score is not None else None,
            "reason": p.reason, "strategy": p.strategy} for p in picks]
    if args.json:
        print(json.dumps({"next": out}, ensure_ascii=False))
    else:
        print("      score  track (why)")
        for i, p in enumerate(out, 1):
            # the model's probability when it picked; the simple fallbacks have no score
            score = f"{p['score']:.4g}" if p["score"] is not None else "-"
            print(f"{i:2}. {score:>7}  {p['title']} — {p['artist'] or 'Unknown artist'}   "
                  f"({p['reason']})")
    return EXIT_OK


def _check_model_target(path: Path) -> None:
    """Refuse at once a model file that could not be written after the training."""
    if path.exists() and not path.is_file():
        raise CommandError(f"cannot save the model: {path} is not a file; move it away")
    if not os.access(path.parent, os.W_OK):
        raise CommandError(f"cannot save the model: the folder {path.parent} is read-only")


def cmd_install_desktop(args: argparse.Namespace) -> int:
    from player.desktop import install_desktop_entry

    try:
        entry = install_desktop_entry(Path(args.prefix) if args.prefix else None)
    except OSError as exc:  # a prefix that is a file, read-only, a full disk...
        where = exc.filename or args.prefix or "~/.local/share"
        raise CommandError(f"cannot install the menu entry into {where}: "
                           f"{(exc.strerror or str(exc)).lower()}") from None
    if args.prefix:  # menus read it only where that prefix is one of their data folders
        print(f"installed {entry} (menus show it when {args.prefix} is in "
              "XDG_DATA_DIRS)")
    else:
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
