"""The model's life in the running app: loaded after start-up, retrained from the menu,
fine-tuned as you listen, reset on request — swapped in atomically.

Retrains and fine-tunes run in a child process (:mod:`player.trainproc`): on a thread of this
process their pure-Python work held the interpreter lock the GUI thread needs, and the window
froze for a few hundred milliseconds at a time. A job's thread here only relays the child's
progress and loads the checkpoint it wrote.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from player import memory
from player.bridge import ModelHolder, NotEnoughHistory, TrainingProgress, TrainResult
from player.library.db import Library
from player.trainproc import FINETUNE, RETRAIN, TrainRequest, run_training
from player.workers import Job

log = logging.getLogger(__name__)

#: At quit, a fine-tune may hold the exit this long at most (then it is dropped).
QUIT_FINETUNE_S = 5.0


class Learning(QObject):
    """Owns the :class:`ModelHolder` and every training job."""

    statusChanged = Signal(str)
    modelChanged = Signal()

    def __init__(self, library: Library, data_dir: Path, finetune_every: int = 50) -> None:
        super().__init__()
        self.library = library
        self.data_dir = data_dir
        self.holder = ModelHolder(data_dir)
        self.finetune_every = finetune_every
        self.job: Job | None = None  # the one training job at a time
        self.job_kind = ""
        self.loaded = False
        self._loading: Job | None = None  # the model load started after the window shows

    # -- loading ---------------------------------------------------------------------------------

    def load_async(self) -> Job:
        """Load the checkpoint in the background (torch takes a second or two to import)."""

        def work(report: Any, cancel: threading.Event) -> Any:
            # Even without a checkpoint: importing torch, the evaluator and what torch's
            # optimizers import lazily holds Python's GIL for up to ~200 ms at a time, which
            # would freeze the window and delay Cancel in the middle of a retrain; here it
            # happens once, in the background, right after start-up. (The CLI skips it.)
            from recommender.api import warm_up
            from recommender.evaluate import evaluate_model  # noqa: F401 - imported early

            warm_up()
            return self.holder.load()

        log.info("loading the model in the background")
        job = Job(work, "model-load", parent=self)
        job.ended.connect(self._loaded)
        job.start()
        self._loading = job
        return job

    def wait_for_load(self, timeout_s: float) -> None:
        """At quit: let a model load under way finish (at most ``timeout_s``). Its thread is
        importing torch in the first seconds after start; an interpreter that shuts down
        meanwhile tears torch's half-made modules apart, and the import fails with a
        traceback ("operator ... does not exist")."""
        if self._loading is not None and not self._loading.wait(timeout_s):
            log.warning("the model was still loading at quit")

    def _loaded(self) -> None:
        self.loaded = True
        # Everything the app holds after start-up (Qt wrappers, modules, torch) will live
        # until quit: keep it out of the garbage collector's full passes, which hold the GIL
        # and would otherwise freeze the window for 100+ ms at a time during a retrain.
        gc.freeze()
        if self.holder.load_error:
            self.statusChanged.emit("Model unreadable; using simple picks — retrain to fix")
        self.modelChanged.emit()
        self.refresh_status()

    # -- retrain ---------------------------------------------------------------------------------

    def retrain(self, config: Any = None) -> Job | None:
        """Start a full retrain; None if a training job is already running."""
        if self.job is not None:
            return None

        request = TrainRequest(RETRAIN, str(self.data_dir), config)

        def work(report: Any, cancel: threading.Event) -> tuple[Any, TrainResult] | None:
            report(TrainingProgress("data", 0.0))  # at once: the child takes a while to start
            return run_training(request, report, cancel)

        return self._start(Job(work, "retrain", parent=self), "retrain")

    def _start(self, job: Job, kind: str) -> Job:
        self.job, self.job_kind = job, kind
        job.done.connect(self._trained)
        job.ended.connect(self._job_ended)
        job.start()
        self.refresh_status()
        return job

    def _trained(self, outcome: tuple[Any, TrainResult] | None) -> None:
        if outcome is None:
            return
        model, result = outcome
        self.holder.set(model)  # atomic: the next pick uses it
        log.info("%s done: %d plays in %.1f s", result.mode, result.plays, result.seconds)
        self.modelChanged.emit()

    def _job_ended(self) -> None:
        self.job, self.job_kind = None, ""
        memory.release_free_memory()  # a training's buffers, back to the system
        self.refresh_status()

    # -- fine-tune as you listen -------------------------------------------------------------------

    def new_listens(self) -> int:
        """Completed listens the current model has not learned yet."""
        status = self.holder.status()
        if not status["model"]:
            return 0
        return self.library.completed_listens_after(status["last_listen_id"])

    def maybe_finetune(self) -> Job | None:
        """After every listen: fine-tune in the background once enough new ones piled up."""
        if self.job is not None or not self.loaded or self.holder.get() is None:
            return None
        if self.new_listens() < self.finetune_every:
            return None
        return self.finetune_async()

    def finetune_async(self) -> Job | None:
        model = self.holder.get()
        if self.job is not None or model is None:
            return None

        # The child continues the checkpoint on disk: the model in use was loaded from it, or
        # saved to it, and every training of the app goes through this one job slot.
        request = TrainRequest(FINETUNE, str(self.data_dir))

        def work(report: Any, cancel: threading.Event) -> tuple[Any, TrainResult] | None:
            return run_training(request, report, cancel)

        return self._start(Job(work, "finetune", parent=self), "finetune")

    def finetune_at_quit(self) -> None:
        """Learn the last listens before leaving, within a few seconds or not at all."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait(QUIT_FINETUNE_S)
            return
        model = self.holder.get()
        if model is None or self.new_listens() == 0:
            return
        cancel = threading.Event()
        done = threading.Event()
        request = TrainRequest(FINETUNE, str(self.data_dir))

        def work() -> None:
            try:  # the checkpoint is what counts: no need to load the model at quit
                run_training(request, lambda _progress: None, cancel, load=False)
            except Exception:  # cancelled or failed: the old checkpoint stays
                log.info("fine-tune at quit skipped", exc_info=True)
            finally:
                done.set()

        thread = threading.Thread(target=work, name="segue-quit-finetune", daemon=True)
        thread.start()
        if not done.wait(QUIT_FINETUNE_S):
            cancel.set()
            done.wait(2.0)

    # -- reset and status ----------------------------------------------------------------------

    def reset(self) -> None:
        if self.job is not None:
            self.job.cancel()
        self.holder.reset()
        self.modelChanged.emit()
        self.refresh_status()

    def refresh_status(self) -> None:
        self.statusChanged.emit(self.status_text())

    def status_text(self) -> str:
        if self.job_kind == "retrain":
            return "Model: training…"
        if self.job_kind == "finetune":
            return "Model: learning your latest listens…"
        if not self.loaded:
            return ""
        status = self.holder.status()
        if not status["model"]:
            return "No model yet (Recommendations → Retrain now)"
        age = _age(time.time() - (status["trained_at"] or time.time()))
        return f"Model: {age} old, trained on {status['plays']:,} listens"


def _age(seconds: float) -> str:
    if seconds < 90:
        return "a minute"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


__all__ = ["Learning", "NotEnoughHistory", "TrainingProgress"]
