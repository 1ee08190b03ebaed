"""A real Janus for nbrtc's tests: Debian's ``janus`` in a network namespace of its own.

Everything here is created by the test and removed by it; Janus's traffic stays on one
veth link between the test process (host side) and the namespace:

* :class:`JanusLab` makes a network namespace unique to this process
  (``nbrtc-janus-<pid>``) joined to the host by a veth pair with TEST-NET-3 addresses in the
  first /29 of 203.0.113.0/24 that no interface of the machine uses when the lab comes up
  (``ns_ip`` in the namespace, ``host_ip`` on the host side, ``silent_ip`` unused: an
  address in the lab where nobody answers), so that two test runs on one machine (a CI run
  and a benchmark) do not take each other's addresses; ``lo`` up and IPv6 off on both
  ends. There is no default route in the namespace, so nothing Janus does can leave it.
* :class:`JanusServer` writes a minimal configuration to a temporary directory (only the
  videoroom and streaming plugins, only the HTTP and WebSocket transports bound to the
  namespace address, the admin API on HTTP with an ``admin_secret``, no event handlers or
  loggers, a short ``session_timeout``, an RTP port range, ICE only on the namespace's
  veth end, no STUN, no IPv6), runs ``janus`` in the foreground inside the namespace,
  waits (bounded) until ``/janus/info`` answers, keeps its log, and stops it by PID
  (SIGTERM, then SIGKILL after a deadline). :meth:`JanusServer.sessions` and
  :meth:`JanusServer.handles` read the admin API (``list_sessions``, ``list_handles``).

What libnice does in the namespace (Janus 1.1.2, libnice 0.1.18): Janus picks its "local
IP" by asking the routing table for a route to the outside; the namespace has none, so
without ``interface`` it logs "Couldn't find any address! using 127.0.0.1" (and would
put 127.0.0.1 in its SDP). The lab's ``ns_ip`` is therefore given as ``general.interface``. ICE
gathering itself follows ``ice_enforce_list`` (the veth end's name): one host candidate
on ``ns_ip`` per component, no loopback candidate.

Every wait is bounded; nothing sleeps for a fixed time to let things settle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from .netlab import IP, ForegroundServer, NetLabError, _run, unavailable_reason

JANUS = "/usr/bin/janus"
LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
#: the plugins and transports the lab loads; every other .so in LIB is disabled by name
PLUGINS = ("libjanus_videoroom.so", "libjanus_streaming.so")
TRANSPORTS = ("libjanus_http.so", "libjanus_websockets.so")

#: each lab takes one /29 of TEST-NET-3 (203.0.113.0/24 holds 32 of them)
PREFIX = 29


def _free_block(taken: str, start: int) -> int:
    """The first /29 of 203.0.113.0/24, from ``start`` on (wrapping), none of whose
    addresses appears in ``taken`` (``ip -o -4 addr show``); its base (0, 8, ... 248)."""
    for i in range(32):
        base = 8 * ((start + i) % 32)
        if not any(f" 203.0.113.{base + n}/" in taken for n in range(8)):
            return base
    raise NetLabError("every /29 of 203.0.113.0/24 is in use on this machine: too many Janus labs")


HTTP_PORT, ADMIN_PORT, WS_PORT = 8088, 7088, 8188
#: RTP/RTCP and ICE ports Janus may bind (its media sockets, one per component)
RTP_RANGE = (20000, 20200)


def janus_missing() -> str | None:
    """Why this machine cannot run the Janus lab, or None."""
    reason = unavailable_reason()
    if reason:
        return reason
    if not Path(JANUS).exists():
        return f"no janus at {JANUS} (scripts/setup.sh: apt-get install janus)"
    missing = [p for p in (*PLUGINS, *TRANSPORTS) if not any(LIB.rglob(p))]
    if missing:
        return f"janus is installed without {missing} under {LIB}"
    return None


def _disable_all_but(folder: Path, keep: Sequence[str]) -> str:
    """The ``disable`` list for ``folder``: every plugin .so there except ``keep``."""
    names = sorted(p.name for p in folder.glob("libjanus_*.so") if p.name not in keep)
    return ",".join(names)


# ------------------------------------------------------------------------------ JanusLab


class JanusLab:
    """A namespace joined to the host by a veth pair (see the module docstring).

    Use as a context manager, or :meth:`up` and :meth:`down`; ``down`` is safe to call
    more than once and after a partial ``up``.
    """

    def __init__(self, tag: str | None = None) -> None:
        tag = tag or str(os.getpid())
        self.ns = f"nbrtc-janus-{tag}"
        # interface names are at most 15 characters
        self.ns_if = f"nbjn{tag}"[:15]
        self.host_if = f"nbjh{tag}"[:15]
        # set by up(): the first free /29 at that moment
        self.ns_ip = self.host_ip = self.silent_ip = ""
        self._made_ns = False
        self._made_link = False

    @staticmethod
    def sweep() -> list[str]:
        """Delete the namespaces of labs whose process is gone (``nbrtc-janus-<pid>``): a
        run killed by a signal skips its finalizers, and its namespace would stay behind.
        Returns the names deleted."""
        gone = []
        for line in _run([IP, "netns", "list"]).splitlines():
            name = line.split()[0] if line.split() else ""
            pid = name.removeprefix("nbrtc-janus-")
            if (
                name.startswith("nbrtc-janus-")
                and pid.isdigit()
                and not Path(f"/proc/{pid}").exists()
            ):
                with contextlib.suppress(NetLabError):
                    _run([IP, "netns", "delete", name])
                    gone.append(name)
        return gone

    def up(self) -> JanusLab:
        self.sweep()
        base = _free_block(_run([IP, "-o", "-4", "addr", "show"]), os.getpid() % 32)
        self.ns_ip, self.host_ip = f"203.0.113.{base + 1}", f"203.0.113.{base + 2}"
        self.silent_ip = f"203.0.113.{base + 6}"  # in the lab's subnet, on nobody's interface
        try:
            _run([IP, "netns", "add", self.ns])
            self._made_ns = True
            _run([IP, "link", "add", self.host_if, "type", "veth",
                  "peer", "name", self.ns_if, "netns", self.ns])  # fmt: skip
            self._made_link = True
            self.run(["sh", "-c", _NO_IPV6_NS])
            # the host end: only this interface, the host's other settings stay untouched
            Path(f"/proc/sys/net/ipv6/conf/{self.host_if}/disable_ipv6").write_text("1\n")
            _run([IP, "-n", self.ns, "addr", "add", f"{self.ns_ip}/{PREFIX}", "dev", self.ns_if])
            _run([IP, "addr", "add", f"{self.host_ip}/{PREFIX}", "dev", self.host_if])
            for argv in (
                [IP, "-n", self.ns, "link", "set", self.ns_if, "up"],
                [IP, "-n", self.ns, "link", "set", "lo", "up"],
                [IP, "link", "set", self.host_if, "up"],
            ):
                _run(argv)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Delete the namespace (the veth pair goes with its end in it)."""
        errors = []
        if self._made_ns:
            self._made_ns = False
            try:
                _run([IP, "netns", "delete", self.ns])
            except NetLabError as exc:
                errors.append(str(exc))
        if self._made_link:
            self._made_link = False
            # normally gone with the namespace; a pair whose peer never moved is not
            if Path(f"/sys/class/net/{self.host_if}").exists():
                with contextlib.suppress(NetLabError):
                    _run([IP, "link", "delete", self.host_if])
        if errors:
            raise NetLabError("; ".join(errors))

    def __enter__(self) -> JanusLab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def prefix(self) -> list[str]:
        """``ip netns exec NS``: prepend to an argv to run it in the namespace."""
        return [IP, "netns", "exec", self.ns]

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> str:
        return _run([*self.prefix(), *argv], timeout=timeout)


