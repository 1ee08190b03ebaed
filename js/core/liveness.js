// Liveness between the page and the kernel, wired into every session (BrowserPeer,
// RoomMember) by core/session.js.
// KernelWatchdog: the kernel pings every stream and room member about once a second;
// when nothing at all arrives for KERNEL_SILENCE_MS the owner gives up (closes without
// telling a kernel that would not hear). Kernel restarts and shutdowns are normally seen
// at once through the kernel's status (router.js); this covers a kernel frozen or
// unreachable. Heartbeat: the other way, the page proves itself alive to the kernel's
// watchdog (3.5 s of idle kernel time), with as few messages as that needs.

/**
 * Silence after which the owner gives the kernel up. Generous on purpose: a busy page
 * or Jupyter server can hold messages back for over a second, and a false alarm kills a
 * healthy stream.
 */
export const KERNEL_SILENCE_MS = 3000;
/**
 * Silence after which the owner asks the kernel for a word through the comm (its ping
 * with `ask`, which the kernel answers there at once): the kernel pings every 0.8 s, on
 * the stream's control channel when it works and through the comm only when it does not
 * (from the kernel's side) or when asked, so a media path dark towards the page is
 * bridged well inside KERNEL_SILENCE_MS. Then again at most every ASK_EVERY_MS.
 */
export const ASK_KERNEL_MS = 1250;
/** How often a quiet owner asks again while it still hears nothing. */
export const ASK_EVERY_MS = 1000;
/** How often the watchdog looks; ticks that come late reveal a page that was stalled. */
export const WATCHDOG_TICK_MS = 250;
/**
 * The heartbeat's period. At each beat a ping goes out only if nothing else went to the
 * kernel since the previous beat: the stats the page samples every second already prove
 * it alive, and every message the kernel reads costs it CPU (ipykernel answers each with
 * two status messages). So the kernel hears something about once a second either way:
 * its watchdog (3.5 s) keeps the margin it had when the page pinged every second.
 */
export const PING_INTERVAL_MS = 1000;

/**
 * @typedef {{
 *   now: () => number,
 *   setInterval: (fn: () => void, ms: number) => any,
 *   clearInterval: (id: any) => void,
 * }} WatchdogEnv
 */

export class KernelWatchdog {
  /**
   * @param {WatchdogEnv} env the owner's clock and timers (fake ones in unit tests)
   * @param {() => void} onSilent called once per silence, on a timer tick; the owner
   *   normally closes, which stops the watchdog
   * @param {() => void} [onQuiet] called on a tick once the kernel has been silent for
   *   ASK_KERNEL_MS, then at most every ASK_EVERY_MS until it is heard (the owner asks it
   *   through the comm)
   */
  constructor(env, onSilent, onQuiet) {
    this.env = env;
    this.onSilent = onSilent;
    this.onQuiet = onQuiet;
    /** When onQuiet was last called in this silence (-Infinity: not yet). */
    this._askedAt = -Infinity;
    /** @type {any} */
    this._timer = null;
    /** Stopped for good: the owner is closing, a late start() must not arm a timer. */
    this._ended = false;
    /** When the kernel last said anything (env.now() ms). */
    this._heardAt = 0;
    /** Page-stall time since then, which does not count as silence. */
    this._stalledMs = 0;
  }

  /** Whether it is watching (between start() and stop()). */
  get running() {
    return this._timer !== null;
  }

  /**
   * Start watching from now (idempotent: a second call only counts as hearing).
   * Silence counts only while the page itself could run: when a tick comes late, the
   * page's main thread was blocked (or the tab throttled), no message could have been
   * handled meanwhile, and that time is not held against the kernel.
   */
  start() {
    this.heard();
    if (this._timer !== null || this._ended) return;
    const env = this.env;
    let lastTick = env.now();
    this._timer = env.setInterval(() => {
      const now = env.now();
      const late = now - lastTick - WATCHDOG_TICK_MS;
      lastTick = now;
      if (late > WATCHDOG_TICK_MS) this._stalledMs += late;
      const silent = now - this._heardAt - this._stalledMs;
      if (silent <= KERNEL_SILENCE_MS) {
        if (silent >= ASK_KERNEL_MS && now - this._askedAt >= ASK_EVERY_MS && this.onQuiet) {
          this._askedAt = now;
          this.onQuiet();
        }
        return;
      }
      this.stop();
      this.onSilent();
    }, WATCHDOG_TICK_MS);
  }

  /** Anything from the kernel proves it is alive. */
  heard() {
    this._heardAt = this.env.now();
    this._stalledMs = 0;
    this._askedAt = -Infinity;
  }

  /** Stop watching, for good (idempotent; start() afterwards does nothing). */
  stop() {
    this._ended = true;
    const timer = this._timer;
    this._timer = null;
    if (timer !== null) this.env.clearInterval(timer);
  }
}

/**
 * @typedef {WatchdogEnv} HeartbeatEnv
 */

export class Heartbeat {
  /**
   * @param {HeartbeatEnv} env the owner's clock and timers
   * @param {() => void} ping sends one ping (the owner's `_send("ping", ...)`)
   */
  constructor(env, ping) {
    this.env = env;
    this.ping = ping;
    /** @type {any} */
    this._timer = null;
    /** Stopped for good: the owner is closing, a late start() must not arm a timer. */
    this._ended = false;
    /** Whether something other than a ping went to the kernel since the last beat. */
    this._sentSinceBeat = false;
  }

  /** Start pinging (idempotent; does nothing once stopped). */
  start() {
    if (this._timer !== null || this._ended) return;
    this._timer = this.env.setInterval(() => {
      if (!this._sentSinceBeat) this.ping();
      this._sentSinceBeat = false;
    }, PING_INTERVAL_MS);
  }

  /** Whether it runs (between start() and stop()). */
  get running() {
    return this._timer !== null;
  }

  /** The owner sent the kernel something else: a ping is not needed for a while. */
  sent() {
    this._sentSinceBeat = true;
  }

  /** Stop pinging, for good (idempotent). */
  stop() {
    this._ended = true;
    const timer = this._timer;
    this._timer = null;
    if (timer !== null) this.env.clearInterval(timer);
  }
}
