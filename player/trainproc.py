"""Training in a process of its own: the window never waits for the trainer's interpreter lock.

A retrain or a fine-tune run in the GUI process, even on a worker thread, shares Python's
interpreter lock (GIL) with the GUI thread: every pure-Python stretch of training (building
sessions, the blend's context walks, pickling the checkpoint) delays the event loop, and on a
busy machine the thread holding the lock can be descheduled while it holds it. So the player
trains in a child process:

* :func:`run_training` (called on a :class:`~player.workers.Job`'s thread) starts the child
  with :func:`player.library.tagworkers.worker_command` (isolated mode, the parent's import
  path without the current folder), sends it a :class:`TrainRequest`, and relays its
  :class:`~player.bridge.TrainingProgress` reports. The child reads the library itself (SQLite
  in WAL mode lets it read while the player writes) and writes the checkpoint with the
  recommender's atomic save; then this thread loads it (torch's load, off the GUI thread), and
  returns the model for :class:`~player.learning.Learning` to swap in as before.
* Cancel sends the child a ``cancel`` message (the training stops at its next step, as
  in-process), and kills it if it has not ended :data:`CANCEL_GRACE_S` later (reading a huge
  history has no step to stop at). A killed save leaves the checkpoint whole (the rename never
  happened) and its temporary file is removed at the next load.
* A failure arrives as the exception the training raised (``NotEnoughHistory``,
  ``Cancelled``, ``CheckpointError``, ``LibraryError``, ``OSError``…), pickled across; one that
  cannot be pickled, or a child that dies (killed, out of memory), is a
  :class:`TrainingProcessError` with a one-line message.

Messages both ways are :mod:`player.library.workerproc`'s length-prefixed pickles. The child
imports torch, never Qt; the parent imports this module without torch. The price: every job
starts a Python that imports torch (and the ``torch._dynamo`` its optimizers pull in), 2-4
CPU seconds more per retrain or fine-tune (``python -m bench retrain_stall`` prints them).
Loading the new checkpoint here is harmless: a 200,000-track model loads in 0.8 s on a
thread while the main thread never waits more than 21 ms for the interpreter lock.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from player import memory
from player.library.tagworkers import worker_command
from player.library.workerproc import receive, send

log = logging.getLogger(__name__)

#: After a cancel, the child has this long to stop by itself before it is killed.
CANCEL_GRACE_S = 0.5
#: The kinds of training a child runs.
RETRAIN, FINETUNE = "retrain", "finetune"
CANCEL = "cancel"


@dataclass(frozen=True)
class TrainRequest:
    """What the child is asked to do: ``kind`` (:data:`RETRAIN` or :data:`FINETUNE`: the
    checkpoint in ``data_dir`` learns the listens since it was trained) on the library in
    ``data_dir``, with ``config`` (a ``recommender.config.Config``, or None: the default)."""

    kind: str
    data_dir: str
    config: Any = None


class TrainingProcessError(RuntimeError):
    """The training process died, could not start, or failed in a way that cannot be sent
    back as it is (the message says what, in one line)."""


# -- the parent's side ---------------------------------------------------------------------------


def run_training(request: TrainRequest, report: Callable[[Any], None],
                 cancel: threading.Event, load: bool = True) -> tuple[Any, Any] | None:
    """Train in a child process; (the new model loaded from its checkpoint, or None when not
    ``load``; its ``TrainResult``), or None when a fine-tune found nothing new. Raises what
    the training raised; ``Cancelled`` once ``cancel`` is set and the child has stopped
    (within :data:`CANCEL_GRACE_S`, killed if need be)."""
    try:
        proc = subprocess.Popen(worker_command("player.trainproc"), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
    except OSError as exc:
        raise TrainingProcessError(f"cannot start the training process: {exc}") from exc
    assert proc.stdin is not None and proc.stdout is not None
    ended = threading.Event()
    watcher = threading.Thread(target=_stop_when_cancelled, args=(proc, cancel, ended),
                               name="segue-train-cancel", daemon=True)
    try:
        send(proc.stdin, request)
        watcher.start()
        outcome = _relay(proc.stdout, report)
    except (OSError, EOFError, pickle.UnpicklingError) as exc:
        outcome = ("died", exc)
    finally:
        ended.set()
        _close(proc)
    kind, value = outcome
    if kind in ("done", "failed") and proc.returncode != 0 and not cancel.is_set():
        log.warning("the training process exited with status %s after its outcome",
                    proc.returncode)
    if kind == "done":
        if value is None:
            return None
        return (_load(value.path) if load else None), value
    if cancel.is_set():  # whatever it said last (or nothing: killed), the user asked for it
        from recommender.base import Cancelled

        raise Cancelled("cancelled")
    if kind == "failed":
        raise value
    raise TrainingProcessError(f"the training process ended unexpectedly "
                               f"(exit status {proc.returncode})")


def _relay(stream: BinaryIO, report: Callable[[Any], None]) -> tuple[str, Any]:
    """Pass on the child's progress reports until its outcome: ("done", result) or
    ("failed", exception)."""
    while True:
        kind, value = receive(stream)
        if kind == "progress":
            report(value)
        else:
            return kind, value


def _stop_when_cancelled(proc: subprocess.Popen[bytes], cancel: threading.Event,
                         ended: threading.Event) -> None:
    """The cancel watcher: ask the child to stop, and kill it if it does not in time."""
    while not ended.is_set():
        if cancel.wait(0.1):
            break
    if ended.is_set():
        return
    try:
        assert proc.stdin is not None
        send(proc.stdin, CANCEL)
    except OSError:
        pass  # it is gone already
    try:
        proc.wait(CANCEL_GRACE_S)
    except subprocess.TimeoutExpired:
        log.info("the training process did not stop within %.1f s: killed", CANCEL_GRACE_S)
        proc.kill()


def _close(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:  # it sent its outcome, or was asked to stop: no more
        proc.kill()
        proc.wait()


def _load(path: str) -> Any:
    """The checkpoint the child saved, loaded here (on the job's thread): the new model."""
    from recommender.api import Recommender

    return Recommender.load(path)


# -- the child's side ----------------------------------------------------------------------------


def _watch_stdin(stream: BinaryIO, cancel: threading.Event) -> None:
    """Set ``cancel`` on a cancel message, or when the parent goes away (its end of the pipe
    closes): a training nobody waits for stops."""
    try:
        while receive(stream) != CANCEL:
            pass
    except (OSError, EOFError, pickle.UnpicklingError):
        pass
    cancel.set()


def _train(request: TrainRequest, report: Callable[[Any], None],
           cancel: threading.Event) -> Any:
    """The training itself (in the child): the ``TrainResult``, or None (nothing new)."""
    from player.bridge import finetune, model_path, train
    from player.library.db import Library

    library = Library.open(request.data_dir, create=False)
    try:
        if request.kind == RETRAIN:
            _, result = train(library, Path(request.data_dir), progress=report, cancel=cancel,
                              config=request.config)
            return result
        if request.kind == FINETUNE:
            from recommender.api import Recommender

            rec = Recommender.load(model_path(Path(request.data_dir)))
            outcome = finetune(library, Path(request.data_dir), rec, cancel=cancel)
            return None if outcome is None else outcome[1]
        raise ValueError(f"unknown kind of training: {request.kind!r}")
    finally:
        library.close()


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling as itself, else a :class:`TrainingProcessError` that
    names it in one line."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc.with_traceback(None)
    except Exception:  # noqa: BLE001 - any exception that does not travel is described
        first = (str(exc).splitlines() or [""])[0]
        return TrainingProcessError(f"{type(exc).__name__}: {first}" if first
                                    else type(exc).__name__)


def main() -> None:
    """The child's entry point (see :func:`run_training`): a request in, progress reports
    and then the outcome out."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="segue training: %(levelname)s %(name)s: %(message)s")
    # The messages get file descriptor 1 to themselves: whatever else writes to stdout (a
    # library's print) goes to stderr instead of corrupting them.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    memory.limit_arenas()  # before the training's threads: see player.memory and cmd_train
    stdin = sys.stdin.buffer
    request = receive(stdin)
    cancel = threading.Event()
    threading.Thread(target=_watch_stdin, args=(stdin, cancel), name="cancel-watch",
                     daemon=True).start()
    lock = threading.Lock()  # progress may be reported from a training thread

    def report(progress: Any) -> None:
        with lock:
            send(stdout, ("progress", progress))

    try:
        outcome: tuple[str, Any] = ("done", _train(request, report, cancel))
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent
        outcome = ("failed", _sendable(exc))
    try:
        with lock:
            send(stdout, outcome)
    except OSError:  # the parent has gone away: nobody to tell
        pass
    # Leave at once: the interpreter's shutdown would wait for the lock of stdin, which the
    # cancel watcher holds while it reads (a fatal error at exit), and there is nothing left
    # to clean up (the library is closed, the checkpoint written and renamed).
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
