"""The library browser as a user meets it: a real library of tagged files, the real window.

Artists → albums (a compilation under "Various Artists"), covers, search keys, album play in
order then the auto-queue, "Start radio", the list that does not jump, elision, 760 px.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtTest import QTest

import player.ui.browser_covers as browser_covers
from player.audiogen import TrackSpec, make_library
from player.library.db import Library, TrackFilter, browse_keys, search_fold
from player.library.scanner import scan_folders
from player.ui.browser import elide_words
from tests.player.conftest import add_placeholder_tracks, make_app

LONG_TITLE = "A Remarkably Long Title About Walking Home Through the Rain at Midnight"

#: Two artists' albums (one on two discs, numbered out of file order), a compilation of three
#: performers, apostrophes straight and curly.
BROWSE_TRACKS = [
    ("Beta/Second/d2t1", "mp3", TrackSpec("Disc Two Opener", "Beta", "Second", None, "1",
                                          "2/2", date="2001", seconds=0.4, pitch=300)),
    ("Beta/Second/d1t2", "mp3", TrackSpec("God's Own", "Beta", "Second", None, "2", "1/2",
                                          date="2001", seconds=0.4, pitch=310, cover=True,
                                          cover_rgb=(30, 90, 200))),
    ("Beta/Second/d1t1", "flac", TrackSpec("First Light", "Beta", "Second", None, "1", "1/2",
                                           date="2001", seconds=0.4, pitch=320)),
    ("Beta/First/01", "mp3", TrackSpec(LONG_TITLE, "Beta", "First", None, "1", date="1999",
                                       seconds=0.4, pitch=330)),
    ("Alpha/Only/01", "vorbis", TrackSpec("Sandra’s Song", "Alpha", "Only", None, "1",
                                          date="2010", seconds=0.4, pitch=340)),
    ("Alpha/Only/02", "vorbis", TrackSpec("Rock-and-Roll", "Alpha", "Only", None, "2",
                                          date="2010", seconds=0.4, pitch=350)),
    ("VA/Hits/01", "mp3", TrackSpec("Comp One", "Gamma", "Hits", "Various Artists", "1",
                                    date="2005", seconds=0.4, pitch=360, cover=True)),
    ("VA/Hits/02", "mp3", TrackSpec("Comp Two", "Delta", "Hits", "Various Artists", "2",
                                    date="2005", seconds=0.4, pitch=370)),
    ("VA/Hits/03", "mp3", TrackSpec("Comp Three", "Alpha", "Hits", "Various Artists", "3",
                                    date="2005", seconds=0.4, pitch=380)),
]


@pytest.fixture(scope="module")
def _browse_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browse") / "music"
    make_library(folder, BROWSE_TRACKS)
    return folder


@pytest.fixture
def app(_browse_template: Path, data_dir: Path, tmp_path: Path, qtbot):
    import shutil

    music = tmp_path / "music"
    shutil.copytree(_browse_template, music)
    lib = Library.open(data_dir)
    scan_folders(lib, [music])
    lib.close()
    segue = make_app(data_dir, qtbot)
    settle(segue.window, qtbot)
    yield segue
    segue.shutdown()


def settle(win, qtbot) -> None:
    """Wait until the table and the artists have their answers (queries run on threads)."""
    qtbot.waitUntil(lambda: not win.browser.busy(), timeout=10_000)


def titles(win) -> list[str]:
    return [win.model.index(r, 0).data() for r in range(win.model.rowCount())]


def tree_row(win, text: str, parent=None):
    model = win.browser.tree_model
    from PySide6.QtCore import QModelIndex

    parent = parent or QModelIndex()
    for r in range(model.rowCount(parent)):
        index = model.index(r, 0, parent)
        if index.data() == text:
            win.browser.tree.expand(index)  # as a user opens it: its albums are read
            return index
    shown = [model.index(r, 0, parent).data() for r in range(model.rowCount(parent))]
    raise AssertionError(f"{text!r} not in {shown}")


def click(view, index) -> None:
    view.scrollTo(index)
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.visualRect(index).center())


# -- folding ---------------------------------------------------------------------------------

def test_search_folding_drops_case_accents_and_punctuation() -> None:
    assert search_fold("God's") == search_fold("GODS") == "gods"
    assert search_fold("Sandra’s") == "sandras"
    assert search_fold("Jay-Z") == "jayz" and search_fold("“Björk”") == "bjork"
    assert search_fold("Simon & Garfunkel") == "simon garfunkel"
    assert browse_keys({"albumartist": "V.A.", "artist": "X", "album": "Hits!"}) == (
        "various artists", "hits")
    assert browse_keys({"artist": "Alpha", "album": None}) == ("alpha", "")


# -- the tree --------------------------------------------------------------------------------

def test_tree_lists_album_artists_with_the_compilation_together(app, qtbot) -> None:
    win = app.window
    model = win.browser.tree_model
    top = [model.index(r, 0).data() for r in range(model.rowCount())]
    # Everything, then Various Artists, then artists (Gamma and Delta only sing on the
    # compilation: they have no entry of their own).
    assert top == ["All music", "Various Artists", "Alpha", "Beta"]
    various = tree_row(win, "Various Artists")
    hits = tree_row(win, "Hits (2005)", various)
    click(win.browser.tree, hits)
    settle(win, qtbot)
    assert titles(win) == ["Comp One", "Comp Two", "Comp Three"]
    # An artist's albums oldest first; the album's tracks by disc, then number.
    beta = tree_row(win, "Beta")
    assert [model.index(r, 0, beta).data() for r in range(model.rowCount(beta))] == [
        "First (1999)", "Second (2001)"]
    click(win.browser.tree, tree_row(win, "Second (2001)", beta))
    settle(win, qtbot)
    assert titles(win) == ["First Light", "God's Own", "Disc Two Opener"]
    click(win.browser.tree, beta)
    settle(win, qtbot)
    assert win.model.total() == 4 and win.count_label.text() == "4 tracks"
    click(win.browser.tree, tree_row(win, "All music"))
    settle(win, qtbot)
    assert win.model.total() == len(BROWSE_TRACKS)


def test_a_compilation_flagged_without_album_artist_is_under_various_artists(
        data_dir: Path, tmp_path: Path, qtbot) -> None:
    """Only the compilation flag (ID3 TCMP, Vorbis COMPILATION=1 in FLAC and Ogg), no album
    artist: one album under Various Artists, its performers without entries of their own."""
    music = tmp_path / "music"
    make_library(music, [
        ("Hits/01", "mp3", TrackSpec("Comp One", "Gamma", "Summer Hits", None, "1",
                                     seconds=0.3, pitch=300, compilation=True)),
        ("Hits/02", "flac", TrackSpec("Comp Two", "Delta", "Summer Hits", None, "2",
                                      seconds=0.3, pitch=310, compilation=True)),
        ("Hits/03", "vorbis", TrackSpec("Comp Three", "Alpha", "Summer Hits", None, "3",
                                        seconds=0.3, pitch=320, compilation=True)),
        ("Alpha/01", "mp3", TrackSpec("Alpha Solo", "Alpha", "Alone", None, "1",
                                      seconds=0.3, pitch=330)),
    ])
    lib = Library.open(data_dir)
    scan_folders(lib, [music])
    lib.close()
    app = make_app(data_dir, qtbot)
    try:
        win = app.window
        settle(win, qtbot)
        model = win.browser.tree_model
        top = [model.index(r, 0).data() for r in range(model.rowCount())]
        assert top == ["All music", "Various Artists", "Alpha"]
        hits = tree_row(win, "Summer Hits", tree_row(win, "Various Artists"))
        assert "Various Artists" in hits.data(Qt.ItemDataRole.ToolTipRole)
        click(win.browser.tree, hits)
        settle(win, qtbot)
        assert titles(win) == ["Comp One", "Comp Two", "Comp Three"]
    finally:
        app.shutdown()


@pytest.mark.parametrize("grouped", [False, True])
def test_the_tree_is_a_sound_qt_model_flat_or_by_letter(app, qtbot, qtmodeltester, monkeypatch,
                                                         grouped) -> None:
    """A big library's first level is letters (fewer rows to lay out): shown here with the
    threshold lowered to this library's size."""
    import player.ui.browser as browser_mod

    win = app.window
    if grouped:
        monkeypatch.setattr(browser_mod, "GROUP_OVER", 2)
        win.browser.tree_model.reload()
        settle(win, qtbot)
    model = win.browser.tree_model
    qtmodeltester.check(model)
    top = [model.index(r, 0).data() for r in range(model.rowCount())]
    if not grouped:
        assert top == ["All music", "Various Artists", "Alpha", "Beta"]
        return
    assert top == ["All music", "Various Artists", "A  (1)", "B  (1)"]
    various = model.index(1, 0)  # a compilation's albums right under it, no letter between
    assert model.artist_at(various).key == "various artists"
    assert model.index(0, 0, various).data() == "Hits (2005)"
    assert model.parent(model.index(0, 0, various)) == various
    assert model.find_artist("various artists") == various
    letter_b = model.index(3, 0)
    beta = model.index(0, 0, letter_b)
    assert beta.data() == "Beta" and model.parent(beta) == letter_b
    assert model.artist_at(beta).key == "beta" and model.find_artist("beta") == beta
    second = model.index(1, 0, beta)
    assert second.data() == "Second (2001)" and model.parent(second) == beta
    click(win.browser.tree, letter_b)  # a letter shows its artists' tracks, not everything
    settle(win, qtbot)
    assert titles(win) == [LONG_TITLE, "First Light", "God's Own", "Disc Two Opener"]
    assert win.count_label.text() == "4 tracks"
    click(win.browser.tree, model.index(2, 0))  # A: Alpha's album, not their compilation song
    settle(win, qtbot)
    assert titles(win) == ["Sandra’s Song", "Rock-and-Roll"]
    win.browser.tree.expand(letter_b)
    win.browser.tree.expand(beta)
    click(win.browser.tree, second)
    settle(win, qtbot)
    assert titles(win) == ["First Light", "God's Own", "Disc Two Opener"]


