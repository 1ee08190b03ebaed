"""A real ICE restart between Chromium and aiortc, with ``nbrtc._transport.ice_restart``.

No JupyterLab: ``raw_peer.RawPeer`` runs an aiohttp server and one aiortc answerer on its
own loop thread inside the pytest process, so the test inspects the aioice connection
directly. Only the session ``browser`` fixture of conftest.py is used (it launches Debian
Chromium; ``jupyter_server`` is not requested, so no JupyterLab starts).

The unit tests at the top need no browser: SDP parsing, ``needs_restart``, and the whole
restart state machine driven with crafted STUN requests through a fake socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aioice.ice
import pytest
from aioice import stun
from aioice.candidate import Candidate
from aioice.ice import CandidatePair
from aiortc import (
    RTCConfiguration,
    RTCIceCandidate,
    RTCPeerConnection,
    RTCSessionDescription,
)

from lab import jupyter as h
from lab.sockets import own_sockets
from nbrtc._transport import ice_restart as _ice_restart

from .raw_peer.server import RawPeer

# --- canned SDP ---------------------------------------------------------------------------
_FINGERPRINT = ":".join(["AB"] * 32)
OFFER = f"""v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=msid-semantic: WMS
m=video 9 UDP/TLS/RTP/SAVPF 96
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:AbCd
a=ice-pwd:0123456789abcdefghijklmn
a=ice-options:trickle
a=fingerprint:sha-256 {_FINGERPRINT}
a=setup:actpass
a=mid:0
a=sendrecv
a=msid:- track0
a=rtcp-mux
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=ssrc:1111 cname:test
""".replace("\n", "\r\n")
OFFER_RESTART = OFFER.replace("ice-ufrag:AbCd", "ice-ufrag:EfGh").replace(
    "ice-pwd:0123456789abcdefghijklmn", "ice-pwd:nmlkjihgfedcba9876543210"
)
OFFER_NO_CREDS = re.sub(r"a=ice-(ufrag|pwd):[^\r\n]*\r\n", "", OFFER)


def _ufrag(sdp: str) -> str:
    m = re.search(r"a=ice-ufrag:(\S+)", sdp)
    assert m, sdp
    return m.group(1)


def _pwd(sdp: str) -> str:
    m = re.search(r"a=ice-pwd:(\S+)", sdp)
    assert m, sdp
    return m.group(1)


def _run_on_thread(main: Callable[[], Coroutine[Any, Any, None]], timeout: float = 30) -> None:
    """Run ``main()`` with asyncio.run in a thread of its own.

    Playwright's sync API leaves a loop marked running in the main thread (conftest.py),
    so asyncio.run() cannot be used there once a browser test ran.
    """
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="ice-restart-unit")
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "unit test loop did not finish"
    if errors:
        raise errors[0]


async def _until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)  # poll interval


# --- unit tests -----------------------------------------------------------------------------
def test_remote_ice_credentials() -> None:
    assert _ice_restart.remote_ice_credentials(OFFER) == ("AbCd", "0123456789abcdefghijklmn")
    assert _ice_restart.remote_ice_credentials(OFFER_NO_CREDS) is None
    session_level = "v=0\na=ice-ufrag:sess\na=ice-pwd:sessionpassword0123456789\nm=video 9 X 96\n"
    assert _ice_restart.remote_ice_credentials(session_level) == (
        "sess",
        "sessionpassword0123456789",
    )
    # Media level overrides session level; only the first media section counts.
    mixed = session_level + "a=ice-ufrag:med1\nm=audio 9 X 0\na=ice-ufrag:med2\n"
    assert _ice_restart.remote_ice_credentials(mixed) == ("med1", "sessionpassword0123456789")
    assert _ice_restart.remote_ice_credentials("v=0\na=ice-ufrag:only\n") is None


def test_check_supported(monkeypatch) -> None:
    _ice_restart.check_supported()  # the pinned aioice/aiortc have what it needs
    monkeypatch.setattr(_ice_restart, "_supported", False)
    monkeypatch.delattr(aioice.ice.Connection, "query_consent")
    with pytest.raises(RuntimeError, match=r"Connection\.query_consent"):
        _ice_restart.check_supported()


class _FakeProtocol:
    """Stands for an aioice StunProtocol (one local socket): records what aioice sends."""

    def __init__(self, local_candidate: Candidate) -> None:
        self.local_candidate = local_candidate
        self.sent: list[tuple[stun.Message, tuple[str, int]]] = []
        self.requests: list[tuple[stun.Message, tuple[str, int], bytes | None]] = []

    def send_stun(self, message: stun.Message, addr: tuple[str, int]) -> None:
        self.sent.append((stun.parse_message(bytes(message)), addr))

    async def request(
        self,
        request: stun.Message,
        addr: tuple[str, int],
        integrity_key: bytes | None = None,
        retransmissions: int | None = None,
    ) -> tuple[stun.Message, tuple[str, int]]:
        self.requests.append((request, addr, integrity_key))
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        return response, addr

    async def send_data(self, data: bytes, addr: tuple[str, int]) -> None:
        pass


def _check(username: str, password: str, *, nominate: bool) -> stun.Message:
    """A browser's connectivity check (controlling side), as received from the wire."""
    msg = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    msg.attributes["USERNAME"] = username
    msg.attributes["PRIORITY"] = 1853817087
    msg.attributes["ICE-CONTROLLING"] = 1234
    if nominate:
        msg.attributes["USE-CANDIDATE"] = None
    msg.add_message_integrity(password.encode("utf8"))
    return stun.parse_message(bytes(msg))


