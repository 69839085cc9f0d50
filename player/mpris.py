"""MPRIS2 on the session bus: media keys, desktop panels and ``playerctl`` drive Segue.

The service owns ``org.mpris.MediaPlayer2.segue`` (or ``….segue.instance<pid>`` when another
Segue already has it, as the MPRIS spec suggests) and serves ``/org/mpris/MediaPlayer2`` with
the ``org.mpris.MediaPlayer2`` and ``….Player`` interfaces, ``Properties``, ``Introspectable``
and ``Peer``.

Why jeepney and not QtDBus: QtDBus adaptors marshal a small Python int inside an ``a{sv}`` as
int32, and MPRIS requires ``mpris:length`` to be int64 — clients such as GNOME Shell then
ignore the length. jeepney takes an explicit signature for every value.

Threading: none. The bus socket is non-blocking and read by a :class:`QSocketNotifier` on the
GUI thread, so every call into the :class:`~player.engine.Engine` happens on the thread that
owns it. Only :meth:`MprisService.start` blocks, briefly and with a timeout, for the
handshake with the bus daemon itself (never for another client, so it cannot deadlock).

Without a session bus (no ``DBUS_SESSION_BUS_ADDRESS``, a dead daemon) :meth:`start` logs a
warning and returns False; the player works the same, just without desktop integration.

No call can knock the service off the bus: every string we send is made valid D-Bus text
first (a NUL or an undecodable byte in a reply makes the daemon drop the connection), a bad
argument gets an error reply, and should the connection be lost anyway it is opened again,
after 1 s, then less and less often (up to a minute), so the media keys come back by
themselves.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse
from xml.sax.saxutils import quoteattr

from jeepney import (
    DBusAddress,
    HeaderFields,
    Message,
    MessageFlag,
    MessageType,
    Parser,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.auth import BEGIN, Authenticator
from jeepney.bus import get_connectable_addresses
from jeepney.bus_messages import message_bus
from PySide6.QtCore import QObject, QSocketNotifier, QTimer

from player.playback.base import PlaybackState

if TYPE_CHECKING:
    from player.engine import Engine

log = logging.getLogger(__name__)

BUS_NAME = "org.mpris.MediaPlayer2.segue"
OBJECT_PATH = "/org/mpris/MediaPlayer2"
ROOT_IFACE = "org.mpris.MediaPlayer2"
PLAYER_IFACE = "org.mpris.MediaPlayer2.Player"
PROPS_IFACE = "org.freedesktop.DBus.Properties"
INTROSPECT_IFACE = "org.freedesktop.DBus.Introspectable"
PEER_IFACE = "org.freedesktop.DBus.Peer"
NO_TRACK = "/org/mpris/MediaPlayer2/TrackList/NoTrack"
TRACK_PATH_PREFIX = "/org/segue/track/"

ERR_UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
ERR_UNKNOWN_OBJECT = "org.freedesktop.DBus.Error.UnknownObject"
ERR_UNKNOWN_PROPERTY = "org.freedesktop.DBus.Error.UnknownProperty"
ERR_INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
ERR_READ_ONLY = "org.freedesktop.DBus.Error.PropertyReadOnly"
ERR_NOT_SUPPORTED = "org.freedesktop.DBus.Error.NotSupported"
ERR_FAILED = "org.freedesktop.DBus.Error.Failed"

#: RequestName flag: fail instead of waiting in line for the name.
_DO_NOT_QUEUE = 4
#: RequestName replies meaning "the name is ours".
_NAME_OURS = (1, 4)  # PRIMARY_OWNER, ALREADY_OWNER
#: The handshake talks only to the bus daemon, which answers in microseconds.
HANDSHAKE_TIMEOUT_S = 2.0
#: If the daemon stops reading, give up rather than buffer without bound.
MAX_OUTBOX_BYTES = 16 * 1024 * 1024
#: After a lost connection: the first retry, and the longest wait between two.
RECONNECT_FIRST_MS = 1_000
RECONNECT_MAX_MS = 60_000
#: Error replies quote what the caller sent; a 100 kB argument need not come back whole.
MAX_ERROR_TEXT = 500

#: Multi-valued tags are stored joined with this (see player.library.tags.JOIN).
_TAG_JOIN = "; "

#: Formats the backends play (by the library's extensions), for SupportedMimeTypes.
SUPPORTED_MIME_TYPES = [
    "audio/mpeg", "audio/flac", "audio/x-flac", "audio/ogg", "audio/vorbis", "audio/opus",
    "audio/mp4", "audio/x-m4a", "audio/aac", "audio/wav", "audio/x-wav", "audio/aiff",
    "audio/x-aiff", "audio/x-wavpack", "audio/x-ape", "audio/x-musepack", "audio/x-ms-wma",
]

#: Property name -> (D-Bus signature, access). The single source for Get/Set and Introspect.
ROOT_PROPERTIES: dict[str, tuple[str, str]] = {
    "CanQuit": ("b", "read"),
    "CanRaise": ("b", "read"),
    "HasTrackList": ("b", "read"),
    "Identity": ("s", "read"),
    "DesktopEntry": ("s", "read"),
    "SupportedUriSchemes": ("as", "read"),
    "SupportedMimeTypes": ("as", "read"),
}
PLAYER_PROPERTIES: dict[str, tuple[str, str]] = {
    "PlaybackStatus": ("s", "read"),
    "LoopStatus": ("s", "readwrite"),
    "Rate": ("d", "readwrite"),
    "Shuffle": ("b", "readwrite"),
    "Metadata": ("a{sv}", "read"),
    "Volume": ("d", "readwrite"),
    "Position": ("x", "read"),
    "MinimumRate": ("d", "read"),
    "MaximumRate": ("d", "read"),
    "CanGoNext": ("b", "read"),
    "CanGoPrevious": ("b", "read"),
    "CanPlay": ("b", "read"),
    "CanPause": ("b", "read"),
    "CanSeek": ("b", "read"),
    "CanControl": ("b", "read"),
}
_PROPERTIES = {ROOT_IFACE: ROOT_PROPERTIES, PLAYER_IFACE: PLAYER_PROPERTIES}
#: Properties that may change while running: PropertiesChanged is emitted for these.
#: (Position is excluded by the spec: clients extrapolate it and listen for Seeked.)
_WATCHED = ("PlaybackStatus", "Metadata", "Volume", "CanGoNext", "CanGoPrevious", "CanPlay",
            "CanPause", "CanSeek")

_STATUS = {
    PlaybackState.PLAYING: "Playing",
    PlaybackState.PAUSED: "Paused",
    PlaybackState.STOPPED: "Stopped",
}

#: For Introspect: interface -> [(method, [(arg, type, direction)])], and signals likewise.
_METHOD_ARGS: dict[str, list[tuple[str, list[tuple[str, str, str]]]]] = {
    INTROSPECT_IFACE: [("Introspect", [("xml_data", "s", "out")])],
    PEER_IFACE: [("Ping", []), ("GetMachineId", [("machine_uuid", "s", "out")])],
    PROPS_IFACE: [
        ("Get", [("interface_name", "s", "in"), ("property_name", "s", "in"),
                 ("value", "v", "out")]),
        ("GetAll", [("interface_name", "s", "in"), ("properties", "a{sv}", "out")]),
        ("Set", [("interface_name", "s", "in"), ("property_name", "s", "in"),
                 ("value", "v", "in")]),
    ],
    ROOT_IFACE: [("Raise", []), ("Quit", [])],
    PLAYER_IFACE: [
        ("Next", []), ("Previous", []), ("Pause", []), ("PlayPause", []), ("Stop", []),
        ("Play", []), ("Seek", [("Offset", "x", "in")]),
        ("SetPosition", [("TrackId", "o", "in"), ("Position", "x", "in")]),
        ("OpenUri", [("Uri", "s", "in")]),
    ],
}
_SIGNAL_ARGS: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {
    PROPS_IFACE: [("PropertiesChanged", [("interface_name", "s"), ("changed_properties", "a{sv}"),
                                         ("invalidated_properties", "as")])],
    PLAYER_IFACE: [("Seeked", [("Position", "x")])],
}


def _introspection_xml() -> str:
    """The introspection document, generated from the tables above so it cannot drift."""
    lines = ['<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"',
             ' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">', "<node>"]
    for iface in (INTROSPECT_IFACE, PEER_IFACE, PROPS_IFACE, ROOT_IFACE, PLAYER_IFACE):
        lines.append(f"  <interface name={quoteattr(iface)}>")
        for name, args in _METHOD_ARGS.get(iface, []):
            if not args:
                lines.append(f"    <method name={quoteattr(name)}/>")
                continue
            lines.append(f"    <method name={quoteattr(name)}>")
            lines += [f"      <arg name={quoteattr(a)} type={quoteattr(t)} direction=\"{d}\"/>"
                      for a, t, d in args]
            lines.append("    </method>")
        for name, args in _SIGNAL_ARGS.get(iface, []):
            lines.append(f"    <signal name={quoteattr(name)}>")
            lines += [f"      <arg name={quoteattr(a)} type={quoteattr(t)}/>" for a, t in args]
            lines.append("    </signal>")
        for name, (sig, access) in _PROPERTIES.get(iface, {}).items():
            attrs = f"name={quoteattr(name)} type={quoteattr(sig)} access=\"{access}\""
            if name == "Position":  # the one property that changes without a signal
                lines += [f"    <property {attrs}>",
                          '      <annotation name="org.freedesktop.DBus.Property.'
                          'EmitsChangedSignal" value="false"/>', "    </property>"]
            else:
                lines.append(f"    <property {attrs}/>")
        lines.append("  </interface>")
    lines.append("</node>")
    return "\n".join(lines) + "\n"


INTROSPECTION_XML = _introspection_xml()


def _node_xml(child: str) -> str:
    """Introspection of a parent of our object path, so tree browsers (d-spy) can descend."""
    return (f'<node>\n  <interface name="{INTROSPECT_IFACE}">\n    <method name="Introspect">\n'
            '      <arg name="xml_data" type="s" direction="out"/>\n    </method>\n'
            f"  </interface>\n  <node name={quoteattr(child)}/>\n</node>\n")


def _text(value: Any) -> str:
    """A D-Bus-safe string: file names may carry undecodable bytes (surrogates) or NULs."""
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text.replace("\x00", " ")


def _split(value: Any) -> list[str]:
    """A joined multi-valued tag as the list MPRIS wants (``as``)."""
    if not value:
        return []
    return [_text(p).strip() for p in str(value).split(_TAG_JOIN) if p.strip()]


def _file_url(path: str) -> str | None:
    try:
        return Path(path).absolute().as_uri()  # percent-encodes bytes, so it is always ASCII
    except ValueError:
        return None


def _action(fn: Callable[[], Any]) -> Callable[[Message], None]:
    """A handler for an argument-less call: run ``fn``, answer with an empty reply."""
    def handler(msg: Message) -> None:
        fn()
    return handler


class _DBusError(Exception):
    """Raised by a handler to answer the call with a D-Bus error."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text


