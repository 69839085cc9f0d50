"""The sample timeline: the current track, then the next one, as one stream of blocks.

A :class:`Pipeline` turns cues into :class:`Block` s of float32 stereo samples at one output
rate, in the order they must sound:

* **gapless**: the next track's first sample follows the current track's last one. When both
  tracks have the same sample rate, one rate converter carries on across the join (a
  converter restarted at a track boundary would add a filter transient and lose a sample);
* **crossfade** (a cue with ``crossfade_ms``): the current track's tail is held back, its
  trailing silence cut, and mixed with the next track's head (its leading silence skipped)
  with equal-power curves;
* **seek**: sample-accurate, through :meth:`TrackDecoder.seek`.

The next track is opened and its first second decoded as soon as it is set, long before the
current one ends, so that a slow disk cannot open a gap.

Pure: numpy and PyAV, no Qt, no threads. The audio process drives it from its decoder thread.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import av
import numpy as np

from player.playback.cue import Cue
from player.playback.decoder import DecodeError, TrackDecoder

log = logging.getLogger(__name__)

#: How much of the next track is decoded as soon as it is set (seconds).
PREBUFFER_S = 1.0


@dataclass
class Block:
    """Samples ready for the output, and whose they are."""

    samples: np.ndarray  # (n, 2) float32 at the pipeline's output rate
    tag: int  # the cue these samples belong to (in a crossfade: the incoming one)
    frame: int  # samples[0]'s index in that track, in output-rate frames from its start
    #: True when the cue's gain is already in the samples (a crossfade mixes two gains);
    #: otherwise the output applies it, so that a changed gain takes effect at once.
    gain_applied: bool = False

    def __len__(self) -> int:
        return len(self.samples)


class RateConverter:
    """Source rate -> output rate, stateful (a continuous stream), or a no-op when equal."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._swr = (None if in_rate == out_rate
                     else av.AudioResampler(format="fltp", layout="stereo", rate=out_rate))

    def convert(self, block: np.ndarray) -> np.ndarray:
        if self._swr is None or not len(block):
            return block
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block.T), format="fltp",
                                           layout="stereo")
        frame.sample_rate = self.in_rate
        return self._collect(self._swr.resample(frame))

    def flush(self) -> np.ndarray:
        """The samples still inside the filter (call once, at the end of the stream)."""
        if self._swr is None:
            return np.zeros((0, 2), np.float32)
        out = self._collect(self._swr.resample(None))
        self._swr = av.AudioResampler(format="fltp", layout="stereo", rate=self.out_rate)
        return out

    @staticmethod
    def _collect(frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return np.zeros((0, 2), np.float32)
        planes = np.concatenate([f.to_ndarray() for f in frames], axis=1)
        return np.ascontiguousarray(planes.T, dtype=np.float32)


class _Source:
    """One cue being decoded: its decoder, its converter, and what it has produced."""

    def __init__(self, cue: Cue, out_rate: int, start_ms: int = 0) -> None:
        self.cue = cue
        self.decoder = TrackDecoder(cue.path)
        self.converter = RateConverter(self.decoder.sample_rate, out_rate)
        self.out_rate = out_rate
        self.out_frames = 0  # output-rate frames produced so far (the next block's index)
        self.head: deque[np.ndarray] = deque()  # decoded ahead of time (source rate)
        if start_ms > 0:
            self.seek_ms(start_ms)

    @property
    def duration_ms(self) -> int:
        return self.decoder.duration_ms

    def prebuffer(self, seconds: float) -> None:
        """Decode the first ``seconds`` now, so that the join never waits for the disk."""
        want = int(seconds * self.decoder.sample_rate)
        have = sum(len(b) for b in self.head)
        while have < want:
            block = self.decoder.read()
            if block is None:
                break
            self.head.append(block)
            have += len(block)

    def read(self) -> np.ndarray | None:
        """The next source-rate block: what was prebuffered, then the decoder's."""
        if self.head:
            return self.head.popleft()
        return self.decoder.read()

    def seek_ms(self, ms: int) -> None:
        self.head.clear()
        self.decoder.seek(int(ms) * self.decoder.sample_rate // 1000)
        self.converter = RateConverter(self.decoder.sample_rate, self.out_rate)
        self.out_frames = int(ms) * self.out_rate // 1000

    def close(self) -> None:
        self.decoder.close()


def _fade_curves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-power fade-out and fade-in curves of ``n`` samples (as (n, 1) columns)."""
    t = (np.arange(n, dtype=np.float32) + 0.5) / max(n, 1)
    return np.cos(t * np.pi / 2)[:, None], np.sin(t * np.pi / 2)[:, None]


class Pipeline:
    """The current cue and the next, produced as one stream of :class:`Block` s."""

    def __init__(self, out_rate: int) -> None:
        self.out_rate = int(out_rate)
        self.current: _Source | None = None
        self.next: _Source | None = None
        self._pending: deque[Block] = deque()  # produced, not yet handed out
        self._tail: deque[np.ndarray] = deque()  # the current track's held-back end
        self._tail_frames = 0

    # -- commands ----------------------------------------------------------------------------

    def load(self, cue: Cue, start_ms: int = 0) -> int:
        """Make ``cue`` the current track (at ``start_ms``); returns its duration in ms.

        Raises :class:`DecodeError` when it cannot be played (the pipeline is then empty).
        """
        self.clear()
        self.current = _Source(cue, self.out_rate, start_ms)
        return self.current.duration_ms

    def set_next(self, cue: Cue | None) -> int | None:
        """What follows the current track (``None``: nothing). Opens it and decodes its first
        second now; returns its duration in ms. Raises :class:`DecodeError` (then no next)."""
        if self.next is not None:
            if cue is not None and cue == self.next.cue:
                return self.next.duration_ms
            self.next.close()
            self.next = None
        if cue is None:
            return None
        source = _Source(cue, self.out_rate)
        if cue.crossfade_ms > 0 and cue.trim_start_ms > 0:
            source.seek_ms(cue.trim_start_ms)
            source.out_frames = 0  # the track "starts" where its sound starts
        source.prebuffer(PREBUFFER_S)
        self.next = source
        return source.duration_ms

    def resume_with_next(self) -> bool:
        """After the current track ended with nothing next, a next one was set: make it
        current, so that its samples follow those already produced. False if there is none."""
        if self.current is not None or self.next is None:
            return False
        self.current, self.next = self.next, None
        return True

    def seek(self, ms: int) -> None:
        """Jump within the current track, sample-accurately."""
        if self.current is None:
            return
        self._pending.clear()
        self._tail.clear()
        self._tail_frames = 0
        self.current.seek_ms(max(0, int(ms)))

    def clear(self) -> None:
        """Close everything: nothing current, nothing next."""
        for source in (self.current, self.next):
            if source is not None:
                source.close()
        self.current = self.next = None
        self._pending.clear()
        self._tail.clear()
        self._tail_frames = 0

    # -- production --------------------------------------------------------------------------

    def produce(self) -> Block | None:
        """The next block to play; ``None`` when the current track ended with nothing next.

        When the current track ends and a next one is set, the next one becomes current and
        the blocks go on (their ``tag`` changes): that is the gapless join.
        A :class:`DecodeError` in the middle of a track ends that track (what was decoded plays).
        """
        while not self._pending:
            if not self._step():
                return None
        return self._pending.popleft()

    def _crossfade_frames(self) -> int:
        """Frames of the current track to hold back for a crossfade into the next one."""
        nxt, cur = self.next, self.current
        if nxt is None or cur is None or nxt.cue.crossfade_ms <= 0:
            return 0
        return (nxt.cue.crossfade_ms + cur.cue.trim_end_ms) * self.out_rate // 1000

    def _step(self) -> bool:
        """Decode one block of the current track into ``_pending``; False at the very end."""
        cur = self.current
        if cur is None:
            return False
        try:
            raw = cur.read()
        except DecodeError as exc:
            log.warning("decoding %s stopped early: %s", cur.cue.path, exc)
            raw = None
        if raw is None:
            return self._end_of_current()
        self._emit_current(cur.converter.convert(raw))
        return True

    def _emit_current(self, samples: np.ndarray) -> None:
        """Queue the current track's samples, keeping back the tail a crossfade needs."""
        cur = self.current
        assert cur is not None
        hold = self._crossfade_frames()
        if hold <= 0 and not self._tail:
            self._push(samples, cur)
            return
        if len(samples):
            self._tail.append(samples)
            self._tail_frames += len(samples)
        # Release what is older than the last ``hold`` frames.
        while self._tail and self._tail_frames - len(self._tail[0]) >= hold:
            block = self._tail.popleft()
            self._tail_frames -= len(block)
            self._push(block, cur)
        if hold <= 0 and self._tail:  # the crossfade was called off: release everything
            self._release_tail()

    def _release_tail(self) -> None:
        cur = self.current
        assert cur is not None
        while self._tail:
            self._push(self._tail.popleft(), cur)
        self._tail_frames = 0

    def _push(self, samples: np.ndarray, source: _Source, gain_applied: bool = False) -> None:
        if len(samples):
            self._pending.append(Block(samples, source.cue.tag, source.out_frames, gain_applied))
            source.out_frames += len(samples)

    def _end_of_current(self) -> bool:
        cur, nxt = self.current, self.next
        assert cur is not None
        if nxt is None:
            self._emit_current(cur.converter.flush())
            self._release_tail()
            cur.close()
            self.current = None
            return bool(self._pending)
        if nxt.cue.crossfade_ms > 0:
            self._emit_current(cur.converter.flush())
            self._crossfade(cur, nxt)
        else:
            if nxt.decoder.sample_rate == cur.decoder.sample_rate:
                nxt.converter = cur.converter  # one filter across the join: no seam
            else:
                self._emit_current(cur.converter.flush())
            self._release_tail()
        cur.close()
        self.current, self.next = nxt, None
        return True

    def _crossfade(self, cur: _Source, nxt: _Source) -> None:
        """Mix the held-back tail of ``cur`` into the head of ``nxt``."""
        tail = (np.concatenate(list(self._tail)) if self._tail
                else np.zeros((0, 2), np.float32))
        self._tail.clear()
        self._tail_frames = 0
        trim = min(len(tail), cur.cue.trim_end_ms * self.out_rate // 1000)
        if trim:
            tail = tail[:len(tail) - trim]
        overlap = min(len(tail), nxt.cue.crossfade_ms * self.out_rate // 1000)
        head_parts: list[np.ndarray] = []
        have = 0
        while have < overlap:
            raw = nxt.read()
            if raw is None:
                break
            part = nxt.converter.convert(raw)
            head_parts.append(part)
            have += len(part)
        head = (np.concatenate(head_parts) if head_parts else np.zeros((0, 2), np.float32))
        overlap = min(overlap, len(head))
        self._push(tail[:len(tail) - overlap], cur)
        if overlap:
            fade_out, fade_in = _fade_curves(overlap)
            mixed = (tail[len(tail) - overlap:] * (fade_out * np.float32(cur.cue.gain))
                     + head[:overlap] * (fade_in * np.float32(nxt.cue.gain)))
            cur.out_frames += overlap
            self._push(mixed.astype(np.float32), nxt, gain_applied=True)
        self._push(head[overlap:], nxt)
