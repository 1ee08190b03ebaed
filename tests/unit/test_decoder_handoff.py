"""The lighter decoded-frame hand-off (``_upstream.decoder_worker``): a real VP8 stream
decoded on its own thread reaches an asyncio queue on a running loop in order, ends with
``None``, and a damaged frame is reported as aiortc reports it without ending the stream.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import queue
import threading

import av
import numpy as np
import pytest
from aiortc.codecs import get_encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from nbrtc import _upstream
from nbrtc._transport import decoder_handoff

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


def _encoded(n: int) -> list[JitterFrame]:
    """``n`` VP8 frames (whole frames, as the jitter buffer gives them) of a moving bar."""
    from aiortc.codecs.vpx import vp8_depayload

    enc = get_encoder(VP8)
    out = []
    for i in range(n):
        img = np.zeros((120, 160, 3), np.uint8)
        img[:, (i * 8) % 160 :][:, :8] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90000)
        payloads, ts = enc.encode(frame, force_keyframe=i == 0)
        out.append(JitterFrame(data=b"".join(vp8_depayload(p) for p in payloads), timestamp=ts))
    return out


def _run(tasks: list[object]) -> tuple[list[object], threading.Event]:
    """Feed ``tasks`` (then the end) to the worker on a thread; what the queue received."""

    async def main() -> tuple[list[object], threading.Event]:
        loop = asyncio.get_running_loop()
        inq: queue.Queue[object] = queue.Queue()
        outq: asyncio.Queue[object] = asyncio.Queue()
        error = threading.Event()
        t = threading.Thread(target=_upstream.decoder_worker, args=(loop, inq, outq, error))
        t.start()
        for task in tasks:
            inq.put(task)
        inq.put(None)
        got = []
        while True:
            item = await asyncio.wait_for(outq.get(), 10)
            got.append(item)
            if item is None:
                break
        await loop.run_in_executor(None, t.join, 10)
        assert not t.is_alive()
        return got, error

    return asyncio.run(main())


def test_frames_arrive_in_order_then_the_end() -> None:
    frames = _encoded(12)
    got, error = _run([(VP8, f) for f in frames])
    assert got[-1] is None, "the track ends after the last frame"
    decoded = got[:-1]
    assert len(decoded) == 12 and not error.is_set()
    assert all(isinstance(f, av.VideoFrame) and (f.width, f.height) == (160, 120) for f in decoded)
    bars = [int(np.argmax(f.to_ndarray(format="rgb24")[60, :, 0] > 128)) for f in decoded]
    assert bars == [(i * 8) % 160 for i in range(12)], "same frames, same order"


def test_a_damaged_frame_is_reported_and_the_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    frames = _encoded(4)
    bad = JitterFrame(data=b"\xff" * 50, timestamp=frames[1].timestamp)
    got, error = _run([(VP8, frames[0]), (VP8, bad), (VP8, frames[2]), (VP8, frames[3])])
    assert error.is_set(), "the receiver learns a frame failed (it asks for a keyframe)"
    assert any("failed to decode VP8 frame" in r.getMessage() for r in caplog.records)
    assert got[-1] is None and len(got[:-1]) >= 1, "frames after the damaged one still come"


def test_installed_for_new_receivers_and_switchable() -> None:
    from aiortc import rtcrtpreceiver

    assert _upstream.decoder_handoff_problems() == []
    try:
        assert decoder_handoff.install(False)
        assert rtcrtpreceiver.decoder_worker is not _upstream.decoder_worker
        assert decoder_handoff.install(True)
        assert rtcrtpreceiver.decoder_worker is _upstream.decoder_worker
    finally:
        decoder_handoff.install(True)


def test_a_closed_loop_ends_the_decoder_quietly() -> None:
    """A loop that closed under a running decoder (kernel exit) ends the thread without an
    exception (aiortc's own worker dies with 'Event loop is closed')."""
    loop = asyncio.new_event_loop()
    loop.close()
    inq: queue.Queue[object] = queue.Queue()
    for f in _encoded(2):
        inq.put((VP8, f))
    errors: list[BaseException] = []
    t = threading.Thread(
        target=lambda: _catch(errors, _upstream.decoder_worker, loop, inq, asyncio.Queue(), None)
    )
    t.start()
    t.join(10)
    assert not t.is_alive() and errors == []


def _catch(errors: list[BaseException], fn: object, *args: object) -> None:
    try:
        fn(*args)  # type: ignore[operator]
    except BaseException as exc:  # the assertion reports it
        errors.append(exc)
