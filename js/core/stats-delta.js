/**
 * The page's stats samples without their unchanged reports (docs/protocol.md
 * "Inspection"; the kernel's side is src/nbrtc/_inspection/stats_carry.py).
 *
 * Of a camera's 16-19 reports a second, 10-13 (the codec, the candidates, the pairs not
 * in use) change nothing but their `timestamp` (6.6 KB a sample, 2.8 KB without them).
 * `StatsDelta.pack` sends those by id only, in the sample's `same` list, and the kernel
 * puts its copy back. A whole sample goes every FULL_EVERY samples, and whenever the path
 * (control channel or comm) or the peer connection changed since the previous one, so
 * that a sample the kernel missed costs at most a few seconds of those reports.
 */

/** Every this many samples, every report is sent whole. */
export const FULL_EVERY = 10;

/**
 * A report's content but for its timestamp, as one comparable string.
 * @param {Record<string, any>} report
 * @returns {string}
 */
function content(report) {
  return JSON.stringify(report, (key, value) => (key === "timestamp" ? undefined : value));
}

export class StatsDelta {
  constructor() {
    /** @type {Map<string, string>} report id -> content of the previous sample */
    this._sent = new Map();
    /** @type {unknown} what the previous sample went through (a path and a peer) */
    this._route = undefined;
    this._count = 0;
  }

  /**
   * The payload fields for `reports`: `{reports}` (whole) or `{reports, same}`.
   * @param {Record<string, any>[]} reports this sample's filtered reports
   * @param {unknown} route the path and peer it will go by; any change sends it whole
   * @returns {{reports: Record<string, any>[], same?: string[]}}
   */
  pack(reports, route) {
    const whole = route !== this._route || this._count % FULL_EVERY === 0;
    this._route = route;
    this._count += 1;
    /** @type {Map<string, string>} */
    const now = new Map();
    /** @type {Record<string, any>[]} */
    const changed = [];
    /** @type {string[]} */
    const same = [];
    for (const report of reports) {
      const id = report?.id;
      if (typeof id !== "string" || now.has(id)) {
        changed.push(report);
        continue;
      }
      const text = content(report);
      now.set(id, text);
      if (!whole && this._sent.get(id) === text) same.push(id);
      else changed.push(report);
    }
    this._sent = now;
    return same.length ? { reports: changed, same } : { reports: changed };
  }
}
