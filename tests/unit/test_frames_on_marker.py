"""A video frame leaves aiortc's jitter buffer with its last packet (the RTP marker bit).

aiortc's own buffer hands a frame on only when the next frame's first packet arrives, one
frame interval later. These tests feed a real aiortc receiver's buffer, wrapped by
``_upstream.complete_frames_on_marker``, the packets a sender would send.
"""

from __future__ import annotations

import types
from typing import Any

from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from nbrtc import _upstream


def _buffer() -> Any:
    """The ``add`` of a fresh video receiver's jitter buffer, wrapped."""
    receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))  # type: ignore[arg-type]
    _upstream.complete_frames_on_marker(receiver)
    return receiver._RTCRtpReceiver__jitter_buffer.add  # type: ignore[attr-defined]


def _packet(seq: int, ts: int, data: bytes, marker: bool) -> RtpPacket:
    p = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts, marker=int(marker))
    p._data = data  # type: ignore[attr-defined]  # what aiortc's receiver sets before add
    return p


def test_a_frame_leaves_with_its_marked_packet() -> None:
    add = _buffer()
    assert add(_packet(100, 3000, b"a", False)) == (False, None)
    assert add(_packet(101, 3000, b"b", False)) == (False, None)
    pli, frame = add(_packet(102, 3000, b"c", True))
    assert not pli and frame is not None, "the whole frame is there: it leaves now"
    assert (frame.data, frame.timestamp) == (b"abc", 3000)
    # the next frame's first packet does not bring the old frame out a second time
    assert add(_packet(103, 6000, b"d", False)) == (False, None)
    pli, frame = add(_packet(104, 6000, b"e", True))
    assert frame is not None and (frame.data, frame.timestamp) == (b"de", 6000)


def test_a_single_packet_frame() -> None:
    add = _buffer()
    for i, ts in enumerate((3000, 6000, 9000)):
        _, frame = add(_packet(7 + i, ts, bytes([i]), True))
        assert frame is not None and frame.data == bytes([i]) and frame.timestamp == ts


def test_a_hole_holds_the_frame_until_it_is_filled() -> None:
    add = _buffer()
    assert add(_packet(10, 3000, b"a", False)) == (False, None)
    # 11 is late: the marked packet cannot complete the frame yet
    assert add(_packet(12, 3000, b"c", True)) == (False, None)
    _, frame = add(_packet(11, 3000, b"b", False))
    assert frame is not None and (frame.data, frame.timestamp) == (b"abc", 3000), (
        "the late packet completes it"
    )
    assert add(_packet(13, 6000, b"d", False)) == (False, None), "not handed on twice"
    _, frame = add(_packet(14, 6000, b"e", True))
    assert frame is not None and frame.data == b"de"


def test_a_marked_packet_of_a_later_frame_does_not_cut_an_unfinished_one() -> None:
    add = _buffer()
    assert add(_packet(20, 3000, b"a", False)) == (False, None)
    # 21 (the rest of frame 3000, marked) is lost; frame 6000 arrives whole
    _, frame = add(_packet(22, 6000, b"x", True))
    assert frame is None, "a hole at 21: nothing complete from the origin"


def test_without_the_wrapper_aiortc_waits_for_the_next_frame() -> None:
    receiver = RTCRtpReceiver("video", types.SimpleNamespace(state="new"))  # type: ignore[arg-type]
    add = receiver._RTCRtpReceiver__jitter_buffer.add  # type: ignore[attr-defined]
    assert add(_packet(100, 3000, b"a", True)) == (False, None), "aiortc holds it"
    _, frame = add(_packet(101, 6000, b"b", True))
    assert frame is not None and frame.data == b"a", "handed on one frame later"
