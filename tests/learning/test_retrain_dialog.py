"""Recommendations → Retrain now…, driven like a user: progress, cancel, result card."""

from __future__ import annotations

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
                                         qtbot) -> None:
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
