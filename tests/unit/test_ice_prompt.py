"""``_transport/ice_prompt.py`` (``_upstream.patch_ice_connection``): the kernel's ICE says
it has connected as soon as it has, not at the end of aioice's 20 ms pacing sleep.

Real aioice connections on loopback (127.0.0.1, one candidate each). To make "not at the
end of the sleep" a fact rather than a race, the tests stretch aioice's pacing sleep to
seconds (its module's ``asyncio.sleep`` for exactly 0.02 s, nothing else): a prompt
connect then returns long before that sleep ends, while aioice's own task still sleeps.
"""

from __future__ import annotations

import asyncio
import time
import types
from typing import Any

import aioice
import aioice.ice
import pytest
from aiortc import RTCIceParameters, rtcicetransport, rtcpeerconnection
from aiortc.exceptions import InvalidStateError

from kernel._browser import until
from nbrtc import _upstream

STRETCHED = 3.0  # seconds aioice's 20 ms pacing sleep lasts in these tests


@pytest.fixture
def restored():
    """The classes aiortc makes are put back as the test found them."""
    before = rtcicetransport.Connection, rtcpeerconnection.RTCIceTransport
    try:
        yield
    finally:
        rtcicetransport.Connection, rtcpeerconnection.RTCIceTransport = before  # type: ignore[misc]


@pytest.fixture
def prompt_cls(restored):
    """The prompt class (installed for the test)."""
    _upstream.patch_ice_connection(True)
    return rtcicetransport.Connection


@pytest.fixture
def loopback(monkeypatch):
    """aioice gathers 127.0.0.1 only, and its pacing sleep lasts STRETCHED seconds."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    real = asyncio.sleep

    async def sleep(delay: float, result: Any = None) -> Any:
        return await real(STRETCHED if delay == 0.02 else delay, result)

    proxy = types.SimpleNamespace(
        **{n: getattr(asyncio, n) for n in dir(asyncio) if not n.startswith("__")}
    )
    proxy.sleep = sleep
    monkeypatch.setattr(aioice.ice, "asyncio", proxy)


async def _pair(cls_a: type, cls_b: type) -> tuple[Any, Any]:
    a = cls_a(ice_controlling=True)  # the browser's role: it nominates
    b = cls_b(ice_controlling=False)  # the kernel's
    await asyncio.gather(a.gather_candidates(), b.gather_candidates())
    for x, y in ((a, b), (b, a)):
        for c in y.local_candidates:
            await x.add_remote_candidate(c)
        await x.add_remote_candidate(None)
        x.remote_username, x.remote_password = y.local_username, y.local_password
    return a, b


def test_connect_returns_when_ice_completes(prompt_cls, loopback) -> None:
    async def main() -> dict[str, Any]:
        a, b = await _pair(prompt_cls, prompt_cls)
        t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(a.connect(), b.connect()), STRETCHED - 1)
        took = time.monotonic() - t0
        out = {
            "took": took,
            "inner_sleeping": [not c._nbrtc_inner.done() for c in (a, b)],
            "nominated": [bool(_upstream.nominated_pairs(c)) for c in (a, b)],
        }
        # the connection works at once: data both ways on the nominated pair
        await a.send(b"to the kernel")
        out["b_got"] = await asyncio.wait_for(b.recv(), 2)
        await b.send(b"to the page")
        out["a_got"] = await asyncio.wait_for(a.recv(), 2)
        await asyncio.gather(a.close(), b.close())
        out["after_close"] = [
            (c._nbrtc_inner.cancelled(), _upstream.consent_task(c)) for c in (a, b)
        ]
        return out

    out = asyncio.run(main())
    assert out["nominated"] == [True, True], out
    assert out["took"] < STRETCHED - 1, out  # wait_for above would have raised anyway
    assert out["inner_sleeping"] == [True, True], out  # aioice's own task was still pacing
    assert (out["b_got"], out["a_got"]) == (b"to the kernel", b"to the page")
    # close() ended aioice's sleeping task: no consent check starts on a closed connection
    assert out["after_close"] == [(True, None), (True, None)], out


def test_aioices_own_connect_waits_for_its_sleep(loopback) -> None:
    """What the prompt class changes: aioice's connect returns only after the sleep."""

    async def main() -> float:
        a, b = await _pair(aioice.Connection, aioice.Connection)
        t0 = time.monotonic()
        await asyncio.gather(a.connect(), b.connect())
        took = time.monotonic() - t0
        await asyncio.gather(a.close(), b.close())
        return took

    assert asyncio.run(main()) >= STRETCHED - 0.1


