"""Browsing a big library: search and browser clicks, measured from the event loop.

    python -m bench browse                       # 100,000 tracks (issue 11's target)
    python -m bench browse --tracks 1500000      # 1.5M tracks (issue 12, item 12)

A synthetic library (``--tracks`` tracks: 10 per album, 5 albums per artist, one in 40 albums
a "Various Artists" compilation, half the tracks played) is written to a temporary SQLite file
and shown in the real main window (offscreen, no audio). Then, as a user would, with a loop
watch (bench.loopwatch) running all along:

* **search**: words typed a key at a time (``QTest.keyClick`` into the search box), each
  keystroke's latency = from the key event to the new list's first screenful painted;
* **fast typing**: a query typed at 60 ms a key without waiting; its latency = from the last
  key to the final list painted (earlier answers are interrupted, never queued);
* **artist / album clicks** in the browser tree (mouse clicks on the rows), **sort** clicks on
  the table's headers, **scroll** to the end of the whole library;
* **event-loop stall**: the longest the window was unresponsive during all of that.

Baseline, in the same run: the flat list this replaced answered each keystroke on the GUI
thread (``count_tracks`` + the first 2,000 rows of ``query_tracks``); its time per keystroke
is measured on the same queries. Covers: how many thumbnails were decoded on the GUI thread
(target 0).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

WORDS = ("love", "night", "blue", "heart", "river", "gold", "dream", "fire", "rain", "light",
         "shadow", "summer", "ghost", "city", "silver", "wild", "ocean", "stone", "echo", "star",
         "god's", "sandra’s", "rock-and-roll", "midnight", "paper", "glass", "honey", "velvet")
QUERIES = ("the night", "gods", "sandras", "blue river", "björk", "zzz nothing", "echo")


def build_library(path: Path, tracks: int, seed: int = 1) -> dict[str, int]:
    """A synthetic library of ``tracks`` tracks (and listens) at ``path``; its counts."""
    from player.library.db import Library

    rng = random.Random(seed)
    library = Library(path)
    per_album, albums_per_artist = 10, 5
    artists = max(1, tracks // (per_album * albums_per_artist))
    batch: list[dict[str, Any]] = []
    n = 0
    for a in range(artists):
        artist = f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {a}"
        if a % 97 == 5:
            artist = f"Björk Tribute {a}"
        for b in range(albums_per_artist):
            compilation = (a * albums_per_artist + b) % 40 == 7
            album = f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {b}"
            year = 1960 + rng.randrange(60)
            for t in range(per_album):
                if n >= tracks:
                    break
                title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5))).title()
                batch.append({
                    "path": f"/bench/{a}/{b}/{t:02d}.flac", "mtime": 1.0, "size": 1,
                    "title": f"{title} {n}",
                    "artist": f"Guest {rng.randrange(artists)}" if compilation else artist,
                    "albumartist": "Various Artists" if compilation else None,
                    "album": f"Hits {a}" if compilation else album,
                    "track_number": t + 1, "disc_number": 1, "year": year,
                    "duration_ms": rng.randint(90_000, 420_000), "format": "flac",
                })
                n += 1
                if len(batch) >= 20_000:
                    library.add_tracks(batch)
                    batch = []
    if batch:
        library.add_tracks(batch)
    ids = [r[0] for r in library.db.conn.execute("SELECT id FROM tracks")]
    start = 1_600_000_000.0
    listens = [{"track_id": rng.choice(ids), "started_at": start + i * 200.0,
                "ended_at": start + i * 200.0 + 180.0, "played_ms": 180_000, "skipped": 0,
                "artist": None, "title": None, "import_key": f"bench-{i}"}
               for i in range(tracks // 2)]
    for i in range(0, len(listens), 50_000):
        library.add_imported_listens(listens[i:i + 50_000], session_gap_s=1800)
    library.build_search_index()  # as the app leaves it after the scan (in the background)
    counts = {"tracks": n, "artists": artists, "listens": len(listens)}
    library.close()
    return counts


def _summary(values_s: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values_s)
    return {"median_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.95))], 1),
            "max_ms": round(ms[-1], 1), "n": len(ms)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench browse")
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the library in this folder")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.keep or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        db_path = data / "library.db"
        started = time.perf_counter()
        if not db_path.exists():
            counts = build_library(db_path, args.tracks)
        else:
            counts = {"tracks": args.tracks, "reused": 1}
        build_s = time.perf_counter() - started
        figures = run(data, counts)
        figures["library_build_s"] = round(build_s, 1)
        return figures


def run(data: Path, counts: dict[str, int]) -> dict[str, Any]:
    from PySide6.QtCore import QEvent, QObject, QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    import player.ui.browser_covers as browser_covers
    from bench.loopwatch import LoopWatch
    from player.library.db import Library
    from player.services import LibraryService
    from player.settings import Settings
    from player.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    # Covers decoded on the GUI thread: counted (the target is none).
    on_gui = {"covers": 0, "covers_total": 0}
    real_load = browser_covers.load_thumbnail
    gui_thread = threading.get_ident()

    def counting_load(*a: Any, **k: Any) -> Any:
        on_gui["covers_total"] += 1
        if threading.get_ident() == gui_thread:
            on_gui["covers"] += 1
        return real_load(*a, **k)

    browser_covers.load_thumbnail = counting_load  # type: ignore[assignment]

    opened = time.perf_counter()
    library = Library.open(data)
    open_s = time.perf_counter() - opened
    window = MainWindow(library, Settings.load(data), data, LibraryService(library, data))
    window.resize(1100, 700)
    phase = ["first list"]  # what the bench is doing: each stall over 100 ms is filed under it
    watch = LoopWatch(label=lambda: phase[0])
    watch.start()
    window.show()
    browser = window.browser
    model, tree, table = browser.model, browser.tree, browser.table

    def spin_until(predicate: Any, timeout_s: float = 120.0) -> None:
        end = time.perf_counter() + timeout_s
        while not predicate():
            if time.perf_counter() > end:
                raise TimeoutError("no answer")
            app.processEvents()
            time.sleep(0.0005)

    # When the table's viewport was last painted, and when the list last changed: a
    # keystroke's answer counts as shown once the viewport has painted after it.
    clock = {"painted": 0.0, "shown": 0.0}

    class PaintClock(QObject):
        def eventFilter(self, _obj: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.Paint:
                clock["painted"] = time.perf_counter()
            return False

    paint_clock = PaintClock()
    table.viewport().installEventFilter(paint_clock)
    model.modelReset.connect(lambda: clock.__setitem__("shown", time.perf_counter()))

    def settled() -> None:
        """The latest answer is in the model and the table has painted it."""
        spin_until(lambda: not model.busy())
        table.viewport().update()
        spin_until(lambda: clock["painted"] > clock["shown"], 10)

    t0 = time.perf_counter()
    settled()
    first_list_s = time.perf_counter() - t0
    first_list_cpu_s = model.last_query_cpu_s
    phase[0] = "artists"
    spin_until(lambda: not browser.tree_model.busy())
    artists_s = time.perf_counter() - t0
    figures: dict[str, Any] = {**counts, "load_average_at_start": os.getloadavg()[0],
                               "library_open_s": round(open_s, 2),
                               "first_list_s": round(first_list_s, 3),
                               "first_list_query_cpu_s": round(first_list_cpu_s, 3),
                               "artist_list_s": round(artists_s, 3)}

    # Search, a key at a time, waiting for each answer.
    phase[0] = "search"
    browser.search.setFocus()
    keystrokes: list[float] = []
    keystroke_cpu: list[float] = []
    for query in QUERIES:
        browser.search.clear()
        settled()
        for ch in query:
            t0 = time.perf_counter()
            if ch.isascii():
                QTest.keyClick(browser.search, ch)
            else:  # QTest types ASCII keys only
                browser.search.insert(ch)
            settled()
            keystrokes.append(time.perf_counter() - t0)
            keystroke_cpu.append(model.last_query_cpu_s)
    figures["search_keystroke"] = _summary(keystrokes)
    # The query thread's CPU time per keystroke: what the wall figure is on an idle machine
    # (minus the painting), whatever the other work on a busy one.
    figures["search_keystroke_query_cpu"] = _summary(keystroke_cpu)

    # Typed fast: 60 ms between keys, no waiting; then from the last key to its answer shown.
    phase[0] = "fast typing"
    fast: list[float] = []
    for query in ("midnight velvet", "summer ghost", "echo stone"):
        browser.search.clear()
        settled()
        for ch in query[:-1]:
            QTest.keyClick(browser.search, ch)
            end = time.perf_counter() + 0.06
            while time.perf_counter() < end:
                app.processEvents()
                time.sleep(0.002)
        t0 = time.perf_counter()
        QTest.keyClick(browser.search, query[-1])
        settled()
        fast.append(time.perf_counter() - t0)
    figures["fast_typing_after_last_key"] = _summary(fast)
    browser.search.clear()
    settled()

    # Baseline: the flat list's way, on the GUI thread, for the same queries' keystrokes
    # (the loop watch paused: these stall the window by design).
    watch.stop()
    baseline: list[float] = []
    for query in QUERIES:
        for i in range(1, len(query) + 1):
            t0 = time.perf_counter()
            library.count_tracks(query[:i])
            library.query_tracks(query[:i], "artist", False, 0, 2000)
            baseline.append(time.perf_counter() - t0)
    figures["baseline_flat_list_keystroke_on_gui_thread"] = _summary(baseline)
    watch.start()

    # Clicks in the tree: artists, then an album of each.
    phase[0] = "clicks"
    clicks_artist: list[float] = []
    clicks_album: list[float] = []
    tree_model = browser.tree_model
    rng = random.Random(3)
    numbers = rng.sample(range(tree_model.artist_count()), min(12, tree_model.artist_count()))
    figures["tree_first_level_rows"] = tree_model.rowCount()
    for number in numbers:
        index = tree_model.artist_index(number)
        if index.parent().isValid():  # a big library's letter: opened first, as a user would
            tree.expand(index.parent())
            app.processEvents()
        tree.scrollTo(index)
        app.processEvents()
        t0 = time.perf_counter()
        QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualRect(
            index).center())
        settled()
        clicks_artist.append(time.perf_counter() - t0)
        tree.expand(index)
        app.processEvents()
        child = tree_model.index(0, 0, index)
        if child.isValid():
            tree.scrollTo(child)
            app.processEvents()
            t0 = time.perf_counter()
            QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                             pos=tree.visualRect(child).center())
            settled()
            tree.viewport().repaint()
            clicks_album.append(time.perf_counter() - t0)
    figures["click_artist"] = _summary(clicks_artist)
    figures["click_album"] = _summary(clicks_album)
    covers_wait = time.perf_counter()
    spin_until(lambda: browser.covers.pending() == 0, 30)
    figures["covers_all_loaded_after_s"] = round(time.perf_counter() - covers_wait, 2)

    # Back to everything; sort clicks on the headers; scroll to the end.
    phase[0] = "sorts and scrolling"
    t0 = time.perf_counter()
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=tree.visualRect(tree_model.index(0, 0)).center())
    tree.scrollTo(tree_model.index(0, 0))
    settled()
    figures["click_all_music"] = round((time.perf_counter() - t0) * 1000, 1)
    header = table.horizontalHeader()
    sorts: dict[str, float] = {}
    for col, name in ((0, "title"), (3, "duration"), (4, "plays"), (2, "album"), (1, "artist")):
        x = header.sectionViewportPosition(col) + header.sectionSize(col) // 2
        t0 = time.perf_counter()
        QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
        settled()
        sorts[name] = round((time.perf_counter() - t0) * 1000, 1)
    figures["sort_click_ms"] = sorts
    t0 = time.perf_counter()
    table.scrollToBottom()
    table.viewport().repaint()
    app.processEvents()
    figures["scroll_to_end_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    t0 = time.perf_counter()
    table.selectAll()
    app.processEvents()
    figures["select_all_ms"] = round((time.perf_counter() - t0) * 1000, 1)

    watch.stop()
    figures["load_average_at_end"] = os.getloadavg()[0]
    loop = watch.figures()
    figures["event_loop_max_stall_ms"] = loop.get("event_loop_max_stall_ms")
    figures["event_loop_stalls_over_100ms"] = len(watch.late)
    figures["stalls"] = [f"{t}s {ms}ms {what}" for t, ms, what in watch.late][:10]
    by_phase: dict[str, list[float]] = {}
    for _t, ms, what in watch.late:
        by_phase.setdefault(what.split(" | ")[0], []).append(ms)
    figures["stalls_over_100ms_by_phase"] = {
        name: {"n": len(ms), "max_ms": max(ms)} for name, ms in by_phase.items()}
    figures["covers_loaded"] = on_gui["covers_total"]
    figures["covers_loaded_on_gui_thread"] = on_gui["covers"]
    worst = max(figures["search_keystroke"]["p95_ms"], figures["click_artist"]["p95_ms"],
                figures["click_album"]["p95_ms"])
    figures["worst_p95_ms"] = worst
    figures["target_100ms_met"] = worst < 100
    base = figures["baseline_flat_list_keystroke_on_gui_thread"]["median_ms"]
    figures["keystroke_ratio_vs_baseline"] = round(
        figures["search_keystroke"]["median_ms"] / base, 2) if base else None
    window.close_queries()
    window.close()
    library.close()
    browser_covers.load_thumbnail = real_load  # type: ignore[assignment]
    return figures


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(main(sys.argv[1:]), indent=2))
