// One session of this page with the kernel, under one stream id: what BrowserPeer (a
// widget's stream, js/peer/peer.js) and RoomMember (a room view, js/room/room.js) share.
//
//   new  --start()-->  registered with the router, talking to the kernel
//        --close() / fail() / kernelGone()-->  closed (once; every later call is a no-op)
//
// The base owns the lifecycle (the closed flag, idempotent close and fail, the one
// teardown order), the liveness wiring (liveness.js: a Heartbeat that pings when nothing
// else went out, a KernelWatchdog that gives the kernel up when it falls silent; every
// kernel message feeds it), the stats sampling timer, the pending ask for TURN logins,
// and the view callback. A subclass supplies what its media needs:
//   snapshot()               what the view draws
//   _onKernelMessage(msg)    a validated kernel message while open
//   _sampleStats()           one stats sample (at most one in flight is its business)
//   _enterFinal(state)       record the final state ({name: "closed" | "error", reason})
//   _release()               close its pcs, stop its tracks, remove its listeners
//   _saysBye()               whether the kernel knows it, so a bye is due on close

import { guard } from "./cleanup.js";
import { defaultEnv } from "./env.js";
import { kernelGone } from "./errors.js";
import { Heartbeat, KernelWatchdog } from "./liveness.js";
import { IceServersRequest } from "../transport/ice.js";
import { clipText } from "./protocol.js";

/**
 * @typedef {import("./router.js").Router} Router
 * @typedef {import("./router.js").ModelLike} ModelLike
 * @typedef {import("./protocol.js").Envelope} Envelope
 * @typedef {import("./env.js").PeerEnv} PeerEnv
 * @typedef {{name: string, message: string, words: string}} Described
 */

/** How often a session samples its getStats for the kernel (Inspector, stats()). */
export const STATS_INTERVAL_MS = 1000;

/**
 * The `stats_interval` trait (seconds; 0 = off) in ms; the default when it is absent.
 * @param {unknown} seconds
 * @returns {number} 0 for off, else at least 250
 */
export function statsInterval(seconds) {
  if (seconds === undefined || seconds === null) return STATS_INTERVAL_MS;
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) return 0;
  return Math.max(250, seconds * 1000);
}

/**
 * Whether a stats sample is due at a tick of the sampling timer: at every tick while the
 * kernel says someone reads the stats (the `stats_read` trait; absent counts as read),
 * else once `stats_idle_interval` has passed since the last sample (half a tick of slack,
 * so a timer that fires a little early does not wait one more tick).
 * @param {{get(name: string): any}} model
 * @param {number} sinceMs time since the last sample sent
 * @param {number} everyMs the timer's period
 * @returns {boolean}
 */
export function statsDue(model, sinceMs, everyMs) {
  if (model.get("stats_read") !== false) return true;
  const idleMs = statsInterval(model.get("stats_idle_interval")) || everyMs;
  return sinceMs >= idleMs - everyMs / 2;
}

/**
 * @template Snapshot
 */
export class Session {
  /**
   * Takes the stream id (and, unless given, a view id) from the router; registers
   * nothing yet (start() does, through _register).
   * @param {{
   *   model: ModelLike,
   *   router: Router,
   *   env?: Partial<PeerEnv>,
   *   viewId?: string,
   *   onChange?: (snapshot: Snapshot) => void,
   * }} options
   */
  constructor({ model, router, env, viewId, onChange }) {
    this.model = model;
    this.router = router;
    this.env = { ...defaultEnv(), ...env };
    this.id = router.nextStreamId();
    this.viewId = viewId ?? router.nextViewId();
    this.onChange = onChange ?? (() => {});
    /** What this session is ("camera", "view", "room"...): the subclass sets it. */
    this.kind = "";
    /** What the view shows for closed/error states ("" otherwise). */
    this.words = "";
    this.closed = false;
    this._registered = false;
    /** The kernel knows this session once anything we sent reached the router. */
    this._kernelKnows = false;
    /** Pings the kernel when nothing else went out for a while (the owner starts it). */
    this._heartbeat = new Heartbeat(this.env, () => this._beat());
    /**
     * Whether this session's heartbeat is shared with the page's other sessions (one
     * ping per page listing them all, router.beat): a stream's, set by its subclass. A
     * room member's is not: its room's watchdog counts each member's own messages.
     */
    this.sharesBeat = false;
    /** Gives the session up when the kernel falls silent (the owner arms it). */
    this._watchdog = new KernelWatchdog(
      this.env,
      () => this.kernelGone(),
      () => this._askKernel(),
    );
    /** @type {any} the stats sampling timer (_startStats) */
    this._statsTimer = null;
    /** When the subclass last sent a stats sample (env.now(); it sets this). */
    this._statsSentAt = -Infinity;
    /** @type {IceServersRequest | null} the pending ask for TURN logins (ice.js) */
    this._iceRequest = null;
  }

