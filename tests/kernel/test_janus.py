"""``nbrtc.Janus`` against a real Janus (Debian's janus 1.1.2) in a namespace of its own.

Marker ``janus`` (``pytest -m janus tests/kernel/test_janus.py``; root). The module's
``janus_server`` runs one Janus (tests/lab/janus.py: videoroom and streaming plugins only,
WebSocket and HTTP transports on the lab's address, ``session_timeout`` = SESSION_TIMEOUT s, an
API secret) for every test here; the admin API counts sessions independently of nbrtc.

Every wait polls to a deadline. Figures (timings, time to first frame) are printed (-s).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection, VideoStreamTrack

import nbrtc
from lab import janus as jl
from nbrtc._sfu.janus_api import JanusSession
from nbrtc._sfu.janus_words import STREAMING, VIDEOROOM

from ._browser import assert_holds, wait_for

# SESSION_TIMEOUT: the lab server's session_timeout (short, so timing tests stay short);
# END_MARGIN: how long after it Janus may take to end a silent session. The fixtures
# (janus_server, server) are the kernel tests' shared ones (_janus.py, via conftest).
from ._janus import END_MARGIN, SESSION_TIMEOUT

pytestmark = pytest.mark.janus


def media_run(coro: Any, timeout: float = 10.0) -> Any:
    return nbrtc.manager().media.run(coro, timeout)


def url_of(server: jl.JanusServer, transport: str) -> str:
    return server.ws_url if transport == "ws" else server.http_url


def client(server: jl.JanusServer, transport: str = "ws", **kw: Any) -> nbrtc.Janus:
    kw.setdefault("api_secret", server.api_secret)
    return nbrtc.Janus(url_of(server, transport), **kw)


# ----------------------------------------------------------------------------- basics


@pytest.mark.parametrize("transport", ["ws", "http"])
def test_info_names_the_plugins(server: jl.JanusServer, transport: str) -> None:
    with client(server, transport) as janus:
        t0 = time.monotonic()
        info = janus.info()
        took = time.monotonic() - t0
        assert "connected" in repr(janus)
        assert asyncio.run(janus.info_async()) == info  # the twin, from another event loop
    print(f"\n{transport}: info() {took * 1000:.0f} ms (connect + one request)")
    assert info.plugins == (STREAMING, VIDEOROOM)
    assert info.transports == ("janus.transport.http", "janus.transport.websockets")
    assert info.session_timeout == SESSION_TIMEOUT
    assert info.version == "1.1.2" and info.server_name == "nbrtc-lab"
    assert info.api_secret is True


def test_bad_arguments_fail_at_construction() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"url": "tcp://h:8188"}, "url must start with ws://"),
        ({"url": "ws://:8188/"}, "url has no host"),
        ({"url": "ws://h/", "timeout": 0}, "timeout must be"),
        ({"url": "ws://h/", "keepalive": float("nan")}, "keepalive must be"),
        ({"url": "ws://h/", "api_secret": 42}, "api_secret must be"),
        ({"url": "ws://h/", "token": ""}, "token must be"),
    ]
    for kwargs, words in cases:
        url = kwargs.pop("url")
        with pytest.raises(ValueError, match=words):
            nbrtc.Janus(url, **kwargs)


def test_aiohttp_is_imported_only_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp is the optional ``janus`` extra: ``import nbrtc`` does not need it, and a
    Janus without it says what to install when it is first used."""
    code = "import sys, nbrtc; nbrtc.Janus('ws://h/'); print('aiohttp' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.stdout.strip() == "False", out.stderr[-2000:]
    monkeypatch.setitem(sys.modules, "aiohttp", None)  # as if it were not installed
    with nbrtc.Janus("ws://127.0.0.1:9/") as janus, pytest.raises(ImportError) as err:
        janus.info()
    assert "pip install 'nbrtc[janus]'" in str(err.value)


# ------------------------------------------------------------------------ keep-alive


