"""Hostile import files: one bad row never stops an import, impossible values are never
stored, and no file is read without limit (FIFOs, /dev/zero, JSON nested 100,000 deep)."""

from __future__ import annotations

import json
import math
import os
import resource
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player.importer import EARLIEST_PLAY, MAX_PLAY_MS, import_history
from player.library.db import Library
from tests.reliability.conftest import assert_one_line_error, run_segue


def spotify(end: str, artist: str, title: str, ms) -> dict:
    return {"endTime": end, "artistName": artist, "trackName": title, "msPlayed": ms}


def listens(data_dir: Path) -> list[tuple]:
    conn = sqlite3.connect(data_dir / "library.db")
    try:
        return conn.execute("SELECT artist, title, started_at, ended_at, played_ms "
                            "FROM listens ORDER BY id").fetchall()
    finally:
        conn.close()


def import_json(tmp_path: Path, *paths: Path) -> tuple[dict, list[tuple]]:
    data = tmp_path / "data"
    proc = run_segue("--data-dir", data, "import", "--json", *paths)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout), listens(data)


def reasons(report: dict) -> str:
    return "\n".join(e["reason"] for e in report["errors"])


# -- 3: one bad row stopped the whole import -----------------------------------------------------

def test_a_huge_ms_played_is_one_bad_row(tmp_path: Path) -> None:
    history = tmp_path / "StreamingHistory0.json"
    history.write_text(json.dumps([
        spotify("2023-01-01 10:00", "A", "Good one", 200_000),
        spotify("2023-01-01 10:05", "B", "Huge", 1e19),
        spotify("2023-01-01 10:09", "C", "Good two", 180_000),
    ]))
    report, rows = import_json(tmp_path, history)
    assert [r[1] for r in rows] == ["Good one", "Good two"]
    assert report["listens"] == 2 and len(report["errors"]) == 1
    assert "record 2" in reasons(report)


def test_a_huge_tsv_ms_played_is_one_bad_row(tmp_path: Path) -> None:
    log = tmp_path / "log.tsv"
    log.write_text("user\ttimestamp\tartist\ttitle\tms_played\n"
                   "u\t2023-01-01T10:00:00Z\tA\tGood\t200000\n"
                   "u\t2023-01-01T10:05:00Z\tB\tHuge\t1e30\n"
                   "u\t2023-01-01T10:09:00Z\tC\tAlso good\t1000\n")
    report, rows = import_json(tmp_path, log)
    assert [r[1] for r in rows] == ["Good", "Also good"]
    assert f"{log}:3" in reasons(report)


def test_an_infinite_extinf_length_is_ignored(tmp_path: Path) -> None:
    playlist = tmp_path / "list.m3u"
    playlist.write_text("#EXTM3U\n#EXTINF:inf,A - B\n/music/a.mp3\n#EXTINF:1e300,C - D\n"
                        "/music/c.mp3\n#EXTINF:200,E - F\n/music/e.mp3\n")
    report, _ = import_json(tmp_path, playlist)
    assert report["playlists"] == 1 and report["errors"] == []


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_nested_100000_deep_is_a_bad_file_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "imports").mkdir()
    deep = tmp_path / "imports" / "StreamingHistory0.json"
    deep.write_text(nested(100_000))
    good = tmp_path / "imports" / "StreamingHistory1.json"
    good.write_text(json.dumps([spotify("2023-01-01 10:00", "A", "Fine", 200_000)]))
    lines = tmp_path / "imports" / "listens.jsonl"
    lines.write_text(json.dumps({"listened_at": 1_700_000_000, "track_metadata": {
        "artist_name": "L", "track_name": "Line"}}) + "\n" + nested(100_000) + "\n")
    report, rows = import_json(tmp_path, tmp_path / "imports")
    assert sorted(r[1] for r in rows) == ["Fine", "Line"]
    assert "nested too deeply" in reasons(report)
    assert f"{lines}:2" in reasons(report)  # the bad line, by number; the file goes on


