"""Screenshots of the retrain dialog, mid-training and on its result card, for people to look at.

    Xvfb :99 -screen 0 1280x800x24 &
    DISPLAY=:99 QT_QPA_PLATFORM=xcb python -m bench.screenshots [--out docs]

The history is the public Spotify log imported against a generated library of its most played
tracks (as in ``bench.retrain_gui``), or a synthetic one when ../shared is absent. Writes
``retrain-progress.png`` (about ten seconds into training) and ``retrain-result.png``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger("bench.screenshots")


def main(argv: list[str] | None = None) -> dict[str, str]:
    parser = argparse.ArgumentParser(prog="python -m bench.screenshots")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--progress-after", type=float, default=10.0,
                        help="seconds into training of the mid-training shot")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from bench.retrain_gui import _prepare
    from player.app import SegueApp
    from player.playback.null import NullBackend

    app = QApplication.instance() or QApplication([])
    args.out.mkdir(parents=True, exist_ok=True)
    shots: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        _prepare(data, 50_000, synthetic=False)
        segue = SegueApp(data, backend_factory=lambda: NullBackend(realtime=True),
                         enable_mpris=False)
        segue.window.resize(1180, 720)
        segue.window.show()
        segue.start_playback()
        while not segue.learning.loaded:
            app.processEvents()
            time.sleep(0.01)
        segue.engine.play()
        dialog = segue.window.retrain()

        def grab(name: str) -> None:
            path = args.out / name
            dialog.grab().save(str(path))
            shots[name] = str(path)
            log.info("wrote %s", path)

        QTimer.singleShot(int(args.progress_after * 1000), lambda: grab("retrain-progress.png"))
        job = segue.learning.job
        job.ended.connect(lambda: QTimer.singleShot(500, lambda: (grab("retrain-result.png"),
                                                                  app.quit())))
        app.exec()
        segue.shutdown()
    return shots


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(main())