# slow: waits out twice Janus's session timeout (~12 s)
@pytest.mark.slow
def test_keepalive_keeps_the_session_past_twice_the_timeout(server: jl.JanusServer) -> None:
    """A session with nbrtc's keep-alive (default: session_timeout / 3) outlives 2x the
    server's session_timeout; the control, a session whose keep-alive is far too slow,
    is timed out by the server within that window (so the test can fail)."""
    with client(server) as kept, client(server, keepalive=600) as starved:
        live: JanusSession = media_run(kept.session_async())
        dying: JanusSession = media_run(starved.session_async())
        assert sorted(server.sessions()) == sorted([live.id, dying.id])
        t0 = time.monotonic()
        starved_gone_at = None

        def kept_alive() -> bool:
            """The kept session is there; notes when the starved one went."""
            nonlocal starved_gone_at
            now = server.sessions()
            if starved_gone_at is None and dying.id not in now:
                starved_gone_at = time.monotonic() - t0
            return live.id in now

        assert_holds(kept_alive, 2 * SESSION_TIMEOUT, "the kept session", interval=0.25)
        assert starved_gone_at is not None, "the session without keep-alive never timed out"
        # the server's timeout reaches nbrtc's side too: the session says it ended
        wait_for(lambda: dying.end is not None, 3, what="the starved session's end")
        print(
            f"\nkept alive {2 * SESSION_TIMEOUT} s; the starved session ended after "
            f"{starved_gone_at:.1f} s (session_timeout {SESSION_TIMEOUT} s)"
        )


def test_http_long_poll_keeps_its_session(server: jl.JanusServer) -> None:
    """Over HTTP, events arrive by long poll and the session stays alive past the timeout."""
    with client(server, "http") as janus:
        session: JanusSession = media_run(janus.session_async())
        media_run(session.attach(VIDEOROOM))
        assert_holds(
            lambda: session.id in server.sessions(),
            SESSION_TIMEOUT + 2,
            "the long-polled session",
            interval=0.5,
        )
        assert len(server.handles(session.id)) == 1
    assert server.sessions() == []


# ------------------------------------------------------------------------------ close


@pytest.mark.parametrize("transport", ["ws", "http"])
def test_close_leaves_zero_sessions(server: jl.JanusServer, transport: str) -> None:
    janus = client(server, transport)
    sessions = [media_run(janus.session_async()) for _ in range(3)]
    for s in sessions:
        media_run(s.attach(VIDEOROOM))
        media_run(s.attach(STREAMING))
    assert sorted(server.sessions()) == sorted(s.id for s in sessions)
    assert all(len(server.handles(s.id)) == 2 for s in sessions)
    t0 = time.monotonic()
    janus.close()
    took = time.monotonic() - t0
    left = server.sessions()  # at once: close() returns after Janus confirmed each destroy
    print(f"\n{transport}: close() of 3 sessions x 2 handles: {took * 1000:.0f} ms")
    assert left == [], left
    assert took < 1.5
    janus.close()  # twice is fine
    assert janus.closed and "closed" in repr(janus)
    with pytest.raises(nbrtc.JanusError, match="is closed"):
        janus.info()


def test_close_from_the_media_thread_does_not_wait(server: jl.JanusServer) -> None:
    janus = client(server)
    media_run(janus.session_async())

    async def close_here() -> None:
        janus.close()  # on the media thread: schedules the teardown, returns at once

    media_run(close_here())
    server.wait_sessions(0, 2)


def test_blocking_info_on_the_media_thread_raises_in_words(server: jl.JanusServer) -> None:
    with client(server) as janus:

        async def info_here() -> None:
            janus.info()

        with pytest.raises(RuntimeError, match="info_async"):
            media_run(info_here())


