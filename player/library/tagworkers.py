"""Tag-reading worker processes for the scanner.

Plain child processes (``python -m player.library.tagworkers``) that read batches of paths
from stdin and answer with :func:`player.library.tags.read_many`'s results, length-prefixed
pickles both ways. Not ``multiprocessing``: its start methods either fork the GUI process
(unsafe with Qt's threads) or re-run the parent's ``__main__`` in every worker (the GUI
launcher, pytest, any script), which is slow at best. These workers import only mutagen.

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
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from player.library.tags import read_many

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<Q")
ROOT = Path(__file__).resolve().parents[2]

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


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The worker's loop: batches of paths in, results out, until stdin closes."""
    while True:
        try:
            paths = _receive(stdin)
        except EOFError:
            return
        _send(stdout, read_many(paths))


class WorkerPool:
    """``workers`` tag readers; :meth:`run` yields results as batches complete."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def _start(self) -> subprocess.Popen[bytes] | None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        try:
            return subprocess.Popen([sys.executable, "-m", "player.library.tagworkers"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except OSError as exc:
            log.warning("cannot start a tag-reading worker: %s", exc)
            return None

    def run(self, batches: list[list[str]], cancel: threading.Event) -> Iterator[Result]:
        """Every result of every batch (any order). Stops early when ``cancel`` is set."""
        todo: queue.Queue[list[str] | None] = queue.Queue()
        for batch in batches:
            todo.put(batch)
        done: queue.Queue[tuple[str, Any]] = queue.Queue()
        procs = [p for p in (self._start() for _ in range(self.workers)) if p is not None]
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


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
