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

STAMP_CAMERA_JS = """
(() => {
  MediaDevices.prototype.getUserMedia = async function () {
    const size = window.__benchCam || {w: 640, h: 480};
    const w = size.w, h = size.h, bw = Math.floor(w / 16);
    const c = document.createElement('canvas');
    c.width = w; c.height = h;
    const ctx = c.getContext('2d');
    const paint = () => {
      ctx.fillStyle = '#808080'; ctx.fillRect(0, 0, w, h);
      const t = Math.round(performance.now()) & 0xffff;
      for (let i = 0; i < 16; i++) {
        ctx.fillStyle = ((t >> i) & 1) ? '#ffffff' : '#000000';
        ctx.fillRect(i * bw, 0, bw, bw);
      }
    };
    paint();
    setInterval(paint, 5);
    return c.captureStream(30);
  };
})();
"""

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

# (video, ms) -> [now - stamp] for every frame presented during ms (page clock, ms).
READ_STAMPS_JS = """
async ([v, ms]) => {
  const w = v.videoWidth, h = v.videoHeight, bw = Math.floor(w / 16);
  const c = document.createElement('canvas');
  c.width = w; c.height = h;
  const ctx = c.getContext('2d', {willReadFrequently: true});
  const out = [];
  const end = performance.now() + ms;
  await new Promise((resolve) => {
    const step = () => {
      const now = performance.now();
      ctx.drawImage(v, 0, 0, w, h);
      const row = ctx.getImageData(0, Math.floor(bw / 2), w, 1).data;
      let t = 0;
      for (let i = 0; i < 16; i++) {
        if (row[(i * bw + Math.floor(bw / 2)) * 4 + 1] > 128) t |= (1 << i);
      }
      out.push(((Math.round(now) & 0xffff) - t + 65536) % 65536);
      if (now < end) v.requestVideoFrameCallback(step); else resolve();
    };
    v.requestVideoFrameCallback(step);
  });
  return out;
}
"""

SENT_FRAMES_JS = """
async () => (await window.__counters.stats())
  .filter((r) => r.type === 'outbound-rtp' && r.kind === 'video')
  .reduce((n, r) => n + (r.framesSent || 0), 0)
"""

# video -> frames presented so far (decoded minus dropped).
RENDERED_FRAMES_JS = """
(v) => { const q = v.getVideoPlaybackQuality();
         return q.totalVideoFrames - q.droppedVideoFrames; }
"""
