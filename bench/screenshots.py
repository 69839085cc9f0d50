"""Screenshots of the retrain dialog, mid-training and on its result card, for people to look at.

    Xvfb :99 -screen 0 1280x800x24 &
    DISPLAY=:99 QT_QPA_PLATFORM=xcb python -m bench.screenshots [--out docs] [--window]

The history is a Spotify export (``--export DIR``; by default the public one in
``../shared/datasets/spotify-streaming-history-jonas-mika``) imported against a generated
library of its most played tracks (as in ``bench.retrain_gui``), or a synthetic one where that
folder is absent. Writes
``retrain-progress.png`` (about ten seconds into training) and ``retrain-result.png``.
With ``--window``: the main window instead - ``first-run.png`` (an empty library) and
``screenshot-playing.png`` (the demo library playing, two tracks queued, the auto pick).
With ``--lists``: ``playlists.png`` (the sidebar with a playlist made in Segue and an imported
one, the queue), ``preferences.png`` and ``scan-problems.png``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger("bench.screenshots")


def main(argv: list[str] | None = None) -> dict[str, str]:
    parser = argparse.ArgumentParser(prog="python -m bench.screenshots")
    from bench.import_speed import EXPORT

    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--export", type=Path, default=EXPORT, metavar="DIR",
                        help="the Spotify export the retrain shots train on (default: the "
                             "public one in ../shared; a synthetic history where absent)")
    parser.add_argument("--progress-after", type=float, default=10.0,
                        help="seconds into training of the mid-training shot")
    parser.add_argument("--window", action="store_true", help="shots of the main window")
    parser.add_argument("--browser", action="store_true",
                        help="shots of the library browser (wide and 760 px)")
    parser.add_argument("--lists", action="store_true",
                        help="the playlists sidebar, the preferences and the scan problems")
    args = parser.parse_args(argv)
    if args.window:
        return window_shots(args.out)
    if args.browser:
        return browser_shots(args.out)
    if args.lists:
        return lists_shots(args.out)
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from bench.retrain_gui import _prepare
    from player.app import SegueApp
    from player.playback.null import NullBackend

    app = QApplication.instance() or QApplication([])
    args.out.mkdir(parents=True, exist_ok=True)
    shots: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        source = _prepare(data, 50_000, synthetic=False, export=args.export)
        log.info("history: %s", source)
        segue = SegueApp(data, backend_factory=lambda: NullBackend(realtime=True),
                         enable_mpris=False)
        segue.window.resize(1180, 720)
        segue.window.show()
        segue.start_playback()
        while not segue.learning.loaded:
            app.processEvents()
            time.sleep(0.01)
        segue.engine.play()
        dialog = segue.window.retrain()

        def grab(name: str) -> None:
            path = args.out / name
            dialog.grab().save(str(path))
            shots[name] = str(path)
            log.info("wrote %s", path)

        QTimer.singleShot(int(args.progress_after * 1000), lambda: grab("retrain-progress.png"))
        job = segue.learning.job
        job.ended.connect(lambda: QTimer.singleShot(500, lambda: (grab("retrain-result.png"),
                                                                  app.quit())))
        app.exec()
        segue.shutdown()
    return shots


def window_shots(out: Path) -> dict[str, str]:
    """The first-run window, then the demo library playing with a queue and an auto pick."""
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    from PySide6.QtWidgets import QApplication

    from player.app import SegueApp

    app = QApplication.instance() or QApplication([])
    out.mkdir(parents=True, exist_ok=True)
    shots: dict[str, str] = {}

    def wait(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def grab(widget: object, name: str) -> None:
        path = out / name
        widget.grab().save(str(path))  # type: ignore[attr-defined]
        shots[name] = str(path)

    with tempfile.TemporaryDirectory() as tmp:
        segue = SegueApp(Path(tmp), enable_mpris=False)
        segue.window.resize(1150, 640)
        segue.window.show()
        segue.start_playback()
        wait(1.0)
        grab(segue.window, "first-run.png")
        segue.window.play_demo()
        wait(4.0)  # the demo scan, then the first track
        ids = [r["id"] for r in segue.library.db.query("SELECT id FROM tracks ORDER BY id")]
        playing = segue.engine.current.id if segue.engine.current else None
        segue.engine.enqueue([t for t in ids if t != playing][:2])
        wait(3.0)
        grab(segue.window, "screenshot-playing.png")
        segue.shutdown()
    return shots


#: The browser's shots: (artist, album, year, cover colour, titles); one compilation.
BROWSE_ALBUMS = [
    ("Aurora Lane", "Northern Lights", "2014", (40, 90, 160),
     ["Snowfall", "God's Own Country", "The Long Way Home Through the Quiet Valley", "Ember"]),
    ("Aurora Lane", "Harbour", "2019", (200, 120, 40), ["Tides", "Lantern", "Sandra’s Song"]),
    ("Björk Tribute Band", "Jóga Sessions", "2008", (120, 40, 120),
     ["Hunter (Live)", "Bachelorette", "All Is Full of Love"]),
    ("The Velvet Rooms", "Midnight Radio", "1997", (30, 130, 90),
     ["Static", "Rock-and-Roll Heart", "Paper Moon", "Last Call"]),
    ("The Velvet Rooms", "Second Floor", "2001", (170, 40, 50), ["Stairs", "Elevator Blues"]),
    ("Mira Okafor", "Glass Garden", "2021", (220, 190, 60),
     ["Seedlings", "A Remarkably Long Title About Walking Home Through the Rain at Midnight"]),
]
COMPILATION = ("Summer Hits 2005", "2005", (60, 160, 200),
               [("Sunburn", "Kai Moreno"), ("Beach Radio", "The Velvet Rooms"),
                ("Heatwave", "Lia & The Tides"), ("Ice Cream Truck", "DJ Paloma")])


def browser_shots(out: Path) -> dict[str, str]:
    """The browser on a small tagged library with covers: an album selected, wide and narrow."""
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    from PySide6.QtWidgets import QApplication

    from player.app import SegueApp
    from player.audiogen import TrackSpec, make_library
    from player.library.scanner import scan_folders
    from player.playback.null import NullBackend

    app = QApplication.instance() or QApplication([])
    out.mkdir(parents=True, exist_ok=True)
    shots: dict[str, str] = {}

    def wait(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    specs = []
    for artist, album, year, rgb, titles in BROWSE_ALBUMS:
        for n, title in enumerate(titles, 1):
            specs.append((f"{artist}/{album}/{n:02d}", "mp3", TrackSpec(
                title, artist, album, None, str(n), None, "Pop", year, seconds=3 + n,
                pitch=200 + 20 * n, cover=True, cover_rgb=rgb)))
    album, year, rgb, tracks = COMPILATION
    for n, (title, artist) in enumerate(tracks, 1):
        specs.append((f"VA/{album}/{n:02d}", "mp3", TrackSpec(
            title, artist, album, "Various Artists", str(n), None, "Pop", year, seconds=4 + n,
            pitch=300 + 20 * n, cover=True, cover_rgb=rgb)))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        make_library(Path(tmp) / "music", specs)
        from player.library.db import Library

        lib = Library.open(data)
        scan_folders(lib, [Path(tmp) / "music"])
        lib.close()
        segue = SegueApp(data, backend_factory=lambda: NullBackend(realtime=True),
                         enable_mpris=False)
        win = segue.window
        win.resize(1180, 720)
        win.show()
        segue.start_playback()
        wait(1.0)
        browser = win.browser
        model = browser.tree_model
        for row in range(model.rowCount()):
            browser.tree.expand(model.index(row, 0))
        wait(0.5)
        velvet = browser.tree_model.find_artist("the velvet rooms")
        album_index = model.index(0, 0, velvet)
        browser.tree.setCurrentIndex(album_index)
        browser.play_scope(album_index)
        wait(2.0)
        path = out / "browser.png"
        win.grab().save(str(path))
        shots["browser"] = str(path)
        win.resize(760, 620)
        browser.search.setText("gods")
        wait(1.5)
        path = out / "browser-narrow-search.png"
        win.grab().save(str(path))
        shots["browser-narrow-search"] = str(path)
        browser.search.setText("zzqx")
        wait(1.0)
        path = out / "browser-no-match.png"
        win.grab().save(str(path))
        shots["browser-no-match"] = str(path)
        segue.shutdown()
    return shots


#: (artist, album, titles) of the library the --lists shots show.
LISTS_LIBRARY = [
    ("Nina Simone", "Pastel Blues", ["Be My Husband", "Nobody's Fault but Mine", "Ain't No Use",
                                     "Sinnerman"]),
    ("Björk", "Homogenic", ["Hunter", "Jóga", "Unravel", "Bachelorette"]),
    ("Miles Davis", "Kind of Blue", ["So What", "Freddie Freeloader", "Blue in Green"]),
    ("Khruangbin", "Con Todo El Mundo", ["Como Me Quieres", "Maria También", "Evan Finds the "
                                         "Third Room"]),
    ("Ryuichi Sakamoto", "async", ["andata", "disintegration", "solari"]),
]


def lists_shots(out: Path) -> dict[str, str]:
    """The playlists sidebar (a playlist of one's own, an imported one with a song not in the
    library), Up next with a queue and the auto pick; the preferences; the scan problems."""
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    from PySide6.QtWidgets import QApplication

    from player.app import SegueApp
    from player.audiogen import TrackSpec, make_library
    from player.importer import import_history
    from player.library.db import Library
    from player.library.playlists import PlaylistStore
    from player.library.scanner import scan_folders
    from player.playback.null import NullBackend

    app = QApplication.instance() or QApplication([])
    out.mkdir(parents=True, exist_ok=True)
    shots: dict[str, str] = {}

    def wait(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    def grab(widget: object, name: str) -> None:
        path = out / name
        widget.grab().save(str(path))  # type: ignore[attr-defined]
        shots[name] = str(path)

    with tempfile.TemporaryDirectory(prefix="segue-shots-") as tmp:
        music, data = Path(tmp) / "Music", Path(tmp) / "data"
        specs = []
        for a, (artist, album, titles) in enumerate(LISTS_LIBRARY):
            for n, title in enumerate(titles, 1):
                specs.append((f"{artist}/{album}/{n:02d} {title}", ("flac", "mp3", "opus")[a % 3],
                              TrackSpec(title, artist, album, artist, str(n), None, "Various",
                                        "2001", seconds=25, pitch=220 + 30 * len(specs))))
        make_library(music, specs)
        (music / "Downloads").mkdir()
        (music / "Downloads" / "half-downloaded.mp3").write_bytes(b"ID3" + b"\0" * 300)
        (music / "Downloads" / "cover.flac").write_bytes(b"not a flac file at all")
        library = Library.open(data)
        scan_folders(library, [music])
        ids = [r["id"] for r in library.db.query("SELECT id FROM tracks ORDER BY path")]
        store = PlaylistStore(library)
        store.create("Sunday morning", [ids[i] for i in (12, 3, 7, 0, 15, 9, 5)])
        store.create("Focus", [ids[i] for i in (13, 14, 10, 11)])
        m3u = Path(tmp) / "Road trip 2019.m3u8"
        m3u.write_text("#EXTM3U\n#EXTINF:210,Khruangbin - Maria También\nx/Maria.mp3\n"
                       "#EXTINF:200,Fleetwood Mac - Dreams\nx/Dreams.mp3\n"
                       "#EXTINF:240,Björk - Hunter\nx/Hunter.flac\n", encoding="utf-8")
        import_history(library, [m3u])
        library.close()

        segue = SegueApp(data, backend_factory=lambda: NullBackend(realtime=True),
                         enable_mpris=False)
        win = segue.window
        win.resize(1240, 700)
        win.show()
        segue.start_playback()
        wait(1.0)
        segue.engine.play_track(ids[4])
        segue.engine.enqueue([ids[8], ids[1]])
        names = [p.name for p in PlaylistStore(segue.library).all()]
        win.playlists_panel.select(PlaylistStore(segue.library).all()[names.index(
            "Sunday morning")].id)
        wait(2.5)
        grab(win, "playlists.png")
        win.playlists_panel.select(PlaylistStore(segue.library).all()[names.index(
            "Road trip 2019")].id)
        wait(0.5)
        grab(win.playlists_panel, "playlists-imported.png")
        dialog = win.preferences()
        dialog.folder_list.setCurrentRow(0)
        wait(0.5)
        grab(dialog, "preferences.png")
        problems = win.show_scan_problems()
        wait(0.5)
        grab(problems, "scan-problems.png")
        segue.shutdown()
    return shots


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(main())
