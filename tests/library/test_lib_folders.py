"""Music folders: removal keeps the history, the demo leaves for real music, opened files."""

from __future__ import annotations

import shutil
from pathlib import Path

from player.bridge import training_data
from player.library import folders
from player.library.db import Library
from player.library.playlists import PlaylistStore
from player.library.scanner import scan_folders


def _listen(library: Library, track_id: int, at: float) -> None:
    lid = library.open_listen(track_id, at, "user", 1)
    library.close_listen(lid, at + 200, 200_000, False)


def test_removing_a_folder_removes_its_tracks_and_keeps_their_listens(
        library: Library, music_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(music_dir / "Björk", other / "Björk")
    scan_folders(library, [music_dir, other])
    total = library.stats()["tracks"]
    removed_ids = [r["id"] for r in library.db.query(
        "SELECT id FROM tracks WHERE path LIKE ?", [f"{other}/%"])]
    kept_id = library.db.conn.execute(
        "SELECT id FROM tracks WHERE path LIKE ?", [f"{music_dir}/%"]).fetchone()[0]
    for i, tid in enumerate([removed_ids[0], kept_id, removed_ids[1]]):
        _listen(library, tid, 1_700_000_000 + 300 * i)
    pid = PlaylistStore(library).create("Both", [removed_ids[0], kept_id])

    result = folders.remove_folder(library, other)

    assert (result.tracks_removed, result.listens_kept) == (2, 2)
    assert library.roots() == [str(music_dir)]
    assert library.stats()["tracks"] == total - 2
    listens = library.listens()
    assert len(listens) == 3  # the history is whole
    gone = [row for row in listens if row.track_id is None]
    assert [(r.artist, r.title) for r in gone] == [("Björk", "Jóga"), ("Björk", "Hunter")]
    assert [e.present for e in PlaylistStore(library).entries(pid)] == [False, True]
    assert PlaylistStore(library).entries(pid)[0].title == "Jóga"
    assert training_data(library).plays == 3  # removed tracks' listens still teach
    # A rescan does not bring them back, nor mark anything missing.
    again = scan_folders(library, [])
    assert (again.added, again.missing) == (0, 0)


def test_nested_folder_tracks_stay_with_the_outer_folder(library: Library,
                                                         music_dir: Path) -> None:
    scan_folders(library, [music_dir, music_dir / "Björk"])
    total = library.stats()["tracks"]
    assert folders.remove_folder(library, music_dir / "Björk").tracks_removed == 0
    assert library.stats()["tracks"] == total


def test_the_first_real_folder_replaces_the_demo(library: Library, data_dir: Path,
                                                 music_dir: Path) -> None:
    from player.demo import install_demo_library

    demo = install_demo_library(library, data_dir)
    scan_folders(library, [])
    assert library.stats()["tracks"] == 8
    added = folders.add_folder(library, music_dir, folders.demo_folder_of(data_dir))
    assert added.new and added.demo_removed is not None
    assert added.demo_removed.tracks_removed == 8
    assert library.roots() == [str(music_dir)]
    scan_folders(library, [])
    assert all(not r.path.startswith(str(demo)) for r in library.all_track_meta())
    listed = folders.folders(library)
    assert [(f.path, f.exists) for f in listed] == [(str(music_dir), True)]
    assert listed[0].tracks == library.stats()["tracks"] > 0


def test_ids_of_removed_tracks_are_never_given_to_new_ones(library: Library, data_dir: Path,
                                                          music_dir: Path) -> None:
    """A queue, the window or a trained model may still hold a removed track's id while the
    next folder is scanned: that id must not come back as another song (it did: SQLite reuses
    the largest id, and the demo's were the largest)."""
    from player.demo import install_demo_library

    install_demo_library(library, data_dir)
    scan_folders(library, [])
    demo_ids = {r.id for r in library.all_track_meta()}
    folders.add_folder(library, music_dir, folders.demo_folder_of(data_dir))
    scan_folders(library, [])
    new_ids = {r.id for r in library.all_track_meta()}
    assert new_ids and not new_ids & demo_ids
    assert library.tracks_by_id(sorted(demo_ids)) == {}


def test_adding_a_second_real_folder_leaves_the_others(library: Library, data_dir: Path,
                                                       music_dir: Path, tmp_path: Path) -> None:
    library.add_root(music_dir)
    (tmp_path / "more").mkdir()
    added = folders.add_folder(library, tmp_path / "more", folders.demo_folder_of(data_dir))
    assert added.demo_removed is None and len(library.roots()) == 2


def test_opened_files_join_the_library_in_order_and_survive_a_rescan(
        library: Library, music_dir: Path, good_paths: list[Path], tmp_path: Path) -> None:
    library.add_root(tmp_path / "empty-root")
    (tmp_path / "empty-root").mkdir()
    homogenic = music_dir / "Björk" / "Homogenic"
    loose = music_dir / "loose" / "aiff song.aiff"
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    result = folders.add_files(library, [loose, homogenic, junk, tmp_path / "nope.mp3"])
    rows = library.tracks_by_id(result.track_ids)
    assert [rows[t].title for t in result.track_ids] == ["Aiff song", "Jóga", "Hunter"]
    assert sorted(p for p, _ in result.failed) == sorted([str(junk), str(tmp_path / "nope.mp3")])
    again = folders.add_files(library, [loose])  # known and unchanged: the same id
    assert again.track_ids == result.track_ids[:1]
    scan = scan_folders(library, [])
    assert scan.missing == 0 and library.stats()["tracks"] == 3
    loose.unlink()  # a file gone is missing after a rescan, as in a music folder
    assert scan_folders(library, []).missing == 1
