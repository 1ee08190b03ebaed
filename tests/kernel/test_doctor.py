"""nbrtc.doctor() on the kernel side (issue 10 section 4).

The page's probes are played by the FakeBrowser (a real aiortc peer on its own loop,
doing what js/inspector/doctor.js does: bind the stream to a path, ask for that path's servers,
offer a data channel only, echo three times, report the row, say bye). The probes are
real kernel streams negotiated through the manager's router; a real coturn on loopback
stands for the TURN paths. The advice rules are tested as pure functions.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.sdp import candidate_to_sdp

import nbrtc
from lab.netlab import Coturn
from nbrtc._inspection import doctor as doctor_mod
from nbrtc._inspection import doctor_advice as advice_mod
from nbrtc._signaling.stream import rtc_configuration
from nbrtc._transport import ice as _ice

from ._browser import FakeBrowser, wait_for

needs_coturn = pytest.mark.skipif(
    shutil.which("turnserver") is None, reason="Debian's coturn is not installed"
)


# --- the fake page's probe (js/inspector/doctor.js) ---------------------------------------
def _ask(browser: FakeBrowser, d: nbrtc.Doctor, sid: str) -> tuple[list[dict[str, Any]], float]:
    n = len(browser.of_type("ice-servers", sid)) + len(browser.of_type("error", sid))
    t0 = time.monotonic()
    browser.send(d, "ice-servers", sid, None)
    wait_for(
        lambda: len(browser.of_type("ice-servers", sid)) + len(browser.of_type("error", sid)) > n,
        5,
        what="the kernel's ice-servers answer",
    )
    rtt = (time.monotonic() - t0) * 1000
    replies = browser.of_type("ice-servers", sid)
    return (replies[-1]["payload"]["iceServers"] if replies else []), rtt


async def _open_probe(
    browser: FakeBrowser, d: nbrtc.Doctor, sid: str, path: dict[str, Any], servers: list[Any]
) -> Any:
    # the page's own TURN failures, as aioice reports them (Chromium: icecandidateerror)
    seen: list[str] = []
    _ice.turn_report.set(seen.append)
    pc = RTCPeerConnection(rtc_configuration(servers, path["policy"]))
    browser.pcs[sid] = pc
    dc = pc.createDataChannel("doctor")
    got: asyncio.Queue[Any] = asyncio.Queue()
    dc.on("message", got.put_nowait)
    offer = await pc.createOffer()
    await pc.setLocalDescription(offer)
    sdp = "\r\n".join(
        ln
        for ln in pc.localDescription.sdp.splitlines()
        if not ln.startswith(("a=candidate:", "a=end-of-candidates"))
    )
    browser.send(
        d,
        "offer",
        sid,
        {"sdp": sdp + "\r\n", "kind": "probe", "page": browser.page, "view": path["id"]},
    )
    browser._spawn(browser._ping(d, sid))
    gatherer = pc.sctp.transport.transport.iceGatherer if pc.sctp else None
    for cand in gatherer.getLocalCandidates() if gatherer else []:
        browser.send(
            d,
            "candidate",
            sid,
            {"candidate": "candidate:" + candidate_to_sdp(cand), "sdpMid": "0", "sdpMLineIndex": 0},
        )
    browser.send(d, "candidate", sid, None)
    return pc, dc, got, bool(gatherer and gatherer.getLocalCandidates()), seen


async def _echo(dc: Any, got: asyncio.Queue[Any], timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while dc.readyState != "open":
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.02)  # poll interval (bounded by the deadline above)
    rtts = []
    for i in range(3):
        t0 = time.monotonic()
        dc.send(f"e{i}")
        await asyncio.wait_for(got.get(), 5)
        rtts.append((time.monotonic() - t0) * 1000)
    return statistics.median(rtts)


def probe(
    browser: FakeBrowser,
    d: nbrtc.Doctor,
    path_id: str,
    *,
    echo: bool = True,
    timeout: float = 8.0,
) -> dict[str, Any]:
    """Probe one path as the page does; returns the row it reported."""
    path = next(p for p in d.paths if p["id"] == path_id)
    sid = browser.new_stream_id()
    browser.widgets[sid] = d
    browser.send(d, "doctor", sid, {"op": "probe", "path": path_id})
    if path["kind"] == "comm":
        rtts = [_ask(browser, d, sid)[1] for _ in range(3)]
        row = {"op": "row", "path": path_id, "result": "ok", "rtt_ms": statistics.median(rtts)}
        browser.send(d, "doctor", sid, row)
        return row
    servers, _ = _ask(browser, d, sid)
    _pc, dc, got, has_candidates, seen = browser.run(_open_probe(browser, d, sid, path, servers))
    rtt = None
    why = "no relay candidate" if not has_candidates else ""
    if echo and has_candidates:
        rtt = browser.run(_echo(dc, got, timeout), timeout + 16)
        why = "" if rtt is not None else f"not connected within {timeout} s"
    row = {
        "op": "row",
        "path": path_id,
        "result": "ok" if (rtt or not echo) else "failed",
        "rtt_ms": rtt,
        "local": "host",
        "protocol": "udp",
        "remote": "host",
        "why": why,
        "errors": [{"url": path["url"], "code": 0, "text": w[:256]} for w in seen],
    }
    browser.send(d, "doctor", sid, row)
    browser.bye(sid, "doctor-done")
    return row


# --- fixtures ---
@pytest.fixture
def doctors(browser: FakeBrowser) -> Iterator[list[nbrtc.Doctor]]:
    made: list[nbrtc.Doctor] = []
    yield made
    for d in made:
        d.close()
    wait_for(lambda: not nbrtc.manager().streams(), 5, what="no streams left")


def make(doctors: list[nbrtc.Doctor], browser: FakeBrowser, d: nbrtc.Doctor) -> nbrtc.Doctor:
    doctors.append(d)
    browser.attach(d)
    return d


def _row(d: nbrtc.Doctor, path_id: str) -> dict[str, Any]:
    return next(r for r in d.table_rows if r["id"] == path_id)


# --- probes through the router ---
def test_loopback_host_and_comm_rows_then_nothing_left(
    browser: FakeBrowser, doctors: list[nbrtc.Doctor]
) -> None:
    """No ICE server: two paths. The host probe is a real kernel stream of kind probe
    that connects and echoes; the comm row times ice-servers asks; the verdict says a
    direct connection works; every probe stream is gone on both sides."""
    d = make(doctors, browser, nbrtc.doctor(ice_servers=[]))
    assert [p["id"] for p in d.paths] == ["host", "comm"]
    t0 = time.monotonic()
    host = probe(browser, d, "host")
    probe(browser, d, "comm")
    rows = d.wait(10)
    took = time.monotonic() - t0
    assert d.state == "done"
    assert [r["result"] for r in rows] == ["ok", "ok"], rows
    assert rows[0]["rtt_ms"] == pytest.approx(host["rtt_ms"], abs=0.1)
    assert rows[0]["rtt_ms"] < 500 and rows[1]["rtt_ms"] < 500
    assert "direct connection to the kernel works" in d.advice[0]
    text = str(d)
    assert "direct (host candidates)" in text and "ok" in text and "nothing to configure" in text
    wait_for(lambda: not nbrtc.manager().streams(), 3, what="probe streams closed")
    print(
        f"\ndoctor on loopback: {took:.2f} s; host RTT {rows[0]['rtt_ms']} ms, "
        f"comm RTT {rows[1]['rtt_ms']} ms"
    )


def test_a_row_the_kernel_did_not_see_is_failed(
    browser: FakeBrowser, doctors: list[nbrtc.Doctor]
) -> None:
    """The page writes 'ok' for a path whose probe never echoed through the kernel: the
    kernel's table says failed, and why (the page is not trusted on what happened)."""
    d = make(doctors, browser, nbrtc.doctor(ice_servers=[]))
    probe(browser, d, "host", echo=False)  # reports ok without any echo
    wait_for(lambda: _row(d, "host")["result"] != "pending", 5, what="the host row")
    row = _row(d, "host")
    assert row["result"] == "failed", row
    assert "kernel saw nothing" in row["why"]


