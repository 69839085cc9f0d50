"""Checkpoints: a plain dict saved atomically, loaded with ``weights_only=True`` and checked.

Layout (``FORMAT_VERSION`` 1)::

    {"format": "segue-recommender", "format_version": 1,
     "config": {...Config fields...},
     "vocab": [track id, ...],            # index i+1 of the network's track tables
     "artists": [artist, ...],            # index i+1 of the artist table
     "state_dict": {name: tensor},
     "metrics": {...},                    # training report: epochs, validation figures
     "metadata": {track id: {"artist"|"album"|"genre": str}},
     "history": [[track id, session], ...]}  # the latest plays, context for a fine-tune

Saving writes a temporary file in the target folder, fsyncs it, renames it over the target
(``os.replace`` is atomic) and fsyncs the folder: a crash leaves the old file or the new one,
never a mix. Loading never raises anything but ``CheckpointError`` for a bad file.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

FORMAT = "segue-recommender"
FORMAT_VERSION = 1
REQUIRED = {"format": str, "format_version": int, "config": dict, "vocab": list,
            "artists": list, "state_dict": dict, "metrics": dict, "metadata": dict,
            "history": list}


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
    """Load and structurally validate a checkpoint; any problem is a ``CheckpointError``."""
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
    for key, typ in REQUIRED.items():
        if not isinstance(payload.get(key), typ):
            raise CheckpointError(f"{p}: field {key!r} missing or not a {typ.__name__}")
    version = payload["format_version"]
    if version > FORMAT_VERSION or version < 1:
        raise CheckpointError(f"{p}: format version {version} is not supported "
                              f"(this Segue reads up to {FORMAT_VERSION})")
    for name, t in payload["state_dict"].items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{p}: state_dict entry {name!r} is not a tensor")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{p}: state_dict entry {name!r} holds NaN or inf")
    return payload
