"""``SenderView`` (nbrtc/_media/passthrough.py): which processed frames go back as the
camera encoded them and which are encoded, frame by frame. aiortc's sender, transceiver
and receiver are stood in for by the few attributes the view reads (the real ones are in
tests/kernel/test_media.py); frames are real ``av.VideoFrame``s tagged as
``_upstream.decoder_worker`` tags them."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

import av
import pytest

from nbrtc import _upstream
from nbrtc._media import passthrough
from nbrtc._media.passthrough import CALM_FRAMES, SenderView
from nbrtc._transport import rtp_recovery

KEY = b"\x10\x02\x00\x9d\x01\x2a"  # first bit 0: a VP8 keyframe
DELTA = b"\x31\x02\x00"  # first bit 1: an inter frame


class Sender:
    def __init__(self) -> None:
        self._RTCRtpSender__force_keyframe = False
        self.forced = 0

    def _send_keyframe(self) -> None:
        self._RTCRtpSender__force_keyframe = True
        self.forced += 1


class Receiver:
    """Records the keyframe requests (PLIs) the view makes through rtp_recovery."""

    def __init__(self) -> None:
        self.plis: list[int] = []

    async def pli(self) -> None:
        self.plis.append(1234)


@pytest.fixture(autouse=True)
def plis_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rtp_recovery, "request_keyframe", lambda receiver: receiver.pli())


class Codec:
    def __init__(self, mime: str) -> None:
        self.mimeType = mime


class Transceiver:
    def __init__(self, mime: str = "video/VP8") -> None:
        self.sender = Sender()
        self.receiver = Receiver()
        self._codecs = [Codec(mime)]


def frame(seq: int | None, data: bytes = DELTA) -> av.VideoFrame:
    f = av.VideoFrame(16, 16, "yuv420p")
    f.pts, f.time_base = seq or 0, Fraction(1, 90000)
    if seq is not None:
        f.opaque = (_upstream.ENCODED_TAG, seq, data)
    return f


def run(view: SenderView, frames: list[av.VideoFrame]) -> list[str]:
    """What the sender gets for each frame: "P" a packet (forwarded), "F" the frame."""

    async def go() -> list[str]:
        out = []
        for f in frames:
            got = view.choose(f)
            out.append("P" if isinstance(got, av.Packet) else "F")
            if isinstance(got, av.Packet):
                assert bytes(got) == f.opaque[2] and got.pts == f.pts
            else:
                assert got is f
            # aiortc clears the flag when it encodes a frame
            if not isinstance(got, av.Packet):
                view._transceiver.sender._RTCRtpSender__force_keyframe = False
        await asyncio.sleep(0)  # the PLI tasks run
        return out

    return asyncio.run(go())


def make(mime: str = "video/VP8") -> tuple[SenderView, Transceiver, list[int]]:
    count: list[int] = []
    t = Transceiver(mime)
    return SenderView(None, t, lambda: count.append(1)), t, count  # type: ignore[arg-type]


def test_the_test_frames_are_what_they_claim() -> None:
    assert rtp_recovery.is_keyframe("VP8", KEY) and not rtp_recovery.is_keyframe("VP8", DELTA)


def test_unchanged_frames_forward_from_the_first_keyframe() -> None:
    view, t, count = make()
    got = run(view, [frame(1), frame(2, KEY), frame(3), frame(4)])
    assert got == ["F", "P", "P", "P"], "a stream joined mid-way waits for a keyframe"
    assert len(count) == 3 and view.forwarding
    assert t.sender.forced == 0


def test_a_changed_frame_is_encoded_as_a_keyframe_and_forwarding_waits_for_calm() -> None:
    view, t, _ = make()
    frames = [frame(1, KEY), frame(2), frame(None), frame(4)]
    frames += [frame(n) for n in range(5, 5 + CALM_FRAMES)]
    frames += [frame(5 + CALM_FRAMES, KEY), frame(6 + CALM_FRAMES)]
    got = run(view, frames)
    assert got[:4] == ["P", "P", "F", "F"]
    assert t.sender.forced == 1, "the first encoded frame after forwarding is a keyframe"
    assert got[4 : 4 + CALM_FRAMES] == ["F"] * CALM_FRAMES
    assert t.receiver.plis == [1234], "calm again: the camera was asked for a keyframe, once"
    assert got[-2:] == ["P", "P"], "forwarding resumes on the camera's keyframe"


def test_a_skipped_frame_ends_forwarding_until_frames_come_in_order() -> None:
    view, t, _ = make()
    got = run(view, [frame(1, KEY), frame(2), frame(4), frame(6, KEY), frame(8, KEY)])
    assert got == ["P", "P", "F", "F", "F"], "a gap: encode (keyframe); gaps keep it encoding"
    assert t.sender.forced == 1 and t.receiver.plis == [], "no keyframe asked while skipping"


def test_a_page_pli_while_forwarding_is_answered_with_an_encoded_keyframe() -> None:
    view, t, _ = make()
    assert run(view, [frame(1, KEY), frame(2)]) == ["P", "P"]
    t.sender._send_keyframe()  # what aiortc does on the page's PLI
    assert run(view, [frame(3), frame(4), frame(5, KEY)]) == ["F", "F", "P"]
    assert t.receiver.plis == [1234], "the camera was asked for its next keyframe at once"


@pytest.mark.parametrize("mime", ["video/H264", "video/VP9"])
def test_other_codecs_are_always_encoded(mime: str) -> None:
    view, _, count = make(mime)
    assert run(view, [frame(1, KEY), frame(2)]) == ["F", "F"] and not count


def test_switched_off_everything_is_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passthrough, "ENABLED", False)
    view, _, count = make()
    assert run(view, [frame(1, KEY), frame(2)]) == ["F", "F"] and not count


def test_aiortc_has_what_forwarding_needs() -> None:
    assert _upstream.passthrough_problems() == []
    assert passthrough.usable()


def test_frames_without_the_tag_are_encoded(monkeypatch: pytest.MonkeyPatch) -> None:
    view, _, _ = make()
    plain: Any = frame(None)
    plain.opaque = ("something else", 1, KEY)
    assert run(view, [plain, frame(None)]) == ["F", "F"]
