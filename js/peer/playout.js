// The page's jitter buffer for the video the kernel sends (a view's video, a camera's or
// screen's processed video): the `jitter_buffer_ms` trait becomes each video receiver's
// `jitterBufferTarget` (0, the default: the browser's own, the lowest latency).
//
// Why a setting: the kernel's frames leave at its own pace (a source drawn on a worker,
// then encoded), so they reach the page a few ms early or late, and with the browser's
// own target (about 7 ms held here) some sessions drop frames in the page's compositor
// again and again (15-20 of 150 decoded in 5 s). In such a session a 50 ms target brought
// that to 0 and back to 15-20 without it, four times over; over 30 fresh sessions each
// way a 40-60 ms target halved the sessions that dropped (8 -> 4), at 30-35 ms more
// latency: a trade for the user (README "Performance"), not a default.

/** The browser's upper bound for `jitterBufferTarget` (W3C WebRTC extensions), in ms. */
export const MAX_JITTER_BUFFER_MS = 4000;

/**
 * The target for the trait's value: null (the browser's own) for 0 or anything that is
 * not a positive number of ms; at most MAX_JITTER_BUFFER_MS.
 * @param {unknown} value
 * @returns {number | null}
 */
export function jitterTarget(value) {
  const ms = typeof value === "number" ? value : Number.NaN;
  if (!Number.isFinite(ms) || ms <= 0) return null;
  return Math.min(ms, MAX_JITTER_BUFFER_MS);
}

/**
 * Give `receiver` (an RTCRtpReceiver of video) the target `ms` when the browser has the
 * attribute and it differs. False when nothing was set (no such attribute: an older
 * browser plays as before; or the browser refused the value).
 * @param {any} receiver
 * @param {number | null} ms
 * @param {{debug: (...args: any[]) => void}} log
 * @returns {boolean}
 */
export function applyJitterTarget(receiver, ms, log) {
  if (!receiver || !("jitterBufferTarget" in receiver)) return false;
  try {
    if (receiver.jitterBufferTarget !== ms) receiver.jitterBufferTarget = ms;
    return true;
  } catch (err) {
    log.debug("[nbrtc] the browser refused a jitter buffer target", ms, err);
    return false;
  }
}
