// The control channel: the data channel every browser peer opens to the kernel
// (CONTROL_CHANNEL, so every offer has a data section and channels opened later need no
// renegotiation) also carries the stream's periodic reports once it is open: the stats
// sample and the heartbeat ping go to the kernel on it, and the kernel's ping comes back
// on it (docs/protocol.md "Control channel").
//
// Why: through the comm, each of those messages costs the kernel's ipykernel threads
// (a shell message answered with two status messages on IOPub, a ping published on
// IOPub) and the Jupyter server; on the control channel it is one SCTP message on the
// kernel's media loop. Signaling (offer, answer, candidates, states, bye) stays on the
// comm, which is also the only path before the channel opens, after it closes and for
// streams without a kernel peer.
//
// The comm stays the safety net of liveness: the channel travels the media path, which a
// network can black out while the notebook's WebSocket (TCP) works on. So while the
// channel works (the kernel was heard on it within CONTROL_FRESH_MS) the heartbeat still
// goes through the comm every other beat, and at every beat once it stops working: each
// side's watchdog then hears the other through the comm at least every 2 s, well within
// its 3 s (page) and 3.5 s (kernel).

import { makeMessage, PROTOCOL_VERSION } from "../core/protocol.js";
import { listen } from "../core/listen.js";

/** Report types that may travel on the control channel (the kernel's CONTROL_TYPES). */
export const CONTROL_TYPES = Object.freeze(["stats", "ping"]);
/** The channel works while the kernel was heard on it this recently (it pings every 0.8 s). */
export const CONTROL_FRESH_MS = 2000;
/** Longest kernel message taken on the control channel (a ping listing 64 streams). */
const MAX_CONTROL_CHARS = 8192;

/**
 * @typedef {{
 *   id: string,
 *   closed: boolean,
 *   router: {deliver(content: unknown): void},
 *   env: {now: () => number, log: Pick<Console, "debug" | "error">},
 * }} ControlOwner
 */

/** One peer's control channel and its use (the peer's `_link`). */
export class ControlLink {
  /** @param {ControlOwner} owner */
  constructor(owner) {
    this.owner = owner;
    /** @type {any} the current pc's control channel (null: none) */
    this.dc = null;
    /** When the kernel was last heard on it (env.now() ms). */
    this._heardAt = -Infinity;
    /** A report went on the channel since the previous beat: no ping needed there. */
    this._sentSinceBeat = false;
    /** The previous beat left the comm out (it is used every other beat at most). */
    this._commSkipped = false;
  }

  /**
   * Use `dc` (a new pc's control channel) from now on and hear the kernel on it.
   * @param {any} dc
   * @param {AbortSignal} signal ends its listeners
   */
  attach(dc, signal) {
    this.dc = dc;
    this._heardAt = -Infinity;
    const owner = this.owner;
    listen(
      dc,
      "message",
      (/** @type {any} */ event) => {
        if (dc === this.dc) this._take(event?.data);
      },
      { signal, isClosed: () => owner.closed, log: owner.env.log, what: "control channel " },
    );
  }

  /** Close the channel (the pc is closing or being replaced); idempotent. */
  close() {
    const dc = this.dc;
    this.dc = null;
    dc?.close();
  }

  /** Whether the channel can carry a message now. */
  get open() {
    return this.dc !== null && this.dc.readyState === "open";
  }

  /** Whether the channel works: open, and the kernel was heard on it lately. */
  get working() {
    return this.open && this.owner.env.now() - this._heardAt < CONTROL_FRESH_MS;
  }

  /**
   * Send a report (`stats`) on the channel; false (nothing sent) when it is not open
   * or the send failed: the caller sends it through the comm instead.
   * @param {string} type one of CONTROL_TYPES
   * @param {any} payload
   * @returns {boolean}
   */
  send(type, payload) {
    if (!this.open || !CONTROL_TYPES.includes(type)) return false;
    try {
      this.dc.send(JSON.stringify(makeMessage(type, this.owner.id, payload)));
    } catch (err) {
      // closing under us, or the SCTP buffer is full: the comm takes this one
      this.owner.env.log.debug(`[nbrtc] ${this.owner.id}: ${type} on the control channel failed`, err);
      return false;
    }
    if (type !== "ping") this._sentSinceBeat = true;
    return true;
  }

  /**
   * The heartbeat is due (nothing went through the comm since the previous one): a ping
   * on the channel unless a report went there meanwhile. Returns whether the comm must
   * carry a ping too: always while the channel does not work, every other beat while it
   * does.
   * @returns {boolean}
   */
  beat() {
    if (this.open && !this._sentSinceBeat) this.send("ping", { t: this.owner.env.now() });
    this._sentSinceBeat = false;
    if (!this.working) {
      this._commSkipped = false;
      return true;
    }
    this._commSkipped = !this._commSkipped;
    return !this._commSkipped;
  }

  /**
   * A message from the kernel on the channel: its `ping` for this stream goes to the
   * page's router as the same ping from the comm would (it feeds this stream's watchdog
   * and those of the streams its `live` lists). Anything else is ignored (the kernel
   * sends nothing else on it).
   * @param {unknown} data
   */
  _take(data) {
    const owner = this.owner;
    if (typeof data !== "string" || data.length > MAX_CONTROL_CHARS) return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (msg?.v === PROTOCOL_VERSION && msg.type === "ping" && msg.stream === owner.id) {
      this._heardAt = owner.env.now();
      owner.router.deliver(msg);
    } else {
      owner.env.log.debug(`[nbrtc] ${owner.id}: ignored a control channel message`);
    }
  }
}
