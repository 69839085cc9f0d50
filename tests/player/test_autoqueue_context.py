"""The auto pick right after a logged play: the track playing now (not logged yet) joins the
last play's session, so "what usually follows" sees it (it raised KeyError and fell back)."""

from __future__ import annotations

from player.autoqueue import AutoQueue, Rules
from player.library.db import Library


def test_transitions_follow_the_playing_track(library: Library, tracks: list[int],
                                              clock, caplog) -> None:
    a, b, c = tracks[0], tracks[5], tracks[9]
    t = clock.now - 3600
    for i, track in enumerate([a, b, c, a, b]):  # a -> b twice, in one session
        lid = library.open_listen(track, t + 200 * i, "user", 7)
        library.close_listen(lid, t + 200 * i + 190, 190_000, False)
    clock.now = t + 1000  # a few minutes after the last play: the same session
    queue = AutoQueue(library, Rules(exploration=0.0, repeat_window_plays=0,
                                     repeat_window_hours=0.0), seed=1, clock=clock)
    pick = queue.pick(c)  # c plays now, unlogged; c -> a was heard once
    assert "failed" not in caplog.text
    assert pick is not None and pick.strategy == "transitions" and pick.track_id == a
