"""MPRIS survives any malformed call: an error reply at worst, and the media keys keep
working (the service stays on the bus)."""

from __future__ import annotations

import pytest
from jeepney import DBusAddress, MessageType, new_method_call

from tests.player.conftest import backend, clock, engine, tracks  # noqa: F401 - fixtures
from tests.player.test_mpris import (  # noqa: F401 - fixtures, used by name
    OBJECT,
    PLAYER,
    PLAYER_IFACE,
    PROPS,
    bus_address,
    calls,
    client,
    covers,
    dbus_daemon,
    service,
)

ROOT = OBJECT.with_interface("org.mpris.MediaPlayer2")

#: (address, method, signature, body): calls no client should make, each one.
MALFORMED = [
    (PLAYER, "OpenUri", "s", ("file:///x/%00x",)),  # the reported one: a NUL in the path
    (PLAYER, "OpenUri", "s", ("file:///x/%ff%fe/a.mp3",)),  # not UTF-8 once decoded
    (PLAYER, "OpenUri", "s", ("file://%",)),
    (PLAYER, "OpenUri", "s", ("file:" + "/a" * 100_000,)),
    (PLAYER, "OpenUri", "s", ("\u202e\ufeff:" + "x" * 10,)),
    (PLAYER, "OpenUri", "s", ("file:///" + "%00" * 1000,)),
    (PLAYER, "Seek", "x", (-(2**63),)),
    (PLAYER, "Seek", "x", (2**63 - 1,)),
    (PLAYER, "SetPosition", "ox", ("/", -(2**63))),
    (PLAYER, "SetPosition", "ox", ("/org/segue/track/" + "9" * 200, 2**63 - 1)),
    (PROPS, "Set", "ssv", (PLAYER_IFACE, "Volume", ("d", float("nan")))),
    (PROPS, "Set", "ssv", (PLAYER_IFACE, "Volume", ("d", float("inf")))),
    (PROPS, "Set", "ssv", (PLAYER_IFACE, "Volume", ("x", 2**62))),
    (PROPS, "Set", "ssv", (PLAYER_IFACE, "Volume", ("av", [("s", "x")]))),
    (PROPS, "Set", "ssv", (PLAYER_IFACE, "Rate", ("d", float("nan")))),
    (PROPS, "Set", "ssv", (PLAYER_IFACE, "LoopStatus", ("s", "\x01" * 50))),
    (PROPS, "Set", "ssv", ("", "Volume", ("v", ("v", ("d", 0.5))))),
    (PROPS, "Get", "ss", ("\u00e9" * 5000, "Volume")),
    (PROPS, "GetAll", "s", ("x" * 100_000,)),
    (PROPS, "Get", "ss", ("", "")),
    (PLAYER, "Play", "s", ("unexpected argument",)),
    (PLAYER, "Next", "aay", ([b"\x00\xff"] * 100,)),
    (DBusAddress("/org/mpris/MediaPlayer2", OBJECT.bus_name, "org.example." + "x" * 200),
     "X", "", ()),
    (DBusAddress("/" + "a/" * 500 + "b", OBJECT.bus_name, None), "Introspect", "", ()),
]


@pytest.mark.parametrize("address, method, signature, body", MALFORMED,
                         ids=[f"{m}-{i}" for i, (_, m, _, _) in enumerate(MALFORMED)])
def test_a_malformed_call_gets_an_answer_and_the_service_stays(
        client, service, address, method, signature, body) -> None:
    reply = client.call(new_method_call(address, method, signature or None, body))
    assert reply.header.message_type in (MessageType.error, MessageType.method_return)
    assert service.running
    # The media keys still work: the bus still routes calls to us, and we still answer.
    client.ok(new_method_call(PLAYER, "PlayPause"))
    assert client.get("PlaybackStatus")[1] in ("Playing", "Paused")


def test_every_malformed_call_in_a_row(client, service, engine) -> None:
    for address, method, signature, body in MALFORMED:
        client.call(new_method_call(address, method, signature or None, body))
    client.ok(new_method_call(PLAYER, "Play"))
    assert client.get("PlaybackStatus") == ("s", "Playing") and service.running
