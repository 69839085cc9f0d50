"""The engine's queue edits: move, remove, replace; the auto pick turned down or pinned."""

from __future__ import annotations

from player.engine import Engine


def test_move_remove_and_set(engine: Engine, tracks: list[int]) -> None:
    a, b, c, d, e = tracks[:5]
    engine.enqueue([a, b, c, d, e])
    changes = []
    engine.queueChanged.connect(lambda: changes.append(list(engine.queue)))
    assert engine.move_in_queue([3], 1) == [1]  # d dropped before b
    assert engine.queue == [a, d, b, c, e]
    assert engine.move_in_queue([0, 2], 5) == [3, 4]  # a and b to the end, in order
    assert engine.queue == [d, c, e, a, b]
    assert engine.move_up([2, 3]) == [1, 2]
    assert engine.queue == [d, e, a, c, b]
    assert engine.move_up([0]) == [0] and engine.queue == [d, e, a, c, b]  # the top stays
    assert engine.move_down([3]) == [4]
    assert engine.queue == [d, e, a, b, c]
    engine.remove_indices([0, 4, 17])
    assert engine.queue == [e, a, b]
    engine.set_queue([b])
    assert engine.queue == [b] and len(changes) == 6


def test_another_pick_and_pin(engine: Engine, tracks: list[int]) -> None:
    engine.play_track(tracks[0])
    first = engine.auto_pick
    assert first is not None
    engine.another_pick()
    second = engine.auto_pick
    assert second is not None and second.track_id != first.track_id
    engine.another_pick()
    assert engine.auto_pick.track_id not in (first.track_id, second.track_id)
    pinned = engine.auto_pick.track_id
    assert engine.pin_pick()
    assert engine.queue == [pinned]
    assert engine.auto_pick is not None and engine.auto_pick.track_id != pinned
    engine.next()  # the pinned track plays, as queued
    assert engine.current.id == pinned and engine.current_source == "user"


def test_turning_down_every_pick_of_a_small_library_never_stops_the_music(
        library, backend, clock, tmp_path) -> None:
    from player.autoqueue import AutoQueue, Rules
    from tests.player.conftest import add_placeholder_tracks

    ids = add_placeholder_tracks(library, tmp_path / "small", [
        {"artist": f"Artist {i}"} for i in range(3)])
    aq = AutoQueue(library, Rules(exploration=0.0), seed=1, clock=clock)
    eng = Engine(library, backend, aq, clock=clock, background_picks=False)
    try:
        eng.play_track(ids[0])
        seen = set()
        for _ in range(4):  # more "another pick" than there are other tracks
            assert eng.auto_pick is not None
            seen.add(eng.auto_pick.track_id)
            eng.another_pick()
        assert seen == {ids[1], ids[2]}
        assert eng.auto_pick is not None  # something still follows
        eng.next()
        assert eng.current is not None and eng.current.id != ids[0]
    finally:
        eng.shutdown()


def test_a_removed_folder_leaves_the_queue_and_the_pick_at_once(
        library, backend, clock, tmp_path, qtbot) -> None:
    """The pick must not stay on show (and announced to the backend) while its replacement
    is chosen in the background: it may be a song that has just left the library."""
    from player.autoqueue import AutoQueue, Rules
    from player.library import folders
    from tests.player.conftest import add_placeholder_tracks

    kept = add_placeholder_tracks(library, tmp_path / "kept", [{"artist": "Kept"}])
    library.add_root(tmp_path / "kept")
    library.add_root(tmp_path / "gone")
    gone = [t for t in add_placeholder_tracks(
        library, tmp_path / "gone", [{"artist": f"Gone {i}"} for i in range(6)])
        if t not in kept]
    aq = AutoQueue(library, Rules(exploration=0.0), seed=1, clock=clock)
    eng = Engine(library, backend, aq, clock=clock, background_picks=True)
    try:
        eng.play_track(kept[0])
        qtbot.waitUntil(lambda: eng.auto_pick is not None, timeout=10_000)
        assert eng.auto_pick.track_id in gone
        eng.enqueue([gone[0], kept[0], gone[1]])
        folders.remove_folder(library, tmp_path / "gone")

        eng.forget_removed_tracks()

        assert eng.queue == [kept[0]]
        assert eng.auto_pick is None or eng.auto_pick.track_id not in gone
    finally:
        eng.shutdown()
