// Teardown steps shared by the peers (BrowserPeer, RoomMember): each step runs even when
// the one before it threw, and stopping a stream's tracks never throws.

/**
 * Run one teardown step; a step that throws is logged and cannot stop the next one.
 * @param {Pick<Console, "debug">} log
 * @param {string} what
 * @param {() => void} fn
 */
export function guard(log, what, fn) {
  try {
    fn();
  } catch (err) {
    log.debug(`[nbrtc] ${what} failed`, err);
  }
}

/**
 * Stop every track of `stream` (a MediaStream or anything with getTracks()).
 * @param {any} stream
 */
export function stopTracks(stream) {
  if (!stream || typeof stream.getTracks !== "function") return;
  for (const track of stream.getTracks()) {
    try {
      track.stop();
    } catch {
      // A track that cannot stop is already ended.
    }
  }
}
