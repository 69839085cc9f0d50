"""The app's library service: scans, imports and the demo library run without a window (the
window only shows them), report through signals on the GUI thread, and fail with the
exception itself."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from player.importer import ImportReport
from player.library.db import Library
from player.library.scanner import ScanResult
from player.services import LibraryService


@pytest.fixture
def service(library: Library, data_dir: Path):
    """The service, shut down before its library closes: a scan's end starts the search
    index's builder, which must not outlive the test's library (as at the app's quit)."""
    svc = LibraryService(library, data_dir)
    yield svc
    svc.shutdown()


def test_a_scan_reports_progress_result_and_end_without_a_window(
        library: Library, service: LibraryService, music_dir: Path, qtbot) -> None:
    seen: list[str] = []
    results: list[ScanResult] = []
    gui = threading.get_ident()
    threads: set[int] = set()
    service.scanStarted.connect(lambda: seen.append("started"))
    service.scanProgress.connect(lambda _e: threads.add(threading.get_ident()))
    service.scanFinished.connect(results.append)
    service.after_scan(lambda: seen.append(f"after scan, scanning={service.scanning}"))
    service.scanEnded.connect(lambda: seen.append("ended"))
    with qtbot.waitSignal(service.scanEnded, timeout=60_000):
        assert service.scan([music_dir]) is not None
        assert service.scanning and service.scan([]) is None  # one scan at a time
    assert seen == ["started", "after scan, scanning=False", "ended"]
    assert threads == {gui}  # delivered on the GUI thread
    assert results[0].added == library.count_tracks() > 0
    assert not service.scanning


def test_the_demo_installs_and_scans(library: Library, service: LibraryService, data_dir: Path,
                                    qtbot) -> None:
    with qtbot.waitSignal(service.scanFinished, timeout=60_000) as finished:
        assert service.install_demo() is not None
    assert finished.args[0].added == 8 == library.count_tracks()
    assert library.roots() == [str(data_dir / "demo")]


def test_the_first_real_folder_replaces_the_demo(library: Library, service: LibraryService,
                                                 music_dir: Path, qtbot) -> None:
    with qtbot.waitSignal(service.scanEnded, timeout=60_000):
        service.install_demo()
    with qtbot.waitSignal(service.scanEnded, timeout=60_000):
        added = service.add_folder(music_dir)
    assert added.demo_removed is not None
    assert library.roots() == [str(music_dir)]


def test_an_import_reports_and_fails_with_the_exception(library: Library, service: LibraryService,
                                                       tmp_path: Path, qtbot) -> None:
    m3u = tmp_path / "mix.m3u8"
    m3u.write_text("#EXTM3U\n#EXTINF:1,Someone - Something\nsomething.mp3\n", encoding="utf-8")
    with qtbot.waitSignal(service.importFinished, timeout=30_000) as finished:
        service.import_files([m3u])
    report = finished.args[0]
    assert isinstance(report, ImportReport) and report.playlists == 1
    qtbot.waitUntil(lambda: service.import_job is None, timeout=5_000)

    failures: list[object] = []
    service.importFailed.connect(failures.append)
    with qtbot.waitSignal(service.importFailed, timeout=30_000):
        service.import_files([tmp_path / "gone.json"])
    assert isinstance(failures[0], FileNotFoundError)  # the exception, not its text
