"""Tag-reading worker processes for the scanner.

Plain child processes that read batches of paths from stdin and answer with
:func:`player.library.tags.read_many`'s results (:mod:`player.library.workerproc`). Not
``multiprocessing``: its start methods either fork the GUI process (unsafe with Qt's threads)
or re-run the parent's ``__main__`` in every worker (the GUI launcher, pytest, any script),
which is slow at best. These workers import only mutagen.

A worker starts in Python's isolated mode (``-I``) with the parent's import path handed over
explicitly, minus the current folder: ``python -m`` would put the folder ``segue scan`` runs
in first on ``sys.path``, and a ``mutagen.py`` lying there would run in every worker. The
explicit path also makes the workers find Segue wherever the parent found it (a checkout, a
virtualenv, a wheel installed anywhere), whatever ``PYTHONPATH`` says.

:class:`WorkerPool` feeds each worker from one thread of the parent; a worker that dies (out
of memory, killed) hands its batch back, and the pool reads it in-process, so a scan never
loses a file because a helper process went away.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from player.library.tags import read_many
from player.library.workerproc import READY, receive, send

log = logging.getLogger(__name__)

#: The folder that holds the ``player`` package (a checkout, or a site-packages).
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

Result = tuple[str, "dict[str, Any] | None", "str | None"]


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, else the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not every platform has affinity masks
        return max(1, os.cpu_count() or 1)


def worker_import_path() -> list[str]:
    """The import path a worker gets: this process's, without the current folder.

    ``""`` and relative entries mean "the current folder" (and whatever it holds); an absolute
    entry naming the current folder is dropped too, unless Segue itself lives there (a
    checkout the parent was started from: the parent already imports from it).
    """
    try:
        cwd: str | None = os.path.realpath(os.getcwd())
    except OSError:  # the current folder was deleted: nothing there to protect from
        cwd = None
    out: list[str] = []
    for entry in sys.path:
        if not entry or not os.path.isabs(entry):
            continue
        if os.path.realpath(entry) == cwd and os.path.realpath(entry) != PACKAGE_ROOT:
            continue
        if entry not in out:
            out.append(entry)
    if PACKAGE_ROOT not in out:
        out.insert(0, PACKAGE_ROOT)
    return out


def worker_command(module: str = "player.library.workerproc", *args: str) -> list[str]:
    """The command line of a worker running ``module.main(*args)`` (the tag readers by
    default; the loudness analysis uses it too): isolated mode (``-I``: no current folder, no
    ``PYTHON*`` variables, no user site) with the import path set explicitly, and no ``site``
    (``-S``): that path already holds everything, and skipping site's ``.pth`` processing
    makes a worker ready sooner."""
    bootstrap = (f"import sys; sys.path[:] = {worker_import_path()!r}; "
                 f"from {module} import main; main(*{args!r})")
    return [sys.executable, "-I", "-S", "-c", bootstrap]


class WorkerPool:
    """Up to ``workers`` tag-reading processes, and this process reading alongside them.

    :meth:`start` launches the workers; the scanner calls it as soon as its walk has found
    enough files to read, so they start up while the walk goes on. A worker takes no batch
    until it has imported what it needs (it says so: :data:`READY`), and meanwhile, and
    whenever no result is waiting, this process reads batches itself (``parent_reads``): a
    small scan is over before a worker is even ready, a big one keeps every core busy from the
    first moment. Workers that are still starting, or idle, when the last result is in are
    killed, not waited for: they hold no work.

    No more workers start than there are CPU cores (mutagen is CPU-bound: more processes only
    cost memory) or batches to read. A worker that dies (out of memory, killed) hands its batch
    back, and another worker or this process reads it. ``read_here`` counts the batches this
    process read, ``read_by_workers`` those the workers did.
    """

    def __init__(self, workers: int, parent_reads: bool = True) -> None:
        self.workers = workers
        self.parent_reads = parent_reads
        self.read_here = 0
        self.read_by_workers = 0
        self._todo: queue.Queue[list[str] | None] = queue.Queue()
        self._done: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._threads: list[threading.Thread] = []
        self._alive = 0
        self._started = False

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[bytes] | None:
        try:
            return subprocess.Popen(worker_command(), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE)
        except OSError as exc:
            log.warning("cannot start a tag-reading worker: %s", exc)
            return None

    def start(self, batches: int | None = None) -> None:
        """Launch the workers (once; at most ``batches`` of them when that is known)."""
        if self._started:
            return
        self._started = True
        count = max(0, min(self.workers, usable_cores(),
                           batches if batches is not None else self.workers))
        self._procs = [p for p in (self._start() for _ in range(count)) if p is not None]
        self._threads = [threading.Thread(target=self._feed, args=(p,), name="segue-tagworker",
                                          daemon=True) for p in self._procs]
        self._alive = len(self._threads)
        for t in self._threads:
            t.start()

    def run(self, batches: list[list[str]], cancel: threading.Event) -> Iterator[Result]:
        """Every result of every batch (any order). Stops early when ``cancel`` is set."""
        self.start(len(batches))
        for batch in batches:
            self._todo.put(batch)
        remaining = len(batches)
        try:
            while remaining and not cancel.is_set():
                try:
                    kind, payload = self._done.get_nowait()
                except queue.Empty:  # nothing to take in: read a batch here, or wait
                    if self.parent_reads or self._alive == 0:
                        batch = _pop(self._todo)
                        if batch is not None:
                            results = read_many(batch)
                            self.read_here += 1
                            remaining -= 1
                            yield from results
                            continue
                        if self._alive == 0:  # nothing queued, no worker: nothing will come
                            break
                    try:
                        kind, payload = self._done.get(timeout=0.2)
                    except queue.Empty:
                        continue
                if kind == "results":
                    self.read_by_workers += 1
                    remaining -= 1
                    yield from payload
                elif kind == "orphan":  # its worker died: another one, or this process, reads it
                    log.warning("a tag-reading worker died; its batch is read again")
                    self._todo.put(payload)
                elif kind == "exit":
                    self._alive -= 1
        finally:
            self.close()

    def close(self) -> None:
        """Stop every worker: none holds work by now (or the scan was cancelled)."""
        self._stop.set()
        for _ in self._threads:
            self._todo.put(None)  # wakes each feeder waiting for a batch
        for p in self._procs:
            if p.poll() is None:
                p.kill()
        for t in self._threads:
            t.join(5)
        for p in self._procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL was sent
                log.warning("a tag-reading worker did not exit")
        self._threads, self._procs = [], []

    def _feed(self, proc: subprocess.Popen[bytes]) -> None:
        """One worker's thread: waits until the worker is ready, then hands it batches."""
        assert proc.stdin is not None and proc.stdout is not None
        try:
            try:
                ready = receive(proc.stdout) == READY
            except (OSError, EOFError, pickle.UnpicklingError):
                ready = False  # it never started: the others and this process read its share
                if not self._stop.is_set():  # (not merely stopped before it was ready)
                    log.warning("a tag-reading worker did not start; reading without it")
            while ready and not self._stop.is_set():
                batch = self._todo.get()
                if batch is None:
                    break
                try:
                    send(proc.stdin, batch)
                    results = receive(proc.stdout)
                except (OSError, EOFError, pickle.UnpicklingError):
                    self._done.put(("orphan", batch))
                    return
                self._done.put(("results", results))
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass
            self._done.put(("exit", None))


def _pop(q: queue.Queue[list[str] | None]) -> list[str] | None:
    try:
        while True:
            item = q.get_nowait()
            if item is not None:
                return item
    except queue.Empty:
        return None


