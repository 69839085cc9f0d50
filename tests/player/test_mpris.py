"""MPRIS2 service, driven over a private session bus by the real ``playerctl`` and by jeepney.

The service answers on the GUI thread (the test's thread), so every client runs
asynchronously: a subprocess polled while ``qtbot.waitUntil`` spins the event loop, or a
jeepney connection read without blocking. A blocking call from here would deadlock.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jeepney import DBusAddress, HeaderFields, Message, MessageType, new_method_call
from jeepney.bus_messages import MatchRule, message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

import player.mpris as mpris
from player.autoqueue import AutoQueue, Rules
from player.engine import Engine
from player.mpris import MprisService
from player.playback.base import PlaybackState

OBJECT = DBusAddress("/org/mpris/MediaPlayer2", bus_name="org.mpris.MediaPlayer2.segue")
PLAYER = OBJECT.with_interface("org.mpris.MediaPlayer2.Player")
ROOT = OBJECT.with_interface("org.mpris.MediaPlayer2")
PROPS = OBJECT.with_interface("org.freedesktop.DBus.Properties")
PLAYER_IFACE = "org.mpris.MediaPlayer2.Player"
WAIT_MS = 5000


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def dbus_daemon():
    """A private session bus for this test (its process; the address is ``.address``)."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (apt install dbus)")
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 5)
        proc.address = proc.stdout.readline().strip() if ready else ""
        if not proc.address:
            pytest.fail("dbus-daemon did not print its address")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


@pytest.fixture
def bus_address(dbus_daemon) -> str:
    return dbus_daemon.address


@pytest.fixture
def env(bus_address: str) -> dict[str, str]:
    return {**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus_address}


@pytest.fixture
def calls() -> list[str]:
    """What the service asked the application to do (raise, quit)."""
    return []


@pytest.fixture
def covers() -> dict[int, str]:
    """Track id -> cover URL, as the application's art_url callable would find."""
    return {}


@pytest.fixture
def service(engine, bus_address, calls, covers, qtbot):
    svc = MprisService(engine, raise_window=lambda: calls.append("raise"),
                       quit_app=lambda: calls.append("quit"),
                       art_url=lambda track: covers.get(track.id), bus_address=bus_address)
    assert svc.start() is True
    assert svc.bus_name == "org.mpris.MediaPlayer2.segue"
    yield svc
    svc.stop()


