"""Sound over the widget's comm (issue 10 section 2): the same Python audio API whether
the sound came by WebRTC or as PCM chunks over the comm.

A fake page (tests/kernel/_comm_audio_page.py) sends and plays ``audio`` messages as
js/transport/comm-audio.js does.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import nbrtc
from nbrtc._signaling.manager import MAX_AUDIO_WAITING
from nbrtc._transport.comm_audio import ACK_EVERY, MAX_AUDIO_BYTES, MAX_UNACKED_MS

from ._browser import make, wait_for
from ._comm_audio_page import CommAudioPage, tone_pcm
from ._comm_page import CommPage


@pytest.fixture
def page(browser):
    p = CommPage(browser)
    yield p
    p.close()


@pytest.fixture
def sound(browser, page):
    return CommAudioPage(browser, page)


def _errors(browser, sid):
    return [m["payload"] for m in browser.of_type("error", sid)]


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def _dbfs(samples: np.ndarray) -> float:
    return 20 * math.log10(float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))))


def test_microphone_over_the_comm_gives_python_the_sound(browser, widgets, page, sound):
    mic = make(widgets, browser, nbrtc.Microphone(transport="comm"))
    sid = sound.microphone(mic, tone_pcm(1000, 1.0, channels=1, amplitude=0.3))
    mic.wait("live", timeout=5)
    assert mic.transport == "comm"
    t0 = time.monotonic()
    audio = mic.capture_audio(1.0, timeout=5)
    took = time.monotonic() - t0
    assert audio.sample_rate == 48_000 and audio.layout == "mono"
    assert audio.shape == (1, 48_000)
    peak = _peak_hz(audio[0], 48_000)
    level = _dbfs(audio[0])
    print(f"comm microphone: 1 s captured in {took:.2f} s, peak {peak:.0f} Hz, {level:.1f} dBFS")
    assert abs(peak - 1000) < 5, peak
    # a sine of amplitude 0.3 is 0.3 / sqrt(2) RMS: -13.5 dBFS
    assert level == pytest.approx(-13.5, abs=0.5)
    assert mic.level == pytest.approx(-13.5, abs=1.0)
    assert mic.latest_audio(0.5).shape == (1, 24_000)
    # the page never had more than its bound unacknowledged, and the kernel acked
    assert sound.max_unacked_ms[sid] <= MAX_UNACKED_MS
    assert sound.acked(sid) > 0
    (desc,) = [s for s in nbrtc.manager().streams() if s["id"] == sid]
    assert desc["transport"] == "comm" and desc["state"] == "live"
    stream = mic._last_stream
    assert stream._comm_audio_in.chunks >= 25
    # chunks are counted in the history, never kept as events
    assert not [e for e in mic.history(chatter=True) if e.get("type") in ("audio", "audio-ack")]
    page.stop(sid)
    mic.close()
    wait_for(lambda: not nbrtc.manager().streams(), 3, what="stream gone")


def test_camera_with_audio_over_the_comm_stereo(browser, widgets, page, sound):
    cam = make(widgets, browser, nbrtc.Camera(audio=True, transport="comm"))
    sid = sound.microphone(cam, tone_pcm(440, 1.0, rate=44_100, channels=2), rate=44_100)
    audio = cam.capture_audio(0.5, timeout=5)
    assert audio.sample_rate == 44_100 and audio.layout == "stereo"
    assert abs(_peak_hz(audio[1], 44_100) - 440) < 5
    page.stop(sid)


def test_audio_view_over_the_comm_reaches_the_page(browser, widgets, page, sound):
    view = make(widgets, browser, nbrtc.AudioView(nbrtc.sources.tone(440), transport="comm"))
    sound.attach(view)
    sid = page.offer(view)
    # nothing comes back yet: the kernel sends anyway (it waits for nothing) ...
    wait_for(lambda: len(sound.chunks.get(sid, [])) >= 10, 5, what="kernel chunks")
    assert view.state == "connecting"  # ... but it is live only once the page plays
    sound.player(view, sid)
    view.wait("live", timeout=5)
    assert view.transport == "comm"
    wait_for(lambda: len(sound.chunks.get(sid, [])) >= 40, 5, what="1.6 s of sound")
    rate, ch, pcm = sound.pcm(sid)
    assert (rate, ch) == (48_000, 1)
    payloads = [p for p, _ in sound.chunks[sid]]
    # 40 ms chunks, on a sample clock without gaps
    assert all(p["pos"] == i * 1920 for i, p in enumerate(payloads))
    x = pcm[:, 0].astype(np.float32) / 32768
    assert abs(_peak_hz(x, rate) - 440) < 5
    assert _dbfs(x) == pytest.approx(20 * math.log10(0.2 / math.sqrt(2)), abs=0.5)
    stream = view._last_stream
    wait_for(lambda: stream._comm_audio_out.acked >= 2, 5, what="acks counted")
    # paced at real time: ~25 chunks a second, never a burst
    n0, t0 = len(sound.chunks[sid]), time.monotonic()
    time.sleep(1.0)  # a measurement window (chunks per second), not a wait for a state
    rate_per_s = (len(sound.chunks[sid]) - n0) / (time.monotonic() - t0)
    assert 20 <= rate_per_s <= 30, rate_per_s
    assert {"id": "nbrtc-comm-audio-out"}.items() <= stream.comm_stats()[-1].items()
    page.stop(sid)
    view.close()
    wait_for(lambda: not nbrtc.manager().streams(), 3, what="stream gone")
    assert stream._comm_audio_out is None


def test_video_view_with_audio_sends_both(browser, widgets, page, sound):
    view = make(
        widgets,
        browser,
        nbrtc.VideoView(
            nbrtc.sources.test_pattern(), audio=nbrtc.sources.tone(660), transport="comm"
        ),
    )
    sound.attach(view)
    sid = page.view(view)
    view.wait("live", timeout=5)
    wait_for(lambda: len(sound.chunks.get(sid, [])) >= 25, 5, what="sound with the video")
    rate, _, pcm = sound.pcm(sid)
    assert abs(_peak_hz(pcm[:, 0].astype(np.float32), rate) - 660) < 5
    assert page.acked.get(sid, 0) > 0  # and the video came too
    page.stop(sid)


@pytest.mark.parametrize(
    ("payload", "buffers", "code", "words"),
    [
        ({"seq": 1, "rate": 48000, "ch": 1, "pos": 0}, None, "bad-message", "exactly one"),
        (
            {"seq": 1, "rate": 48000, "ch": 1, "pos": 0},
            [b"\0\0", b"\0\0"],
            "bad-message",
            "exactly one",
        ),
        ({"seq": 1, "rate": 4000, "ch": 1, "pos": 0}, [b"\0\0"], "bad-message", "audio.rate"),
        ({"seq": 1, "rate": 48000, "ch": 3, "pos": 0}, [b"\0" * 6], "bad-message", "audio.ch"),
        ({"seq": 1, "rate": 48000, "ch": 1}, [b"\0\0"], "bad-message", "audio.pos"),
        ({"seq": -1, "rate": 48000, "ch": 1, "pos": 0}, [b"\0\0"], "bad-message", "audio.seq"),
        ({"seq": 1, "rate": 48000, "ch": 2, "pos": 0}, [b"\0" * 6], "bad-message", "multiple"),
        ({"seq": 1, "rate": 48000, "ch": 1, "pos": 0}, [b""], "bad-message", "multiple"),
        ({"seq": 1, "rate": 8000, "ch": 1, "pos": 0}, [b"\0" * 1602], "bad-message", "100 ms"),
        (
            {"seq": 1, "rate": 96000, "ch": 2, "pos": 0},
            [b"\0" * (MAX_AUDIO_BYTES + 4)],
            "too-large",
            "larger than",
        ),
        ("pcm", [b"\0\0"], "bad-message", "must be an object"),
    ],
)
def test_bad_audio_is_refused(browser, widgets, page, payload, buffers, code, words):
    mic = make(widgets, browser, nbrtc.Microphone(transport="comm"))
    sid = page.offer(mic)
    mic._manager.handle_message(mic._port, browser.envelope("audio", sid, payload), buffers)
    browser.barrier(mic)
    (err,) = _errors(browser, sid)
    assert err["code"] == code and words in err["message"], err
    assert mic._last_stream._comm_audio_in.chunks == 0


def test_audio_to_a_stream_that_takes_none_is_refused(browser, widgets, page):
    view = make(widgets, browser, nbrtc.VideoView(nbrtc.sources.test_pattern(), transport="comm"))
    sid = page.offer(view)
    payload = {"seq": 1, "rate": 48000, "ch": 1, "pos": 0}
    view._manager.handle_message(view._port, browser.envelope("audio", sid, payload), [b"\0\0"])
    browser.barrier(view)
    (err,) = _errors(browser, sid)
    assert err["code"] == "out-of-order" and "sound" in err["message"]


def test_page_that_floods_audio_is_bounded(browser, widgets, page, sound):
    mic = make(widgets, browser, nbrtc.Microphone(transport="comm"))
    sid = page.offer(mic)
    mgr = nbrtc.manager()
    pcm = tone_pcm(500, 0.04)
    # 2,000 chunks (80 s of sound) at once, ignoring acks: at most MAX_AUDIO_WAITING wait
    # in the kernel, the rest are refused with `limit`
    for seq in range(1, 2001):
        sound.chunk(mic, sid, seq, pcm, 48_000, (seq - 1) * 1920)
        assert mgr._audio_waiting.get(sid, 0) <= MAX_AUDIO_WAITING
    browser.barrier(mic)
    limits = [e for e in _errors(browser, sid) if e["code"] == "limit"]
    assert limits, "a flood beyond the bound is refused"
    stream = mic._last_stream
    taken = stream._comm_audio_in.chunks
    assert 1 <= taken < 2000
    assert taken + len(limits) == 2000
    # a replayed chunk (an old seq) is dropped, not delivered twice
    before = mic.audio_frame_count
    sound.chunk(mic, sid, 1, pcm, 48_000, 0)
    browser.barrier(mic)
    assert mic.audio_frame_count == before and stream._comm_audio_in.stale == 1
    print(f"flood: {taken} of 2000 chunks taken, {len(limits)} refused, acks every {ACK_EVERY}")


def test_microphone_falls_back_from_webrtc_to_the_comm(browser, widgets, page, sound, monkeypatch):
    """transport="auto": ICE never connects (the page never applies the answer), the page
    moves the stream to the comm, and its sound reaches Python as on WebRTC."""
    from nbrtc._signaling import stream_ice

    monkeypatch.setattr(stream_ice, "ICE_CONNECT_TIMEOUT", 1.0)
    browser.drop_answers = True
    mic = make(widgets, browser, nbrtc.Microphone())
    sid = browser.start(mic)
    wait_for(lambda: mic._last_stream is not None and mic._last_stream._pc is not None, 5)
    browser.send(mic, "transport", sid, {"use": "comm", "why": "WebRTC not connected after 1.5 s"})
    pcm = tone_pcm(750, 0.04)
    for seq in range(1, 21):  # within the page's bound (MAX_UNACKED_MS)
        sound.chunk(mic, sid, seq, pcm, 48_000, (seq - 1) * 1920)
    browser.barrier(mic)
    mic.wait("live", timeout=5)
    assert mic.transport == "comm"
    audio = mic.latest_audio(1.0)
    assert audio.shape == (1, 20 * 1920)
    assert abs(_peak_hz(audio[0], 48_000) - 750) < 5
    stream = mic._last_stream
    wait_for(lambda: stream._pc is None, 5, what="the ICE watchdog dropped the peer")
    assert mic.state == "live" and mic.error == ""
    assert sound.acked(sid) == 16  # the first chunk, then every ACK_EVERY (1, 6, 11, 16)