_NO_IPV6_NS = (
    "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6;"
    " echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"
)


# ---------------------------------------------------------------------------- JanusServer


class JanusServer(ForegroundServer):
    """Debian's ``janus`` in the foreground in ``lab``'s namespace, started and stopped by
    the test (by PID), its log kept in memory and in ``workdir/janus.log``.

    ``api_secret`` (a random one by default; None for none) is required by every Janus API
    request; ``admin_secret`` by the admin API. ``session_timeout`` (seconds) is how long a
    session lives without a request. ``port_offset`` shifts every port (HTTP, admin,
    WebSocket, the RTP range) so that several servers can share the namespace.
    """

    name = "janus"

    def __init__(
        self,
        lab: JanusLab,
        workdir: Path,
        session_timeout: int = 10,
        api_secret: str | None = "",
        admin_secret: str | None = None,
        port_offset: int = 0,
    ) -> None:
        self.lab = lab
        # a second server in the same namespace takes other ports (port_offset=1, ...)
        self.http_port, self.admin_port, self.ws_port = (
            p + port_offset for p in (HTTP_PORT, ADMIN_PORT, WS_PORT)
        )
        span = RTP_RANGE[1] - RTP_RANGE[0] + 1
        self.rtp_range = (RTP_RANGE[0] + port_offset * span, RTP_RANGE[1] + port_offset * span)
        self.workdir = Path(workdir)
        self.session_timeout = session_timeout
        self.api_secret = secrets.token_urlsafe(12) if api_secret == "" else api_secret
        self.admin_secret = admin_secret or secrets.token_urlsafe(12)
        super().__init__(self.workdir / f"janus-{self.ws_port}.log")

    # --- addresses ----------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        return f"ws://{self.lab.ns_ip}:{self.ws_port}/"

    @property
    def http_url(self) -> str:
        return f"http://{self.lab.ns_ip}:{self.http_port}/janus"

    @property
    def admin_url(self) -> str:
        return f"http://{self.lab.ns_ip}:{self.admin_port}/admin"

    # --- configuration ------------------------------------------------------------------
    def write_config(self) -> Path:
        """Write the configuration folder (``workdir/conf``) and return it."""
        conf = self.workdir / f"conf-{self.ws_port}"
        conf.mkdir(parents=True, exist_ok=True)
        secret = f'\tapi_secret = "{self.api_secret}"\n' if self.api_secret else ""
        (conf / "janus.jcfg").write_text(
            "general: {\n"
            f'\tconfigs_folder = "{conf}"\n'
            f'\tplugins_folder = "{LIB / "plugins"}"\n'
            f'\ttransports_folder = "{LIB / "transports"}"\n'
            f'\tevents_folder = "{LIB / "events"}"\n'
            f'\tloggers_folder = "{LIB / "loggers"}"\n'
            "\tdebug_level = 4\n"
            '\tserver_name = "nbrtc-lab"\n'
            # no route out of the namespace: Janus's own guess would be 127.0.0.1
            f'\tinterface = "{self.lab.ns_ip}"\n'
            f"\tsession_timeout = {self.session_timeout}\n"
            "\treclaim_session_timeout = 0\n"
            f'\tadmin_secret = "{self.admin_secret}"\n'
            f"{secret}"
            "}\n"
            "media: {\n"
            "\tipv6 = false\n"
            f'\trtp_port_range = "{self.rtp_range[0]}-{self.rtp_range[1]}"\n'
            "}\n"
            "nat: {\n"
            "\tnice_debug = false\n"
            f'\tice_enforce_list = "{self.lab.ns_if}"\n'
            "}\n"
            f'plugins: {{\n\tdisable = "{_disable_all_but(LIB / "plugins", PLUGINS)}"\n}}\n'
            f'transports: {{\n\tdisable = "{_disable_all_but(LIB / "transports", TRANSPORTS)}"'
            "\n}\n"
            f'loggers: {{\n\tdisable = "{_disable_all_but(LIB / "loggers", ())}"\n}}\n'
            "events: {\n\tbroadcast = false\n}\n"
        )
        ip = self.lab.ns_ip
        (conf / "janus.transport.http.jcfg").write_text(
            'general: {\n\tjson = "compact"\n\tbase_path = "/janus"\n\thttp = true\n'
            f'\tport = {self.http_port}\n\tip = "{ip}"\n\thttps = false\n}}\n'
            'admin: {\n\tadmin_base_path = "/admin"\n\tadmin_http = true\n'
            f'\tadmin_port = {self.admin_port}\n\tadmin_ip = "{ip}"\n\tadmin_https = false\n}}\n'
        )
        (conf / "janus.transport.websockets.jcfg").write_text(
            f'general: {{\n\tjson = "compact"\n\tws = true\n\tws_port = {self.ws_port}\n'
            f'\tws_ip = "{ip}"\n\twss = false\n}}\n'
            "admin: {\n\tadmin_ws = false\n\tadmin_wss = false\n}\n"
        )
        # no rooms or mountpoints from files: tests create what they need through the API
        for plugin in ("videoroom", "streaming"):
            (conf / f"janus.plugin.{plugin}.jcfg").write_text("general: {\n}\n")
        return conf

    def argv(self, conf: Path) -> list[str]:
        return [JANUS, "-C", str(conf / "janus.jcfg"), "-F", str(conf), "-o"]

    # --- life -----------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> JanusServer:
        """Start janus; return once ``/janus/info`` answers (stop it and raise if not)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.write_config()
        self.launch([*self.lab.prefix(), *self.argv(conf)])  # `ip netns exec` execs
        self.wait_ready(self._answers, timeout, f"did not answer {self.http_url}/info")
        return self

    def _answers(self) -> bool:
        try:
            self.info(timeout=1.0)
            return True
        except (OSError, ValueError):
            return False

    def __enter__(self) -> JanusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP: info and the admin API ---------------------------------------------------------
    def info(self, timeout: float = 5.0) -> dict[str, Any]:
        """``GET /janus/info`` (no secret needed)."""
        with urllib.request.urlopen(f"{self.http_url}/info", timeout=timeout) as resp:
            return dict(json.loads(resp.read()))

    def _post_admin(self, body: dict[str, Any], path: str, timeout: float) -> dict[str, Any]:
        """POST ``body`` (with a transaction and the admin secret) to ``/admin/<path>``;
        the reply, raising ``NetLabError`` unless Janus says ``success``."""
        body = {**body, "transaction": secrets.token_hex(6), "admin_secret": self.admin_secret}
        req = urllib.request.Request(
            f"{self.admin_url}/{path}".rstrip("/"),
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            reply = dict(json.loads(resp.read()))
        if reply.get("janus") != "success":
            raise NetLabError(f"admin {body['janus']} {path}: {reply.get('error', reply)}")
        return reply

    def admin(self, request: str, path: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """POST an admin API ``request`` (to ``/admin/<path>``); the reply, checked."""
        return self._post_admin({"janus": request}, path, timeout)

    def plugin(self, plugin: str, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """A plugin request through the admin API (``message_plugin``); the plugin's data,
        e.g. ``plugin("janus.plugin.videoroom", {"request": "exists", "room": 1})``."""
        body = {"janus": "message_plugin", "plugin": plugin, "request": request}
        return dict(self._post_admin(body, "", timeout).get("response") or {})

    def room_exists(self, room: int) -> bool:
        """Whether the videoroom ``room`` exists (private ones included)."""
        data = self.plugin("janus.plugin.videoroom", {"request": "exists", "room": room})
        return bool(data.get("exists"))

    def sessions(self) -> list[int]:
        """Every live Janus session id (admin ``list_sessions``)."""
        return [int(s) for s in self.admin("list_sessions").get("sessions", [])]

    def handles(self, session: int) -> list[int]:
        """The handle ids of ``session`` (admin ``list_handles``)."""
        return [int(h) for h in self.admin("list_handles", str(session)).get("handles", [])]

    def wait_sessions(self, want: int, timeout: float) -> float:
        """Poll until exactly ``want`` sessions are live; the seconds it took (raises
        TimeoutError with the live ids when ``timeout`` passes first)."""
        t0 = time.monotonic()
        while True:
            live = self.sessions()
            if len(live) == want:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(
                    f"{len(live)} Janus sessions after {timeout} s, wanted {want}: {live}"
                )
            time.sleep(0.02)  # poll interval (bounded by timeout)


# ------------------------------------------------------- aiortc peers for a videoroom
# Plain aiortc, standing in for what part 2's widgets will do; every coroutine here runs
# on the loop that made the peers (nbrtc's media loop in the tests), with a Janus session
# (nbrtc._sfu.janus_api.JanusSession) made on that loop.

#: aiortc's default ICE servers are Google's STUN server: the lab stays offline
NO_ICE_SERVERS = RTCConfiguration(iceServers=[])


class Watcher:
    """A subscriber peer that counts the frames it decodes and notes the first one's time."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(NO_ICE_SERVERS)
        self.frames = 0
        self.first: float | None = None
        self.started = 0.0
        self.connected: float | None = None
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    def _on_state(self) -> None:
        if self.pc.connectionState == "connected" and self.connected is None:
            self.connected = time.monotonic()

    def _on_track(self, track: Any) -> None:
        async def read() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    await track.recv()
                    self.frames += 1
                    if self.first is None:
                        self.first = time.monotonic()

        asyncio.get_running_loop().create_task(read())

    @property
    def ttff(self) -> float | None:
        """Seconds from the answer to the first decoded frame."""
        return None if self.first is None else self.first - self.started

    @property
    def after_connected(self) -> float | None:
        """Seconds from ICE+DTLS up to the first decoded frame: the keyframe's own wait,
        without the connection time (which a lost DTLS flight stretches by aiortc's 1 s
        retransmission timer)."""
        if self.first is None or self.connected is None:
            return None
        return self.first - self.connected

    async def subscribe(self, session: Any, room: int, feed: int) -> None:
        handle = await session.attach("janus.plugin.videoroom")
        offer = await handle.message(
            {"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed}]}
        )
        assert offer.jsep is not None and offer.jsep["type"] == "offer", offer
        await self.pc.setRemoteDescription(RTCSessionDescription(offer.jsep["sdp"], "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.started = time.monotonic()
        started = await handle.message(
            {"request": "start"}, jsep={"type": "answer", "sdp": self.pc.localDescription.sdp}
        )
        assert started.data.get("started") == "ok", started


def assert_keyframe_on_join(watcher: Watcher) -> None:
    """A subscriber's first frame came from a keyframe asked for when it joined, not from
    the publisher's own schedule (aiortc's VP8 encoder: one keyframe per 3000 frames, 100 s).

    Measured from the subscriber's ICE+DTLS "connected", because the connection itself can
    take a second more when a DTLS flight is lost (aiortc retransmits after 1 s). The bound
    is 2 s, not the usual ~0.05 s: Janus 1.1's videoroom sends a publisher at most one PLI
    per second and defers a second request to the next second, so a join right after
    another keyframe request (a PLI from another subscriber's receiver) waits up to 1 s."""
    assert watcher.ttff is not None and watcher.after_connected is not None
    assert watcher.after_connected < 2.0, (
        f"first frame {watcher.after_connected:.3f} s after connecting: no keyframe on join"
    )
    assert watcher.ttff < 4.0, f"first frame {watcher.ttff:.3f} s after the answer"


async def publish(session: Any, room: int, pc: RTCPeerConnection) -> tuple[Any, int]:
    """Join ``room`` as a publisher and send ``pc``'s video; (handle, feed id)."""
    handle = await session.attach("janus.plugin.videoroom")
    joined = await handle.message(
        {"request": "join", "ptype": "publisher", "room": room, "display": "kernel"}
    )
    assert joined.data.get("videoroom") == "joined", joined
    await pc.setLocalDescription(await pc.createOffer())
    answer = await handle.message(
        {"request": "publish"}, jsep={"type": "offer", "sdp": pc.localDescription.sdp}
    )
    assert answer.jsep is not None and answer.jsep["type"] == "answer", answer
    await pc.setRemoteDescription(RTCSessionDescription(answer.jsep["sdp"], "answer"))
    return handle, int(joined.data["id"])


async def until(predicate: Any, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)  # poll interval (bounded by timeout)
    return time.monotonic() - t0


# ------------------------------------------------ a streaming mountpoint and its RTP feed

#: the RTP sender's picture: the left half one colour, the right half another, and a white
#: 16x16 square moving along the bottom (so consecutive frames differ)
LEFT_RGB, RIGHT_RGB = (220, 30, 30), (30, 30, 220)
#: the RTP payload type the sender uses and the mountpoint expects (PyAV's rtp muxer: 96)
VP8_PT = 96

_RTP_SENDER = """
import fractions, sys, time
import av, numpy as np
host, port, w, h, fps = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:6])
out = av.open(f"rtp://{host}:{port}", "w", format="rtp")
st = out.add_stream("libvpx", rate=fps)
st.width, st.height, st.pix_fmt = w, h, "yuv420p"
# a keyframe every half second: nothing asks this sender for one when a viewer joins
st.codec_context.gop_size = max(1, fps // 2)
st.options = {"deadline": "realtime", "cpu-used": "8", "b": "600k"}
img = np.zeros((h, w, 3), np.uint8)
img[:, : w // 2], img[:, w // 2 :] = LEFT, RIGHT
t0, n = time.monotonic(), 0
print("sending", flush=True)
while True:
    f = img.copy()
    x = (n * 4) % (w - 16)
    f[h - 20 : h - 4, x : x + 16] = 255
    vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p")
    vf.pts, vf.time_base = n, fractions.Fraction(1, fps)
    for packet in st.encode(vf):
        out.mux(packet)
    n += 1
    time.sleep(max(0.0, t0 + n / fps - time.monotonic()))  # pace: frames at the camera's rate
"""


class RtpSender(ForegroundServer):
    """A VP8 RTP sender (PyAV's ``rtp`` muxer, in a Python process of its own) inside
    ``lab``'s namespace, sending ``width`` x ``height`` at ``fps`` to ``ns_ip:port`` (a
    streaming mountpoint's port) until stopped by its PID. The picture: LEFT_RGB | RIGHT_RGB
    halves and a moving white square at the bottom."""

    name = "rtp-sender"

    def __init__(
        self, lab: JanusLab, workdir: Path, port: int, width: int = 320, height: int = 240,
        fps: int = 30,
    ) -> None:  # fmt: skip
        self.lab, self.port = lab, port
        self.size, self.fps = (width, height), fps
        super().__init__(Path(workdir) / f"rtp-sender-{port}.log")

    def start(self, timeout: float = 15.0) -> RtpSender:
        script = f"LEFT, RIGHT = {LEFT_RGB}, {RIGHT_RGB}\n{_RTP_SENDER}"
        argv = [sys.executable, "-c", script, self.lab.ns_ip, str(self.port),
                str(self.size[0]), str(self.size[1]), str(self.fps)]  # fmt: skip
        self.launch([*self.lab.prefix(), *argv])  # `ip netns exec` execs: the PID is python's
        self.wait_ready(
            lambda: any(ln.text == "sending" for ln in self.lines()), timeout, "did not start"
        )
        return self

    def __enter__(self) -> RtpSender:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_mountpoint(server: JanusServer, mountpoint: int, port: int) -> None:
    """Create a live RTP mountpoint ``mountpoint`` (VP8, payload VP8_PT, one video stream
    listening on ``ns_ip:port``) through the streaming plugin's API."""
    data = server.plugin(
        "janus.plugin.streaming",
        {
            "request": "create",
            "type": "rtp",
            "id": mountpoint,
            "description": f"nbrtc test {mountpoint}",
            "media": [{"type": "video", "mid": "v", "port": port, "pt": VP8_PT, "codec": "vp8"}],
        },
    )
    if data.get("streaming") != "created":
        raise NetLabError(f"creating mountpoint {mountpoint} failed: {data}")


def destroy_mountpoint(server: JanusServer, mountpoint: int) -> None:
    """Destroy ``mountpoint`` (its viewers get ``stopped``, then a hangup)."""
    data = server.plugin("janus.plugin.streaming", {"request": "destroy", "id": mountpoint})
    if data.get("streaming") != "destroyed":
        raise NetLabError(f"destroying mountpoint {mountpoint} failed: {data}")


def mountpoint_exists(server: JanusServer, mountpoint: int) -> bool:
    data = server.plugin("janus.plugin.streaming", {"request": "info", "id": mountpoint})
    return data.get("streaming") == "info"
