"""Import listening history and playlists from elsewhere into the listening log.

Accepted: Spotify ``StreamingHistory*.json`` and the extended export
(``Streaming_History_Audio_*.json`` / ``endsong_*.json``), ListenBrainz exports (JSON array or
JSON lines), the protocol TSV (``user timestamp artist title ms_played``), and playlists
(M3U/M3U8, or TSV ``playlist position artist title``). Folders are searched for these.

Each play becomes a ``listens`` row with ``source = 'import'``, matched to a library track by
normalised artist + title (album and duration break ties). Unmatched plays are kept — they
still teach the model what follows what — but never queued (they have no track).

Importing the same file twice adds nothing: each play gets an identity, its end time + artist
+ title + ms played + how many identical plays came before it in the same import. Spotify's
times are to the minute, so two quick skips of one track can share all four; the counter keeps
both (no real play is merged away), and a re-import computes the same identities.

Bad rows are reported one by one and skipped; they never stop an import, and an import that
fails midway leaves nothing half-written (one transaction per file).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from player.history import SESSION_GAP_S, is_skip
from player.library.db import Library
from recommender.logs import (
    LogFormatError,
    Play,
    iter_plays,
    m3u_entries,
    normalise,
    playlist_tsv_rows,
)

log = logging.getLogger(__name__)

LOG_SUFFIXES = (".json", ".jsonl", ".tsv")
PLAYLIST_SUFFIXES = (".m3u", ".m3u8")
_PLAYLIST_TSV_HEADER = ["playlist", "position", "artist", "title"]


@dataclass
class ImportReport:
    """What an import did; ``errors`` lists ``(where, reason)`` for every row skipped."""

    rows: int = 0  # plays read (after the formats' own drops of empty rows)
    listens: int = 0  # new listens written
    matched: int = 0  # of which matched to a library track
    unmatched: int = 0
    duplicates: int = 0  # already imported before: ignored
    playlists: int = 0
    playlist_entries: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "listens": self.listens,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "duplicates": self.duplicates,
            "playlists": self.playlists,
            "rows": self.rows,
            "errors": [{"where": w, "reason": r} for w, r in self.errors],
        }


class TrackMatcher:
    """Finds the library track for an (artist, title), with album and duration as tie-breaks."""

    def __init__(self, library: Library) -> None:
        self._by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self._by_path: dict[str, int] = {}
        for row in library.all_track_meta():
            self._by_path[row["path"]] = row["id"]
            title = normalise(row["title"] or "")
            for artist in _artist_variants(row["artist"], row["albumartist"]):
                self._by_key[(artist, title)].append(row)

    def match(self, artist: str, title: str, album: str | None = None,
              duration_ms: int | None = None) -> int | None:
        rows = self._by_key.get((normalise(artist), normalise(title)))
        if not rows:
            return None
        if len(rows) > 1:
            present = [r for r in rows if not r["missing"]] or rows
            if album:
                same_album = [r for r in present if normalise(r["album"] or "") == normalise(album)]
                present = same_album or present
            if duration_ms:
                present = sorted(present, key=lambda r: abs((r["duration_ms"] or 0) - duration_ms))
            rows = present
        return int(rows[0]["id"])

    def by_path(self, path: str) -> int | None:
        return self._by_path.get(path)


def _artist_variants(artist: str | None, albumartist: str | None) -> set[str]:
    """The track's artist, its album artist, and the first of several joined artists."""
    out = set()
    for value in (artist, albumartist):
        if value:
            out.add(normalise(value))
            first = value.split(";")[0]
            out.add(normalise(first))
    return out


def classify(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], list[Path]]:
    """(listening-log files, playlist files) found in ``paths`` (files or folders)."""
    logs, playlists = [], []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise FileNotFoundError(f"no such file or folder: {p}")
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            suffix = f.suffix.lower()
            if suffix in PLAYLIST_SUFFIXES or (suffix == ".tsv" and _is_playlist_tsv(f)):
                playlists.append(f)
            elif suffix in LOG_SUFFIXES:
                logs.append(f)
            elif not p.is_dir():  # named explicitly but not something we read
                raise ValueError(f"{f}: not a listening history or playlist file "
                                 f"(expected {', '.join(LOG_SUFFIXES + PLAYLIST_SUFFIXES)})")
    return logs, playlists


