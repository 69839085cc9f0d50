"""Retrains and fine-tunes run in a child process (player.trainproc), for real: a child trains on
a real library and its model is swapped in; Cancel ends the child and leaves the old model;
a child that dies or hangs is reported as such, never waited for."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

import player.bridge
from player.bridge import train, training_data
from player.library.db import Library
from player.trainproc import TrainingProcessError
from recommender.base import Cancelled
from tests.player.conftest import make_app


def trainer_pids() -> list[int]:
    """This process's children running the training module."""
    pids = []
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:  # gone meanwhile
                continue
            if b"player.trainproc" in cmdline:
                pids.append(int(pid))
    return pids


def gone(pid: int) -> bool:
    """True once ``pid`` has exited and been reaped (no zombie left behind)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _no_training_here(*_args, **_kwargs):
    raise AssertionError("the GUI process trained the model itself")


@pytest.mark.slow
def test_a_child_process_trains_and_its_model_is_swapped_in(
        library: Library, habit_library, data_dir: Path, qtbot,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="player.trainproc")
    # Training in this process would fail: only a child (which imports its own) may train.
    monkeypatch.setattr(player.bridge, "train", _no_training_here)
    monkeypatch.setattr(player.bridge, "finetune", _no_training_here)
    app = make_app(data_dir, qtbot, wait_for_model=True)
    try:
        assert app.learning.holder.get() is None
        phases: list[str] = []
        job = app.learning.retrain()
        job.progress.connect(lambda p: phases.append(p.phase))
        qtbot.waitUntil(lambda: bool(trainer_pids()), timeout=30_000)
        child = trainer_pids()[0]
        with qtbot.waitSignal(job.ended, timeout=120_000):
            pass
        assert job.error is None
        assert {"data", "train", "learn", "save"} <= set(phases)  # relayed from the child
        model = app.learning.holder.get()
        assert model is not None and set(habit_library) <= set(model.known_tracks())
        assert job.result[1].path == str(data_dir / "model.pt")
        assert gone(child)
        # The model the child wrote and measured is the one in use, and it learned the mixes.
        result = job.result[1]
        assert model.metrics["segue_heldout"] == result.heldout
        assert model.metrics["segue_last_listen_id"] == training_data(library).last_listen_id
        assert result.heldout["gru"]["mrr@20"] >= 0.8

        # A fine-tune in a child too: new listens are learned, and the new model swapped in.
        for track in habit_library[:3]:
            app.engine.play_track(track)
            app.engine.backend.advance(180_000)
        qtbot.waitUntil(lambda: app.learning.new_listens() >= 2, timeout=10_000)
        job = app.learning.finetune_async()
        with qtbot.waitSignal(job.ended, timeout=120_000):
            pass
        assert job.error is None and app.learning.holder.get() is not model
        assert app.learning.new_listens() == 0
        # Both children said their outcome and exited cleanly (status 0, nothing killed).
        assert not [r.getMessage() for r in caplog.records if r.name == "player.trainproc"]
    finally:
        app.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("hung", [False, True], ids=["asked", "killed"])
def test_cancel_ends_the_child_and_keeps_the_old_model(
        library: Library, habit_library, data_dir: Path, qtbot, hung: bool) -> None:
    """Cancel asks the child to stop; one that cannot answer (here: stopped by SIGSTOP) is
    killed. Either way the job ends as cancelled, no child is left, the model stays."""
    train(library, data_dir)
    old_bytes = (data_dir / "model.pt").read_bytes()
    app = make_app(data_dir, qtbot, wait_for_model=True)
    try:
        old = app.learning.holder.get()
        assert old is not None
        dialog = app.window.retrain()
        job = app.learning.job
        qtbot.waitUntil(lambda: dialog.bar.value() > 100, timeout=60_000)  # training steps
        (child,) = trainer_pids()
        if hung:
            os.kill(child, signal.SIGSTOP)
        with qtbot.waitSignal(job.ended, timeout=10_000):
            dialog.cancel_button.click()
        assert isinstance(job.error, Cancelled)
        assert dialog.result_title.text() == "Training cancelled"
        assert gone(child)
        assert app.learning.holder.get() is old
        assert (data_dir / "model.pt").read_bytes() == old_bytes
    finally:
        app.shutdown()


@pytest.mark.slow
def test_a_child_that_dies_is_a_failure_in_one_line(library: Library, habit_library,
                                                    data_dir: Path, qtbot) -> None:
    app = make_app(data_dir, qtbot, wait_for_model=True)
    try:
        dialog = app.window.retrain()
        job = app.learning.job
        qtbot.waitUntil(lambda: dialog.bar.value() > 100, timeout=60_000)
        (child,) = trainer_pids()
        with qtbot.waitSignal(job.ended, timeout=10_000):
            os.kill(child, signal.SIGKILL)  # as the out-of-memory killer would
        assert isinstance(job.error, TrainingProcessError)
        assert str(job.error) == "the training process ended unexpectedly (exit status -9)"
        assert dialog.result_title.text() == "Training did not finish"
        assert app.learning.holder.get() is None and not (data_dir / "model.pt").exists()
        assert app.learning.job is None  # the slot is free for the next training
    finally:
        app.shutdown()


def test_a_failure_in_the_child_arrives_as_its_exception(data_dir: Path, library: Library,
                                                         qtbot) -> None:
    """Too little history: the child's NotEnoughHistory, as itself, with its one line."""
    app = make_app(data_dir, qtbot, wait_for_model=True)
    try:
        job = app.learning.retrain()
        with qtbot.waitSignal(job.ended, timeout=60_000):
            pass
        assert type(job.error) is player.bridge.NotEnoughHistory
        assert str(job.error).startswith("only 0 listens so far")
        assert "\n" not in str(job.error)
    finally:
        app.shutdown()
