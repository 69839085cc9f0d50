"""The installed wheel, far from the checkout: run by the fresh virtualenv's Python from a
temporary folder (``python .ci/smoke.py``, called by .ci/run), so only what the wheel put into
site-packages can be imported. Each check prints one line; the first failure stops with a
clear message and exit status 1.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
SEGUE = str(BIN / "segue")


class SmokeError(Exception):
    """A check failed; the message says which and why."""


def run(*args: str, cwd: Path) -> str:
    """Run a command (no checkout on any path); its stdout, or SmokeError with its stderr."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SEGUE_DATA_DIR")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SmokeError(f"{shlex.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc.stdout


def check_installed_here(checkout: Path) -> None:
    import player
    import recommender

    for module in (player, recommender):
        where = Path(module.__file__).resolve()
        if checkout in where.parents:
            raise SmokeError(f"{module.__name__} comes from the checkout ({where})")
    import importlib.util

    for name in ("bench", "tests", "resources"):  # not installed as top-level packages
        if importlib.util.find_spec(name) is not None:
            raise SmokeError(f"the wheel installed a top-level package {name!r}")
    if (BIN / "segue-bench").exists():
        raise SmokeError("the wheel installed a segue-bench script")
    print(f"ok   installed in {Path(player.__file__).parent.parent}")


def check_version(work: Path) -> None:
    from importlib import metadata

    out = run(SEGUE, "--version", cwd=work).strip()
    if out != f"segue {metadata.version('segue')}":
        raise SmokeError(f"segue --version printed {out!r}")
    print(f"ok   {out}")


def check_scan(work: Path) -> None:
    """A generated folder, big enough for the tag-reading worker processes to start."""
    from player.audiogen import TrackSpec, make_library

    music = work / "music"
    specs = [(f"Artist {i % 7}/Album {i % 13}/{i:03d} Song", "wav",
              TrackSpec(f"Song {i}", f"Artist {i % 7}", f"Album {i % 13}", seconds=0.1,
                        pitch=200.0 + i))
             for i in range(600)]
    make_library(music, specs)
    (music / "broken.mp3").write_bytes(b"not audio at all")
    data = work / "data"
    report = json.loads(run(SEGUE, "--data-dir", str(data), "scan", str(music), "--workers", "2",
                            "--json", cwd=work))
    if report["added"] != 600 or len(report["failed"]) != 1:
        raise SmokeError(f"scan of 600 good files and 1 broken one: {report}")
    stats = json.loads(run(SEGUE, "--data-dir", str(data), "stats", "--json", cwd=work))
    print(f"ok   segue scan: {report['added']} added, 1 broken file reported, "
          f"{report['seconds']} s; stats: {stats.get('tracks', stats)} tracks")
    # The tag-reading worker processes on their own: they must find Segue in site-packages
    # (a scan would quietly read in its own process if they could not).
    import threading

    from player.library.tagworkers import WorkerPool

    os.chdir(work)
    pool = WorkerPool(1, parent_reads=False)
    batches = [[str(p) for p in sorted(music.rglob("*.wav"))[:10]]]
    results = list(pool.run(batches, threading.Event()))
    if pool.read_by_workers != 1 or not all(row for _, row, _ in results):
        raise SmokeError(f"a tag-reading worker did not read its batch: {results[:2]}")
    print("ok   a tag-reading worker process read a batch")


def check_desktop_entry(work: Path) -> None:
    prefix = work / "share"
    run(SEGUE, "install-desktop", "--prefix", str(prefix), cwd=work)
    entry = prefix / "applications" / "segue.desktop"
    run("desktop-file-validate", str(entry), cwd=work)
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    command = shlex.split(fields["Exec"])
    if command[-1] != "%U" or not fields.get("MimeType", "").startswith("audio/"):
        raise SmokeError(f"the entry takes no files or declares no audio types: {fields}")
    if Path(command[0]).parent != BIN:
        raise SmokeError(f"Exec does not start this installation: {fields['Exec']}")
    run(*command[:-1], "--version", cwd=work)
    for icon in ("256x256/apps/segue.png", "scalable/apps/segue.svg"):
        if not (prefix / "icons" / "hicolor" / icon).stat().st_size:
            raise SmokeError(f"icon {icon} is empty")
    print(f"ok   install-desktop: {entry} valid, Exec {fields['Exec']}, icons installed")


def check_demo_library() -> None:
    """The shipped demo tracks are there, tagged, and decode to sound (QtMultimedia)."""
    from player import resources
    from player.library.tags import read_tags

    with resources.path(resources.DEMO) as demo:
        files = sorted(demo.rglob("*.opus"))
        if len(files) != 8:
            raise SmokeError(f"the demo library has {len(files)} tracks, not 8: {demo}")
        tags = [read_tags(f) for f in files]
        decoded_ms = decode_ms(files[0])
    expected = tags[0].duration_ms or 0
    if decoded_ms < 0.9 * expected:
        raise SmokeError(f"{files[0].name}: decoded {decoded_ms} of {expected} ms")
    print(f"ok   demo library: 8 tracks tagged ({tags[0].artist} …); {files[0].name} decodes "
          f"to {decoded_ms} ms of sound")


def decode_ms(path: Path) -> int:
    """How many milliseconds of audio QtMultimedia decodes from ``path``."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QCoreApplication, QTimer, QUrl
    from PySide6.QtMultimedia import QAudioDecoder

    app = QCoreApplication.instance() or QCoreApplication([])
    decoder = QAudioDecoder()
    heard = [0]
    errors: list[str] = []

    def take() -> None:
        while decoder.bufferAvailable():
            heard[0] += decoder.read().duration() // 1000  # microseconds -> ms

    decoder.bufferReady.connect(take)
    decoder.finished.connect(app.quit)
    decoder.error.connect(lambda *_: (errors.append(decoder.errorString()), app.quit()))
    QTimer.singleShot(60_000, app.quit)  # a broken decoder must not hang CI
    decoder.setSource(QUrl.fromLocalFile(str(path)))
    decoder.start()
    app.exec()
    if errors:
        raise SmokeError(f"{path.name} does not decode: {errors[0]}")
    return heard[0]


def main() -> int:
    checkout = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).parents[1]
    with tempfile.TemporaryDirectory(prefix="segue-smoke-") as tmp:
        work = Path(tmp)
        try:
            check_installed_here(checkout.resolve())
            check_version(work)
            check_scan(work)
            check_desktop_entry(work)
            check_demo_library()
        except SmokeError as exc:
            print(f"FAIL {exc}", file=sys.stderr)
            return 1
    print("smoke test of the wheel: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
