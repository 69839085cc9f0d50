"""Listening logs: loaders, track keys, skips, sessions and the train/test split.

This module implements steps 1-4 of the evaluation protocol v1 (../shared/EVALUATION.md)
and the input side of the recommender. It deliberately imports only the standard library:
the player imports these loaders for its history importer and must not pay for torch.

Types
-----
``Play``      one row of a listening log as read from a file (user, time, artist, title,
              milliseconds played). ``ms_played`` is ``None`` where the format does not say
              (ListenBrainz: a listen there is already a scrobble, so it counts as heard).
``Event``     one step of a session as the models see it: a track id, an optional time
              (seconds since the epoch) and a ``skipped`` flag. Models accept bare track ids
              wherever an ``Event`` is accepted (a bare id means "played, time unknown").
``TrackKey``  ``(artist, title)`` normalised (NFKC, casefold, collapsed white space).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import random
import re
import reprlib
import stat
import unicodedata
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Union

log = logging.getLogger(__name__)

TrackKey = tuple[str, str]
TrackId = Hashable

#: A play shorter than this is a skip (protocol v1, step 2; the player also counts a play
#: of less than half of a short track as one: ``is_skip``).
SKIP_MS = 30_000
#: A gap longer than this between two kept plays starts a new session (step 3).
SESSION_GAP_S = 30 * 60


def is_skip(played_ms: int, duration_ms: int | None = None, completed: bool = False,
            threshold_ms: int = SKIP_MS) -> bool:
    """The skip rule - the one definition the player's listening log, its importer and the
    evaluation share: the listener moved on before ``min(30 s, half the track)`` (the
    track's length when known); a play that reached the end never is one."""
    if completed:
        return False
    threshold = threshold_ms
    if duration_ms and duration_ms > 0:
        threshold = min(threshold, duration_ms // 2)
    return played_ms < threshold


def is_new_session(previous: float | None, now: float, gap_s: float = SESSION_GAP_S) -> bool:
    """The session rule: a play at ``now`` starts a new session when the previous kept play
    (at ``previous``; ``None``: there was none) is more than ``gap_s`` (30 minutes) ago."""
    return previous is None or now - previous > gap_s
#: Share of a user's sessions used for training (step 4).
TRAIN_SHARE = 0.8


#: The largest listening-log file read (a year of Spotify's extended history is ~15 MB).
MAX_LOG_BYTES = 512 * 1024 * 1024
#: The largest playlist file read.
MAX_PLAYLIST_BYTES = 32 * 1024 * 1024


class LogFormatError(ValueError):
    """A file is not a listening log in any supported format, or cannot be read."""


class UnreadableLog(LogFormatError):
    """A file that cannot be read at all: not a regular file, too large, or an I/O error."""


def open_bounded(path: str | os.PathLike[str], limit: int) -> io.BufferedReader:
    """Open a regular file of at most ``limit`` bytes for reading, else ``UnreadableLog``.

    Never blocks and never reads without end: a FIFO would block ``open`` until a writer
    comes (``O_NONBLOCK`` returns at once), and ``/dev/zero`` or a terminal has no end.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UnreadableLog(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableLog(f"{path}: not a regular file")
        if st.st_size > limit:
            raise UnreadableLog(f"{path}: too large ({st.st_size:,} bytes; the limit is "
                                f"{limit:,})")
        return io.open(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes (see :func:`open_bounded`)."""
    with open_bounded(path, limit) as fh:
        try:
            size = os.fstat(fh.fileno()).st_size  # read(limit) would allocate the limit
            data = fh.read(size + 1)
            if len(data) > size:  # it grew meanwhile
                data += fh.read(limit + 1 - len(data))
        except OSError as exc:
            raise UnreadableLog(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > limit:  # it grew while being read
        raise UnreadableLog(f"{path}: too large (over {limit:,} bytes)")
    return data


#: Short, depth-limited reprs for error messages: a record nested 900 deep is still shown
#: in a line (``repr`` itself would recurse as deep).
_short = reprlib.Repr()
_short.maxlevel, _short.maxstring, _short.maxother = 2, 40, 40


@dataclass(frozen=True, slots=True)
class Play:
    """One row of a listening log.

    ``time`` is when the play ended (seconds since the epoch, UTC); ``order`` is the row's
    position in the files as read, used to keep equal times in file order.
    """

    user: str
    time: float
    artist: str
    title: str
    ms_played: int | None
    order: int = 0

    @property
    def key(self) -> TrackKey:
        """The normalised track key of this play."""
        return track_key(self.artist, self.title)

    @property
    def skipped(self) -> bool:
        """True for a play shorter than 30 s (unknown length counts as heard)."""
        return self.ms_played is not None and is_skip(self.ms_played)


@dataclass(frozen=True, slots=True)
class Event:
    """One step of a listening session as given to a model.

    ``track`` is any hashable id chosen by the caller (an int library id, a track key...);
    ``time`` is seconds since the epoch or ``None``; ``skipped`` marks a play the listener cut
    short: models may learn from it, but it is never a prediction target.
    """

    track: TrackId
    time: float | None = None
    skipped: bool = False


EventLike = Union[Event, TrackId]


def as_event(item: EventLike) -> Event:
    """Wrap a bare track id as a played ``Event``; pass an ``Event`` through."""
    return item if isinstance(item, Event) else Event(item)


# --------------------------------------------------------------------------- track keys

_WS = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, casefold and collapse runs of white space to one space (stripped)."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def track_key(artist: str, title: str) -> TrackKey:
    """The protocol's track key: ``(artist, title)`` normalised (step 1)."""
    return (normalise(artist), normalise(title))


def _dropped(artist: str | None, title: str | None) -> bool:
    """Rows without artist or title, and Spotify's local-file placeholder, are dropped."""
    if not artist or not title or not artist.strip() or not title.strip():
        return True
    return artist.strip() == "Unknown Artist" and title.strip() == "Unknown Track"


# --------------------------------------------------------------------------- time parsing


def parse_time(value: Any) -> float:
    """Parse an ISO 8601 timestamp (naive means UTC) or epoch seconds into epoch seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


# --------------------------------------------------------------------------- loaders

_TSV_HEADER = ["user", "timestamp", "artist", "title", "ms_played"]
_PLAYLIST_HEADER = ["playlist", "position", "artist", "title"]


def _natural_key(path: Path) -> list[Any]:
    """Sort ``StreamingHistory10`` after ``StreamingHistory9`` (parts of one export)."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", path.name)]


def load_tsv(path: str | os.PathLike[str], default_user: str = "") -> list[Play]:
    """Load a TSV log with the header ``user timestamp artist title ms_played``."""
    return _strict(iter_tsv(path, default_user))


def iter_tsv(path: str | os.PathLike[str], default_user: str = ""
             ) -> Iterator[Play | LogFormatError]:
    """Each row of a TSV log: a ``Play``, or a ``LogFormatError`` for a row that cannot be
    read (dropped rows yield nothing). A file without the header raises at once."""
    p = Path(path)
    with io.TextIOWrapper(open_bounded(p, MAX_LOG_BYTES), encoding="utf-8-sig",
                          newline="") as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
        if [h.strip().lower() for h in header] != _TSV_HEADER:
            raise LogFormatError(f"{p}: TSV header must be {' '.join(_TSV_HEADER)!r}")
        for lineno, line in enumerate(fh, start=2):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            cells = line.split("\t")
            if len(cells) != 5:
                yield LogFormatError(f"{p}:{lineno}: expected 5 tab-separated fields")
                continue
            user, stamp, artist, title, ms = cells
            if _dropped(artist, title):
                continue
            try:
                when = parse_time(stamp)
                ms_played = int(float(ms)) if ms.strip() else None
            except (ValueError, OverflowError) as exc:
                yield LogFormatError(f"{p}:{lineno}: {exc}")
                continue
            yield Play(user.strip() or default_user, when, artist, title, ms_played, lineno)


def _strict(rows: Iterable[Play | LogFormatError]) -> list[Play]:
    """The plays of ``rows``; the first bad row raises (the evaluation wants whole logs)."""
    plays = []
    for row in rows:
        if isinstance(row, LogFormatError):
            raise row
        plays.append(row)
    return plays


def _parse_json(text: str) -> Any:
    """``json.loads``, with nesting too deep to parse (100,000 ``[``) as a ``ValueError``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _json_lines(path: Path, text: str) -> list[Any]:
    """The records of a JSON-lines file, a bad line as a ``LogFormatError`` in its place.

    It is JSON lines only if its first line is a JSON object; else the file is not JSON.
    """
    records: list[Any] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(_parse_json(line))
        except ValueError as exc:
            if not records:
                raise LogFormatError(f"{path}: not JSON or JSON lines: {exc}") from exc
            records.append(LogFormatError(f"{path}:{lineno}: not JSON: {exc}"))
            continue
        if len(records) == 1 and not isinstance(records[0], dict):
            raise LogFormatError(f"{path}: not JSON or JSON lines")
    return records


def _json_records(path: Path) -> list[Any]:
    """Read a JSON array, a JSON object holding one, or JSON lines."""
    text = read_bounded(path, MAX_LOG_BYTES).decode("utf-8-sig")
    try:
        data = _parse_json(text)
    except ValueError:  # JSONDecodeError is one
        return _json_lines(path, text)
    if isinstance(data, dict):
        # Some ListenBrainz API dumps wrap the listens: {"payload": {"listens": [...]}}.
        inner = data.get("payload", data)
        data = inner.get("listens", [data]) if isinstance(inner, dict) else [data]
    if not isinstance(data, list):
        raise LogFormatError(f"{path}: expected a list of plays")
    return data


def _text(rec: dict[str, Any], key: str) -> str | None:
    """A text field of a record: None when absent; anything but text is a format error."""
    value = rec.get(key)
    if value is None or isinstance(value, str):
        return value
    raise LogFormatError(f"{key} is not text: {_short.repr(value):.40}")


def _record_to_play(rec: Any, default_user: str) -> Play | None:
    """Map one JSON record of any supported format to a ``Play`` (``None`` = dropped)."""
    if not isinstance(rec, dict):
        raise LogFormatError(f"not a play record: {_short.repr(rec):.80}")
    if "endTime" in rec:  # Spotify account data: StreamingHistory*.json
        artist, title = _text(rec, "artistName"), _text(rec, "trackName")
        if _dropped(artist, title):
            return None
        return Play(default_user, parse_time(rec["endTime"]), artist, title,
                    int(rec.get("msPlayed", 0)))
    if "ts" in rec:  # Spotify extended streaming history
        artist = _text(rec, "master_metadata_album_artist_name")
        title = _text(rec, "master_metadata_track_name")
        if _dropped(artist, title):
            return None
        user = rec.get("username") or default_user
        return Play(str(user) if user else default_user, parse_time(rec["ts"]), artist, title,
                    int(rec.get("ms_played", 0)))
    if "listened_at" in rec:  # ListenBrainz
        meta = rec.get("track_metadata") or {}
        if not isinstance(meta, dict):
            raise LogFormatError(f"track_metadata is not an object: {_short.repr(meta):.40}")
        artist, title = _text(meta, "artist_name"), _text(meta, "track_name")
        if _dropped(artist, title):
            return None
        user = rec.get("user_name") or default_user
        # A listen is a scrobble: the listener already heard enough of it, so no skip.
        return Play(str(user), parse_time(rec["listened_at"]), artist, title, None)
    raise LogFormatError(f"unknown play record with keys {sorted(rec)[:6]}")


def load_json(path: str | os.PathLike[str], default_user: str = "") -> list[Play]:
    """Load a Spotify (account data or extended) or ListenBrainz JSON / JSON-lines file."""
    return _strict(iter_json(path, default_user))


def iter_json(path: str | os.PathLike[str], default_user: str = ""
              ) -> Iterator[Play | LogFormatError]:
    """Each record of a JSON log: a ``Play``, or a ``LogFormatError`` for a record that
    cannot be read (dropped records yield nothing). A file that is not JSON raises at once."""
    p = Path(path)
    for n, rec in enumerate(_json_records(p), start=1):
        if isinstance(rec, LogFormatError):  # a JSON line that does not parse
            yield rec
            continue
        try:
            play = _record_to_play(rec, default_user)
        except LogFormatError as exc:
            yield LogFormatError(f"{p}: record {n}: {exc}")
            continue
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
            yield LogFormatError(f"{p}: record {n}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if play is not None:
            yield Play(play.user, play.time, play.artist, play.title, play.ms_played, n)


def iter_plays(path: str | os.PathLike[str], default_user: str = ""
               ) -> Iterator[Play | LogFormatError]:
    """Each row of one log file of any supported format (TSV by its extension, else JSON)."""
    if Path(path).suffix.lower() == ".tsv":
        return iter_tsv(path, default_user)
    return iter_json(path, default_user)


def log_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders into the log files they hold, parts in natural order."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = [f for f in p.iterdir()
                     if f.is_file() and f.suffix.lower() in (".json", ".jsonl", ".tsv")]
            files.extend(sorted(found, key=_natural_key))
        elif p.is_file():
            files.append(p)
        elif p.exists():  # a FIFO, a device: never read (it could block or never end)
            raise UnreadableLog(f"{p}: not a regular file")
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return files


def load_log(paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
             default_user: str = "") -> list[Play]:
    """Load every play from one or several files/folders of a listening log.

    The format is chosen per file (``.tsv`` -> TSV, else JSON). Rows come back in file order
    (files in natural name order) with ``order`` set, so that a stable sort by time keeps
    equal times in file order. Raises ``FileNotFoundError`` or ``LogFormatError``.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    plays: list[Play] = []
    for f in log_files(paths):
        try:
            if f.suffix.lower() == ".tsv":
                part = load_tsv(f, default_user)
            else:
                part = load_json(f, default_user)
        except (OSError, UnicodeDecodeError) as exc:
            raise LogFormatError(f"{f}: cannot read: {exc}") from exc
        log.debug("loaded %d plays from %s", len(part), f)
        plays.extend(part)
    return [Play(p.user, p.time, p.artist, p.title, p.ms_played, i)
            for i, p in enumerate(plays)]


# --------------------------------------------------------------------------- sessions


def sessions_by_user(plays: Iterable[Play], gap_s: float = SESSION_GAP_S,
                     skip_ms: int = SKIP_MS) -> dict[str, list[list[Event]]]:
    """Group plays into per-user sessions of ``Event``s keyed by ``track_key`` (step 2-3).

    Plays are sorted by time, equal times in file order. Sessions are cut where the gap
    between consecutive *kept* plays exceeds ``gap_s``; skips do not cut or bridge sessions.
    Skips are kept in the sessions as ``Event(skipped=True)`` so that models may learn from
    them: a skip joins the session of the next kept play when that play is at most ``gap_s``
    away, else the session before it. Use ``kept_tracks`` for the protocol's sequences.
    """
    by_user: dict[str, list[Play]] = {}
    for p in plays:
        by_user.setdefault(p.user, []).append(p)
    out: dict[str, list[list[Event]]] = {}
    for user, rows in by_user.items():
        rows.sort(key=lambda p: (p.time, p.order))
        sessions: list[list[Event]] = []
        pending: list[Event] = []  # skips since the last kept play
        last_kept: float | None = None
        for p in rows:
            skipped = p.ms_played is not None and is_skip(p.ms_played, threshold_ms=skip_ms)
            ev = Event(p.key, p.time, skipped)
            if skipped:
                pending.append(ev)
                continue
            if is_new_session(last_kept, p.time, gap_s):
                # Skips far before this play belong to the end of the previous session.
                after = pending
                if sessions:
                    sessions[-1].extend(e for e in pending if p.time - e.time > gap_s)
                    after = [e for e in pending if p.time - e.time <= gap_s]
                sessions.append(list(after))
            else:
                sessions[-1].extend(pending)
            pending = []
            sessions[-1].append(ev)
            last_kept = p.time
        if pending and sessions:
            sessions[-1].extend(pending)
        if sessions:
            out[user] = sessions
    return out


def kept_tracks(session: Sequence[EventLike]) -> list[TrackId]:
    """The track ids of a session's kept (not skipped) plays, in order."""
    out = []
    for item in session:
        ev = as_event(item)
        if not ev.skipped:
            out.append(ev.track)
    return out


def split_sessions(sessions: Sequence[Any], train_share: float = TRAIN_SHARE
                   ) -> tuple[list[Any], list[Any]]:
    """Time-ordered split (step 4): the first ``floor(share * n)`` sessions, at least 1, train."""
    n_train = max(1, math.floor(train_share * len(sessions)))
    return list(sessions[:n_train]), list(sessions[n_train:])


# --------------------------------------------------------------------------- playlists


def load_playlists(paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str]
                   ) -> list[list[TrackKey]]:
    """Load playlists as ordered sequences of track keys.

    M3U/M3U8: one playlist per file; entries take artist and title from ``#EXTINF:len,Artist
    - Title`` when present, else from the file name (``Artist - Title.ext``). TSV with the
    header ``playlist position artist title``: one playlist per distinct name, ordered by
    position.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted((f for f in p.iterdir() if f.is_file() and f.suffix.lower()
                                 in (".m3u", ".m3u8", ".tsv")), key=_natural_key))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    out: list[list[TrackKey]] = []
    for f in files:
        if f.suffix.lower() == ".tsv":
            out.extend(_playlists_tsv(f))
        else:
            seq = list(_m3u_entries(f))
            if seq:
                out.append(seq)
    return out


def playlist_tsv_rows(path: str | os.PathLike[str]) -> dict[str, list[tuple[str, str]]]:
    """A ``playlist position artist title`` TSV as ``{playlist: [(artist, title), ...]}``,
    each playlist in position order (rows without artist or title dropped)."""
    p = Path(path)
    lists: dict[str, list[tuple[float, int, str, str]]] = {}
    with io.TextIOWrapper(open_bounded(p, MAX_PLAYLIST_BYTES), encoding="utf-8-sig",
                          newline="") as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
        if [h.strip().lower() for h in header] != _PLAYLIST_HEADER:
            raise LogFormatError(f"{p}: TSV header must be {' '.join(_PLAYLIST_HEADER)!r}")
        for lineno, line in enumerate(fh, start=2):
            cells = line.rstrip("\r\n").split("\t")
            if len(cells) != 4:
                if line.strip():
                    raise LogFormatError(f"{p}:{lineno}: expected 4 tab-separated fields")
                continue
            name, pos, artist, title = cells
            if _dropped(artist, title):
                continue
            try:
                position = float(pos)
            except ValueError as exc:
                raise LogFormatError(f"{p}:{lineno}: bad position {pos!r}") from exc
            lists.setdefault(name, []).append((position, lineno, artist, title))
    return {name: [(a, t) for _, _, a, t in sorted(rows)] for name, rows in lists.items()}


def _playlists_tsv(path: Path) -> list[list[TrackKey]]:
    """Read a ``playlist position artist title`` TSV into ordered sequences of keys."""
    return [[track_key(a, t) for a, t in rows] for rows in playlist_tsv_rows(path).values()]


@dataclass(frozen=True, slots=True)
class M3UEntry:
    """One entry of an M3U/M3U8 playlist: where it points, and what ``#EXTINF`` or the file
    name says it is (``artist`` empty when nothing says)."""

    location: str
    artist: str
    title: str
    seconds: float | None = None


def m3u_entries(path: str | os.PathLike[str]) -> Iterator[M3UEntry]:
    """Every entry of an M3U/M3U8 playlist, in order."""
    p = Path(path)
    encoding = "utf-8-sig" if p.suffix.lower() == ".m3u8" else "utf-8"
    data = read_bounded(p, MAX_PLAYLIST_BYTES)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # old M3U files are often Latin-1
    extinf: str | None = None
    seconds: float | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.upper().startswith("#EXTINF:"):
            head, _, extinf = line[8:].partition(",")
            try:
                seconds = float(head.split()[0]) if head.split() else None
            except ValueError:
                seconds = None
            continue
        if line.startswith("#"):
            continue
        label = extinf if extinf and " - " in extinf else Path(line.replace("\\", "/")).stem
        artist, sep, title = label.partition(" - ")
        if not sep:
            artist, title = "", label
        yield M3UEntry(line, artist.strip(), title.strip(),
                       seconds if seconds is not None and seconds > 0 else None)
        extinf, seconds = None, None


def _m3u_entries(path: Path) -> Iterator[TrackKey]:
    """Yield the track keys of an M3U/M3U8 playlist."""
    for entry in m3u_entries(path):
        if entry.artist and not _dropped(entry.artist, entry.title):
            yield track_key(entry.artist, entry.title)
        elif not entry.artist and entry.title:
            # No artist to be found: key by title alone rather than lose the entry.
            yield track_key("", entry.title)


def split_playlists(playlists: Sequence[Any], train_share: float = 0.9, seed: int = 0
                    ) -> tuple[list[Any], list[Any]]:
    """Split playlists 90/10 with a fixed seed (the playlist variant of the protocol)."""
    order = list(range(len(playlists)))
    random.Random(seed).shuffle(order)
    n_train = max(1, math.floor(train_share * len(playlists)))
    return ([playlists[i] for i in order[:n_train]], [playlists[i] for i in order[n_train:]])