def test_kernel_shutdown_closes_it(server: jl.JanusServer) -> None:
    """The manager's shutdown (the kernel's exit) closes every Janus it knows, while the
    media thread still runs, so the server hears the destroy."""
    janus = client(server)
    session = media_run(janus.session_async())
    assert server.sessions() == [session.id]
    nbrtc.manager().shutdown()
    assert janus.closed
    assert server.sessions() == []


def test_garbage_collection_closes_it(server: jl.JanusServer) -> None:
    janus = client(server)
    media_run(janus.session_async())
    assert len(server.sessions()) == 1
    del janus
    gc.collect()
    took = server.wait_sessions(0, 2)
    print(f"\nsessions gone {took * 1000:.0f} ms after the last reference")


def test_hundred_open_close_cycles_leave_zero_sessions(server: jl.JanusServer) -> None:
    t0 = time.monotonic()
    for _ in range(100):
        with client(server) as janus:
            session = media_run(janus.session_async())
            media_run(session.attach(VIDEOROOM))
    took = time.monotonic() - t0
    print(f"\n100 cycles (connect, session, attach, close): {took:.2f} s")
    assert server.sessions() == []


# ------------------------------------------------------------------------------ errors


def test_unreachable_port_is_an_error_in_words_within_a_second(server: jl.JanusServer) -> None:
    url = f"ws://{server.lab.ns_ip}:8199/"  # the namespace has nothing on 8199: refused at once
    janus = nbrtc.Janus(url)
    t0 = time.monotonic()
    with pytest.raises(nbrtc.JanusError) as err:
        janus.info()
    took = time.monotonic() - t0
    print(f"\nrefused: {took * 1000:.0f} ms: {err.value}")
    assert took < 1.0
    assert url in str(err.value) and "connection refused" in str(err.value)
    assert err.value.code is None
    janus.close()


def test_silent_address_times_out_in_words(server: jl.JanusServer) -> None:
    # silent_ip is on the lab's link (up while the module's server runs) but nobody has
    # it: no answer, no refusal
    janus = nbrtc.Janus(f"ws://{server.lab.silent_ip}:8188/", timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(nbrtc.JanusError, match=r"no answer within 0\.5 s"):
        janus.info()
    assert time.monotonic() - t0 < 1.5
    janus.close()


@pytest.mark.parametrize("port", [jl.HTTP_PORT, jl.ADMIN_PORT])
def test_not_janus_api_is_an_error_in_words(server: jl.JanusServer, port: int) -> None:
    """A WebSocket URL pointing at an HTTP server (Janus's own REST and admin ports)."""
    with (
        nbrtc.Janus(f"ws://{server.lab.ns_ip}:{port}/", timeout=2) as janus,
        pytest.raises(nbrtc.JanusError, match="is not a Janus API"),
    ):
        janus.info()


def test_missing_plugin_is_an_error_in_words(server: jl.JanusServer) -> None:
    with client(server) as janus:
        session = media_run(janus.session_async())
        with pytest.raises(nbrtc.JanusError) as err:
            media_run(session.attach("janus.plugin.echotest"))
        assert err.value.code == 460
        assert "this Janus" in str(err.value) and "has no janus.plugin.echotest" in str(err.value)
        assert "enable it" in str(err.value)


def test_wrong_or_missing_secret_is_unauthorized_and_never_shown(
    server: jl.JanusServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nbrtc")
    wrong = "not-the-secret-" + "x" * 8
    for kwargs in ({"api_secret": wrong}, {"api_secret": None}):
        with nbrtc.Janus(server.ws_url, **kwargs) as janus:
            janus.info()  # info needs no secret
            with pytest.raises(nbrtc.JanusError) as err:
                media_run(janus.session_async())
            assert err.value.code == 403 and "api_secret" in str(err.value)
            assert wrong not in str(err.value) and wrong not in repr(janus)
    with client(server) as janus:  # the right one: requests are logged, the secret is not
        media_run(janus.session_async())
        assert server.api_secret not in repr(janus)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert '"janus": "create"' in text  # the requests were logged ...
    assert server.api_secret not in text and wrong not in text  # ... without credentials


def test_videoroom_errors_in_words(server: jl.JanusServer) -> None:
    with client(server) as janus:
        session = media_run(janus.session_async())
        handle = media_run(session.attach(VIDEOROOM))
        with pytest.raises(nbrtc.JanusError, match="no such room") as err:
            media_run(handle.message({"request": "join", "ptype": "publisher", "room": 4242}))
        assert err.value.code == 426
        room = media_run(handle.message({"request": "create", "publishers": 1})).data["room"]
        sub = media_run(session.attach(VIDEOROOM))
        join = {"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": 9}]}
        with pytest.raises(nbrtc.JanusError, match="publisher is gone") as err:
            media_run(sub.message(join))
        assert err.value.code == 428
        media_run(handle.message({"request": "destroy", "room": room}))


