"""Reading tags: every mutagen call in Segue goes through :func:`read_tags`.

One place maps each tag family (ID3, Vorbis comments, MP4 atoms, APEv2, ASF) to Segue's
fields and normalises them, so that the rest of the app sees one shape:

* ``title`` falls back to the file name without its extension;
* a missing or blank artist/album/... is ``None`` (the UI shows "Unknown artist");
* ``"3/12"`` track and disc numbers give 3; dates give their year;
* multi-valued tags are joined with ``"; "``;
* ``has_cover`` says whether the file embeds a picture;
* ``compilation``: the file says it is part of a compilation (iTunes' flag: ID3 ``TCMP``, MP4
  ``cpil``, Vorbis/APE ``COMPILATION``, ASF ``WM/IsCompilation``; "1", "true" or "yes"), which
  the browser honours when no album artist is tagged;
* ReplayGain track/album gain (dB, ReplayGain 2's -18 LUFS reference) and peak (linear), from
  whichever family the file has (see :func:`_replaygain`); a value that does not parse or is
  out of any sane range is ``None``, never an error.

A file that cannot be read raises :class:`TagReadError` with a reason a person understands.
This module must stay importable without Qt: the scanner runs it in worker processes.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import mutagen
from mutagen._vorbis import VComment  # the base of every Vorbis-comment container
from mutagen.apev2 import APEv2
from mutagen.asf import ASFTags
from mutagen.id3 import ID3, TCON
from mutagen.mp4 import MP4Tags

from player.library.paths import display, to_fs

log = logging.getLogger(__name__)

#: File name extensions the scanner reads (lower case, with the dot).
AUDIO_EXTENSIONS = frozenset(
    ".mp3 .mp2 .flac .ogg .oga .opus .spx .m4a .m4b .mp4 .aac .alac .wav .aif .aiff .aifc "
    ".wv .ape .mpc .mp+ .tak .ofr .tta .wma .asf .dsf .dff".split()
)

#: Multi-valued tags (several artists, genres) are shown joined with this.
JOIN = "; "


class TagReadError(Exception):
    """A file could not be read as audio; ``str(err)`` is the reason for the user."""


# The rows of this module are NamedTuples, not dataclasses: a tag-reading worker process
# imports this module before it can take any work, and ``dataclasses`` (with ``inspect``)
# would add a sixth to its start-up, which a small scan feels (bench/scan.py).
class TrackTags(NamedTuple):
    """What Segue knows of one audio file after reading it."""

    title: str
    artist: str | None = None
    album: str | None = None
    albumartist: str | None = None
    track_number: int | None = None
    disc_number: int | None = None
    genre: str | None = None
    year: int | None = None
    duration_ms: int | None = None
    format: str | None = None
    has_cover: bool = False
    compilation: bool = False
    rg_track_gain: float | None = None
    rg_track_peak: float | None = None
    rg_album_gain: float | None = None
    rg_album_peak: float | None = None

    def as_row(self) -> dict[str, Any]:
        """The fields as a ``tracks`` row (``has_cover`` as 0/1)."""
        row = self._asdict()
        row["has_cover"] = int(self.has_cover)
        row["compilation"] = int(self.compilation)
        return row


# Each family: field -> the keys that may hold it, in order of preference.
_ID3 = {
    "title": ("TIT2",),
    "artist": ("TPE1",),
    "album": ("TALB",),
    "albumartist": ("TPE2",),
    "track_number": ("TRCK",),
    "disc_number": ("TPOS",),
    "genre": ("TCON",),
    "year": ("TDRC", "TYER", "TORY", "TDOR"),
    "compilation": ("TCMP",),
}
_VORBIS = {
    "title": ("title",),
    "artist": ("artist",),
    "album": ("album",),
    "albumartist": ("albumartist", "album artist", "album_artist"),
    "track_number": ("tracknumber", "track"),
    "disc_number": ("discnumber", "disc"),
    "genre": ("genre",),
    "year": ("date", "year", "originaldate"),
    "compilation": ("compilation",),
}
_MP4 = {
    "title": ("\xa9nam",),
    "artist": ("\xa9ART",),
    "album": ("\xa9alb",),
    "albumartist": ("aART",),
    "track_number": ("trkn",),
    "disc_number": ("disk",),
    "genre": ("\xa9gen", "gnre"),
    "year": ("\xa9day",),
    "compilation": ("cpil",),
}
_APE = {  # APEv2 keys are case-insensitive in mutagen
    "title": ("Title",),
    "artist": ("Artist",),
    "album": ("Album",),
    "albumartist": ("Album Artist", "AlbumArtist"),
    "track_number": ("Track",),
    "disc_number": ("Disc",),
    "genre": ("Genre",),
    "year": ("Year", "Date"),
    "compilation": ("Compilation",),
}
_ASF = {
    "title": ("Title",),
    "artist": ("Author", "WM/AlbumArtist"),
    "album": ("WM/AlbumTitle",),
    "albumartist": ("WM/AlbumArtist",),
    "track_number": ("WM/TrackNumber", "WM/Track"),
    "disc_number": ("WM/PartOfSet",),
    "genre": ("WM/Genre",),
    "year": ("WM/Year",),
    "compilation": ("WM/IsCompilation",),
}

_FAMILIES = ((ID3, "id3"), (VComment, "vorbis"), (MP4Tags, "mp4"), (APEv2, "ape"), (ASFTags, "asf"))

def _kinds_by_extension() -> dict[str, Any]:
    from mutagen.aiff import AIFF
    from mutagen.asf import ASF
    from mutagen.flac import FLAC
    from mutagen.monkeysaudio import MonkeysAudio
    from mutagen.mp3 import MP3
    from mutagen.mp4 import MP4
    from mutagen.musepack import Musepack
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis
    from mutagen.wave import WAVE
    from mutagen.wavpack import WavPack

    kinds = {".mp3": MP3, ".flac": FLAC, ".ogg": OggVorbis, ".oga": OggVorbis,
             ".opus": OggOpus, ".m4a": MP4, ".m4b": MP4, ".mp4": MP4, ".alac": MP4,
             ".wav": WAVE, ".aif": AIFF, ".aiff": AIFF, ".aifc": AIFF, ".wv": WavPack,
             ".ape": MonkeysAudio, ".mpc": Musepack, ".wma": ASF, ".asf": ASF}
    return kinds


_KIND_BY_EXT = _kinds_by_extension()
#: The extensions for which mutagen.File tries the format on the name alone (its score is
#: positive without looking at the file): opening those directly accepts exactly the same
#: files, without File's header read and scoring. The others (MP4, Ogg, ASF, WavPack) need the
#: header's evidence, which File checks.
_OPENED_BY_NAME = frozenset(
    ext for ext, kind in _KIND_BY_EXT.items() if kind.score("x" + ext, None, b"") > 0)

_YEAR_RE = re.compile(r"(?<!\d)(\d{4})(?!\d)")
_NUMBER_RE = re.compile(r"\s*(\d+)")


def read_tags(path: str | os.PathLike[str]) -> TrackTags:
    """Read and normalise the tags of one audio file.

    Raises :class:`TagReadError` for anything that is not a readable audio file: zero-byte,
    truncated beyond repair, not audio at all, unreadable, or a bug in a parser (mutagen meets
    hostile files; an exception from deep inside it must never stop a scan).
    """
    fspath = to_fs(os.fspath(path))  # a stored path: see player.library.paths
    try:
        # One open file for mutagen and the APEv2 look-up alike: a scan's time is partly
        # system calls.
        fileobj = open(fspath, "rb")
    except OSError as exc:
        raise TagReadError(_os_reason(exc)) from None
    with fileobj:
        try:
            audio = _open_audio(fileobj, fspath)
        except mutagen.MutagenError as exc:
            _fail_if_empty(fileobj)
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, OSError):
                raise TagReadError(_os_reason(cause)) from None
            raise TagReadError(f"corrupt or truncated audio file: {_short(exc, fspath)}") from None
        except OSError as exc:
            raise TagReadError(_os_reason(exc)) from None
        except Exception as exc:  # a parser bug on a hostile file: report it, carry on
            _fail_if_empty(fileobj)
            log.debug("mutagen failed on %r", fspath, exc_info=True)
            reason = f"{type(exc).__name__}: {_short(exc, fspath)}"
            raise TagReadError(f"unreadable audio data ({reason})") from None
        if audio is None:
            _fail_if_empty(fileobj)
            raise TagReadError("not a recognised audio format")
        try:
            return _normalise(audio, fspath, fileobj)
        except Exception as exc:  # odd tag values: never let one file stop a scan
            log.debug("tag normalisation failed on %r", fspath, exc_info=True)
            raise TagReadError(
                f"unreadable tags ({type(exc).__name__}: {_short(exc)})") from None


def _fail_if_empty(fileobj: Any) -> None:
    """A clearer reason than the parser's for a zero-byte file (checked only on failure:
    a ``stat`` for every file would cost a scan time)."""
    try:
        empty = os.fstat(fileobj.fileno()).st_size == 0
    except OSError:
        return
    if empty:
        raise TagReadError("empty file (0 bytes)")


def _open_audio(fileobj: Any, path: str) -> Any:
    """The extension's format opened directly, else ``mutagen.File``.

    ``mutagen.File`` scores the file against every format it knows; for a library that is
    mostly correctly named, opening it as its extension says is a sizeable part of the scan's
    time saved. A misnamed file (a FLAC called .mp3) fails that way and still opens, by the
    full search.
    """
    ext = os.path.splitext(path)[1].lower()
    guess = _KIND_BY_EXT.get(ext)
    if guess is not None:
        try:
            if ext in _OPENED_BY_NAME:
                return guess(fileobj)
            audio = mutagen.File(fileobj, options=[guess])
            if audio is not None:
                return audio
        except mutagen.MutagenError:
            pass
        fileobj.seek(0)  # File reads its header from where the failed attempt left off
    return mutagen.File(fileobj)


def _normalise(audio: Any, path: str, fileobj: Any) -> TrackTags:
    family = _family_of(audio.tags)
    tags = _lookup_view(audio.tags, family)
    mapping = {"id3": _ID3, "vorbis": _VORBIS, "mp4": _MP4, "ape": _APE, "asf": _ASF}.get(
        family or "", {}
    )
    raw = {f: _first_present(tags, keys) for f, keys in mapping.items()}

    info = getattr(audio, "info", None)
    length = getattr(info, "length", None)
    known = isinstance(length, (int, float)) and length > 0
    duration_ms = int(round(length * 1000)) if known else None

    stem = display(os.path.splitext(os.path.basename(path))[0])
    gain = _replaygain(audio, family, tags, fileobj)
    return TrackTags(
        title=_text(raw.get("title")) or stem,
        artist=_text(raw.get("artist")),
        album=_text(raw.get("album")),
        albumartist=_text(raw.get("albumartist")),
        track_number=_number(raw.get("track_number")),
        disc_number=_number(raw.get("disc_number")),
        genre=_genre(raw.get("genre")),
        year=_year(raw.get("year")),
        duration_ms=duration_ms,
        format=_format_name(audio),
        has_cover=_has_cover(audio, family, tags),
        compilation=_flag(raw.get("compilation")),
        rg_track_gain=gain.track_gain,
        rg_track_peak=gain.track_peak,
        rg_album_gain=gain.album_gain,
        rg_album_peak=gain.album_peak,
    )


def _family_of(tags: Any) -> str | None:
    """Which tag family a mutagen tag container belongs to (None: no tags)."""
    if tags is None:
        return None
    for cls, family in _FAMILIES:
        if isinstance(tags, cls):
            return family
    return None


def _lookup_view(tags: Any, family: str | None) -> Any:
    """The file's tags in a form where every lookup is one dict access, made in one pass.

    ID3 becomes ``{frame id: [frames]}`` (mutagen's ``getall`` scans every frame for each
    frame id it does not hold: ``TXXX``, ``RVA2``, an absent ``TPE2``…); Vorbis comments become
    ``{lower-case key: [values]}`` (``VComment`` searches its list, folding case, for each key).
    The other families are dicts already.
    """
    if family == "id3":
        frames: dict[str, list[Any]] = {}
        for frame in tags.values():
            frames.setdefault(frame.FrameID, []).append(frame)
        return frames
    if family == "vorbis":  # (not VComment.as_dict: that searches the list once per key)
        comments: dict[str, list[Any]] = {}
        for key, value in tags:
            comments.setdefault(key.lower(), []).append(value)
        return comments
    return tags


def _first_present(tags: Any, keys: Iterable[str]) -> Any:
    """The first non-empty value among ``keys`` (an ID3 view gives that id's first frame)."""
    get = getattr(tags, "get", None)
    if get is None:
        return None
    for key in keys:
        try:
            value = get(key)
        except Exception:  # noqa: BLE001 - some tag containers reject odd keys
            continue
        if isinstance(value, list) and value and hasattr(value[0], "FrameID"):
            value = value[0]
        if not _empty(value):
            return value
    return None


def _empty(value: Any) -> bool:
    """No value, an empty list or string, or a text frame of empty texts. (Not
    ``value in (None, [], "")``: that runs a frame's ``__eq__`` three times per lookup.)"""
    if value is None:
        return True
    if isinstance(value, (str, list, tuple)):
        return len(value) == 0
    text = getattr(value, "text", None)
    return isinstance(text, list) and not any(str(t) for t in text)


def _values(value: Any) -> list[str]:
    """Every text a tag value holds, whatever the family's representation."""
    if value is None:
        return []
    if isinstance(value, TCON):  # resolves ID3's numeric genres: "(17)" -> "Rock"
        return [str(v) for v in value.genres]
    if hasattr(value, "text"):  # ID3 text frames
        return [str(v) for v in value.text]
    if isinstance(value, (bytes, bytearray)):
        return [bytes(value).decode("utf-8", "replace")]
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for v in value:
            out.extend(_values(v))
        return out
    if hasattr(value, "value") and not isinstance(value, (str, int)):  # ASF attributes
        return _values(value.value)
    return [str(value)]


def _text(value: Any) -> str | None:
    parts: list[str] = []
    for v in _values(value):
        for part in v.split("\x00"):  # APEv2 and ID3v2.4 separate several values with NUL
            part = " ".join(part.split())
            if part and part not in parts:
                parts.append(part)
    return JOIN.join(parts) or None


def _number(value: Any) -> int | None:
    if isinstance(value, list) and value and isinstance(value[0], tuple):  # MP4 trkn: [(3, 12)]
        value = value[0][0]
    if isinstance(value, tuple):
        value = value[0]
    if isinstance(value, int):
        return value if 0 < value < 100000 else None
    for text in _values(value):
        match = _NUMBER_RE.match(text)
        if match:
            n = int(match.group(1))
            if 0 < n < 100000:
                return n
    return None


def _year(value: Any) -> int | None:
    for text in _values(value):
        match = _YEAR_RE.search(text)
        if match:
            year = int(match.group(1))
            if 1000 <= year <= 2999:
                return year
    return None


#: What a compilation flag says when set ("1" from iTunes and most taggers).
_TRUE_WORDS = frozenset({"1", "true", "yes"})


def _flag(value: Any) -> bool:
    """A yes/no tag: MP4's ``cpil`` is a bool, ASF's a bool attribute, the others text."""
    if isinstance(value, bool):
        return value
    texts = _values(value)
    return bool(texts) and texts[0].strip().lower() in _TRUE_WORDS


def _genre(value: Any) -> str | None:
    if isinstance(value, list) and value and isinstance(value[0], int):  # MP4 gnre: ID3v1 index
        try:
            from mutagen._constants import GENRES

            return GENRES[value[0] - 1]
        except (ImportError, IndexError):
            return None
    return _text(value)


#: mutagen's class name -> the format Segue stores.
_FORMAT_NAMES = {
    "MP3": "mp3",
    "EasyMP3": "mp3",
    "FLAC": "flac",
    "OggVorbis": "vorbis",
    "OggOpus": "opus",
    "OggFLAC": "flac",
    "OggSpeex": "speex",
    "OggTheora": "theora",
    "WAVE": "wav",
    "AIFF": "aiff",
    "WavPack": "wavpack",
    "MonkeysAudio": "ape",
    "APEv2File": "ape",
    "Musepack": "mpc",
    "ASF": "wma",
    "AAC": "aac",
    "AC3": "ac3",
    "DSF": "dsf",
    "DSDIFF": "dff",
    "TAK": "tak",
    "TrueAudio": "tta",
    "OptimFROG": "ofr",
    "SMF": "midi",
}


def _format_name(audio: Any) -> str:
    name = type(audio).__name__
    if name == "MP4":
        codec = str(getattr(audio.info, "codec", "") or "")
        return "alac" if codec.startswith("alac") else "aac"
    return _FORMAT_NAMES.get(name, name.lower())


# --------------------------------------------------------------------------------------------
# ReplayGain
# --------------------------------------------------------------------------------------------

#: Opus's R128_*_GAIN aim at EBU R128's -23 LUFS; ReplayGain 2 at -18 LUFS: 5 dB louder.
R128_TO_REPLAYGAIN_DB = 5.0
#: A gain beyond this either way is no real track's (garbage, "inf", a tagger's bug).
MAX_GAIN_DB = 60.0
#: A peak must be in (0, MAX_PEAK]: above 1.0 is real (lossy decoding, float masters), 10 is not.
MAX_PEAK = 10.0

_GAIN_RE = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?:db)?\s*$", re.IGNORECASE)
_MP4_FREEFORM = "----:com.apple.itunes:"