def test_evaluate_on_json_nested_100000_deep(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(nested(100_000))
    proc = run_segue("evaluate", deep)
    assert_one_line_error(proc, 2, "nested too deeply")


def test_a_record_nested_just_under_the_limit_is_one_bad_row(tmp_path: Path) -> None:
    history = tmp_path / "StreamingHistory0.json"
    history.write_text("[" + json.dumps(spotify("2023-01-01 10:00", "A", "Fine", 1)) + ", "
                       + '{"endTime": "2023-01-01 10:00", "artistName": "X", "trackName": '
                       + nested(900) + ', "msPlayed": 5}, '
                       + '{"ts": "2023-01-01T10:00:00Z", "username": ' + nested(900)
                       + ', "master_metadata_album_artist_name": "Y", '
                       + '"master_metadata_track_name": "Z", "ms_played": 5}]')
    report, rows = import_json(tmp_path, history)
    assert [r[1] for r in rows] == ["Fine"] and len(report["errors"]) == 2


# -- 4: impossible values were stored --------------------------------------------------------

def test_impossible_times_and_negative_lengths_are_not_stored(tmp_path: Path) -> None:
    history = tmp_path / "StreamingHistory0.json"
    history.write_text(json.dumps([
        spotify("2023-01-01 10:00", "A", "Good", 200_000),
        spotify("2099-01-01 10:00", "B", "From the future", 200_000),
        spotify("1975-01-01 10:00", "C", "Before 1990", 200_000),
        spotify("2023-01-01 11:00", "D", "Negative", -50_000),
        spotify("2023-01-01 12:00", "E", "Longer than a day", 90_000_000),
    ]))
    extended = tmp_path / "Streaming_History_Audio_2023.json"
    extended.write_text(json.dumps([
        {"ts": 1e308, "master_metadata_album_artist_name": "F",
         "master_metadata_track_name": "At 1e308", "ms_played": 1000},
        {"ts": "2023-02-01T10:00:00Z", "master_metadata_album_artist_name": "G",
         "master_metadata_track_name": "Fine too", "ms_played": 1000},
    ]))
    report, rows = import_json(tmp_path, history, extended)
    assert sorted(r[1] for r in rows) == ["Fine too", "Good"]
    assert len(report["errors"]) == 5
    assert all(start <= end for _, _, start, end, _ in rows)


def test_a_live_listen_does_not_join_a_session_from_2099(tmp_path: Path) -> None:
    from player.history import ListenLog

    history = tmp_path / "StreamingHistory0.json"
    history.write_text(json.dumps([spotify("2099-01-01 10:00", "B", "Future", 200_000)]))
    data = tmp_path / "data"
    lib = Library.open(data)
    try:
        import_history(lib, [history])
        lib.add_tracks([{"path": "/m/x.mp3", "mtime": 1.0, "size": 1, "title": "X"}])
        log = ListenLog(lib)
        first = log.session_for(time.time())
        assert lib.listen_count() == 0 and first == 1
    finally:
        lib.close()


# -- 7 and 11: files that are not regular files, or cannot be read -----------------------------

def test_import_of_a_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "StreamingHistory0.json"
    os.mkfifo(fifo)
    proc = run_segue("--data-dir", tmp_path / "data", "import", fifo, timeout=120)
    assert_one_line_error(proc, 1, "not a regular file")


def _limit_memory() -> None:  # the old code read /dev/zero until memory ran out
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_import_of_a_link_to_dev_zero_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "history.json"
    os.symlink("/dev/zero", link)
    playlist = tmp_path / "list.m3u"
    os.symlink("/dev/zero", playlist)
    proc = run_segue("--data-dir", tmp_path / "data", "import", link, playlist, timeout=120,
                     preexec_fn=_limit_memory)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("not a regular file") == 2


def test_evaluate_refuses_a_fifo_and_dev_zero(tmp_path: Path) -> None:
    fifo = tmp_path / "log.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.tsv"
    os.symlink("/dev/zero", zero)
    for path in (fifo, zero):
        proc = run_segue("evaluate", path, timeout=120, preexec_fn=_limit_memory)
        assert_one_line_error(proc, 2, "not a regular file")


def test_an_oversized_file_is_refused_without_reading_it(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import recommender.logs as logs

    big = tmp_path / "StreamingHistory0.json"
    big.write_text(json.dumps([spotify("2023-01-01 10:00", "A", "Fine", 1)] * 100))
    monkeypatch.setattr(logs, "MAX_LOG_BYTES", 1000)
    lib = Library.open(tmp_path / "data")
    try:
        report = import_history(lib, [big])
    finally:
        lib.close()
    assert report.listens == 0 and len(report.unreadable) == 1
    assert "too large" in report.unreadable[0][1]


def test_an_unreadable_file_exits_non_zero(tmp_path: Path) -> None:
    history = tmp_path / "StreamingHistory0.json"
    history.write_text(json.dumps([spotify("2023-01-01 10:00", "A", "Fine", 1)]))
    other = tmp_path / "StreamingHistory1.json"
    other.write_text(json.dumps([spotify("2023-01-01 10:10", "B", "Also fine", 1)]))
    history.chmod(0o000)
    data = tmp_path / "data"
    proc = run_segue("--data-dir", data, "import", history, other, unprivileged=True)
    assert_one_line_error(proc, 1, "permission denied", str(history))
    assert [r[1] for r in listens(data)] == ["Also fine"]  # the readable one still came in


# -- the fuzz target: hypothesis-made rows, good ones mixed with hostile ones ------------------

NOW = time.time()


def _end_times() -> st.SearchStrategy[float]:
    # Whole minutes (Spotify's precision), from a day after 1990 to now.
    return st.integers(int(EARLIEST_PLAY) // 60 + 1440, int(NOW) // 60).map(lambda m: m * 60.0)


_nested = st.recursive(st.integers() | st.text(max_size=5),
                       lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                       max_leaves=8).filter(lambda v: isinstance(v, (list, dict)))
_bad_ms = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=MAX_PLAY_MS + 1, max_value=10**30),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e19, 1e308, -1e308]),
    _nested, st.sampled_from(["loud", "", "1e999", "nan"]))