def test_refusals_other_page_unbound_and_repeated_rows(
    browser: FakeBrowser, doctors: list[nbrtc.Doctor]
) -> None:
    d = make(doctors, browser, nbrtc.doctor(ice_servers=[]))
    sid = browser.new_stream_id()
    # a row for a path no probe was started for
    browser.send(d, "doctor", sid, {"op": "row", "path": "host", "result": "ok"})
    # an ice-servers ask for a stream no probe bound
    browser.send(d, "ice-servers", sid, None)
    browser.barrier(d)
    codes = [m["payload"]["code"] for m in browser.of_type("error", sid)]
    assert codes == ["out-of-order", "out-of-order"], codes
    browser.send(d, "doctor", sid, {"op": "probe", "path": "comm"})
    # another page (another key) may not speak for this doctor
    other = FakeBrowser()
    try:
        other.attach(d)
        other.send(d, "doctor", other.new_stream_id(), {"op": "probe", "path": "host"})
        wait_for(lambda: other.of_type("error"), 5, what="the other page's refusal")
        assert other.of_type("error")[0]["payload"]["code"] == "unknown-stream"
    finally:
        browser.attach(d)
        other.close()
    browser.send(d, "doctor", sid, {"op": "row", "path": "comm", "result": "ok"})
    browser.send(d, "doctor", sid, {"op": "row", "path": "comm", "result": "failed"})
    browser.barrier(d)
    # the comm row was taken once; the kernel never answered this stream's asks: failed
    assert _row(d, "comm")["result"] == "failed"
    assert browser.of_type("error", sid)[-1]["payload"]["code"] == "out-of-order"
    # malformed rows never reach the doctor
    for bad in (
        {"op": "row", "path": "comm", "result": "maybe"},
        {"op": "row", "path": "comm", "result": "ok", "rtt_ms": float("nan")},
        {"op": "row", "path": "comm", "result": "ok", "why": "x" * 400},
        {"op": "row", "path": "comm", "result": "ok", "errors": [{"code": 1}] * 9},
        {"op": "probe", "path": "../etc"},
    ):
        browser.send(d, "doctor", sid, bad)
    browser.barrier(d)
    assert [m["payload"]["code"] for m in browser.of_type("error", sid)][-5:] == ["bad-message"] * 5