def test_needs_restart_and_restart_state_machine() -> None:
    """needs_restart on canned SDP, then restart() through crafted STUN, no browser."""

    async def main() -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            assert not _ice_restart.needs_restart(pc, OFFER)  # no transport yet
            await pc.setRemoteDescription(RTCSessionDescription(OFFER, "offer"))
            # Not started yet: compared with the remote description in place.
            assert not _ice_restart.needs_restart(pc, OFFER)
            assert _ice_restart.needs_restart(pc, OFFER_RESTART)
            assert not _ice_restart.needs_restart(pc, OFFER_NO_CREDS)
            await pc.setLocalDescription(await pc.createAnswer())
            transport = pc.getTransceivers()[0].receiver.transport.transport
            conn = transport._connection
            await _until(lambda: conn.remote_username == "AbCd")
            assert not _ice_restart.needs_restart(pc, OFFER)
            assert _ice_restart.needs_restart(pc, OFFER_RESTART)
            gen0_local = _ufrag(pc.localDescription.sdp)
            gen0_pwd = _pwd(pc.localDescription.sdp)

            # Generation 0: the "browser" checks and nominates a pair (learned as
            # peer-reflexive) through a fake socket; aioice completes.
            sock = _FakeProtocol(conn.local_candidates[0])
            old_addr = ("192.0.2.50", 50000)
            conn.request_received(
                _check(f"{gen0_local}:AbCd", gen0_pwd, nominate=True), old_addr, sock
            )
            await _until(lambda: transport.state == "completed")
            old_pair = conn._nominated[1]
            assert old_pair.remote_addr == old_addr
            await pc.addIceCandidate(None)  # end-of-candidates for generation 0
            assert conn._query_consent_task is not None

            info = await _ice_restart.restart(pc, OFFER_RESTART)
            assert set(info) == {
                "old_local_ufrag",
                "new_local_ufrag",
                "old_remote_ufrag",
                "new_remote_ufrag",
            }
            assert info["old_local_ufrag"] == gen0_local
            assert info["old_remote_ufrag"] == "AbCd"
            assert info["new_remote_ufrag"] == "EfGh"
            new_local = info["new_local_ufrag"]
            assert new_local != gen0_local and len(new_local) == _ice_restart.UFRAG_LENGTH
            assert conn.local_password not in json.dumps(info)
            # Make-before-break: the data path is untouched, consent paused.
            assert conn._nominated[1] is old_pair
            assert conn._query_consent_task is None

            await pc.setRemoteDescription(RTCSessionDescription(OFFER_RESTART, "offer"))
            answer = await pc.createAnswer()
            assert _ufrag(answer.sdp) == new_local
            new_pwd = _pwd(answer.sdp)
            assert new_pwd == conn.local_password != gen0_pwd
            assert len(new_pwd) == _ice_restart.PASSWORD_LENGTH
            await pc.setLocalDescription(answer)
            # A consent check would now carry the new remote credentials (it would be
            # "AbCd:<old>" signed with the old password without the restart).
            consent = conn.build_request(old_pair, nominate=False)
            assert consent.attributes["USERNAME"] == f"EfGh:{new_local}"
            assert conn.remote_password == "nmlkjihgfedcba9876543210"

            # The old generation is still answered (browser keepalive/consent on the old
            # pair) with the old password; a wrong password is refused.
            conn.request_received(
                _check(f"{gen0_local}:AbCd", gen0_pwd, nominate=False), old_addr, sock
            )
            reply, _ = sock.sent[-1]
            assert reply.message_class == stun.Class.RESPONSE
            assert reply.check_message_integrity(gen0_pwd.encode())
            conn.request_received(
                _check(f"{new_local}:EfGh", gen0_pwd, nominate=False), old_addr, sock
            )
            assert sock.sent[-1][0].message_class == stun.Class.ERROR

            # A trickled candidate of the new generation is accepted after end-of-candidates.
            new_addr = ("192.0.2.50", 50002)
            await pc.addIceCandidate(
                RTCIceCandidate(
                    component=1,
                    foundation="2",
                    ip=new_addr[0],
                    port=new_addr[1],
                    priority=2122260223,
                    protocol="udp",
                    type="host",
                    sdpMid="0",
                )
            )
            assert any(c.port == new_addr[1] for c in conn.remote_candidates)

            # The new generation's check: answered with the new password, triggers a
            # check back signed with the browser's new password; no nomination yet.
            sock.requests.clear()
            conn.request_received(
                _check(f"{new_local}:EfGh", new_pwd, nominate=False), new_addr, sock
            )
            reply, _ = sock.sent[-1]
            assert reply.message_class == stun.Class.RESPONSE
            assert reply.check_message_integrity(new_pwd.encode())
            await _until(lambda: bool(sock.requests))
            request, addr, key = sock.requests[-1]
            assert addr == new_addr
            assert request.attributes["USERNAME"] == f"EfGh:{new_local}"
            assert key == b"nmlkjihgfedcba9876543210"
            # The check back is answered (the fake socket does at once) and completes:
            # where a successful check would nominate, it has now had its chance.
            [new_pair] = [
                p for p in conn._check_list if p.protocol is sock and p.remote_addr == new_addr
            ]
            await _until(
                lambda: new_pair.state == CandidatePair.State.SUCCEEDED and new_pair.task is None
            )
            assert not new_pair.nominated
            assert conn._nominated[1] is old_pair  # not nominated: still the old path
            assert await _ice_restart.wait_restart_complete(pc, timeout=0.05) is None

            # USE-CANDIDATE: the new pair becomes the data path, the old credentials are
            # dropped and consent runs again.
            conn.request_received(
                _check(f"{new_local}:EfGh", new_pwd, nominate=True), new_addr, sock
            )
            await _until(lambda: conn._nominated[1].remote_addr == new_addr)
            selected = await _ice_restart.wait_restart_complete(pc, timeout=1)
            assert selected is not None and selected["remote"].endswith(":50002")
            assert conn._query_consent_task is not None
            assert not conn._query_consent_task.done()
            conn.request_received(
                _check(f"{gen0_local}:AbCd", gen0_pwd, nominate=False), old_addr, sock
            )
            assert sock.sent[-1][0].message_class == stun.Class.ERROR
            assert not _ice_restart.needs_restart(pc, OFFER_RESTART)
        finally:
            await pc.close()
        assert conn._closed

    _run_on_thread(main)