_bad_time = st.one_of(
    st.sampled_from(["2099-01-01 10:00", "1975-06-01 00:00", "9999-12-31 23:59", "",
                     "yesterday", "2023-13-45 99:99"]),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1.0, 0, 4_102_444_800]),
    st.integers(min_value=int(NOW) + 2 * 86_400, max_value=10**30), _nested)
_bad_text = st.one_of(_nested, st.integers(), st.just("x" * 5000))


def _minute(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M")


@st.composite
def _rows(draw) -> tuple[list[dict], list[tuple[str, float, int]], int]:
    """Spotify records: (records, the good ones as (title, end, ms), how many bad)."""
    records, good, bad = [], [], 0
    for i in range(draw(st.integers(0, 12))):
        end = draw(_end_times())
        ms = draw(st.integers(0, MAX_PLAY_MS))
        title = f"song {i}"
        record = spotify(_minute(end), "Artist", title, ms)
        kind = draw(st.sampled_from(["good", "good", "ms", "time", "text"]))
        if kind == "ms":
            record["msPlayed"] = draw(_bad_ms)
        elif kind == "time":
            record["endTime"] = draw(_bad_time)
        elif kind == "text":
            record[draw(st.sampled_from(["artistName", "trackName"]))] = draw(_bad_text)
        if kind == "good":
            good.append((title, end, ms))
        else:
            bad += 1
        records.append(record)
    return records, good, bad


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=_rows())
def test_fuzzed_rows_every_good_one_in_no_bad_one_no_traceback(tmp_path_factory, rows) -> None:
    records, good, bad = rows
    folder = tmp_path_factory.mktemp("fuzz")
    history = folder / "StreamingHistory0.json"
    history.write_text(json.dumps(records))  # inf and nan as JSON's Infinity / NaN
    lib = Library.open(folder / "data")
    try:
        report = import_history(lib, [history])
        stored = {r.title: r for r in lib.listens()}
    finally:
        lib.close()
    assert len(report.errors) == bad and report.unreadable == []
    assert report.listens == len(good) == len(stored)
    for title, end, ms in good:
        row = stored[title]
        assert row.ended_at == end and row.played_ms == ms
    assert all(r.started_at <= r.ended_at for r in stored.values())