def test_session_gone_on_the_server_is_an_error_in_words(server: jl.JanusServer) -> None:
    with client(server, keepalive=600) as janus:
        session = media_run(janus.session_async())
        server.wait_sessions(0, SESSION_TIMEOUT + END_MARGIN + 1)  # the server times it out
        wait_for(lambda: session.end is not None, 3, what="the session's end")
        with pytest.raises(nbrtc.JanusError) as err:
            media_run(session.attach(VIDEOROOM))
        assert err.value.code == 458 and "has ended" in str(err.value)


# ---------------------------------------------------------------------- a killed kernel

CHILD = """
import sys, time, nbrtc
janus = nbrtc.Janus(sys.argv[1], api_secret=sys.argv[2])
session = nbrtc.manager().media.run(janus.session_async(), 10)
print(session.id, flush=True)
time.sleep(60)  # scenario: the child holds its session until the test kills it
"""


# slow: waits out Janus's session timeout (~11 s per transport)
@pytest.mark.slow
@pytest.mark.parametrize("transport", ["ws", "http"])
def test_killed_client_session_ends_within_the_session_timeout(
    server: jl.JanusServer, transport: str
) -> None:
    """A kernel killed with SIGKILL closes nothing itself: over a WebSocket Janus ends the
    session as soon as the socket closes (reclaim_session_timeout 0); over HTTP when its
    keep-alives stop, within session_timeout + END_MARGIN (Janus's watchdog tick)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, url_of(server, transport), server.api_secret or ""],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded by the child's own 10 s request timeout
        assert line.strip().isdigit(), f"child printed {line!r}"
        sid = int(line)
        assert sid in server.sessions()
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        t0 = time.monotonic()
        server.wait_sessions(0, SESSION_TIMEOUT + 6)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
    print(f"\n{transport}: Janus ended the killed client's session {took:.2f} s after SIGKILL")
    assert took <= SESSION_TIMEOUT + END_MARGIN
    if transport == "ws":
        assert took < 1.0  # the socket closed with the process


# --------------------------------------------------- media through the videoroom (aiortc)


def test_videoroom_publish_and_late_subscriber_get_frames(server: jl.JanusServer) -> None:
    """An aiortc peer publishes a VideoStreamTrack into a room the test creates through
    the client; a subscriber receives its frames, and one that joins 2 s later gets its
    first frame at once (typically 0.03 s after connecting; see ``assert_keyframe_on_join``
    for the bound). aiortc's VP8 encoder makes a keyframe only every 3000 frames
    (100 s), so that is Janus asking the publisher for one (PLI) when a subscriber starts,
    and aiortc's sender answering it. Closing the publisher's peer reaches its handle as
    a ``hangup`` event."""
    janus = client(server)
    figures: dict[str, float] = {}

    async def peers() -> tuple[RTCPeerConnection, jl.Watcher, jl.Watcher]:
        # aiortc binds its senders to the loop running when they are made: make them here
        publisher = RTCPeerConnection(jl.NO_ICE_SERVERS)
        publisher.addTrack(VideoStreamTrack())
        return publisher, jl.Watcher(), jl.Watcher()

    publisher, early, late = media_run(peers())
    pub_events: list[str] = []

    async def scenario() -> None:
        session = await janus.session_async()
        admin = await session.attach(VIDEOROOM)
        created = await admin.message({"request": "create", "publishers": 2})
        room = int(created.data["room"])
        pub, feed = await jl.publish(session, room, publisher)
        await pub.trickle(None)  # end-of-candidates (aiortc's offer carried them all)

        def saw(kind: str) -> Any:
            def check() -> bool:
                while not pub.events.empty():
                    pub_events.append(pub.events.get_nowait().kind)
                return kind in pub_events

            return check

        figures["webrtcup"] = await jl.until(saw("webrtcup"), 10, "the publisher's webrtcup")
        await early.subscribe(session, room, feed)
        await jl.until(lambda: early.first is not None, 10, "the first subscriber's first frame")
        await jl.until(lambda: early.frames >= 60, 10, "2 s of frames at the first subscriber")
        await late.subscribe(session, room, feed)
        await jl.until(lambda: late.first is not None, 5, "the late subscriber's first frame")
        await publisher.close()
        figures["hangup"] = await jl.until(saw("hangup"), 5, "the publisher handle's hangup")
        await admin.message({"request": "destroy", "room": room})

    try:
        media_run(scenario(), timeout=40)
    finally:
        for pc in (publisher, early.pc, late.pc):
            media_run(pc.close())
        janus.close()
    assert early.ttff is not None and late.ttff is not None
    print(
        f"\npublisher webrtcup {figures['webrtcup']:.2f} s after its answer; TTFF (from the "
        f"subscriber's answer): first subscriber {early.ttff:.3f} s, late subscriber "
        f"{late.ttff:.3f} s ({late.after_connected:.3f} s after it connected); hangup "
        f"{figures['hangup']:.2f} s after close; publisher handle's events: {pub_events}"
    )
    jl.assert_keyframe_on_join(late)
    assert server.sessions() == []


def test_detach_is_seen_by_the_server_and_idempotent(server: jl.JanusServer) -> None:
    with client(server) as janus:
        session = media_run(janus.session_async())
        handle = media_run(session.attach(STREAMING))
        assert server.handles(session.id) == [handle.id]
        media_run(handle.detach())
        media_run(handle.detach())
        assert server.handles(session.id) == []
        assert handle.id not in session.handles


def test_server_that_dies_ends_sessions_in_words(
    janus_server: jl.JanusServer, tmp_path: Path
) -> None:
    """A second Janus in the lab namespace is killed (SIGKILL) under a live session: its
    handle hears ``closed``, the session ends and says so; the next call reconnects (in
    words while the server is down, a new session once it is back); close() is quick."""
    doomed = jl.JanusServer(janus_server.lab, tmp_path, SESSION_TIMEOUT, port_offset=1)
    with doomed:
        janus = nbrtc.Janus(doomed.ws_url, api_secret=doomed.api_secret)
        session = media_run(janus.session_async())
        handle = media_run(session.attach(VIDEOROOM))
        assert doomed.proc is not None
        doomed.proc.send_signal(signal.SIGKILL)
        event = media_run(handle.next_event(5))
        assert event.kind == "closed", event
        assert session.end is not None
        with pytest.raises(nbrtc.JanusError, match="has ended"):
            media_run(session.attach(VIDEOROOM))
        # the next call connects again: refused while the server is down ...
        with pytest.raises(nbrtc.JanusError, match="connection refused"):
            media_run(janus.session_async())
        # ... and a working session once it is back (its old sessions are gone with it)
        doomed.stop()
        doomed.start()
        again = media_run(janus.session_async())
        assert doomed.sessions() == [again.id]
        t0 = time.monotonic()
        janus.close()
        assert time.monotonic() - t0 < 0.5
        assert doomed.sessions() == []