# --- browser test ---------------------------------------------------------------------------
FPS = 15  # page.html asks the fake camera for 320x240 at 15 fps: cheap to decode/encode
CONSENT_INTERVAL = 0.5
# Longer than Chromium's ping interval on a stable selected pair (2.5 s), so the browser
# checks the old pair while the kernel already has the new credentials.
SLOW_ANSWER = 3.0
# With wrong credentials aioice closes after CONSENT_FAILURES failed consent checks, each
# a sleep of up to 1.2 x CONSENT_INTERVAL plus a transaction timeout of stun.RETRY_RTO
# (Chromium's 401 is unsigned, so aioice ignores it and waits): ~6 s, at most 6.6 s here.
CONSENT_WINDOW = aioice.ice.CONSENT_FAILURES * (1.2 * CONSENT_INTERVAL + stun.RETRY_RTO)


def _udp_inodes() -> set[str]:
    """Inodes of the UDP sockets this process holds (Linux)."""
    return own_sockets(("udp", "udp6"))


def _wait(what: str, predicate: Callable[[], Any], timeout: float, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)  # poll interval


def _max_gap(times: list[float], start: float, end: float) -> float:
    """Longest interval without a frame within [start, end] (the bounds count as edges)."""
    inside = [t for t in times if start <= t <= end]
    edges = [start, *inside, end]
    return max(b - a for a, b in itertools.pairwise(edges))


