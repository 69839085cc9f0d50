"""One Segue window per data dir: a second launch brings the first to the front and leaves.

Who is first is decided by an exclusive ``flock`` on ``<data-dir>/segue.lock`` — the kernel
releases it when the process dies, however it dies, so a crash never leaves Segue unable to
start. The first instance also listens on a local socket; a second one sends it ``raise``, or
``open`` with the files it was given (one line of JSON), and leaves.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from player.settings import DataDirError, make_private_dir

log = logging.getLogger(__name__)

LOCK_FILE = "segue.lock"
#: The longest message another launch may send (a few thousand paths).
MAX_MESSAGE = 4 * 1024 * 1024


def server_name(data_dir: Path) -> str:
    """A socket name private to this user and data dir."""
    key = f"{getpass.getuser()}:{data_dir.resolve()}".encode()
    return "segue-" + hashlib.sha1(key).hexdigest()[:16]


class SingleInstance(QObject):
    """Holds the data dir's lock; emits ``activated`` when another launch asks for us, and
    ``openRequested(paths)`` when it gives files to play (``segue FILE...``, Open with)."""

    activated = Signal()
    openRequested = Signal(list)

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.name = server_name(data_dir)
        self._lock_fd: int | None = None
        self._server: QLocalServer | None = None

    def claim(self) -> bool:
        """True if this is the first instance (it now owns the lock and the socket).
        Raises :class:`DataDirError` (one line, for a person) if the data dir is unusable."""
        try:
            make_private_dir(self.data_dir)
            fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            if isinstance(exc, FileExistsError):
                reason = "it is a file, not a folder"
            elif isinstance(exc, NotADirectoryError):
                reason = "a part of its path is a file, not a folder"
            else:
                reason = (exc.strerror or str(exc)).lower()
            raise DataDirError(f"cannot use the data folder {self.data_dir}: {reason}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        QLocalServer.removeServer(self.name)  # a socket file left by a killed instance
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self._server.listen(self.name):
            log.warning("single-instance socket unavailable: %s", self._server.errorString())
        self._server.newConnection.connect(self._on_connection)
        return True

    def ask_first_to_raise(self, timeout_s: float = 3.0) -> bool:
        """From a second instance: ask the first to come forward. True if it answered."""
        return self._send(b"raise\n", timeout_s)

    def ask_first_to_open(self, paths: list[str], timeout_s: float = 3.0) -> bool:
        """From a second instance: the first plays these files (and comes forward)."""
        return self._send(b"open " + json.dumps(paths).encode() + b"\n", timeout_s)

    def _send(self, message: bytes, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:  # the first may still be starting its server
            sock = QLocalSocket()
            sock.connectToServer(self.name)
            if sock.waitForConnected(300):
                sock.write(message)
                while sock.bytesToWrite() and sock.waitForBytesWritten(1000):
                    pass
                sock.disconnectFromServer()
                return True
            time.sleep(0.1)
        return False

    def _on_connection(self) -> None:
        while self._server is not None and self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            buffer = bytearray()  # a message may come in several reads: one line each
            sock.readyRead.connect(lambda s=sock, b=buffer: self._read(s, b))
            sock.disconnected.connect(sock.deleteLater)
            if sock.bytesAvailable():  # arrived before readyRead was connected
                self._read(sock, buffer)

    def _read(self, sock: QLocalSocket, buffer: bytearray) -> None:
        buffer += bytes(sock.readAll())
        if len(buffer) > MAX_MESSAGE:
            log.warning("single-instance message too long; ignored")
            buffer.clear()
            sock.abort()
            return
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            self._handle(line.strip())

    def _handle(self, line: bytes) -> None:
        if line == b"raise":
            log.info("another launch asked this window to come to the front")
            self.activated.emit()
        elif line.startswith(b"open "):
            try:
                paths = json.loads(line[5:])
            except ValueError:
                paths = None
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                log.warning("single-instance: a bad open request; ignored")
                return
            log.info("another launch gave %d files or folders to play", len(paths))
            self.activated.emit()
            self.openRequested.emit(paths)

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None
