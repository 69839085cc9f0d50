"""Recommendations → Retrain now…, driven like a user: progress, cancel, result card."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from player.app import SegueApp
from player.bridge import train
from player.library.db import Library
from player.playback.base import PlaybackState
from tests.player.conftest import make_app as make_player_app


def make_app(data_dir: Path, qtbot) -> SegueApp:
    return make_player_app(data_dir, qtbot, wait_for_model=True)


def test_retrain_completes_and_swaps_the_model(library: Library, habit_library,
                                               data_dir: Path, qtbot) -> None:
    app = make_app(data_dir, qtbot)
    try:
        assert app.learning.holder.get() is None
        app.engine.play_track(habit_library[0])  # music keeps playing during training
        dialog = app.window.retrain()
        values: list[int] = []
        dialog.bar.valueChanged.connect(values.append)
        qtbot.waitUntil(lambda: dialog.stack.currentIndex() == 1, timeout=120_000)
        assert values and values == sorted(values) and max(values) >= 800  # it advanced
        assert len(dialog.plot.values) >= 2  # the loss was plotted live
        assert dialog.result_title.text() == "Your new model is in use"
        assert "Your model (GRU)" in _grid_texts(dialog)
        assert app.learning.holder.get() is not None  # swapped in
        assert (data_dir / "model.pt").exists()
        assert app.engine.state is PlaybackState.PLAYING
        qtbot.waitUntil(lambda: app.engine.auto_pick is not None
                        and app.engine.auto_pick.strategy == "model", timeout=10_000)
        assert "trained on" in app.window.model_status.text()
    finally:
        app.shutdown()


@pytest.mark.slow
def test_cancel_keeps_the_previous_model(library: Library, habit_library, data_dir: Path,
                                         qtbot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    old_model, _ = train(library, data_dir)
    old_bytes = (data_dir / "model.pt").read_bytes()
    app = make_app(data_dir, qtbot)
    try:
        loaded = app.learning.holder.get()
        assert loaded is not None
        dialog = app.window.retrain()
        qtbot.waitUntil(lambda: dialog.bar.value() > 0, timeout=60_000)
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        # How fast Cancel stops it is measured by python -m bench retrain_gui (not a clock here)
        qtbot.waitUntil(lambda: dialog.stack.currentIndex() == 1, timeout=10_000)
        assert dialog.result_title.text() == "Training cancelled"
        assert app.learning.holder.get() is loaded
        assert (data_dir / "model.pt").read_bytes() == old_bytes
        qtbot.waitUntil(lambda: app.learning.job is None, timeout=5_000)
        # A cancel is what the user asked for: said as such, never an ERROR with a traceback.
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
        assert any(r.getMessage() == "retrain cancelled (Cancelled)" for r in caplog.records)
    finally:
        app.shutdown()


def test_retrain_with_too_little_history_explains(data_dir: Path, qtbot) -> None:
    app = make_app(data_dir, qtbot)
    try:
        dialog = app.window.retrain()
        qtbot.waitUntil(lambda: dialog.stack.currentIndex() == 1, timeout=30_000)
        assert dialog.result_title.text() == "Training did not finish"
        assert "at least" in dialog.result_text.text()
    finally:
        app.shutdown()


def _grid_texts(dialog) -> str:
    grid = dialog.result_grid
    return " ".join(grid.itemAt(i).widget().text() for i in range(grid.count()))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_time_left_comes_from_the_work_done(qtbot) -> None:
    """A busy machine does less work per second: the time left grows with it, and reading
    the history (before the first step) does not count as work."""
    from player.bridge import TrainingProgress
    from player.ui.retrain_dialog import RetrainDialog

    clock = FakeClock()
    dialog = RetrainDialog(clock=clock)
    qtbot.addWidget(dialog)
    dialog.show_progress(TrainingProgress("data", 0.0))
    assert dialog.status.text() == "Reading your listening history…"  # said once
    clock.now += 30  # a big history takes long to read: not training work
    dialog.show_progress(TrainingProgress("train", 0.10, "epoch 1 step 1 loss 7.000", 7.0))
    assert dialog.eta.text() == ""  # nothing measured yet
    clock.now += 10
    dialog.show_progress(TrainingProgress("train", 0.20, "epoch 1 step 40 loss 5.000", 5.0))
    assert dialog.status.text() == "Training: epoch 1 step 40 loss 5.000"
    assert dialog.eta.text() == "up to 1 min 20 s left"  # 0.1 in 10 s, 0.8 to go
    clock.now += 50  # the machine got busy: 0.05 more in 50 s
    dialog.show_progress(TrainingProgress("train", 0.25, "epoch 1 step 50 loss 4.900", 4.9))
    assert dialog.eta.text() == "up to 5 min 00 s left"  # 0.15 in 60 s, 0.75 to go
    clock.now += 60  # no step for a minute: the estimate does not count down by itself
    assert dialog.eta.text() == "up to 5 min 00 s left"
    dialog.show_progress(TrainingProgress("save", 0.98))
    assert dialog.status.text() == "Saving the model…"
    assert dialog.plot.values == [7.0, 5.0, 4.9]


def test_failures_are_told_by_their_type(qtbot) -> None:
    from player.bridge import NotEnoughHistory
    from player.ui.retrain_dialog import RetrainDialog
    from recommender.base import Cancelled

    texts = {}
    for error in (Cancelled("cancelled"), NotEnoughHistory("only 3 listens so far"),
                  OSError("No space left on device")):
        dialog = RetrainDialog()
        qtbot.addWidget(dialog)
        dialog.show_error(error)
        texts[type(error).__name__] = (dialog.result_title.text(), dialog.result_text.text())
    assert texts["Cancelled"][0] == "Training cancelled"
    assert texts["NotEnoughHistory"] == ("Training did not finish",
                                         "Only 3 listens so far.\n\nYour previous model is "
                                         "still in use.")
    assert texts["OSError"][0] == "Training did not finish"
    assert "No space left on device" in texts["OSError"][1]


@pytest.mark.parametrize(("gru", "verdict"), [
    ({"hr@20": 1.0, "mrr@20": 0.878}, "earned its place"),  # a tie in the top 20, ranked higher
    ({"hr@20": 1.0, "mrr@20": 0.5}, "does not beat"),
    ({"hr@20": 0.9, "mrr@20": 0.9}, "does not beat"),
])
def test_the_verdict_reads_both_columns_of_its_table(qtbot, gru: dict, verdict: str) -> None:
    """On an 8-track library every method has each next track in its top 20: the card said
    the model did not beat them while its own table showed it ranked them far higher."""
    from types import SimpleNamespace

    from player.ui.retrain_dialog import RetrainDialog

    dialog = RetrainDialog()
    qtbot.addWidget(dialog)
    held = {"gru": gru, "markov": {"hr@20": 1.0, "mrr@20": 0.817},
            "recent": {"hr@20": 1.0, "mrr@20": 0.126}}
    dialog.show_result(SimpleNamespace(heldout=held, plays=120, seconds=2.0, targets=20,
                                       epochs=5, time_limited=False))
    assert verdict in dialog.result_text.text()
