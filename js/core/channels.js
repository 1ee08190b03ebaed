// The named data channels of one browser peer: label -> RTCDataChannel. The kernel opens
// channels in-band (DCEP, the pc's `datachannel` event); a page script opens one by
// sending on a label nobody opened yet. Messages sent before a channel is open wait in a
// per-label queue, so `send` never depends on timing. The reserved control channel
// (CONTROL_CHANNEL) never enters the map.
//
// Pure apart from the channel objects it is handed, so node tests drive it with fakes.
// Every listener is registered with one AbortSignal: close() removes them all at once.

import { listen } from "./listen.js";
import { CONTROL_CHANNEL } from "./protocol.js";

/** Messages that may wait for a channel to open; beyond this send() returns false. */
export const MAX_QUEUED = 256;
/** SCTP limits a label to 65535 bytes; a label is a name, so keep it far shorter. */
export const MAX_LABEL_CHARS = 256;

/**
 * What the peer reports to the view. `data` is set for message/out.
 * - add: a label entered the map (kernel opened it, or a page script sent on it)
 * - open: its channel opened (queued messages were sent)
 * - message: a message arrived (string, or ArrayBuffer: binaryType is "arraybuffer")
 * - out: a message was sent or queued
 * - close: the label left the map (its channel closed, or the peer closed)
 * @typedef {{type: "add" | "open" | "message" | "out" | "close", label: string, data?: Sendable}} ChannelEvent
 *
 * What RTCDataChannel.send takes (and what arrives: a string or, binaryType being
 * "arraybuffer", an ArrayBuffer).
 * @typedef {string | ArrayBuffer | ArrayBufferView | Blob} Sendable
 *
 * One label: its current channel (null until created or adopted) and what waits for it.
 * @typedef {{channel: RTCDataChannel | null, queue: Sendable[], byPage?: boolean}} ChannelRecord
 */

/**
 * Why `label` cannot name a user channel, or "" when it can.
 * @param {unknown} label
 * @returns {string}
 */
export function labelProblem(label) {
  if (typeof label !== "string" || label === "") return "a channel label must be a non-empty string";
  if (label.length > MAX_LABEL_CHARS) return `a channel label must be at most ${MAX_LABEL_CHARS} characters`;
  if (label === CONTROL_CHANNEL) return `the channel label "${CONTROL_CHANNEL}" is reserved`;
  return "";
}

/**
 * Whether `data` is something RTCDataChannel.send takes.
 * @param {unknown} data
 * @returns {data is Sendable}
 */
export function isSendable(data) {
  if (typeof data === "string") return true;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return true;
  const B = /** @type {any} */ (globalThis).Blob;
  return typeof B === "function" && data instanceof B;
}

/**
 * How a message is shown in the log: text as text, anything else as its size.
 * @param {unknown} data
 * @returns {string}
 */
export function describeData(data) {
  if (typeof data === "string") return data;
  /** @type {any} */
  const d = data;
  const n =
    d && typeof d.byteLength === "number"
      ? d.byteLength
      : d && typeof d.size === "number"
        ? d.size
        : 0;
  return `<${n} bytes>`;
}

export class Channels {
  /**
   * @param {{
   *   onEvent?: (event: ChannelEvent) => void,
   *   log?: Pick<Console, "debug" | "warn" | "error">,
   * }} [options]
   */
  constructor({ onEvent, log } = {}) {
    this.onEvent = onEvent ?? (() => {});
    this.log = log ?? console;
    /** @type {Map<string, ChannelRecord>} */
    this.records = new Map();
    /** @type {RTCPeerConnection | null} the peer connection, once there is one */
    this.pc = null;
    this.closed = false;
    /** @type {Set<RTCDataChannel>} every channel not yet closed, including replaced ones */
    this._all = new Set();
    this._abort = new AbortController();
  }

  /** @param {ChannelEvent} event */
  _emit(event) {
    try {
      this.onEvent(event);
    } catch (err) {
      this.log.error("[nbrtc] channel event handler failed", err);
    }
  }

  /**
   * The peer connection exists: open the channels that page scripts asked for before it
   * did. Called before createOffer, so they are part of the first negotiation.
   * @param {RTCPeerConnection} pc
   */
  attach(pc) {
    if (this.closed || this.pc) return;
    this.pc = pc;
    for (const [label, record] of this.records) {
      if (record.channel === null) this._create(label, record);
    }
  }

  /**
   * The stream has a new peer connection (reconnection): channels a page script opened
   * are opened again on it (what waits to be sent stays queued); the ones the kernel
   * opened come back through `adopt`, since the kernel opens them again.
   * @param {RTCPeerConnection} pc
   */
  moveTo(pc) {
    if (this.closed) return;
    this.pc = pc;
    for (const [label, record] of this.records) {
      if (record.byPage) this._create(label, record);
    }
  }

  /**
   * Open `label` on this.pc, which the callers (attach, moveTo, send) have set.
   * @param {string} label
   * @param {ChannelRecord} record
   * @returns {boolean} whether the channel could be created
   */
  _create(label, record) {
    record.byPage = true;
    let channel;
    try {
      channel = /** @type {RTCPeerConnection} */ (this.pc).createDataChannel(label);
    } catch (err) {
      // A closed pc throws InvalidStateError: the stream is ending anyway.
      this.log.warn(`[nbrtc] could not open data channel ${JSON.stringify(label)}`, err);
      return false;
    }
    this._listen(label, record, channel);
    return true;
  }

