// Teardown steps shared by the sessions (BrowserPeer, RoomMember) and the views that
// mount them (mount.js): each step runs even when the one before it threw, and stopping
// a stream's tracks never throws.

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

/**
 * Run each cleanup step in order, logging failures, so one that throws cannot stop the
 * others (anywidget's safe_cleanup). Never throws.
 * @param {(() => void)[]} steps
 * @param {Pick<Console, "error">} [log]
 */
export function runAll(steps, log = console) {
  for (const step of steps) {
    try {
      step();
    } catch (err) {
      log.error("[nbrtc] cleanup step failed", err);
    }
  }
}

/**
 * @param {() => void} fn
 * @returns {() => void} fn, callable any number of times, running once
 */
export function once(fn) {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
