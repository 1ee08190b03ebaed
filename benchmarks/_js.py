"""Page-side JavaScript shared by the nbrtc and floor benchmarks.

* :data:`STAMP_CAMERA_JS` (init script) replaces ``getUserMedia`` with a canvas camera of
  exactly ``window.__benchCam = {w, h}`` pixels (default 640x480) at 30 fps whose top row
  of 16 black/white blocks (each ``w/16`` wide) encodes ``performance.now()`` in ms mod
  65536, as ``tests/e2e/test_media.py`` does at 640x480. It must be added BEFORE the
  counting script so that ``window.__counters`` sees its tracks.
* :data:`VIDEO_WATCH_JS` (init script) stamps every ``<video>`` added to the page with
  ``__addedAt`` and, via ``requestVideoFrameCallback``, ``__firstFrameAt`` (page clock, ms).
* :data:`READ_STAMPS_JS` decodes the stamp of every frame a video presents for ``ms``
  and returns ``now - stamp`` per frame (page clock, ms).
* :data:`SENT_FRAMES_JS` sums ``framesSent`` of every outbound video RTP stream.
"""

from __future__ import annotations

from benchmarks._lab import video as e2e_video

# the e2e suite's own scripts: both measure the same stamped camera
READ_STAMPS_JS: str = e2e_video.READ_STAMPS_JS
SENT_FRAMES_JS: str = e2e_video.SENT_FRAMES_JS
STAMP_CAMERA_JS: str = e2e_video.STAMP_CAMERA_JS

__all__ = [
    "PRESENTED_AT_JS",
    "READ_STAMPS_JS",
    "RENDERED_FRAMES_JS",
    "SENT_FRAMES_JS",
    "STAMP_CAMERA_JS",
    "VIDEO_WATCH_JS",
]


VIDEO_WATCH_JS = """
(() => {
  const watch = (v) => {
    if (v.__addedAt !== undefined) return;
    v.__addedAt = performance.now();
    v.__firstFrameAt = null;
    if (v.requestVideoFrameCallback) {
      v.requestVideoFrameCallback((now) => { v.__firstFrameAt = now; });
    }
  };
  const scan = (node) => {
    if (node.nodeType !== 1) return;
    if (node.tagName === 'VIDEO') watch(node);
    node.querySelectorAll && node.querySelectorAll('video').forEach(watch);
  };
  new MutationObserver((muts) => {
    for (const m of muts) m.addedNodes.forEach(scan);
  }).observe(document, {childList: true, subtree: true});
})();
"""


# RTP packets the page's live peers have sent so far, video only (the counting init
# script's getStats of every live peer): what the receiving process has to handle.
PACKETS_SENT_JS = """
async () => {
  let n = 0;
  for (const r of await window.__counters.stats()) {
    if (r.type === "outbound-rtp" && r.kind === "video") n += r.packetsSent || 0;
  }
  return n;
}
"""

# video -> frames presented so far (decoded minus dropped).
RENDERED_FRAMES_JS = """
(v) => { const q = v.getVideoPlaybackQuality();
         return q.totalVideoFrames - q.droppedVideoFrames; }
"""

# video -> [page clock (ms), frames presented so far]: one reading, so a rate over two of
# them needs no clock of the driver's (whose reads straddle each evaluation's round trip).
PRESENTED_AT_JS = """
(v) => { const q = v.getVideoPlaybackQuality();
         return [performance.now(), q.totalVideoFrames - q.droppedVideoFrames]; }
"""
