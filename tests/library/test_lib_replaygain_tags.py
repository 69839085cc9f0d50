"""ReplayGain tags: read from real generated files of every format, bad values ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutagen import id3
from mutagen.apev2 import APEv2

from player.audiogen import FORMATS, TrackSpec, available_formats, make_library
from player.library.scanner import scan_folders
from player.library.tags import read_tags

RG = (("REPLAYGAIN_TRACK_GAIN", "-6.50 dB"), ("REPLAYGAIN_TRACK_PEAK", "0.912345"),
      ("REPLAYGAIN_ALBUM_GAIN", "+1.25 dB"), ("REPLAYGAIN_ALBUM_PEAK", "0.990000"))


def _one(folder: Path, fmt: str, gain_tags: tuple[tuple[str, str], ...]) -> Path:
    (path,) = make_library(folder, [(f"t-{fmt}", fmt, TrackSpec("T", gain_tags=gain_tags,
                                                                seconds=0.4))])
    return path


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_reads_replaygain(tmp_path: Path, fmt: str) -> None:
    if fmt not in available_formats():
        pytest.fail(f"no encoder for {fmt} (bash .ci/install installs them)")
    tags = read_tags(_one(tmp_path, fmt, RG))
    assert (tags.rg_track_gain, tags.rg_track_peak, tags.rg_album_gain, tags.rg_album_peak) == (
        -6.5, 0.912345, 1.25, 0.99)


def test_keys_are_case_insensitive_and_values_lenient(tmp_path: Path) -> None:
    lower = (("replaygain_track_gain", "-3,5 dB"), ("Replaygain_Album_Gain", "2"),
             ("replaygain_track_peak", " 1.05 "))
    for fmt in ("mp3", "flac", "aac", "wavpack"):
        tags = read_tags(_one(tmp_path / fmt, fmt, lower))
        assert (tags.rg_track_gain, tags.rg_album_gain, tags.rg_track_peak) == (-3.5, 2.0, 1.05)


@pytest.mark.parametrize("bad", ["+inf dB", "nan", "garbage", "", "-6.5 dBFS", "1e400",
                                 "-99 dB", "0x10", "--6 dB"])
def test_bad_gain_values_are_ignored(tmp_path: Path, bad: str) -> None:
    tags = read_tags(_one(tmp_path, "flac", (("REPLAYGAIN_TRACK_GAIN", bad),
                                             ("REPLAYGAIN_ALBUM_GAIN", "-2 dB"))))
    assert tags.rg_track_gain is None and tags.rg_album_gain == -2.0
    assert tags.title == "T"  # the rest of the file still reads


@pytest.mark.parametrize("bad", ["-1", "0", "inf", "11", "peak", "nan"])
def test_bad_peaks_are_ignored(tmp_path: Path, bad: str) -> None:
    tags = read_tags(_one(tmp_path, "mp3", (("REPLAYGAIN_TRACK_PEAK", bad),)))
    assert tags.rg_track_peak is None


def test_opus_r128_gains_are_converted_to_the_replaygain_reference(tmp_path: Path) -> None:
    # Q7.8 towards -23 LUFS: -512 = -2 dB there = +3 dB towards ReplayGain's -18 LUFS.
    tags = read_tags(_one(tmp_path, "opus", (("R128_TRACK_GAIN", "-512"),
                                             ("R128_ALBUM_GAIN", "+256"),
                                             ("REPLAYGAIN_TRACK_GAIN", "-9 dB"))))
    assert tags.rg_track_gain == pytest.approx(3.0)  # R128 wins over REPLAYGAIN_* in Opus
    assert tags.rg_album_gain == pytest.approx(6.0)
    assert tags.rg_track_peak is None  # Opus has no peak tags: the analysis measures it
    bad = read_tags(_one(tmp_path / "bad", "opus", (("R128_TRACK_GAIN", "-6.5 dB"),
                                                   ("R128_ALBUM_GAIN", "99999"))))
    assert bad.rg_track_gain is None and bad.rg_album_gain is None


def test_r128_tags_mean_nothing_outside_opus(tmp_path: Path) -> None:
    tags = read_tags(_one(tmp_path, "flac", (("R128_TRACK_GAIN", "-512"),)))
    assert tags.rg_track_gain is None


def test_id3_rva2_frames_fill_in_for_missing_txxx(tmp_path: Path) -> None:
    path = _one(tmp_path, "mp3", (("REPLAYGAIN_TRACK_GAIN", "-4 dB"),))
    tags = id3.ID3(path)
    tags.add(id3.RVA2(desc="track", channel=1, gain=-8.0, peak=0.5))  # TXXX wins
    tags.add(id3.RVA2(desc="album", channel=1, gain=-7.5, peak=0.75))
    tags.save(path)
    read = read_tags(path)
    assert read.rg_track_gain == -4.0
    assert read.rg_album_gain == -7.5 and read.rg_album_peak == pytest.approx(0.75, abs=1e-4)


def test_mp3gain_apev2_tags_on_an_mp3_are_read(tmp_path: Path) -> None:
    path = _one(tmp_path, "mp3", ())
    ape = APEv2()
    ape["REPLAYGAIN_TRACK_GAIN"] = "-5.10 dB"
    ape["REPLAYGAIN_TRACK_PEAK"] = "0.800000"
    ape.save(path)
    read = read_tags(path)
    assert (read.rg_track_gain, read.rg_track_peak) == (-5.1, 0.8)
    assert read.title == "T"  # the ID3 tag is still what names it


def test_itunnorm_alone_gives_no_gain(tmp_path: Path) -> None:
    norm = " 00000A2C 00000A2C 00003C2A 00003C2A 00000000 00000000 00007FFF 00007FFF"
    tags = read_tags(_one(tmp_path, "aac", (("iTunNORM", norm),)))
    assert tags.rg_track_gain is None  # Sound Check is not ReplayGain: the analysis measures


def test_scan_stores_gains_and_a_rescan_updates_them(tmp_path: Path, library) -> None:
    music = tmp_path / "music"
    path = _one(music, "flac", RG)
    scan_folders(library, [music], workers=0)
    row = library.track_by_path(str(path))
    assert (row.rg_track_gain, row.rg_album_peak) == (-6.5, 0.99)
    from mutagen.flac import FLAC

    audio = FLAC(path)
    audio["REPLAYGAIN_TRACK_GAIN"] = "-1.00 dB"
    del audio["REPLAYGAIN_ALBUM_PEAK"]
    audio.save()
    scan_folders(library, [], workers=0)
    row = library.track_by_path(str(path))
    assert (row.rg_track_gain, row.rg_album_peak) == (-1.0, None)
