"""``split_batch``: a page's ``batch`` taken apart into stand-alone messages (docs/protocol.md
"Batches"), and the page's rules mirrored in js/core/protocol.js."""

from __future__ import annotations

import re
from pathlib import Path

from nbrtc._signaling.protocol import (
    BATCHABLE,
    MAX_BATCH,
    Message,
    ProtocolError,
    parse_browser_message,
    split_batch,
)

PROTOCOL_JS = Path(__file__).resolve().parents[2] / "js" / "core" / "protocol.js"
KEY = "a" * 32


def _batch(items: object, **envelope: object) -> dict[str, object]:
    return {"v": 1, "type": "batch", "stream": "p1-1", "payload": items, "key": KEY, **envelope}


def test_not_a_batch_is_left_alone() -> None:
    assert split_batch({"v": 1, "type": "state", "stream": "p1-1", "payload": {}}) is None
    assert split_batch(["batch"]) is None


def test_items_become_messages_with_the_batch_envelope_in_order() -> None:
    cand = {"candidate": "candidate:1 1 udp 1 192.0.2.1 5000 typ host", "sdpMid": "0"}
    items = split_batch(
        _batch(
            [
                {"type": "candidate", "payload": cand},
                {"type": "state", "payload": {"ice": "new"}},
                {"type": "candidate"},
            ]
        )
    )
    assert isinstance(items, list)
    parsed = [parse_browser_message(m) for m in items]
    assert all(isinstance(m, Message) for m in parsed)
    assert [(m.type, m.stream, m.key, m.payload) for m in parsed] == [  # type: ignore[union-attr]
        ("candidate", "p1-1", KEY, cand),
        ("state", "p1-1", KEY, {"ice": "new"}),
        ("candidate", "p1-1", KEY, None),
    ]


def test_an_item_keeps_the_envelope_faults_of_its_batch() -> None:
    """Version, stream id and key are the batch's: each item fails as the batch would."""
    [item] = split_batch(_batch([{"type": "state", "payload": {}}], v=2))  # type: ignore[misc]
    err = parse_browser_message(item)
    assert isinstance(err, ProtocolError) and err.code == "version"
    [item] = split_batch(_batch([{"type": "state", "payload": {}}], stream="no spaces"))  # type: ignore[misc]
    err = parse_browser_message(item)
    assert isinstance(err, ProtocolError) and err.code == "bad-message"


def test_wrong_shapes_are_refused_whole() -> None:
    ok = {"type": "state", "payload": {}}
    cases = [
        (_batch([]), "bad-message"),
        (_batch([ok] * (MAX_BATCH + 1)), "bad-message"),
        (_batch({"type": "state"}), "bad-message"),
        (_batch([ok, {"type": "offer", "payload": {"sdp": "v=0"}}]), "bad-message"),
        (_batch([ok, {"type": "batch", "payload": [ok]}]), "bad-message"),
        (_batch([ok, "state"]), "bad-message"),
        (_batch([{"type": "state", "payload": {"x": "é" * 140_000}}]), "too-large"),
    ]
    for content, code in cases:
        err = split_batch(content)
        assert isinstance(err, ProtocolError), content
        assert (err.code, err.type) == (code, "batch")
    err = split_batch(_batch([ok]), [b"jpeg"])
    assert isinstance(err, ProtocolError) and err.code == "bad-message"
    assert len(split_batch(_batch([ok] * MAX_BATCH)) or []) == MAX_BATCH


def test_the_page_batches_what_the_kernel_takes() -> None:
    js = PROTOCOL_JS.read_text()
    types = re.search(r"export const BATCHABLE = Object\.freeze\(\[([^\]]*)\]\)", js)
    limit = re.search(r"export const MAX_BATCH = (\d+);", js)
    assert types and limit
    assert set(re.findall(r'"([^"]+)"', types.group(1))) == BATCHABLE
    assert int(limit.group(1)) == MAX_BATCH