def _empty_bins(times: list[float], start: float, end: float, width: float = 0.1) -> int:
    """Longest run of ``width``-second bins without a frame in [start, end)."""
    n = int((end - start) / width)
    counts = [0] * n
    for t in times:
        i = int((t - start) / width)
        if 0 <= i < n:
            counts[i] += 1
    longest = run = 0
    for c in counts:
        run = run + 1 if c == 0 else 0
        longest = max(longest, run)
    return longest


@pytest.mark.timeout(120)
def test_ice_restart_in_chromium(browser, monkeypatch) -> None:
    # Consent every 0.5 s (x0.8..1.2), still closing after CONSENT_FAILURES misses: a
    # restart that left consent with the wrong credentials would close within CONSENT_WINDOW.
    if not aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True):
        # aioice leaves loopback out (nbrtc's _ice.py adds it for nbrtc's own peers).
        pytest.skip("no non-loopback interface for aioice's host candidates")
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", CONSENT_INTERVAL)
    udp_before = _udp_inodes()
    threads_before = set(threading.enumerate())
    results: dict[str, Any] = {"consent_interval": CONSENT_INTERVAL, "fps": FPS}
    peer = RawPeer()
    context = None
    t_start = time.monotonic()
    try:
        url = peer.start()
        context = browser.new_context()
        context.grant_permissions(["camera"], origin=url.rstrip("/"))
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.goto(url)
        first_answer = page.evaluate("rawPeer.start()")

        def page_frames() -> int:
            return page.evaluate("rawPeer.frames().count")

        _wait(
            "frames both ways", lambda: len(peer.frame_times()) >= FPS and page_frames() >= 10, 20
        )
        sel0 = _wait("a selected pair", lambda: _selected(page), 10)
        assert sel0["localUfrag"] and _ufrag(first_answer["sdp"]) == sel0["remoteUfrag"]

        def get_conn() -> Any:
            assert peer.pc is not None
            return peer.pc.getTransceivers()[0].receiver.transport.transport._connection

        conn = peer.call(get_conn)
        # Generation 0 ended its candidates: the restart must get past that.
        _wait(
            "end-of-candidates of generation 0", lambda: "end-of-candidates" in peer.candidates, 5
        )
        gen0_remote = peer.call(lambda: (conn.remote_username, conn.remote_password))
        assert gen0_remote[0] == sel0["localUfrag"]
        consent_log = peer.call(_record_consent, conn)

        prev = {"sel": sel0, "answer_ufrag": _ufrag(first_answer["sdp"])}
        for n in (1, 2):
            # The second restart has slow signaling (SLOW_ANSWER s between the kernel's
            # restart() and the browser getting the answer): make-before-break must keep
            # media on the old pair, and answer the browser's old-generation checks.
            peer.restart_answer_delay = SLOW_ANSWER if n == 2 else 0.0
            r = _restart_and_measure(page, peer, conn, prev)
            results[f"restart{n}"] = r
            if n == 2:
                assert r["restart_to_new_pair_s"] >= SLOW_ANSWER
                assert r["old_generation_checks_answered"] >= 1
            prev = {"sel": r["sel_after"], "answer_ufrag": r["answer_ufrag"]}
            if n == 1:
                # Measurement window: consent on the new pair with the new credentials
                # must keep the connection up for longer than wrong credentials would
                # (see CONSENT_WINDOW), and media keep flowing.
                t_done = r["t_selected"]
                _wait(
                    f"{CONSENT_WINDOW:.1f} s after the restart",
                    lambda: time.monotonic() > t_done + CONSENT_WINDOW,  # noqa: B023
                    CONSENT_WINDOW + 2,
                )
                assert not conn._closed, "aioice closed the connection after the restart"
                ok = [c for c in consent_log if c["t"] > t_done and c["consent"]]
                assert len(ok) >= 5, consent_log
                assert all(c["ok"] for c in ok), ok
                assert all(
                    c["username"].startswith(r["info"]["new_remote_ufrag"] + ":") for c in ok
                )
                recent = [t for t in peer.frame_times() if t > time.monotonic() - 1]
                assert len(recent) >= FPS // 2, f"only {len(recent)} frames in the last second"
                results["consent_after_restart1"] = {"checks": len(ok), "all_ok": True}

        # Negative control: put back the first generation's remote credentials (what
        # aiortc alone would keep using): consent fails and aioice closes within
        # CONSENT_WINDOW, which the first restart's window above outlasted.
        t_wrong = time.monotonic()

        def wrong_credentials() -> None:
            conn.remote_username, conn.remote_password = gen0_remote

        peer.call(wrong_credentials)
        _wait(
            "consent to expire with the wrong credentials", lambda: conn._closed, CONSENT_WINDOW + 2
        )
        results["negative_control_close_s"] = round(time.monotonic() - t_wrong, 2)
        results["browser_candidates"] = len(peer.candidates)
        results["stale_candidates_dropped"] = len(peer.stale_candidates)
    finally:
        results["total_s"] = round(time.monotonic() - t_start, 1)
        if context is not None:
            with contextlib.suppress(Exception):
                context.pages[0].evaluate("rawPeer.close()")
            with contextlib.suppress(Exception):
                context.close()
        peer.stop()
        h.ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
        (h.ARTIFACTS_DIR / "ice_restart_raw.json").write_text(
            json.dumps(results, indent=2, default=str) + "\n"
        )

    assert not peer.errors, peer.errors
    _wait("the server's UDP sockets to close", lambda: not (_udp_inodes() - udp_before), 5)

    def new_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]

    _wait(f"the server's threads to end: {new_threads()}", lambda: not new_threads(), 5)


