"""Tag-reading worker processes for the scanner.

Plain child processes that read batches of paths from stdin and answer with
:func:`player.library.tags.read_many`'s results, length-prefixed pickles both ways. Not
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
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from player.library.tags import read_many

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<Q")
#: The folder that holds the ``player`` package (a checkout, or a site-packages).
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])

Result = tuple[str, "dict[str, Any] | None", "str | None"]


def _send(stream: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: BinaryIO) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("worker stream closed")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("worker stream truncated")
    return pickle.loads(data)


def serve(stdin: BinaryIO, stdout: BinaryIO, handle: Callable[[Any], Any] = read_many) -> None:
    """A worker's loop: a request in, ``handle(request)`` out, until stdin closes (by default
    batches of paths to read tags from; the loudness analysis serves one path at a time)."""
    while True:
        try:
            request = _receive(stdin)
        except EOFError:
            return
        _send(stdout, handle(request))


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


def worker_command(module: str = "player.library.tagworkers", *args: str) -> list[str]:
    """The command line of a worker running ``module.main(*args)`` (the tag readers by
    default; the loudness analysis uses it too): isolated mode (``-I``: no current folder, no
    ``PYTHON*`` variables, no user site) with the import path set explicitly."""
    bootstrap = (f"import sys; sys.path[:] = {worker_import_path()!r}; "
                 f"from {module} import main; main(*{args!r})")
    return [sys.executable, "-I", "-c", bootstrap]


class WorkerPool:
    """Up to ``workers`` tag readers; :meth:`run` yields results as batches complete.

    No more workers start than there are CPU cores (mutagen is CPU-bound: more processes only
    cost memory) or batches to read. ``read_here`` counts the batches this process read
    itself because no worker could (none started, or every one died).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.read_here = 0

    def _start(self) -> subprocess.Popen[bytes] | None:
        try:
            return subprocess.Popen(worker_command(), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE)
        except OSError as exc:
            log.warning("cannot start a tag-reading worker: %s", exc)
            return None

    def run(self, batches: list[list[str]], cancel: threading.Event) -> Iterator[Result]:
        """Every result of every batch (any order). Stops early when ``cancel`` is set."""
        todo: queue.Queue[list[str] | None] = queue.Queue()
        for batch in batches:
            todo.put(batch)
        done: queue.Queue[tuple[str, Any]] = queue.Queue()
        count = max(0, min(self.workers, usable_cores(), len(batches)))
        procs = [p for p in (self._start() for _ in range(count)) if p is not None]
        threads = [threading.Thread(target=self._feed, args=(p, todo, done, cancel),
                                    name="segue-tagworker", daemon=True) for p in procs]
        for t in threads:
            t.start()
        remaining = len(batches)
        alive = len(threads)
        try:
            while remaining and not cancel.is_set():
                if alive == 0:  # every worker gone (or none started): read here
                    batch = _pop(todo)
                    if batch is None:
                        break
                    yield from read_many(batch)
                    self.read_here += 1
                    remaining -= 1
                    continue
                try:
                    kind, payload = done.get(timeout=0.2)
                except queue.Empty:
                    continue
                if kind == "results":
                    remaining -= 1
                    yield from payload
                elif kind == "orphan":  # its worker died: another one, or this process, reads it
                    log.warning("a tag-reading worker died; its batch is read again")
                    todo.put(payload)
                elif kind == "exit":
                    alive -= 1
        finally:
            cancel_all = cancel.is_set() or remaining
            for _ in threads:
                todo.put(None)  # no more work: each feeder closes its worker
            if cancel_all:
                for p in procs:
                    p.kill()
            for t in threads:
                t.join(5)
            for p in procs:
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()

    @staticmethod
    def _feed(proc: subprocess.Popen[bytes], todo: queue.Queue[list[str] | None],
              done: queue.Queue[tuple[str, Any]], cancel: threading.Event) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            while not cancel.is_set():
                batch = todo.get()
                if batch is None:
                    break
                try:
                    _send(proc.stdin, batch)
                    results = _receive(proc.stdout)
                except (OSError, EOFError, pickle.UnpicklingError):
                    done.put(("orphan", batch))
                    return
                done.put(("results", results))
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass
            done.put(("exit", None))


def _pop(q: queue.Queue[list[str] | None]) -> list[str] | None:
    try:
        while True:
            item = q.get_nowait()
            if item is not None:
                return item
    except queue.Empty:
        return None


def main() -> None:
    """A worker's entry point (see :func:`worker_command`)."""
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