class ReplayGainTags(NamedTuple):
    """A file's ReplayGain: gains in dB relative to ReplayGain 2's -18 LUFS, peaks linear."""

    track_gain: float | None = None
    track_peak: float | None = None
    album_gain: float | None = None
    album_peak: float | None = None


def _replaygain(audio: Any, family: str | None, tags: Any, fileobj: Any) -> ReplayGainTags:
    """The file's ReplayGain, from whichever tags carry it.

    * ``REPLAYGAIN_{TRACK,ALBUM}_{GAIN,PEAK}`` in any family, keys compared case-insensitively:
      ID3 ``TXXX`` frames, Vorbis comments (FLAC, Ogg), APEv2 (WavPack, APE, Musepack, and MP3
      files tagged by mp3gain), MP4 ``----:com.apple.iTunes:replaygain_*`` atoms, ASF.
    * ID3 ``RVA2`` frames ("track"/"album", master channel) where no ``TXXX`` value is found.
    * Opus: ``R128_TRACK_GAIN``/``R128_ALBUM_GAIN`` (Q7.8 dB towards -23 LUFS, on top of the
      header's output gain, which the decoder applies) win over ``REPLAYGAIN_*``; converted to
      the -18 LUFS reference. Opus has no peak tags: the analysis pass measures the peak.
    * Not used: iTunes' ``iTunNORM`` (Sound Check: an undocumented algorithm and reference, not
      comparable with ReplayGain) and the LAME header's gain (ReplayGain 1, written by the
      encoder, not chosen by the user); such tracks are measured by the analysis pass.
    """
    texts = _gain_texts(tags, family)
    if not texts and _format_name(audio) == "mp3":
        texts = _gain_texts(_apev2_of(fileobj), "ape")  # mp3gain writes APEv2 to MP3 files
    rg = ReplayGainTags(
        track_gain=_gain_db(texts.get("replaygain_track_gain")),
        track_peak=_peak(texts.get("replaygain_track_peak")),
        album_gain=_gain_db(texts.get("replaygain_album_gain")),
        album_peak=_peak(texts.get("replaygain_album_peak")),
    )
    if type(audio).__name__ == "OggOpus":
        track = _r128_db(texts.get("r128_track_gain"))
        album = _r128_db(texts.get("r128_album_gain"))
        rg = rg._replace(
            track_gain=track if track is not None else rg.track_gain,
            album_gain=album if album is not None else rg.album_gain,
        )
    if family == "id3" and (rg.track_gain is None or rg.album_gain is None):
        rg = _with_rva2(rg, tags)
    return rg


