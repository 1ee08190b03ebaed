"""Network impairment (nbrtc._inspection.netem) between two real aiortc peers on loopback.

pc1 plays the kernel (it carries the Impairment unless a test says otherwise) and sends a
video track; pc2 plays the browser and consumes frames. Everything runs in one asyncio
loop per test (``asyncio.run``), and the effects are read from aiortc's own getStats.

Stats caveat that shapes the loss assertions: aiortc negotiates RTX, so retransmissions
after a NACK travel on a separate SSRC and do not refill the media SSRC's sequence
space; the media SSRC's packetsLost therefore shows the raw network loss. But aiortc's
RTCRtpReceiver.getStats gives every SSRC it received (media and RTX) the same stats id,
so once an RTX packet arrived pc2's "inbound-rtp" entry describes the RTX stream. The
loss rate is therefore read from pc1's "remote-inbound-rtp", which is pc2's RTCP receiver
report for the media SSRC: the number the receiver reports, as the feature promises.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aioice.ice
import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RtpPacket

from nbrtc._inspection.netem import Impairment, NetworkConditions, check_conditions

from ._browser import until, wait_for

pytestmark = pytest.mark.timeout(90)


# --------------------------------------------------------------------------- helpers


class MovingTrack(VideoStreamTrack):
    """320x240 at ~30 fps with changing content.

    ``noise=True`` fills the frame with fresh random pixels: VP8 cannot compress that, so
    the sender pushes a couple of Mbit/s, far above the rate limits tested here (without
    that the rate-limit test could not fail), and there are many packets to count.
    """

    def __init__(self, *, noise: bool) -> None:
        super().__init__()
        self.noise = noise
        self.n = 0
        self.rng = np.random.default_rng(7)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        self.n += 1
        if self.noise:
            img = self.rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        else:
            img = np.full((240, 320, 3), (self.n * 8) % 256, np.uint8)
            img[:, : 32 * (self.n % 10 + 1), 1] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = pts
        frame.time_base = time_base
        return frame


@dataclasses.dataclass
class Pair:
    pc1: RTCPeerConnection  # "kernel": sends video
    pc2: RTCPeerConnection  # "browser": receives it
    frames: int = 0  # frames decoded by pc2
    rtp_seqs: list[int] = dataclasses.field(default_factory=list)  # media SSRC at pc2

    async def stats(self, pc: RTCPeerConnection, type_: str) -> Any:
        return next((s for s in (await pc.getStats()).values() if s.type == type_), None)

    def transport(self, pc: RTCPeerConnection) -> RTCDtlsTransport:
        [transceiver] = pc.getTransceivers()
        return transceiver.sender.transport

    async def wait_frames(self, n: int, timeout: float) -> None:
        target = self.frames + n
        await until(lambda: self.frames >= target, timeout, f"{n} more frames at pc2")


async def next_report(pair: Pair, after: Any, timeout: float = 5.0) -> Any:
    """The next RTCP receiver report pc1 got from pc2 (a new remote-inbound-rtp object).

    aiortc creates that stats object when the report arrives, so its packetsReceived
    (pc1's sent count then, minus lost) and packetsLost are a consistent snapshot.
    """
    deadline = time.monotonic() + timeout
    while True:
        report = await pair.stats(pair.pc1, "remote-inbound-rtp")
        if report is not None and (after is None or report.timestamp != after.timestamp):
            return report
        if time.monotonic() > deadline:
            pytest.fail(f"no new RTCP receiver report within {timeout} s")
        await asyncio.sleep(0.02)  # poll interval (bounded by the deadline above)


def loss_between(a: Any, b: Any) -> tuple[float, int]:
    """Loss fraction reported by the receiver between two receiver reports, and count."""
    expected = (b.packetsReceived + b.packetsLost) - (a.packetsReceived + a.packetsLost)
    return (b.packetsLost - a.packetsLost) / max(expected, 1), expected


@contextlib.asynccontextmanager
async def connected(
    *, noise: bool, prepare: Callable[[Pair], None] | None = None
) -> AsyncIterator[Pair]:
    """Two connected peers with frames flowing pc1 -> pc2; both closed on exit.

    ``prepare`` runs after pc1 has its track (and so its DTLS transport), before the offer.
    """
    config = RTCConfiguration(iceServers=[])  # no STUN: loopback only, no network
    pair = Pair(RTCPeerConnection(config), RTCPeerConnection(config))
    consumers: list[asyncio.Task[None]] = []

    @pair.pc2.on("track")
    def on_track(track: Any) -> None:
        async def consume() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    await track.recv()
                    pair.frames += 1

        consumers.append(asyncio.ensure_future(consume()))

    try:
        pair.pc1.addTrack(MovingTrack(noise=noise))
        if prepare is not None:
            prepare(pair)
        # aiortc's setLocalDescription waits for ICE gathering, so no trickle is needed
        await pair.pc1.setLocalDescription(await pair.pc1.createOffer())
        await pair.pc2.setRemoteDescription(pair.pc1.localDescription)
        await pair.pc2.setLocalDescription(await pair.pc2.createAnswer())
        await pair.pc1.setRemoteDescription(pair.pc2.localDescription)
        await pair.wait_frames(5, timeout=10)
        yield pair
    finally:
        await pair.pc1.close()
        await pair.pc2.close()
        for task in consumers:
            task.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)


def record_media_seqs(pair: Pair) -> None:
    """Log the sequence numbers of media (not RTX) packets as pc2 receives them."""
    transport = pair.transport(pair.pc2)
    original = transport._handle_rtp_data
    media_ssrc = pair.pc1.getSenders()[0]._ssrc

    async def handle(data: bytes, arrival_time_ms: int) -> None:
        packet = RtpPacket.parse(data)
        if packet.ssrc == media_ssrc:
            pair.rtp_seqs.append(packet.sequence_number)
        await original(data, arrival_time_ms=arrival_time_ms)

    transport._handle_rtp_data = handle  # type: ignore[method-assign]


def run(main: Callable[[], Awaitable[None]], timeout: float = 60) -> None:
    asyncio.run(asyncio.wait_for(main(), timeout))


def _socket_fds() -> int:
    fd_dir = "/proc/self/fd"
    if not os.path.isdir(fd_dir):
        return 0
    count = 0
    for name in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            count += os.readlink(os.path.join(fd_dir, name)).startswith("socket:")
    return count


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gather only 127.0.0.1: aioice leaves loopback out, and the peers talk to each other."""

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"] if use_ipv4 else []

    monkeypatch.setattr(aioice.ice, "get_host_addresses", host_addresses)


@pytest.fixture(autouse=True)
def no_leftovers() -> Any:
    """Fail if a test leaves threads or sockets behind (both peers must be closed)."""
    threads = set(threading.enumerate())
    sockets = _socket_fds()
    yield

    def extra_threads() -> list[str]:
        return [t.name for t in set(threading.enumerate()) - threads if t.is_alive()]

    try:
        wait_for(lambda: not extra_threads() and _socket_fds() <= sockets, 5, what="release")
    except AssertionError:
        pytest.fail(f"left behind: threads {extra_threads()}, sockets {_socket_fds()} > {sockets}")


# --------------------------------------------------------------------------- conditions


def test_conditions_validate_and_describe() -> None:
    c = check_conditions(loss=0.05, delay_ms=120, rate_kbps=400)
    assert c.active() and c.loss == 0.05 and c.rate_kbps == 400.0
    assert c.to_dict() == {
        "loss": 0.05,
        "delay_ms": 120.0,
        "rate_kbps": 400.0,
        "jitter_ms": 0.0,
        "direction": "both",
        "queue_ms": 500.0,
    }
    assert not NetworkConditions().active()
    assert not check_conditions(direction="send", queue_ms=100).active()
    assert isinstance(check_conditions(delay_ms=5).delay_ms, float)


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"loss": 1.5}, ValueError, "loss must be a number in [0, 1), got 1.5"),
        ({"loss": 1}, ValueError, "loss must be a number in [0, 1), got 1"),
        ({"loss": float("nan")}, ValueError, "loss must be a number in [0, 1), got nan"),
        ({"loss": "0.1"}, TypeError, "loss must be a number in [0, 1), got '0.1' (str)"),
        ({"loss": True}, TypeError, "loss must be a number"),
        ({"delay_ms": -1}, ValueError, "delay_ms must be a number in [0, 10000], got -1"),
        ({"delay_ms": 10_001}, ValueError, "delay_ms must be a number in [0, 10000]"),
        ({"jitter_ms": 2000}, ValueError, "jitter_ms must be a number in [0, 1000], got 2000"),
        ({"queue_ms": 5}, ValueError, "queue_ms must be a number in [10, 5000], got 5"),
        ({"rate_kbps": 4}, ValueError, "rate_kbps must be None (unlimited) or a finite"),
        ({"rate_kbps": float("inf")}, ValueError, "rate_kbps must be None (unlimited)"),
        ({"rate_kbps": "fast"}, TypeError, "rate_kbps must be None (unlimited)"),
        ({"direction": "up"}, ValueError, "direction must be one of 'both', 'send', 'recv'"),
        ({"direction": None}, TypeError, "direction must be one of"),
        ({"los": 0.1}, TypeError, "unknown network condition 'los'"),
    ],
)
def test_check_conditions_errors_name_the_argument(
    kwargs: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error) as info:
        check_conditions(**kwargs)
    assert text in str(info.value)
    # the dataclass validates too, so no invalid conditions can exist
    if "los" not in kwargs:
        with pytest.raises(error):
            NetworkConditions(**kwargs)


