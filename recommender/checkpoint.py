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

The writer holds an exclusive ``flock`` on its temporary file while it writes, so that
:func:`remove_stale_temp_files` can tell the litter of a killed save (no lock: removed at the
next start) from a save in progress in another process (locked: left alone). A full disk is
reported as the ``OSError`` it is (torch would turn it into a bare ``RuntimeError``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import torch

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: stale files then go by their age
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

FORMAT = "segue-recommender"
FORMAT_VERSION = 1
REQUIRED = {"format": str, "format_version": int, "config": dict, "vocab": list,
            "artists": list, "state_dict": dict, "metrics": dict, "metadata": dict,
            "history": list}


TEMP_SUFFIX = ".tmp"
#: Without ``flock`` (not on Windows), a temp file is taken for litter when it is this old.
STALE_AFTER_S = 600.0


class CheckpointError(Exception):
    """The file is missing, truncated, corrupt, foreign or of an unsupported version."""


class _Sink:
    """A file for ``torch.save`` that remembers the ``OSError`` torch's writer swallows."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temp file, fsync, os.replace, fsync dir)."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = _locked_temp_file(target, folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            sink = _Sink(fh)
            try:
                torch.save(payload, sink)
            except RuntimeError as exc:
                if sink.error is not None:  # a full disk, not a torch problem
                    raise sink.error from exc
                raise
            fh.flush()
            os.fsync(fh.fileno())
            os.replace(tmp, target)  # before the close drops the lock
    except BaseException:
        # Whatever went wrong, the old checkpoint is untouched; do not leave litter.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)
    log.info("checkpoint saved to %s", target)


def _locked_temp_file(target: Path, folder: Path) -> tuple[int, str]:
    """A new temporary file next to ``target``, holding its lock ("being written").

    Between creating and locking it, another process's :func:`remove_stale_temp_files` may
    take it for litter and delete it; then this one is no longer at its name, and a new one
    is made.
    """
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=folder)
        if fcntl is None:
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            ours, named = os.fstat(fd), os.stat(tmp)
            if (ours.st_dev, ours.st_ino) == (named.st_dev, named.st_ino):
                return fd, tmp
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def remove_stale_temp_files(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that killed saves of ``path`` left; return them.

    A temp file whose lock can be taken has no writer any more. One being written by a live
    process (this one or another) is locked, and stays.
    """
    target = Path(path)
    removed = []
    for tmp in target.parent.glob(f".{target.name}.*{TEMP_SUFFIX}"):
        try:
            fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            if _stale(fd):
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            continue
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d temporary file(s) of interrupted model saves", len(removed))
    return removed


def _stale(fd: int) -> bool:
    if fcntl is None:
        return time.time() - os.fstat(fd).st_mtime > STALE_AFTER_S
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # a save in progress
    return True  # its writer is gone (see _locked_temp_file for one just created)


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