  /** How log lines name this session. */
  get label() {
    return this.id;
  }

  /**
   * What the view draws; each subclass says.
   * @returns {Snapshot}
   */
  snapshot() {
    throw new Error("Session.snapshot is abstract");
  }

  /** Hand the view a fresh snapshot; a view that throws is logged, never fatal. */
  _notify() {
    try {
      this.onChange(this.snapshot());
    } catch (err) {
      this.env.log.error(`[nbrtc] ${this.label}: view update failed`, err);
    }
  }

  /** Register with the page's router (throws as router.register does: a reused id). */
  _register() {
    this.router.register(this.id, this, this.model);
    this._registered = true;
  }

  /**
   * Send one message for this session. False when not registered (before start, after
   * close) or when the router could not send it.
   * @param {string} type
   * @param {any} payload
   * @param {ArrayBuffer[]} [buffers] a comm frame's JPEG or sound
   * @returns {boolean}
   */
  _send(type, payload, buffers) {
    if (!this._registered) return false;
    const sent = buffers ? this.router.send(this.id, type, payload, buffers) : this.router.send(this.id, type, payload);
    if (sent) this._kernelKnows = true;
    if (sent && type !== "ping") this._heartbeat.sent();
    return sent;
  }

  /** The heartbeat is due: the page's shared ping, or this session's own. */
  _beat() {
    this._commBeat();
  }

  /** The heartbeat through the comm: the page's shared ping, or this session's own. */
  _commBeat() {
    const now = this.env.now();
    if (this.sharesBeat && this._registered && typeof this.router.beat === "function") {
      this.router.beat(this.id, now);
    } else {
      this._send("ping", { t: now });
    }
  }

  /**
   * The kernel has not been heard for ASK_KERNEL_MS (its pings on the control channel
   * may be lost on a media path dark towards the page): ask it through the comm for one
   * there now (a ping with `ask`, which it answers at once; docs/protocol.md "Control
   * channel").
   */
  _askKernel() {
    if (this.closed || !this._kernelKnows) return;
    this._send("ping", { t: this.env.now(), ask: true });
  }

  /** Whether the heartbeat runs (the kernel knows this session and it is not closed). */
  get beating() {
    return this._heartbeat.running && !this.closed;
  }

  /** A kernel ping on another stream of this page listed this one: the kernel is there. */
  kernelHeard() {
    if (!this.closed) this._watchdog.heard();
  }

  /**
   * Sample stats every `everyMs` (0: never) while the kernel says someone reads them,
   * else every `stats_idle_interval` (statsDue), until the session ends.
   * @param {number} everyMs
   */
  _startStats(everyMs) {
    if (everyMs > 0 && this._statsTimer === null && !this.closed) {
      this._statsTimer = this.env.setInterval(() => {
        if (statsDue(this.model, this.env.now() - this._statsSentAt, everyMs)) this._sampleStats();
      }, everyMs);
    }
  }

  /** One stats sample; the subclass sends it and notes when in `_statsSentAt`. */
  _sampleStats() {}

  /**
   * Ask the kernel for the full ICE servers (TURN logins are never in a trait, which is
   * saved with the notebook; ice.js). Resolves to the list, to `{failed}` (timeout,
   * refusal) or to null (closed meanwhile); never rejects.
   * @param {string} closedWhy the refusal's words when the comm cannot send the ask
   */
  _askIceServers(closedWhy) {
    const request = new IceServersRequest(this.env);
    this._iceRequest = request;
    if (!this._send("ice-servers", null)) request.refused("closed", closedWhy);
    return request.promise;
  }

