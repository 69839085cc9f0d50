"""The now-playing bar: cover, title, artist and album, transport, seek and volume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from player.library.db import Track
from player.playback.base import PlaybackState
from player.ui.library_model import format_ms

COVER_SIZE = 96
#: Arrow keys on the seek bar (and Shift+Left/Right anywhere) step this far...
SEEK_STEP_MS = 5_000
#: ...and Page Up/Down this far.
SEEK_PAGE_MS = 30_000


class SeekSlider(QSlider):
    """A seek bar where a click anywhere on the groove jumps there (Qt's own slider would
    only step towards the click by a page), and the arrow keys step :data:`SEEK_STEP_MS`."""

    jumped = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setSingleStep(SEEK_STEP_MS)
        self.setPageStep(SEEK_PAGE_MS)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def value_at(self, x: float) -> int:
        """The position (ms) under the horizontal pixel ``x``."""
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        style = self.style()
        groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                      QStyle.SubControl.SC_SliderGroove, self)
        handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                      QStyle.SubControl.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        offset = int(x) - groove.x() - handle.width() // 2
        return QStyle.sliderValueFromPosition(self.minimum(), self.maximum(),
                                              max(0, min(offset, span)), span)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        on_handle = self.style().hitTestComplexControl(
            QStyle.ComplexControl.CC_Slider, option, event.position().toPoint(), self
        ) == QStyle.SubControl.SC_SliderHandle
        if event.button() == Qt.MouseButton.LeftButton and not on_handle \
                and self.maximum() > self.minimum():
            value = self.value_at(event.position().x())
            self.setValue(value)
            self.jumped.emit(value)
            event.accept()
            return
        super().mousePressEvent(event)  # the handle: drag as usual


class NowPlaying(QWidget):
    """Shows the current track and carries the transport controls.

    It only emits what the user asks for (``playPauseClicked``, ``seekRequested``…); the main
    window connects those to the engine, and the engine's signals back to the ``show_*`` slots.
    """

    playPauseClicked = Signal()
    nextClicked = Signal()
    previousClicked = Signal()
    seekRequested = Signal(int)
    volumeChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        style = self.style()
        self._icons = {
            "play": style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay),
            "pause": style.standardIcon(QStyle.StandardPixmap.SP_MediaPause),
        }
        self.cover = QLabel()
        self.cover.setFixedSize(COVER_SIZE, COVER_SIZE)
        self.cover.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cover.setObjectName("cover")
        self.cover.setStyleSheet(
            "#cover { background: palette(mid); border-radius: 6px; color: palette(window);"
            " font-size: 40px; }"
        )

        self.title = QLabel("Nothing playing")
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = QLabel("Press play: Segue picks the music")
        self.subtitle.setStyleSheet("color: palette(placeholder-text);")
        for label in (self.title, self.subtitle):
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.prev_button = self._button(QStyle.StandardPixmap.SP_MediaSkipBackward,
                                        "Previous (Ctrl+Left)", self.previousClicked)
        self.play_button = self._button(QStyle.StandardPixmap.SP_MediaPlay, "Play (Space)",
                                        self.playPauseClicked)
        self.play_button.setIconSize(self.play_button.iconSize() * 1.5)
        self.next_button = self._button(QStyle.StandardPixmap.SP_MediaSkipForward,
                                        "Next (Ctrl+Right)", self.nextClicked)

        self.elapsed = QLabel("0:00")
        self.remaining = QLabel("-0:00")
        for label in (self.elapsed, self.remaining):
            label.setMinimumWidth(48)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.seek = SeekSlider()
        self.seek.setRange(0, 0)
        self.seek.setToolTip("Seek: click anywhere; ← → step 5 s")
        self.seek.jumped.connect(self.seekRequested)
        self.seek.sliderReleased.connect(lambda: self.seekRequested.emit(self.seek.value()))
        self.seek.sliderMoved.connect(self._preview_seek)
        self.seek.actionTriggered.connect(self._on_seek_action)

        volume_icon = QLabel()
        volume_icon.setPixmap(style.standardIcon(QStyle.StandardPixmap.SP_MediaVolume).pixmap(18))
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setFixedWidth(110)
        self.volume.setToolTip("Volume")
        self.volume.valueChanged.connect(self.volumeChanged)

        text = QVBoxLayout()
        text.addStretch(1)
        text.addWidget(self.title)
        text.addWidget(self.subtitle)
        seek_row = QHBoxLayout()
        seek_row.addWidget(self.elapsed)
        seek_row.addWidget(self.seek, 1)
        seek_row.addWidget(self.remaining)
        text.addLayout(seek_row)
        text.addStretch(1)

        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        for b in (self.prev_button, self.play_button, self.next_button):
            buttons.addWidget(b)

        layout = QHBoxLayout(self)
        layout.addWidget(self.cover)
        layout.addSpacing(8)
        layout.addLayout(text, 1)
        layout.addSpacing(12)
        layout.addLayout(buttons)
        layout.addSpacing(12)
        layout.addWidget(volume_icon)
        layout.addWidget(self.volume)
        self._duration = 0
        self.show_track(None, None)

    def _button(self, icon: QStyle.StandardPixmap, tip: str, signal: Any) -> QToolButton:
        button = QToolButton()
        button.setIcon(self.style().standardIcon(icon))
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setIconSize(button.iconSize() * 1.4)
        button.clicked.connect(signal)
        return button

    # -- slots for the engine ----------------------------------------------------------------

    def show_track(self, track: Track | None, cover: Path | None) -> None:
        if track is None:
            self.title.setText("Nothing playing")
            self.subtitle.setText("Press play: Segue picks the music")
            self.cover.setPixmap(QPixmap())
            self.cover.setText("♪")
            self.setToolTip("")
            self.show_position(0, 0)
            return
        artist = track.artist or "Unknown artist"
        album = track.album or "Unknown album"
        self.title.setText(track.title or "")
        self.subtitle.setText(f"{artist} — {album}")
        self.setToolTip(track.path)
        pixmap = QPixmap(str(cover)) if cover else QPixmap()
        if pixmap.isNull():
            self.cover.setPixmap(QPixmap())
            self.cover.setText("♪")
        else:
            self.cover.setText("")
            self.cover.setPixmap(pixmap.scaled(
                COVER_SIZE, COVER_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))

    def show_state(self, state: PlaybackState) -> None:
        playing = state is PlaybackState.PLAYING
        self.play_button.setIcon(self._icons["pause" if playing else "play"])
        self.play_button.setToolTip("Pause (Space)" if playing else "Play (Space)")

    def show_position(self, position: int, duration: int) -> None:
        if duration != self._duration:
            self._duration = duration
            self.seek.setRange(0, max(0, duration))
        if not self.seek.isSliderDown():
            self.seek.setValue(position)
            self._show_times(position)

    def show_volume(self, volume: int) -> None:
        if self.volume.value() != volume:
            self.volume.blockSignals(True)
            self.volume.setValue(volume)
            self.volume.blockSignals(False)

    def _show_times(self, position: int) -> None:
        self.elapsed.setText(format_ms(position))
        self.remaining.setText("-" + format_ms(max(0, self._duration - position)))

    def _preview_seek(self, value: int) -> None:
        self._show_times(value)

    def _on_seek_action(self, action: int) -> None:
        # Keyboard steps and the wheel (not drags, handled on release) seek at once.
        if not self.seek.isSliderDown():
            self.seekRequested.emit(self.seek.sliderPosition())

    def step(self, ms: int) -> None:
        """Seek by ``ms`` from where the bar is (Shift+Left/Right in the window)."""
        if self._duration > 0:
            self.seekRequested.emit(max(0, min(self._duration, self.seek.value() + ms)))
