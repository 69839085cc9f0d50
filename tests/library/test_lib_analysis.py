"""The loudness analysis on real generated audio: known loudness, silences, the pass, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from player.audiogen import (FORMATS, TrackSpec, encode, make_library, set_opus_output_gain,
                             tone_wav)
from player.library.analysis import AnalysisError, analyse_library, measure
from player.library.db import Library
from player.library.scanner import scan_folders

LOSSLESS = ("wav", "flac", "aiff", "wavpack")
#: Lossy encoders at test bitrates change a pure tone's level a little (LAME: -0.45 dB).
TOLERANCE_LU = {fmt: 0.1 if fmt in LOSSLESS else 0.5 for fmt in FORMATS}
#: Lossy codecs smear a tone's edges by their frame and filter lengths.
EDGE_MS = {fmt: 10 if fmt in LOSSLESS else 30 for fmt in FORMATS}


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """A 997 Hz sine at -20 dBFS (ITU-R BS.1770's calibration signal), mono 48 kHz and stereo
    44.1 kHz, with exact silences around it, in every format; plus a continuous one."""
    folder = tmp_path_factory.mktemp("tones")
    sources = {
        "mono": dict(seconds=8.0, channels=1, rate=48000, lead_s=1.5, trail_s=2.25),
        "stereo": dict(seconds=8.0, channels=2, rate=44100, lead_s=0.5, trail_s=0.75),
        "steady": dict(seconds=10.0, channels=1, rate=48000),
    }
    out = {}
    for name, kw in sources.items():
        wav = folder / f"{name}-src.wav"
        tone_wav(wav, dbfs=-20.0, **kw)
        for fmt, (ext, _) in FORMATS.items():
            out[name, fmt] = folder / f"{name}{ext}"
            encode(wav, fmt, out[name, fmt])
    return out


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_loudness_of_the_calibration_tone(tones, fmt: str) -> None:
    # BS.1770: a 997 Hz sine at -20 dBFS reads -23.0 LUFS in one channel, -20.0 in two.
    steady = measure(tones["steady", fmt])
    assert steady.integrated_lufs == pytest.approx(-23.0, abs=TOLERANCE_LU[fmt])
    if fmt in LOSSLESS:
        assert steady.peak == pytest.approx(0.1, abs=1e-4)
    stereo = measure(tones["stereo", fmt])  # silence around it lowers the edge blocks a bit
    assert stereo.integrated_lufs == pytest.approx(-20.0, abs=TOLERANCE_LU[fmt] + 0.15)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_leading_and_trailing_silence(tones, fmt: str) -> None:
    mono, stereo = measure(tones["mono", fmt]), measure(tones["stereo", fmt])
    tol = EDGE_MS[fmt]
    assert abs(mono.lead_silence_ms - 1500) <= tol and abs(mono.trail_silence_ms - 2250) <= tol
    assert abs(stereo.lead_silence_ms - 500) <= tol and abs(stereo.trail_silence_ms - 750) <= tol
    assert abs(mono.duration_ms - 11_750) <= tol and abs(stereo.duration_ms - 9250) <= tol


def test_quieter_and_louder_tones(tmp_path: Path) -> None:
    for dbfs in (-40.0, -6.0):
        tone_wav(tmp_path / "t.wav", 5.0, dbfs=dbfs)
        assert measure(tmp_path / "t.wav").integrated_lufs == pytest.approx(dbfs - 3.0, abs=0.1)


def test_silence_and_a_tiny_file_have_no_loudness(tmp_path: Path) -> None:
    tone_wav(tmp_path / "silent.wav", 2.0, dbfs=-200.0)
    silent = measure(tmp_path / "silent.wav")
    assert silent.integrated_lufs is None and silent.peak == 0.0
    assert (silent.lead_silence_ms, silent.trail_silence_ms) == (2000, 0)
    tone_wav(tmp_path / "short.wav", 0.2, dbfs=-10.0)  # shorter than one 400 ms block
    short = measure(tmp_path / "short.wav")
    assert short.integrated_lufs is None and short.peak == pytest.approx(10 ** -0.5, rel=1e-3)


def test_the_opus_header_gain_is_part_of_what_is_measured(tones, tmp_path: Path) -> None:
    # Decoders apply the header's output gain; R128_* tags are relative to it, so the measured
    # loudness (which includes it) and the tags (on top of it) agree.
    path = tmp_path / "quiet.opus"
    path.write_bytes(tones["steady", "opus"].read_bytes())
    set_opus_output_gain(path, -6.0)
    before = measure(tones["steady", "opus"]).integrated_lufs
    assert measure(path).integrated_lufs == pytest.approx(before - 6.0, abs=0.05)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty file"), (b"not audio at all\n" * 50, "decode"), (b"fLaC" + bytes(3000), "decode"),
])
def test_bad_files_raise_a_clear_error(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.flac"
    path.write_bytes(content)
    with pytest.raises(AnalysisError, match=reason):
        measure(path)
    with pytest.raises(AnalysisError, match="cannot read the file"):
        measure(tmp_path / "gone.flac")
    os.mkfifo(tmp_path / "fifo.flac")
    with pytest.raises(AnalysisError, match="not a regular file"):
        measure(tmp_path / "fifo.flac")


def test_a_file_name_that_is_not_utf8(tones, tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9 ol\xe9.flac")  # Latin-1 bytes: surrogate escapes
    path = tmp_path / name
    path.write_bytes(tones["steady", "flac"].read_bytes())
    assert measure(path).integrated_lufs == pytest.approx(-23.0, abs=0.1)


def _library_of(tmp_path: Path, library: Library, n: int, seconds: float = 1.0) -> list[Path]:
    formats = ("flac", "mp3", "vorbis", "opus", "aac", "wav")
    paths = make_library(tmp_path / "music", [
        (f"Album/{i:02d}", formats[i % len(formats)],
         TrackSpec(f"T{i}", "A", "Album", seconds=seconds, pitch=220.0 + 20 * i))
        for i in range(n)])
    scan_folders(library, [tmp_path / "music"], workers=0)
    return paths


def test_the_pass_measures_every_track_and_feeds_playback(tmp_path: Path, library) -> None:
    paths = _library_of(tmp_path, library, 6)
    (tmp_path / "music" / "Album" / "99.mp3").write_bytes(b"ID3")  # a scan error, not a track
    events = []
    result = analyse_library(library, progress=events.append)
    assert (result.analysed, result.failed, result.remaining, result.cancelled) == (6, 0, 0,
                                                                                   False)
    assert events[-1].done == events[-1].total == 6
    assert result.audio_seconds == pytest.approx(6.0, abs=0.2)
    infos = [library.loudness(library.track_by_path(str(p)).id) for p in paths]
    assert all(-30 < i.measured_lufs < -10 and 0 < i.measured_peak <= 1.0 for i in infos)
    assert all(i.album_lufs is not None for i in infos)  # the whole album is measured
    assert result.typical_gain_db == library.typical_gain_db() is not None
    assert analyse_library(library).analysed == 0  # nothing left


def test_a_cancelled_pass_resumes_where_it_stopped(tmp_path: Path, library) -> None:
    _library_of(tmp_path, library, 8)
    cancel = threading.Event()
    first = analyse_library(library, progress=lambda e: cancel.set(), cancel=cancel)
    assert first.cancelled and first.analysed == 1 and first.remaining == 7
    second = analyse_library(library)
    assert (second.analysed, second.remaining) == (7, 0)


def test_a_changed_file_is_measured_again(tmp_path: Path, library) -> None:
    paths = _library_of(tmp_path, library, 2)
    analyse_library(library)
    tone_wav(paths[1], 2.0, dbfs=-30.0)  # the file is replaced (a WAV now, another size)
    scan_folders(library, [], workers=0)
    assert library.analysis_remaining() == 1
    assert analyse_library(library).analysed == 1
    tid = library.track_by_path(str(paths[1])).id
    assert library.loudness(tid).measured_lufs == pytest.approx(-33.0, abs=0.1)


def test_an_undecodable_track_is_recorded_and_not_retried(tmp_path: Path, library) -> None:
    paths = _library_of(tmp_path, library, 2)
    paths[0].write_bytes(bytes(1000))  # broken after the scan read it
    result = analyse_library(library)
    assert (result.analysed, result.failed) == (1, 1)
    assert result.errors[0][0] == str(paths[0]) and "decode" in result.errors[0][1]
    assert library.analysis_errors() == result.errors
    again = analyse_library(library)
    assert again.analysed + again.failed == 0  # not until the file changes


def _analysis_workers() -> list[int]:
    """Child processes of this test running the analysis worker."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if ppid == os.getpid() and b"player.library.analysis" in cmd:
            pids.append(int(entry))
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_worker_is_replaced_and_nothing_is_lost(tmp_path: Path, library) -> None:
    _library_of(tmp_path, library, 4)
    killed = []

    def kill_worker(event) -> None:
        if not killed:
            for pid in _analysis_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    result = analyse_library(library, progress=kill_worker)
    assert killed and (result.analysed, result.failed) == (4, 0)


def test_the_worker_runs_at_the_lowest_priority(tmp_path: Path, library) -> None:
    _library_of(tmp_path, library, 2)
    seen = []

    def look(event) -> None:
        for pid in _analysis_workers():
            seen.append((os.sched_getscheduler(pid), os.getpriority(os.PRIO_PROCESS, pid)))

    analyse_library(library, progress=look)
    assert seen and all(policy == os.SCHED_IDLE or nice == 19 for policy, nice in seen)


def test_cli_analyse_json(tmp_path: Path, data_dir: Path, library) -> None:
    _library_of(tmp_path, library, 3)
    library.close()

    def run(*args: str) -> dict:
        proc = subprocess.run([sys.executable, "-m", "player", "--data-dir", str(data_dir),
                               "analyse", "--json", *args], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    first = run("--limit", "1")
    assert (first["analysed"], first["remaining"]) == (1, 2)
    rest = run()
    assert (rest["analysed"], rest["failed"], rest["remaining"]) == (2, 0, 0)
    assert rest["realtime"] > 0 and rest["files_per_s"] > 0
    assert run()["analysed"] == 0
