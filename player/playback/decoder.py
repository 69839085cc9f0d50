"""Decode one audio file, sample-exactly, into float32 stereo at the file's own sample rate.

This is the gapless half of playback: a track's decoded samples must be exactly the samples
that were encoded, so that two tracks cut from one recording join without a gap or a click.
Encoders add silence of their own: MP3 (LAME) an encoder delay and end padding, AAC 1024 or
2112 samples of priming and padding to a whole frame, Opus a pre-skip, Vorbis a partial last
page. FFmpeg removes most of it by itself, and :class:`TrackDecoder` finishes the job:

* **MP3**: FFmpeg reads the LAME/Xing header (delay and padding) and trims both ends;
* **Opus**: FFmpeg applies the pre-skip and the last page's granule position;
* **Vorbis**: FFmpeg's end trimming is off by the first block's length for streams that
  start with a short block (it cut 128 real samples from every track oggenc made at high
  quality, where oggdec, the reference decoder, keeps them): we take FFmpeg's start skip
  (``skip_manual``) and cut the end ourselves at the last granule position;
* **FLAC, WAV, AIFF, WavPack**: nothing to trim;
* **M4A/AAC**: FFmpeg skips the priming (from the edit list, or from iTunes' ``iTunSMPB``)
  but decodes the padding of the last frame; we cut the track at its true length: the
  ``iTunSMPB`` sample count when present, else the edit list's duration.

The file is opened by us and handed to FFmpeg as a file object, so a file name that is not
valid UTF-8 plays too. Seeking is sample-accurate: FFmpeg lands on a packet at or before the
target and we drop the samples before it.

This module is pure: PyAV and numpy, no Qt, so that it runs in the audio process and in tests.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np

from player.library.paths import to_fs

log = logging.getLogger(__name__)

#: Stop a file after this many undecodable packets in a row (a corrupt tail is skipped,
#: an unplayable file fails instead of spinning).
MAX_BAD_PACKETS = 50
#: A seek lands this far before its target and decodes up to it: lossy decoders need the
#: frames before a point to rebuild it (MP3's bit reservoir, AAC's overlap, Opus' pre-roll).
SEEK_PREROLL_S = 0.25
#: Formats demuxed by FFmpeg's mov/mp4 demuxer, whose last frame's padding we cut ourselves.
_MP4_FORMATS = {"mov", "mp4", "m4a", "3gp", "3g2", "mj2"}


class DecodeError(Exception):
    """The file cannot be decoded (missing, not audio, or broken beyond use)."""


def _itunes_gapless(fileobj: BinaryIO) -> tuple[int, int] | None:
    """``(priming, samples)`` from an MP4's ``iTunSMPB`` tag, or None.

    The tag is hex fields: ``0 priming padding samples ...``. Read with mutagen (the one tag
    library of the project), from the start of the file; the file position is restored.
    """
    from mutagen import MutagenError
    from mutagen.mp4 import MP4

    pos = fileobj.tell()
    try:
        fileobj.seek(0)
        tags = MP4(fileobj).tags or {}
        values = tags.get("----:com.apple.iTunes:iTunSMPB")
        if not values:
            return None
        fields = bytes(values[0]).decode("ascii", "replace").split()
        priming, samples = int(fields[1], 16), int(fields[3], 16)
        if 0 <= priming < 1 << 16 and samples > 0:
            return priming, samples
        return None
    except (MutagenError, ValueError, IndexError, OSError):
        return None
    finally:
        fileobj.seek(pos)


class TrackDecoder:
    """One open audio file: :meth:`read` yields its samples in order, trimmed and exact.

    Samples come as ``float32`` arrays of shape ``(n, 2)`` at :attr:`sample_rate` (mono is
    copied to both channels at full level; more channels are mixed down by FFmpeg).
    """

    def __init__(self, path: str | bytes) -> None:
        try:
            name = os.fsencode(to_fs(path) if isinstance(path, str) else path)
            self._file: BinaryIO = open(name, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise DecodeError(exc.strerror or str(exc)) from exc
        try:
            self._container = av.open(self._file, mode="r")
        except (av.FFmpegError, ValueError, OSError) as exc:
            self._file.close()
            raise DecodeError(f"not an audio file FFmpeg can read ({exc})") from exc
        try:
            self._setup()
        except DecodeError:
            self.close()
            raise

    def _setup(self) -> None:
        streams = self._container.streams.audio
        if not streams:
            raise DecodeError("the file has no audio stream")
        stream = self._stream = streams[0]
        ctx = stream.codec_context
        self.sample_rate: int = int(ctx.sample_rate or stream.rate or 0)
        if self.sample_rate <= 0:
            raise DecodeError("the audio stream has no sample rate")
        self.channels: int = int(ctx.channels or 2)
        self.codec: str = ctx.name
        self._time_base: Fraction = stream.time_base or Fraction(1, self.sample_rate)
        self._start_pts: int = stream.start_time if stream.start_time is not None else 0
        # Vorbis: FFmpeg says what to skip, we apply it (and cut the end: see the module).
        self._manual_skip = self.codec == "vorbis"
        if self._manual_skip:
            ctx.options = {**ctx.options, "flags2": "+skip_manual"}
        self._skip_pts = 0  # Vorbis: pts of the content's first sample, from the start time
        self._skip_known = not self._manual_skip
        self._end: int | None = self._content_length()
        self._mono = self.channels == 1
        self._resampler = self._new_resampler()
        self._packets = self._container.demux(stream)
        self._pos = 0  # frames delivered so far (the next sample's index in the track)
        self._skip_to = 0  # after a seek: drop samples before this index
        self._resync = False  # after a seek: the next frame's pts says where we are
        self._bad = 0
        self._eof = False
        self._frames: list[av.AudioFrame] = []

    def _content_length(self) -> int | None:
        """The track's true length in frames where FFmpeg does not trim its end itself."""
        names = set((self._container.format.name or "").split(","))
        if self._manual_skip:  # Vorbis: the last granule position, as the demuxer read it
            return self._duration_from_stream()
        if not names & _MP4_FORMATS:
            return None
        smpb = _itunes_gapless(self._file)
        if smpb is not None:
            return smpb[1]
        return self._duration_from_stream()

    def _duration_from_stream(self) -> int | None:
        stream = self._stream
        if stream.duration is None or stream.duration <= 0:
            return None
        # The mov demuxer's duration ends at the edit list's end (in pts, from 0); the Ogg
        # one's at the last granule position.
        end = (stream.duration - self._start_pts) * self._time_base * self.sample_rate
        return max(0, round(end))

    def _new_resampler(self) -> av.AudioResampler:
        # Format conversion only (same rate): no filter, no delay. Mono stays mono here and is
        # copied to both channels below, at full level (FFmpeg's upmix would lower it 3 dB).
        layout = "mono" if self._mono else "stereo"
        return av.AudioResampler(format="fltp", layout=layout, rate=self.sample_rate)

    # -- public ------------------------------------------------------------------------------

    @property
    def duration_frames(self) -> int | None:
        """The track's length in frames: exact where the container says, else an estimate."""
        if self._end is not None:
            return self._end
        stream = self._stream
        if stream.duration is not None and stream.duration > 0:
            return max(0, round(stream.duration * self._time_base * self.sample_rate))
        if self._container.duration:  # microseconds
            return max(0, round(self._container.duration * self.sample_rate / 1_000_000))
        return None

    @property
    def duration_ms(self) -> int:
        frames = self.duration_frames
        return 0 if frames is None else frames * 1000 // self.sample_rate

    @property
    def position(self) -> int:
        """The index of the next sample :meth:`read` returns."""
        return max(self._pos, self._skip_to)

    def read(self) -> np.ndarray | None:
        """The next block of samples ``(n, 2)``; ``None`` at the end of the track."""
        while True:
            frame = self._next_frame()
            if frame is None:
                return None
            block = self._convert(frame)
            if block is not None and len(block):
                return block

    def seek(self, frame_index: int) -> None:
        """Continue from sample ``frame_index`` (clamped to the track), sample-accurately."""
        target = max(0, int(frame_index))
        if self._end is not None:
            target = min(target, self._end)
        if not self._skip_known:
            # Where the content starts in pts is said by the first frame: read it once.
            first = self._next_frame()
            if first is not None:
                self._start_skip(first)
            self._skip_known = True
        preroll = round(SEEK_PREROLL_S * self.sample_rate)
        land = max(0, target - preroll)
        ts = self._start_pts + int(Fraction(land, self.sample_rate) / self._time_base)
        try:
            self._container.seek(ts, stream=self._stream, backward=True, any_frame=False)
        except (av.FFmpegError, OSError) as exc:
            raise DecodeError(f"cannot seek ({exc})") from exc
        self._stream.codec_context.flush_buffers()
        self._resampler = self._new_resampler()
        self._packets = self._container.demux(self._stream)
        self._frames = []
        self._eof = False
        self._skip_to = target
        self._resync = True
        self._pos = 0

    def close(self) -> None:
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - closing a broken container must not raise
            pass
        self._file.close()

    def __enter__(self) -> TrackDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- decoding ----------------------------------------------------------------------------

    def _next_frame(self) -> av.AudioFrame | None:
        while not self._frames:
            if self._eof:
                return None
            try:
                packet = next(self._packets)
            except StopIteration:
                self._eof = True
                packet = None
            except (av.FFmpegError, OSError) as exc:  # a broken container: end here
                log.info("demuxing stopped: %s", exc)
                self._eof = True
                packet = None
            try:
                # A None packet (or an empty flush packet) drains the decoder at the end.
                self._frames = list(self._stream.codec_context.decode(packet))
                self._bad = 0
            except (av.FFmpegError, ValueError) as exc:
                self._bad += 1
                if self._bad >= MAX_BAD_PACKETS:
                    raise DecodeError(f"undecodable audio ({exc})") from exc
                continue
        return self._frames.pop(0)

    def _start_skip(self, frame: av.AudioFrame) -> int:
        """Samples FFmpeg marks to skip at this frame's start (``skip_manual``); the end
        discard it also marks is ignored (wrong for Vorbis: we cut at the granule)."""
        for data in frame.side_data:
            if data.type == av.sidedata.sidedata.Type.SKIP_SAMPLES:
                raw = bytes(data)
                if len(raw) >= 4:
                    skip = min(int.from_bytes(raw[:4], "little"), frame.samples)
                    if skip and frame.pts is not None and not self._skip_known:
                        # Content sample 0 is the first one after the skip: its pts, which
                        # FFmpeg does not always put at the stream's start time.
                        self._skip_pts = frame.pts + skip - self._start_pts
                        self._skip_known = True
                    return skip
        return 0

    def _convert(self, frame: av.AudioFrame) -> np.ndarray | None:
        """One decoded frame -> trimmed ``(n, 2)`` float32 samples (or None if all trimmed)."""
        skip = self._start_skip(frame) if self._manual_skip else 0
        if self._resync:
            # After a seek the frame's timestamp says which sample it starts with.
            self._resync = False
            if frame.pts is not None:
                start = ((frame.pts - self._start_pts - self._skip_pts) * self._time_base
                         * self.sample_rate)
                self._pos = round(start) + skip
            else:
                self._pos = self._skip_to
        try:
            converted = self._resampler.resample(frame)
        except (av.FFmpegError, ValueError):
            # The stream changed its layout or rate mid-file: start a converter for it.
            self._resampler = self._new_resampler()
            converted = self._resampler.resample(frame)
        parts = [f.to_ndarray() for f in converted]
        if not parts:
            return None
        planes = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        if skip:
            planes = planes[:, skip:]  # the decoder's priming, not part of the track
        first = self._pos
        self._pos += planes.shape[1]
        lo = max(0, self._skip_to - first)
        hi = planes.shape[1]
        if self._end is not None:
            hi = min(hi, self._end - first)
        if hi <= lo:
            if self._end is not None and first >= self._end:
                self._eof, self._frames = True, []  # past the true end: the rest is padding
            return None
        planes = planes[:, lo:hi]
        if self._mono:
            planes = np.repeat(planes[:1], 2, axis=0)
        return np.ascontiguousarray(planes.T, dtype=np.float32)
