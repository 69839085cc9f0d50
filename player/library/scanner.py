"""The scanner: library folders -> ``tracks`` rows, incrementally, never stopped by a bad file.

A scan has three phases:

1. **walk** every root (fast: ``scandir`` + ``stat``), sorting each audio file into unchanged
   (same size and mtime as in the library: not read again), changed, or new; what the library
   has but the walk did not see has vanished;
2. **read** the changed and new files' tags — in this process, and in worker processes as well
   when there are many (mutagen is CPU-bound pure Python, so threads would not help; the workers
   start during the walk, as soon as it has found that many, and this process reads until
   they are ready) — writing results in batched transactions: a new file whose size, duration
   and tags match a vanished track is that track moved, and keeps its id and its listening
   history;
3. **finish**: the vanished tracks that did not move are marked ``missing`` (never deleted), and
   the error list is brought up to date.

Every problem (an unreadable folder, a symlink loop, a file name that is not UTF-8, a zero-byte,
truncated or non-audio file) becomes one ``scan_errors`` row with a clear reason, and the scan
goes on. A cancelled or killed scan keeps what it committed; the next scan skips it.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from player.library.db import KnownFile, Library
from player.library.folders import outside_roots
from player.library.paths import storable, to_db, to_fs
from player.library.tagworkers import WorkerPool, usable_cores
from player.library.tags import AUDIO_EXTENSIONS, read_many

log = logging.getLogger(__name__)

#: Below this many files to read, worker processes cost more to start than they save: this
#: process alone has read them before a worker would be ready (bench/scan.py measures it).
PARALLEL_THRESHOLD = 300
#: Files per task sent to a worker: big enough to amortise pickling, small enough to balance.
CHUNK = 64
#: The smallest batch, at the end of a scan (see :func:`_batches`).
MIN_CHUNK = 8
#: Rows per write transaction, and the longest a finished result waits to be written.
BATCH_ROWS = 500
BATCH_SECONDS = 0.5
#: Least time between two progress events.
PROGRESS_INTERVAL = 0.05


@dataclass(slots=True)
class ScanProgress:
    """A progress event: what the scan has done so far."""

    phase: str  # "walk", "read" or "done"
    seen: int = 0  # audio files found by the walk
    to_read: int = 0  # of which new or changed, to read
    read: int = 0  # read so far (successfully or not)
    failed: int = 0  # errors so far (files and folders)
    path: str | None = None  # the latest folder or file looked at


@dataclass
class ScanResult:
    """What a scan did. ``failed`` lists ``(path, reason)`` for every file still failing."""

    added: int = 0
    updated: int = 0
    moved: int = 0
    unchanged: int = 0
    missing: int = 0
    returned: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        data["seconds"] = round(self.seconds, 3)
        return data


ProgressCallback = Callable[[ScanProgress], None]


@dataclass(slots=True)
class _Walk:
    """What the walk phase found."""

    unchanged: list[KnownFile] = field(default_factory=list)
    to_read: dict[str, tuple[int, float]] = field(default_factory=dict)  # path -> size, mtime
    seen_paths: set[str] = field(default_factory=set)
    errors: dict[str, tuple[str, int | None, float | None]] = field(default_factory=dict)
    complete: bool = True  # False when cancelled: then nothing may be marked missing


class Scanner:
    """Scans the library's roots into its database.

    ``workers`` is the number of tag-reading processes that help this one read when there are
    many files; 0 reads in this process only; by default, :func:`spare_cores` decides at each
    scan.
    """

    def __init__(self, library: Library, workers: int | None = None) -> None:
        self.library = library
        self.workers = None if workers is None else max(0, workers)

    def scan(
        self,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> ScanResult:
        """Scan every root of the library; returns the counts. Never raises for a bad file."""
        started = time.monotonic()
        cancel = cancel or threading.Event()
        reporter = _Reporter(progress)
        result = ScanResult()

        known = self.library.known_files()
        failures = self.library.known_failures()
        workers = spare_cores() if self.workers is None else self.workers
        with WorkerPool(workers) as pool:
            walk = self._walk(self.library.roots(), known, failures, reporter, cancel, pool)
            result.unchanged = len(walk.unchanged)
            back = [k.id for k in walk.unchanged if k.missing]
            if back:
                result.returned = self.library.set_missing(back, False)

            # A track outside every music folder (a file opened with Segue: folders.add_files)
            # has vanished only when its file has.
            roots = self.library.roots()
            vanished = [k for p, k in known.items() if p not in walk.seen_paths
                        and (not outside_roots(p, roots) or not os.path.exists(to_fs(p)))]
            mover = _MoveMatcher(self.library, vanished)
            read_errors = self._read(walk, known, mover, result, reporter, cancel, pool)
        walk.errors.update(read_errors)

        if walk.complete and not cancel.is_set():
            gone = [k.id for k in vanished if not k.missing and k.id not in mover.claimed]
            result.missing = self.library.set_missing(gone, True)
            self.library.clear_scan_errors(keep=walk.errors)
        else:
            result.cancelled = True
        self.library.record_scan_errors([(p, *v) for p, v in walk.errors.items()])
        result.failed = sorted((p, v[0]) for p, v in walk.errors.items())
        result.seconds = time.monotonic() - started
        reporter.emit("done", force=True)
        log.info(
            "scan %s in %.2fs: %d added, %d updated, %d moved, %d unchanged, %d missing, "
            "%d failed",
            "cancelled" if result.cancelled else "done",
            result.seconds,
            result.added,
            result.updated,
            result.moved,
            result.unchanged,
            result.missing,
            len(result.failed),
        )
        return result

    # -- phase 1: walk -----------------------------------------------------------------------

    def _walk(
        self,
        roots: list[str],
        known: dict[str, KnownFile],
        failures: dict[str, tuple[str, int | None, float | None]],
        reporter: "_Reporter",
        cancel: threading.Event,
        pool: WorkerPool,
    ) -> _Walk:
        walk = _Walk()
        seen_files: set[tuple[int, int]] = set()
        seen_folders: set[tuple[int, int]] = set()  # shared by the roots: nested roots too
        for stored_root in roots:
            root = to_fs(stored_root)
            if not os.path.isdir(root):
                # An unmounted drive: its tracks will be marked missing, not deleted, and come
                # back with their ids when it returns.
                walk.errors[stored_root] = ("library folder not found (drive not mounted?)",
                                            None, None)
                continue
            for path, st in _iter_audio_files(root, walk.errors, seen_folders):
                if cancel.is_set():
                    walk.complete = False
                    return walk
                identity = (st.st_dev, st.st_ino)
                if identity in seen_files:  # the same file reached again through a symlink
                    continue
                seen_files.add(identity)
                walk.seen_paths.add(path)
                reporter.counts["seen"] += 1
                k = known.get(path)
                if k is not None and k.size == st.st_size and k.mtime == st.st_mtime:
                    walk.unchanged.append(k)
                    continue
                failed = failures.get(path)
                if failed is not None and failed[1:] == (st.st_size, st.st_mtime):
                    walk.errors[path] = failed  # broken and unchanged: no need to read again
                    continue
                walk.to_read[path] = (st.st_size, st.st_mtime)
                reporter.counts["to_read"] += 1
                if reporter.counts["to_read"] == PARALLEL_THRESHOLD and pool.workers:
                    pool.start()  # enough to read: the workers start up while the walk goes on
                reporter.emit("walk", path)
        reporter.counts["failed"] = len(walk.errors)
        return walk

    # -- phase 2: read -----------------------------------------------------------------------

    def _read(
        self,
        walk: _Walk,
        known: dict[str, KnownFile],
        mover: "_MoveMatcher",
        result: ScanResult,
        reporter: "_Reporter",
        cancel: threading.Event,
        pool: WorkerPool,
    ) -> dict[str, tuple[str, int | None, float | None]]:
        errors: dict[str, tuple[str, int | None, float | None]] = {}
        writer = _BatchWriter(self.library, known, mover, result)
        for path, row, reason in self._results(list(walk.to_read), cancel, pool):
            size, mtime = walk.to_read[path]
            reporter.counts["read"] += 1
            if row is None:
                errors[path] = (reason or "unreadable", size, mtime)
                reporter.counts["failed"] += 1
            else:
                row.update(path=path, size=size, mtime=mtime)
                writer.add(row)
            reporter.emit("read", path)
        writer.flush()
        if cancel.is_set():
            walk.complete = False
        return errors

    def _results(
        self, paths: list[str], cancel: threading.Event, pool: WorkerPool
    ) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
        """Tag-reading results, in any order, from this process and the worker processes."""
        if not pool.workers or len(paths) < PARALLEL_THRESHOLD:
            for i in range(0, len(paths), CHUNK):
                if cancel.is_set():
                    return
                yield from read_many(paths[i : i + CHUNK])
            return
        yield from pool.run(_batches(paths, pool.workers + 1), cancel)


def _batches(paths: list[str], readers: int) -> list[list[str]]:
    """``paths`` in batches of :data:`CHUNK`, smaller towards the end ("guided" scheduling):
    the readers then run out of work at nearly the same moment, instead of one finishing a
    whole last batch while the others wait (at 500 files that wait was a tenth of the scan)."""
    out = []
    i = 0
    while i < len(paths):
        size = max(MIN_CHUNK, min(CHUNK, (len(paths) - i) // (2 * readers)))
        out.append(paths[i : i + size])
        i += size
    return out


def spare_cores() -> int:
    """The CPU cores nobody uses besides the one this process reads on: the worker processes
    worth starting.

    A worker only speeds a scan up on a core that would otherwise be idle; on a busy machine
    it takes its share of CPU from this process (Linux shares CPU between sessions first, then
    between their processes) and costs its start-up on top, so a scan there is fastest read in
    this process alone. The estimate: the cores less the 1-minute load average, in which this
    process counts as one, less the core this process reads on.
    """
    cores = usable_cores()
    try:
        others = max(0.0, os.getloadavg()[0] - 1.0)
    except (AttributeError, OSError):  # no load average on this platform: assume idle
        others = 0.0
    return max(0, min(cores - 1, round(cores - 1 - others)))


class _Reporter:
    """Throttles progress events so that a fast scan does not flood the GUI."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.counts = {"seen": 0, "to_read": 0, "read": 0, "failed": 0}
        self._last = 0.0

    def emit(self, phase: str, path: str | None = None, force: bool = False) -> None:
        """Report the counts, unless the last report was very recent (the event is only made
        when it is sent: this runs for every file)."""
        if self.callback is None:
            return
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self.callback(ScanProgress(phase, path=path, **self.counts))