def test_impairment_needs_the_loop() -> None:
    config = RTCConfiguration(iceServers=[])
    pc = RTCPeerConnection(config)
    with pytest.raises(RuntimeError, match="event loop"):
        Impairment(pc)

    async def main() -> None:
        imp = Impairment(pc)
        with pytest.raises(TypeError, match="NetworkConditions"):
            imp.set({"loss": 0.1})  # type: ignore[arg-type]
        await pc.close()
        assert imp.closed, "closing the peer connection closes the impairment"

    run(main)


# --------------------------------------------------------------------------- live effects


def test_loss_is_what_the_receiver_reports() -> None:
    async def main() -> None:
        async with connected(noise=True) as pair:
            imp = Impairment(pair.pc1, seed=1)
            # control: no impairment, no loss (and no RTX yet, so pc2's inbound-rtp is
            # the media stream and can be read directly)
            first = await next_report(pair, None)
            await asyncio.sleep(2)  # measurement window
            last = await next_report(pair, first)
            inbound = await pair.stats(pair.pc2, "inbound-rtp")
            outbound = await pair.stats(pair.pc1, "outbound-rtp")
            assert inbound.ssrc == outbound.ssrc
            assert inbound.packetsLost == 0 and last.packetsLost == 0

            imp.set(check_conditions(loss=0.10, direction="send"))
            start = await next_report(pair, last)
            await asyncio.sleep(4)  # measurement window: ~200 packets/s of noise video
            end = await next_report(pair, start)
            rate, expected = loss_between(start, end)
            print(f"configured loss 0.10, receiver reported {rate:.3f} over {expected} packets")
            assert expected > 300, expected
            assert 0.07 <= rate <= 0.135, rate
            s = imp.stats()
            assert s["send"]["dropped_loss"] > 0 and s["recv"]["dropped_loss"] == 0
            assert s["send"]["delayed"] == 0, "loss alone must not delay anything"
            assert s["conditions"]["loss"] == 0.10
            # NACK + RTX keep the picture going
            await pair.wait_frames(10, timeout=5)

    run(main)


