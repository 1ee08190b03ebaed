"""TURN paths on a real network, seen by Chromium (issue 10, section 1's scenarios).

Same lab as test_reach.py: JupyterLab, the kernel and coturn in the "server" namespace
(192.0.2.1), Debian Chromium in the "client" namespace (192.0.2.2), nftables between.
Every test ends with zero leaks on both sides, zero TURN allocations and nothing sent
from the server namespace outside the lab.

1. relay-only policy (config-wide and per widget), coturn reachable over UDP and TCP:
   live over a relay pair on both sides; coturn made the allocations and released them
   within 2 s of ``cam.close()``.
2. a wrong TURN password with UDP dropped (only the relay could work): the widget and
   ``cam.error`` name TURN authentication (401) within seconds of the cell's start, and
   never in the generic ICE-failed sentence.
3. an unreachable TURN server (nothing on its UDP port; its TCP port dropped by nftables)
   under the relay policy: the error names the unreachable TURN server within seconds.
4. ``turns:`` with a private CA: Chromium trusts it through the NSS database of its
   ``$HOME`` (made with certutil), the kernel through ``SSL_CERT_FILE``; live over TLS
   through the relay. A certificate from a CA Chromium does not trust: an error that
   names the TURN server's certificate/TLS, not the generic sentence.

This module's Chromium runs its fake camera at 30 fps (``fps=30``; the default is 20)
with ``HOME`` set to a directory whose NSS database trusts the lab's CA.
Measurements are printed and written to ``test-artifacts/net-turn-paths.json``.
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab import jupyter as h
from lab import netlab as nl
from lab.video import _close_all, _kjson, _root, _run, _status, _wait_state

from .test_reach import _assert_no_egress, _assert_no_leaks, _close, _selected

pytestmark = pytest.mark.net

RESULTS = h.ARTIFACTS_DIR / "net-turn-paths.json"
#: print a figure and keep it in RESULTS (under its name; other runs' kept)
_record = functools.partial(h.record_figure, RESULTS, echo=True)
TURN_UDP = f"turn:{nl.SERVER_IP}:3478"
TURN_TCP = f"turn:{nl.SERVER_IP}:3478?transport=tcp"
#: a port of the server namespace where nothing listens (UDP or TCP)
CLOSED_PORT = 3999
#: the TLS coturns of scenario 4: one with a certificate from the CA Chromium trusts,
#: one with a certificate from a CA it does not
TLS_PORT, UNTRUSTED_TLS_PORT = 5349, 5351
#: Chromium's fake camera at the frame rate the issue's figures are given for
FAKE_CAMERA_30FPS = "--use-fake-device-for-media-stream=fps=30"
#: how soon a TURN failure must be in words, from the cell's start (the issue: "within a
#: second or two of happening"; the page's offer leaves about 1 s after the cell starts)
FAIL_WITHIN_S = 3.0
#: under the "all" policy a TURN 401 fails the stream only this long after it, when no
#: other path connected (src/nbrtc/_signaling/stream_ice.py TURN_AUTH_WAIT)
ALL_AUTH_WAIT_S = 4.0
#: a TURN server that never answers: aioice gives up after its 5 s gathering timeout,
#: which starts when the offer arrives (1.0-2.6 s after the cell's start, measured here)
UNREACHABLE_WITHIN_S = 8.0
#: Chromium reports a failed TLS handshake to a turns: server only once it gave up on it
#: (measured 3.0-3.55 s from the cell's start on an idle machine, about 2 s after its
#: offer; 5.3 s with other suites running: the cell's start to the offer varies most)
TLS_FAIL_WITHIN_S = 8.0
#: the generic sentence (nbrtc._signaling.stream_words.ICE_FAILED_WORDS) starts like this
GENERIC = "ICE failed"

# The cell a person runs. A thread notes when the camera went live or failed, and when
# the first frame reached Python, measured in the kernel from the cell's start.
CELL = """\
import threading, time, os
_t0 = time.monotonic()
_ended, _first = [], []
{pre}import nbrtc
# this module tests the WebRTC paths: no comm fallback (issue 10 section 2) when it exists
from nbrtc._widgets import stream_widget as _w
_pin = {{"transport": "webrtc"}} if hasattr(_w, "TRANSPORT_MODES") else {{}}
{config}cam = nbrtc.Camera({kwargs}{sep}**_pin)
def _note():
    try:
        cam.wait("live", timeout=60)
        _ended.append(["live", time.monotonic() - _t0, None])
    except Exception as e:
        _ended.append(["error", time.monotonic() - _t0, str(e)])
        return
    _deadline = time.monotonic() + 30
    while cam.frame_count == 0 and time.monotonic() < _deadline:
        time.sleep(0.005)  # poll interval (bounded by the deadline)
    if cam.frame_count:
        _first.append(time.monotonic() - _t0)
