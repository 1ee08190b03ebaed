"""The lighter receive-side bitrate estimate (nbrtc._transport.bitrate) decides exactly as
aiortc's: the same packets give the same rate readings and the same REMB reports."""

from __future__ import annotations

import random

import pytest
from aiortc import rate, rtcrtpreceiver

from nbrtc import _upstream
from nbrtc._transport import bitrate


def _same_counters(seed: int, steps: int = 4000) -> None:
    """One random walk of adds and reads, fed to aiortc's RateCounter and to WindowRate."""
    rnd = random.Random(seed)
    theirs, ours = rate.RateCounter(1000, 8000), bitrate.WindowRate(1000, 8000)
    now = 10_000
    for step in range(steps):
        r = rnd.random()
        if r < 0.01:
            now -= rnd.randint(1, 2500)  # the wall clock steps back, sometimes past the window
        elif r < 0.02:
            now += rnd.randint(1001, 5000)  # a gap longer than the window
        elif r < 0.03:
            theirs.reset()
            ours.reset()
        else:
            now += rnd.choice((0, 0, 1, 2, 5, 33, 34, 100))
        if rnd.random() < 0.7:
            value = rnd.randint(0, 1500)
            theirs.add(value, now)
            ours.add(value, now)
        else:
            assert ours.rate(now) == theirs.rate(now), (seed, step, now)
    assert ours.rate(now) == theirs.rate(now)


@pytest.mark.parametrize("seed", range(12))
def test_window_rate_reads_as_aiortcs_rate_counter(seed):
    _same_counters(seed)


def _packets(seed: int, seconds: float = 40.0):
    """(arrival_ms, abs_send_time, size, ssrc) of a 30 fps video of 1-6 packets a frame:
    network jitter, a queue that builds up for a while (the estimator's overuse), bursts,
    a gap of 1.5 s and a second SSRC (retransmissions) now and then."""
    rnd = random.Random(seed)
    out = []
    send_ms = 1000.0
    queue_ms = 0.0
    t = 0.0
    while t < seconds * 1000:
        frame_packets = rnd.randint(1, 6)
        if 15_000 < t < 18_000:
            queue_ms += rnd.uniform(0, 4)  # congestion: each frame waits longer
        else:
            queue_ms = max(0.0, queue_ms - rnd.uniform(0, 6))
        if 25_000 < t < 26_500:
            send_ms += 33.3
            t += 33.3
            continue  # a gap: nothing arrives
        for i in range(frame_packets):
            sent = send_ms + i * rnd.uniform(0, 0.5)
            arrival = int(sent + 20 + queue_ms + rnd.uniform(0, 3))
            abs_send = int(sent * 262.144) & 0xFFFFFF  # 6.18 fixed point seconds, 24 bits
            ssrc = 2222 if rnd.random() < 0.03 else 1111
            out.append((arrival, abs_send, rnd.randint(200, 1200), ssrc))
        send_ms += 33.3
        t += 33.3
    return out


@pytest.mark.parametrize("seed", range(4))
def test_the_estimator_reports_what_aiortcs_reports(seed):
    """aiortc's RemoteBitrateEstimator and the one a video receiver gets after install():
    every packet's return value (REMB bitrate and SSRCs, or None) is the same, as are the
    detector's state and the incoming rate; and the walk did report and did overuse."""
    assert bitrate.install()
    theirs = rate.RemoteBitrateEstimator()
    ours = rtcrtpreceiver.RemoteBitrateEstimator()
    assert isinstance(ours.incoming_bitrate, bitrate.WindowRate)
    reports, overused = 0, False
    for n, (arrival, abs_send, size, ssrc) in enumerate(_packets(seed)):
        a = theirs.add(
            arrival_time_ms=arrival, abs_send_time=abs_send, payload_size=size, ssrc=ssrc
        )
        b = ours.add(arrival_time_ms=arrival, abs_send_time=abs_send, payload_size=size, ssrc=ssrc)
        assert a == b, (seed, n)
        assert theirs.detector.state() == ours.detector.state(), (seed, n)
        assert theirs.incoming_bitrate.rate(arrival) == ours.incoming_bitrate.rate(arrival)
        reports += a is not None
        overused |= theirs.detector.state() == rate.BandwidthUsage.OVERUSING
    assert reports > 10 and overused, (reports, overused)


def test_video_receivers_made_after_install_use_it():
    assert bitrate.install()
    transport = type("T", (), {"state": "new"})()
    video = rtcrtpreceiver.RTCRtpReceiver("video", transport)
    estimator = video._RTCRtpReceiver__remote_bitrate_estimator
    assert isinstance(estimator.incoming_bitrate, bitrate.WindowRate)
    assert isinstance(estimator, rate.RemoteBitrateEstimator)
    audio = rtcrtpreceiver.RTCRtpReceiver("audio", transport)
    assert audio._RTCRtpReceiver__remote_bitrate_estimator is None


def test_uninstalled_receivers_get_aiortcs_own():
    assert _upstream.bitrate_estimator_problems() == []
    _upstream.patch_bitrate_estimator(None)
    try:
        assert rtcrtpreceiver.RemoteBitrateEstimator is rate.RemoteBitrateEstimator
        assert type(rtcrtpreceiver.RemoteBitrateEstimator().incoming_bitrate) is rate.RateCounter
    finally:
        assert bitrate.install()
    patched = rtcrtpreceiver.RemoteBitrateEstimator
    assert patched is not rate.RemoteBitrateEstimator
    assert bitrate.install() and rtcrtpreceiver.RemoteBitrateEstimator is patched  # idempotent


def test_a_changed_estimator_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """When aiortc's estimator changes shape, the probe says what (import nbrtc warns and
    receivers keep aiortc's own: tests/unit/test_upstream.py covers the warning)."""
    monkeypatch.delattr(rate.OveruseEstimator, "update_min_frame_period")
    init = rate.RateCounter.__init__

    def without_window(self, *args, **kwargs):
        init(self, *args, **kwargs)
        del self._window_size

    monkeypatch.setattr(rate.RateCounter, "__init__", without_window)
    problems = _upstream.bitrate_estimator_problems()
    assert "aiortc RateCounter._window_size/_scale" in problems, problems
    assert "aiortc OveruseEstimator.update_min_frame_period" in problems, problems