def test_a_letter_lists_its_artists_and_never_various_artists(data_dir: Path, tmp_path: Path,
                                                              qtbot, monkeypatch) -> None:
    """V of a big library: Vangelis and Vivaldi, not the compilations whose key ("various
    artists") sorts between them; a search from there looks through everything again; a
    rescan that adds a V artist keeps the letter, with them."""
    import player.ui.browser as browser_mod

    monkeypatch.setattr(browser_mod, "GROUP_OVER", 2)
    lib = Library.open(data_dir)
    add_placeholder_tracks(lib, tmp_path / "files", [
        {"artist": "Vangelis", "album": "Chariots", "track_number": 1},
        {"artist": "Vivaldi", "album": "Seasons", "track_number": 1},
        {"artist": "Gamma", "albumartist": "Various Artists", "album": "Hits", "track_number": 1},
        {"artist": "Abba", "album": "Gold", "track_number": 1},
        {"artist": "Zappa", "album": "Apostrophe", "track_number": 1},
    ])
    lib.close()
    app = make_app(data_dir, qtbot)
    try:
        win = app.window
        settle(win, qtbot)
        model = win.browser.tree_model
        top = [model.index(r, 0).data() for r in range(model.rowCount())]
        assert top == ["All music", "Various Artists", "A  (1)", "V  (2)", "Z  (1)"]
        click(win.browser.tree, model.index(3, 0))
        settle(win, qtbot)
        assert titles(win) == ["T0", "T1"]  # Vangelis, Vivaldi
        win.search.setText("t")  # a search covers the whole library again
        settle(win, qtbot)
        assert win.model.total() == 5 and win.browser.tree.currentIndex().row() == 0
        click(win.browser.tree, model.index(3, 0))  # and the letter clears the search
        settle(win, qtbot)
        assert win.search.text() == "" and titles(win) == ["T0", "T1"]
        add_placeholder_tracks(app.library, tmp_path / "more", [
            {"artist": "Vivid", "album": "New", "track_number": 1}])
        win.browser.reload()
        settle(win, qtbot)
        assert model.index(3, 0).data() == "V  (3)"
        assert win.browser.tree.currentIndex() == model.index(3, 0)
        assert titles(win) == ["T0", "T1", "T0"]  # Vangelis, Vivaldi, Vivid
    finally:
        app.shutdown()