class MprisService(QObject):
    """Publishes an :class:`~player.engine.Engine` as an MPRIS2 player on the session bus."""

    def __init__(
        self,
        engine: Engine,
        *,
        raise_window: Callable[[], None],
        quit_app: Callable[[], None],
        art_url: Callable[[dict], str | None] = lambda track: None,
        bus_address: str | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``art_url(track)`` returns a ``file://`` URL (or a path) of the track's cover, or
        None; it is called once per track. ``bus_address`` overrides the session bus address
        from ``DBUS_SESSION_BUS_ADDRESS`` (tests start a private bus)."""
        super().__init__(parent)
        self._engine = engine
        self._raise_window = raise_window
        self._quit_app = quit_app
        self._art_url = art_url
        self._bus_address = bus_address
        self._sock: socket.socket | None = None
        self._parser = Parser()
        self._serials = itertools.count(1)
        self._outbox = bytearray()
        self._read_notifier: QSocketNotifier | None = None
        self._write_notifier: QSocketNotifier | None = None
        self.bus_name: str | None = None  # the name we own, once started
        self.unique_name: str | None = None
        self._published: dict[str, tuple[str, Any]] = {}
        self._art_cache: tuple[int | None, str | None] = (None, None)
        self._last_duration = -1
        # PropertiesChanged is coalesced: one engine action (e.g. play_track) fires several
        # signals in a row, and clients want one message with the net change.
        self._changes_timer = QTimer(self)
        self._changes_timer.setSingleShot(True)
        self._changes_timer.setInterval(0)
        self._changes_timer.timeout.connect(self._emit_changes)
        # An engine that reports its own seeks (GUI seek bar, "previous" restarting the
        # track) lets us send Seeked for all of them; otherwise only for seeks made over D-Bus.
        self._engine_reports_seeks = hasattr(engine, "seeked")
        self._connections: list[tuple[Any, Callable[..., None]]] = []
        self._wanted = False  # between start() and stop(): reconnect if the bus drops us
        self._reconnect_ms = RECONNECT_FIRST_MS
        self._reconnect_timer = QTimer(self)
        self._reconnect_timer.setSingleShot(True)
        self._reconnect_timer.timeout.connect(self._reconnect)
        self._methods: dict[tuple[str, str], tuple[str, Callable[[Message], Any]]] = {
            (INTROSPECT_IFACE, "Introspect"): ("", lambda m: ("s", (INTROSPECTION_XML,))),
            (PEER_IFACE, "Ping"): ("", lambda m: None),
            (PEER_IFACE, "GetMachineId"): ("", self._machine_id),
            (PROPS_IFACE, "Get"): ("ss", self._get),
            (PROPS_IFACE, "GetAll"): ("s", self._get_all),
            (PROPS_IFACE, "Set"): ("ssv", self._set),
            (ROOT_IFACE, "Raise"): ("", _action(self._raise_window)),
            (ROOT_IFACE, "Quit"): ("", self._quit),
            (PLAYER_IFACE, "Next"): ("", _action(engine.next)),
            (PLAYER_IFACE, "Previous"): ("", _action(engine.previous)),
            (PLAYER_IFACE, "Pause"): ("", _action(engine.pause)),
            (PLAYER_IFACE, "PlayPause"): ("", _action(engine.play_pause)),
            (PLAYER_IFACE, "Stop"): ("", _action(engine.stop)),
            # With nothing loaded, Engine.play() starts hands-free playback (auto-queue).
            (PLAYER_IFACE, "Play"): ("", _action(engine.play)),
            (PLAYER_IFACE, "Seek"): ("x", self._seek),
            (PLAYER_IFACE, "SetPosition"): ("ox", self._set_position),
            (PLAYER_IFACE, "OpenUri"): ("s", self._open_uri),
        }

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._sock is not None

    def start(self) -> bool:
        """Connect, own the MPRIS name and start serving. False (logged) if there is no bus."""
        if self._sock is not None:
            return True
        address = self._bus_address or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if not address:
            log.warning("MPRIS disabled: no session bus (DBUS_SESSION_BUS_ADDRESS is unset)")
            return False
        if not self._open(address, quiet=False):
            return False
        self._wanted = True
        return True

    def _open(self, address: str, quiet: bool) -> bool:
        try:
            sock, pending = self._connect(address)
        except Exception as exc:  # noqa: BLE001 - any failure means no desktop integration
            (log.info if quiet else log.warning)(
                "MPRIS disabled: cannot use the session bus %s: %s", address, exc)
            return False
        self._sock = sock
        sock.setblocking(False)
        self._read_notifier = QSocketNotifier(sock.fileno(), QSocketNotifier.Type.Read, self)
        self._read_notifier.activated.connect(self._on_readable)
        self._write_notifier = QSocketNotifier(sock.fileno(), QSocketNotifier.Type.Write, self)
        self._write_notifier.setEnabled(False)
        self._write_notifier.activated.connect(self._on_writable)
        self._watch_engine()
        self._published = self._snapshot()
        log.info("MPRIS: serving %s as %s", self.bus_name, self.unique_name)
        if pending:  # calls that arrived during the handshake: answer them from the loop
            QTimer.singleShot(0, lambda: self._dispatch_all(pending))
        return True

    def stop(self) -> None:
        """Stop serving and leave the bus (closing the connection releases the name)."""
        self._wanted = False
        self._reconnect_timer.stop()
        if self._sock is None:
            return
        self._unwatch_engine()
        self._changes_timer.stop()
        if self._outbox:  # last replies: try once, without waiting for a slow daemon
            try:
                self._sock.send(self._outbox)
            except OSError:
                pass
        self._close()
        log.info("MPRIS: stopped")

    def _close(self) -> None:
        for notifier in (self._read_notifier, self._write_notifier):
            if notifier is not None:
                # Disabled before the fd closes (Qt warns about notifiers on closed fds);
                # deleted later because we may be inside its activated() right now.
                notifier.setEnabled(False)
                notifier.deleteLater()
        self._read_notifier = self._write_notifier = None
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._outbox.clear()
        self._parser = Parser()

    def _connect(self, address: str) -> tuple[socket.socket, list[Message]]:
        """Authenticate, say Hello and take the name — the only blocking part, bounded."""
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        last_error: Exception | None = None
        for target in get_connectable_addresses(address):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(max(deadline - time.monotonic(), 0.01))
                sock.connect(target)
                pending = self._handshake(sock, deadline)
                return sock, pending
            except Exception as exc:  # noqa: BLE001 - try the next address; the last error is kept
                sock.close()
                last_error = exc
        raise last_error or ConnectionError("no usable address")

    def _handshake(self, sock: socket.socket, deadline: float) -> list[Message]:
        def timed(op: Callable[..., Any], *args: Any) -> Any:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the bus did not answer in time")
            sock.settimeout(remaining)
            return op(*args)

        sock.sendall(b"\0")  # the credentials byte; the daemon reads SO_PEERCRED on Linux
        auth = Authenticator(inc_null_byte=False)
        for line in auth:
            timed(sock.sendall, line)
            data = timed(sock.recv, 1024)
            if not data:
                raise ConnectionError("the bus closed the connection during authentication")
            auth.feed(data)
        timed(sock.sendall, BEGIN)

        parser = Parser()
        pending: list[Message] = []

        def call(msg: Message) -> Message:
            serial = next(self._serials)
            timed(sock.sendall, msg.serialise(serial))
            while True:
                reply = parser.get_next_message()
                if reply is None:
                    data = timed(sock.recv, 65536)
                    if not data:
                        raise ConnectionError("the bus closed the connection")
                    parser.add_data(data)
                    continue
                if reply.header.fields.get(HeaderFields.reply_serial) != serial:
                    pending.append(reply)  # e.g. NameAcquired; dispatched once running
                    continue
                if reply.header.message_type is MessageType.error:
                    raise ConnectionError(f"{reply.header.fields.get(HeaderFields.error_name)}"
                                          f": {reply.body}")
                return reply

        self.unique_name = call(message_bus.Hello()).body[0]
        for name in (BUS_NAME, f"{BUS_NAME}.instance{os.getpid()}"):
            code = call(message_bus.RequestName(name, _DO_NOT_QUEUE)).body[0]
            if code in _NAME_OURS:
                self.bus_name = name
                break
            log.info("MPRIS: %s is taken (another Segue?), trying an instance name", name)
        else:
            raise ConnectionError("cannot own an MPRIS bus name")
        # Whatever the parser holds past the replies belongs to the running connection.
        pending.extend(iter(parser.get_next_message, None))
        self._parser = parser
        return pending

    # -- engine signals ----------------------------------------------------------------------

    def _watch_engine(self) -> None:
        e = self._engine
        pairs: list[tuple[Any, Callable[..., None]]] = [
            (e.trackChanged, self._schedule_changes),
            (e.stateChanged, self._schedule_changes),
            (e.volumeChanged, self._schedule_changes),
            (e.queueChanged, self._schedule_changes),
            (e.autoPickChanged, self._schedule_changes),
            (e.positionChanged, self._on_position),
        ]
        if self._engine_reports_seeks:
            pairs.append((e.seeked, self._on_engine_seeked))
        for signal, slot in pairs:
            signal.connect(slot)
        self._connections = pairs

    def _unwatch_engine(self) -> None:
        for signal, slot in self._connections:
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):  # the engine may already be gone at shutdown
                pass
        self._connections = []

    def _schedule_changes(self, *args: Any) -> None:
        if self._sock is not None:
            self._changes_timer.start()

    def _on_position(self, position_ms: int, duration_ms: int) -> None:
        # Positions tick many times a second and are not signalled; only a new duration can
        # change the Metadata length (tracks without a tagged duration) and CanSeek.
        if duration_ms != self._last_duration:
            self._last_duration = duration_ms
            self._schedule_changes()

    def _on_engine_seeked(self, *args: Any) -> None:
        self._send_seeked()

    def _emit_changes(self) -> None:
        """Send PropertiesChanged with what changed since the last one (nothing if nothing)."""
        if self._sock is None:
            return
        try:
            current = self._snapshot()
        except Exception:
            log.exception("MPRIS: cannot read the player state")
            return
        changed = {k: v for k, v in current.items() if self._published.get(k) != v}
        self._published = current
        if changed:
            self._send(new_signal(DBusAddress(OBJECT_PATH, interface=PROPS_IFACE),
                                  "PropertiesChanged", "sa{sv}as", (PLAYER_IFACE, changed, [])))

    def _snapshot(self) -> dict[str, tuple[str, Any]]:
        return {name: (PLAYER_PROPERTIES[name][0], self._value(PLAYER_IFACE, name))
                for name in _WATCHED}

    def _send_seeked(self) -> None:
        position_us = int(self._engine.position()) * 1000
        self._send(new_signal(DBusAddress(OBJECT_PATH, interface=PLAYER_IFACE),
                              "Seeked", "x", (position_us,)))

    # -- property values ---------------------------------------------------------------------

    def _value(self, iface: str, name: str) -> Any:
        e = self._engine
        if iface == ROOT_IFACE:
            return {
                "CanQuit": True, "CanRaise": True, "HasTrackList": False, "Identity": "Segue",
                "DesktopEntry": "segue", "SupportedUriSchemes": ["file"],
                "SupportedMimeTypes": list(SUPPORTED_MIME_TYPES),
            }[name]
        loaded = e.current is not None
        # Hands-free: with the auto-queue on there is always something to play next.
        can_play = loaded or bool(e.queue) or bool(getattr(e, "autoqueue_enabled", True))
        if name == "PlaybackStatus":
            return _STATUS.get(e.state, "Stopped")
        if name == "Metadata":
            return self._metadata()
        if name == "Volume":
            return max(0.0, min(1.0, e.volume() / 100.0))
        if name == "Position":
            return int(e.position()) * 1000 if loaded else 0
        if name == "CanGoNext":
            return bool(e.queue) or bool(getattr(e, "autoqueue_enabled", True))
        if name == "CanGoPrevious":
            return loaded
        if name in ("CanPlay", "CanPause"):
            # Pausable whenever playable: clients (media keys) gate PlayPause on CanPause.
            return can_play
        if name == "CanSeek":
            return loaded and self._length_ms() > 0
        return {"LoopStatus": "None", "Rate": 1.0, "Shuffle": False, "MinimumRate": 1.0,
                "MaximumRate": 1.0, "CanControl": True}[name]

    def _length_ms(self) -> int:
        track = self._engine.current
        if track is None:
            return 0
        # The tagged duration first: the backend's may still be the previous file's while
        # the new one loads; it is the fallback for files without one.
        return int(track.duration_ms or self._engine.duration() or 0)

    def _metadata(self) -> dict[str, tuple[str, Any]]:
        track = self._engine.current
        if track is None:
            return {"mpris:trackid": ("o", NO_TRACK)}
        md: dict[str, tuple[str, Any]] = {
            "mpris:trackid": ("o", f"{TRACK_PATH_PREFIX}{int(track.id)}"),
            "xesam:title": ("s", _text(track.title
                                       or os.path.basename(track.path or ""))),
        }
        length_ms = self._length_ms()
        if length_ms > 0:
            md["mpris:length"] = ("x", length_ms * 1000)  # int64 µs, whatever its size
        for key, field in (("xesam:artist", "artist"), ("xesam:albumArtist", "albumartist"),
                           ("xesam:genre", "genre")):
            values = _split(getattr(track, field))
            if values:
                md[key] = ("as", values)
        if track.album:
            md["xesam:album"] = ("s", _text(track.album))
        for key, field in (("xesam:trackNumber", "track_number"),
                           ("xesam:discNumber", "disc_number")):
            number = getattr(track, field)
            if isinstance(number, int) and 0 < number < 2**31:
                md[key] = ("i", number)
        url = _file_url(track.path) if track.path else None
        if url:
            md["xesam:url"] = ("s", url)
        art = self._cover_url(track)
        if art:
            md["mpris:artUrl"] = ("s", art)
        return md

    def _cover_url(self, track: Any) -> str | None:
        # Cached per track: the callable may extract a cover to disk, and the metadata is
        # rebuilt on every change of anything.
        track_id = track.id
        if self._art_cache[0] == track_id:
            return self._art_cache[1]
        try:
            art = self._art_url(track)
        except Exception:
            log.exception("MPRIS: art_url failed for track %s", track_id)
            art = None
        if art and "://" not in art:
            art = _file_url(art)
        art = _text(art) if art else None
        self._art_cache = (track_id, art)
        return art

    # -- method handlers ---------------------------------------------------------------------

    def _get(self, msg: Message) -> tuple[str, tuple]:
        iface, name = msg.body
        iface = self._property_iface(iface, name)
        return "v", ((_PROPERTIES[iface][name][0], self._value(iface, name)),)

    def _get_all(self, msg: Message) -> tuple[str, tuple]:
        (iface,) = msg.body
        if iface not in _PROPERTIES:
            # Introspectable/Peer/Properties have no properties: an empty dict, as GDBus does.
            if iface in (INTROSPECT_IFACE, PEER_IFACE, PROPS_IFACE):
                return "a{sv}", ({},)
            raise _DBusError(ERR_INVALID_ARGS, f"No such interface {iface!r}")
        return "a{sv}", ({name: (sig, self._value(iface, name))
                          for name, (sig, _) in _PROPERTIES[iface].items()},)

    def _set(self, msg: Message) -> None:
        iface, name, (sig, value) = msg.body
        iface = self._property_iface(iface, name)
        if _PROPERTIES[iface][name][1] != "readwrite":
            raise _DBusError(ERR_READ_ONLY, f"{name} is read-only")
        if name == "Volume":
            if sig not in ("d", "i", "u", "x", "t", "n", "q", "y") or not math.isfinite(value):
                raise _DBusError(ERR_INVALID_ARGS, "Volume is a double between 0 and 1")
            # MPRIS: negative means 0; the engine's scale stops at 100 %.
            self._engine.set_volume(round(max(0.0, min(1.0, float(value))) * 100))
            return
        expected = _PROPERTIES[iface][name][0]
        if sig != expected:
            raise _DBusError(ERR_INVALID_ARGS, f"{name} has type {expected}, not {sig}")
        if value != self._value(iface, name):
            # Segue plays in the order it learns; there is no loop, shuffle or speed control.
            raise _DBusError(ERR_NOT_SUPPORTED, f"Segue does not support changing {name}")

    @staticmethod
    def _property_iface(iface: str, name: str) -> str:
        """The interface holding ``name`` (an empty interface name means "any")."""
        if iface == "":
            iface = next((i for i, props in _PROPERTIES.items() if name in props), "")
        if iface not in _PROPERTIES:
            raise _DBusError(ERR_INVALID_ARGS, f"No such interface {iface!r}")
        if name not in _PROPERTIES[iface]:
            raise _DBusError(ERR_UNKNOWN_PROPERTY, f"No such property {name!r} on {iface}")
        return iface

    def _quit(self, msg: Message) -> None:
        # After this call returns, so the reply leaves before the application winds down.
        QTimer.singleShot(0, self._quit_app)

    def _seek(self, msg: Message) -> None:
        (offset_us,) = msg.body
        if not self._value(PLAYER_IFACE, "CanSeek"):
            return  # the spec: no effect
        length = self._length_ms()
        target = int(self._engine.position()) + int(offset_us / 1000)
        if target >= length:
            self._engine.next()  # the spec: seeking past the end acts like Next
            return
        self._engine.seek(max(0, target))
        if not self._engine_reports_seeks:
            self._send_seeked()

    def _set_position(self, msg: Message) -> None:
        track_id, position_us = msg.body
        current = self._metadata()["mpris:trackid"][1]
        # The spec: ignore a stale track id (the track changed meanwhile) and out-of-range.
        if track_id != current or current == NO_TRACK:
            return
        if position_us < 0 or position_us > self._length_ms() * 1000:
            return
        self._engine.seek(position_us // 1000)
        if not self._engine_reports_seeks:
            self._send_seeked()

    def _open_uri(self, msg: Message) -> None:
        (uri,) = msg.body
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise _DBusError(ERR_NOT_SUPPORTED, f"Only file:// URIs are supported, not {uri!r}")
        path = unquote(parsed.path, errors="surrogateescape")
        if "\x00" in path or not path:
            raise _DBusError(ERR_INVALID_ARGS, "not a file path: an empty one, or one with a NUL")
        library = getattr(self._engine, "library", None)
        track = library.track_by_path(os.path.abspath(path)) if library is not None else None
        if track is None:
            # Playing a file means adding it to the library first: the player learns from
            # plays of library tracks only.
            raise _DBusError(ERR_INVALID_ARGS, f"{path} is not in the Segue library")
        self._engine.play_track(track.id, "user")

    def _machine_id(self, msg: Message) -> tuple[str, tuple]:
        for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
            try:
                return "s", (Path(candidate).read_text().strip(),)
            except OSError:
                continue
        raise _DBusError(ERR_FAILED, "no machine id")

    # -- the socket --------------------------------------------------------------------------

    def _on_readable(self, *args: Any) -> None:
        """The notifier fired: read all there is and answer every complete message."""
        if self._sock is None:
            return
        while True:
            try:
                data = self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._lost(f"read error: {exc}")
                return
            if not data:
                self._lost("the bus closed the connection")
                return
            self._parser.add_data(data)
        messages: list[Message] = []
        try:
            messages.extend(iter(self._parser.get_next_message, None))
        except Exception as exc:  # noqa: BLE001 - a corrupt stream cannot be resynchronised
            self._lost(f"unparsable data from the bus: {exc}")
        self._dispatch_all(messages)

    def _dispatch_all(self, messages: list[Message]) -> None:
        for msg in messages:
            if self._sock is None:
                return
            try:
                self._dispatch(msg)
            except Exception:  # never out of the socket callback: log and keep serving
                log.exception("MPRIS: error handling %s",
                              msg.header.fields.get(HeaderFields.member))

    def _dispatch(self, msg: Message) -> None:
        fields = msg.header.fields
        if msg.header.message_type is MessageType.signal:
            if fields.get(HeaderFields.member) == "NameLost" and msg.body[:1] == (self.bus_name,):
                log.warning("MPRIS: lost the bus name %s", self.bus_name)
            return
        if msg.header.message_type is not MessageType.method_call:
            return  # replies to nothing we wait for (we make no calls after the handshake)
        try:
            reply = self._call(msg)
        except _DBusError as err:
            reply = new_error(msg, err.name, "s", (_text(err.text)[:MAX_ERROR_TEXT],))
        except Exception as exc:
            log.exception("MPRIS: %s.%s failed", fields.get(HeaderFields.interface),
                          fields.get(HeaderFields.member))
            reply = new_error(msg, ERR_FAILED, "s",
                              (_text(f"{type(exc).__name__}: {exc}")[:MAX_ERROR_TEXT],))
        if not msg.header.flags & MessageFlag.no_reply_expected:
            self._send(reply)

    def _call(self, msg: Message) -> Message:
        fields = msg.header.fields
        path = fields.get(HeaderFields.path, "")
        iface = fields.get(HeaderFields.interface)
        member = fields.get(HeaderFields.member, "")
        signature = fields.get(HeaderFields.signature, "")
        if path != OBJECT_PATH:
            parents = {"/": "org", "/org": "mpris", "/org/mpris": "MediaPlayer2"}
            if path in parents and member == "Introspect" and iface in (None, INTROSPECT_IFACE):
                return new_method_return(msg, "s", (_node_xml(parents[path]),))
            raise _DBusError(ERR_UNKNOWN_OBJECT, f"No such object path {path!r}")
        if iface is None:  # the interface is optional in a call: find the member
            iface = next((i for i, m in self._methods if m == member), "")
        entry = self._methods.get((iface, member))
        if entry is None:
            raise _DBusError(ERR_UNKNOWN_METHOD,
                             f"No such method {member!r} in interface {iface!r} at {path}")
        in_signature, handler = entry
        if signature != in_signature:
            raise _DBusError(ERR_INVALID_ARGS, f"{member} takes signature {in_signature!r}, "
                                               f"not {signature!r}")
        result = handler(msg)
        if isinstance(result, tuple):
            out_signature, body = result
            return new_method_return(msg, out_signature, body)
        return new_method_return(msg)

    def _send(self, msg: Message) -> None:
        if self._sock is None:
            return
        try:
            data = msg.serialise(next(self._serials))
        except Exception:  # a value jeepney cannot marshal: drop this message, keep going
            log.exception("MPRIS: cannot serialise %s", msg.header.fields)
            return
        self._outbox += data
        self._flush()

    def _flush(self) -> None:
        while self._outbox and self._sock is not None:
            try:
                sent = self._sock.send(self._outbox)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._lost(f"write error: {exc}")
                return
            del self._outbox[:sent]
        if self._sock is None:
            return
        if len(self._outbox) > MAX_OUTBOX_BYTES:
            self._lost("the bus stopped reading")
            return
        if self._write_notifier is not None:
            self._write_notifier.setEnabled(bool(self._outbox))  # wait for room, not spin

    def _on_writable(self, *args: Any) -> None:
        self._flush()

    def _lost(self, reason: str) -> None:
        log.warning("MPRIS: disconnected from the session bus (%s); reconnecting", reason)
        self._unwatch_engine()
        self._changes_timer.stop()
        self._close()
        if self._wanted:
            self._reconnect_timer.start(self._reconnect_ms)

    def _reconnect(self) -> None:
        address = self._bus_address or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if not self._wanted or self._sock is not None or not address:
            return
        if self._open(address, quiet=True):
            log.warning("MPRIS: back on the session bus as %s", self.bus_name)
            self._reconnect_ms = RECONNECT_FIRST_MS
            return
        self._reconnect_ms = min(self._reconnect_ms * 2, RECONNECT_MAX_MS)
        self._reconnect_timer.start(self._reconnect_ms)