@pytest.fixture
def ctl(env, qtbot, service):
    """Run ``playerctl -p segue ARGS`` without blocking the event loop; return its stdout."""
    if shutil.which("playerctl") is None:
        pytest.skip("playerctl is not installed (apt install playerctl)")

    def run(*args: str) -> str:
        proc = subprocess.Popen(["playerctl", "-p", "segue", *args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            qtbot.waitUntil(lambda: proc.poll() is not None, timeout=WAIT_MS)
        finally:
            if proc.poll() is None:
                proc.kill()
        out, err = proc.communicate()
        assert proc.returncode == 0, f"playerctl {' '.join(args)}: {err}"
        return out.strip()

    return run


class Client:
    """A jeepney client whose calls to the service wait by spinning the Qt event loop."""

    def __init__(self, address: str, qtbot) -> None:
        # Hello is answered by the daemon itself, so this blocking open is safe.
        self.conn: DBusConnection = open_dbus_connection(bus=address)
        self.qtbot = qtbot
        self.signals: list[Message] = []
        self._replies: dict[int, Message] = {}

    def _pump(self) -> None:
        while True:
            try:
                msg = self.conn.receive(timeout=0)
            except TimeoutError:
                return
            if msg.header.message_type is MessageType.signal:
                self.signals.append(msg)
            else:
                self._replies[msg.header.fields[HeaderFields.reply_serial]] = msg

    def call(self, msg: Message) -> Message:
        serial = next(self.conn.outgoing_serial)
        self.conn.send(msg, serial=serial)
        self.qtbot.waitUntil(lambda: self._pump() or serial in self._replies, timeout=WAIT_MS)
        return self._replies.pop(serial)

    def ok(self, msg: Message) -> tuple:
        reply = self.call(msg)
        assert reply.header.message_type is MessageType.method_return, reply
        return reply.body

    def error(self, msg: Message) -> str:
        reply = self.call(msg)
        assert reply.header.message_type is MessageType.error, reply
        return reply.header.fields[HeaderFields.error_name]

    def get(self, name: str, iface: str = PLAYER_IFACE) -> tuple[str, object]:
        return self.ok(new_method_call(PROPS, "Get", "ss", (iface, name)))[0]

    def subscribe(self, **rule: str) -> None:
        self.ok(message_bus.AddMatch(MatchRule(type="signal", path=OBJECT.object_path, **rule)))

    def wait_signal(self, predicate) -> Message:
        def found() -> bool:
            self._pump()
            return any(predicate(s) for s in self.signals)
        self.qtbot.waitUntil(found, timeout=WAIT_MS)
        return next(s for s in self.signals if predicate(s))

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def client(bus_address, qtbot, service):
    c = Client(bus_address, qtbot)
    yield c
    c.close()


def changed(name: str, value=None):
    """A predicate on signals: PropertiesChanged of the Player's ``name`` (to ``value``)."""
    def match(msg: Message) -> bool:
        if msg.header.fields.get(HeaderFields.member) != "PropertiesChanged":
            return False
        iface, props, _ = msg.body
        return iface == PLAYER_IFACE and name in props and (value is None
                                                           or props[name][1] == value)
    return match


# -- no bus ------------------------------------------------------------------------------------

def test_start_without_a_session_bus_returns_false(engine, monkeypatch, caplog, tmp_path):
    kwargs = dict(raise_window=lambda: None, quit_app=lambda: None)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    svc = MprisService(engine, **kwargs)
    assert svc.start() is False
    assert "no session bus" in caplog.text
    svc.stop()  # harmless when never started

    for bogus in (f"unix:path={tmp_path}/no-such-socket", "tcp:host=localhost,port=1",
                  "nonsense"):
        assert MprisService(engine, bus_address=bogus, **kwargs).start() is False

    # A socket that accepts but never speaks: the handshake gives up at its deadline.
    monkeypatch.setattr(mpris, "HANDSHAKE_TIMEOUT_S", 0.2)
    silent = socket.socket(socket.AF_UNIX)
    silent.bind(str(tmp_path / "silent"))
    silent.listen(1)
    try:
        assert MprisService(engine, bus_address=f"unix:path={tmp_path}/silent",
                            **kwargs).start() is False
    finally:
        silent.close()

    engine.play()  # the player is unaffected
    assert engine.state is PlaybackState.PLAYING


# -- playerctl ---------------------------------------------------------------------------------

def test_status_play_pause_stop(ctl, engine):
    assert ctl("status") == "Stopped"
    ctl("play")  # nothing loaded: hands-free playback from the auto-queue
    assert engine.current is not None
    assert ctl("status") == "Playing"
    ctl("pause")
    assert engine.state is PlaybackState.PAUSED
    assert ctl("status") == "Paused"
    ctl("play-pause")
    assert ctl("status") == "Playing"
    ctl("play-pause")
    assert ctl("status") == "Paused"
    ctl("stop")
    assert engine.state is PlaybackState.STOPPED
    assert ctl("status") == "Stopped"


def test_next_and_previous(ctl, engine):
    ctl("play")
    first = engine.current.id
    ctl("next")
    second = engine.current.id
    assert second != first
    # playerctl prints an object path quoted, GVariant style.
    assert ctl("metadata", "mpris:trackid") == f"'/org/segue/track/{second}'"
    ctl("previous")
    assert engine.current.id == first


def test_metadata(ctl, engine, tracks, covers, library, tmp_path):
    covers[tracks[3]] = "file:///covers/three.png"
    engine.play_track(tracks[3])
    fmt = "{{title}}|{{artist}}|{{album}}|{{mpris:length}}|{{mpris:artUrl}}|{{xesam:url}}"
    title, artist, album, length, art, url = ctl("metadata", "--format", fmt).split("|")
    track = library.track(tracks[3])
    assert (title, artist, album) == ("T3", "Artist 3", "Album 3")
    assert int(length) == track.duration_ms * 1000 == 180_000_000
    assert art == "file:///covers/three.png"
    assert url == Path(track.path).as_uri()

    engine.next()  # no cover for this one: no artUrl at all
    assert ctl("metadata", "title") == engine.current.title
    assert ctl("metadata", "--format", "[{{mpris:artUrl}}]") == "[]"


def test_position_seek_and_volume(ctl, client, engine, backend):
    client.subscribe(interface=PLAYER_IFACE, member="Seeked")
    ctl("play")
    backend.advance(42_000)
    # playerctl extrapolates a playing position by the time since it read it.
    assert float(ctl("position")) == pytest.approx(42.0, abs=0.5)

    ctl("position", "10")  # absolute: SetPosition(trackid, 10 s)
    assert backend.position() == 10_000
    client.wait_signal(lambda s: s.header.fields[HeaderFields.member] == "Seeked"
                       and s.body == (10_000_000,))
    ctl("position", "5+")  # relative: Seek(+5 s)
    assert backend.position() == 15_000
    ctl("position", "100-")  # before the start: clamped to 0
    assert backend.position() == 0

    ctl("volume", "0.5")
    assert backend.volume() == 50
    assert float(ctl("volume")) == pytest.approx(0.5)


def test_properties_changed_reaches_a_following_client(env, service, engine, qtbot):
    if shutil.which("playerctl") is None:
        pytest.skip("playerctl is not installed (apt install playerctl)")
    engine.play()
    proc = subprocess.Popen(["playerctl", "-p", "segue", "--follow", "metadata", "title"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    os.set_blocking(proc.stdout.fileno(), False)
    seen = bytearray()

    def lines() -> list[str]:
        try:
            seen.extend(os.read(proc.stdout.fileno(), 4096) or b"")
        except BlockingIOError:
            pass
        return seen.decode().splitlines()

    try:
        first = engine.current.title
        qtbot.waitUntil(lambda: first in lines(), timeout=WAIT_MS)
        engine.next()
        second = engine.current.title
        assert second != first
        qtbot.waitUntil(lambda: second in lines(), timeout=WAIT_MS)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


# -- wire types, errors and the rest of the API (jeepney client) ----------------------------

def test_metadata_types_on_the_wire(client, engine, library, covers, tmp_path):
    assert client.get("Metadata") == ("a{sv}", {
        "mpris:trackid": ("o", "/org/mpris/MediaPlayer2/TrackList/NoTrack")})
    path = tmp_path / "duo.opus"
    path.write_bytes(b"")
    library.add_tracks([{"path": str(path), "mtime": 1.0, "size": 0, "title": "Duo",
                         "artist": "Alice; Bob", "albumartist": "Various Artists",
                         "album": "Mix", "duration_ms": 800, "track_number": 3}])
    duo = library.track_by_path(str(path))
    covers[duo.id] = str(tmp_path / "cover art.png")  # a path becomes a file:// URL

    client.subscribe(interface="org.freedesktop.DBus.Properties")
    engine.play_track(duo.id)
    signal = client.wait_signal(changed("Metadata"))
    _, props, invalidated = signal.body
    assert invalidated == []
    assert props["PlaybackStatus"] == ("s", "Playing")
    md = props["Metadata"][1]
    assert md["mpris:trackid"] == ("o", f"/org/segue/track/{duo.id}")
    assert md["mpris:length"] == ("x", 800_000)  # int64 even when it would fit in int32
    assert md["xesam:artist"] == ("as", ["Alice", "Bob"])
    assert md["xesam:albumArtist"] == ("as", ["Various Artists"])
    assert md["xesam:title"] == ("s", "Duo")
    assert md["xesam:album"] == ("s", "Mix")
    assert md["xesam:trackNumber"] == ("i", 3)
    assert md["mpris:artUrl"] == ("s", (tmp_path / "cover art.png").as_uri())
    assert client.get("Metadata") == ("a{sv}", md)
    assert client.get("Position") == ("x", 0)

    # No tagged duration: the length is the backend's, once it knows it.
    path = tmp_path / "untagged.wav"
    path.write_bytes(b"")
    library.add_tracks([{"path": str(path), "mtime": 1.0, "size": 0, "title": "untagged"}])
    engine.play_track(library.track_by_path(str(path)).id)
    signal = client.wait_signal(lambda s: changed("Metadata")(s)
                                and s.body[1]["Metadata"][1]["xesam:title"][1] == "untagged")
    assert signal.body[1]["Metadata"][1]["mpris:length"] == ("x", 180_000_000)
    assert "xesam:artist" not in signal.body[1]["Metadata"][1]


def test_get_all_set_and_signals(client, engine, backend):
    root = client.ok(new_method_call(PROPS, "GetAll", "s", ("org.mpris.MediaPlayer2",)))[0]
    assert root["Identity"] == ("s", "Segue")
    assert root["DesktopEntry"] == ("s", "segue")
    assert root["HasTrackList"] == ("b", False)
    assert root["CanQuit"] == root["CanRaise"] == ("b", True)
    assert "file" in root["SupportedUriSchemes"][1]
    player = client.ok(new_method_call(PROPS, "GetAll", "s", (PLAYER_IFACE,)))[0]
    assert player["PlaybackStatus"] == ("s", "Stopped")
    assert player["LoopStatus"] == ("s", "None")
    assert player["Shuffle"] == ("b", False)
    assert player["Rate"] == player["MinimumRate"] == player["MaximumRate"] == ("d", 1.0)
    assert player["CanPlay"] == player["CanGoNext"] == player["CanControl"] == ("b", True)
    assert player["CanSeek"] == player["CanGoPrevious"] == ("b", False)  # nothing loaded

    client.subscribe(interface="org.freedesktop.DBus.Properties")
    client.ok(new_method_call(PLAYER, "Play"))
    client.wait_signal(changed("PlaybackStatus", "Playing"))
    client.wait_signal(changed("CanSeek", True))
    client.ok(new_method_call(PROPS, "Set", "ssv", (PLAYER_IFACE, "Volume", ("d", 0.25))))
    assert backend.volume() == 25
    client.wait_signal(changed("Volume", 0.25))
    client.ok(new_method_call(PROPS, "Set", "ssv", (PLAYER_IFACE, "Volume", ("d", -3.0))))
    assert backend.volume() == 0  # negative means 0
    engine.set_volume(80)  # a change made in the GUI is signalled too
    client.wait_signal(changed("Volume", 0.8))
    engine.pause()
    client.wait_signal(changed("PlaybackStatus", "Paused"))
    # Position is never in PropertiesChanged (clients extrapolate it).
    assert not any("Position" in s.body[1] for s in client.signals
                   if s.header.fields[HeaderFields.member] == "PropertiesChanged")


def test_errors(client):
    def call(address, method, sig=None, body=()):
        return client.error(new_method_call(address, method, sig, body))

    err = "org.freedesktop.DBus.Error."
    assert call(PLAYER, "Fly") == err + "UnknownMethod"
    assert call(OBJECT.with_interface("org.example.Nope"), "Next") == err + "UnknownMethod"
    assert call(PLAYER, "Seek", "s", ("far",)) == err + "InvalidArgs"
    assert call(PROPS, "Get", "ss", (PLAYER_IFACE, "Colour")) == err + "UnknownProperty"
    assert call(PROPS, "Get", "ss", ("org.example.Nope", "Volume")) == err + "InvalidArgs"
    assert call(PROPS, "Set", "ssv", (PLAYER_IFACE, "PlaybackStatus", ("s", "Playing"))) \
        == err + "PropertyReadOnly"
    assert call(PROPS, "Set", "ssv", (PLAYER_IFACE, "Volume", ("s", "loud"))) \
        == err + "InvalidArgs"
    assert call(PROPS, "Set", "ssv", (PLAYER_IFACE, "Shuffle", ("b", True))) \
        == err + "NotSupported"
    assert call(PLAYER, "OpenUri", "s", ("https://example.com/a.mp3",)) == err + "NotSupported"
    assert call(DBusAddress("/elsewhere", OBJECT.bus_name, "org.mpris.MediaPlayer2.Player"),
                "Next") == err + "UnknownObject"
    # Still serving after all that.
    assert client.get("PlaybackStatus") == ("s", "Stopped")


def test_introspect_raise_quit_open_uri(client, engine, library, tracks, calls, qtbot):
    xml = client.ok(new_method_call(OBJECT.with_interface(
        "org.freedesktop.DBus.Introspectable"), "Introspect"))[0]
    root = ET.fromstring(xml.split("\n", 2)[2])  # past the DOCTYPE
    ifaces = {i.get("name"): i for i in root.findall("interface")}
    assert {"org.mpris.MediaPlayer2", PLAYER_IFACE,
            "org.freedesktop.DBus.Properties"} <= set(ifaces)
    length = ifaces[PLAYER_IFACE].find("property[@name='Metadata']")
    assert length.get("type") == "a{sv}"
    parent = client.ok(new_method_call(DBusAddress("/org/mpris", OBJECT.bus_name),
                                       "Introspect"))[0]
    assert '<node name="MediaPlayer2"/>' in parent
    client.ok(new_method_call(OBJECT.with_interface("org.freedesktop.DBus.Peer"), "Ping"))

    client.ok(new_method_call(ROOT, "Raise"))
    assert calls == ["raise"]
    client.ok(new_method_call(ROOT, "Quit"))
    qtbot.waitUntil(lambda: calls == ["raise", "quit"], timeout=WAIT_MS)

    uri = Path(library.track(tracks[7]).path).as_uri()
    client.ok(new_method_call(PLAYER, "OpenUri", "s", (uri,)))
    assert engine.current.id == tracks[7]
    assert engine.state is PlaybackState.PLAYING


def test_seek_past_the_end_is_next_and_stale_set_position_is_ignored(client, engine, backend):
    client.ok(new_method_call(PLAYER, "Play"))
    first = engine.current.id
    client.ok(new_method_call(PLAYER, "SetPosition", "ox", ("/org/segue/track/999999", 1)))
    assert backend.position() == 0
    client.ok(new_method_call(PLAYER, "Seek", "x", (10**12,)))
    assert engine.current.id != first


def test_second_instance_and_lost_bus(engine, dbus_daemon, bus_address, service, qtbot,
                                      caplog):
    other = MprisService(engine, raise_window=lambda: None, quit_app=lambda: None,
                         bus_address=bus_address)
    assert other.start() is True
    assert other.bus_name == f"org.mpris.MediaPlayer2.segue.instance{os.getpid()}"
    other.stop()
    assert not other.running

    # The daemon going away is logged, not raised; the player plays on.
    dbus_daemon.terminate()
    dbus_daemon.wait(timeout=5)
    qtbot.waitUntil(lambda: not service.running, timeout=WAIT_MS)
    assert "disconnected from the session bus" in caplog.text
    engine.play()
    qtbot.wait(10)  # pending change timers fire harmlessly
    assert engine.state is PlaybackState.PLAYING


def test_seeks_made_elsewhere_are_signalled_when_the_engine_reports_them(
        library, backend, clock, tracks, bus_address, qtbot):
    engine = Engine(library, backend, AutoQueue(library, Rules(exploration=0.0), seed=1,
                                                clock=clock),
                    clock=clock, background_picks=False)  # reports every jump: seeked
    svc = MprisService(engine, raise_window=lambda: None, quit_app=lambda: None,
                       bus_address=bus_address)
    assert svc.start()
    client = Client(bus_address, qtbot)
    try:
        client.subscribe(interface=PLAYER_IFACE, member="Seeked")
        engine.play()
        engine.seek(20_000)  # not through D-Bus
        client.wait_signal(lambda s: s.body == (20_000_000,))
        client.ok(new_method_call(PLAYER, "Seek", "x", (5_000_000,)))
        client.wait_signal(lambda s: s.body == (25_000_000,))
        qtbot.wait(20)
        client._pump()
        # One Seeked per jump: the service does not add its own on top of the engine's.
        assert [s.body for s in client.signals
                if s.header.fields[HeaderFields.member] == "Seeked"] == [(20_000_000,),
                                                                          (25_000_000,)]
    finally:
        client.close()
        svc.stop()
        engine.shutdown()
