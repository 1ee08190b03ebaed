"""Drawing for the synthetic test pattern: moving colour bars, a frame counter and a clock.

Pure numpy, no fonts needed: digits come from a 5x7 bitmap scaled up, so the numbers stay
legible after VP8 compression and a person (or a test) can read latency off the picture.
"""

from __future__ import annotations

import time

import numpy as np

_GLYPHS = {
    "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    "3": ["11111", "00010", "00100", "00010", "00001", "10001", "01110"],
    "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    "6": ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    "7": ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    "8": ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    "9": ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
    ":": ["00000", "01100", "01100", "00000", "01100", "01100", "00000"],
    ".": ["00000", "00000", "00000", "00000", "00000", "01100", "01100"],
    "-": ["00000", "00000", "00000", "11111", "00000", "00000", "00000"],
    " ": ["00000"] * 7,
}
_BITMAPS = {c: np.array([[ch == "1" for ch in row] for row in rows]) for c, rows in _GLYPHS.items()}

_BARS = np.array(
    [
        [192, 192, 192],
        [192, 192, 0],
        [0, 192, 192],
        [0, 192, 0],
        [192, 0, 192],
        [192, 0, 0],
        [0, 0, 192],
    ],
    dtype=np.uint8,
)


def draw_text(img: np.ndarray, text: str, x: int, y: int, scale: int = 4) -> None:
    """Draw ``text`` (digits, ``: . -`` and spaces) in white on a black box, in place."""
    h, w = 7 * scale, 5 * scale
    pad = scale
    width = len(text) * (w + scale) + pad
    y0, x0 = max(0, y - pad), max(0, x - pad)
    img[y0 : y + h + pad, x0 : x + width] = 0
    for i, ch in enumerate(text):
        glyph = _BITMAPS.get(ch, _BITMAPS[" "])
        big = np.kron(glyph, np.ones((scale, scale), dtype=bool))
        cx = x + i * (w + scale)
        region = img[y : y + h, cx : cx + w]
        if region.shape[:2] != big.shape:
            return  # text runs off the frame: clip quietly
        region[big] = 255


class PatternPainter:
    """Renders frame ``n`` of the pattern as an (H, W, 3) uint8 RGB array."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        bar_w = max(1, width // len(_BARS))
        row = np.repeat(_BARS, bar_w, axis=0)
        row = np.concatenate([row, row], axis=0)  # twice as wide, so a slice can scroll
        self._bars = np.broadcast_to(row[None, :, :], (height, row.shape[0], 3))
        self._period = bar_w * len(_BARS)

    def paint(self, n: int, now: float | None = None) -> np.ndarray:
        now = time.time() if now is None else now
        offset = (n * 4) % self._period
        img = np.ascontiguousarray(self._bars[:, offset : offset + self.width])
        if img.shape[1] < self.width:  # tiny widths: pad
            img = np.pad(img, ((0, 0), (0, self.width - img.shape[1]), (0, 0)))
        # a white square circling the centre makes motion obvious even at low resolution
        side = max(8, self.height // 8)
        angle = n * 2 * np.pi / 90
        cx = int(self.width / 2 + np.cos(angle) * self.width / 4)
        cy = int(self.height / 2 + np.sin(angle) * self.height / 4)
        img[max(0, cy - side // 2) : cy + side // 2, max(0, cx - side // 2) : cx + side // 2] = 255
        scale = max(1, self.height // 120)
        lt = time.localtime(now)
        clock = time.strftime("%H:%M:%S", lt) + f".{int((now % 1) * 1000):03d}"
        draw_text(img, f"{n:06d}", 2 * scale, 2 * scale, scale)
        draw_text(img, clock, 2 * scale, self.height - 9 * scale, scale)
        return img