def _is_playlist_tsv(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8-sig") as fh:
            header = fh.readline().rstrip("\r\n").split("\t")
    except (OSError, UnicodeDecodeError):
        return False
    return [h.strip().lower() for h in header] == _PLAYLIST_TSV_HEADER


def import_history(
    library: Library,
    paths: Iterable[str | os.PathLike[str]],
    progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> ImportReport:
    """Import every log and playlist in ``paths``; returns the report. Never raises for a bad
    row or file (they go into ``report.errors``); raises ``FileNotFoundError`` for a path
    that does not exist and ``ValueError`` for a file of an unknown kind."""
    logs, playlists = classify(paths)
    report = ImportReport()
    matcher = TrackMatcher(library)
    work = ([(f, f"Reading {f.name}", _import_log_file) for f in logs]
            + [(f, f"Reading playlist {f.name}", _import_playlist_file) for f in playlists])
    for f, label, importer in work:
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            break
        if progress:
            progress(label)
        importer(library, matcher, f, report)
    log.info("import: %s", report.as_json() | {"errors": len(report.errors)})
    return report


def _import_log_file(library: Library, matcher: TrackMatcher, path: Path,
                     report: ImportReport) -> None:
    plays: list[Play] = []
    try:
        for row in iter_plays(path):
            if isinstance(row, LogFormatError):
                report.errors.append((str(path), str(row)))
            else:
                plays.append(row)
    except (LogFormatError, OSError, UnicodeDecodeError, ValueError) as exc:
        report.errors.append((str(path), f"not a listening history: {exc}"))
        return
    report.rows += len(plays)
    seen: Counter[tuple[Any, ...]] = Counter()
    rows = []
    durations = library.track_durations()
    for play in sorted(plays, key=lambda p: p.time):  # stable: equal times keep file order
        identity = (round(play.time, 3), normalise(play.artist), normalise(play.title),
                    play.ms_played)
        occurrence = seen[identity]
        seen[identity] += 1
        track_id = matcher.match(play.artist, play.title)
        played = play.ms_played
        rows.append({
            "track_id": track_id,
            "started_at": play.time - (played or 0) / 1000,
            "ended_at": play.time,
            "played_ms": played,
            # Unknown length (ListenBrainz): a scrobble means it was heard, not skipped.
            "skipped": int(played is not None
                           and is_skip(played, durations.get(track_id), completed=False)),
            "artist": play.artist,
            "title": play.title,
            "import_key": "|".join(map(str, (*identity, occurrence, play.user))),
        })
    inserted, matched = library.add_imported_listens(rows, SESSION_GAP_S)
    report.listens += inserted
    report.matched += matched
    report.unmatched += inserted - matched
    report.duplicates += len(rows) - inserted


def _import_playlist_file(library: Library, matcher: TrackMatcher, path: Path,
                          report: ImportReport) -> None:
    try:
        if path.suffix.lower() == ".tsv":
            playlists = _playlist_tsv(path, matcher)
        else:
            items = []
            for entry in m3u_entries(path):
                location = entry.location
                if not location.startswith(("http:", "https:")) and not os.path.isabs(location):
                    location = os.path.normpath(path.parent / location.replace("\\", "/"))
                track_id = matcher.by_path(location)
                if track_id is None:
                    ms = int(entry.seconds * 1000) if entry.seconds else None
                    track_id = matcher.match(entry.artist, entry.title, duration_ms=ms)
                items.append((track_id, entry.artist or None, entry.title or None))
            playlists = {path.stem: items}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        report.errors.append((str(path), f"not a playlist: {exc}"))
        return
    for name, items in playlists.items():
        if not items:
            continue
        source = f"{path}#{name}" if path.suffix.lower() == ".tsv" else str(path)
        library.save_playlist(name, source, items)
        report.playlists += 1
        report.playlist_entries += len(items)


def _playlist_tsv(path: Path, matcher: TrackMatcher
                  ) -> dict[str, list[tuple[int | None, str | None, str | None]]]:
    return {name: [(matcher.match(a, t), a, t) for a, t in rows]
            for name, rows in playlist_tsv_rows(path).items()}
