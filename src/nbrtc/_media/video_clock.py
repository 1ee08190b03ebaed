"""The 90 kHz clock that kernel-made video frames are stamped in.

RTP carries video timestamps at 90 kHz (RFC 3551), so the sources stamp their frames
in it and aiortc's encoder passes them on without rescaling.
"""

from __future__ import annotations

import fractions

VIDEO_CLOCK = 90_000
TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