def _selected(page: Any) -> dict[str, Any] | None:
    sel = page.evaluate("rawPeer.selected()")
    if sel["local"] is None or sel["iceState"] not in ("connected", "completed"):
        return None
    return sel


def _record_consent(conn: Any) -> list[dict[str, Any]]:
    """Record every STUN request aioice sends (runs on the server loop).

    Wraps each socket's ``request`` on the instance; consent checks are the ones sent
    without retransmissions (aioice's query_consent).
    """
    log: list[dict[str, Any]] = []
    for protocol in conn._protocols:
        original = protocol.request

        async def request(msg, addr, integrity_key=None, retransmissions=None, _orig=original):
            entry = {
                "t": time.monotonic(),
                "username": msg.attributes.get("USERNAME", ""),
                "consent": retransmissions == 0,
                "addr": addr,
                "ok": False,
            }
            log.append(entry)
            result = await _orig(
                msg, addr, integrity_key=integrity_key, retransmissions=retransmissions
            )
            entry["ok"] = True
            return result

        protocol.request = request
    return log


def _restart_and_measure(
    page: Any, peer: RawPeer, conn: Any, prev: dict[str, Any]
) -> dict[str, Any]:
    """restartIce() in the page, re-offer through the server; wait for the new pair.

    Returns the measurements; asserts the restart contract along the way.
    """
    sel_before = prev["sel"]
    old_ids = {c["id"] for c in sel_before["locals"]}
    old_ports = {c["port"] for c in sel_before["locals"]}
    frames_before = page.evaluate("rawPeer.frames().count")

    def old_answers() -> int:
        state = conn.__dict__.get("_nbrtc_ice_restart")
        return state.old_generation_answers if state is not None else 0

    old_answers_before = peer.call(old_answers)
    t0 = time.monotonic()
    answer = page.evaluate("rawPeer.restart()")
    info = answer["restart"]
    assert info is not None, "the server did not see an ICE restart"
    answer_ufrag = _ufrag(answer["sdp"])
    assert answer_ufrag != prev["answer_ufrag"]
    assert answer_ufrag == info["new_local_ufrag"]
    assert info["old_local_ufrag"] == prev["answer_ufrag"]
    assert info["old_remote_ufrag"] == sel_before["localUfrag"]

    def switched() -> dict[str, Any] | None:
        sel = _selected(page)
        if sel is None or sel["local"]["id"] in old_ids or sel["local"]["port"] in old_ports:
            return None
        return sel

    sel_after = _wait("the browser to select a new-generation pair", switched, 10)
    assert sel_after["localUfrag"] == info["new_remote_ufrag"] != sel_before["localUfrag"]
    if sel_after["local"]["ufrag"]:  # Chromium reports it in local-candidate stats
        assert sel_after["local"]["ufrag"] == info["new_remote_ufrag"]

    def kernel_switched() -> tuple[str, int] | None:
        pair = conn._nominated.get(1)
        state = conn.__dict__.get("_nbrtc_ice_restart")
        if pair is None or state is None or state.pending:
            return None
        return pair.remote_addr

    kernel_remote = _wait("aioice to nominate the new pair", lambda: peer.call(kernel_switched), 10)
    assert kernel_remote[1] == sel_after["local"]["port"]
    t_selected = time.monotonic()

    # The new pair's remote candidate was trickled after the re-offer (so after generation
    # 0's end-of-candidates): a check may come first (peer-reflexive), the trickled
    # candidate then turns it into the host candidate it is.
    def kernel_remote_type() -> str | None:
        pair = conn._nominated.get(1)
        return pair.remote_candidate.type if pair is not None else None

    _wait(
        "the trickled new candidate to be accepted",
        lambda: peer.call(kernel_remote_type) == "host",
        5,
    )

    # Measurement window: until ~1 s of frames arrived on the new path (both sides).
    n_py = len([t for t in peer.frame_times() if t > t_selected])
    _wait(
        "frames on the new pair",
        lambda: (
            len([t for t in peer.frame_times() if t > t_selected]) >= n_py + FPS
            and page.evaluate("rawPeer.frames().count") >= frames_before + 2 * FPS
        ),
        10,
    )
    t_end = time.monotonic()
    times = peer.frame_times()
    gap = _max_gap(times, t0 - 0.5, t_end)
    empty = _empty_bins(times, t0 - 0.5, t_end)
    page_frames = page.evaluate("rawPeer.frames()")
    new_page_times = page_frames["times"][-(page_frames["count"] - frames_before) :]
    page_gap_ms = max((b - a for a, b in itertools.pairwise(new_page_times)), default=0)
    assert gap < 1.0, f"kernel received no frame for {gap:.2f} s across the restart"
    assert empty < 10, f"{empty} empty 100 ms bins in a row"
    assert page_gap_ms < 1000, f"echoed video stalled {page_gap_ms:.0f} ms in the page"
    return {
        "info": info,
        "answer_ufrag": answer_ufrag,
        "sel_after": sel_after,
        "pair_before": _pair_text(sel_before),
        "pair_after": _pair_text(sel_after),
        "kernel_remote_after": kernel_remote,
        "restart_to_new_pair_s": round(t_selected - t0, 3),
        "max_kernel_frame_gap_s": round(gap, 3),
        "max_empty_100ms_bins": empty,
        "max_page_frame_gap_ms": round(page_gap_ms, 1),
        "t_selected": t_selected,
        "old_generation_checks_answered": peer.call(old_answers) - old_answers_before,
    }


def _pair_text(sel: dict[str, Any]) -> str:
    loc, rem = sel["local"], sel["remote"]
    return (
        f"{loc['type']} {loc['address']}:{loc['port']} ({loc['id']}) -> "
        f"{rem['type']} {rem['address']}:{rem['port']}"
    )
