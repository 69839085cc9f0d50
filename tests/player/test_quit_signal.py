"""SIGTERM/SIGINT quit from the event loop, never from inside the code they interrupt.

Python runs a signal handler between two bytecodes of the main thread. When that handler
called ``app.quit()``, Qt emitted ``aboutToQuit`` at once, so the whole shutdown (which closes
the library) ran in the middle of a query the GUI thread was iterating: CI saw "Cannot operate
on a closed database" from a pick being shown when the test stopped the app.
"""

from __future__ import annotations

import os
import signal
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from player.app import _quit_on_signals


def test_a_signal_quits_after_the_running_code_not_inside_it(qapp: QApplication) -> None:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    saved_fd = signal.set_wakeup_fd(-1)
    events: list[str] = []
    try:
        _quit_on_signals(qapp)
        def note_quit() -> None:
            events.append("aboutToQuit")

        qapp.aboutToQuit.connect(note_quit)

        def busy_gui_code() -> None:
            events.append("work starts")
            os.kill(os.getpid(), signal.SIGTERM)
            deadline = time.monotonic() + 0.3
            while time.monotonic() < deadline:  # bytecodes, where the handler gets its turn
                sum(range(100))
            events.append("work ends")

        QTimer.singleShot(0, busy_gui_code)
        QTimer.singleShot(5000, qapp.quit)  # a safety net: the test fails, it does not hang
        qapp.exec()
        qapp.aboutToQuit.disconnect(note_quit)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(saved_fd)
    assert events[:3] == ["work starts", "work ends", "aboutToQuit"], events
