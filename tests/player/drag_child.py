"""Run by test_queue_playlists_ui under a real X server (Xvfb): the whole app, and a real mouse
drag in Up next (Qt's drag loop runs only on a real display, not offscreen). Prints the queue
before and after as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def main(data_dir: str) -> None:
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
    view = segue.window.queue_view.list
    viewport = view.viewport()
    start = view.visualItemRect(view.item(3)).center()
    target = view.visualItemRect(view.item(1))
    end = QPoint(target.center().x(), target.top() + 3)  # the upper part of row 1

    def drag() -> None:  # inside QDrag.exec's loop: the pointer moves, the button lets go
        for k in range(1, 9):
            QCursor.setPos(viewport.mapToGlobal(start + (end - start) * k / 8))
            QTest.qWait(30)
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton,
                           Qt.KeyboardModifier.NoModifier, end)

    QTimer.singleShot(300, drag)
    QCursor.setPos(viewport.mapToGlobal(start))
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for k in range(1, 5):
        QTest.mouseMove(viewport, start + QPoint(0, -6 * k))
        QTest.qWait(20)
    QTest.qWait(300)
    print(json.dumps({"before": before, "after": list(segue.engine.queue)}), flush=True)
    segue.shutdown()
    app.quit()


if __name__ == "__main__":
    main(sys.argv[1])
