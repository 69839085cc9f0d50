"""The one rule both the engine and the stream backend follow for announced next tracks."""

from __future__ import annotations

from player.playback.announcements import Announcements


def test_a_start_forgets_every_announcement_up_to_it_and_keeps_later_ones() -> None:
    sent: Announcements[str] = Announcements()
    for tag, name in ((3, "a"), (4, "b"), (6, "c")):
        sent.add(tag, name)
    # The backend had committed to 4 before 6 was announced: 4 starts, 6 follows it.
    assert sent.started(4) == "b"
    assert 3 not in sent and 4 not in sent and sent.latest() == "c"


def test_an_unknown_start_forgets_nothing() -> None:
    sent: Announcements[str] = Announcements()
    sent.add(1, "a")
    assert sent.started(9) is None
    assert sent.latest() == "a" and 1 in sent


def test_only_the_latest_announcements_are_remembered() -> None:
    sent: Announcements[int] = Announcements(limit=3)
    for tag in range(1, 11):
        sent.add(tag, tag * 10)
    assert [t for t in range(1, 11) if t in sent] == [8, 9, 10]
    sent.clear()
    assert sent.latest() is None and sent.get(10) is None