def _gain_texts(tags: Any, family: str | None) -> dict[str, str]:
    """``replaygain_*`` and ``r128_*`` keys (lower case) -> their first text value. ``tags``:
    the file's :func:`_lookup_view` (or an APEv2 tag)."""
    if tags is None:
        return {}
    if family == "id3":
        items: Iterable[tuple[Any, Any]] = ((f.desc, f.text) for f in tags.get("TXXX", ()))
    elif family == "mp4":
        items = ((k[len(_MP4_FREEFORM):], v) for k, v in tags.items()
                 if k.lower().startswith(_MP4_FREEFORM))
    elif family in ("vorbis", "ape", "asf"):
        items = tags.items()
    else:
        return {}
    out: dict[str, str] = {}
    for key, value in items:
        key = str(key).lower()
        if key.startswith(("replaygain_", "r128_")) and key not in out:
            texts = _values(value)
            if texts:
                out[key] = texts[0]
    return out


def _apev2_of(fileobj: Any) -> Any:
    """The APEv2 tag at the end of a file, or None (reads only the file's last bytes)."""
    try:
        return APEv2(fileobj)
    except Exception:  # noqa: BLE001 - no tag (the usual case), or a broken one: no gain
        return None


def _finite(value: float, limit: float) -> bool:
    return math.isfinite(value) and -limit <= value <= limit


