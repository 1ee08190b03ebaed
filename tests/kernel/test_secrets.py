"""No secret leaves the kernel except what the page strictly needs for its own connection.

Secrets: TURN credentials (``nbrtc.config.ice_servers`` / ``ice_servers=``), the ICE
password of every SDP (``a=ice-pwd``) and the page key of browser -> kernel envelopes.
Each path out is tested: error texts, reprs, the synced (and saved) widget state,
history, the Inspector's traits, nbrtc's and the libraries' log records, and the log of
a real kernel started with ``--debug``. The page gets the credential by asking for it
(``ice-servers``), and only then.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

import nbrtc
from nbrtc import _redact

from ._browser import FakeBrowser, wait_for

#: a TURN server that refuses at once (TCP to the discard port, closed on loopback):
#: aiortc's gathering does not wait for it, and the stream connects on host candidates
TURN_URL = "turn:127.0.0.1:9?transport=tcp"


def turn(credential: str) -> dict[str, str]:
    return {"urls": TURN_URL, "username": "nbrtc-user", "credential": credential}


@pytest.fixture
def credential() -> Iterator[str]:
    """A unique TURN credential; nbrtc.config.ice_servers is restored afterwards."""
    before = nbrtc.config.ice_servers
    yield f"turn-pw-{secrets.token_hex(8)}"
    nbrtc.config.ice_servers = before


def dump(value: Any) -> str:
    return json.dumps(value, default=repr)


# --- error texts and reprs ---------------------------------------------------------------
#: (what is wrong, the words the error names it with); each builds a server holding the
#: credential somewhere
MISTAKES = {
    "urls misspelled": (
        lambda c: {"url": TURN_URL, "username": "u", "credential": c},
        "must be a dict with 'urls'",
    ),
    "credential misspelled": (
        lambda c: {"urls": TURN_URL, "username": "u", "credentail": c},
        "unknown key(s) 'credentail'",
    ),
    "credentials plural": (
        lambda c: {"urls": "stun:127.0.0.1:3478", "credentials": c},
        "unknown key(s) 'credentials'",
    ),
    "not a turn url": (
        lambda c: {"urls": "http://turn.example.org", "username": "u", "credential": c},
        "must be stun:/turn: URL(s)",
    ),
    "username not a string": (
        lambda c: {"urls": TURN_URL, "username": 7, "credential": c},
        "['username'] must be a string",
    ),
    "a tuple instead of a dict": (
        lambda c: (TURN_URL, "u", c),
        "must be a dict with 'urls', got a tuple",
    ),
    "a dict instead of a list": (
        lambda c: {"urls": TURN_URL, "username": "u", "credential": c},
        "must be a list",
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_errors_about_ice_servers_never_show_the_credential(credential: str, mistake: str) -> None:
    build, words = MISTAKES[mistake]
    server = build(credential)
    value = server if mistake == "a dict instead of a list" else [server]
    makers = [
        lambda: setattr(nbrtc.config, "ice_servers", value),
        lambda: nbrtc.Camera(ice_servers=value),
        lambda: nbrtc.Room(ice_servers=value),
    ]
    for make in makers:
        with pytest.raises(ValueError) as info:
            make()
        text = str(info.value)
        assert words in text, text
        assert credential not in text and credential not in repr(info.value), text


def test_reprs_show_no_credential(credential: str, no_leaks: None) -> None:
    from IPython.lib.pretty import pretty

    nbrtc.config.ice_servers = [turn(credential)]
    shown = [repr(nbrtc.config), repr(nbrtc.config.ice_servers), pretty(nbrtc.config.ice_servers)]
    cam = nbrtc.Camera()
    try:
        shown += [repr(cam), pretty(cam), repr(cam._servers)]
    finally:
        cam.close()
    for text in shown:
        assert credential not in text, text
    assert "'credential': '<hidden>'" in shown[1]
    # what is shown is hidden, what is used is not: the kernel's own peer needs it
    assert nbrtc.config.ice_servers[0]["credential"] == credential


# --- widget state (synced to every page, saved with the notebook) ------------------------
def test_widget_state_keeps_urls_only_and_asks_for_logins(credential: str, no_leaks: None) -> None:
    nbrtc.config.ice_servers = [turn(credential)]
    made = [nbrtc.Camera(), nbrtc.VideoView(), nbrtc.Room()]
    made.append(nbrtc.Camera(ice_servers=[turn(credential + "-own")]))
    try:
        for w in made:
            state = dump(w.get_state())
            assert credential not in state, f"{type(w).__name__}: {state[:300]}"
            assert "nbrtc-user" not in state, "the login's username goes with its password"
            assert w.rtc_config == {"iceServers": [{"urls": TURN_URL}], "credentials": "ask"}
    finally:
        for w in made:
            w.close()
    nbrtc.config.ice_servers = [{"urls": "stun:127.0.0.1:3478"}]
    with nbrtc.Camera() as plain:  # no login: nothing to ask, no round trip for the page
        assert plain.rtc_config == {"iceServers": [{"urls": "stun:127.0.0.1:3478"}]}


# --- the page asks; history, Inspector and logs never hold the secrets ------------------
def secret_values(browser: FakeBrowser, sid: str) -> list[str]:
    """The browser's ICE password for ``sid`` (from its offer)."""
    return re.findall(r"a=ice-pwd:(\S+)", browser.offers[sid])