def test_a_probe_offer_with_media_or_without_binding_is_refused(
    browser: FakeBrowser, doctors: list[nbrtc.Doctor], widgets: list[Any]
) -> None:
    """A probe offer carries a data channel only; a stream the doctor did not bind to a
    path gets no servers and fails; a camera widget takes no doctor message."""
    d = make(doctors, browser, nbrtc.doctor(ice_servers=[]))
    sid = browser.start(d, kind="probe")  # the fake page's usual offer: video + audio
    browser.barrier(d)
    refusals = [m["payload"] for m in browser.of_type("error", sid)]
    assert refusals[0]["code"] == "bad-message", refusals
    assert "data channel only" in refusals[0]["message"]
    assert not nbrtc.manager().streams()
    cam = nbrtc.Camera()
    widgets.append(cam)
    browser.attach(cam)
    csid = browser.new_stream_id()
    browser.send(cam, "doctor", csid, {"op": "probe", "path": "host"})
    browser.barrier(cam)
    assert browser.of_type("error", csid)[-1]["payload"]["code"] == "wrong-kind"


def test_unreported_paths_fail_at_the_deadline_and_probes_close(
    browser: FakeBrowser, doctors: list[nbrtc.Doctor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page probed the host path but never reported; it never probed the comm: at
    the kernel's deadline both rows say so and the open probe stream is closed."""
    monkeypatch.setattr(doctor_mod, "RUN_TIMEOUT", 2.0)
    d = make(doctors, browser, nbrtc.doctor(ice_servers=[]))
    path = d.paths[0]
    sid = browser.new_stream_id()
    browser.widgets[sid] = d
    browser.send(d, "doctor", sid, {"op": "probe", "path": "host"})
    servers, _ = _ask(browser, d, sid)
    browser.run(_open_probe(browser, d, sid, path, servers))
    wait_for(lambda: nbrtc.manager().streams(), 5, what="the probe stream")
    d.wait(6)
    assert _row(d, "host")["why"].startswith("the page did not report")
    assert _row(d, "comm")["why"] == "the page did not probe this path"
    wait_for(lambda: not nbrtc.manager().streams(), 3, what="the kernel closed the probe")
    assert any(m["payload"]["reason"] == "doctor-timeout" for m in browser.of_type("bye", sid))


def test_wait_in_the_cell_that_made_it_says_why(doctors: list[nbrtc.Doctor]) -> None:
    d = nbrtc.doctor(ice_servers=[])
    doctors.append(d)
    mgr = nbrtc.manager()
    assert threading.current_thread() is threading.main_thread()
    mgr._busy = True
    try:
        with pytest.raises(nbrtc.NotDisplayedError, match="next cell"):
            d.wait(1)
    finally:
        mgr._busy = False
    with pytest.raises(nbrtc.StreamTimeoutError, match="no page has shown it"):
        d.wait(0.2)
    d.close()
    with pytest.raises(nbrtc.StreamClosedError):
        d.wait(0.2)
    assert d.state == "closed"


def test_camera_doctor_uses_the_cameras_servers_and_no_credential_is_synced(
    doctors: list[nbrtc.Doctor], widgets: list[Any]
) -> None:
    servers = [
        {"urls": "stun:127.0.0.1:9"},
        {
            "urls": ["turn:127.0.0.1:9", "turns:127.0.0.1:9"],
            "username": "u",
            "credential": "doctor-secret-pw",
        },
    ]
    cam = nbrtc.Camera(ice_servers=servers)
    widgets.append(cam)
    d = cam.doctor()
    doctors.append(d)
    assert [(p["id"], p["url"], p["policy"]) for p in d.paths] == [
        ("host", "", "all"),
        ("stun-0", "stun:127.0.0.1:9", "all"),
        ("turn-1", "turn:127.0.0.1:9", "relay"),
        ("turn-2", "turns:127.0.0.1:9", "relay"),
        ("comm", "", "all"),
    ]
    synced = json.dumps(d.get_state(), default=str)
    assert "doctor-secret-pw" not in synced and "doctor-secret-pw" not in str(d)


# --- with a real coturn ---
@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    from .test_turn import _local_coturn

    with _local_coturn(Coturn, tmp_path_factory.mktemp("coturn-doctor"), (49400, 49440)) as s:
        yield s


@needs_coturn
def test_turn_path_through_coturn_and_a_wrong_password(
    coturn: Coturn, browser: FakeBrowser, doctors: list[nbrtc.Doctor]
) -> None:
    """The TURN path of a right login relays (the kernel answered the probe with that
    server only, the page relay-only); a wrong login is named as such, with the advice;
    every allocation is released afterwards."""
    url = f"turn:127.0.0.1:{coturn.port}"
    good = make(
        doctors,
        browser,
        nbrtc.doctor(ice_servers=[{"urls": url, "username": "u", "credential": "p"}]),
    )
    made = coturn.made()
    for p in good.paths:
        probe(browser, good, p["id"])
    rows = good.wait(20)
    done_at = time.monotonic()
    assert [r["result"] for r in rows] == ["ok", "ok", "ok"], rows
    # each probe was given its own path's server only (the host probe none)
    replies = [m["payload"]["iceServers"] for m in browser.of_type("ice-servers")]
    assert [[s["urls"] for s in r] for r in replies[:2]] == [[], [url]], replies
    assert coturn.made() >= made + 2, "both probe peers of the TURN path allocated"
    released = coturn.wait_released(5, since=done_at)
    bad = make(
        doctors,
        browser,
        nbrtc.doctor(ice_servers=[{"urls": url, "username": "u", "credential": "wrong"}]),
    )
    for p in bad.paths:
        probe(browser, bad, p["id"], timeout=3)
    bad.wait(20)
    row = _row(bad, "turn-0")
    assert row["result"] == "failed" and "auth" in row["problems"], row
    assert any("Wrong TURN credentials" in a for a in bad.advice), bad.advice
    coturn.wait_released(5)  # nothing left open
    print(
        f"\nTURN path RTT {rows[1]['rtt_ms']} ms; allocations released {released:.2f} s "
        "after the verdict"
    )


# --- the advice, as pure functions ---
def _r(id_: str, kind: str, result: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "path": kind,
        "url": kw.pop("url", ""),
        "kind": kind,
        "result": result,
        "rtt_ms": kw.pop("rtt_ms", None),
        "via": "",
        "why": kw.pop("why", ""),
        "problems": kw.pop("problems", []),
    }


T = "turn:turn.test:443?transport=tcp"


@pytest.mark.parametrize(
    ("rows", "configured", "remote", "expected"),
    [
        (
            [
                _r("host", "host", "failed"),
                _r("turn-0", "turn", "ok", url=T, rtt_ms=9),
                _r("comm", "comm", "ok"),
            ],
            True,
            False,
            "UDP to the kernel is blocked; you are fine through TURN",
        ),
        (
            [
                _r("host", "host", "failed"),
                _r("turn-0", "turn", "failed", url=T),
                _r("comm", "comm", "ok"),
            ],
            True,
            False,
            "configure a TURN server reachable over TCP 443, or use transport='comm'",
        ),
        (
            [_r("host", "host", "failed"), _r("comm", "comm", "ok")],
            False,
            True,
            "no ICE server is configured (and this kernel looks remote)",
        ),
        (
            [
                _r("host", "host", "ok"),
                _r("turn-0", "turn", "failed", url=T, problems=["auth"]),
                _r("comm", "comm", "ok"),
            ],
            True,
            False,
            "Wrong TURN credentials",
        ),
        (
            [
                _r("host", "host", "failed"),
                _r("turn-0", "turn", "failed", url=T, problems=["unreachable"]),
                _r("comm", "comm", "ok"),
            ],
            True,
            False,
            "is unreachable",
        ),
        (
            [
                _r("host", "host", "failed"),
                _r("turn-0", "turn", "failed", url=T, problems=["cert"]),
                _r("comm", "comm", "ok"),
            ],
            True,
            False,
            "is not trusted",
        ),
        (
            [_r("host", "host", "ok"), _r("comm", "comm", "ok")],
            False,
            True,
            "users on other networks",
        ),
        (
            [_r("host", "host", "ok"), _r("comm", "comm", "failed")],
            False,
            False,
            "did not answer over the notebook's own connection",
        ),
    ],
)
def test_advice(rows: list[dict[str, Any]], configured: bool, remote: bool, expected: str) -> None:
    said = advice_mod.advise(rows, servers_configured=configured, remote_page=remote)
    assert any(expected in s for s in said), said


@pytest.mark.parametrize(
    ("code", "text", "problem"),
    [
        (401, "Unauthorized", "auth"),
        (701, "TURN host lookup received error.", "unreachable"),
        (
            0,
            "the TURN server turn:h:1 over UDP refused the credentials (401 Unauthorized): x",
            "auth",
        ),
        (0, "no answer from the TURN server turns:h:1 over TLS: is it running", "unreachable"),
        (0, "the TLS certificate of the TURN server turns:h:1 over TLS is not trusted", "cert"),
        (600, "something else", None),
    ],
)
def test_classify(code: int, text: str, problem: str | None) -> None:
    assert advice_mod.classify(code, text) == problem
