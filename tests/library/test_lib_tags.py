"""Tag reading: every format, normalisation rules, and hostile files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mutagen import id3

from player.audiogen import TrackSpec, make_library
from player.library.tags import AUDIO_EXTENSIONS, TagReadError, read_many, read_tags
from tests.conftest import shared_path


def test_every_format_reads_its_tags(good_paths: list[Path]) -> None:
    by_title = {read_tags(p).title: read_tags(p) for p in good_paths}
    joga = by_title["Jóga"]
    assert (joga.artist, joga.album, joga.track_number, joga.disc_number) == (
        "Björk", "Homogenic", 1, 1)
    assert joga.year == 1997 and joga.genre == "Electronic" and joga.format == "flac"
    assert joga.has_cover
    assert 900 <= joga.duration_ms <= 1100
    assert by_title["Hunter"].format == "mp3" and not by_title["Hunter"].has_cover
    assert by_title["andata"].artist == "坂本龍一" and by_title["andata"].format == "vorbis"
    assert by_title["AAC song"].format == "aac" and by_title["AAC song"].has_cover
    assert by_title["Aiff song"].format == "aiff" and by_title["Aiff song"].artist == "Dave"
    assert by_title["WV song"].format == "wavpack" and by_title["WV song"].track_number == 5


def test_normalisation_rules(good_paths: list[Path]) -> None:
    tags = {p.name: read_tags(p) for p in good_paths}
    duo = tags["03 Duo.opus"]
    assert duo.artist == "Alice; Bob"  # multi-value joined
    assert duo.genre == "Pop; Rock"
    assert duo.albumartist == "Various Artists"
    assert (duo.track_number, duo.disc_number) == (3, 2)  # "3/12", "2/2"
    untitled = tags["untitled take.wav"]
    assert untitled.title == "untitled take"  # falls back to the file name
    assert untitled.artist is None and untitled.album is None and untitled.year is None


def test_blank_and_numeric_id3_values(tmp_path: Path) -> None:
    (path,) = make_library(tmp_path, [("x", "mp3", TrackSpec("  ", "   ", seconds=0.3))])
    tags = id3.ID3(path)
    tags.add(id3.TCON(encoding=3, text=["(17)"]))  # ID3v1 genre number: Rock
    tags.add(id3.TRCK(encoding=3, text=["07/12"]))
    tags.add(id3.TDRC(encoding=3, text=["2004-05-06T10:00"]))
    tags.save(path)
    read = read_tags(path)
    assert read.title == "x" and read.artist is None  # blank tags count as missing
    assert read.genre == "Rock" and read.track_number == 7 and read.year == 2004


@pytest.mark.parametrize(
    ("content", "name", "reason"),
    [
        (b"", "empty.mp3", "empty file"),
        (b"hello, I am a text file\n" * 20, "text.mp3", "audio"),
        (bytes(range(256)) * 4, "noise.ogg", "audio"),
    ],
)
def test_bad_files_raise_a_clear_error(tmp_path: Path, content: bytes, name: str,
                                       reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TagReadError, match=reason) as err:
        read_tags(path)
    assert str(tmp_path) not in str(err.value)  # the path is shown beside the reason, once


def test_truncated_flac(good_paths: list[Path], tmp_path: Path) -> None:
    flac = next(p for p in good_paths if p.suffix == ".flac")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(flac.read_bytes()[:60])
    with pytest.raises(TagReadError, match="truncated"):
        read_tags(cut)


def test_unreadable_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(TagReadError, match="cannot read"):
        read_tags(tmp_path / "nowhere.mp3")


def test_read_many_never_raises(good_paths: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"fLaC" + b"\xff" * 100)
    results = read_many([str(good_paths[0]), str(bad)])
    assert results[0][1] is not None and results[0][2] is None
    assert results[1][1] is None and "corrupt" in results[1][2]


def test_mutagen_corpus_never_crashes() -> None:
    corpus = shared_path("corpora", "mutagen-testdata")
    read = failed = 0
    for name in sorted(os.listdir(corpus)):
        try:
            tags = read_tags(corpus / name)
        except TagReadError as exc:
            assert str(exc)  # a reason, always
            failed += 1
        else:
            assert tags.title
            read += 1
    assert read > 80 and failed >= 3  # the corpus has both kinds


def test_known_corpus_files() -> None:
    corpus = shared_path("corpora", "mutagen-testdata")
    v22 = read_tags(corpus / "id3v22-test.mp3")  # ID3v2.2 frames upgraded
    assert (v22.title, v22.artist, v22.track_number) == ("cosmic american", "Anais Mitchell", 3)
    v1 = read_tags(corpus / "silence-44-s-v1.mp3")  # ID3v1 only
    assert v1.artist == "piman" and v1.year == 2004
    wma = read_tags(corpus / "issue_29.wma")
    assert wma.format == "wma" and wma.artist == "Kaizers Orchestra"
    assert read_tags(corpus / "silence-44-s.wv").artist == "piman; jzig"


def test_extensions_cover_the_common_formats() -> None:
    for ext in (".mp3", ".flac", ".ogg", ".opus", ".m4a", ".wav", ".aiff", ".wv", ".ape", ".mpc"):
        assert ext in AUDIO_EXTENSIONS
