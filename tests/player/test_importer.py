"""Importing listening history and playlists: every format, matching, idempotence, bad rows."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from player.audiogen import TrackSpec, make_library
from player.importer import import_history
from player.library.db import Library
from player.library.scanner import scan_folders
from tests.conftest import shared_path


def write_json(path: Path, records: list) -> Path:
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def spotify(end: str, artist: str, title: str, ms: int) -> dict:
    return {"endTime": end, "artistName": artist, "trackName": title, "msPlayed": ms}


@pytest.fixture
def small_library(library: Library, tmp_path: Path) -> dict[str, int]:
    make_library(tmp_path / "lib", [
        ("a", "wav", TrackSpec("Hold Up", "Danny Sanchez", "Singles", seconds=0.2)),
        ("b", "wav", TrackSpec("The Maze", "Nines", "Crabs in a Bucket", seconds=0.2)),
        ("c", "wav", TrackSpec("The Maze", "Nines", "Live", seconds=0.3)),
        ("d", "wav", TrackSpec("Breadwinner", "M Huncho; Nafe Smallz", "Huncholini",
                               seconds=0.2)),
    ])
    scan_folders(library, [tmp_path / "lib"])
    return {r.path.rsplit("/", 1)[1]: r.id for r in library.all_track_meta()}


@pytest.mark.slow
def test_spotify_account_export_round_trip(library: Library, tmp_path: Path) -> None:
    export = shared_path("datasets", "spotify-streaming-history-jonas-mika")
    records = [r for f in sorted(export.glob("*.json")) for r in json.loads(f.read_text())]
    pairs = Counter((r["artistName"], r["trackName"]) for r in records)
    chosen = [p for p, _ in pairs.most_common(12)]
    make_library(tmp_path / "music", [
        (f"t{i}", "wav", TrackSpec(title, artist, seconds=0.2)) for i, (artist, title)
        in enumerate(chosen)])
    scan_folders(library, [tmp_path / "music"])

    report = import_history(library, [export])
    assert report.rows == len(records) == 54_429 and report.errors == []
    assert report.listens == len(records)  # nothing merged away
    assert report.matched == sum(pairs[p] for p in chosen)
    assert report.unmatched == report.listens - report.matched
    rows = library.listens()
    assert len(rows) == len(records) and all(r.source == "import" for r in rows)
    assert all(r.ended_at >= r.started_at for r in rows)
    unmatched = [r for r in rows if r.track_id is None]
    assert unmatched and all(r.artist and r.title for r in unmatched)
    skips = [r for r in rows if r.track_id is None and r.played_ms < 30_000]
    assert all(r.skipped == 1 for r in skips)

    again = import_history(library, [export])
    assert (again.listens, again.duplicates) == (0, len(records))
    assert library.listen_count() == len(records)


def test_quick_skips_in_one_minute_are_two_plays(library: Library, tmp_path: Path,
                                                 small_library) -> None:
    log = write_json(tmp_path / "StreamingHistory0.json", [
        spotify("2022-01-01 10:00", "Nines", "The Maze", 0),
        spotify("2022-01-01 10:00", "Nines", "The Maze", 0),  # a second real quick skip
        spotify("2022-01-01 10:04", "nines ", "THE  MAZE", 200_000),
    ])
    report = import_history(library, [log])
    assert (report.listens, report.matched, report.duplicates) == (3, 3, 0)
    assert import_history(library, [log]).duplicates == 3
    assert library.listen_count() == 3


def test_every_format(library: Library, tmp_path: Path, small_library) -> None:
    ext = write_json(tmp_path / "Streaming_History_Audio_2022.json", [
        {"ts": "2022-02-01T10:00:00Z", "master_metadata_album_artist_name": "Danny Sanchez",
         "master_metadata_track_name": "Hold Up", "ms_played": 150_000},
        {"ts": "2022-02-01T10:05:00Z", "master_metadata_album_artist_name": None,
         "master_metadata_track_name": None, "ms_played": 10_000},  # a podcast: dropped
    ])
    lb = tmp_path / "listens.jsonl"
    lb.write_text("\n".join(json.dumps({"listened_at": 1_650_000_000 + i * 200,
                                        "track_metadata": {"artist_name": "M Huncho",
                                                           "track_name": "Breadwinner"}})
                            for i in range(3)))
    tsv = tmp_path / "log.tsv"
    tsv.write_text("user\ttimestamp\tartist\ttitle\tms_played\n"
                   "\t2022-03-01 08:00\tNines\tThe Maze\t180000\n"
                   "\t2022-03-01 08:03\tSomeone Else\tUnknown Song\t5000\n")
    report = import_history(library, [ext, lb, tsv])
    assert report.errors == []
    assert (report.listens, report.matched, report.unmatched) == (6, 5, 1)
    rows = library.listens()
    by_title = Counter(r.title for r in rows)
    assert by_title == {"Hold Up": 1, "Breadwinner": 3, "The Maze": 1, "Unknown Song": 1}
    lb_rows = [r for r in rows if r.title == "Breadwinner"]
    assert all(r.skipped == 0 for r in lb_rows)  # a scrobble was heard
    assert all(r.track_id == small_library["d.wav"] for r in lb_rows)  # first of two artists
    unknown = next(r for r in rows if r.title == "Unknown Song")
    assert unknown.skipped == 1 and unknown.track_id is None  # 5 s: a skip


def test_bad_rows_are_reported_and_skipped(library: Library, tmp_path: Path,
                                           small_library) -> None:
    log = write_json(tmp_path / "StreamingHistory1.json", [
        spotify("2022-01-01 10:00", "Nines", "The Maze", 100_000),
        {"endTime": "not a date", "artistName": "Nines", "trackName": "The Maze",
         "msPlayed": 1},
        {"endTime": "2022-01-01 11:00", "artistName": "Nines", "trackName": "The Maze",
         "msPlayed": "lots"},
        ["not", "a", "record"],
        spotify("2022-01-01 12:00", "Danny Sanchez", "Hold Up", 100_000),
    ])
    garbage = tmp_path / "broken.json"
    garbage.write_text("{this is not json")
    report = import_history(library, [log, garbage])
    assert report.listens == 2
    assert len(report.errors) == 4
    assert any("broken.json" in where and "not a listening history" in why
               for where, why in report.errors)
    assert all(why for _, why in report.errors)


def test_m3u_and_tsv_playlists(library: Library, tmp_path: Path, small_library) -> None:
    lib_dir = tmp_path / "lib"
    m3u = lib_dir / "mix.m3u8"
    m3u.write_text("#EXTM3U\n#EXTINF:1,Whoever - Whatever\nb.wav\n"
                   "#EXTINF:200,Danny Sanchez - Hold Up\n/elsewhere/hold up.mp3\n"
                   "http://radio.example/stream\n", encoding="utf-8")
    tsv = tmp_path / "playlists.tsv"
    tsv.write_text("playlist\tposition\tartist\ttitle\n"
                   "Road\t2\tNines\tThe Maze\nRoad\t1\tM Huncho\tBreadwinner\n"
                   "Gym\t1\tNobody\tNothing\n")
    report = import_history(library, [m3u, tsv])
    assert report.playlists == 3 and report.errors == []
    lists = {pl.name: list(pl.track_ids) for pl in library.playlists()}
    assert lists["mix"][:2] == [small_library["b.wav"], small_library["a.wav"]]
    assert lists["mix"][2] is None  # a stream: kept as an unmatched entry
    assert lists["Road"][0] == small_library["d.wav"]
    assert lists["Gym"] == [None]
    import_history(library, [m3u])  # re-import replaces, never duplicates
    assert len(library.playlists()) == 3


def test_cli_import_json(data_dir: Path, tmp_path: Path) -> None:
    log = write_json(tmp_path / "StreamingHistory0.json",
                     [spotify("2022-01-01 10:00", "A", "B", 50_000)])
    cmd = [sys.executable, "-m", "player", "--data-dir", str(data_dir), "import", str(log),
           "--json"]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert {k: out[k] for k in ("listens", "matched", "unmatched", "duplicates",
                                "playlists")} == {"listens": 1, "matched": 0, "unmatched": 1,
                                                  "duplicates": 0, "playlists": 0}
    bad = subprocess.run([*cmd[:-2], str(tmp_path / "nope.json")], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "no such file" in bad.stderr
    odd = tmp_path / "notes.txt"
    odd.write_text("hello")
    bad = subprocess.run([*cmd[:-2], str(odd)], capture_output=True, text=True)
    assert bad.returncode == 2 and "not a listening history" in bad.stderr
