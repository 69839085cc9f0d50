"""Checkpoints: a plain dict saved atomically, loaded with ``weights_only=True`` and checked.

Layout (``FORMAT_VERSION`` 2)::

    {"format": "segue-recommender", "format_version": 2,
     "config": {...Config fields...},
     "vocab": [track id, ...],            # index i+1 of the network's track tables
     "fields": {"fields": ["artist", ...],          # what is known of tracks, as columns
                "tracks": [track id, ...],          # every track with metadata
                "values": [[value, ...], ...],      # per field: value i+1
                "columns": int32 tensor [tracks, fields]},
     "state_dict": {name: tensor},        # incl. the fitted blend (buffers)
     "metrics": {...},                    # training report: epochs, validation, blend
     "history": [[track id, session], ...]}  # the latest plays, context for a fine-tune

Version 1 (Segue before the per-track fields and the blend) is read and upgraded: its
``artists`` list becomes the artist field, its ``metadata`` dict the field columns, its
network's artist table the artist field's embedding; tracks it never learned get the cold
scorer of a version-1 model's own cold start (the mean of its tracks), and the blend starts
as the plain sum - so an upgraded model ranks as it did.

Saving writes a temporary file in the target folder, fsyncs it, renames it over the target
(``os.replace`` is atomic) and fsyncs the folder: a crash leaves the old file or the new one,
never a mix. Loading never raises anything but ``CheckpointError`` for a bad file.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

FORMAT = "segue-recommender"
FORMAT_VERSION = 2
_COMMON = {"format": str, "format_version": int, "config": dict, "vocab": list,
           "state_dict": dict, "metrics": dict, "history": list}
REQUIRED = {1: {**_COMMON, "artists": list, "metadata": dict},
            2: {**_COMMON, "fields": dict}}


class CheckpointError(Exception):
    """The file is missing, truncated, corrupt, foreign or of an unsupported version."""


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temp file, fsync, os.replace, fsync dir)."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        # Whatever went wrong, the old checkpoint is untouched; do not leave litter.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)
    log.info("checkpoint saved to %s", target)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; not possible (nor needed) on every platform."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and structurally validate a checkpoint, upgraded to the current version; any
    problem is a ``CheckpointError``."""
    p = Path(path)
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols of foreign files; the error says enough.
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(p, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{p}: no such checkpoint") from exc
    except Exception as exc:  # noqa: BLE001 - unpickling can fail in many ways
        raise CheckpointError(f"{p}: not a readable checkpoint ({type(exc).__name__}: "
                              f"{str(exc)[:200]})") from exc
    if not isinstance(payload, dict):
        raise CheckpointError(f"{p}: not a Segue checkpoint (a {type(payload).__name__})")
    if payload.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a Segue recommender checkpoint")
    version = payload.get("format_version")
    if not isinstance(version, int) or version not in REQUIRED:
        raise CheckpointError(f"{p}: format version {version!r} is not supported "
                              f"(this Segue reads 1 to {FORMAT_VERSION})")
    for key, typ in REQUIRED[version].items():
        if not isinstance(payload.get(key), typ):
            raise CheckpointError(f"{p}: field {key!r} missing or not a {typ.__name__}")
    for name, t in payload["state_dict"].items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{p}: state_dict entry {name!r} is not a tensor")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{p}: state_dict entry {name!r} holds NaN or inf")
    while payload["format_version"] < FORMAT_VERSION:
        try:
            payload = UPGRADES[payload["format_version"]](payload)
        except Exception as exc:  # noqa: BLE001 - any inconsistency is a bad checkpoint
            raise CheckpointError(f"{p}: cannot upgrade a version {payload['format_version']}"
                                  f" checkpoint ({type(exc).__name__}: {str(exc)[:200]})"
                                  ) from exc
    return payload


def _upgrade_1(old: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2 (see the module doc)."""
    from .vocab import FIELDS, TrackFields

    fields = TrackFields()
    artist_col = FIELDS.index("artist")
    for a in old["artists"]:  # the network's artist table, in its order
        if not isinstance(a, str):
            raise ValueError("artist names must be text")
        fields.values[artist_col].add(a)
    fields.update(old["metadata"])
    state = dict(old["state_dict"])
    item_artist = state.pop("item_artist")
    n = len(item_artist)
    cols = torch.zeros(n, len(FIELDS), dtype=torch.long)
    cols[:, artist_col] = item_artist
    state["item_fields"] = cols
    if "artist.weight" in state:
        state["field.artist.weight"] = state.pop("artist.weight")
    heard = torch.ones(n, dtype=torch.bool)
    heard[0] = False
    state["heard"] = heard
    item = state["item.weight"]
    # A version-1 model started an unknown track at the mean of its tracks: that is its
    # cold scorer now.
    state["cold"] = item[1:].mean(dim=0) if n > 1 else torch.zeros(item.shape[1])
    state["cold_bias"] = state["bias"][1:].mean().reshape(1) if n > 1 else torch.zeros(1)
    from .model import BLEND_DEFAULT

    k = len(BLEND_DEFAULT)
    state["blend"] = torch.tensor(BLEND_DEFAULT)
    state["blend_cold"] = torch.zeros(k)
    state["blend_cold_bias"] = torch.zeros(1)
    config = dict(old["config"])
    # Version 1 embedded the artist only.
    config["track_fields"] = "artist" if config.get("artist_embedding", True) else ""
    config.setdefault("blend", False)
    return {"format": FORMAT, "format_version": 2, "config": config, "vocab": old["vocab"],
            "fields": fields_payload(fields), "state_dict": state, "metrics": old["metrics"],
            "history": old["history"]}


def fields_payload(fields: Any) -> dict[str, Any]:
    """A ``vocab.TrackFields`` as checkpoint data (its columns as an int32 tensor)."""
    data = fields.to_payload()
    data["columns"] = torch.from_numpy(data["columns"])
    return data


#: version -> function upgrading a payload of that version by one.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _upgrade_1}
