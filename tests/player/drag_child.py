"""Run by test_queue_playlists_ui under a real X server (Xvfb): the whole app, and a real mouse
drag (Qt's drag loop runs only on a real display, not offscreen): ``queue`` drags a row of Up
next above another, ``table`` drags a library row into Up next. Prints the queue before and
after, and the song dragged, as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget


def drag(source: QWidget, start: QPoint, target: QWidget, end: QPoint) -> None:
    """Press on ``source`` at ``start``, move, let go over ``target`` at ``end``."""
    def inside_the_drag_loop() -> None:  # the pointer moves, the button lets go
        a, b = source.mapToGlobal(start), target.mapToGlobal(end)
        for k in range(1, 11):
            QCursor.setPos(a + (b - a) * k / 10)
            QTest.qWait(30)
        QTest.mouseRelease(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                           end)

    QTimer.singleShot(300, inside_the_drag_loop)
    QCursor.setPos(source.mapToGlobal(start))
    QTest.mousePress(source, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for k in range(1, 5):
        QTest.mouseMove(source, start + QPoint(0, -6 * k))
        QTest.qWait(20)
    QTest.qWait(300)


def main(data_dir: str, mode: str) -> None:
    app = QApplication([])
    from player.app import SegueApp
    from player.playback.null import NullBackend

    segue = SegueApp(Path(data_dir), backend_factory=lambda: NullBackend(realtime=True),
                     enable_mpris=False)
    segue.window.resize(1100, 700)
    segue.window.show()
    segue.start_playback()
    QTest.qWaitForWindowExposed(segue.window)
    ids = [r["id"] for r in segue.library.db.query("SELECT id FROM tracks ORDER BY path")]
    segue.engine.enqueue(ids[:5])
    before = list(segue.engine.queue)
    # Settled first: the pick made in the background shown, the table read (a list redrawn
    # under the pointer would end the gesture - the test is of the drag, not of that).
    while segue.engine.auto_pick is None or segue.window.browser.busy() \
            or segue.window.table.model().rowCount() == 0:
        QTest.qWait(50)
    QTest.qWait(300)
    view = segue.window.queue_view.list
    target = view.visualItemRect(view.item(1))
    end = QPoint(target.center().x(), target.top() + 3)  # the upper part of row 1
    dragged = None
    if mode == "queue":
        drag(view.viewport(), view.visualItemRect(view.item(3)).center(), view.viewport(), end)
    else:
        table = segue.window.table
        table.clearSelection()
        dragged = table.model().track_id(6)
        start = table.visualRect(table.model().index(6, 0)).center()
        drag(table.viewport(), start, view.viewport(), end)
    print(json.dumps({"before": before, "after": list(segue.engine.queue), "dragged": dragged}),
          flush=True)
    segue.shutdown()
    app.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
