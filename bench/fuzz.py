"""Fuzzing the tag reader and the scanner with mutated copies of real audio files.

Seeds: every generated format plus, where present, the real odd files of a corpus folder
(``--corpus DIR``; by default ``../shared/corpora/mutagen-testdata``, mutagen's own test
files, as the team's shared folder holds them; without it, the generated seeds alone).
Mutations: truncation, bit flips, inserted and deleted bytes, a zeroed or garbled header, a
chunk duplicated. The rule: :func:`read_tags` returns tags or raises :class:`TagReadError` —
nothing else ever escapes — and a scan of the mutants records each one as a track or as an
error, never both, never neither.

Import rows are fuzzed too: Spotify records where a random field holds a hostile value (huge,
infinite, NaN, negative, nested, far past or future, too long) among good ones. The rule: no
exception escapes, no row is stored with ``started_at > ended_at``, every bad row is reported
and every good one is imported as it was.

``python -m bench fuzz --inputs 10000 --rows 10000`` prints how many inputs ran and how many
escaped.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from player.audiogen import TrackSpec, available_formats, make_library
from player.importer import EARLIEST_PLAY, MAX_PLAY_MS, import_history
from player.library.db import Library
from player.library.tags import AUDIO_EXTENSIONS, TagReadError, read_tags

SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "mutagen-testdata"


def seed_files(folder: Path, corpus: Path | None = SHARED_CORPUS) -> list[Path]:
    """Real files to mutate: one per generated format, plus the corpus' audio files (when
    that folder exists)."""
    specs = [(f"seed-{fmt}", fmt, TrackSpec("Seed", "Fuzz", "Corpus", "Fuzz", "1/2", "1",
                                            "Noise", "2020", seconds=0.4, cover=True))
             for fmt in available_formats()]
    seeds = make_library(folder, specs)
    if corpus is not None and corpus.is_dir():
        seeds += [p for p in sorted(corpus.iterdir())
                  if p.suffix.lower() in AUDIO_EXTENSIONS]
    return seeds


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random mutation of ``data``."""
    if not data:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    kind = rng.randrange(7)
    buf = bytearray(data)
    if kind == 0:  # truncated anywhere
        return bytes(buf[: rng.randrange(len(buf))])
    if kind == 1:  # bit flips, more of them near the start where headers live
        for _ in range(rng.randrange(1, 16)):
            limit = len(buf) if rng.random() < 0.3 else min(len(buf), 4096)
            i = rng.randrange(limit)
            buf[i] ^= 1 << rng.randrange(8)
        return bytes(buf)
    if kind == 2:  # random bytes inserted
        i = rng.randrange(len(buf))
        return bytes(buf[:i] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
                     + buf[i:])
    if kind == 3:  # a slice deleted
        i = rng.randrange(len(buf))
        return bytes(buf[:i] + buf[i + rng.randrange(1, 512):])
    if kind == 4:  # the header zeroed
        n = min(len(buf), rng.randrange(1, 256))
        return bytes(n) + bytes(buf[n:])
    if kind == 5:  # sizes garbled: 0xFF runs, as in overflowing length fields
        i = rng.randrange(min(len(buf), 2048))
        buf[i : i + 4] = b"\xff\xff\xff\xff"
        return bytes(buf)
    i, j = sorted(rng.randrange(len(buf)) for _ in range(2))  # a chunk duplicated
    return bytes(buf[:j] + buf[i:j] + buf[j:])


def fuzz_read_tags(seeds: list[Path], inputs: int, seed: int, work: Path) -> dict[str, Any]:
    """Feed ``inputs`` mutants to read_tags; returns counts. Escapes are listed."""
    rng = random.Random(seed)
    originals = [(p.suffix, p.read_bytes()) for p in seeds]
    read = rejected = 0
    escaped: list[str] = []
    path = work / "mutant"
    for n in range(inputs):
        suffix, data = originals[rng.randrange(len(originals))]
        target = path.with_suffix(suffix)
        target.write_bytes(mutate(data, rng))
        try:
            tags = read_tags(target)
        except TagReadError as exc:
            assert str(exc), "an error without a reason"
            rejected += 1
        except BaseException as exc:  # noqa: BLE001 - this is exactly what we count
            escaped.append(f"input {n} ({suffix}): {type(exc).__name__}: {exc}")
        else:
            assert tags.title, "a track without a title"
            read += 1
        target.unlink()
    return {"inputs": inputs, "read": read, "rejected": rejected, "escaped": escaped}