def test_playing_an_album_plays_it_in_order_then_the_auto_queue_continues(app, qtbot) -> None:
    win, engine = app.window, app.engine
    beta = tree_row(win, "Beta")
    second = tree_row(win, "Second (2001)", beta)
    click(win.browser.tree, second)  # Qt 6's view wants the press before the double-click
    QTest.mouseDClick(win.browser.tree.viewport(), Qt.MouseButton.LeftButton,
                      pos=win.browser.tree.visualRect(second).center())
    order = ["First Light", "God's Own", "Disc Two Opener"]
    heard = [engine.current.title]
    assert engine.current_source == "user"
    for _ in order[1:]:
        engine.next()
        heard.append(engine.current.title)
    assert heard == order
    assert engine.queue == []
    qtbot.waitUntil(lambda: engine.auto_pick is not None, timeout=10_000)
    engine.next()  # the album is over: the auto-queue carries on
    qtbot.waitUntil(lambda: engine.current_source == "auto", timeout=10_000)


def test_enter_on_an_artist_plays_their_albums_in_order(app, qtbot) -> None:
    win, engine = app.window, app.engine
    tree = win.browser.tree
    tree.setFocus()
    tree.setCurrentIndex(tree_row(win, "Beta"))
    QTest.keyClick(tree, Qt.Key.Key_Return)
    titles_queued = [engine.library.track(t).title for t in engine.queue]
    assert [engine.current.title, *titles_queued] == [
        LONG_TITLE, "First Light", "God's Own", "Disc Two Opener"]


