"""What runs inside a helper process (the scanner's tag readers, the loudness analysis): the
wire format both sides speak, and the serving loop.

Apart from :mod:`player.library.tagworkers` (the parent's side: starting, feeding and stopping
workers) because a worker imports this module before it can take any work, and a small scan is
over in about the time a worker takes to start: what it imports here is kept to ``pickle`` and
``struct`` (no ``subprocess``, ``threading``, ``logging`` or ``pathlib``).

Messages are length-prefixed pickles both ways. Pickle is safe here: both ends are Segue's own
processes, connected by pipes nobody else holds.
"""

from __future__ import annotations

import pickle
import struct
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (typing's names only: importing them would cost a worker's start-up)
    from collections.abc import Callable
    from typing import Any, BinaryIO

_HEADER = struct.Struct("<Q")
#: A worker's first message: its imports are done, it takes requests from now on.
READY = "ready"


def send(stream: BinaryIO, obj: Any) -> None:
    """Write one message."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def receive(stream: BinaryIO) -> Any:
    """Read one message; ``EOFError`` when the other side has closed its end."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("worker stream closed")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("worker stream truncated")
    return pickle.loads(data)


def serve(stdin: BinaryIO, stdout: BinaryIO, handle: Callable[[Any], Any]) -> None:
    """A worker's loop: a request in, ``handle(request)`` out, until stdin closes."""
    while True:
        try:
            request = receive(stdin)
        except EOFError:
            return
        send(stdout, handle(request))


def main() -> None:
    """A tag reader's entry point (started by :class:`player.library.tagworkers.WorkerPool`):
    :data:`READY` once its imports are done, then batches of paths in, results out."""
    from player.library.tags import read_many

    send(sys.stdout.buffer, READY)
    serve(sys.stdin.buffer, sys.stdout.buffer, read_many)
