"""Keep a long-running player's memory flat (glibc's allocator, Linux only; elsewhere these
do nothing), and keep the garbage collector out of big builds (:func:`gc_paused`).

Segue trains models on worker threads for hours. glibc gives each new thread that allocates
its own heap "arena" and rarely hands freed pages back to the system, so the process's
memory creeps up with every fine-tune even though nothing leaks. Measured by
``python -m bench.handsfree --tracks 400 --busy`` (16 fine-tunes, 8 rescans): RSS +15.6%
from the 20th play to the 400th without these calls, -1.0% with both.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import sys
import threading
from collections.abc import Iterator

_M_ARENA_MAX = -8  # from glibc's malloc.h


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, looked up once; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only (musl has none)
        libc.malloc_trim  # noqa: B018
        return libc
    except (OSError, AttributeError):
        return None


def limit_arenas(arenas: int = 2) -> bool:
    """Cap glibc's heap arenas (call at start-up, before worker threads exist)."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1)


def release_free_memory() -> None:
    """Give freed heap pages back to the system (after a training job, say)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


_gc_lock = threading.Lock()
_gc_pauses = 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a query builds its answer (or the library a
    big list of rows).

    An answer for a big library is hundreds of thousands of new objects (a million ids, the
    tree's rows); their allocation set off full collections over every object of the process
    on the query thread, each holding the GIL - and so freezing the window - for 100-300 ms
    (1.5M tracks). The rows hold plain values (no cycles), freed by reference counting
    whatever the collector does; one collection, later, sees them once. Process-wide (the
    collector is), counted so that overlapping queries resume it once, at the end of the last.
    """
    global _gc_pauses
    with _gc_lock:
        if _gc_pauses == 0 and not gc.isenabled():
            paused = False  # someone else turned it off: not ours to turn on
        else:
            paused = True
            _gc_pauses += 1
            gc.disable()
    try:
        yield
    finally:
        if paused:
            with _gc_lock:
                _gc_pauses -= 1
                if _gc_pauses == 0:
                    gc.enable()
