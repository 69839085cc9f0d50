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
from typing import Any

from player.library.db import Library
from player.library.writer import InlineWriter, Writer
from recommender.logs import SESSION_GAP_S, is_skip  # noqa: F401 - also for importers of this module

log = logging.getLogger(__name__)

#: An open play's progress is saved at least this often. (The session and skip rules are
#: the recommender's - one definition for the log, the importer and the model.)
CHECKPOINT_EVERY_MS = 5_000


def close_stale_listens(library: Library) -> int:
    """Close the plays a crash left open, with the progress last saved; returns how many."""
    stale = library.open_listens()
    for row in stale:
        played = int(row.played_ms or 0)
        library.close_listen(
            row.id,
            ended_at=row.started_at + played / 1000,
            played_ms=played,
            skipped=is_skip(played, row.duration_ms, completed=False),
        )
    if stale:
        log.info("closed %d listen(s) left open by an earlier run", len(stale))
    return len(stale)


class ListenHandle:
    """The id of a listen row, known once the writer has inserted it.

    Writes go through a writer that may run them later (off the GUI thread); operations on
    one listen run in the order given, so each finds the id its insert set.
    """

    __slots__ = ("id",)

    def __init__(self) -> None:
        self.id: int | None = None


@dataclass
class OpenListen:
    """The play in progress."""

    handle: ListenHandle
    track_id: int
    source: str
    started_at: float
    duration_ms: int | None
    played_ms: int = 0
    saved_ms: int = 0

    @property
    def listen_id(self) -> int | None:
        """The row's id (None until the writer has inserted it)."""
        return self.handle.id


class ListenLog:
    """Records plays into the library's ``listens`` table, through a writer.

    ``clock`` returns the wall-clock time in seconds (tests pass a fake one to cross session
    gaps without waiting). ``writer`` performs the writes: the app gives a
    :class:`~player.library.writer.BackgroundWriter` (one thread, retried while the database
    is busy), so that logging never makes the window or the music wait; the default writes at
    once, on the caller's thread.
    """

    def __init__(self, library: Library, clock: Callable[[], float] = time.time,
                 writer: Writer | None = None) -> None:
        self.library = library
        self.clock = clock
        self.writer: Writer = writer or InlineWriter(library)
        self.current: OpenListen | None = None
        self._session_id: int | None = None
        self._last_activity: float | None = None

    def recover(self) -> None:
        """Close plays left open by a crash, with the progress last saved (through the
        writer: a locked database at start-up delays this, never the window)."""
        self.writer.submit(close_stale_listens)

    def session_for(self, now: float) -> int:
        """The session a play starting ``now`` belongs to (a new one after a long silence)."""
        if self._session_id is None:
            last = self.library.last_listen()
            if last is not None:
                self._session_id = last.session_id or self.library.max_session_id()
                self._last_activity = last.ended_at or last.started_at
        if (
            self._session_id is None
            or self._last_activity is None
            or now - self._last_activity > SESSION_GAP_S
        ):
            # The database may not hold this run's latest listens yet (they can wait in the
            # writer): a new session is after both what it holds and what this run opened.
            self._session_id = max(self.library.max_session_id(), self._session_id or 0) + 1
        return self._session_id

    def start(self, track_id: int, source: str, duration_ms: int | None) -> OpenListen:
        """Open a listen for a track that starts playing now (closing any open one first)."""
        if self.current is not None:
            self.finish(completed=False)
        now = self.clock()
        session = self.session_for(now)
        handle = ListenHandle()

        def insert(library: Library) -> None:
            handle.id = library.open_listen(track_id, now, source, session)

        self.writer.submit(insert)
        self._last_activity = now
        self.current = OpenListen(handle, track_id, source, now, duration_ms)
        return self.current

    def heard(self, ms: int) -> None:
        """Add milliseconds actually heard to the open play; checkpoint now and then."""
        cur = self.current
        if cur is None or ms <= 0:
            return
        cur.played_ms += ms
        self._last_activity = self.clock()
        if cur.played_ms - cur.saved_ms >= CHECKPOINT_EVERY_MS:
            played, handle = cur.played_ms, cur.handle
            self.writer.submit(lambda library: _with_id(handle, library.save_listen_progress,
                                                        played))
            cur.saved_ms = cur.played_ms

    def discard(self) -> None:
        """Drop the open play: the track failed before anything was heard."""
        cur, self.current = self.current, None
        if cur is not None:
            handle = cur.handle
            self.writer.submit(lambda library: _with_id(handle, library.delete_listen))

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
        played, handle = cur.played_ms, cur.handle
        self.writer.submit(lambda library: _with_id(handle, library.close_listen, now, played,
                                                    skipped))
        self._last_activity = now
        log.debug("listen of %d closed: %d ms, skipped=%s", cur.track_id, played, skipped)
        return cur


def _with_id(handle: ListenHandle, method: Callable[..., Any], *args: Any) -> None:
    """Call ``method(listen_id, *args)`` once the listen's insert has given it an id."""
    if handle.id is None:  # its insert failed for good (logged by the writer): nothing to do
        return
    method(handle.id, *args)
