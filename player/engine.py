"""The player engine: queue, transport, hands-free continuation and the listening log.

It sits between the GUI (and MPRIS, and tests) and a playback backend. What it guarantees:

* the user's queue plays first; when it is empty the auto-queue's pick plays, chosen in the
  background as the previous track started, so the next track starts at once;
* every play is logged (:class:`~player.history.ListenLog`) with who chose it (``user`` or
  ``auto``) and whether it was skipped; "next" by the user is a skip candidate, playing
  through is not;
* a track that cannot be played is marked, reported on the status line, and skipped — the
  music does not stop for good because of one bad file;
* the backend always knows what comes next (:meth:`Backend.set_next`): the queue's head or
  the auto pick, as a :class:`~player.playback.cue.Cue` with its gain and its transition
  (gapless inside an album played in order; a crossfade elsewhere, when one is chosen), so
  that a gapless backend joins the two tracks sample to sample (``advanced``).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from player.autoqueue import AutoQueue, Pick
from player.history import ListenLog
from player.library.albums import follows_in_album
from player.library.db import Library, Track
from player.library.playlists import move_rows
from player.library.writer import InlineWriter, Writer
from player.playback.announcements import Announcements
from player.playback.base import Backend, PlaybackState
from player.playback.cue import Cue
from player.workers import Job

log = logging.getLogger(__name__)

#: "Previous" restarts the current track when it has played longer than this.
RESTART_THRESHOLD_MS = 3_000
#: A track "playing" with no progress for this long is treated as unplayable (FFmpeg can open
#: a corrupt file, report it playing, and never produce a sample).
STALL_TIMEOUT_S = 10.0
#: After this many tracks failing in a row, stop trying (the library is probably offline).
MAX_CONSECUTIVE_FAILURES = 25


class CuePolicy(Protocol):
    """How a track sounds: its gain and its silences (ReplayGain and the analysis pass)."""

    def gain(self, track: Track, album_mode: bool) -> float:
        """Linear gain for ``track``; ``album_mode`` when it plays as part of its album."""
        ...

    def silences(self, track: Track) -> tuple[int, int]:
        """Leading and trailing silence in ms (cut when a crossfade joins tracks)."""
        ...


class PlainCues:
    """Every track as recorded: no gain, no known silences."""

    def gain(self, track: Track, album_mode: bool) -> float:
        return 1.0

    def silences(self, track: Track) -> tuple[int, int]:
        return 0, 0


@dataclass(frozen=True)
class _Announced:
    """The cue the backend was told comes next, and where it came from."""

    cue: Cue
    track: Track
    source: str  # "user" (the queue's head) or "auto" (the auto pick)


class Engine(QObject):
    """Plays tracks of a :class:`Library` through a :class:`Backend`."""

    trackChanged = Signal(object)  # the current Track or None
    stateChanged = Signal(object)  # PlaybackState
    positionChanged = Signal(int, int)  # position ms, duration ms
    queueChanged = Signal()  # the user queue changed
    autoPickChanged = Signal(object)  # Pick or None
    listenLogged = Signal(int)  # a play of this track id was closed and written
    _listenWritten = Signal(int)  # from the writer's thread: relayed to the GUI thread
    volumeChanged = Signal(int)
    seeked = Signal(int)  # position ms after a jump (seek bar, MPRIS, "previous" restarting)
    message = Signal(str)  # a line for the status bar

    def __init__(
        self,
        library: Library,
        backend: Backend,
        autoqueue: AutoQueue,
        clock: Callable[[], float] = time.time,
        background_picks: bool = True,
        cue_policy: CuePolicy | None = None,
        writer: Writer | None = None,
    ) -> None:
        """``writer`` performs the listening log's writes (and the play-error marks): the app
        gives one that works off the GUI thread; by default they happen at once."""
        super().__init__()
        self.cue_policy: CuePolicy = cue_policy or PlainCues()
        #: Crossfade between tracks that do not continue an album in order (0 = gapless).
        self.crossfade_ms = 0
        self._tags = itertools.count(1)
        self._cue: Cue | None = None  # the current track's cue
        self._announced: _Announced | None = None
        #: Every announcement sent to the backend since the current track began (see
        #: player.playback.announcements: the one that starts may have been superseded).
        self._sent: Announcements[_Announced] = Announcements()
        self.library = library
        self.backend = backend
        self.autoqueue = autoqueue
        self.writer: Writer = writer or InlineWriter(library)
        self._listenWritten.connect(self.listenLogged.emit, Qt.ConnectionType.QueuedConnection)
        self.listens = ListenLog(library, clock, self.writer)
        self.background_picks = background_picks
        self.autoqueue_enabled = True
        self.queue: list[int] = []
        self.current: Track | None = None
        self.current_source: str = "user"
        self.auto_pick: Pick | None = None
        #: Picks turned down ("another pick") while the current track plays.
        self._rejected: set[int] = set()
        self.played: list[int] = []  # this run's tracks, for "previous"
        self._pick_job: Job | None = None
        self._play_when_picked = False  # the track ended before its pick was ready
        # One long-lived thread for picks: one SQLite connection, not one per track.
        self._pick_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segue-pick")
        self._pick_generation = 0
        self._last_position = 0
        self._failures = 0
        self._listen_open = False
        self._pending_seek = 0
        self._shut_down = False
        self.stall_timeout_s = STALL_TIMEOUT_S
        self._last_progress = time.monotonic()
        self._watchdog = QTimer(self, interval=1000)
        self._watchdog.timeout.connect(self._check_stall)
        backend.positionChanged.connect(self._on_position)
        backend.durationChanged.connect(self._on_duration)
        backend.stateChanged.connect(self._on_state)
        backend.finished.connect(self._on_finished)
        backend.failed.connect(self._on_failed)
        backend.advanced.connect(self._on_advanced)
        backend.nextFailed.connect(self._on_next_failed)
        self.listens.recover()

    # -- the queue ---------------------------------------------------------------------------

    def enqueue(self, track_ids: list[int], front: bool = False) -> None:
        """Add tracks to the user queue: at the end, or next (``front``)."""
        if front:
            self.queue[0:0] = track_ids
        else:
            self.queue.extend(track_ids)
        self.queueChanged.emit()
        self._update_next()
        self._request_pick()

    def remove_from_queue(self, index: int) -> None:
        """Remove the queue's entry at ``index``."""
        self.remove_indices([index])

    def remove_indices(self, indices: Iterable[int]) -> None:
        """Remove the queue's entries at these positions (the Delete key on a selection)."""
        drop = {i for i in indices if 0 <= i < len(self.queue)}
        if drop:
            self.set_queue([t for i, t in enumerate(self.queue) if i not in drop])

    def move_in_queue(self, indices: Sequence[int], to: int) -> list[int]:
        """Move the entries at ``indices`` (kept in their order) to stand before the entry
        now at ``to`` (``len(queue)``: at the end), as a drop between two rows does.
        Returns their new positions."""
        queue, moved = move_rows(self.queue, indices, to)
        self.set_queue(queue)
        return moved

    def insert_in_queue(self, track_ids: Sequence[int], at: int) -> list[int]:
        """Put songs in the queue before position ``at`` (songs dropped in between two
        rows); returns the positions they take."""
        at = max(0, min(at, len(self.queue)))
        self.set_queue(self.queue[:at] + list(track_ids) + self.queue[at:])
        return list(range(at, at + len(track_ids)))

    def move_up(self, indices: Sequence[int]) -> list[int]:
        """Move these entries one place up (not past the top); returns their new places."""
        picked = sorted(set(indices))
        if not picked or picked[0] <= 0:
            return picked
        return self.move_in_queue(picked, picked[0] - 1)

    def move_down(self, indices: Sequence[int]) -> list[int]:
        """Move these entries one place down (not past the end); returns their new places."""
        picked = sorted(set(indices))
        if not picked or picked[-1] >= len(self.queue) - 1:
            return picked
        return self.move_in_queue(picked, picked[-1] + 2)

    def set_queue(self, track_ids: Sequence[int]) -> None:
        """Replace the whole user queue (an edit, a restore)."""
        if list(track_ids) == self.queue:
            return
        self.queue[:] = list(track_ids)
        self.queueChanged.emit()
        self._update_next()
        self._request_pick()

    def clear_queue(self) -> None:
        self.queue.clear()
        self.queueChanged.emit()
        self._update_next()
        self._request_pick()

    def another_pick(self) -> None:
        """The listener turns the auto pick down ("another pick"): it is not offered again
        while the current track plays, and another one is chosen."""
        if self.auto_pick is not None:
            self._rejected.add(self.auto_pick.track_id)
        self._set_auto_pick(None)
        self._request_pick()

    def pin_pick(self) -> bool:
        """Keep the auto pick: it joins the end of the user queue (it would play there
        anyway), and the auto-queue picks what follows it. False when there is no pick."""
        pick = self.auto_pick
        if pick is None or not self.autoqueue_enabled:
            return False
        self._set_auto_pick(None)
        self.enqueue([pick.track_id])
        return True

    def set_autoqueue_enabled(self, enabled: bool) -> None:
        self.autoqueue_enabled = enabled
        if enabled:
            self._request_pick()
        else:
            self._set_auto_pick(None)
        self._update_next()

    def repick(self) -> None:
        """Choose the auto pick again: what it depends on changed (a new model, a track marked
        "don't auto-queue", tracks that left the library). Unlike :meth:`another_pick`,
        nothing is turned down."""
        self.set_autoqueue_enabled(self.autoqueue_enabled)

    def forget_removed_tracks(self) -> None:
        """Tracks left the library (a music folder removed): the queue forgets them, and the
        auto pick, if it was one of them, is dropped at once — not kept on show (and
        announced to the backend) until its replacement arrives; then the pick is chosen
        again."""
        pick = self.auto_pick
        present = self.library.tracks_by_id(
            [*self.queue, *([pick.track_id] if pick is not None else [])])
        if pick is not None and pick.track_id not in present:
            self._set_auto_pick(None)
        queue = [t for t in self.queue if t in present]
        if queue != self.queue:
            self.set_queue(queue)  # which picks again (once: not a second repick after it)
        else:
            self.repick()

    def set_exploration(self, value: float) -> None:
        """From 0 (always the likeliest next track) to 1 (sample widely); picks again."""
        self.autoqueue.rules.exploration = value
        self.repick()

    # -- transport ---------------------------------------------------------------------------

    @property
    def state(self) -> PlaybackState:
        return self.backend.state()

    def play_track(self, track_id: int, source: str = "user") -> bool:
        """Play a track now. Returns False if the track is unknown."""
        track = self.library.track(track_id)
        if track is None:
            self.message.emit(f"Track {track_id} is not in the library")
            return False
        self._close_listen(completed=False)
        self._play_when_picked = False  # the user's choice wins over a pick on its way
        self._pending_seek = 0  # a restored position belonged to the track cued before
        previous = self.current
        self.current = track
        self.current_source = source
        self._last_position = 0
        self._listen_open = False
        self._announced = None
        self._sent.clear()  # a load: the backend forgets what was announced
        self._rejected.clear()
        self.played.append(track_id)
        self.trackChanged.emit(track)
        self._cue = self._make_cue(track, previous, joined=False)
        self.backend.load(self._cue)
        if self.current is track:  # load() may have failed and moved on already
            self.backend.play()
            self._update_next()
        self._request_pick()
        return True

    def cue(self, track_id: int, position_ms: int = 0) -> bool:
        """Load a track paused at ``position_ms`` without playing it (state restored at
        start-up); play() then resumes there."""
        track = self.library.track(track_id)
        if track is None:
            return False
        self.current, self.current_source = track, "user"
        self._listen_open = False
        self._announced = None
        self._sent.clear()
        self._pending_seek = max(0, int(position_ms))
        self.trackChanged.emit(track)
        self._cue = self._make_cue(track, None, joined=False)
        self.backend.load(self._cue)
        if self._pending_seek and self.backend.duration() > 0:
            self.seek(self._pending_seek)
            self._pending_seek = 0
        self._request_pick()
        return True

    def play(self) -> None:
        """Play: resume, or start from the queue, or start hands-free from the auto-queue."""
        if self._play_when_picked:
            return  # the next track is on its way (its pick is being made)
        if self.current is not None and self.state is PlaybackState.PAUSED:
            self.backend.play()
        elif self.current is not None and self.state is PlaybackState.STOPPED:
            if self.backend.duration() > 0:
                self.backend.play()
            else:
                self.play_track(self.current.id, self.current_source)
        elif self.current is None:
            self._advance(user_skip=False)

    def pause(self) -> None:
        self.backend.pause()

    def play_pause(self) -> None:
        if self.state is PlaybackState.PLAYING:
            self.pause()
        else:
            self.play()

    def stop(self) -> None:
        self._play_when_picked = False
        self._close_listen(completed=False)
        self._announced = None
        self._sent.clear()
        self.backend.stop()

    def next(self) -> None:
        """The user moves on: the play so far is logged (a skip if short), the next one starts."""
        self._advance(user_skip=True)

    def previous(self) -> None:
        if self.current is not None and self.backend.position() > RESTART_THRESHOLD_MS:
            self.seek(0)
            return
        if len(self.played) >= 2:
            self.played.pop()  # the current one
            prev = self.played.pop()
            self.play_track(prev, "user")
        elif self.current is not None:
            self.seek(0)

    def seek(self, position_ms: int) -> None:
        self._last_progress = time.monotonic()
        self.backend.seek(position_ms)
        self._last_position = int(position_ms)  # a jump is not listening
        self.seeked.emit(self.backend.position())

    def set_volume(self, volume: int) -> None:
        self.backend.set_volume(volume)
        self.volumeChanged.emit(self.backend.volume())

    def volume(self) -> int:
        """The volume, 0-100."""
        return self.backend.volume()

    def position(self) -> int:
        """Where the current track is, in ms (0 with none). A track cued at start-up is at
        its restored position even before the audio backend has opened it."""
        if self.current is None:
            return 0
        return self._pending_seek or self.backend.position()

    def duration(self) -> int:
        """The current track's length in ms as the backend measured it (0 until known)."""
        return self.backend.duration() if self.current is not None else 0

    def shutdown(self) -> None:
        """Close the listen in progress and release the audio device."""
        self._shut_down = True
        self._watchdog.stop()
        self._close_listen(completed=False)
        if self._pick_job is not None:
            self._pick_job.cancel()
        self._pick_executor.shutdown(wait=True, cancel_futures=True)
        self.backend.shutdown()

    # -- what comes next ---------------------------------------------------------------------

    def up_next(self) -> tuple[list[int], Pick | None]:
        """The user queue, then the auto pick that would follow it."""
        return list(self.queue), (self.auto_pick if self.autoqueue_enabled else None)

    def _advance(self, user_skip: bool) -> None:
        # After the end of a track the listen is already closed as complete; otherwise
        # (the user's "next", a failure) it closes now, and the skip rule decides.
        self._close_listen(completed=False)
        if self.queue:
            track_id = self.queue.pop(0)
            self.queueChanged.emit()
            self.play_track(track_id, "user")
            return
        if not self.autoqueue_enabled:
            self.current = None
            self.backend.stop()
            self.trackChanged.emit(None)
            self.message.emit("End of the queue (auto-queue is off)")
            return
        pick = self.auto_pick
        if pick is None or pick.track_id == self._current_id():
            if self.background_picks and not self._shut_down:
                # Not ready (a track shorter than a pick takes, a quick "next"): wait for the
                # background pick instead of computing it here - the model's forward pass,
                # slower while a fine-tune shares the CPU, would freeze the window.
                self._play_when_picked = True
                if pick is not None or self._pick_job is None or not self._pick_job.running:
                    self._request_pick()
                return
            pick = self.autoqueue.pick(self._current_id(), exclude=self.queue)
        self._play_pick(pick)

    def _play_pick(self, pick: Pick | None) -> None:
        """Play the auto-queue's pick (consumed: the next one is computed when it starts)."""
        self._play_when_picked = False
        self._set_auto_pick(None)
        if pick is None:
            self.current = None
            self.backend.stop()
            self.trackChanged.emit(None)
            self.message.emit("Nothing to play: add a music folder")
            return
        self.play_track(pick.track_id, "auto")

    def _request_pick(self) -> None:
        """Compute, in the background, what the auto-queue will play after the current track."""
        if not self.autoqueue_enabled or self._shut_down:
            return
        self._pick_generation += 1
        generation = self._pick_generation
        # The pick plays after the user's queue: the rules (no artist twice in a row) and the
        # simple pickers look at the track it follows, the queue's last one when there is a
        # queue; the playing track is then excluded like the queued ones.
        playing = self._current_id()
        current = self.queue[-1] if self.queue else playing
        exclude = list(self.queue) + ([playing] if self.queue and playing else [])
        rejected = sorted(self._rejected)

        def choose() -> Pick | None:
            # Picks turned down are left out - unless nothing else is left (a small
            # library): a pick turned down beats music stopping.
            pick = self.autoqueue.pick(current, exclude=exclude + rejected)
            if rejected and (pick is None or pick.track_id == playing):
                pick = self.autoqueue.pick(current, exclude=exclude)
            return pick

        if not self.background_picks:
            self._set_auto_pick(choose())
            return
        if self._pick_job is not None:
            self._pick_job.cancel()

        def work(report: Callable[[Any], None], cancel: Any) -> Pick | None:
            return choose()

        job = Job(work, "autoqueue-pick", parent=self, executor=self._pick_executor)
        job.done.connect(lambda pick: self._pick_ready(generation, pick))
        job.failed.connect(lambda _msg: self._pick_failed(generation))
        job.ended.connect(job.deleteLater)
        self._pick_job = job
        job.start()

    def _pick_ready(self, generation: int, pick: Pick | None) -> None:
        if generation != self._pick_generation or self._shut_down:  # overtaken, or quitting
            return
        if self._play_when_picked:  # the track ended while this pick was being made
            if self.queue:  # the user queued something meanwhile: it comes first
                self._play_when_picked = False
                self._set_auto_pick(pick)
                self._advance(user_skip=False)
            else:
                self._play_pick(pick)
            return
        self._set_auto_pick(pick)

    def _pick_failed(self, generation: int) -> None:
        """A background pick raised (logged by the job): never let the music stop for it."""
        if generation == self._pick_generation and self._play_when_picked \
                and not self._shut_down:
            self._play_pick(self.autoqueue.pick(self._current_id(), exclude=self.queue))

    def _set_auto_pick(self, pick: Pick | None) -> None:
        self.auto_pick = pick
        if self._shut_down:  # the views may be gone already (a track ending at quit)
            return
        self.autoPickChanged.emit(pick)
        self._update_next()

    # -- cues: what the backend plays, and what it plays next ------------------------------------

    def set_crossfade(self, seconds: float) -> None:
        """Crossfade between tracks that do not continue an album (0 = gapless)."""
        self.crossfade_ms = max(0, int(seconds * 1000))
        self._announced = None
        self._update_next()

    def refresh_cues(self) -> None:
        """The gain policy changed (ReplayGain setting): re-apply it to what plays and next."""
        if self.current is not None and self._cue is not None:
            album = follows_in_album(self._previous_track(), self.current) or \
                self._album_continues_after(self.current)
            self.backend.set_gain(self._cue.tag, self.cue_policy.gain(self.current, album))
        self._announced = None
        self._update_next()

    def _previous_track(self) -> Track | None:
        if len(self.played) >= 2:
            return self.library.track(self.played[-2])
        return None

    def _album_continues_after(self, track: Track) -> bool:
        """True when the user's queue carries on with the next track of ``track``'s album."""
        # ``track`` is either the queue's head (about to be announced: its successor is the
        # second entry) or already off the queue (playing: its successor is the head).
        after = 1 if self.queue and self.queue[0] == track.id else 0
        if after >= len(self.queue):
            return False
        return follows_in_album(track, self.library.track(self.queue[after]))

    def _make_cue(self, track: Track, previous: Track | None,
                  joined: bool) -> Cue:
        """The cue for ``track``: ``joined`` when it follows ``previous`` without a break
        (gapless or crossfaded), else it starts on its own (a click, a restore)."""
        in_album = follows_in_album(previous, track)
        album_mode = in_album or self._album_continues_after(track)
        gain = self.cue_policy.gain(track, album_mode)
        fade = self.crossfade_ms if joined and previous is not None and not in_album else 0
        # Silences matter only where a crossfade joins tracks (the pipeline cuts them only
        # there), and the outgoing track's end is cut by its own cue: ask whenever fading.
        lead, trail = self.cue_policy.silences(track) if self.crossfade_ms else (0, 0)
        return Cue(track.path, tag=next(self._tags), gain=gain, crossfade_ms=fade,
                   trim_start_ms=lead, trim_end_ms=trail)

    def _what_follows(self) -> tuple[Track, str] | None:
        """The track that plays when the current one ends, and its source."""
        if self.queue:
            track = self.library.track(self.queue[0])
            return (track, "user") if track is not None else None
        pick = self.auto_pick
        if self.autoqueue_enabled and pick is not None and pick.track_id != self._current_id():
            track = self.library.track(pick.track_id)
            return (track, "auto") if track is not None else None
        return None

    def _update_next(self) -> None:
        """Tell the backend what follows the current track (when that changed)."""
        if self._shut_down:
            return
        follows = self._what_follows() if self.current is not None else None
        if follows is None:
            if self._announced is not None:
                self._announced = None
                self.backend.set_next(None)
            return
        track, source = follows
        ann = self._announced
        if ann is not None and ann.track.id == track.id and ann.source == source:
            return
        cue = self._make_cue(track, self.current, joined=True)
        self._announced = _Announced(cue, track, source)
        self._sent.add(cue.tag, self._announced)
        self.backend.set_next(cue)

    def _current_id(self) -> int | None:
        return self.current.id if self.current else None

    # -- backend events ----------------------------------------------------------------------

    def _on_state(self, state: PlaybackState) -> None:
        if state is PlaybackState.PLAYING:
            self._last_progress = time.monotonic()
            self._watchdog.start()
        else:
            self._watchdog.stop()
        if state is PlaybackState.PLAYING and self.current is not None and not self._listen_open:
            self.listens.start(self.current.id, self.current_source,
                               self.current.duration_ms)
            self._listen_open = True
        self.stateChanged.emit(state)

    def _on_position(self, position: int) -> None:
        delta = position - self._last_position
        # Forward steps of playback are listening. Seeks go through seek(), which moves
        # _last_position, so they never count; the bound only guards against a backend's odd
        # jump (a minute at once is not something heard).
        if delta > 0:
            self._last_progress = time.monotonic()
        if self._listen_open and 0 < delta <= 60_000:
            self.listens.heard(delta)
        self._last_position = position
        self.positionChanged.emit(position, self.backend.duration())

    def _on_duration(self, duration: int) -> None:
        if self._pending_seek and duration > 0:  # a cued track's media is now known
            position, self._pending_seek = self._pending_seek, 0
            self.seek(min(position, duration))
        if self.listens.current is not None and duration > 0:
            self.listens.current.duration_ms = duration
        self.positionChanged.emit(self.backend.position(), duration)

    def _check_stall(self) -> None:
        if self._shut_down or self.state is not PlaybackState.PLAYING or self.current is None:
            self._watchdog.stop()
            return
        if time.monotonic() - self._last_progress > self.stall_timeout_s:
            self._watchdog.stop()
            if self._last_position > 0:
                self._on_stalled()
            else:
                self._on_failed("no sound came out of the file (corrupt or unsupported)")

    def _on_stalled(self) -> None:
        """The sound stopped in the middle of a track that was playing: the output's fault,
        not the file's. What was heard stays a listen, the file is not marked, the music
        goes on with the next track (a fresh start of the output)."""
        track = self.current
        log.warning("playback of %s stalled at %d ms; moving on", track.path if track else "?",
                    self._last_position)
        self.message.emit("The sound stopped; going on with the next track")
        self._advance(user_skip=False)

    def _on_advanced(self, tag: int) -> None:
        """An announced next track took over: its first sample is sounding now. Usually the
        latest announcement; an earlier one when the backend had already committed to it."""
        ann = self._sent.started(tag)
        if ann is None:
            log.warning("backend advanced to an unknown cue %s", tag)
            return
        # A later announcement (sent after the backend had committed to this track) is what
        # the backend now has to follow it: it stays the announcement, so that _update_next
        # below keeps it, replaces it or takes it back.
        self._announced = self._sent.latest()
        finished = self.current
        self._failures = 0
        if finished is not None and finished.play_error:
            self._mark_play_error(finished.id, None)
        self._close_listen(completed=True)
        track = ann.track
        if ann.source == "user":
            # The queue's head when announced; a later "Play next" may have moved it back.
            if track.id in self.queue:
                self.queue.remove(track.id)
                self.queueChanged.emit()
        else:
            self._set_auto_pick(None)
        self.current, self.current_source, self._cue = track, ann.source, ann.cue
        self._rejected.clear()
        self._last_position = 0
        self._last_progress = time.monotonic()
        self.played.append(track.id)
        self.trackChanged.emit(track)
        if self.state is PlaybackState.PLAYING:
            self.listens.start(track.id, ann.source, track.duration_ms)
            self._listen_open = True
        self._request_pick()
        self._update_next()

    def _on_next_failed(self, tag: int, reason: str) -> None:
        """The track announced to follow cannot be played: mark it and choose another."""
        ann = self._announced
        if ann is None or ann.cue.tag != tag:
            return
        self._announced = None
        track = ann.track
        log.warning("cannot play %s: %s", track.path, reason)
        self._mark_play_error(track.id, reason)
        name = track.title or os.path.basename(track.path)
        self.message.emit(f"Cannot play “{name}”: {reason} — skipping")
        if ann.source == "user" and self.queue and self.queue[0] == track.id:
            self.queue.pop(0)
            self.queueChanged.emit()
            self._update_next()
        else:
            self._set_auto_pick(None)
            self._request_pick()

    def _on_finished(self) -> None:
        if self.current is None:
            return
        self._failures = 0
        if self.current.play_error:
            self._mark_play_error(self.current.id, None)
        self._close_listen(completed=True)
        self._advance(user_skip=False)

    def _on_failed(self, reason: str) -> None:
        track = self.current
        if track is None:
            return
        name = track.title or os.path.basename(track.path)
        log.warning("cannot play %s: %s", track.path, reason)
        self._mark_play_error(track.id, reason)
        if self._listen_open:  # nothing was heard: not a listen at all
            self.listens.discard()
            self._listen_open = False
        self._failures += 1
        if self._failures >= MAX_CONSECUTIVE_FAILURES:
            self.current = None
            self.backend.stop()
            self.trackChanged.emit(None)
            self.message.emit(f"Stopped: {self._failures} tracks in a row could not be played")
            self._failures = 0
            return
        self.message.emit(f"Cannot play “{name}”: {reason} — skipping")
        self._advance(user_skip=False)

    def _mark_play_error(self, track_id: int, reason: str | None) -> None:
        """Remember (or clear) why a track could not play, through the writer."""
        self.writer.submit(lambda library: library.set_play_error(track_id, reason))

    def _close_listen(self, completed: bool) -> None:
        """Close the play in progress; ``completed`` when it reached the end."""
        if not self._listen_open:
            return
        self._listen_open = False
        closed = self.listens.finish(completed=completed)
        if closed is not None:
            # Announced once it is in the database (a fine-tune counts listens there).
            track_id = closed.track_id
            self.writer.submit(lambda _library: self._listenWritten.emit(track_id))