def test_album_covers_load_off_the_gui_thread(app, qtbot, monkeypatch) -> None:
    win = app.window
    threads: list[bool] = []
    real = browser_covers.load_thumbnail

    def spy(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(browser_covers, "load_thumbnail", spy)
    various = tree_row(win, "Various Artists")
    win.browser.tree.expand(various)
    hits = tree_row(win, "Hits (2005)", various)
    model = win.browser.tree_model
    first = model.data(hits, Qt.ItemDataRole.DecorationRole)
    assert first is None  # asked, not loaded yet: the GUI thread does not wait
    qtbot.waitUntil(lambda: model.data(hits, Qt.ItemDataRole.DecorationRole) is not None,
                    timeout=10_000)
    pixmap = model.data(hits, Qt.ItemDataRole.DecorationRole)
    assert max(pixmap.width(), pixmap.height()) <= 2 * 40
    color = pixmap.toImage().pixelColor(pixmap.width() // 2, pixmap.height() // 2)
    assert (color.red(), color.green(), color.blue()) == (200, 80, 40)  # the embedded PNG
    assert threads and not any(threads)
    # An album without any picture: looked for once, then known to have none.
    only = tree_row(win, "Only (2010)", tree_row(win, "Alpha"))
    model.data(only, Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: model.covers.known(model.album_at(only).cover_track),
                    timeout=10_000)
    assert model.data(only, Qt.ItemDataRole.DecorationRole) is None


# -- search ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("typed", "found"), [
    ("gods", ["God's Own"]),
    ("sandras", ["Sandra’s Song"]),
    ("GOD'S", ["God's Own"]),
    ("rock and roll", ["Rock-and-Roll"]),
    ("rockandroll", ["Rock-and-Roll"]),
])
def test_search_folds_case_accents_and_punctuation(app, qtbot, typed, found) -> None:
    win = app.window
    win.search.setFocus()
    QTest.keyClicks(win.search, typed)
    qtbot.waitUntil(lambda: titles(win) == found, timeout=5000)


