"""Where Segue keeps its data, and the user's settings.

The data dir holds ``library.db`` (the library and the listening log), the model checkpoint and
``settings.json``.  It comes from, in order: ``--data-dir DIR`` on the command line, the
environment variable ``SEGUE_DATA_DIR``, then the platform's per-user data folder
(``~/.local/share/segue`` on Linux). It is private: created ``0700``, its files ``0600`` (the
listening log is nobody else's business).

Every setting is declared once, with its default and a :class:`Check` of its type and range.
``settings.json`` is read field by field: a value of the wrong type or out of range (a
hand edit, a damaged file, an older Segue's bug) becomes the default with a warning, and the
file is written again corrected — one bad value never stops the app or the music.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from player.playback.gain import ReplayGainMode

log = logging.getLogger(__name__)

ENV_DATA_DIR = "SEGUE_DATA_DIR"
SETTINGS_FILE = "settings.json"
#: The data dir and its files: the owner's only.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class DataDirError(ValueError):
    """The data dir named cannot be used (empty, not a folder...); the message says why."""


def resolve_data_dir(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """Return the data dir chosen by the CLI flag, the environment, or platformdirs.

    An empty ``--data-dir ''`` is an error (a script's unset variable must not silently mean
    the default library); an empty ``SEGUE_DATA_DIR`` counts as unset, as XDG variables do.
    """
    if cli_value is not None:
        if not os.fspath(cli_value).strip():
            raise DataDirError("--data-dir is empty; give a folder (or leave the option out "
                               "for the default)")
        return Path(cli_value).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs  # local: only needed when nothing overrides the location

    return Path(platformdirs.user_data_dir("segue", appauthor=False))


#: What a data dir holds (``fnmatch`` patterns): a folder holding nothing else is Segue's.
DATA_DIR_CONTENTS = ("library.db", "library.db-*", "library.db.damaged-*", "settings.json",
                     "settings.json.*", "model.pt", ".model.pt.*.tmp", "segue.lock", "covers")


def make_private_dir(folder: Path) -> None:
    """Create the data dir ``0700`` (parents as usual). An existing one that others can read
    is made private only if it is plainly Segue's (it holds nothing but Segue's files; never a
    sticky folder such as /tmp): ``--data-dir ~`` must not change the home folder.
    Raises ``OSError`` when it cannot be created."""
    try:
        folder.mkdir(mode=PRIVATE_DIR_MODE, parents=True)
        return
    except FileExistsError:
        if not folder.is_dir():
            raise
    try:
        sticky = folder.stat().st_mode & stat.S_ISVTX
        ours = all(any(fnmatch.fnmatchcase(name, p) for p in DATA_DIR_CONTENTS)
                   for name in os.listdir(folder))
    except OSError:
        return
    if ours and not sticky:
        make_private(folder, PRIVATE_DIR_MODE)


def make_private(path: Path, mode: int = PRIVATE_FILE_MODE) -> None:
    """Take group and other permissions off ``path`` if it is ours (never fatal)."""
    try:
        st = path.stat()
        if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
            path.chmod(stat.S_IMODE(st.st_mode) & mode)
    except (OSError, AttributeError):  # gone, not ours to change, or no getuid (Windows)
        pass


# --------------------------------------------------------------------------------------------
# Checks: what a setting's value may be
# --------------------------------------------------------------------------------------------


class Check:
    """How one setting's value is checked. ``__call__`` returns the value (normalised) or
    raises ``ValueError`` saying what was expected."""

    def __call__(self, value: Any) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Flag(Check):
    """``true`` or ``false`` (not ``"no"``, not ``0``)."""

    def __call__(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value


@dataclass(frozen=True)
class Number(Check):
    """A number in ``[lo, hi]`` (so never NaN or infinite): a float, or with ``whole`` an
    int (``2.5`` is refused, not rounded)."""

    lo: float
    hi: float
    whole: bool = False

    def __call__(self, value: Any) -> float | int:
        kinds = (int,) if self.whole else (int, float)
        # The range test comes first: it also refuses NaN, and works for any int's size.
        if (isinstance(value, bool) or not isinstance(value, kinds)
                or not self.lo <= value <= self.hi):
            what = ("a whole number from {:d} to {:d}" if self.whole
                    else "a number from {:g} to {:g}").format(self.lo, self.hi)
            raise ValueError(f"expected {what}")
        return value if self.whole else float(value)


def Whole(lo: int, hi: int) -> Number:  # noqa: N802 - reads as a type, like the others
    """A whole number in ``[lo, hi]``."""
    return Number(lo, hi, whole=True)


@dataclass(frozen=True)
class Text(Check):
    """A string of at most ``max_len`` characters."""

    max_len: int

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str) or len(value) > self.max_len:
            raise ValueError(f"expected text of at most {self.max_len} characters")
        return value


@dataclass(frozen=True)
class OneOf(Check):
    """One of a few strings."""

    choices: tuple[str, ...]

    def __call__(self, value: Any) -> str:
        if value not in self.choices:
            raise ValueError(f"expected one of {', '.join(self.choices)}")
        return value


@dataclass(frozen=True)
class Optional(Check):
    """``null``, or what ``inner`` accepts."""

    inner: Check

    def __call__(self, value: Any) -> Any:
        return None if value is None else self.inner(value)


@dataclass(frozen=True)
class ListOf(Check):
    """A list of at most ``max_len`` items, each accepted by ``item``."""

    item: Check
    max_len: int

    def __call__(self, value: Any) -> list[Any]:
        if not isinstance(value, list) or len(value) > self.max_len:
            raise ValueError(f"expected a list of at most {self.max_len} items")
        return [self.item(v) for v in value]


@dataclass(frozen=True)
class Parsed(Check):
    """What ``parse`` makes of the value; ``parse`` raises ``ValueError`` for a bad one."""

    parse: Callable[[Any], Any]

    def __call__(self, value: Any) -> Any:
        return self.parse(value)


def _replaygain_mode(value: Any) -> str:
    """A :class:`~player.playback.gain.ReplayGainMode` value (any case), stored lower-case."""
    from player.playback.gain import ReplayGainMode  # here: player.playback imports Qt

    if not isinstance(value, str):
        raise ValueError("expected text")
    return ReplayGainMode.parse(value).value


def setting(default: Any = dataclasses.MISSING, check: Check | None = None, *,
            factory: Any = dataclasses.MISSING) -> Any:
    """Declare a setting: its default (or default ``factory``) and its :class:`Check`."""
    if check is None:
        raise TypeError("every setting needs a check")
    return field(default=default, default_factory=factory, metadata={"check": check})


TRACK_ID = Whole(1, 2**63 - 1)
_LEGACY_QUEUE = ListOf(TRACK_ID, 100_000)


@dataclass
class Settings:
    """Every user setting, declared once with its default and its check.

    Stored as JSON; keys this Segue does not know are kept as they are (a newer Segue's) and
    missing keys take the default, so that an older or newer settings file never stops the
    app from starting.
    """

    #: Pick the next track automatically when the queue runs out.
    autoqueue: bool = setting(True, Flag())
    #: A track is not auto-queued again within this many plays...
    repeat_window_plays: int = setting(50, Whole(0, 100_000))
    #: ...or within this many hours.
    repeat_window_hours: float = setting(3.0, Number(0.0, 24.0 * 365))
    #: 0 = always the model's top pick ("familiar"), 1 = sample widely ("discover").
    exploration: float = setting(0.2, Number(0.0, 1.0))
    #: Fine-tune the model in the background after this many new completed listens.
    finetune_every: int = setting(50, Whole(1, 1_000_000))
    #: Output volume, 0..100.
    volume: int = setting(70, Whole(0, 100))
    #: Playback rate; tests raise it to shorten real playback. Never 0 or negative: a
    #: stopped clock "completes" every track at once.
    playback_rate: float = setting(1.0, Number(0.1, 32.0))
    #: Window geometry as a base64 string from QWidget.saveGeometry.
    window_geometry: str = setting("", Text(10_000))
    #: The folder a file dialog opened last (add a folder, import, export): the next one
    #: starts there. Empty: the first music folder, else the home folder's Music.
    last_folder: str = setting("", Text(4096))
    #: The track that was playing at quit and its position.
    current_track: int | None = setting(None, Optional(TRACK_ID))
    current_position_ms: int = setting(0, Whole(0, 7 * 24 * 3600 * 1000))
    #: ReplayGain: "off", "track", "album" or "auto" (album gain while an album plays in
    #: order, track gain otherwise); see player.playback.gain.
    replaygain_mode: str = setting("auto", Parsed(_replaygain_mode))
    #: Added to every ReplayGain gain, dB.
    replaygain_preamp_db: float = setting(0.0, Number(-15.0, 15.0))
    #: Crossfade between tracks of different albums, seconds; 0 = off.
    crossfade_s: int = setting(0, Whole(0, 12))

    def __post_init__(self) -> None:
        # Keys of the file this Segue does not know: written back untouched.
        self._unknown: dict[str, Any] = {}

    @classmethod
    def load(cls, data_dir: Path) -> "Settings":
        """Read ``settings.json`` field by field; a bad value is replaced by its default
        (with a warning) and the file is written again, corrected. A missing file gives the
        defaults; a file that is not a JSON object is kept as ``settings.json.bad``."""
        path = data_dir / SETTINGS_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls()
        except (OSError, UnicodeDecodeError) as exc:  # unreadable: leave it, do not overwrite
            log.warning("settings file %s unreadable (%s); using defaults", path, exc)
            return cls()
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raw, problem = None, f"not JSON ({str(exc)[:80]})"
        else:
            problem = None if isinstance(raw, dict) else "not a JSON object"
        if raw is None or problem:
            log.warning("settings file %s is %s; using defaults (the file is kept as %s.bad)",
                        path, problem, SETTINGS_FILE)
            try:
                os.replace(path, path.with_name(SETTINGS_FILE + ".bad"))
            except OSError:
                pass
            settings = cls()
            settings._save_corrected(data_dir)
            return settings
        settings, bad = cls.from_dict(raw)
        for key, reason in bad:
            log.warning("settings file %s: %s; using the default %r", path, reason,
                        getattr(settings, key))
        if bad:
            settings._save_corrected(data_dir)
        return settings

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> tuple["Settings", list[tuple[str, str]]]:
        """Settings from a parsed file, and ``(key, reason)`` for every value refused."""
        values: dict[str, Any] = {}
        bad: list[tuple[str, str]] = []
        for key, value in raw.items():
            check = _CHECKS.get(key)
            if check is None:
                continue
            try:
                values[key] = check(value)
            except ValueError as exc:
                bad.append((key, f"{key} = {_preview(value)}: {exc}"))
        settings = cls(**values)
        settings._unknown = {k: v for k, v in raw.items() if k not in _CHECKS}
        return settings, bad

    def pop_legacy_queue(self) -> list[int]:
        """The play queue an older Segue kept in this file (now in the library database:
        player.library.playlists), taken out of it: the next save no longer writes it."""
        raw = self._unknown.pop("queue", None)
        try:
            return _LEGACY_QUEUE(raw) if raw is not None else []
        except ValueError as exc:
            log.warning("settings file: queue = %s: %s; ignored", _preview(raw), exc)
            return []

    @property
    def replaygain(self) -> "ReplayGainMode":
        """:attr:`replaygain_mode` as the enum playback uses."""
        from player.playback.gain import ReplayGainMode

        return ReplayGainMode.parse(self.replaygain_mode)

    def _save_corrected(self, data_dir: Path) -> None:
        try:
            self.save(data_dir)
        except OSError as exc:
            log.warning("cannot write the corrected settings: %s", exc)

    def save(self, data_dir: Path) -> None:
        """Write atomically (a crash mid-write leaves the previous file), owner-only."""
        make_private_dir(data_dir)
        path = data_dir / SETTINGS_FILE
        tmp = path.with_suffix(".json.tmp")
        data = {**self._unknown, **dataclasses.asdict(self)}
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2))
        make_private(tmp)  # a temp file left 0644 by an older Segue keeps its mode
        os.replace(tmp, path)


def _checks(cls: type) -> dict[str, Check]:
    """Each setting's check; a setting declared without one is a programming error."""
    missing = [f.name for f in dataclasses.fields(cls) if "check" not in f.metadata]
    if missing:
        raise TypeError(f"settings without a check: {', '.join(missing)}; declare each "
                        "with setting(default, Check)")
    return {f.name: f.metadata["check"] for f in dataclasses.fields(cls)}


_CHECKS = _checks(Settings)


def _preview(value: Any) -> str:
    text = json.dumps(value) if _jsonable(value) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True
