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
    assert engine.current["id"] == pinned and engine.current_source == "user"
