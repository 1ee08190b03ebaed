"""How a recording's file extension is written: container, codecs and muxer options.

``.mp4`` is H.264 + AAC, ``.webm`` VP8 + Opus, ``.mkv`` H.264 + Opus. The muxer options
are what lets the file of a killed kernel decode (see :mod:`nbrtc._media.recorder`): a
finished fragment (mp4) or cluster (webm/mkv) every ``FRAGMENT`` seconds, each packet
handed to the operating system as soon as the muxer finishes it. Pure data, no PyAV
import: the recorder's argument checks read it before any encoder exists.
"""

from __future__ import annotations

import fractions
from dataclasses import dataclass

AUDIO_RATE = 48_000  # both AAC and Opus encode at 48 kHz stereo; other input is resampled
AUDIO_LAYOUT = "stereo"
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)

# A finished fragment (mp4) or cluster (webm/mkv) is written every this many seconds: the
# most media a killed kernel can lose, besides the frames queued for the encoder.
FRAGMENT = 1.0


@dataclass(frozen=True)
class Format:
    """How one file extension is written."""

    container: str  # PyAV/FFmpeg muxer name
    video_codec: str
    video_options: dict[str, str]
    video_time_base: fractions.Fraction  # the muxer's own, so nudging by 1 tick survives muxing
    audio_codec: str
    audio_format: str  # the encoder's sample format
    audio_bit_rate: int
    muxer_options: dict[str, str]  # how the file survives a kill (see the module docstring)


_X264 = {
    # ultrafast: about 1.5 ms of CPU per 640x480 frame (4 ms for veryfast), so a 2-core
    # machine keeps up with 30 fps while aiortc decodes; zerolatency: no B-frames, no
    # lookahead, so each frame comes out as it goes in and dts == pts in every container.
    "preset": "ultrafast",
    "tune": "zerolatency",
    "crf": "23",
}

# flush_packets: each packet the muxer finishes goes to the file at once (not into a
# 32 KiB buffer), so what a killed process leaves is what was muxed.
_FRAGMENT_US = str(round(FRAGMENT * 1_000_000))
_MP4_OPTIONS = {
    # hybrid_fragmented: written as fragments (an empty moov first, then a moof+mdat
    # every frag_duration), decodable at any moment; on a normal close the muxer writes
    # an ordinary moov at the end and hides the fragment headers inside one mdat, so a
    # finished file is a plain, seekable MP4 for every player. delay_moov: the first moov
    # is written with the first fragment, when every track's start is known, so audio
    # that began after the video keeps its offset (an edit list) in a killed file too.
    "movflags": "+hybrid_fragmented+delay_moov",
    "frag_duration": _FRAGMENT_US,
    "flush_packets": "1",
}
_MATROSKA_OPTIONS = {
    # A cluster reaches the file only when it is closed: close one every second (the
    # default is 5 s). Cues are still written at the end of a finished file.
    "cluster_time_limit": str(round(FRAGMENT * 1000)),
    "flush_packets": "1",
}

FORMATS: dict[str, Format] = {
    ".mp4": Format(
        "mp4",
        "libx264",
        _X264,
        fractions.Fraction(1, 90_000),
        "aac",
        "fltp",
        128_000,
        _MP4_OPTIONS,
    ),
    ".webm": Format(
        "webm",
        "libvpx",
        {
            # realtime deadline + cpu-used 8: VP8's fastest mode that still looks
            # good at webcam sizes; lag-in-frames 0: no alt-ref look-ahead queue.
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
        },
        fractions.Fraction(1, 1000),
        "libopus",
        "s16",
        96_000,
        _MATROSKA_OPTIONS,
    ),
    # H.264 + Opus: Opus is what the browser sent, and PyAV/FFmpeg mux it into Matroska
    # without the priming-sample quirks of AAC in Matroska.
    ".mkv": Format(
        "matroska",
        "libx264",
        _X264,
        fractions.Fraction(1, 1000),
        "libopus",
        "s16",
        96_000,
        _MATROSKA_OPTIONS,
    ),
}
