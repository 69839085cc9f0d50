"""Recommendations → Retrain now…: training with progress, a live loss plot, Cancel, and a
result card that says honestly whether the model beats the simple methods on your own
listening."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)


class LossPlot(QWidget):
    """A small live line plot of the training loss (no chart library needed)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: list[float] = []
        self.setMinimumSize(420, 160)

    def add(self, value: float) -> None:
        if math.isfinite(value):
            self.values.append(value)
            self.update()

    def clear(self) -> None:
        self.values.clear()
        self.update()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        rect = QRectF(self.rect()).adjusted(44, 10, -10, -22)
        p.fillRect(self.rect(), pal.base())
        p.setPen(QPen(pal.mid().color()))
        p.drawRect(rect)
        small = QFont(self.font())
        small.setPointSizeF(small.pointSizeF() * 0.85)
        p.setFont(small)
        if len(self.values) < 2:
            p.setPen(pal.placeholderText().color())
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "the loss will appear here")
            return
        lo, hi = min(self.values), max(self.values)
        if hi - lo < 1e-9:
            hi = lo + 1.0
        p.setPen(pal.text().color())
        p.drawText(QRectF(0, rect.top() - 6, 40, 14), Qt.AlignmentFlag.AlignRight, f"{hi:.2f}")
        p.drawText(QRectF(0, rect.bottom() - 8, 40, 14), Qt.AlignmentFlag.AlignRight, f"{lo:.2f}")
        p.drawText(QRectF(rect.left(), rect.bottom() + 4, rect.width(), 14),
                   Qt.AlignmentFlag.AlignCenter, f"training loss over {len(self.values)} steps")
        n = len(self.values)
        path = QPainterPath()
        for i, v in enumerate(self.values):
            x = rect.left() + rect.width() * i / (n - 1)
            y = rect.bottom() - rect.height() * (v - lo) / (hi - lo)
            if i == 0:
                path.moveTo(QPointF(x, y))
            else:
                path.lineTo(QPointF(x, y))
        p.setPen(QPen(QColor(52, 120, 190), 2))
        p.drawPath(path)


#: What the status line calls each phase of a training run (player.bridge.TrainingProgress).
PHASE_LABELS = {"data": "Reading your listening history", "train": "Training",
                "learn": "Learning your latest listens", "save": "Saving the model"}
#: Time left is shown once this share of the work is done since training started.
ETA_AFTER_FRACTION = 0.03


