"""Import of the public Spotify export (54,429 plays) into a library of its 300 most played
tracks: how long it takes (target under 10 s), what matched, and that importing it again adds
nothing. Baseline: only parsing the same JSON files (``json.loads``), in the same run.

    python -m bench import_speed [--log PATH]

The export comes from github.com/jonas-mika/spotify-streaming-history-viz (data/, MIT); where
to find it is said once, in bench/publiclog.py.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import publiclog

#: The public export's default place (``$SEGUE_PUBLIC_LOG``, else ../shared): see publiclog.
EXPORT = publiclog.default_path()


def export_records(export: Path) -> list[dict[str, Any]]:
    """Every row of a Spotify export folder (``StreamingHistory*.json``), in file order."""
    return [r for f in sorted(export.glob("*.json")) for r in json.loads(f.read_text())]


def library_of_top_tracks(library: Any, folder: Path, records: list[dict[str, Any]],
                          n: int = 300) -> None:
    """Generate and scan short tagged files for the export's ``n`` most played tracks."""
    from player.audiogen import TrackSpec, make_library
    from player.library.scanner import scan_folders

    top = Counter((r["artistName"], r["trackName"]) for r in records).most_common(n)
    make_library(folder, [(f"t{i:04d}", "wav", TrackSpec(t, a, seconds=0.2))
                          for i, ((a, t), _) in enumerate(top)])
    scan_folders(library, [folder])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench import_speed")
    publiclog.add_option(parser)
    export = publiclog.resolve(parser.parse_args(argv).log)
    if not export.is_dir():
        return {"skipped": f"public export not found at {export} (--log PATH)"}
    from player.importer import import_history
    from player.library.db import Library

    t0 = time.perf_counter()
    records = export_records(export)
    parse_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library.open(Path(tmp) / "data")
        try:
            library_of_top_tracks(lib, Path(tmp) / "music", records)
            t0 = time.perf_counter()
            first = import_history(lib, [export])
            first_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = import_history(lib, [export])
            again_s = time.perf_counter() - t0
            stored = lib.db.execute("SELECT count(*) FROM listens").fetchone()[0]
        finally:
            lib.close()
    return {
        "rows": first.rows,
        "import_s": round(first_s, 2),
        "ratio_to_10s_target": round(first_s / 10, 3),
        "json_parse_only_s": round(parse_s, 2),
        "ratio_to_json_parse": round(first_s / parse_s, 1),
        "listens": first.listens, "matched": first.matched, "unmatched": first.unmatched,
        "duplicates_in_file": first.duplicates,
        "reimport_s": round(again_s, 2),
        "reimport_new_listens": again.listens,
        "reimport_duplicates": again.duplicates,
        "listens_stored": stored,
    }


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key:24} {value}")
