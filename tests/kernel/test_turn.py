"""TURN with a real coturn on loopback (issue 10, part 1): relay-only streams, short-lived
REST credentials, allocations released on close, TURN failures named in words within
seconds. Both peers are real aiortc peers (the kernel's and the FakeBrowser page's, which
asks the kernel for its TURN login like the page does).

coturn is Debian's ``turnserver``, run in the foreground by the fixture on 127.0.0.1 and
stopped by its PID (tests/lab/netlab.Coturn, without a namespace).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nbrtc
from lab.netlab import Coturn  # tests/ is on sys.path (pytest's rootdir insertion)

from ._browser import FakeBrowser, assert_holds, wait_for

pytestmark = pytest.mark.skipif(
    shutil.which("turnserver") is None, reason="Debian's coturn is not installed"
)

SECRET = "kernel-test-shared-secret"


class _Here:
    """Runs coturn in this machine's own network (no namespace): what Coturn needs of
    a lab."""

    server = ""

    def prefix(self, _ns: str) -> list[str]:
        return []  # run as it is, in this machine's network


class _RestCoturn(Coturn):
    """coturn taking TURN REST credentials (``use-auth-secret``) instead of a user."""

    def argv(self) -> list[str]:
        args = [a for a in super().argv() if not a.startswith(("--lt-cred-mech", "--user="))]
        return [*args, "--use-auth-secret", f"--static-auth-secret={SECRET}"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_coturn(cls: type[Coturn], folder: Path, ports: tuple[int, int], **kwargs: Any) -> Coturn:
    """A coturn of class ``cls`` on 127.0.0.1 (a free port; relay ports ``ports``)."""
    return cls(
        _Here(),  # type: ignore[arg-type]
        folder,
        ip="127.0.0.1",
        port=_free_port(),
        min_port=ports[0],
        max_port=ports[1],
        **kwargs,
    )


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    with _local_coturn(Coturn, tmp_path_factory.mktemp("coturn"), (49300, 49340)) as server:
        yield server


@pytest.fixture(scope="module")
def rest_coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    folder = tmp_path_factory.mktemp("coturn-rest")
    with _local_coturn(_RestCoturn, folder, (49350, 49390)) as server:
        yield server


def _relay_pair(cam: nbrtc.Camera) -> dict[str, Any]:
    [stream] = list(cam._streams.values())
    selected = stream.kernel_candidates()["selected"] or {}
    return selected


def _live_through(
    coturn: Coturn, browser: FakeBrowser, widgets: list[Any], servers: list[Any]
) -> tuple[nbrtc.Camera, str, float]:
    cam = nbrtc.Camera(ice_servers=servers, ice_transport_policy="relay")
    widgets.append(cam)
    browser.attach(cam)
    t0 = time.monotonic()
    sid = browser.start(cam)
    cam.wait("live", timeout=15)
    return cam, sid, time.monotonic() - t0


def test_relay_only_stream_goes_through_coturn_and_releases_it(
    coturn: Coturn, browser: FakeBrowser, widgets: list[Any]
) -> None:
    """ice_transport_policy="relay" on both peers: the only candidates are coturn's relay
    addresses; the camera goes live through it; closing releases every allocation."""
    servers = [{"urls": f"turn:127.0.0.1:{coturn.port}", "username": "u", "credential": "p"}]
    made = coturn.made()
    cam, _sid, took = _live_through(coturn, browser, widgets, servers)
    pair = _relay_pair(cam)
    assert pair["local"]["candidateType"] == "relay", pair
    assert coturn.made() >= made + 2, "both peers allocated on coturn"
    n = cam.frame_count
    wait_for(lambda: cam.frame_count >= n + 30, 10, what="30 frames through the relay")
    closed_at = time.monotonic()
    cam.close()
    released = coturn.wait_released(5, since=closed_at)
    print(f"\nrelay: live {took:.2f} s after the offer; allocations released {released:.2f} s")
    assert released <= 2.0


def test_turn_rest_credentials_are_minted_per_stream(
    rest_coturn: Coturn, browser: FakeBrowser, widgets: list[Any]
) -> None:
    """nbrtc.turn: coturn's use-auth-secret accepts the logins minted for the page and
    for the kernel; the secret itself never leaves the kernel."""
    server = nbrtc.turn(f"turn:127.0.0.1:{rest_coturn.port}", secret=SECRET, ttl=300)
    cam, sid, _took = _live_through(rest_coturn, browser, widgets, [server])
    assert _relay_pair(cam)["local"]["candidateType"] == "relay"
    [reply] = browser.of_type("ice-servers", sid)
    [given] = reply["payload"]["iceServers"]
    assert given["username"].endswith(f":nbrtc-{sid}") and SECRET not in str(reply)
    expiry = int(given["username"].split(":")[0])
    assert time.time() + 200 < expiry <= time.time() + 300
    cam.close()
    rest_coturn.wait_released(5)


@pytest.mark.parametrize(
    ("url", "credential", "words"),
    [
        ("turn:127.0.0.1:{port}", "wrong-pw-7", "refused the credentials (401"),
        ("turn:127.0.0.1:{port}?transport=tcp", "wrong-pw-7", "refused the credentials (401"),
        ("turn:127.0.0.1:{closed}?transport=tcp", "p", "refused the connection"),
    ],
)
def test_turn_failure_is_named_within_seconds(
    coturn: Coturn,
    browser: FakeBrowser,
    widgets: list[Any],
    url: str,
    credential: str,
    words: str,
) -> None:
    """A wrong TURN password or a refused TURN server under the relay policy: the stream
    fails within seconds, in words that name TURN and why; never the generic "ICE failed"
    after 15 s (aiortc alone would stay in "new" forever, without an event)."""
    url = url.format(port=coturn.port, closed=_free_port())
    cam = nbrtc.Camera(
        ice_servers=[{"urls": url, "username": "u", "credential": credential}],
        ice_transport_policy="relay",
        transport="webrtc",  # with "auto", the comm carries it instead (below)
    )
    widgets.append(cam)
    browser.attach(cam)
    t0 = time.monotonic()
    browser.start(cam)
    wait_for(lambda: cam.state == "error", 10, what="the stream fails")
    took = time.monotonic() - t0
    print(f"\n{url} ({credential}): error after {took:.2f} s: {cam.error}")
    assert words in cam.error and "TURN server" in cam.error
    assert "wrong-pw-7" not in cam.error  # no secret in words
    assert took < 3.0
    with pytest.raises(nbrtc.StreamError, match="TURN"):
        cam.snapshot(timeout=1)
    notes = [e for e in cam.history() if e.get("event") == "note"]
    assert any("TURN failed" in e["summary"] for e in notes), notes


def test_wrong_turn_password_under_all_warns_at_once_and_host_pairs_still_connect(
    coturn: Coturn, browser: FakeBrowser, widgets: list[Any]
) -> None:
    """The "all" policy on an open network: the kernel's TURN 401 is shown at once as
    the widget's ``warning`` (the view's notice line), and the stream goes live over its
    host pair all the same; the warning stays, since the credentials are still wrong."""
    cam = nbrtc.Camera(
        ice_servers=[{"urls": f"turn:127.0.0.1:{coturn.port}", "username": "u",
                      "credential": "wrong-pw-8"}],
        transport="webrtc",
    )  # fmt: skip
    widgets.append(cam)
    browser.attach(cam)
    t0 = time.monotonic()
    browser.start(cam)
    wait_for(lambda: "401" in cam.warning, 3, what="the warning")
    took = time.monotonic() - t0
    print(f"\nwarning after {took:.2f} s: {cam.warning}")
    assert cam.warning.startswith("TURN: ") and "refused the credentials" in cam.warning
    assert "wrong-pw-8" not in cam.warning
    cam.wait("live", timeout=10)
    from nbrtc._signaling import stream_ice

    assert_holds(lambda: cam.state == "live", stream_ice.TURN_AUTH_WAIT + 0.5, "live over host")
    assert "401" in cam.warning


def test_wrong_turn_password_under_all_fails_in_turn_words_when_nothing_else_connects(
    coturn: Coturn, browser: FakeBrowser, widgets: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "all" policy where no host pair can connect (the page never applies the
    answer, so no check is ever answered): TURN_AUTH_WAIT s after the 401 the stream fails
    in words that name TURN authentication, not 15 s later in the generic ICE words."""
    from nbrtc._signaling import stream_ice

    monkeypatch.setattr(stream_ice, "TURN_AUTH_WAIT", 1.0)
    cam = nbrtc.Camera(
        ice_servers=[{"urls": f"turn:127.0.0.1:{coturn.port}", "username": "u",
                      "credential": "wrong-pw-9"}],
        transport="webrtc",
    )  # fmt: skip
    widgets.append(cam)
    browser.attach(cam)
    browser.drop_answers = True
    t0 = time.monotonic()
    browser.start(cam)
    wait_for(lambda: cam.state == "error", 8, what="the stream fails")
    took = time.monotonic() - t0
    print(f"\nerror after {took:.2f} s: {cam.error}")
    assert cam.error.startswith("TURN authentication failed: kernel: the TURN server")
    assert "refused the credentials (401" in cam.error and "wrong-pw-9" not in cam.error
    assert took < stream_ice.ICE_CONNECT_TIMEOUT / 2


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a certificate for 127.0.0.1 it signed: (ca, cert, key)."""
    names = ("ca.key", "ca.pem", "k.pem", "r.csr", "c.pem")
    ca_key, ca, key, csr, cert = (folder / n for n in names)
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out",
        str(ca), "-days", "2", "-subj", "/CN=nbrtc test CA")  # fmt: skip
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    ssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return ca, cert, key


@pytest.fixture(scope="module")
def tls_coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Coturn, Path]]:
    folder = tmp_path_factory.mktemp("coturn-tls")
    ca, cert, key = _certificates(folder)
    server = _local_coturn(Coturn, folder, (49400, 49440), tls=(cert, key), tls_port=_free_port())
    with server:
        yield server, ca


def test_turns_with_a_private_ca(
    tls_coturn: tuple[Coturn, Path],
    browser: FakeBrowser,
    widgets: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """turns: (TLS to the TURN server) with a certificate from a private CA: without the
    CA the stream fails at once saying the certificate is not trusted and what to do;
    with SSL_CERT_FILE naming the CA it goes live through the relay."""
    coturn, ca = tls_coturn
    servers = [{"urls": f"turns:127.0.0.1:{coturn.tls_port}", "username": "u", "credential": "p"}]
    cam = nbrtc.Camera(ice_servers=servers, ice_transport_policy="relay", transport="webrtc")
    widgets.append(cam)
    browser.attach(cam)
    browser.start(cam)
    wait_for(lambda: cam.state == "error", 10, what="the untrusted certificate named")
    assert "certificate" in cam.error and "not trusted" in cam.error, cam.error
    assert "SSL_CERT_FILE" in cam.error
    cam.close()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    cam, _sid, took = _live_through(coturn, browser, widgets, servers)
    assert _relay_pair(cam)["local"]["candidateType"] == "relay"
    wait_for(lambda: cam.transport == "relay", 3, what="the path named: relay")
    print(f"\nturns: live {took:.2f} s after the offer")
    cam.close()
    coturn.wait_released(5)


def test_a_page_whose_turn_login_is_refused_is_named_at_once(
    coturn: Coturn, browser: FakeBrowser, widgets: list[Any]
) -> None:
    """The page's side (its pc's icecandidateerror, sent as `ice-error`): under the relay
    policy a page that gathered no candidate fails the stream when its gathering
    completes, in the words of its TURN error, not 15 s later as "ICE failed"."""
    servers = [{"urls": f"turn:127.0.0.1:{coturn.port}", "username": "u", "credential": "p"}]
    cam, sid, _took = _live_through(coturn, browser, widgets, servers)
    offer = browser.offers[sid]
    cam.close()
    cam = nbrtc.Camera(ice_servers=servers, ice_transport_policy="relay", transport="webrtc")
    widgets.append(cam)
    browser.attach(cam)
    new = browser.new_stream_id()
    t0 = time.monotonic()
    browser.send(cam, "offer", new, {"sdp": offer, "kind": "camera"})
    url = f"turn:127.0.0.1:{coturn.port}?transport=udp"
    browser.send(cam, "ice-error", new, {"url": url, "code": 401, "text": "Unauthorized"})
    browser.send(cam, "state", new, {"gathering": "complete", "ice": "new"})
    wait_for(lambda: cam.state == "error", 5, what="the page's TURN failure named")
    took = time.monotonic() - t0
    assert "refused the browser's credentials (401 Unauthorized)" in cam.error, cam.error
    assert "no relay candidate" in cam.error and took < 2.0


def test_turn_failure_hands_the_stream_to_the_comm_when_auto(
    coturn: Coturn, browser: FakeBrowser, widgets: list[Any]
) -> None:
    """transport="auto" (the default): the same failure does not end the stream; the
    reason is in the history, and the page's move to the comm carries it."""
    cam = nbrtc.Camera(
        ice_servers=[{"urls": f"turn:127.0.0.1:{coturn.port}", "username": "u", "credential": "x"}],
        ice_transport_policy="relay",
    )
    widgets.append(cam)
    browser.attach(cam)
    sid = browser.start(cam)
    # the offer reaches the kernel's loop asynchronously: the stream exists once it has
    wait_for(lambda: cam._last_stream is not None, 5, what="the kernel took the offer")
    stream = cam._last_stream

    def doomed() -> bool:
        return any(
            "the comm will carry the stream" in e["summary"]
            for e in cam.history()
            if e.get("event") == "note"
        )

    wait_for(doomed, 10, what="the reason noted, the stream kept")
    assert cam.state == "connecting" and cam.error == ""
    notes = " / ".join(e["summary"] for e in cam.history() if e.get("event") == "note")
    assert "refused the credentials (401" in notes
    browser.send(cam, "transport", sid, {"use": "comm", "why": "WebRTC failed before it connected"})
    wait_for(lambda: stream.transport == "comm", 5, what="on the comm")


