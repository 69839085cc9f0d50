"""The model's pick through the real player: the stream backend plays a real file to its end,
and the track that starts next is the one the trained model chose, logged as an auto-queued
listen."""

from __future__ import annotations

from pathlib import Path

import pytest

from player.app import SegueApp
from player.audiogen import TrackSpec, make_library
from player.bridge import train
from player.library.db import Library
from player.library.scanner import scan_folders
from player.settings import Settings
from tests.learning.conftest import ALBUMS, PER_ALBUM, listen_albums
from tests.player.conftest import FakeClock

pytestmark = [pytest.mark.slow, pytest.mark.audio]  # training, then real playback

RATE = 8.0


@pytest.fixture
def audible_habits(library: Library, tmp_path: Path) -> list[int]:
    """The listener of ``habit_library``, but over real generated audio files (1 s each)."""
    specs = [(f"mix{m}/{i}", "wav",
              TrackSpec(f"Song {m}-{i}", f"Band {(m + i) % ALBUMS}", f"Record {(m + i) % ALBUMS}",
                        seconds=1.0, pitch=220.0 + 15 * (m * PER_ALBUM + i)))
             for m in range(ALBUMS) for i in range(PER_ALBUM)]
    make_library(tmp_path / "music", specs)
    scan_folders(library, [tmp_path / "music"])
    by_title = {r["title"]: r["id"] for r in library.db.query("SELECT id, title FROM tracks")}
    ids = [by_title[f"Song {m}-{i}"] for m in range(ALBUMS) for i in range(PER_ALBUM)]
    listen_albums(library, ids, FakeClock(1_600_000_000.0), sessions=40)
    return ids


def test_the_models_pick_plays_next_on_real_playback(library: Library, audible_habits,
                                                     data_dir: Path, qtbot) -> None:
    train(library, data_dir)
    # The familiar end of exploration, and no repeat window: the mixes were all heard lately,
    # and this test is about who chooses, not about the rules (tested on their own).
    Settings(playback_rate=RATE, exploration=0.0, repeat_window_plays=0,
             repeat_window_hours=0.0).save(data_dir)
    app = SegueApp(data_dir, enable_mpris=False)
    qtbot.addWidget(app.window)
    try:
        app.start_playback()
        assert app.engine.backend.name == "stream"
        qtbot.waitUntil(lambda: app.learning.loaded and app.learning.holder.get() is not None,
                        timeout=30_000)
        # Hands-free play started with the app: let its picks settle on the loaded model
        # before the user steps in, so that a pick still on its way cannot follow the start.
        app.engine.stop()
        qtbot.waitUntil(lambda: app.engine._pick_job is None or not app.engine._pick_job.running,
                        timeout=10_000)
        start = audible_habits[3 * PER_ALBUM + 2]
        expected = audible_habits[3 * PER_ALBUM + 3]  # what always followed it
        with qtbot.waitSignal(app.engine.autoPickChanged, timeout=10_000,
                              check_params_cb=lambda pick: pick is not None) as picked:
            app.engine.play_track(start)
        pick = picked.args[0]
        assert pick.strategy == "model" and pick.track_id == expected
        assert "Song 3-2" in pick.reason

        # The real file plays to its end; the pick follows by itself.
        qtbot.waitUntil(lambda: app.engine.current is not None
                        and app.engine.current.id == expected, timeout=15_000)
        assert app.engine.current_source == "auto"

        def this_run() -> list[dict]:
            return [r for r in app.library.listens() if r.started_at > 1_700_000_000]

        qtbot.waitUntil(lambda: len(this_run()) >= 2 and this_run()[0].ended_at is not None,
                        timeout=5_000)
        mine = this_run()
        assert [r.track_id for r in mine][:2] == [start, expected]
        assert mine[0].skipped == 0 and mine[0].source == "user"
        assert mine[1].source == "auto"
    finally:
        app.shutdown()
