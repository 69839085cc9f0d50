"""Make short, real, tagged audio files: the demo library, test fixtures and benchmarks.

Audio is synthesised in Python (a few notes of a tune, or a tone) into WAV with the standard
``wave`` module, then encoded with the usual command-line encoders where a format needs one
(``lame``, ``flac``, ``oggenc``, ``opusenc``, ``ffmpeg``), and tagged with mutagen.  WAV needs
nothing but Python, so the demo library can always be made, offline.
"""

from __future__ import annotations

import base64
import math
import os
import shutil
import struct
import subprocess
import tempfile
import wave
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: format -> (file extension, encoder programs it needs)
FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "wav": (".wav", ()),
    "mp3": (".mp3", ("lame",)),
    "flac": (".flac", ("flac",)),
    "vorbis": (".ogg", ("oggenc",)),
    "opus": (".opus", ("opusenc",)),
    "aac": (".m4a", ("ffmpeg",)),
    "aiff": (".aiff", ("ffmpeg",)),
    "wavpack": (".wv", ("wavpack",)),
}


@dataclass(frozen=True)
class TrackSpec:
    """The tags (and the sound) of one generated track."""

    title: str | None
    artist: str | None = None
    album: str | None = None
    albumartist: str | None = None
    track_number: str | None = None  # text, so that "3/12" can be written
    disc_number: str | None = None
    genre: str | None = None
    date: str | None = None
    seconds: float = 1.0
    pitch: float = 440.0  # the tune's base frequency: different tracks sound different
    cover: bool = False
    cover_rgb: tuple[int, int, int] = (200, 80, 40)
    #: Loudness tags written as given, (key, text) each: ("REPLAYGAIN_TRACK_GAIN", "-6.5 dB"),
    #: ("R128_TRACK_GAIN", "-512")... into the family's own place (ID3 TXXX, Vorbis comment,
    #: APEv2, MP4 ``----:com.apple.iTunes:`` atom).
    gain_tags: tuple[tuple[str, str], ...] = ()
    #: The compilation flag, written as iTunes and the taggers do (ID3 TCMP, MP4 cpil, a
    #: Vorbis/APE COMPILATION=1).
    compilation: bool = False


def available_formats() -> list[str]:
    """The formats this machine can encode (WAV always)."""
    return [f for f, (_, tools) in FORMATS.items() if all(shutil.which(t) for t in tools)]