  /**
   * A channel the kernel opened (the pc's `datachannel` event).
   * @param {RTCDataChannel} channel
   */
  adopt(channel) {
    if (this.closed || !channel) return;
    const label = String(channel.label ?? "");
    if (labelProblem(label)) {
      // The control channel, or a label no page script could address: not ours to show.
      if (label !== CONTROL_CHANNEL) this.log.debug(`[nbrtc] ignoring data channel ${JSON.stringify(label)}`);
      return;
    }
    let record = this.records.get(label);
    const added = !record;
    if (!record) {
      record = { channel: null, queue: [] };
      this.records.set(label, record);
    }
    // A newer channel of the same label takes over sending; the older one still
    // reports what arrives on it until it closes (see _listen's close handler).
    this._listen(label, record, channel);
    if (added) this._emit({ type: "add", label });
    if (channel.readyState === "open") this._opened(label, record, channel);
  }

  /**
   * @param {string} label
   * @param {ChannelRecord} record
   * @param {RTCDataChannel} channel
   */
  _listen(label, record, channel) {
    record.channel = channel;
    this._all.add(channel);
    // ArrayBuffer (not Blob): its size is known at once, and page scripts get one type.
    try {
      channel.binaryType = "arraybuffer";
    } catch {
      // read-only in some fake or old implementation: Blob still works
    }
    const options = {
      signal: this._abort.signal,
      isClosed: () => this.closed,
      log: this.log,
      what: "data channel ",
    };
    /**
     * @param {string} type
     * @param {(ev: any) => void} fn
     */
    const on = (type, fn) => listen(channel, type, fn, options);
    on("open", () => this._opened(label, record, channel));
    on("message", (ev) => this._emit({ type: "message", label, data: ev.data }));
    on("error", (ev) => this.log.warn(`[nbrtc] data channel ${JSON.stringify(label)} error`, ev?.error ?? ev));
    on("close", () => {
      this._all.delete(channel);
      // Only the label's current channel decides; an older replaced one just goes.
      if (this.records.get(label) !== record || record.channel !== channel) return;
      this.records.delete(label);
      record.queue = [];
      this._emit({ type: "close", label });
    });
  }

  /**
   * @param {string} label
   * @param {ChannelRecord} record
   * @param {RTCDataChannel} channel
   */
  _opened(label, record, channel) {
    if (record.channel !== channel) return;
    for (const data of record.queue.splice(0)) this._sendNow(label, channel, data);
    this._emit({ type: "open", label });
  }

  /**
   * @param {string} label
   * @param {RTCDataChannel} channel
   * @param {Sendable} data
   * @returns {boolean}
   */
  _sendNow(label, channel, data) {
    try {
      // Each member of Sendable matches one of send()'s overloads; TS cannot pick one
      // for the union.
      channel.send(/** @type {any} */ (data));
      return true;
    } catch (err) {
      // OperationError when the send buffer is full, InvalidStateError when closing.
      this.log.warn(`[nbrtc] sending on data channel ${JSON.stringify(label)} failed`, err);
      return false;
    }
  }

  /**
   * Send on `label`, opening the channel if nobody did yet; waits (queued) until it is
   * open. Throws TypeError for a bad label or data (a bug in the caller).
   * @param {string} label
   * @param {Sendable} data
   * @returns {boolean} false when the stream is closed or the message could not be sent
   */
  send(label, data) {
    const problem = labelProblem(label);
    if (problem) throw new TypeError(problem);
    if (!isSendable(data)) {
      throw new TypeError("data must be a string, ArrayBuffer, typed array, DataView or Blob");
    }
    if (this.closed) return false;
    let record = this.records.get(label);
    if (!record) {
      record = { channel: null, queue: [] };
      this.records.set(label, record);
      if (this.pc && !this._create(label, record)) {
        this.records.delete(label);
        return false;
      }
      this._emit({ type: "add", label });
    }
    const channel = record.channel;
    if (channel && channel.readyState === "open") {
      if (!this._sendNow(label, channel, data)) return false;
    } else {
      if (record.queue.length >= MAX_QUEUED) {
        this.log.warn(`[nbrtc] data channel ${JSON.stringify(label)} is not open; ${MAX_QUEUED} messages already wait`);
        return false;
      }
      record.queue.push(data);
    }
    this._emit({ type: "out", label, data });
    return true;
  }

  /** @returns {string[]} the labels in the map (open, or waiting to open) */
  labels() {
    return [...this.records.keys()];
  }

  /**
   * Close every channel and forget them. Idempotent; each step is guarded so one
   * channel that throws cannot keep the others open. Reports `close` for each label.
   */
  close() {
    if (this.closed) return;
    this.closed = true;
    this._abort.abort();
    const records = [...this.records];
    this.records.clear();
    for (const [, record] of records) record.queue = [];
    for (const channel of this._all) {
      try {
        channel.close();
      } catch (err) {
        this.log.debug(`[nbrtc] closing data channel ${JSON.stringify(channel?.label)} failed`, err);
      }
    }
    this._all.clear();
    // Reported after this.closed is set, so a handler cannot reopen anything.
    for (const [label] of records) this._emit({ type: "close", label });
    this.pc = null;
  }
}
