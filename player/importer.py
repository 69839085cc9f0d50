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

Every field is checked before anything is written: a time outside [1990, now + 1 day], a
milliseconds-played that is negative, over a day or not a finite number, text too long to be a
title. Bad rows are reported one by one, by their line or record number, and skipped; they
never stop an import, and an import that fails midway leaves nothing half-written (one
transaction per file). Files are read only if they are regular files of bounded size (a FIFO
or ``/dev/zero`` behind a ``.json`` name is refused, not read for ever); a file that cannot be
read at all is listed in ``ImportReport.unreadable``.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from player.library.db import Library
from recommender.logs import (
    MAX_PLAYLIST_BYTES,
    SESSION_GAP_S,
    LogFormatError,
    Play,
    UnreadableLog,
    is_skip,
    iter_plays,
    m3u_entries,
    normalise,
    open_bounded,
    playlist_tsv_rows,
)

log = logging.getLogger(__name__)

LOG_SUFFIXES = (".json", ".jsonl", ".tsv")
PLAYLIST_SUFFIXES = (".m3u", ".m3u8")
_PLAYLIST_TSV_HEADER = ["playlist", "position", "artist", "title"]

#: No listening log goes back further than 1990-01-01 (UTC); an earlier time is a bad value.
EARLIEST_PLAY = 631_152_000.0
#: A play may end up to a day after now (clocks and time zones), not later.
FUTURE_SLACK_S = 86_400.0
#: The longest single play believed (a day: long mixes and audiobooks, not 1e19 ms).
MAX_PLAY_MS = 24 * 3600 * 1000
#: The longest artist, title or user name believed.
MAX_TEXT = 1024


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
    #: ``(path, reason)`` for every file that could not be read at all (also in ``errors``).
    unreadable: list[tuple[str, str]] = field(default_factory=list)
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
            "unreadable": [{"path": p, "reason": r} for p, r in self.unreadable],
        }

    def playlists_phrase(self) -> str:
        """"1 playlist", "3 playlists", "no playlists": as a sentence says it."""
        if not self.playlists:
            return "no playlists"
        return f"{self.playlists:,} playlist{'s' if self.playlists != 1 else ''}"

    def file_failed(self, path: Path, reason: str, unreadable: bool) -> None:
        """A whole file skipped: ``unreadable`` when it could not be read at all."""
        self.errors.append((str(path), reason))
        if unreadable:
            self.unreadable.append((str(path), reason))


def check_play(play: Play, now: float) -> str | None:
    """Why ``play`` cannot be imported (a bad value), or None when every field is sound."""
    end = play.time
    if not isinstance(end, float) or not math.isfinite(end):
        return f"time {end!r} is not a finite number"
    if not EARLIEST_PLAY <= end <= now + FUTURE_SLACK_S:
        return f"time {end:.0f} is outside 1990 .. tomorrow"
    ms = play.ms_played
    if ms is not None:
        if not isinstance(ms, int) or not 0 <= ms <= MAX_PLAY_MS:
            return f"milliseconds played {ms!r:.40} is outside 0 .. {MAX_PLAY_MS:,}"
        if end - ms / 1000 < EARLIEST_PLAY:
            return "the play would have started before 1990"
    for name, value in (("artist", play.artist), ("title", play.title), ("user", play.user)):
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            return f"{name} is not text of at most {MAX_TEXT} characters"
    return None


def _row_name(path: Path, play: Play) -> str:
    """How a person finds the row: a TSV line number, a JSON record number."""
    if path.suffix.lower() == ".tsv":
        return f"{path}:{play.order}"
    return f"{path}: record {play.order}"


def _bounded_ms(seconds: float | None) -> int | None:
    """A playlist entry's length in ms, or None when absent or not believable."""
    if seconds is None or not math.isfinite(seconds) or not 0 < seconds * 1000 <= MAX_PLAY_MS:
        return None
    return int(seconds * 1000)


class _Candidate(NamedTuple):
    """What matching needs of a library track (not its whole row: at a million tracks the
    rows were most of an import's memory)."""

    id: int
    missing: bool
    album: str  # normalised
    duration_ms: int


class TrackMatcher:
    """Finds the library track for an (artist, title), with album and duration as tie-breaks."""

    def __init__(self, library: Library) -> None:
        self._library = library
        self._by_key: dict[tuple[str, str], list[_Candidate]] = defaultdict(list)
        for row in library.all_track_meta():
            title = normalise(row.title or "")
            candidate = _Candidate(row.id, row.missing, normalise(row.album or ""),
                                   row.duration_ms or 0)
            for artist in _artist_variants(row.artist, row.albumartist):
                self._by_key[(artist, title)].append(candidate)

    def match(self, artist: str, title: str, album: str | None = None,
              duration_ms: int | None = None) -> int | None:
        found = self._by_key.get((normalise(artist), normalise(title)))
        if not found:
            return None
        if len(found) > 1:
            present = [c for c in found if not c.missing] or found
            if album:
                same_album = [c for c in present if c.album == normalise(album)]
                present = same_album or present
            if duration_ms:
                present = sorted(present, key=lambda c: abs(c.duration_ms - duration_ms))
            found = present
        return found[0].id

    def by_path(self, path: str) -> int | None:
        track = self._library.track_by_path(path)
        return None if track is None else track.id


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
        with io.TextIOWrapper(open_bounded(path, MAX_PLAYLIST_BYTES),
                              encoding="utf-8-sig") as fh:
            header = fh.readline(4096).rstrip("\r\n").split("\t")
    except (OSError, UnicodeDecodeError, LogFormatError):
        return False  # read as a log, which reports the problem
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
    now = time.time()
    try:
        for row in iter_plays(path):
            if isinstance(row, LogFormatError):
                report.errors.append((str(path), str(row)))
                continue
            problem = check_play(row, now)
            if problem is not None:
                report.errors.append((str(path), f"{_row_name(path, row)}: {problem}"))
                continue
            plays.append(row)
    except (UnreadableLog, OSError) as exc:
        report.file_failed(path, str(exc), unreadable=True)
        return
    except (LogFormatError, UnicodeDecodeError, ValueError) as exc:
        report.file_failed(path, f"not a listening history: {exc}", unreadable=False)
        return
    report.rows += len(plays)
    plays.sort(key=lambda p: p.time)  # stable: equal times keep file order
    durations = library.track_durations()
    made = 0

    def rows() -> Iterator[dict[str, Any]]:
        # A generator, consumed by the insert in chunks: at a million plays, a list of these
        # dicts beside the plays doubled the import's memory.
        nonlocal made
        seen: Counter[tuple[Any, ...]] = Counter()
        for play in plays:
            identity = (round(play.time, 3), normalise(play.artist), normalise(play.title),
                        play.ms_played)
            occurrence = seen[identity]
            seen[identity] += 1
            track_id = matcher.match(play.artist, play.title)
            played = play.ms_played
            made += 1
            yield {
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
            }

    inserted, matched = library.add_imported_listens(rows(), SESSION_GAP_S)
    report.listens += inserted
    report.matched += matched
    report.unmatched += inserted - matched
    report.duplicates += made - inserted


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
                    track_id = matcher.match(entry.artist, entry.title,
                                             duration_ms=_bounded_ms(entry.seconds))
                items.append((track_id, entry.artist or None, entry.title or None))
            playlists = {path.stem: items}
    except (UnreadableLog, OSError) as exc:
        report.file_failed(path, str(exc), unreadable=True)
        return
    except (UnicodeDecodeError, ValueError) as exc:
        report.file_failed(path, f"not a playlist: {exc}", unreadable=False)
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