def test_search_keys_ctrl_f_escape_down_enter_and_no_matches(app, qtbot) -> None:
    win = app.window
    win.browser.table.setFocus()
    QTest.keyClick(win, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert win.search.hasFocus()
    QTest.keyClicks(win.search, "zzqx")
    qtbot.waitUntil(lambda: win.model.filter_text() == "zzqx" and not win.model.busy(),
                    timeout=5000)
    assert win.model.total() == 0
    assert win.browser.no_results.isVisible()
    assert "No tracks match “zzqx”" in win.browser.no_results.text()
    QTest.keyClick(win.search, Qt.Key.Key_Escape)
    assert win.search.text() == ""
    qtbot.waitUntil(lambda: win.model.total() == len(BROWSE_TRACKS) and not win.model.busy(),
                    timeout=5000)
    assert not win.browser.no_results.isVisible()
    QTest.keyClicks(win.search, "comp")
    qtbot.waitUntil(lambda: win.model.total() == 3 and not win.model.busy(), timeout=5000)
    QTest.keyClick(win.search, Qt.Key.Key_Down)
    assert win.table.hasFocus()
    assert win.browser.selected_rows() == [0]
    QTest.keyClick(win, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert win.search.hasFocus() and win.search.selectedText() == "comp"
    QTest.keyClick(win.search, Qt.Key.Key_Return)  # Enter reaches the results too
    assert win.table.hasFocus() and win.browser.selected_rows() == [0]
    QTest.keyClick(win.table, Qt.Key.Key_Return)  # and Enter there plays the selection
    assert app.engine.current.title == win.model.index(0, 0).data()


def test_a_search_covers_the_whole_library_and_browsing_clears_it(app, qtbot) -> None:
    win = app.window
    click(win.browser.tree, tree_row(win, "Alpha"))
    settle(win, qtbot)
    QTest.keyClicks(win.search, "comp")
    qtbot.waitUntil(lambda: win.model.total() == 3 and not win.model.busy(), timeout=5000)
    assert win.browser.tree.currentIndex().data() == "All music"
    click(win.browser.tree, tree_row(win, "Beta"))
    settle(win, qtbot)
    assert win.search.text() == "" and win.model.total() == 4


# -- the table: sort, multi-select, radio ------------------------------------------------------

def test_sort_by_clicking_headers_and_multi_select(app, qtbot) -> None:
    win = app.window
    header = win.table.horizontalHeader()
    x = header.sectionViewportPosition(0) + 10
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    settle(win, qtbot)
    shown = titles(win)
    assert shown == sorted(shown, key=str.lower)
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    settle(win, qtbot)
    assert titles(win) == sorted(shown, key=str.lower, reverse=True)
    table = win.table
    click(table, win.model.index(1, 0))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.ControlModifier,
                     table.visualRect(win.model.index(4, 0)).center())
    assert win.browser.selected_rows() == [1, 4]
    table.setFocus()
    QTest.keyClick(table, Qt.Key.Key_Return)
    engine = app.engine
    assert engine.current.id == win.model.track_id(1)
    assert engine.queue == [win.model.track_id(4)]


def test_start_radio_from_a_track_an_artist_and_an_album(app, qtbot) -> None:
    win, engine = app.window, app.engine
    lib = engine.library
    ids = lib.browse_track_ids(TrackFilter())
    engine.enqueue(ids[:2])
    comp_two = next(t for t in ids if lib.track(t).title == "Comp Two")

    def action(menu, text):
        return next(a for a in menu.actions() if a.text() == text)

    menu = win.browser.track_menu([comp_two])
    picks: list = []
    engine.autoPickChanged.connect(picks.append)
    action(menu, "Start radio from this track").trigger()
    assert engine.current.id == comp_two and engine.queue == []
    qtbot.waitUntil(lambda: any(p is not None for p in picks), timeout=10_000)
    assert engine.auto_pick.track_id != comp_two  # the auto-queue continues from it

    # The artist of a compilation's track is its performer: Alpha's most played track.
    comp_three = next(t for t in ids if lib.track(t).title == "Comp Three")
    rock = next(t for t in ids if lib.track(t).title == "Rock-and-Roll")
    engine.play_track(rock)
    engine.next()  # (a skip: not a play)
    action(win.browser.track_menu([comp_three]), "Start radio from this artist").trigger()
    assert engine.current.title == "Sandra’s Song"  # Alpha's first, none played through
    action(win.browser.track_menu([comp_three]), "Start radio from this album").trigger()
    assert engine.current.title == "Comp One"

    beta = tree_row(win, "Beta")
    action(win.browser.tree_menu(beta), "Start radio from this artist").trigger()
    assert engine.current.title == LONG_TITLE
    second = tree_row(win, "Second (2001)", beta)
    action(win.browser.tree_menu(second), "Start radio from this album").trigger()
    assert engine.current.title == "First Light" and engine.queue == []
    assert "Radio from the album “Second”" in win.statusBar().currentMessage()


# -- no jump, elision, narrow window ---------------------------------------------------------------

def test_the_list_does_not_jump_to_the_playing_track(data_dir: Path, tmp_path: Path,
                                                    qtbot) -> None:
    lib = Library.open(data_dir)
    ids = add_placeholder_tracks(lib, tmp_path / "files", [
        {"artist": f"Artist {i // 10:03d}", "album": f"Album {i // 10}", "track_number": i % 10 + 1}
        for i in range(400)])
    lib.close()
    app = make_app(data_dir, qtbot)
    try:
        win = app.window
        settle(win, qtbot)
        bar = win.table.verticalScrollBar()
        assert bar.maximum() > 0
        bar.setValue(0)
        app.engine.play_track(ids[350])
        qtbot.wait(50)
        assert bar.value() == 0  # the user stays where they were
        QTest.keyClick(win, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)  # Show playing
        row = win.model.row_of(ids[350])
        assert bar.value() > 0
        assert win.table.viewport().rect().intersects(
            win.table.visualRect(win.model.index(row, 0)))
    finally:
        app.shutdown()


def test_long_titles_are_elided_at_word_ends(qapp) -> None:
    metrics = QFontMetrics(QFont())
    width = metrics.horizontalAdvance("A Remarkably Long Title Ab")
    cut = elide_words(LONG_TITLE, metrics, width)
    assert cut == "A Remarkably Long Title…"
    assert metrics.horizontalAdvance(cut) <= width
    assert elide_words("Short", metrics, 500) == "Short"
    one_word = elide_words("Supercalifragilisticexpialidocious", metrics, 60)
    assert one_word.endswith("…") and metrics.horizontalAdvance(one_word) <= 60


def test_a_760_px_window_keeps_duration_and_plays_in_sight(app, qtbot) -> None:
    win = app.window
    win.resize(760, 600)
    qtbot.waitUntil(lambda: win.width() == 760, timeout=3000)
    qtbot.wait(50)
    table, header = win.table, win.table.horizontalHeader()
    for col in (3, 4):  # Duration, Plays
        assert not header.isSectionHidden(col)
        assert 0 <= header.sectionViewportPosition(col)
        assert header.sectionViewportPosition(col) + header.sectionSize(col) <= \
            table.viewport().width()
    assert not table.horizontalScrollBar().isVisible()
    # The long title is elided at a word end in the cell (what the delegate paints).
    row = titles(win).index(LONG_TITLE)
    option_width = table.visualRect(win.model.index(row, 0)).width()
    assert option_width < QFontMetrics(table.font()).horizontalAdvance(LONG_TITLE)


def test_a_760_px_window_gives_the_track_table_its_room(app, qtbot) -> None:
    """Narrow, Up next slims down (its buttons on two rows, all of them still there) and
    the table gets the width: its titles, artists and albums are not cut to a word each.
    Widening the window brings the earlier layout back."""
    win = app.window
    win.resize(1180, 700)
    qtbot.waitUntil(lambda: win.width() == 1180, timeout=3000)
    qtbot.wait(50)
    wide_sizes = win.main_splitter.sizes()
    queue, table, header = win.queue_view, win.table, win.table.horizontalHeader()
    win.resize(760, 600)
    qtbot.waitUntil(lambda: win.width() == 760, timeout=3000)
    qtbot.wait(50)
    text_columns = [header.sectionSize(col) for col in range(3)]  # title, artist, album
    assert min(text_columns) >= 90, text_columns
    assert table.width() >= 2 * queue.width(), (table.width(), queue.width())
    assert queue.compact
    for button in (queue.up_button, queue.down_button, queue.remove_button,
                   queue.clear_button, queue.save_button, queue.another_button,
                   queue.pin_button):
        assert button.isVisible()
        corner = button.mapTo(queue, button.rect().bottomRight())
        assert queue.rect().contains(corner), button.text()  # not cut off by the panel
    win.resize(1180, 700)
    qtbot.waitUntil(lambda: win.width() == 1180, timeout=3000)
    qtbot.wait(50)
    assert not queue.compact and win.main_splitter.sizes() == wide_sizes
