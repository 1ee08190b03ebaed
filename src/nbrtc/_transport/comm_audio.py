"""Sound over the widget's comm: the audio half of the comm transport (docs/protocol.md
"Transports"; the video half is ``_comm_media``).

Audio travels as raw PCM, signed 16-bit little-endian, interleaved, mono or stereo, in
the binary buffer of an ``audio`` message: ``{seq, rate, ch, pos, t?}``, where ``pos`` is
the sample position of the chunk's first sample on the sender's sample clock (it goes on
counting across chunks the sender skipped, so the receiver keeps the timing) and ``t``
the sender's clock in ms. A chunk is 20-100 ms (the senders here send 40 ms).

Flow control (page -> kernel): the receiver answers ``audio-ack {seq}`` (cumulative: "I
have everything up to seq") once every ``ACK_EVERY`` chunks. The page sends a chunk only
while less than ``MAX_UNACKED_MS`` of audio is unacknowledged and skips (never queues) the
rest, so a slow link or a kernel busy in a cell costs at most that much queued audio, and
one ack per ~200 ms is cheap. Per-chunk acks would double the message rate for nothing.

Kernel -> page: nothing is waited for. The kernel's audio tracks are paced at real time;
the sender still drops what runs more than ``MAX_AHEAD`` seconds ahead of the wall clock
(a track that is not paced), and the page drops what it cannot play within ~300 ms.
The page's ``audio-ack`` every ``ACK_EVERY`` chunks only feeds the counters and makes an
``AudioView`` live (the page plays its sound).

Conversion (bytes <-> ``av.AudioFrame``) is ~40 us per 40 ms chunk (numpy frombuffer +
``AudioFrame.from_ndarray``), so it runs on the media loop, not on a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger("nbrtc")

#: the receiver acknowledges every this many chunks (cumulative ``audio-ack {seq}``)
ACK_EVERY = 5
#: the page sends while less than this much audio is unacknowledged (js/transport/comm-audio.js):
#: ACK_EVERY chunks of 40 ms plus a round trip of up to ~400 ms
MAX_UNACKED_MS = 600
#: the kernel's chunks: this many seconds of sound per ``audio`` message
CHUNK_SECONDS = 0.04
#: a kernel track that runs further ahead of the wall clock than this is dropped from
MAX_AHEAD = 0.5
#: bounds of a chunk's claims (docs/protocol.md "Transports")
MIN_RATE = 8_000
MAX_RATE = 96_000
MAX_CHANNELS = 2
MAX_CHUNK_SECONDS = 0.1
#: bytes of one chunk at most: 100 ms of 96 kHz stereo s16
MAX_AUDIO_BYTES = int(MAX_RATE * MAX_CHUNK_SECONDS) * MAX_CHANNELS * 2

_LAYOUTS = {1: "mono", 2: "stereo"}


def check_chunk(payload: dict[str, Any], nbytes: int) -> str | None:
    """Why ``nbytes`` of PCM do not fit a valid ``audio`` payload (None when they do)."""
    ch, rate = payload["ch"], payload["rate"]
    if nbytes == 0 or nbytes % (2 * ch):
        return f"an audio chunk of {ch} channel(s) is a positive multiple of {2 * ch} bytes"
    if nbytes // (2 * ch) > rate * MAX_CHUNK_SECONDS:
        return f"an audio chunk holds at most {MAX_CHUNK_SECONDS * 1000:.0f} ms of sound"
    return None


def pcm_frame(data: bytes, rate: int, channels: int, pts: int) -> av.AudioFrame:
    """s16 interleaved PCM -> a packed s16 ``av.AudioFrame`` on the ``1/rate`` clock."""
    samples = np.frombuffer(data, dtype="<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout=_LAYOUTS[channels])
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    return frame


class CommAudioReceiver:
    """Page -> kernel sound of one stream: each ``audio`` chunk becomes an
    ``av.AudioFrame`` handed to ``deliver`` (media loop), and every ``ACK_EVERY`` chunks
    ``ack(seq)`` tells the page how far it got. Chunks from before the newest one (a
    reordered or replayed message) are dropped and counted."""

    def __init__(self, deliver: Callable[[Any], None], ack: Callable[[int], None]) -> None:
        self._deliver = deliver
        self._ack = ack
        self._pos0: int | None = None
        self._rate = 0
        self._last_seq = -1
        self._unacked = 0
        self._closed = False
        self.chunks = 0
        self.bytes = 0
        self.samples = 0
        self.stale = 0

    def chunk(self, payload: dict[str, Any], data: bytes) -> None:
        """An ``audio`` message arrived, already validated (media loop, at dispatch)."""
        if self._closed:
            return
        seq, rate, ch, pos = payload["seq"], payload["rate"], payload["ch"], payload["pos"]
        if seq <= self._last_seq:
            self.stale += 1
            return
        self._last_seq = seq
        if self._pos0 is None or rate != self._rate or pos < self._pos0:
            # the first chunk, a new device rate, or a sender that started over: the
            # sample clock starts again here (AudioBuffer starts over on a new format)
            self._pos0, self._rate = pos, rate
        frame = pcm_frame(data, rate, ch, pos - self._pos0)
        self.chunks += 1
        self.bytes += len(data)
        self.samples += frame.samples
        self._unacked += 1
        if self._unacked >= ACK_EVERY or self.chunks == 1:
            self._unacked = 0
            self._ack(seq)
        self._deliver(frame)

    def stats(self) -> dict[str, Any]:
        return {
            "audioChunksReceived": self.chunks,
            "audioBytesReceived": self.bytes,
            "audioSamplesReceived": self.samples,
            "audioChunksStale": self.stale,
        }

    def close(self) -> None:
        """Take no more chunks (idempotent)."""
        self._closed = True


class CommAudioSender:
    """Kernel -> page sound of one stream: reads ``track``, sends ``CHUNK_SECONDS`` of
    s16 PCM per ``audio`` message with ``send(payload, data)`` and waits for nothing.
    ``first_ack`` is called once, at the page's first ``audio-ack`` (it plays the sound).
    """

    def __init__(
        self,
        track: MediaStreamTrack,
        send: Callable[[dict[str, Any], bytes], None],
        first_ack: Callable[[], None],
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._track = track
        self._send = send
        self._first_ack = first_ack
        self._now = now
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._resampler: Any = None
        self._resampler_key: tuple[str, str, int] | None = None
        self._pending: list[np.ndarray] = []  # (samples, ch) int16 blocks of one format
        self._pending_n = 0
        self._format: tuple[int, int] | None = None  # (rate, channels) of _pending
        self._pos = 0  # the sample clock of what was sent or dropped
        self._t0: float | None = None
        self._seq = 0
        self.chunks = 0
        self.bytes = 0
        self.dropped = 0
        self.acked = 0

    def start(self) -> None:
        """Begin sending (media loop; idempotent)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._closed:
            try:
                frame = await self._track.recv()
            except MediaStreamError:
                return
            try:
                rate, block = self._interleaved(frame)
            except Exception as exc:  # a frame FFmpeg cannot convert: skip it
                log.debug("comm audio frame not converted: %s", exc)
                continue
            self._take(rate, block)

    def _interleaved(self, frame: Any) -> tuple[int, np.ndarray]:
        """(rate, (samples, channels) int16) of ``frame``, as mono or stereo s16."""
        layout = frame.layout.name
        if frame.format.name == "s16" and layout in ("mono", "stereo"):
            arr = frame.to_ndarray().reshape(-1, 1 if layout == "mono" else 2)
            return frame.sample_rate, arr
        want = "mono" if len(frame.layout.channels) == 1 else "stereo"
        key = (frame.format.name, layout, frame.sample_rate)
        if key != self._resampler_key:
            self._resampler = av.AudioResampler(format="s16", layout=want, rate=frame.sample_rate)
            self._resampler_key = key
        out = [
            f.to_ndarray().reshape(-1, 1 if want == "mono" else 2)
            for f in self._resampler.resample(frame)
        ]
        return frame.sample_rate, np.concatenate(out) if out else np.zeros((0, 1), np.int16)

    def _take(self, rate: int, block: np.ndarray) -> None:
        if not (MIN_RATE <= rate <= MAX_RATE) or not len(block):
            return
        fmt = (rate, block.shape[1])
        if fmt != self._format:
            self._flush()
            self._format = fmt
        self._pending.append(block)
        self._pending_n += len(block)
        if self._pending_n >= rate * CHUNK_SECONDS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending or self._format is None:
            return
        rate, ch = self._format
        block = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending, self._pending_n = [], 0
        pos, self._pos = self._pos, self._pos + len(block)
        now = self._now()
        ahead = pos / rate - (now - self._t0) if self._t0 is not None else 0.0
        if self._t0 is None or ahead < -MAX_AHEAD:
            # the start, or a track that fell behind (a stalled loop): the past is not
            # credit for a burst later
            self._t0 = now - pos / rate
        elif ahead > MAX_AHEAD:
            self.dropped += 1  # the track is not paced: the page could not play it anyway
            return
        data = np.ascontiguousarray(block, dtype="<i2").tobytes()
        self._seq += 1
        self.chunks += 1
        self.bytes += len(data)
        self._send(
            {"seq": self._seq, "rate": rate, "ch": ch, "pos": pos, "t": round(now * 1000, 1)}, data
        )

    def ack(self, seq: int) -> None:
        """The page played up to chunk ``seq`` (media loop). Only counted: nothing waits."""
        if self._closed or not (0 < seq <= self._seq):
            return
        self.acked += 1
        if self.acked == 1:
            self._first_ack()

    def stats(self) -> dict[str, Any]:
        return {
            "audioChunksSent": self.chunks,
            "audioBytesSent": self.bytes,
            "audioChunksDropped": self.dropped,
            "audioAcks": self.acked,
        }

    def close(self) -> None:
        """Stop sending (idempotent): the task is cancelled."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