  /**
   * A validated kernel message for this session (called by the router). Anything at
   * all proves the kernel alive; nothing is handled once closed.
   * @param {Envelope} msg
   * @param {any[]} [buffers]
   */
  handleKernelMessage(msg, buffers) {
    if (this.closed) return;
    this._watchdog.heard();
    // The kernel has not heard this page for a while (its path to the kernel may be
    // blacked out while the comm works) and asks for the heartbeat through the comm now.
    if (msg.type === "ping" && msg.payload?.ask === true && this.beating) this._commBeat();
    this._onKernelMessage(msg, buffers);
  }

  /**
   * @param {Envelope} _msg
   * @param {any[]} [_buffers]
   */
  _onKernelMessage(_msg, _buffers) {}

  /**
   * The kernel is gone (its status said restarting/dead, or it fell silent): close
   * without telling it, since nothing there would hear.
   * @param {string} [why] e.g. the kernel's status
   */
  kernelGone(why) {
    if (this.closed) return;
    this.words = kernelGone(why).words;
    this.close("kernel-gone", { notify: false });
  }

  /**
   * A failure: show its words, tell the kernel (`error`, then `bye` reason `error`)
   * unless the kernel is the one that reported it (`tellKernel: false`), and close.
   * @param {Described} described
   * @param {{tellKernel?: boolean}} [options]
   */
  fail(described, { tellKernel = true } = {}) {
    if (this.closed) return;
    this.env.log.warn(`[nbrtc] ${this.label} failed: ${described.name}: ${described.message}`);
    this.words = described.words;
    this._enterFinal({ name: "error", reason: described.words });
    // within the kernel's bounds (docs/protocol.md: name 128, message 4096 characters), or
    // the kernel would refuse the report and never learn why the view failed
    if (tellKernel) {
      this._send("error", { name: clipText(described.name, 128), message: clipText(described.message, 4096) });
    }
    this._teardown("error", tellKernel);
  }

  /**
   * Close the session. Idempotent and synchronous: when it returns, every track is
   * stopped, every pc closed, timers and listeners are gone, the router forgot it, and
   * the kernel was told (`bye`) unless `notify` is false (the kernel closed it, or is
   * gone, or the router already said bye on pagehide).
   * @param {string} [reason]
   * @param {{notify?: boolean}} [options]
   */
  close(reason = "closed", { notify = true } = {}) {
    if (this.closed) return;
    this._enterFinal({ name: "closed", reason });
    this._teardown(reason, notify);
  }

  /**
   * @param {{name: "closed" | "error", reason: string}} _state
   */
  _enterFinal(_state) {}

  /** Release what the subclass holds (pcs, tracks, listeners); each step guarded. */
  _release() {}

  /** Whether the kernel holds something for this session that a bye should end. */
  _saysBye() {
    return this._kernelKnows;
  }

  /**
   * The one teardown order: timers first (nothing fires midway), then the subclass's
   * media, then the kernel's bye, then the router, then the view's last snapshot.
   * @param {string} byeReason
   * @param {boolean} notify
   */
  _teardown(byeReason, notify) {
    if (this.closed) return;
    this.closed = true;
    const env = this.env;
    const log = env.log;
    const timer = this._statsTimer;
    this._statsTimer = null;
    if (timer !== null) guard(log, "clearing the stats timer", () => env.clearInterval(timer));
    guard(log, "stopping the heartbeat", () => this._heartbeat.stop());
    guard(log, "stopping the watchdog", () => this._watchdog.stop());
    guard(log, "cancelling the ice-servers request", () => this._iceRequest?.cancel());
    this._release();
    if (notify && this._saysBye()) guard(log, "sending bye", () => this._send("bye", { reason: byeReason }));
    if (this._registered) guard(log, "unregistering", () => this.router.unregister(this.id));
    this._registered = false;
    this._notify();
  }
}