def test_the_page_gets_the_credential_and_nothing_else_keeps_it(
    credential: str,
    browser: FakeBrowser,
    widgets: list[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, aiortc's and aioice's included
    cam = nbrtc.Camera(ice_servers=[turn(credential)])
    widgets.append(cam)
    browser.attach(cam)
    # the page asks for the stream it is about to start, and gets the full list
    sid = browser.new_stream_id()
    browser.send(cam, "ice-servers", sid, None)
    wait_for(lambda: browser.of_type("ice-servers", sid), 5, what="the ice-servers reply")
    assert browser.of_type("ice-servers", sid)[0]["payload"] == {"iceServers": [turn(credential)]}
    assert not browser.of_type("error", sid)

    live_sid = browser.start(cam)
    cam.wait("live", timeout=10)
    insp = cam.inspect(interval=0.2)
    try:
        wait_for(lambda: insp.sdp.get("answer") and insp.log, 5, what="the Inspector's panels")
        passwords = secret_values(browser, live_sid)
        assert passwords, "the fake page's offer has an ICE password"
        # too late for that stream: it has offered; and never for a closed one
        browser.send(cam, "ice-servers", live_sid, None)
        wait_for(lambda: browser.of_type("error", live_sid), 5, what="out-of-order refusal")
        assert browser.of_type("error", live_sid)[-1]["payload"]["code"] == "out-of-order"
        places = {
            "history": dump(cam.history(chatter=True)),
            "streams": dump(cam.streams),
            "stats": dump(cam.stats()),
            "inspector": dump(insp.get_state()),
            "widget state": dump(cam.get_state()),
        }
    finally:
        insp.close()
    browser.bye(live_sid)
    wait_for(lambda: not nbrtc.manager().streams(), 5, what="the stream closed")
    browser.send(cam, "ice-servers", live_sid, None)  # tombstoned id
    wait_for(lambda: len(browser.of_type("error", live_sid)) >= 2, 5, what="closed refusal")
    assert browser.of_type("error", live_sid)[-1]["payload"]["code"] == "closed"
    # once per request: the explicit one, and the fake page's own before it offered (as
    # the real page does); never for the refused ones
    assert [m["stream"] for m in browser.of_type("ice-servers")] == [sid, live_sid]

    places["log records"] = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    for where, text in places.items():
        for secret in [credential, *passwords]:
            assert secret not in text, f"{where} holds a secret: {text[:400]}"


def test_a_room_answers_before_join_and_never_for_a_member_that_left(
    credential: str, browser: FakeBrowser, no_leaks: None
) -> None:
    room = nbrtc.Room(ice_servers=[turn(credential)])
    browser.attach(room)
    try:
        sid = browser.new_stream_id()
        browser.send(room, "ice-servers", sid, None)
        wait_for(lambda: browser.of_type("ice-servers", sid), 5, what="the room's reply")
        assert browser.of_type("ice-servers", sid)[0]["payload"]["iceServers"][0]["credential"] == (
            credential
        )
        browser.send(room, "join", sid, {"page": browser.page, "view": "v1"})
        wait_for(lambda: browser.of_type("members", sid), 5, what="admitted")
        browser.send(room, "bye", sid, {"reason": "view-removed"})
        wait_for(lambda: not room.members(), 5, what="left")
        browser.send(room, "ice-servers", sid, None)
        wait_for(lambda: browser.of_type("error", sid), 5, what="refusal")
        assert browser.of_type("error", sid)[0]["payload"]["code"] == "closed"
        assert credential not in dump(room.history()) and credential not in dump(room.get_state())
    finally:
        room.close()


def test_the_redaction_filter_covers_records_of_any_logger_through_the_handlers(
    credential: str,
) -> None:
    """A record logged on a child logger reaches the root's handlers without passing the
    filters of any logger but its own: the filter on the root's handlers masks it."""
    nbrtc.config.ice_servers = [turn(credential)]
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record))

    handler = Keep(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        _redact.install()
        key = secrets.token_hex(16)
        child = logging.getLogger("some.library.below.nbrtc")
        child.setLevel(logging.DEBUG)
        child.debug("received %s", {"sdp": "a=ice-pwd:Zx9+/pw0123456789abcdef\r\n", "key": key})
        child.debug("configured %r", [dict(turn(credential))])
        try:
            raise RuntimeError(f"TURN login {credential} refused")
        except RuntimeError:
            child.exception("failed")
    finally:
        root.removeHandler(handler)
    text = "\n".join(seen)
    assert len(seen) == 3
    for secret in (credential, key, "Zx9+/pw0123456789abcdef"):
        assert secret not in text, text
    assert "a=ice-pwd:<redacted>" in text and "'key': '<redacted>'" in text


# --- a real kernel started with --debug -------------------------------------------------
def test_a_debug_kernel_logs_no_secret(tmp_path: Any) -> None:
    """ipykernel --debug logs every message it receives, content included. A real kernel,
    a Camera with a TURN login (from the environment, as a notebook should read it), a
    real aiortc offer with its ICE password and a page key: neither the kernel's log nor
    any output holds them; the ice-servers reply (for the page) is the only place the
    credential goes."""
    import asyncio

    from aiortc import RTCPeerConnection
    from jupyter_client import KernelManager

    credential = f"turn-pw-{secrets.token_hex(8)}"
    key = secrets.token_hex(16)

    async def make_offer() -> str:
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="sendrecv")
        pc.createDataChannel("nbrtc")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    offer = asyncio.run(make_offer())
    (password,) = set(re.findall(r"a=ice-pwd:(\S+)", offer))
    log_path = tmp_path / "kernel.log"
    km = KernelManager(kernel_name="python3")
    env = {**os.environ, "NBRTC_TEST_TURN_CREDENTIAL": credential}
    with open(log_path, "w") as log_file:
        km.start_kernel(extra_arguments=["--debug"], env=env, stdout=log_file, stderr=log_file)
        kc = km.client()
        kc.start_channels()
        iopub: list[dict[str, Any]] = []
        try:
            kc.wait_for_ready(timeout=30)

            def run(code: str) -> str:
                msg_id = kc.execute(code)
                out = ""
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    msg = kc.get_iopub_msg(timeout=30)
                    iopub.append(msg)
                    if msg["parent_header"].get("msg_id") != msg_id:
                        continue
                    if msg["msg_type"] == "stream":
                        out += msg["content"]["text"]
                    if msg["msg_type"] == "error":
                        out += "\n".join(msg["content"]["traceback"])
                    if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                        return out
                raise AssertionError(f"no reply to {code!r}")

            # a user's root handler too (it prints into the notebook's output)
            model_id = run(
                "import logging, os, sys, nbrtc\n"
                "logging.basicConfig(level=logging.DEBUG)\n"
                f"turn = {{'urls': {TURN_URL!r}, 'username': 'u', "
                "'credential': os.environ['NBRTC_TEST_TURN_CREDENTIAL']}\n"
                "nbrtc.config.ice_servers = [turn]\n"
                "cam = nbrtc.Camera()\n"
                "print(cam.model_id)"
            ).split()[-1]
            # a misspelled key: the error shown in the notebook
            error = run(
                "bad = dict(turn)\nbad['url'] = bad.pop('urls')\nnbrtc.config.ice_servers = [bad]"
            )
            run("cam; print(repr(cam), nbrtc.config, nbrtc.config.ice_servers)")

            def comm(content: dict[str, Any]) -> None:
                kc.shell_channel.send(
                    kc.session.msg(
                        "comm_msg",
                        {"comm_id": model_id, "data": {"method": "custom", "content": content}},
                    )
                )

            sid = "pagekeytest-1"
            comm({"v": 1, "type": "ice-servers", "stream": sid, "payload": None, "key": key})
            offer_msg = {"sdp": offer, "kind": "camera", "page": "pagekeytest", "view": "v1"}
            comm({"v": 1, "type": "offer", "stream": sid, "payload": offer_msg, "key": key})
            # the kernel answers the offer after the ice-servers request (same order)
            replies: list[dict[str, Any]] = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and "answer" not in {r["type"] for r in replies}:
                try:
                    msg = kc.get_iopub_msg(timeout=1)
                except Exception:
                    continue
                iopub.append(msg)
                if msg["msg_type"] == "comm_msg":
                    data = msg["content"]["data"]
                    if data.get("method") == "custom":
                        replies.append(data["content"])
            run("cam.close()")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    log_text = log_path.read_text()
    outputs = json.dumps([m["content"] for m in iopub if m["msg_type"] != "comm_msg"], default=str)
    for secret in (credential, password, key):
        assert secret not in log_text, f"{secret[:12]}... in the kernel's log"
        assert secret not in outputs, f"{secret[:12]}... in an output"
    assert "comm_msg" in log_text and "IPKernelApp" in log_text, "the kernel logged at DEBUG"
    assert "a=ice-pwd:<redacted>" in log_text, "the offer was logged, masked"
    assert "a=ice-pwd:<redacted>" in outputs, "the user's root handler printed it, masked"
    assert "must be a dict with 'urls'" in error and "<hidden>" in error, error
    # the page got what it needs, and the stream was answered
    types = [r["type"] for r in replies]
    assert "answer" in types, types
    granted = [r for r in replies if r["type"] == "ice-servers"]
    assert granted and granted[0]["payload"]["iceServers"][0]["credential"] == credential, types
    print(
        f"kernel log: {len(log_text)} chars, {log_text.count('<redacted>')} masked; "
        f"outputs: {outputs.count('<redacted>')} masked",
        file=sys.stderr,
    )