def test_delay_grows_round_trip_time() -> None:
    async def first_rtt(pair: Pair) -> float:
        report = await next_report(pair, None)
        # poll until aiortc has an RTT: it needs one of its SRs answered by an RR
        while report.roundTripTime is None:
            report = await next_report(pair, report)
        return float(report.roundTripTime)

    async def main() -> None:
        async with connected(noise=False) as pair:
            baseline = await first_rtt(pair)

        # aiortc smooths RTT per sender (new = 0.85 old + 0.15 sample, about one sample a
        # second), so on a live connection a +0.30 s step shows as +0.25 s only after
        # ~11 samples (12-19 s measured). The first sample of a sender is taken as is, so
        # the delay is set before the offer: the raw effect, measured in ~2 s. (The DTLS
        # handshake is not delayed, so this also shows the connection still comes up.)
        imps: list[Impairment] = []

        def impair(pair: Pair) -> None:
            imps.append(Impairment(pair.pc1, seed=2))
            imps[0].set(check_conditions(delay_ms=150, direction="both"))

        async with connected(noise=False, prepare=impair) as pair:
            rtt = await first_rtt(pair)
            print(f"RTT {baseline * 1000:.1f} ms unimpaired, {rtt * 1000:.0f} ms with 150 ms delay")
            assert rtt - baseline >= 0.25, (baseline, rtt)
            assert rtt < baseline + 0.5, "more than twice the one-way delay"
            s = imps[0].stats()
            assert s["send"]["delayed"] > 0 and s["recv"]["delayed"] > 0
            assert s["send"]["dropped_loss"] == s["send"]["dropped_queue"] == 0

    run(main)


