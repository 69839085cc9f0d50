"""The track table of a library too big to search in memory (issue 12, item 12): searches go
through the search index (``tracks_fts``) and the browser's order held as arrays, the same
answers as a small library gives, typed into the real window. "Big" is made small here
(``SearchIndex.MAX_TRACKS = 0``): the path is the one 1.5M tracks take (``python -m bench
browse --tracks 1500000`` measures its speed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from player.library.db import Library, TrackFilter
from player.ui.library_model import SearchIndex
from tests.player.test_browser import _browse_template, app, settle, titles  # noqa: F401

pytestmark = pytest.mark.usefixtures("_browse_template")


@pytest.fixture
def big(app, qtbot, monkeypatch: pytest.MonkeyPatch):  # noqa: F811 - the fixture imported
    """The app, its library searched as a big one's is; the index's answers counted."""
    monkeypatch.setattr(SearchIndex, "MAX_TRACKS", 0)
    calls: list[str] = []
    real = Library.search_ids

    def counted(self: Library, text: str):
        found = real(self, text)
        calls.append(text if found is not None else f"not ready: {text}")
        return found

    monkeypatch.setattr(Library, "search_ids", counted)
    app.window.model.reload(changed=True)  # the query thread forgets what it held
    settle(app.window, qtbot)
    app.index_calls = calls
    return app


def _type(win, qtbot, text: str) -> None:
    win.search.setFocus()
    win.search.clear()
    QTest.keyClicks(win.search, text)
    qtbot.waitUntil(lambda: win.model.filter_text() == text and not win.model.busy(),
                    timeout=10_000)


@pytest.mark.parametrize(("typed", "found"), [
    ("gods", ["God's Own"]),
    ("sandras", ["Sandra’s Song"]),
    ("GOD'S", ["God's Own"]),
    ("rock and roll", ["Rock-and-Roll"]),
    ("rockandroll", ["Rock-and-Roll"]),
    ("comp", ["Comp One", "Comp Two", "Comp Three"]),  # in album order
    ("co th", ["Comp Three"]),  # short words: the start of a word
    ("zzqx", []),
])
def test_a_big_librarys_search_goes_through_the_index(big, qtbot, typed, found) -> None:
    win = big.window
    _type(win, qtbot, typed)
    assert titles(win) == found
    assert typed in big.index_calls  # answered by the index, not a scan
    assert all(type(t) is int for t in win.model.track_ids(list(range(win.model.total()))))


def test_a_big_librarys_lists_follow_the_library(big, qtbot) -> None:
    """All music in the browser's order, a search in reverse, a missing track left out."""
    win, library = big.window, big.library
    everything = win.model.track_ids(list(range(win.model.total())))
    assert everything == library.browse_track_ids(TrackFilter())
    _type(win, qtbot, "comp")
    win.model.sort(1, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: not win.model.busy(), timeout=10_000)
    assert titles(win) == ["Comp Three", "Comp Two", "Comp One"]
    win.model.sort(1)  # the browser's order (Artist), ascending
    qtbot.waitUntil(lambda: not win.model.busy(), timeout=10_000)
    assert titles(win) == ["Comp One", "Comp Two", "Comp Three"]
    (two,) = [t for t in win.model.track_ids([0, 1, 2]) if library.track(t).title == "Comp Two"]
    library.set_missing([two], True)
    win.model.reload(changed=True)
    qtbot.waitUntil(lambda: not win.model.busy(), timeout=10_000)
    assert titles(win) == ["Comp One", "Comp Three"]
    assert win.model.row_of(two) is None and win.model.row_of(win.model.track_id(1)) == 1


def test_until_the_index_is_built_a_big_library_is_searched_by_a_scan(big, qtbot,
                                                                      tmp_path: Path) -> None:
    win, library = big.window, big.library
    library.db.conn.execute("UPDATE search_index SET built_upto = 0")
    _type(win, qtbot, "gods")
    assert titles(win) == ["God's Own"] and "not ready: gods" in big.index_calls
    with qtbot.waitSignal(big.library_service.searchIndexReady, timeout=10_000):
        assert big.library_service.build_search_index() is not None
    _type(win, qtbot, "sandras")
    assert titles(win) == ["Sandra’s Song"] and "sandras" in big.index_calls


def test_sorting_by_plays_counts_completed_plays_only(big, qtbot) -> None:
    win, library = big.window, big.library
    order = library.browse_track_ids(TrackFilter())
    first, second, third = order[4], order[7], order[1]
    at = 1_700_000_000.0
    for track_id, skipped in [(first, False), (first, False), (second, False), (third, True),
                              (third, True), (third, True)]:
        lid = library.open_listen(track_id, at, "user", 1)
        library.close_listen(lid, at + 200, 200_000, skipped)
        at += 300
    counts = library.play_count_array()
    assert {t: int(counts[t]) for t in order if t < len(counts) and counts[t]} == \
        library.play_counts() == {first: 2, second: 1}
    win.model.sort(4, Qt.SortOrder.DescendingOrder)
    qtbot.waitUntil(lambda: not win.model.busy(), timeout=10_000)
    shown = win.model.track_ids(list(range(win.model.total())))
    # Most played first; the rest (skips are not plays) in the browser's order.
    assert shown == [first, second, *[t for t in order if t not in (first, second)]]


def test_a_big_librarys_short_words_match_word_starts_in_every_order(big, qtbot) -> None:
    win = big.window
    for typed, found in [("co th", ["Comp Three"]), ("om", []), ("comp th", ["Comp Three"])]:
        _type(win, qtbot, typed)
        assert titles(win) == found, typed
        win.model.sort(0)  # by title: the same rule through SQL
        qtbot.waitUntil(lambda: not win.model.busy(), timeout=10_000)
        assert titles(win) == found, typed
        win.model.sort(1)
        qtbot.waitUntil(lambda: not win.model.busy(), timeout=10_000)