threading.Thread(target=_note, daemon=True).start()
cam"""

_KERNEL_ACCOUNT = """\
import json, nbrtc
_sel = []
for _s in list(getattr(nbrtc.manager(), "_streams", {}).values()):
    try:
        _sel.append(_s.kernel_candidates()["selected"])
    except Exception as _e:
        _sel.append(repr(_e))
print(json.dumps({"ended": _ended[0] if _ended else None,
                  "first_frame": _first[0] if _first else None,
                  "state": cam.state, "error": cam.error,
                  "streams": nbrtc.manager().streams(), "kernel_selected": _sel,
                  "history": [e.get("summary") for e in cam.history()][-30:]},
                 default=str))"""

_FPS = """\
import json, time
_n0, _s0 = cam.frame_count, time.monotonic()
time.sleep({seconds})  # window: frames counted over it
_f = cam.latest_frame
print(json.dumps({{"fps": (cam.frame_count - _n0) / (time.monotonic() - _s0),
                  "shape": list(_f.shape) if _f is not None else None}}))"""


@dataclass(frozen=True)
class Pki:
    """The lab's certificates: a CA Chromium trusts (``lab``) and one it does not
    (``other``), each with a server certificate for 192.0.2.1; ``home`` holds the NSS
    database trusting ``lab`` (None without certutil)."""

    lab: tuple[Path, Path, Path]  # ca, cert, key
    other: tuple[Path, Path, Path]
    both_cas: Path  # a bundle of both CAs, for the kernel's SSL_CERT_FILE
    home: Path | None


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    lab_ca = nl.private_ca(folder / "lab", name="nbrtc lab CA")
    other_ca = nl.private_ca(folder / "other", name="nbrtc other CA")
    both = folder / "both-cas.pem"
    both.write_text(lab_ca[0].read_text() + other_ca[0].read_text())
    home = None
    if Path(nl.CERTUTIL).exists():
        home = nl.nss_home(folder / "home", [lab_ca[0]])
    return Pki(lab_ca, other_ca, both, home)


@pytest.fixture(scope="module")
def net_browser(lab, net_server, in_server_ns, tmp_path_factory, pki):
    """conftest's Chromium with the fake camera at 30 fps and ``HOME`` holding the NSS
    database that trusts the lab's CA (this module's override)."""
    from playwright.sync_api import sync_playwright

    wrapper = nl.chromium_wrapper(lab, tmp_path_factory.mktemp("chromium"), h.CHROMIUM)
    origin = net_server.url.rstrip("/")
    args = [
        FAKE_CAMERA_30FPS if a == "--use-fake-device-for-media-stream" else a
        for a in h.CHROMIUM_ARGS
    ]
    args.append(f"--unsafely-treat-insecure-origin-as-secure={origin}")
    env = dict(os.environ)
    if pki.home is not None:
        env["HOME"] = str(pki.home)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(wrapper), headless=True, args=args, env=env)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def tls_coturns(lab, pki, tmp_path):
    """Two TLS coturns on 192.0.2.1: ``trusted`` (lab CA, TLS port 5349) and
    ``untrusted`` (other CA, TLS port 5351). Stopped after the test."""
    _ca, cert, key = pki.lab
    trusted = nl.Coturn(lab, tmp_path / "trusted", port=3480, tls=(cert, key),
                        tls_port=TLS_PORT, min_port=49250, max_port=49280)  # fmt: skip
    _ca, cert, key = pki.other
    untrusted = nl.Coturn(lab, tmp_path / "untrusted", port=3481, tls=(cert, key),
                          tls_port=UNTRUSTED_TLS_PORT, min_port=49290, max_port=49320)  # fmt: skip
    trusted.start()
    try:
        untrusted.start()
        try:
            yield trusted, untrusted
        finally:
            untrusted.stop()
    finally:
        trusted.stop()


# ----------------------------------------------------------------------------- helpers


def _server(url: str | list[str], credential: str = "p") -> dict[str, Any]:
    return {"urls": url, "username": "u", "credential": credential}


def _start(page, open_nb, name: str, config: str = "", kwargs: str = "", pre: str = ""):
    """Open a notebook with the camera cell and run it (not waiting for live)."""
    sep = ", " if kwargs else ""
    open_nb(name, [CELL.format(config=config, kwargs=kwargs, pre=pre, sep=sep)])
    _run(page, 0)


def _account(kernel_eval) -> dict:
    return _kjson(kernel_eval, _KERNEL_ACCOUNT)


def _wait_ended(kernel_eval, timeout: float) -> dict:
    """Wait until the cell's thread saw live or error; the kernel's account."""
    h.wait_for(
        lambda: kernel_eval("len(_ended)") == "1",
        timeout=timeout,
        interval=0.2,
        message="the camera went live or failed",
    )
    return _account(kernel_eval)


def _wait_first_frame(kernel_eval) -> dict:
    h.wait_for(
        lambda: kernel_eval("len(_first)") == "1",
        timeout=15,
        message="the first frame reached Python",
    )
    return _account(kernel_eval)


def _fps(kernel_eval, seconds: float = 5.0) -> dict:
    return _kjson(kernel_eval, _FPS.format(seconds=seconds), timeout=seconds + 20)


def _assert_failed_in_words(page, got: dict, within: float, *needles: str) -> str:
    """The stream failed within ``within`` s of the cell's start, the view shows the same
    words as ``cam.error``, they contain every needle and are not the generic sentence."""
    print(f"\n[net] failed stream: {json.dumps(got, default=str)}")
    kind, t_end, raised = got["ended"]
    assert kind == "error", got
    error = got["error"] or ""
    for needle in needles:
        assert needle in error, f"{needle!r} not in {error!r}"
    assert not error.startswith(GENERIC), f"the generic sentence: {error!r}"
    assert "TURN" in (raised or ""), f"cam.wait raised {raised!r}"
    root = _root(page, 0)
    _wait_state(root, "error", timeout=5)
    shown = _status(root)
    assert "TURN" in shown, f"the view says {shown!r}"
    assert t_end <= within, f"the error came {t_end:.2f} s after the cell's start: {error}"
    return shown


def _no_live_allocation(*servers: nl.Coturn) -> None:
    for s in servers:
        s.wait_released(timeout=5)


# ------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("where", ["config", pytest.param("widget", marks=pytest.mark.slow)])
def test_relay_only_policy(page, open_nb, kernel_eval, coturn, egress, where):
    """1. ice_transport_policy="relay" (nbrtc.config, or the widget's argument), coturn
    reachable over UDP and TCP: live through the relay on both sides; coturn allocated
    and released within 2 s of close()."""
    egress.reset()
    assert coturn.allocations() == 0
    made_before = coturn.made()
    servers = [_server([TURN_UDP, TURN_TCP])]
    if where == "config":
        config = (
            f'nbrtc.config.ice_servers = {servers!r}\nnbrtc.config.ice_transport_policy = "relay"\n'
        )
        kwargs = ""
    else:
        config = ""
        kwargs = f'ice_servers={servers!r}, ice_transport_policy="relay"'
    try:
        _start(page, open_nb, f"net_relay_only_{where}.ipynb", config, kwargs)
        got = _wait_ended(kernel_eval, timeout=30)
        assert got["ended"][0] == "live", got
        _wait_state(_root(page, 0), "live", timeout=10)
        got = _wait_first_frame(kernel_eval)
        pair = _selected(page)
        assert pair["local"]["type"] == "relay", pair
        assert pair["remote"]["type"] == "relay", pair
        [ksel] = got["kernel_selected"]
        assert ksel["local"]["candidateType"] == "relay", ksel
        assert ksel["remote"]["candidateType"] == "relay", ksel
        rate = _fps(kernel_eval, 3.0)
        assert rate["fps"] >= 10, rate
        live_allocations = coturn.allocations()
        assert live_allocations >= 2, coturn.log_tail(30)  # the page's and the kernel's
        t_close_call = time.monotonic()
        t_close = _close(page, kernel_eval)
        released = coturn.wait_released(timeout=10, since=t_close_call)
        assert released <= 2.0, f"allocations released {released:.2f} s after close()"
        leaks = _assert_no_leaks(page, kernel_eval, coturn)
        _assert_no_egress(egress)
        _record(
            f"1_relay_only_{where}",
            {
                "cell_to_live_s": round(got["ended"][1], 3),
                "cell_to_first_frame_s": round(got["first_frame"], 3),
                "fps_python": round(rate["fps"], 1),
                "frame_shape": rate["shape"],
                "page_selected_pair": pair,
                "kernel_selected_pair": ksel,
                "allocations_made": coturn.made() - made_before,
                "allocations_live_before_close": live_allocations,
                "close_to_all_released_s": round(released, 3),
                "close_to_no_peers_s": round(t_close, 3),
                "leaks": leaks,
            },
        )
    finally:
        _close_all(kernel_eval)


@pytest.mark.parametrize(
    "policy",
    [
        "relay",
        pytest.param("all", marks=pytest.mark.slow),
    ],
)
def test_wrong_turn_password(page, open_nb, kernel_eval, coturn, egress, scenario, policy):
    """2. UDP dropped between the namespaces, TURN over TCP with a wrong password: the
    error names TURN authentication (401) within seconds, on the page and in Python.
    Under "all" the host candidates might still have connected, so the 401 is first a
    warning (``cam.warning``, the view's notice line) within FAIL_WITHIN_S, and the
    stream fails TURN_AUTH_WAIT s after it when nothing else connected."""
    egress.reset()
    scenario.block_udp_between(nl.CLIENT_IP, nl.SERVER_IP)
    wrong = "wrong-pw-5"
    servers = [_server(TURN_TCP, credential=wrong)]
    kwargs = f"ice_servers={servers!r}, ice_transport_policy={policy!r}"
    try:
        _start(page, open_nb, f"net_wrong_pw_{policy}.ipynb", kwargs=kwargs)
        within = FAIL_WITHIN_S
        if policy == "all":
            t0 = time.monotonic()
            h.wait_for(
                lambda: "401" in kernel_eval("print(cam.warning)"),
                timeout=FAIL_WITHIN_S,
                interval=0.1,
                message="the 401 as the widget's warning",
            )
            warned = time.monotonic() - t0
            notice = _root(page, 0).locator(".nbrtc-notice")
            h.wait_for(lambda: "401" in (notice.text_content() or ""), timeout=3,
                       message="the warning on the view's notice line")  # fmt: skip
            print(f"\n[net] warning {warned:.2f} s after the cell ran: {notice.text_content()}")
            within = FAIL_WITHIN_S + ALL_AUTH_WAIT_S
        got = _wait_ended(kernel_eval, timeout=40)
        shown = _assert_failed_in_words(page, got, within, "401", "credentials")
        assert wrong not in got["error"] and wrong not in shown
        # whichever side's 401 came first (the kernel's or the page's) is in the words
        assert "refused the" in got["error"] and "credentials (401" in got["error"], got
        if policy == "all":  # the host pairs were tried (and dropped)
            assert scenario.counters()["udp_dropped"] > 0
        _close(page, kernel_eval)
        leaks = _assert_no_leaks(page, kernel_eval, coturn)
        _assert_no_egress(egress)
        _record(
            f"2_wrong_password_{policy}",
            {"cell_to_error_s": round(got["ended"][1], 3), "error": got["error"],
             "view_says": shown, "turn_notes": [n for n in got["history"] if "TURN" in str(n)],
             "leaks": leaks},
        )  # fmt: skip
    finally:
        _close_all(kernel_eval)


@pytest.mark.parametrize(
    "how",
    [
        "udp_port_closed",
        # the same words as udp_port_closed, over the other transport
        pytest.param("tcp_port_closed", marks=pytest.mark.slow),
        # the dropped ports wait for timeouts (aioice's 5 s, the page's PAGE_RELAY_WAIT 4 s)
        pytest.param("tcp_port_dropped", marks=pytest.mark.slow),
        pytest.param("tcp_port_dropped_for_the_page", marks=pytest.mark.slow),
    ],
)
def test_turn_unreachable(page, open_nb, kernel_eval, coturn, egress, scenario, how):
    """3. Under the relay policy, a TURN server that cannot be reached: nothing listens
    on its UDP or TCP port, or nftables drops its TCP port (and all UDP), for both sides
    or for the page only (the kernel, next to coturn, still reaches it). The error names
    the unreachable TURN server within seconds, not the generic sentence."""
    egress.reset()
    url = {
        "udp_port_closed": f"turn:{nl.SERVER_IP}:{CLOSED_PORT}",
        "tcp_port_closed": f"turn:{nl.SERVER_IP}:{CLOSED_PORT}?transport=tcp",
    }.get(how, TURN_TCP)
    if how.startswith("tcp_port_dropped"):
        nl.block_udp_and_tcp_ports(scenario, [3478], also_from_b=how == "tcp_port_dropped")
    kwargs = f'ice_servers={[_server(url)]!r}, ice_transport_policy="relay"'
    made_before = coturn.made()
    try:
        _start(page, open_nb, f"net_unreachable_{how}.ipynb", kwargs=kwargs)
        got = _wait_ended(kernel_eval, timeout=40)
        # a closed port is refused at once (TCP RST; ICMP port unreachable for UDP, which
        # nbrtc._transport.ice turns into a failed allocation); a dropped one is given up on after
        # aioice's 5 s gathering timeout
        dropped = how.startswith("tcp_port_dropped")
        within = UNREACHABLE_WITHIN_S if dropped else FAIL_WITHIN_S
        shown = _assert_failed_in_words(page, got, within, "TURN server")
        words = ("no answer", "could not reach") if dropped else ("refused the connection",)
        assert any(w in got["error"] for w in words), got["error"]
        if how.startswith("tcp_port_dropped"):
            assert scenario.counters()["dropped"] > 0
        _close(page, kernel_eval)
        if how != "tcp_port_dropped_for_the_page":
            assert coturn.made() == made_before
        coturn.wait_released(timeout=5)
        leaks = _assert_no_leaks(page, kernel_eval, coturn)
        _assert_no_egress(egress)
        _record(
            f"3_unreachable_{how}",
            {"cell_to_error_s": round(got["ended"][1], 3), "error": got["error"],
             "view_says": shown, "turn_notes": [n for n in got["history"] if "TURN" in str(n)],
             "leaks": leaks},
        )  # fmt: skip
    finally:
        _close_all(kernel_eval)


def _need_nss(pki: Pki) -> None:
    if pki.home is None:
        pytest.skip(
            f"no certutil at {nl.CERTUTIL}: Chromium's NSS database cannot be made "
            "(apt-get install libnss3-tools; scripts/setup.sh does)"
        )


def test_turns_private_ca_trusted_by_chromium(
    page, open_nb, kernel_eval, coturn, egress, scenario, tls_coturns, pki
):
    """4. turns: with a certificate from the lab's private CA, UDP dropped: Chromium
    trusts the CA through its NSS database, the kernel through SSL_CERT_FILE; live
    through the relay over TLS on both sides; allocations released on close."""
    _need_nss(pki)
    trusted, untrusted = tls_coturns
    egress.reset()
    scenario.block_udp_between(nl.CLIENT_IP, nl.SERVER_IP)
    url = f"turns:{nl.SERVER_IP}:{TLS_PORT}"
    pre = f"os.environ['SSL_CERT_FILE'] = {str(pki.lab[0])!r}\n"
    kwargs = f'ice_servers={[_server(url)]!r}, ice_transport_policy="relay"'
    try:
        _start(page, open_nb, "net_turns_trusted.ipynb", kwargs=kwargs, pre=pre)
        got = _wait_ended(kernel_eval, timeout=30)
        assert got["ended"][0] == "live", got
        got = _wait_first_frame(kernel_eval)
        pair = _selected(page)
        assert pair["local"]["type"] == "relay", pair
        assert pair["local"]["relayProtocol"] == "tls", pair
        [ksel] = got["kernel_selected"]
        assert ksel["local"]["candidateType"] == "relay", ksel
        live_allocations = trusted.allocations()
        assert live_allocations >= 2, trusted.log_tail(30)
        t_close_call = time.monotonic()
        _close(page, kernel_eval)
        released = trusted.wait_released(timeout=10, since=t_close_call)
        assert released <= 2.0
        leaks = _assert_no_leaks(page, kernel_eval, trusted)
        assert untrusted.made() == 0 and coturn.allocations() == 0
        _assert_no_egress(egress)
        _record(
            "4_turns_trusted",
            {"cell_to_live_s": round(got["ended"][1], 3),
             "cell_to_first_frame_s": round(got["first_frame"], 3),
             "page_selected_pair": pair, "kernel_selected_pair": ksel,
             "allocations_live_before_close": live_allocations,
             "close_to_all_released_s": round(released, 3), "leaks": leaks},
        )  # fmt: skip
    finally:
        _close_all(kernel_eval)


@pytest.mark.slow
def test_turns_ca_chromium_does_not_trust(
    page, open_nb, kernel_eval, coturn, egress, scenario, tls_coturns, pki
):
    """4'. turns: with a certificate from a CA Chromium does not trust (the kernel does:
    SSL_CERT_FILE names both CAs, so only the page fails): the stream fails within seconds
    in words naming the turns: server (checked first, with the leaks), and those words
    say TLS/certificate (the last check: Chromium reports a refused certificate like a
    closed port, 701 "Failed to establish connection", so nbrtc's words for a turns: 701
    name both possibilities)."""
    _need_nss(pki)
    trusted, untrusted = tls_coturns
    egress.reset()
    scenario.block_udp_between(nl.CLIENT_IP, nl.SERVER_IP)
    url = f"turns:{nl.SERVER_IP}:{UNTRUSTED_TLS_PORT}"
    pre = f"os.environ['SSL_CERT_FILE'] = {str(pki.both_cas)!r}\n"
    kwargs = f'ice_servers={[_server(url)]!r}, ice_transport_policy="relay"'
    try:
        _start(page, open_nb, "net_turns_untrusted.ipynb", kwargs=kwargs, pre=pre)
        got = _wait_ended(kernel_eval, timeout=40)
        shown = _assert_failed_in_words(page, got, TLS_FAIL_WITHIN_S, "browser:", url)
        assert untrusted.made() >= 1, "the kernel (which trusts the CA) got its allocation"
        _close(page, kernel_eval)
        _no_live_allocation(trusted, untrusted)
        leaks = _assert_no_leaks(page, kernel_eval, untrusted)
        _assert_no_egress(egress)
        _record(
            "4_turns_untrusted_by_chromium",
            {"cell_to_error_s": round(got["ended"][1], 3), "error": got["error"],
             "view_says": shown, "turn_notes": [n for n in got["history"] if "TURN" in str(n)],
             "leaks": leaks},
        )  # fmt: skip
        assert any(w in got["error"] for w in ("TLS", "certificate")), got["error"]
    finally:
        _close_all(kernel_eval)
