"""Compilations tagged only with the compilation flag (no album artist): read from real files
of every tag family, stored, gathered under "Various Artists", and an older library's rows
read again by the next scan."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from player.audiogen import TrackSpec, make_library
from player.library import albums
from player.library.db import SCHEMA_VERSION, VARIOUS_ARTISTS, Library
from player.library.scanner import scan_folders
from player.library.tags import read_tags

#: Each tag family's way of writing the flag: ID3 TCMP (mp3, aiff), Vorbis comments (flac,
#: vorbis, opus), MP4 cpil (aac), APEv2 (wavpack).
FAMILIES = ["mp3", "flac", "vorbis", "opus", "aac", "wavpack", "aiff"]


@pytest.mark.parametrize("fmt", FAMILIES)
def test_the_flag_is_read_from_every_family(tmp_path: Path, fmt: str) -> None:
    flagged, plain = make_library(tmp_path, [
        ("flagged", fmt, TrackSpec("On a comp", "Gamma", "Hits", seconds=0.3,
                                   compilation=True)),
        ("plain", fmt, TrackSpec("Own album", "Gamma", "Solo", seconds=0.3)),
    ])
    assert read_tags(flagged).compilation is True
    assert read_tags(plain).compilation is False
    assert read_tags(flagged).as_row()["compilation"] == 1


def test_a_zero_flag_is_no_compilation(tmp_path: Path) -> None:
    """Taggers write COMPILATION=0 on ordinary albums: not a compilation."""
    from mutagen.flac import FLAC

    (path,) = make_library(tmp_path, [("x", "flac", TrackSpec("X", "A", "B", seconds=0.3))])
    audio = FLAC(path)
    audio["COMPILATION"] = ["0"]
    audio.save()
    assert read_tags(path).compilation is False


#: A compilation without an album artist, one song per format, three performers; and an
#: album by one of them.
COMPILATION = [
    ("Hits/01", "mp3", TrackSpec("Comp One", "Gamma", "Summer Hits", None, "1", seconds=0.3,
                                 pitch=300, compilation=True)),
    ("Hits/02", "flac", TrackSpec("Comp Two", "Delta", "Summer Hits", None, "2", seconds=0.3,
                                  pitch=310, compilation=True)),
    ("Hits/03", "vorbis", TrackSpec("Comp Three", "Alpha", "Summer Hits", None, "3",
                                    seconds=0.3, pitch=320, compilation=True)),
    ("Alpha/01", "mp3", TrackSpec("Alpha Solo", "Alpha", "Alone", None, "1", seconds=0.3,
                                  pitch=330)),
]


def _browse(library: Library) -> dict[str, dict[str, int]]:
    """artist key -> {album key: tracks}, as the browser's tree reads it."""
    return {artist.key: {album.key: album.tracks for album in als}
            for artist, als in library.browse_tree()}


def test_a_flagged_compilation_is_under_various_artists(library: Library,
                                                        tmp_path: Path) -> None:
    music = tmp_path / "music"
    make_library(music, COMPILATION)
    scan_folders(library, [music])
    tree = _browse(library)
    assert tree == {VARIOUS_ARTISTS: {"summer hits": 3}, "alpha": {"alone": 1}}
    (various,) = [als for artist, als in library.browse_tree() if artist.key == VARIOUS_ARTISTS]
    assert various[0].artist == "Various Artists"  # not one of the performers
    # One album for playback too (gapless joins, album gain): not three one-track albums.
    rows = library.tracks_by_id(
        r[0] for r in library.db.conn.execute("SELECT id FROM tracks"))
    comp = [t for t in rows.values() if t.album == "Summer Hits"]
    assert all(t.compilation for t in comp)
    assert len({albums.album_key(t) for t in comp}) == 1


def test_a_named_album_artist_wins_over_the_flag(library: Library, tmp_path: Path) -> None:
    music = tmp_path / "music"
    make_library(music, [("mix/01", "mp3", TrackSpec("Mixed", "Gamma", "The Mix", "DJ Zeta",
                                                     "1", seconds=0.3, compilation=True))])
    scan_folders(library, [music])
    assert _browse(library) == {"dj zeta": {"the mix": 1}}


def test_an_older_library_is_read_again_and_regrouped(data_dir: Path, tmp_path: Path) -> None:
    """A library scanned before the flag was read (schema 7, tag reader 2): opening it adds the
    column, and the next scan reads those files again and moves the album."""
    music = tmp_path / "music"
    make_library(music, COMPILATION)
    lib = Library.open(data_dir)
    scan_folders(lib, [music])
    lib.close()
    # Back to what the previous Segue left: no column, rows by tag reader 2, browsed under
    # each performer.
    conn = sqlite3.connect(data_dir / "library.db")
    conn.execute("ALTER TABLE tracks DROP COLUMN compilation")
    conn.execute("UPDATE tracks SET tags_version = 2, artist_key = lower(artist)")
    conn.execute("PRAGMA user_version = 7")
    conn.commit()
    conn.close()

    lib = Library.open(data_dir)
    try:
        assert lib.schema_version == SCHEMA_VERSION >= 8
        assert lib.tags_outdated() == 4
        assert set(_browse(lib)) == {"gamma", "delta", "alpha"}  # until the scan
        result = scan_folders(lib)
        assert result.updated == 4 and not result.failed
        assert lib.tags_outdated() == 0
        assert _browse(lib) == {VARIOUS_ARTISTS: {"summer hits": 3}, "alpha": {"alone": 1}}
    finally:
        lib.close()
