"""``parse_control_message``: what the kernel takes on a stream's control channel
(docs/protocol.md "Control channel"), and the page's list of such types in
js/peer/control.js."""

from __future__ import annotations

import json
import re
from pathlib import Path

from nbrtc._signaling.protocol import (
    CONTROL_TYPES,
    MAX_MESSAGE_BYTES,
    Message,
    ProtocolError,
    parse_control_message,
)

CONTROL_JS = Path(__file__).resolve().parents[2] / "js" / "peer" / "control.js"
SID = "p1-1"


def _text(type_: str = "stats", stream: str = SID, payload: object = None, **more: object) -> str:
    if payload is None:
        payload = {"t": 1.0, "reports": [{"id": "t", "type": "transport"}]}
    return json.dumps({"v": 1, "type": type_, "stream": stream, "payload": payload, **more})


def _refused(data: object, stream: str = SID) -> ProtocolError:
    got = parse_control_message(data, stream)
    assert isinstance(got, ProtocolError), got
    return got


def test_a_stats_sample_and_a_ping_are_taken_with_their_size() -> None:
    text = _text()
    msg = parse_control_message(text, SID)
    assert isinstance(msg, Message)
    assert (msg.type, msg.stream, msg.key, msg.size) == ("stats", SID, "", len(text))
    ping = parse_control_message(_text("ping", payload={"t": 2.5}), SID)
    assert isinstance(ping, Message) and ping.payload == {"t": 2.5}
    # a size counts UTF-8 bytes, as the wire does
    wide = _text(payload={"t": 1, "reports": [{"id": "é" * 10, "type": "transport"}]})
    msg = parse_control_message(wide, SID)
    assert isinstance(msg, Message) and msg.size == len(wide.encode())


def test_only_its_own_stream_and_only_the_reports() -> None:
    assert _refused(_text(stream="p1-2")).code == "unknown-stream"
    for type_ in ("offer", "bye", "candidate", "state", "batch", "nonsense", None):
        err = _refused(_text(type_, payload={}))  # type: ignore[arg-type]
        assert err.code == "bad-type", (type_, err)
        assert "through the comm" in err.message


def test_malformed_messages_are_refused_in_words() -> None:
    assert _refused(b"\x00").code == "bad-message"  # binary
    assert _refused("not json").code == "bad-message"
    assert _refused("[1, 2]").code == "bad-message"
    assert _refused('{"v": 1, "type": "ping", "stream": "p1-1", "payload": {"t": "x"}}').code == (
        "bad-message"
    )
    assert _refused(_text(v=2)).code == "version"
    assert _refused(_text(payload={"t": 1, "reports": "no"})).code == "bad-message"
    assert _refused("[" * 100_000).code == "bad-message"  # nested too deep for json
    big = _text(payload={"t": 1, "reports": [{"id": "x" * MAX_MESSAGE_BYTES, "type": "t"}]})
    assert _refused(big).code == "too-large"


def test_the_page_sends_the_same_types() -> None:
    found = re.search(r"CONTROL_TYPES = Object\.freeze\(\[([^\]]*)\]\)", CONTROL_JS.read_text())
    assert found, "js/peer/control.js declares CONTROL_TYPES"
    assert set(re.findall(r'"([^"]+)"', found.group(1))) == set(CONTROL_TYPES)


def test_a_ping_may_ask_with_a_boolean_only() -> None:
    """The page's ping that asks for the kernel's through the comm (``ask``) is taken;
    anything but a boolean there is refused in words."""
    asked = parse_control_message(_text("ping", payload={"t": 2.5, "ask": True}), SID)
    assert isinstance(asked, Message) and asked.payload["ask"] is True
    refused = _refused(_text("ping", payload={"t": 2.5, "ask": "yes"}))
    assert refused.code == "bad-message" and "ask" in refused.message, refused