class _MoveMatcher:
    """Recognises a new file as a vanished track moved or renamed: same size, duration, tags."""

    def __init__(self, library: Library, vanished: list[KnownFile]) -> None:
        self.claimed: set[int] = set()
        self._by_key: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        if vanished:
            for track_id, track in library.tracks_by_id(k.id for k in vanished).items():
                self._by_key[self._key(asdict(track))].append(track_id)

    @staticmethod
    def _key(row: dict[str, Any]) -> tuple[Any, ...]:
        return (
            row["size"],
            row["duration_ms"],
            row["title"],
            row["artist"],
            row["album"],
            row["track_number"],
        )

    def claim(self, row: dict[str, Any]) -> int | None:
        """The id of the vanished track this new file is, if any (each id claimed once)."""
        ids = self._by_key.get(self._key(row))
        if not ids:
            return None
        track_id = ids.pop(0)
        self.claimed.add(track_id)
        return track_id


class _BatchWriter:
    """Collects scanned rows and writes them in short transactions."""

    def __init__(
        self, library: Library, known: dict[str, KnownFile], mover: _MoveMatcher, result: ScanResult
    ) -> None:
        self.library = library
        self.known = known
        self.mover = mover
        self.result = result
        self.new: list[dict[str, Any]] = []
        self.changed: list[tuple[int, dict[str, Any]]] = []
        self._since = time.monotonic()

    def add(self, row: dict[str, Any]) -> None:
        k = self.known.get(row["path"])
        if k is not None:
            self.changed.append((k.id, row))
            self.result.updated += 1
        else:
            moved_id = self.mover.claim(row)
            if moved_id is not None:
                self.changed.append((moved_id, row))
                self.result.moved += 1
            else:
                self.new.append(row)
                self.result.added += 1
        if (
            len(self.new) + len(self.changed) >= BATCH_ROWS
            or time.monotonic() - self._since >= BATCH_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        if self.changed or self.new:
            with self.library.transaction():  # one commit for both lists
                if self.changed:
                    self.library.update_tracks(self.changed)
                if self.new:
                    self.library.add_tracks(self.new)
        self.new, self.changed = [], []
        self._since = time.monotonic()


# --------------------------------------------------------------------------------------------
# The walk
# --------------------------------------------------------------------------------------------


def _iter_audio_files(
    root: str,
    errors: dict[str, tuple[str, int | None, float | None]],
    visited: set[tuple[int, int]] | None = None,
) -> Iterator[tuple[str, os.stat_result]]:
    """Every regular audio file under ``root`` (following symlinks, never looping).

    Each folder is read once, however many symlinks lead to it: ``visited`` holds the
    ``(device, inode)`` of every folder entered (pass one set to several walks to share it).
    Checking only the folders above would not do: 30 levels each holding two links to the
    next are 2**30 paths to walk, and never a loop. Problems go into ``errors`` and the walk
    goes on.
    """
    visited = set() if visited is None else visited
    try:
        root_st = os.stat(root)
    except OSError as exc:
        errors[to_db(root)] = (f"cannot open folder: {_reason(exc)}", None, None)
        return
    root_id = (root_st.st_dev, root_st.st_ino)
    if root_id in visited:
        return
    visited.add(root_id)
    stack: list[tuple[str, frozenset[tuple[int, int]]]] = [(root, frozenset({root_id}))]
    while stack:
        folder, ancestors = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors[to_db(folder)] = (f"cannot open folder: {_reason(exc)}", None, None)
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):  # hidden files, .Trash, macOS "._x.mp3" forks
                continue
            path = entry.path
            if not storable(path):
                errors[to_db(path)] = (
                    "the file name holds private-use characters Segue reserves for names "
                    "that are not UTF-8; rename it",
                    None,
                    None,
                )
                continue
            try:
                st = os.stat(path)  # follows symlinks
            except FileNotFoundError:
                if entry.is_symlink():
                    errors[to_db(path)] = ("broken symbolic link", None, None)
                continue  # deleted during the walk
            except OSError as exc:
                if _is_audio_name(entry.name) or entry.is_dir(follow_symlinks=False):
                    errors[to_db(path)] = (f"cannot read: {_reason(exc)}", None, None)
                continue
            if stat.S_ISDIR(st.st_mode):
                identity = (st.st_dev, st.st_ino)
                if identity in ancestors:
                    errors[to_db(path)] = ("symbolic link loop (points back to a parent folder)",
                                    None, None)
                    continue
                if identity in visited:  # reached before by another way: read once
                    continue
                visited.add(identity)
                subfolders.append((path, ancestors | {identity}))
            elif _is_audio_name(entry.name):
                if not stat.S_ISREG(st.st_mode):  # a FIFO would block the reader for ever
                    errors[to_db(path)] = ("not a regular file", None, None)
                    continue
                yield to_db(path), st  # stored text: see player.library.paths
        stack.extend(reversed(subfolders))  # depth-first, in name order


def _is_audio_name(name: str) -> bool:
    dot = name.rfind(".")  # as os.path.splitext, for a name: ".mp3" alone has no extension
    return dot > 0 and name[dot:].lower() in AUDIO_EXTENSIONS


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


def scan_folders(
    library: Library,
    folders: Iterable[str | os.PathLike[str]] = (),
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> ScanResult:
    """Add ``folders`` to the library's roots, then scan every root."""
    for folder in folders:
        library.add_root(folder)
    return Scanner(library, workers=workers).scan(progress=progress, cancel=cancel)