@pytest.mark.parametrize("transport", ["webrtc", "auto"])
def test_a_page_that_never_reaches_its_turn_server_is_named(
    coturn: Coturn,
    browser: FakeBrowser,
    widgets: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    """Relay policy, and the page sends no candidate at all (Chromium's TCP connect to a
    TURN server behind a firewall that drops it hangs without an icecandidateerror): the
    stream fails PAGE_RELAY_WAIT s after the answer in words that name TURN, not at the
    15 s watchdog in general words; with transport="auto" the comm takes over instead."""
    from nbrtc._signaling import stream_ice

    monkeypatch.setattr(stream_ice, "PAGE_RELAY_WAIT", 1.0)
    servers = [{"urls": f"turn:127.0.0.1:{coturn.port}", "username": "u", "credential": "p"}]
    cam, sid, _took = _live_through(coturn, browser, widgets, servers)
    offer = browser.offers[sid]
    cam.close()
    cam = nbrtc.Camera(ice_servers=servers, ice_transport_policy="relay", transport=transport)
    widgets.append(cam)
    browser.attach(cam)
    new = browser.new_stream_id()
    t0 = time.monotonic()
    browser.send(cam, "offer", new, {"sdp": offer, "kind": "camera"})
    if transport == "webrtc":
        wait_for(lambda: cam.state == "error", 5, what="the unreachable TURN server named")
        assert time.monotonic() - t0 < 3.0
        assert "cannot reach its TURN server" in cam.error and "ICE failed" not in cam.error
    else:

        def noted() -> bool:
            return any(
                "cannot reach its TURN server" in e["summary"]
                for e in cam.history()
                if e.get("event") == "note"
            )

        wait_for(noted, 5, what="the reason noted, the stream kept for the comm")
        assert cam.state == "connecting" and cam.error == ""
