"""Where Segue keeps its data, and the user's settings.

The data dir holds ``library.db`` (the library and the listening log), the model checkpoint and
``settings.json``.  It comes from, in order: ``--data-dir DIR`` on the command line, the
environment variable ``SEGUE_DATA_DIR``, then the platform's per-user data folder
(``~/.local/share/segue`` on Linux).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from player.playback.gain import ReplayGainMode

log = logging.getLogger(__name__)

ENV_DATA_DIR = "SEGUE_DATA_DIR"
SETTINGS_FILE = "settings.json"


def resolve_data_dir(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """Return the data dir chosen by the CLI flag, the environment, or platformdirs."""
    if cli_value:
        return Path(cli_value).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs  # local: only needed when nothing overrides the location

    return Path(platformdirs.user_data_dir("segue", appauthor=False))


@dataclass
class Settings:
    """Every user setting, declared once with its default.

    Stored as JSON; unknown keys in the file are ignored and missing keys take the default, so
    that an older or newer settings file never stops the app from starting.
    """

    #: Pick the next track automatically when the queue runs out.
    autoqueue: bool = True
    #: A track is not auto-queued again within this many plays...
    repeat_window_plays: int = 50
    #: ...or within this many hours.
    repeat_window_hours: float = 3.0
    #: 0 = always the model's top pick ("familiar"), 1 = sample widely ("discover").
    exploration: float = 0.2
    #: Fine-tune the model in the background after this many new completed listens.
    finetune_every: int = 50
    #: Output volume, 0..100.
    volume: int = 70
    #: Playback rate; tests raise it to shorten real playback.
    playback_rate: float = 1.0
    #: Window geometry as a base64 string from QWidget.saveGeometry.
    window_geometry: str = ""
    #: Track ids of the user's queue, restored at start.
    queue: list[int] = field(default_factory=list)
    #: The track that was playing at quit and its position.
    current_track: int | None = None
    current_position_ms: int = 0
    #: ReplayGain: "off", "track", "album" or "auto" (album gain while an album plays in
    #: order, track gain otherwise); see player.playback.gain.
    replaygain_mode: str = "auto"
    #: Added to every ReplayGain gain, dB (-15..+15).
    replaygain_preamp_db: float = 0.0
    #: Crossfade between tracks of different albums, seconds; 0 = off, else 1..12.
    crossfade_s: int = 0

    @classmethod
    def load(cls, data_dir: Path) -> "Settings":
        """Read ``settings.json``; a missing or broken file gives the defaults (and a warning)."""
        path = data_dir / SETTINGS_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("settings file %s unreadable (%s); using defaults", path, exc)
            return cls()
        if not isinstance(raw, dict):
            log.warning("settings file %s is not a JSON object; using defaults", path)
            return cls()
        known = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for key, value in raw.items():
            if key not in known:
                continue
            check = _CHECKS.get(key)
            if check is not None and not _valid(check, value):
                log.warning("settings file %s: %s = %r is not valid; using the default",
                            path, key, value)
                continue
            values[key] = value
        try:
            return cls(**values)
        except TypeError as exc:  # pragma: no cover - dataclass accepts any types
            log.warning("settings file %s invalid (%s); using defaults", path, exc)
            return cls()

    @property
    def replaygain(self) -> "ReplayGainMode":
        """:attr:`replaygain_mode` as the enum playback uses."""
        from player.playback.gain import ReplayGainMode

        return ReplayGainMode.parse(self.replaygain_mode)

    def save(self, data_dir: Path) -> None:
        """Write atomically: a crash mid-write leaves the previous file."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / SETTINGS_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, path)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _replaygain_mode(value: Any) -> bool:
    from player.playback.gain import ReplayGainMode

    try:
        ReplayGainMode.parse(value)
    except ValueError:
        return False
    return isinstance(value, str)


#: Checks of the values read from settings.json; a value that fails takes the default.
_CHECKS: dict[str, Callable[[Any], bool]] = {
    "replaygain_mode": _replaygain_mode,
    "replaygain_preamp_db": lambda v: _is_number(v) and -15.0 <= v <= 15.0,
    "crossfade_s": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 12,
}


def _valid(check: Callable[[Any], bool], value: Any) -> bool:
    try:
        return bool(check(value))
    except Exception:  # a check must never stop the app from starting
        return False
