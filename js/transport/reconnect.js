// The page's part of reconnection (issue 10 section 3). The kernel decides: when this
// page reports (over the comm, which keeps working when UDP is blocked) that its ICE is
// "disconnected" or "failed" on a stream that was connected, the kernel asks for ICE
// restarts with backoff and fails the stream in words after its give-up time
// (src/nbrtc/_transport/reconnect.py). So a pc that had connected and then fails must not end
// the stream here: the camera stays on and the page waits for the kernel's restart
// requests. It gives up by itself only PAGE_GIVE_UP_MS after the path was lost, a
// little later than the kernel, so a kernel that stopped deciding still releases the
// camera (a silent kernel is caught sooner by KernelWatchdog, liveness.js).

/** The kernel gives up 60 s after the path was lost (_reconnect.GIVE_UP); the page 10 s later. */
export const PAGE_GIVE_UP_MS = 70_000;

/**
 * @typedef {{
 *   now: () => number,
 *   setTimeout: (fn: () => void, ms: number) => any,
 *   clearTimeout: (id: any) => void,
 * }} ReconnectEnv
 */

export class PathWatch {
  /**
   * @param {ReconnectEnv} env the owner's clock and timers (fake ones in unit tests)
   * @param {(lostForMs: number) => void} onGiveUp called once when the path stayed lost
   *   for `giveUpMs`; the owner fails the stream, which calls stop()
   * @param {number} [giveUpMs]
   */
  constructor(env, onGiveUp, giveUpMs = PAGE_GIVE_UP_MS) {
    this.env = env;
    this.onGiveUp = onGiveUp;
    this.giveUpMs = giveUpMs;
    /** The pc reached "connected" at least once: from then on a failure is a lost path. */
    this.wasConnected = false;
    /** @type {number | null} when the path was lost (env.now() ms), null while it is up */
    this.lostAt = null;
    /** @type {any} */
    this._timer = null;
    this._stopped = false;
  }

  /**
   * The pc's connectionState changed. Returns true when the page must NOT fail the
   * stream for it (a lost path the kernel is restoring), false when the caller keeps
   * its usual handling (a pc that never connected and failed: ICE found no path).
   * @param {string} state
   * @returns {boolean}
   */
  connectionChanged(state) {
    if (this._stopped) return false;
    if (state === "connected") {
      this.wasConnected = true;
      this._clear();
      this.lostAt = null;
      return false;
    }
    if ((state === "disconnected" || state === "failed") && this.wasConnected) {
      if (this.lostAt === null) {
        this.lostAt = this.env.now();
        this._timer = this.env.setTimeout(() => {
          this._timer = null;
          if (this._stopped || this.lostAt === null) return;
          const lostFor = this.env.now() - this.lostAt;
          this.stop();
          this.onGiveUp(lostFor);
        }, this.giveUpMs);
      }
      return true;
    }
    return false;
  }

  /** Stop for good (idempotent): no give-up fires afterwards. */
  stop() {
    this._stopped = true;
    this._clear();
  }

  _clear() {
    if (this._timer !== null) this.env.clearTimeout(this._timer);
    this._timer = null;
  }
}
