"""The listening log: every play, as it happens, in order.

A play opens a ``listens`` row when it starts and closes it with the milliseconds actually
heard when it ends. The rules that make the log a training signal live here:

* a play is a **skip** when the listener moved on before hearing ``min(30 s, half the
  track)``; a play that reached the end is never a skip;
* a **session** breaks after 30 minutes of silence;
* every write is a short transaction and an open play is checkpointed every few seconds, so
  a crash loses at most the play in progress; at the next start, plays left open are closed
  with what was last saved.

Importers of exported histories (Spotify, ListenBrainz…) live in :mod:`player.importer`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from player.library.db import Library

log = logging.getLogger(__name__)

#: Silence longer than this starts a new session.
SESSION_GAP_S = 30 * 60
#: A play shorter than this (or than half of a short track) is a skip...
SKIP_THRESHOLD_MS = 30_000
#: ...and an open play's progress is saved at least this often.
CHECKPOINT_EVERY_MS = 5_000


def is_skip(played_ms: int, duration_ms: int | None, completed: bool) -> bool:
    """The skip rule: moved on before ``min(30 s, half the track)``; a full play never is."""
    if completed:
        return False
    threshold = SKIP_THRESHOLD_MS
    if duration_ms and duration_ms > 0:
        threshold = min(threshold, duration_ms // 2)
    return played_ms < threshold


@dataclass
class OpenListen:
    """The play in progress."""

    listen_id: int
    track_id: int
    source: str
    started_at: float
    duration_ms: int | None
    played_ms: int = 0
    saved_ms: int = 0


class ListenLog:
    """Records plays into the library's ``listens`` table.

    ``clock`` returns the wall-clock time in seconds (tests pass a fake one to cross session
    gaps without waiting).
    """

    def __init__(self, library: Library, clock: Callable[[], float] = time.time) -> None:
        self.library = library
        self.clock = clock
        self.current: OpenListen | None = None
        self._session_id: int | None = None
        self._last_activity: float | None = None

    def recover(self) -> int:
        """Close plays left open by a crash, with the progress last saved. Returns how many."""
        stale = self.library.open_listens()
        for row in stale:
            played = int(row["played_ms"] or 0)
            self.library.close_listen(
                row["id"],
                ended_at=row["started_at"] + played / 1000,
                played_ms=played,
                skipped=is_skip(played, row["duration_ms"], completed=False),
            )
        if stale:
            log.info("closed %d listen(s) left open by an earlier run", len(stale))
        return len(stale)

    def session_for(self, now: float) -> int:
        """The session a play starting ``now`` belongs to (a new one after a long silence)."""
        if self._session_id is None:
            last = self.library.last_listen()
            if last is not None:
                self._session_id = last["session_id"] or self.library.max_session_id()
                self._last_activity = last["ended_at"] or last["started_at"]
        if (
            self._session_id is None
            or self._last_activity is None
            or now - self._last_activity > SESSION_GAP_S
        ):
            self._session_id = self.library.max_session_id() + 1
        return self._session_id

    def start(self, track_id: int, source: str, duration_ms: int | None) -> OpenListen:
        """Open a listen for a track that starts playing now (closing any open one first)."""
        if self.current is not None:
            self.finish(completed=False)
        now = self.clock()
        session = self.session_for(now)
        listen_id = self.library.open_listen(track_id, now, source, session)
        self._last_activity = now
        self.current = OpenListen(listen_id, track_id, source, now, duration_ms)
        return self.current

    def heard(self, ms: int) -> None:
        """Add milliseconds actually heard to the open play; checkpoint now and then."""
        cur = self.current
        if cur is None or ms <= 0:
            return
        cur.played_ms += ms
        self._last_activity = self.clock()
        if cur.played_ms - cur.saved_ms >= CHECKPOINT_EVERY_MS:
            self.library.save_listen_progress(cur.listen_id, cur.played_ms)
            cur.saved_ms = cur.played_ms

    def discard(self) -> None:
        """Drop the open play: the track failed before anything was heard."""
        cur, self.current = self.current, None
        if cur is not None:
            self.library.delete_listen(cur.listen_id)

    def finish(self, completed: bool) -> OpenListen | None:
        """Close the open play: ``completed`` when it reached the end of the track."""
        cur, self.current = self.current, None
        if cur is None:
            return None
        now = self.clock()
        if completed and cur.duration_ms:
            # The last position update may come a little before the end: a finished play
            # was heard whole.
            cur.played_ms = max(cur.played_ms, cur.duration_ms)
        skipped = is_skip(cur.played_ms, cur.duration_ms, completed)
        self.library.close_listen(cur.listen_id, now, cur.played_ms, skipped)
        self._last_activity = now
        log.debug("listen %d closed: %d ms, skipped=%s", cur.listen_id, cur.played_ms, skipped)
        return cur
