"""The seek bar as a person uses it: a click anywhere on the groove jumps there, the arrow
keys step 5 s, a drag seeks once on release."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from player.ui.now_playing import SEEK_STEP_MS, NowPlaying


def _bar(qtbot) -> NowPlaying:
    np = NowPlaying()
    qtbot.addWidget(np)
    np.resize(900, 120)
    np.show()
    qtbot.waitExposed(np)
    np.show_position(60_000, 200_000)
    return np


def test_a_click_on_the_groove_jumps_there(qtbot) -> None:
    np = _bar(qtbot)
    bar = np.seek
    seeks: list[int] = []
    np.seekRequested.connect(seeks.append)
    for fraction in (0.8, 0.1):
        x = round(bar.width() * fraction)
        qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=QPoint(x, bar.height() // 2))
        # Where the click was, to within a few pixels' worth of the 200 s track.
        assert abs(seeks[-1] - bar.value_at(x)) == 0
        assert abs(seeks[-1] - fraction * 200_000) < 200_000 * 12 / bar.width()
    assert len(seeks) == 2


def test_arrow_keys_step_five_seconds(qtbot) -> None:
    np = _bar(qtbot)
    seeks: list[int] = []
    np.seekRequested.connect(seeks.append)
    np.seek.setFocus()
    qtbot.keyClick(np.seek, Qt.Key.Key_Right)
    assert seeks == [60_000 + SEEK_STEP_MS]
    np.step(-2 * SEEK_STEP_MS)  # Shift+Left in the window, twice as far, from the bar's 65 s
    assert seeks[-1] == 60_000 - SEEK_STEP_MS


def test_dragging_the_handle_seeks_once_on_release(qtbot) -> None:
    np = _bar(qtbot)
    seeks: list[int] = []
    np.seekRequested.connect(seeks.append)
    np.seek.setSliderDown(True)
    np.seek.setSliderPosition(150_000)
    assert seeks == [] and np.elapsed.text() == "2:30"  # previewed, not sought
    np.seek.setSliderDown(False)
    assert seeks == [150_000]
