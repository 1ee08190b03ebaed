"""A page's text must be well-formed Unicode (docs/protocol.md "Envelope"): JSON's
``"\\ud800"`` escape carries a lone surrogate, which UTF-8 cannot. Taken in, it would make
every reply, log line or trait that quotes it unsendable (jupyter_client's packer raises),
so the kernel refuses such a message at the boundary, on the comm and on the control
channel, and names the refused type only when it is one of the protocol's."""

from __future__ import annotations

import json
import logging

import pytest
from jupyter_client.session import Session

from nbrtc._signaling.protocol import (
    NOT_UNICODE,
    Message,
    ProtocolError,
    make_error,
    parse_browser_message,
    parse_control_message,
)

SID = "p1-1"
KEY = "a" * 32


def _envelope(type_: object = "state", payload: object = None, **more: object) -> dict:
    if payload is None:
        payload = {"connection": "connected"}
    return {"v": 1, "type": type_, "stream": SID, "key": KEY, "payload": payload, **more}


@pytest.mark.parametrize(
    "content",
    [
        _envelope(payload={"connection": "connected\ud800"}),
        _envelope(payload={"connection": "connected", "x\udfff": 1}),
        _envelope(extra=["\ud83d"]),  # half of an emoji, in a key the kernel ignores
        _envelope("error", {"name": "NotAllowedError", "message": "denied \udc00"}),
    ],
)
def test_a_lone_surrogate_anywhere_is_refused_and_the_reply_can_be_sent(content: dict) -> None:
    got = parse_browser_message(content)
    assert isinstance(got, ProtocolError), got
    assert (got.code, got.message) == ("bad-message", NOT_UNICODE)
    # the reply goes through jupyter_client's packer as every comm message does
    Session().pack(make_error(got))
    logging.getLogger("nbrtc.test").warning("refused %s: %s", got.type, got.message)


def test_well_formed_text_beyond_ascii_is_taken_and_counted_in_utf8() -> None:
    content = _envelope(payload={"connection": "connected", "note": "€ 😀"})
    got = parse_browser_message(content)
    assert isinstance(got, Message), got
    wire = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert got.size == len(wire)


def test_an_unknown_type_is_never_quoted_as_the_refused_type() -> None:
    # refused for its version before its type is looked at: the reply's ref and the log
    # line must not carry the page's text (a forged line of log, here)
    got = parse_browser_message({**_envelope("x\nnbrtc: all is well"), "v": 2})
    assert isinstance(got, ProtocolError) and got.code == "version"
    assert got.type is None
    Session().pack(make_error(got))
    got = parse_browser_message({**_envelope("state"), "v": 2})
    assert isinstance(got, ProtocolError) and got.type == "state"


def test_the_control_channel_refuses_an_escaped_lone_surrogate() -> None:
    text = json.dumps({"v": 1, "type": "ping", "stream": SID, "payload": {"t": 1, "x": "\ud800"}})
    assert "\\ud800" in text  # as a page's JSON.stringify writes it
    got = parse_control_message(text, SID)
    assert isinstance(got, ProtocolError)
    assert (got.code, got.message, got.type) == ("bad-message", NOT_UNICODE, "ping")
    # an escaped pair is a well-formed character: taken
    pair = json.dumps({"v": 1, "type": "ping", "stream": SID, "payload": {"t": 1, "x": "😀"}})
    assert "\\ud83d\\ude00" in pair
    assert isinstance(parse_control_message(pair, SID), Message)
