"""The model in the player: training data, Retrain now, fine-tunes, model picks, fallbacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from player.app import SegueApp
from player.autoqueue import AutoQueue, Rules
from player.bridge import (ModelHolder, ModelPicker, NotEnoughHistory, finetune, train,
                           training_data)
from player.engine import Engine
from player.history import ListenLog
from player.library.db import Library
from player.playback.null import NullBackend
from tests.learning.conftest import PER_ALBUM
from tests.player.conftest import FakeClock, add_placeholder_tracks


def test_training_data_sessions_skips_and_imports(library: Library, habit_library) -> None:
    rows = [{"track_id": None, "started_at": 1.0, "ended_at": 200.0, "played_ms": 199_000,
             "skipped": 0, "artist": "Some One", "title": "Elsewhere", "import_key": "k1"},
            {"track_id": habit_library[0], "started_at": 300.0, "ended_at": 480.0,
             "played_ms": 180_000, "skipped": 0, "artist": "Band 0", "title": "Song 0-0",
             "import_key": "k2"}]
    library.add_imported_listens(rows, 1800)
    library.save_playlist("mix", "/p.m3u", [(habit_library[5], None, None),
                                            (habit_library[9], None, None), (None, "x", "y")])
    data = training_data(library)
    assert data.playlists == 1 and [e.track for e in data.sessions[0]] == [habit_library[5],
                                                                           habit_library[9]]
    imported = data.sessions[1]  # the oldest listens come first
    assert [e.track for e in imported] == ["~some one|elsewhere", habit_library[0]]
    assert len(data.sessions) == 1 + 1 + 40  # playlist, the import session, 40 albums
    assert sum(e.skipped for s in data.sessions for e in s) > 0  # skips kept as a signal
    assert data.metadata[habit_library[1]] == {"artist": "Band 1", "album": "Record 1",
                                               "genre": "Jazz", "year": None}
    assert dict(data.metadata.items())[habit_library[1]]["loudness"] is None  # not analysed


def test_one_definition_of_sessions_and_skips(library: Library, tmp_path: Path) -> None:
    """The listening log, the importer and the recommender share one skip rule and one
    session rule (recommender.logs); the bridge trusts the stored session ids."""
    import player.history
    import player.importer
    import recommender.logs

    assert player.history.is_skip is recommender.logs.is_skip
    assert player.importer.is_skip is recommender.logs.is_skip
    assert player.history.SESSION_GAP_S is recommender.logs.SESSION_GAP_S
    assert recommender.logs.is_skip(20_000) and not recommender.logs.is_skip(20_000, 30_000)
    assert not recommender.logs.is_skip(1_000, completed=True)
    (a, b) = add_placeholder_tracks(library, tmp_path / "f", [{"artist": "A"}, {"artist": "B"}])
    clock = FakeClock()
    log = ListenLog(library, clock)
    for track, pause in ((a, 60), (b, 31 * 60), (a, 60)):  # a b | a: the gap cuts
        log.start(track, "user", 180_000)
        log.heard(180_000)
        clock.tick(180)
        log.finish(completed=True)
        clock.tick(pause)
    data = training_data(library)
    assert [[e.track for e in s] for s in data.sessions] == [[a, b], [a]]
    ids = [r.session_id for r in library.listens()]
    assert ids[0] == ids[1] != ids[2]
    # The stored session is the truth: rows moved closer in time stay apart.
    library.db.conn.execute("UPDATE listens SET started_at = started_at - 1800 WHERE id = ?",
                            (library.listens()[-1].id,))
    library.db.conn.commit()
    assert len(training_data(library).sessions) == 2


def test_training_reads_the_latest_listens_only(library: Library, tmp_path: Path) -> None:
    """A huge history is learned from its latest ``max_listens`` listens (in time order)."""
    tracks = add_placeholder_tracks(library, tmp_path / "f", [{"artist": f"A{i}"}
                                                              for i in range(6)])
    clock = FakeClock()
    log = ListenLog(library, clock)
    for track in tracks:
        log.start(track, "user", 180_000)
        log.heard(180_000)
        clock.tick(180)
        log.finish(completed=True)
    latest = training_data(library, max_listens=4)
    assert [e.track for s in latest.sessions for e in s] == tracks[2:]
    assert latest.plays == 4 and latest.last_listen_id == training_data(library).last_listen_id
    assert [e.track for s in training_data(library).sessions for e in s] == tracks


@pytest.mark.slow
def test_train_measures_saves_and_beats_the_baselines(library: Library, habit_library,
                                                      data_dir: Path) -> None:
    phases = []
    model, result = train(library, data_dir, progress=phases.append)
    assert (data_dir / "model.pt").exists() and result.mode == "full"
    held = result.heldout
    assert set(held) == {"gru", "recent", "markov"} and result.targets > 20
    assert held["gru"]["hr@20"] >= held["recent"]["hr@20"]
    assert held["gru"]["mrr@20"] >= 0.8  # mixes in order: the next track is near certain
    fractions = [e.fraction for e in phases]
    assert fractions == sorted(fractions) and fractions[-1] >= 0.9
    assert any(e.loss is not None for e in phases)  # losses for the plot
    learn = [e.fraction for e in phases if e.phase == "learn"]
    assert len(set(learn)) > 1  # the tail's training moves the bar too
    loaded = ModelHolder(data_dir).load()
    assert loaded is not None and set(habit_library) <= set(loaded.known_tracks())


def test_too_little_history(library: Library, data_dir: Path) -> None:
    with pytest.raises(NotEnoughHistory):
        train(library, data_dir)


@pytest.mark.slow
def test_the_models_pick_is_what_plays_next(library: Library, habit_library, data_dir: Path,
                                            qapp) -> None:
    model, _ = train(library, data_dir)
    holder = ModelHolder(data_dir)
    holder.set(model)
    clock = FakeClock(1_700_000_000.0)
    backend = NullBackend(duration_of=lambda p: 180_000)
    rules = Rules(repeat_window_plays=0, repeat_window_hours=0, exploration=0.0)
    engine = Engine(library, backend, AutoQueue(library, rules,
                                                model_picker=ModelPicker(holder), clock=clock),
                    clock=clock, background_picks=False)
    try:
        start = habit_library[2 * PER_ALBUM + 3]  # mid-mix: the mix's next track follows
        engine.play_track(start)
        pick = engine.auto_pick
        assert pick.strategy == "model" and pick.track_id == habit_library[2 * PER_ALBUM + 4]
        assert pick.reason.startswith("because you played") and "Song 2-3" in pick.reason
        backend.advance(180_000)
        assert engine.current.id == pick.track_id and engine.current_source == "auto"
    finally:
        engine.shutdown()


def test_litter_of_a_killed_save_is_removed(data_dir: Path) -> None:
    import fcntl
    import os

    killed = data_dir / ".model.pt.abc123.tmp"
    writing = data_dir / ".model.pt.def456.tmp"
    for path in (killed, writing):
        path.write_bytes(b"half a checkpoint")
    fd = os.open(writing, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a save in progress holds it
        assert ModelHolder(data_dir).load() is None  # no model, and no error
        assert not killed.exists()  # at once, however recent: its writer is gone
        assert writing.exists()  # a save in progress is left alone
    finally:
        os.close(fd)


def test_corrupt_checkpoint_falls_back(library: Library, habit_library, data_dir: Path,
                                       qapp) -> None:
    (data_dir / "model.pt").write_bytes(b"PK\x03\x04 not really a checkpoint" * 10)
    holder = ModelHolder(data_dir)
    assert holder.load() is None and "checkpoint" in holder.load_error.lower()
    backend = NullBackend(duration_of=lambda p: 180_000)
    engine = Engine(library, backend, AutoQueue(library, model_picker=ModelPicker(holder)),
                    background_picks=False)
    try:
        engine.play_track(habit_library[0])
        assert engine.auto_pick is not None and engine.auto_pick.strategy != "model"
    finally:
        engine.shutdown()


@pytest.mark.slow
def test_finetune_after_new_listens_grows_the_vocabulary(
        library: Library, habit_library, data_dir: Path, tmp_path: Path, qtbot) -> None:
    train(library, data_dir)
    app = SegueApp(data_dir, backend_factory=lambda: NullBackend(
        duration_of=lambda p: 60_000), enable_mpris=False)
    qtbot.addWidget(app.window)
    try:
        app.learning.finetune_every = 3
        app.start_playback()
        qtbot.waitUntil(lambda: app.learning.loaded, timeout=30_000)
        before = app.learning.holder.get()
        new_file = tmp_path / "new.mp3"
        new_file.write_bytes(b"")
        library.add_tracks([{"path": str(new_file), "mtime": 1.0, "size": 0,
                             "title": "Brand New", "artist": "Band 1", "album": "Record 1",
                             "duration_ms": 60_000}])
        new_id = library.track_by_path(str(new_file)).id
        assert new_id not in before.known_tracks()
        for track in (new_id, habit_library[0], habit_library[1]):
            app.engine.play_track(track)
            app.engine.backend.advance(60_000)
        qtbot.waitUntil(lambda: app.learning.holder.get() is not before, timeout=30_000)
        after = app.learning.holder.get()
        assert new_id in after.known_tracks()
        assert app.learning.holder.status()["last_listen_id"] > before.metrics[
            "segue_last_listen_id"]
        qtbot.waitUntil(lambda: app.learning.job is None, timeout=10_000)
        assert "trained on" in app.window.model_status.text()
    finally:
        app.shutdown()


@pytest.mark.slow
def test_new_tracks_of_known_artists_join_without_listens(library: Library, habit_library,
                                                           data_dir: Path, tmp_path: Path) -> None:
    model, _ = train(library, data_dir)
    assert finetune(library, data_dir, model) is None  # nothing new at all
    fresh = add_placeholder_tracks(library, tmp_path / "fresh", [
        {"artist": "Band 1", "album": "A New Record", "title": "Brand New"},
        {"artist": "Nobody Heard", "album": "Unknown Pleasures", "title": "Stranger"}])[-2:]
    new, result = finetune(library, data_dir, model)
    assert result.plays == 0
    # Both are scored from what the library knows of them (no training): the artist of
    # the first is one the model knows, the second's nobody heard - they score apart.
    assert {fresh[0], fresh[1]} <= set(new.known_tracks())
    assert fresh[0] not in new.learned_tracks()
    assert fresh[0] not in model.known_tracks()  # the loaded model itself is not modified
    band1 = [t for t in habit_library if library.track(t).artist == "Band 1"]
    probs = dict(new.recommend(band1[:3], k=len(new.known_tracks())))
    assert 0 < probs[fresh[0]] < 1 and 0 < probs[fresh[1]] < 1
    assert probs[fresh[0]] != probs[fresh[1]]
    # The saved checkpoint has it too: the player's next load picks it up.
    assert fresh[0] in ModelHolder(data_dir).load().known_tracks()


@pytest.mark.slow
def test_cli_train_and_next(library: Library, habit_library, data_dir: Path) -> None:
    run = [sys.executable, "-m", "player", "--data-dir", str(data_dir)]
    out = json.loads(subprocess.run([*run, "train", "--json"], capture_output=True, text=True,
                                    check=True, timeout=300).stdout)
    assert out["mode"] == "full" and out["heldout"]["gru"]["hr@20"] > 0.5
    again = json.loads(subprocess.run([*run, "train", "--json"], capture_output=True,
                                      text=True, check=True, timeout=300).stdout)
    assert again["mode"] == "unchanged"  # nothing new to learn
    words = subprocess.run([*run, "train"], capture_output=True, text=True, check=True,
                           timeout=300).stdout
    assert words.startswith("The model is up to date: no new listens since it was trained.")
    assert "0 listens in 0.0 s" not in words
    picks = json.loads(subprocess.run([*run, "next", "-n", "5", "--json"], capture_output=True,
                                      text=True, check=True, timeout=300).stdout)["next"]
    assert len(picks) == 5
    assert set(picks[0]) >= {"track_id", "path", "artist", "title", "score", "reason"}
    assert picks[0]["score"] >= picks[-1]["score"]


@pytest.mark.slow
def test_a_trained_model_plays_a_small_library_round(library: Library, data_dir: Path,
                                                     tmp_path: Path) -> None:
    """Issue 12, item 10, with the real model: on 24 tracks whose history is mostly two
    favourites played in turn, hands-free play goes round the library (least recently
    played first once the repeat window covers it all) instead of 23 15 23 17 23 15..."""
    from collections import Counter

    ids = add_placeholder_tracks(library, tmp_path / "files",
                                 [{"artist": f"A{i % 8}", "title": f"T{i}"} for i in range(24)])
    fav_a, fav_b = ids[22], ids[14]
    clock = FakeClock(1_600_000_000.0)
    log = ListenLog(library, clock)
    for s in range(40):  # sessions of the two favourites in turn, another track now and then
        for i in range(8):
            track = (fav_a, fav_b)[i % 2] if i % 4 else ids[(s + i) % 24]
            log.start(track, "user", 180_000)
            log.heard(180_000)
            clock.tick(180)
            log.finish(completed=True)
        clock.tick(2 * 3600)
    model, _ = train(library, data_dir)
    holder = ModelHolder(data_dir)
    holder.set(model)
    assert {t for t, _ in model.recommend([fav_a], k=3)} & {fav_a, fav_b}  # it loves them
    aq = AutoQueue(library, Rules(exploration=0.0), model_picker=ModelPicker(holder),
                   clock=clock)
    current, picks = fav_a, []
    for _ in range(72):
        pick = aq.pick(current)
        assert pick is not None
        log.start(pick.track_id, "auto", 180_000)
        log.heard(180_000)
        clock.tick(180)
        log.finish(completed=True)
        current = pick.track_id
        picks.append(current)
    gaps = [j - i for t in set(picks) for i, j in
            zip([k for k, p in enumerate(picks) if p == t],
                [k for k, p in enumerate(picks) if p == t][1:])]
    assert min(gaps) >= 12  # never back within half the library
    assert len(set(picks)) == 24 and max(Counter(picks).values()) <= 6