def test_failed_ice_raises_aioices_error(prompt_cls, loopback) -> None:
    async def main() -> str:
        b = prompt_cls(ice_controlling=False)
        await b.gather_candidates()
        b.remote_username, b.remote_password = "rmte", "remotePassword0123456789"
        await b.add_remote_candidate(None)  # end of candidates, and none came
        try:
            await asyncio.wait_for(b.connect(), STRETCHED + 2)
        except ConnectionError as exc:
            return str(exc)
        finally:
            await b.close()
        return "connected"

    assert asyncio.run(main()) == "ICE negotiation failed"


def test_cancelled_connect_ends_aioices(prompt_cls, loopback) -> None:
    async def main() -> tuple[bool, bool]:
        b = prompt_cls(ice_controlling=False)
        await b.gather_candidates()
        b.remote_username, b.remote_password = "rmte", "remotePassword0123456789"
        task = asyncio.ensure_future(b.connect())
        await until(lambda: b._nbrtc_inner is not None, 2, "aioice's connect in its task")
        task.cancel()
        await asyncio.wait((task,))
        inner = b._nbrtc_inner
        await asyncio.wait((inner,), timeout=1)
        await b.close()
        return task.cancelled(), inner.cancelled()

    assert asyncio.run(main()) == (True, True)


def test_aiortcs_gatherer_makes_it_once_installed(restored) -> None:
    _upstream.patch_ice_connection(True)
    _upstream.patch_ice_connection(True)  # idempotent: one class
    made = rtcicetransport.RTCIceGatherer(iceServers=[])._connection
    assert type(made).__name__ == "PromptConnection"
    assert isinstance(made, aioice.Connection)
    assert rtcicetransport.Connection is type(made)
    assert issubclass(rtcpeerconnection.RTCIceTransport, rtcicetransport.RTCIceTransport)
    _upstream.patch_ice_connection(False)
    assert type(rtcicetransport.RTCIceGatherer(iceServers=[])._connection) is aioice.Connection
    assert rtcpeerconnection.RTCIceTransport is rtcicetransport.RTCIceTransport


def test_a_closed_transport_starts_quietly(restored) -> None:
    """aiortc's ``__connect`` starts the bundled transport again after DTLS began; a peer
    closed in between made that raise in a task nobody reads (seen as "Task exception
    was never retrieved" and a closed peer kept alive when a widget closed just after
    ICE completed)."""
    _upstream.patch_ice_connection(True)
    params = RTCIceParameters(usernameFragment="rmte", password="remotePassword0123456789")

    async def main(cls: type) -> str:
        transport = cls(rtcicetransport.RTCIceGatherer(iceServers=[]))
        await transport.stop()
        try:
            await transport.start(params)
        except InvalidStateError as exc:
            return str(exc)
        return f"quiet, {transport.state}"

    assert asyncio.run(main(rtcpeerconnection.RTCIceTransport)) == "quiet, closed"
    assert asyncio.run(main(rtcicetransport.RTCIceTransport)) == "RTCIceTransport is closed"


def test_the_probe_names_a_changed_aioice(monkeypatch) -> None:
    assert _upstream.ice_connection_problems() == []

    async def connect(self: Any) -> None:  # a connect with no pacing and no check list
        return None

    monkeypatch.setattr(aioice.ice.Connection, "connect", connect)
    problems = _upstream.ice_connection_problems()
    assert problems == ["aioice Connection.connect() pacing and check-list outcome"], problems
