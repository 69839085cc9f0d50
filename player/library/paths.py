"""File names that are not valid UTF-8, through a library that stores text.

A Linux file name is bytes. Python hands the bytes that are not UTF-8 over as lone surrogates
(U+DC80..U+DCFF, "surrogateescape"), which SQLite's text cannot hold. So the library stores
each such byte as one code point of Unicode's last private-use block, U+10FF80..U+10FFFF
(never produced by decoding a valid name, and text SQLite keeps as it is); everything that
opens a file turns the stored text back into the file system's name with :func:`to_fs`. A
valid UTF-8 name is stored unchanged. A name that itself contains those private-use
characters would read back as other bytes, so :func:`storable` refuses it (the scanner
reports it instead of guessing).
"""

from __future__ import annotations

import os

_ESCAPED = 0xDC00  # surrogateescape: byte b (0x80..0xFF) -> U+DC00 + b
_STORED = 0x10FF00  # stored as U+10FF00 + b
_TO_DB = {_ESCAPED + b: _STORED + b for b in range(0x80, 0x100)}
_TO_FS = {_STORED + b: _ESCAPED + b for b in range(0x80, 0x100)}
_FIRST_STORED = chr(_STORED + 0x80)


def to_db(path: str | os.PathLike[str]) -> str:
    """The text the library stores for the file system name ``path``."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that are not UTF-8
        return text.translate(_TO_DB)
    return text


def to_fs(text: str) -> str:
    """The file system name (``str``, surrogate-escaped) of a path the library stored."""
    if text and max(text) >= _FIRST_STORED:
        return text.translate(_TO_FS)
    return text


def storable(path: str) -> bool:
    """False for the (rare) name that already holds the code points :func:`to_db` uses."""
    return not path or max(path) < _FIRST_STORED


def display(text: str) -> str:
    """A stored path for people: bytes that are not UTF-8 shown as U+FFFD."""
    return os.fsencode(to_fs(text)).decode("utf-8", "replace")
