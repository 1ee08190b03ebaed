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
// network can black out while the notebook's WebSocket (TCP) works on. The heartbeat goes
// through the comm at every beat while the page hears the kernel on none of its control
// channels (CONTROL_FRESH_MS), and whenever the kernel asks: a kernel that has not heard
// a stream for 1.2-1.6 s pings through the comm with `ask` (at every 0.4 s tick until it
// hears), and the session answers through the comm at once (core/session.js). So a path
// blacked out in either direction is bridged within about 1.6 s, inside the kernel's
// 3.5 s, and a healthy page sends the kernel's ipykernel no heartbeat at all. The other
// way round, the kernel's ping goes through the comm only while the kernel does not hear
// the page on the channel, or when a session that has not heard the kernel for 1.25 s
// asks (core/liveness.js ASK_KERNEL_MS, core/session.js _askKernel): it answers at once.

import { makeMessage, PROTOCOL_VERSION } from "../core/protocol.js";
import { listen } from "../core/listen.js";

/** Report types that may travel on the control channel (the kernel's CONTROL_TYPES). */
export const CONTROL_TYPES = Object.freeze(["stats", "ping"]);
/** The channel works while the kernel was heard on it this recently (it pings every 0.8 s). */
export const CONTROL_FRESH_MS = 2000;

/**
 * When the kernel was last heard on any control channel of this page, per router (the
 * kernel pings one page once, on one stream's channel, for all its streams).
 * @type {WeakMap<object, number>}
 */
const heardOnPage = new WeakMap();
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

  /**
   * Whether the channel works: open, and the kernel was heard lately on it or on another
   * control channel of this page (the kernel's one ping per page travels on one of them;
   * a stream whose own path failed is caught by the kernel's `ask`).
   */
  get working() {
    if (!this.open) return false;
    const page = heardOnPage.get(this.owner.router) ?? -Infinity;
    return this.owner.env.now() - Math.max(this._heardAt, page) < CONTROL_FRESH_MS;
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
    return true;
  }

  /**
   * The heartbeat is due (nothing went through the comm since the previous one): a ping
   * on the channel, even when a stats sample went there since the previous beat (the
   * kernel asks for the comm after 1.2 s without a word, and a sample early in one beat
   * followed by no ping at the next would leave up to 2 s; a ping on the channel costs
   * the kernel next to nothing). Returns whether the comm must carry a ping too: only
   * while the channel does not work (the kernel asks for one when it misses this
   * stream: Session.handleKernelMessage).
   * @returns {boolean}
   */
  beat() {
    if (this.open) this.send("ping", { t: this.owner.env.now() });
    return !this.working;
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
      heardOnPage.set(owner.router, this._heardAt);
      owner.router.deliver(msg);
    } else {
      owner.env.log.debug(`[nbrtc] ${owner.id}: ignored a control channel message`);
    }
  }
}