def mutant_folder(seeds: list[Path], count: int, seed: int, folder: Path) -> list[Path]:
    """Write ``count`` mutants into ``folder`` (for a scan)."""
    rng = random.Random(seed)
    originals = [(p.suffix, p.read_bytes()) for p in seeds]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in range(count):
        suffix, data = originals[rng.randrange(len(originals))]
        path = folder / f"mutant-{n:05d}{suffix}"
        path.write_bytes(mutate(data, rng))
        out.append(path)
    return out


def _nested(rng: random.Random, depth: int) -> Any:
    value: Any = rng.choice([1, "x", None])
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def _hostile(rng: random.Random, field: str) -> Any:
    """A value no real export holds in ``field``."""
    common = [math.inf, -math.inf, math.nan, 1e308, -1e308, _nested(rng, rng.randrange(1, 50)),
              rng.randrange(10**20, 10**30)]
    if field == "msPlayed":
        return rng.choice(common + [-rng.randrange(1, 10**9), MAX_PLAY_MS + 1, 1e19, "loud"])
    if field == "endTime":
        return rng.choice(common + ["2099-01-01 10:00", "1975-06-01 00:00", "9999-12-31 23:59",
                                    "", "yesterday", "2023-13-45 99:99", -1.0, 0])
    return rng.choice(common + ["x" * 5000, 42, True])


def hostile_history(rng: random.Random, rows: int
                    ) -> tuple[list[dict[str, Any]], list[tuple[str, float, int]], int]:
    """Spotify records, a third with one hostile field: (records, the good ones as
    ``(title, end time, ms)``, how many bad)."""
    now = time.time()
    records, good, bad = [], [], 0
    for i in range(rows):
        end = float(rng.randrange(int(EARLIEST_PLAY) // 60 + 1440, int(now) // 60) * 60)
        ms = rng.randrange(0, MAX_PLAY_MS + 1)
        title = f"song {i}"
        record = {"endTime": datetime.fromtimestamp(end, timezone.utc).strftime("%Y-%m-%d %H:%M"),
                  "artistName": "Artist", "trackName": title, "msPlayed": ms}
        if rng.random() < 1 / 3:
            field = rng.choice(["msPlayed", "endTime", "artistName", "trackName"])
            record[field] = _hostile(rng, field)
            bad += 1
        else:
            good.append((title, end, ms))
        records.append(record)
    return records, good, bad


def fuzz_imports(rows: int, seed: int, work: Path) -> dict[str, Any]:
    """Import ``rows`` fuzzed records; count escapes and every way a row could go wrong."""
    records, good, bad = hostile_history(random.Random(seed), rows)
    history = work / "StreamingHistory0.json"
    history.write_text(json.dumps(records))  # inf and nan as JSON's Infinity / NaN
    lib = Library.open(work / "import-data")
    escaped: list[str] = []
    try:
        try:
            report = import_history(lib, [history])
        except BaseException as exc:  # noqa: BLE001 - this is exactly what we count
            escaped.append(f"{type(exc).__name__}: {exc}")
            report = None
        stored = {r.title: r for r in lib.listens()}
    finally:
        lib.close()
    kept = sum(1 for title, end, ms in good if title in stored
               and (stored[title].ended_at, stored[title].played_ms) == (end, ms))
    return {"rows": rows, "good_rows": len(good), "good_imported": kept,
            "bad_rows": bad, "bad_reported": len(report.errors) if report else 0,
            "rows_stored": len(stored),
            "started_after_ended": sum(r.started_at > r.ended_at for r in stored.values()),
            "escaped": escaped}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench fuzz")
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=10_000, help="fuzzed import rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, default=SHARED_CORPUS, metavar="DIR",
                        help="real audio files to mutate besides the generated ones (default: "
                             "mutagen's test files in ../shared/corpora; skipped where absent)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        seeds = seed_files(Path(tmp) / "seeds", args.corpus)
        t0 = time.monotonic()
        result = fuzz_read_tags(seeds, args.inputs, args.seed, Path(tmp))
        result["seconds"] = round(time.monotonic() - t0, 1)
        result["seed_files"] = len(seeds)
        result["corpus"] = str(args.corpus) if args.corpus.is_dir() else "absent (generated only)"
        imports = fuzz_imports(args.rows, args.seed, Path(tmp))
    result["escaped_count"] = len(result.pop("escaped"))
    imports["escaped_count"] = len(imports.pop("escaped"))
    result.update({f"import_{k}": v for k, v in imports.items()})
    return result


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key:16} {value}")