class RetrainDialog(QDialog):
    """Shows a training job; ``cancelRequested`` when the user cancels.

    The time left comes from the work done: the share of the run completed since its first
    training step, and how long that took (``clock``: injectable for tests). A busy machine
    does less work per second, so its estimate grows; a clock budget never enters it. The work
    is the planned epochs, and early stopping usually ends training sooner: the time shown is
    what is left at most ("up to"), not a promise.
    """

    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.setWindowTitle("Retrain recommendations")
        self.setMinimumWidth(520)
        self._clock = clock
        self._work_start: tuple[float, float] | None = None  # (time, fraction) of training
        self._last_fraction = 0.0

        self.stack = QStackedWidget()
        self.stack.addWidget(self._build_progress_page())
        self.stack.addWidget(self._build_result_page())

        self.buttons = QDialogButtonBox()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.accept)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button.hide()  # after addButton, which shows it

        layout = QVBoxLayout(self)
        layout.addWidget(self.stack)
        layout.addWidget(self.buttons)

    # -- pages ---------------------------------------------------------------------------------

    def _build_progress_page(self) -> QWidget:
        page = QWidget()
        self.headline = _title_label("Learning the order you listen in…")
        self.note = QLabel("Music keeps playing while Segue trains. Your current model stays in "
                           "use until the new one is ready.")
        self.note.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.status = QLabel("Preparing your listening history…")
        self.eta = QLabel("")
        self.eta.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.plot = LossPlot()
        layout = QVBoxLayout(page)
        layout.addWidget(self.headline)
        layout.addWidget(self.note)
        layout.addSpacing(6)
        layout.addWidget(self.bar)
        row = QGridLayout()
        row.addWidget(self.status, 0, 0)
        row.addWidget(self.eta, 0, 1)
        layout.addLayout(row)
        layout.addWidget(self.plot, 1)
        return page

    def _build_result_page(self) -> QWidget:
        page = QWidget()
        self.result_title = _title_label("")
        self.result_text = QLabel("")
        self.result_text.setWordWrap(True)
        self.result_grid = QGridLayout()
        layout = QVBoxLayout(page)
        layout.addWidget(self.result_title)
        layout.addWidget(self.result_text)
        layout.addSpacing(8)
        layout.addLayout(self.result_grid)
        layout.addSpacing(12)
        self.result_note = QLabel(
            "<i>Next track in its top 20</i>: how often the track you really played next was "
            "among the 20 it ranked first. <i>Mean reciprocal rank</i>: 1 when that track was "
            "its first choice, ½ when second… averaged; higher is better.")
        self.result_note.setWordWrap(True)
        _mute(self.result_note)
        self.result_note.hide()
        layout.addWidget(self.result_note)
        layout.addStretch(1)
        return page

    # -- slots for the training job ------------------------------------------------------------

    def show_progress(self, progress: Any) -> None:
        """Slot for the training job's ``progress``: a ``player.bridge.TrainingProgress``."""
        fraction = max(self._last_fraction, min(1.0, progress.fraction))
        self._last_fraction = fraction
        self.bar.setValue(int(fraction * 1000))
        label = PHASE_LABELS.get(progress.phase, progress.phase.capitalize())
        self.status.setText(f"{label}: {progress.detail}" if progress.detail else f"{label}…")
        now = self._clock()
        if self._work_start is None:
            if progress.phase != "data":  # reading the history is not the work measured
                self._work_start = (now, fraction)
        else:
            since, at = self._work_start
            done = fraction - at
            if done >= ETA_AFTER_FRACTION and now > since:
                left = (1.0 - fraction) * (now - since) / done
                self.eta.setText(f"up to {_duration(left)} left")
                self.eta.setToolTip("Training usually stops sooner, once the model stops "
                                    "improving on your history.")
        if progress.loss is not None:
            self.plot.add(progress.loss)

    def show_result_of(self, outcome: tuple[Any, Any]) -> None:
        """Slot for the training job's ``done``: (model, result)."""
        self.show_result(outcome[1])

    def show_result(self, result: Any) -> None:
        """The result card: the model next to the simple methods on your held-out tail."""
        self.stack.setCurrentIndex(1)
        self.cancel_button.hide()
        self.close_button.show()
        self.close_button.setDefault(True)
        held = result.heldout
        self.result_title.setText("Your new model is in use")
        if not held:
            self.result_text.setText(
                f"Trained on {result.plays:,} listens in {_duration(result.seconds)}. "
                "Listen across a few more sessions for Segue to measure how well it predicts "
                "you.")
            return
        gru = held["gru"]
        best_hr = max(held[m]["hr@20"] for m in held if m != "gru")
        best_mrr = max(held[m]["mrr@20"] for m in held if m != "gru")
        # Better in the top 20, or as often there and ranked higher (a small library puts
        # every next track in everyone's top 20: then the rank tells them apart).
        earned = gru["hr@20"] > best_hr or (gru["hr@20"] >= best_hr and gru["mrr@20"] > best_mrr)
        verdict = ("It predicts your next track better than the simple methods — it has "
                   "earned its place." if earned else
                   "It does not beat the simple methods on your history yet: Segue still uses "
                   "it, and it improves as you listen.")
        limited = (f" Training stopped at its time limit after {result.epochs} epochs: this "
                   "computer was too busy or too slow to finish it, so the model knows less "
                   "than it could." if getattr(result, "time_limited", False) else "")
        self.result_text.setText(
            f"Trained on {result.plays:,} listens in {_duration(result.seconds)}. Tested on "
            f"the last fifth of your sessions ({result.targets:,} next tracks it had not "
            f"seen): {verdict}{limited}")
        grid = self.result_grid
        headers = ("", "Next track in its top 20", "Mean reciprocal rank")
        for col, text in enumerate(headers):
            label = QLabel(f"<b>{text}</b>")
            grid.addWidget(label, 0, col)
        names = {"gru": "Your model (GRU)", "recent": "Recently played",
                 "markov": "What usually follows"}
        best_hr = max(m["hr@20"] for m in held.values())
        for row, key in enumerate(("gru", "recent", "markov"), start=1):
            if key not in held:
                continue
            m = held[key]
            grid.addWidget(QLabel(names[key]), row, 0)
            hr = QLabel(f"{m['hr@20']:.1%}")
            mrr = QLabel(f"{m['mrr@20']:.3f}")
            if m["hr@20"] == best_hr:
                hr.setText(f"<b>{m['hr@20']:.1%}</b>")
            for widget in (hr, mrr):
                widget.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(hr, row, 1)
            grid.addWidget(mrr, row, 2)
        self.result_note.show()

    def show_error(self, error: Exception) -> None:
        """Slot for the training job's ``failed``: cancelled, too little history, or a fault."""
        from player.bridge import NotEnoughHistory
        from recommender.base import Cancelled

        if isinstance(error, Cancelled):
            self.show_failure("", cancelled=True)
        elif isinstance(error, NotEnoughHistory):
            self.show_failure(f"{str(error).capitalize()}.", cancelled=False)
        else:
            self.show_failure(f"Something went wrong: {type(error).__name__}: {error}",
                              cancelled=False)

    def show_failure(self, message: str, cancelled: bool) -> None:
        self.stack.setCurrentIndex(1)
        self.cancel_button.hide()
        self.close_button.show()
        if cancelled:
            self.result_title.setText("Training cancelled")
            self.result_text.setText("Nothing changed: your previous model is still in use.")
        else:
            self.result_title.setText("Training did not finish")
            self.result_text.setText(f"{message}\n\nYour previous model is still in use.")

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.status.setText("Stopping…")
        self.cancelRequested.emit()

    def reject(self) -> None:  # Esc / window close while training: cancel first
        if self.cancel_button.isVisible():
            self._cancel()
        else:
            super().reject()


def _mute(label: QLabel) -> None:
    """Draw ``label`` in a colour between text and background (readable in light and dark
    themes, unlike a disabled label's)."""
    palette = label.palette()
    text = palette.color(QPalette.ColorRole.WindowText)
    back = palette.color(QPalette.ColorRole.Window)
    mixed = QColor(*(round(0.65 * a + 0.35 * b) for a, b in zip(text.getRgb()[:3],
                                                                  back.getRgb()[:3])))
    palette.setColor(QPalette.ColorRole.WindowText, mixed)
    label.setPalette(palette)


def _title_label(text: str) -> QLabel:
    label = QLabel(text)
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.15)
    label.setFont(font)
    return label


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"