def synth_wav(
    path: str | os.PathLike[str], seconds: float, pitch: float = 440.0, rate: int = 22050
) -> None:
    """A mono 16-bit WAV: a short arpeggio on ``pitch`` with soft attacks, pleasant enough."""
    n = max(1, int(seconds * rate))
    steps = (1.0, 1.25, 1.5, 2.0, 1.5, 1.25)  # a major arpeggio up and down
    note_len = max(1, int(rate * 0.25))
    frames = bytearray()
    for i in range(n):
        freq = pitch * steps[(i // note_len) % len(steps)]
        t_note = (i % note_len) / rate
        envelope = min(1.0, t_note * 40) * math.exp(-3.0 * t_note)
        sample = 0.3 * envelope * math.sin(2 * math.pi * freq * i / rate)
        frames += struct.pack("<h", int(sample * 32767))
    with wave.open(os.fspath(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))


def tone_wav(
    path: str | os.PathLike[str],
    seconds: float,
    freq: float = 997.0,
    dbfs: float = -20.0,
    channels: int = 1,
    rate: int = 48000,
    lead_s: float = 0.0,
    trail_s: float = 0.0,
) -> None:
    """A 16-bit WAV of a sine at ``dbfs`` (peak) in every channel, between exact silences.

    Known loudness (ITU-R BS.1770): a 997 Hz sine at -20 dBFS measures -23.0 LUFS in one
    channel and -20.0 LUFS in two.
    """
    import numpy as np

    t = np.arange(int(round(seconds * rate))) / rate
    tone = 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)
    signal = np.concatenate([np.zeros(int(round(lead_s * rate))), tone,
                             np.zeros(int(round(trail_s * rate)))])
    write_wav(path, np.repeat(signal[:, None], channels, axis=1), rate)


def set_opus_output_gain(path: str | os.PathLike[str], db: float) -> None:
    """Rewrite an Opus file's header output gain (Q7.8 dB, which decoders apply)."""
    from mutagen.ogg import OggPage

    with open(path, "r+b") as f:
        page = OggPage(f)
        head = bytearray(page.packets[0])
        struct.pack_into("<h", head, 16, int(round(db * 256)))
        page.packets[0] = bytes(head)
        data = page.write()  # same size, a new checksum
        f.seek(0)
        f.write(data)


#: Lossy encoders' settings: small files for libraries and fixtures; "fidelity" for the
#: measurement material, where codec noise must stay far below the jumps being measured
#: (and LAME at 64 kb/s would also resample a 44.1 kHz stereo input to 24 kHz).
_LOSSY = {
    False: {"mp3": ["-b", "64"], "vorbis": ["-q", "0"], "opus": ["--bitrate", "24"],
            "aac": ["-b:a", "48k"]},
    # an MP4 edit list holds the exact length only in a movie timescale of the sample rate
    # (FFmpeg's default, 1000, rounds it to the millisecond)
    True: {"mp3": ["-b", "192"], "vorbis": ["-q", "6"], "opus": ["--bitrate", "192"],
           "aac": ["-b:a", "192k", "-movie_timescale", "44100"]},
}


def encode(wav: Path, fmt: str, dest: Path, fidelity: bool = False) -> None:
    """Encode a WAV into ``fmt`` at ``dest`` with the format's command-line encoder.

    The encoders write what gapless playback needs: LAME its Xing/LAME header (encoder delay
    and padding), oggenc and opusenc the final granule position (and Opus its pre-skip),
    FFmpeg an MP4 edit list (priming and exact length; no iTunSMPB tag)."""
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
    opts = _LOSSY[fidelity].get(fmt, [])
    if fmt == "wav":
        shutil.copyfile(wav, dest)
    elif fmt == "mp3":
        subprocess.run(["lame", "--quiet", *opts, str(wav), str(dest)], **quiet)
    elif fmt == "flac":
        subprocess.run(["flac", "-s", "-f", "-o", str(dest), str(wav)], **quiet)
    elif fmt == "vorbis":
        subprocess.run(["oggenc", "-Q", *opts, "-o", str(dest), str(wav)], **quiet)
    elif fmt == "opus":
        subprocess.run(["opusenc", "--quiet", *opts, str(wav), str(dest)], **quiet)
    elif fmt == "aac":
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav)]
        subprocess.run([*cmd, "-c:a", "aac", *opts, str(dest)], **quiet)
    elif fmt == "aiff":
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav)]
        subprocess.run([*cmd, str(dest)], **quiet)
    elif fmt == "wavpack":
        subprocess.run(["wavpack", "-q", "-y", str(wav), "-o", str(dest)], **quiet)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def png_bytes(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A valid, solid-colour PNG: enough for every tag family to carry a cover."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


_APE_KEYS = {
    "title": "Title",
    "artist": "Artist",
    "album": "Album",
    "albumartist": "Album Artist",
    "tracknumber": "Track",
    "discnumber": "Disc",
    "genre": "Genre",
    "date": "Year",
}


def tag_file(path: Path, fmt: str, spec: TrackSpec) -> None:
    """Write ``spec``'s tags into ``path`` with mutagen, the way each family expects."""
    import mutagen
    from mutagen import id3
    from mutagen.flac import Picture
    from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm

    fields = {
        "title": spec.title,
        "artist": spec.artist,
        "album": spec.album,
        "albumartist": spec.albumartist,
        "tracknumber": spec.track_number,
        "discnumber": spec.disc_number,
        "genre": spec.genre,
        "date": spec.date,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    if fmt in ("mp3", "wav", "aiff"):
        audio = mutagen.File(path)
        if audio.tags is None:
            audio.add_tags()
        frames = {
            "title": id3.TIT2,
            "artist": id3.TPE1,
            "album": id3.TALB,
            "albumartist": id3.TPE2,
            "tracknumber": id3.TRCK,
            "discnumber": id3.TPOS,
            "genre": id3.TCON,
            "date": id3.TDRC,
        }
        for key, value in fields.items():
            audio.tags.add(frames[key](encoding=3, text=value.split("\x00")))
        for key, value in spec.gain_tags:
            audio.tags.add(id3.TXXX(encoding=3, desc=key, text=[value]))
        if spec.compilation:
            audio.tags.add(id3.TCMP(encoding=3, text=["1"]))
        if spec.cover:
            audio.tags.add(id3.APIC(encoding=3, mime="image/png", type=3, desc="",
                                    data=png_bytes(rgb=spec.cover_rgb)))
        audio.save()
    elif fmt == "aac":
        audio = MP4(path)
        keys = {
            "title": "\xa9nam",
            "artist": "\xa9ART",
            "album": "\xa9alb",
            "albumartist": "aART",
            "genre": "\xa9gen",
            "date": "\xa9day",
        }
        for key, value in fields.items():
            if key in keys:
                audio[keys[key]] = value.split("\x00")
        if "tracknumber" in fields:
            num, _, total = fields["tracknumber"].partition("/")
            audio["trkn"] = [(int(num), int(total or 0))]
        if "discnumber" in fields:
            num, _, total = fields["discnumber"].partition("/")
            audio["disk"] = [(int(num), int(total or 0))]
        for key, value in spec.gain_tags:
            audio["----:com.apple.iTunes:" + key] = [MP4FreeForm(value.encode("utf-8"))]
        if spec.compilation:
            audio["cpil"] = True
        if spec.cover:
            audio["covr"] = [MP4Cover(png_bytes(rgb=spec.cover_rgb),
                                      imageformat=MP4Cover.FORMAT_PNG)]
        audio.save()
    else:  # Vorbis comments (FLAC, Ogg, Opus) and APEv2 (WavPack) take plain keys
        audio = mutagen.File(path)
        if audio.tags is None:
            audio.add_tags()
        if fmt == "wavpack":
            fields = {_APE_KEYS[k]: v for k, v in fields.items()}
        for key, value in fields.items():
            audio.tags[key] = value.split("\x00")
        for key, value in spec.gain_tags:
            audio.tags[key] = [value]
        if spec.compilation:
            audio.tags["Compilation" if fmt == "wavpack" else "COMPILATION"] = ["1"]
        if spec.cover and fmt != "wavpack":
            pic = Picture()
            pic.type, pic.mime, pic.data = 3, "image/png", png_bytes(rgb=spec.cover_rgb)
            if fmt == "flac":
                audio.add_picture(pic)
            else:
                block = base64.b64encode(pic.write()).decode("ascii")
                audio.tags["metadata_block_picture"] = [block]
        audio.save()


def make_track(dest: Path, fmt: str, spec: TrackSpec, workdir: Path | None = None) -> Path:
    """Synthesise, encode and tag one track; returns its path."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        wav = Path(tmp) / "src.wav"
        synth_wav(wav, spec.seconds, spec.pitch)
        encode(wav, fmt, dest)
    tag_file(dest, fmt, spec)
    return dest


def make_library(
    folder: Path, specs: Sequence[tuple[str, str, TrackSpec]]
) -> list[Path]:
    """Make many tracks: ``(relative path without extension, format, spec)`` each.

    Each (format, duration, pitch) is encoded once and copied, so that a large library is
    quick to make; the copies differ by their tags.
    """
    cache: dict[tuple[str, float, float], Path] = {}
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for rel, fmt, spec in specs:
            ext = FORMATS[fmt][0]
            dest = folder / (rel + ext)
            dest.parent.mkdir(parents=True, exist_ok=True)
            key = (fmt, spec.seconds, spec.pitch)
            if key not in cache:
                wav = Path(tmp) / f"src{len(cache)}.wav"
                synth_wav(wav, spec.seconds, spec.pitch)
                cache[key] = Path(tmp) / f"{len(cache)}{ext}"
                encode(wav, fmt, cache[key])
            shutil.copyfile(cache[key], dest)
            tag_file(dest, fmt, spec)
            out.append(dest)
    return out


# -- measurement material: one continuous signal cut across the tracks of an album ----------

#: Sample rate of the measurement material (441 Hz is then exactly 100 samples a period).
TEST_RATE = 44100


@dataclass(frozen=True)
class Tone:
    """A test signal defined as a function of time, so that its reference can be rendered at
    any rate and from any instant: a sine of ``freq`` Hz, or with ``sweep`` (Hz per second)
    a linear chirp whose every stretch is unique (a recording can then tell where it is)."""

    freq: float = 441.0
    amplitude: float = 0.5  # -6 dBFS: headroom for a decoder's overshoot
    sweep: float = 0.0

    def render(self, rate: int, start: int, frames: int):  # -> numpy.ndarray
        """Mono float samples ``start .. start+frames`` (frame indices at ``rate``)."""
        import numpy as np

        t = (np.arange(frames, dtype=np.float64) + start) / rate
        return self.amplitude * np.sin(2 * math.pi * (self.freq * t + 0.5 * self.sweep * t * t))

    def frequency_at(self, seconds: float) -> float:
        return self.freq + self.sweep * seconds


def write_wav(path: str | os.PathLike[str], samples, rate: int) -> None:
    """Float samples, shape (frames,) or (frames, channels), as a 16-bit PCM WAV."""
    import numpy as np

    a = np.asarray(samples, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    pcm = np.clip(np.round(a * 32767), -32768, 32767).astype("<i2")
    with wave.open(os.fspath(path), "wb") as out:
        out.setnchannels(a.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


@dataclass(frozen=True)
class CutAlbum:
    """A signal cut into consecutive album tracks: played back to back without a gap, they
    sound as the uncut signal. ``starts[i]`` is track i's first frame in the signal (at
    ``rate``); ``frames`` the whole signal's length."""

    paths: list[Path]
    starts: list[int]
    frames: int
    tone: Tone
    rate: int
    fmt: str

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def cut_album(folder: Path, fmt: str, seconds: Sequence[float] = (1.5, 1.5),
              tone: Tone = Tone(), album: str | None = None, artist: str = "Segue Test",
              names: Sequence[str | bytes] | None = None, channels: int = 2,
              rate: int | None = None,
              gain_tags: tuple[tuple[str, str], ...] = ()) -> CutAlbum:
    """Cut ``tone`` into ``len(seconds)`` tracks of one album in ``fmt``, tagged as tracks
    1..N of N, in ``folder``. ``names`` (without extension) may be bytes that are not valid
    UTF-8, for a file name that only the file system can spell. Track lengths are rounded to
    whole frames, deliberately not to a codec's frame size: gapless playback must trim the
    encoder's delay and padding to the sample; cuts fall on the signal's rising zero
    crossings (see below). ``gain_tags`` are written into every track (see
    :attr:`TrackSpec.gain_tags`)."""
    import numpy as np

    ext = FORMATS[fmt][0]
    album = album or f"{tone.freq:g} Hz {fmt}"
    if rate is None:  # Opus codes at 48 kHz: a 44.1 kHz source would be resampled per file
        rate = 48000 if fmt == "opus" else TEST_RATE
    signal = tone.render(rate, 0, int(round(sum(seconds) * rate)) + rate)
    # Each cut on the upward zero crossing nearest the asked length: a lossy encoder then
    # never sees a step up from silence at a track's start, which it could only code with
    # pre-echo (a codec's limit, not a player's). Lengths stay off every codec frame size.
    rising = np.flatnonzero((signal[:-1] < 0) & (signal[1:] >= 0)) + 1
    rising -= np.abs(signal[rising - 1]) < np.abs(signal[rising])  # the sample nearer zero
    cuts = [0]
    for edge in np.cumsum([int(round(s * rate)) for s in seconds]):
        cuts.append(int(rising[np.argmin(np.abs(rising - edge))]) if rising.size else int(edge))
    starts, total = cuts[:-1], cuts[-1]  # the album ends on a crossing too
    lengths = [b - a for a, b in zip(cuts, cuts[1:])]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (start, length) in enumerate(zip(starts, lengths)):
            name = names[i] if names else f"{i + 1:02d} part {i + 1}"
            dest = folder / ((os.fsdecode(name) if isinstance(name, bytes) else name) + ext)
            wav = Path(tmp) / f"{i}.wav"
            piece = signal[start:start + length]
            write_wav(wav, np.repeat(piece[:, None], channels, axis=1), rate)
            encode(wav, fmt, dest, fidelity=True)
            spec = TrackSpec(f"Part {i + 1}", artist, album, artist, f"{i + 1}/{len(lengths)}",
                             "1/1", "Test", "2024", gain_tags=gain_tags)
            tag_file(dest, fmt, spec)
            paths.append(dest)
    return CutAlbum(paths, starts, total, tone, rate, fmt)