def _gain_db(text: str | None) -> float | None:
    """"-6.50 dB", "+1.2", "-3,5 dB" -> dB; anything else (garbage, "+inf dB") -> None."""
    if text is None:
        return None
    text = text.strip()
    if "," in text and "." not in text:  # a decimal comma, as some localised taggers write
        text = text.replace(",", ".")
    match = _GAIN_RE.match(text)
    if not match:
        return None
    value = float(match.group(1))
    return value if _finite(value, MAX_GAIN_DB) else None


def _peak(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if _finite(value, MAX_PEAK) and value > 0 else None


def _r128_db(text: str | None) -> float | None:
    """An Opus R128 gain (a Q7.8 integer towards -23 LUFS) in ReplayGain 2 dB."""
    if text is None:
        return None
    try:
        q78 = int(text.strip())
    except ValueError:
        return None
    if not -32768 <= q78 <= 32767:
        return None
    return q78 / 256.0 + R128_TO_REPLAYGAIN_DB


def _with_rva2(rg: ReplayGainTags, tags: Any) -> ReplayGainTags:
    """Fill what ``TXXX`` lacked from ID3 ``RVA2`` frames (as Quod Libet writes them);
    ``tags``: the file's :func:`_lookup_view`."""
    for frame in tags.get("RVA2", ()):
        if getattr(frame, "channel", None) != 1:  # 1 = master volume
            continue
        kind = str(getattr(frame, "desc", "")).lower()
        gain, peak = float(frame.gain), float(frame.peak)
        gain_ok = _finite(gain, MAX_GAIN_DB)
        peak_value = peak if _finite(peak, MAX_PEAK) and peak > 0 else None
        if kind == "track" and rg.track_gain is None and gain_ok:
            rg = rg._replace(track_gain=gain, track_peak=rg.track_peak or peak_value)
        elif kind == "album" and rg.album_gain is None and gain_ok:
            rg = rg._replace(album_gain=gain, album_peak=rg.album_peak or peak_value)
    return rg


def _has_cover(audio: Any, family: str | None, tags: Any) -> bool:
    """Whether the file embeds a picture; ``tags``: its :func:`_lookup_view`."""
    if getattr(audio, "pictures", None):  # FLAC picture blocks
        return True
    if tags is None:
        return False
    if family == "id3":
        return bool(tags.get("APIC") or tags.get("PIC"))
    if family == "mp4":
        return bool(tags.get("covr"))
    if family == "vorbis":
        return bool(tags.get("metadata_block_picture") or tags.get("coverart"))
    if family == "ape":
        return any(str(k).lower().startswith("cover art") for k in tags.keys())
    if family == "asf":
        return bool(tags.get("WM/Picture"))
    return False


def _os_reason(exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    return f"cannot read the file: {reason.lower()}"


def _short(exc: BaseException, path: str = "", limit: int = 160) -> str:
    """The exception's message on one line, without the file's path (shown beside it anyway)."""
    text = str(exc)
    if path:
        text = text.replace(repr(path), "").replace(path, "").strip(" :")
    text = " ".join(text.split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_many(paths: list[str]) -> list[tuple[str, dict[str, Any] | None, str | None]]:
    """Read a batch of files: ``(path, row or None, error reason or None)`` for each.

    The unit of work of the scanner's worker processes; plain tuples and dicts pickle fast.
    """
    out: list[tuple[str, dict[str, Any] | None, str | None]] = []
    for path in paths:
        try:
            out.append((path, read_tags(path).as_row(), None))
        except TagReadError as exc:
            out.append((path, None, str(exc)))
        except Exception as exc:  # noqa: BLE001  # pragma: no cover - read_tags wraps all
            out.append((path, None, f"unexpected error: {type(exc).__name__}: {_short(exc)}"))
    return out


def read_cover(path: str | os.PathLike[str]) -> bytes | None:
    """The embedded cover picture's bytes (the front cover when marked), or None.

    Never raises: a file whose picture cannot be read simply has none.
    """
    try:
        fspath = to_fs(os.fspath(path))  # a stored path: see player.library.paths
        with open(fspath, "rb") as fileobj:
            audio = _open_audio(fileobj, fspath)
            return _cover_bytes(audio) if audio is not None else None
    except Exception:  # hostile or vanished file: no cover, not an error
        log.debug("no cover from %r", path, exc_info=True)
        return None


def _cover_bytes(audio: Any) -> bytes | None:
    from mutagen.flac import Picture

    pictures: list[tuple[int, bytes]] = []  # (picture type, data); type 3 = front cover
    for pic in getattr(audio, "pictures", None) or []:  # FLAC blocks
        pictures.append((pic.type, pic.data))
    tags = audio.tags
    family = _family_of(tags)
    if family == "id3":
        pictures += [(f.type, f.data) for f in tags.getall("APIC")]
        pictures += [(f.type, f.data) for f in tags.getall("PIC")]
    elif family == "mp4":
        pictures += [(3, bytes(c)) for c in tags.get("covr", [])]
    elif family == "vorbis":
        import base64

        for block in tags.get("metadata_block_picture", []):
            try:
                pic = Picture(base64.b64decode(block))
            except Exception:  # noqa: BLE001 - a damaged picture block is no picture
                continue
            pictures.append((pic.type, pic.data))
    elif family == "ape":
        for key in tags.keys():
            if str(key).lower().startswith("cover art"):
                raw = bytes(tags[key].value)
                pictures.append((3 if "front" in str(key).lower() else 0,
                                 raw.split(b"\x00", 1)[-1]))  # "name\0data"
    if not pictures:
        return None
    pictures.sort(key=lambda p: p[0] != 3)  # front cover first
    return pictures[0][1] or None
