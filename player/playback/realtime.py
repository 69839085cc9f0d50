"""Real-time scheduling for the audio process, as sound servers get it.

The audio process keeps only ~80 ms of sound in the device (so that pause, seek and volume
answer at once); on a machine whose cores are busy with a retrain, a scan and a browser, a
normal-priority process can wait longer than that for a CPU. PulseAudio and PipeWire solve
this for themselves with a low real-time priority from RealtimeKit; so does this module, for
the audio process only (never the app):

1. ``sched_setscheduler(SCHED_RR)`` directly, where allowed (root, or an ``rtprio`` limit
   such as the ``audio`` group's on many distributions);
2. else RealtimeKit over the system D-Bus (``MakeThreadRealtime``), per thread;
3. else nothing: the caller then keeps a longer device buffer.

Safety: ``RLIMIT_RTTIME`` is set first, so that a real-time thread that ran away (a bug, a
hostile file) is stopped by the kernel after 200 ms of CPU without sleeping, instead of
freezing the machine; the app then restarts the audio process and skips the file.
"""

from __future__ import annotations

import logging
import os
import resource
import threading

log = logging.getLogger(__name__)

#: Below the sound server's own threads (RealtimeKit's usual ceiling is 20).
PRIORITY = 5
#: CPU time a real-time thread may use without a blocking call (microseconds).
RTTIME_LIMIT_US = 200_000


def _limit_runaway() -> bool:
    if not hasattr(resource, "RLIMIT_RTTIME"):
        return False
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_RTTIME)
        limit = RTTIME_LIMIT_US if hard == resource.RLIM_INFINITY else min(hard,
                                                                           RTTIME_LIMIT_US)
        resource.setrlimit(resource.RLIMIT_RTTIME, (limit, limit))
        return True
    except (OSError, ValueError):
        return False


def _sched_rr(priority: int) -> bool:
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(priority))
        return True
    except (PermissionError, OSError):
        return False


def _rtkit(priority: int) -> bool:
    """Ask RealtimeKit (system D-Bus) to make this thread real-time."""
    try:
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
    except ImportError:
        return False
    address = DBusAddress("/org/freedesktop/RealtimeKit1", bus_name="org.freedesktop.RealtimeKit1",
                          interface="org.freedesktop.RealtimeKit1")
    try:
        with open_dbus_connection(bus="SYSTEM") as conn:
            props = DBusAddress("/org/freedesktop/RealtimeKit1",
                                bus_name="org.freedesktop.RealtimeKit1",
                                interface="org.freedesktop.DBus.Properties")
            reply = conn.send_and_get_reply(
                new_method_call(props, "Get", "ss",
                                ("org.freedesktop.RealtimeKit1", "MaxRealtimePriority")),
                timeout=1.0)
            ceiling = int(reply.body[0][1])
            msg = new_method_call(address, "MakeThreadRealtime", "tu",
                                  (threading.get_native_id(), min(priority, ceiling)))
            conn.send_and_get_reply(msg, timeout=1.0)
        return True
    except Exception as exc:  # noqa: BLE001 - no bus, no RealtimeKit, refused: all mean no
        log.debug("RealtimeKit: %s", exc)
        return False


def request_realtime(priority: int = PRIORITY) -> str:
    """Make the calling thread (and the threads it starts later) real-time if possible.

    Returns how: ``"sched"``, ``"rtkit"``, or ``""`` when it stays a normal thread.
    """
    if os.environ.get("SEGUE_NO_REALTIME"):
        return ""
    if not _limit_runaway():
        return ""  # without the kernel's safety net, no real-time
    if _sched_rr(priority):
        return "sched"
    if _rtkit(priority):
        return "rtkit"
    return ""