def test_rate_limit_caps_bytes_received() -> None:
    async def bytes_per_s(pair: Pair, seconds: float) -> float:
        before = (await pair.stats(pair.pc2, "transport")).bytesReceived
        await asyncio.sleep(seconds)  # measurement window
        after = (await pair.stats(pair.pc2, "transport")).bytesReceived
        return (after - before) / seconds

    async def main() -> None:
        async with connected(noise=True) as pair:
            imp = Impairment(pair.pc1, seed=3)
            limit = 150 * 1000 / 8  # bytes/s
            baseline = await bytes_per_s(pair, 2)
            # else the cap below would hold without any impairment and prove nothing
            assert baseline > 3 * limit, baseline

            imp.set(check_conditions(rate_kbps=150))
            # the bottleneck is engaged once its queue holds a few hundred ms of packets
            await until(lambda: imp.stats()["queue_ms"]["send"] > 100, 5, "the queue to build")
            limited = await bytes_per_s(pair, 4)
            s = imp.stats()
            print(
                f"baseline {baseline * 8 / 1000:.0f} kbps, limited to 150: "
                f"{limited * 8 / 1000:.0f} kbps; dropped_queue {s['send']['dropped_queue']}, "
                f"queue {s['queue_ms']['send']:.0f} ms"
            )
            assert limited < 1.3 * limit, limited
            assert limited > 0.5 * limit, "the bottleneck should still carry traffic"
            assert s["send"]["dropped_queue"] > 0 or s["queue_ms"]["send"] > 50
            assert s["queue_ms"]["send"] <= 500

            # lifting the limit lets the full rate through again, at once
            imp.set(NetworkConditions())
            assert imp.stats()["queue_ms"]["send"] == 0
            assert await bytes_per_s(pair, 1) > 3 * limit

    run(main)


