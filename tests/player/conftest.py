"""Player fixtures: a library of placeholder tracks and an engine on the silent backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from player.autoqueue import AutoQueue, Rules
from player.engine import Engine
from player.library.db import Library
from player.playback.null import NullBackend


class FakeClock:
    """Wall-clock time the test moves by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def add_placeholder_tracks(library: Library, folder: Path, specs: list[dict]) -> list[int]:
    """Tracks whose files exist (empty: the null backend never decodes them)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, spec in enumerate(specs):
        path = folder / f"{i:04d}.mp3"
        path.write_bytes(b"")
        rows.append({"path": str(path), "mtime": 1.0, "size": 0, "title": f"T{i}",
                     "duration_ms": 180_000, **spec})
    library.add_tracks(rows)
    return [r["id"] for r in library.db.query("SELECT id FROM tracks ORDER BY id")]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tracks(library: Library, tmp_path: Path) -> list[int]:
    """40 tracks by 10 artists, 4 each, in 3 genres."""
    specs = [{"artist": f"Artist {i % 10}", "album": f"Album {i % 10}",
              "genre": ("Rock", "Jazz", "Pop")[i % 3]} for i in range(40)]
    return add_placeholder_tracks(library, tmp_path / "files", specs)


@pytest.fixture
def backend(library: Library, qapp) -> NullBackend:
    return NullBackend(duration_of=lambda p: getattr(library.track_by_path(p), "duration_ms",
                                                      None))


@pytest.fixture
def engine(library: Library, backend: NullBackend, clock: FakeClock, tracks) -> Engine:
    aq = AutoQueue(library, Rules(exploration=0.0), seed=1, clock=clock)
    eng = Engine(library, backend, aq, clock=clock, background_picks=False)
    yield eng
    eng.shutdown()


def make_app(data_dir: Path, qtbot, wait_for_model: bool = False):
    """The whole app on the silent backend (real-time clock), window shown."""
    from player.app import SegueApp

    app = SegueApp(data_dir, backend_factory=lambda: NullBackend(realtime=True),
                   enable_mpris=False)
    qtbot.addWidget(app.window)
    app.window.show()
    app.start_playback()
    if wait_for_model:  # the checkpoint is loaded in the background
        qtbot.waitUntil(lambda: app.learning.loaded, timeout=30_000)
    return app