def test_stream_survives_loss_and_jitter_never_reorders() -> None:
    async def main() -> None:
        async with connected(noise=False) as pair:
            record_media_seqs(pair)
            imp = Impairment(pair.pc1, seed=4)
            imp.set(check_conditions(loss=0.05, delay_ms=20, jitter_ms=60, direction="send"))
            pair.rtp_seqs.clear()
            # the measured window starts once the impairment has bitten: a first packet
            # lost, and the picture back after it (a NACK/RTX or PLI/keyframe cycle); the
            # sequence check covers that too
            await until(lambda: imp.stats()["send"]["dropped_loss"] > 0, 5, "a first loss")
            await pair.wait_frames(3, timeout=5)
            f0 = pair.frames
            await asyncio.sleep(3)  # measurement window
            fps = (pair.frames - f0) / 3
            print(f"frames at pc2 under 5 % loss + jitter: {fps:.1f} fps")
            assert fps >= 15, fps
            seqs = pair.rtp_seqs
            assert len(seqs) > 100
            steps = [(b - a) % 65536 for a, b in itertools.pairwise(seqs)]
            # every step forward (gaps are losses); a reordered packet would step back
            assert all(0 < d < 1000 for d in steps), [d for d in steps if not 0 < d < 1000]
            assert imp.stats()["send"]["dropped_loss"] > 0

    run(main)


def test_recv_direction_impairs_what_the_kernel_receives() -> None:
    async def main() -> None:
        # here pc2 is the kernel receiving the browser's camera: impair its receive side
        async with connected(noise=True) as pair:
            imp = Impairment(pair.pc2, seed=5)
            imp.set(check_conditions(loss=0.10, delay_ms=30, direction="recv"))
            start = await next_report(pair, None)
            await asyncio.sleep(4)  # measurement window
            end = await next_report(pair, start)
            rate, expected = loss_between(start, end)
            print(f"recv-side loss 0.10: receiver reported {rate:.3f} over {expected} packets")
            assert 0.06 <= rate <= 0.14, rate
            s = imp.stats()
            assert s["recv"]["delayed"] > 0 and s["recv"]["dropped_loss"] > 0
            assert s["send"]["delayed"] == 0 and s["send"]["dropped_loss"] == 0
            await pair.wait_frames(10, timeout=5)

    run(main)


def test_close_restores_transport_and_traffic() -> None:
    async def main() -> None:
        async with connected(noise=False) as pair:
            transport = pair.transport(pair.pc1)
            assert set(transport.__dict__).isdisjoint(
                {"_send_rtp", "_handle_rtp_data", "_handle_rtcp_data"}
            )
            imp = Impairment(pair.pc1, seed=6)
            wrapped = transport._send_rtp
            assert getattr(wrapped, "__func__", None) is not RTCDtlsTransport._send_rtp
            with pytest.raises(RuntimeError, match="already impaired"):
                Impairment(pair.pc1)

            # cut the stream: 100 % is not allowed, 99 % leaves a trickle; add a long
            # delay so packets are queued when close() drops them
            imp.set(check_conditions(loss=0.99, delay_ms=2000))
            # what was in flight drains; then the count stays put (a 1 s window)
            seen = [pair.frames]

            def settled() -> bool:
                seen.append(pair.frames)
                return len(seen) > 10 and seen[-1] == seen[-11]  # unchanged for 0.2 s

            await until(settled, 5, "frames to stop")
            stalled = pair.frames
            await asyncio.sleep(1)  # measurement window: nothing (or a trickle) gets through
            assert pair.frames - stalled <= 2

            imp.close()
            imp.close()  # idempotent
            for name in ("_send_rtp", "_handle_rtp_data", "_handle_rtcp_data"):
                assert name not in transport.__dict__, name
                method = getattr(transport, name)
                assert method.__func__ is getattr(RTCDtlsTransport, name), name
            with pytest.raises(RuntimeError, match="closed"):
                imp.set(check_conditions(loss=0.1))
            assert imp.attach_transports() == 0
            assert imp.stats()["send"]["dropped_loss"] > 0  # still readable
            # traffic flows again (aiortc recovers the picture with a PLI/keyframe)
            await pair.wait_frames(20, timeout=10)

            # a new impairment may take over, and closing the pc closes it
            imp2 = Impairment(pair.pc1)
            imp2.set(check_conditions(delay_ms=50))
            await pair.wait_frames(5, timeout=5)
            await pair.pc1.close()
            assert imp2.closed and "_send_rtp" not in transport.__dict__

    run(main)
