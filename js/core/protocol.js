// Signaling protocol v1 (docs/protocol.md): envelope construction and validation of
// kernel -> browser messages. Pure: no DOM, no I/O, so node's test runner can load it.
// The kernel mirrors these rules in src/nbrtc/_signaling/protocol.py; the order of the checks
// below follows that file so both sides name the same error code for the same input.

import { checkIceServersPayload } from "../transport/ice.js";

export const PROTOCOL_VERSION = 1;
export const MAX_MESSAGE_BYTES = 262144;
/** Same bound as the kernel's MAX_SDP_CHARS: a real SDP is a few KiB. */
export const MAX_SDP_CHARS = 131072;
export const STREAM_ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Types the browser may send to the kernel. */
export const BROWSER_TYPES = Object.freeze([
  "offer",
  "candidate",
  "state",
  "error",
  "devices",
  "device", // the user picked a camera or microphone in the view's picker (picker.js)
  "ping",
  "bye",
  "stats", // the peer's getStats, filtered (docs/protocol.md "Inspection")
  "reoffer", // a renegotiation offer for a live stream
  "join", // a room member joins its room (docs/protocol.md "Rooms")
  "signal", // room: offer/answer/candidate/bye for another member, relayed by the kernel
  "ice-servers", // asks for the full ICE servers (TURN logins) before a pc exists (ice.js)
  "ice-error", // a STUN/TURN server failed the pc (its icecandidateerror event)
  "doctor", // nbrtc.doctor(): binds a probe stream to a path, reports its row (doctor.js)
  "transport", // moves a stream to the comm or back to WebRTC (comm.js)
  "frame", // one video frame over the comm: JPEG in the binary buffer
  "frame-ack", // a kernel frame was drawn: the kernel may send another
  "audio", // PCM sound over the comm: s16 interleaved in the binary buffer (comm-audio.js)
  "audio-ack", // the page played kernel audio up to seq (the kernel only counts it)
  "watch", // a view asks for a stream whose far end is a media server (Janus): no offer
  "answer", // the page's answer to the media server's offer the kernel relayed
]);
/** Types the kernel may send to the browser. */
export const KERNEL_TYPES = Object.freeze([
  "answer",
  "offer", // a media server's offer, relayed for a `watch` stream: the page answers
  "offer-taken", // a page answered the kernel's offer: the others forget it (and its early answer)
  "state",
  "ping",
  "bye",
  "error",
  "renegotiate", // asks the browser for a reoffer (codec, bitrate, ICE restart)
  "members", // room membership, complete, after every change
  "signal", // room: another member's offer/answer/candidate/bye
  "ice-servers", // the reply: {iceServers: [...]}, logins included (ice.js)
  "transport", // confirms a transport change: {use: "comm" | "webrtc"}
  "frame", // one video frame over the comm: JPEG in the binary buffer
  "frame-ack", // a page frame was decoded: the page may send another
  "audio", // PCM sound over the comm: s16 interleaved in the binary buffer (comm-audio.js)
  "audio-ack", // the kernel has the page's audio up to seq: the page may send more
]);
/** Kinds that can stream over the comm (video as JPEG, sound as PCM). */
export const COMM_KINDS = Object.freeze(["camera", "screen", "view", "microphone", "audio"]);
/** Bounds of a comm `audio` chunk's claims (the kernel's _comm_audio.py). */
export const MIN_AUDIO_RATE = 8000;
export const MAX_AUDIO_RATE = 96000;
export const MAX_AUDIO_CHANNELS = 2;
/** The largest frame side the kernel accepts in a comm frame. */
export const MAX_FRAME_SIDE = 4096;
/** Types of a room signal's data. */
export const SIGNAL_TYPES = Object.freeze(["offer", "answer", "candidate", "bye"]);
/** Bounds of a `stats` message (the kernel refuses more). */
/** Stream ids one ping may vouch for (docs/protocol.md "Liveness"). */
export const MAX_LIVE = 64;
export const MAX_STATS_REPORTS = 300;
export const MAX_STATS_FIELDS = 64;
/**
 * What the router may hold back briefly and send together in one `batch` (docs/protocol.md
 * "Batches"): the small, bursty reports of a stream's start. Never an offer, a bye, stats
 * or anything with a buffer. Same set as the kernel's BATCHABLE.
 */
export const BATCHABLE = Object.freeze(["candidate", "state", "ice-error"]);
/** Messages in one `batch` at most (the kernel's MAX_BATCH). */
export const MAX_BATCH = 32;
/** Values of a kernel `state` message's `state` field. */
export const KERNEL_STATES = Object.freeze(["connecting", "live", "closed", "error"]);
/**
 * Widget kinds, also the offer's `kind`: what the browser sends (camera, screen,
 * microphone) or receives (view: video and sound, audio: sound only).
 */
export const STREAM_KINDS = Object.freeze(["camera", "view", "screen", "microphone", "audio"]);
/**
 * The kind of an nbrtc.doctor() widget and of its probe streams' offers (a data channel
 * only). Not a BrowserPeer kind: doctor.js makes its own probes.
 */
export const PROBE_KIND = "probe";
/** Kinds whose browser side opens a local device (after the answer). */
export const SENDING_KINDS = Object.freeze(["camera", "screen", "microphone"]);
/**
 * The data channel every offer opens (so the SDP has an m=application section and named
 * channels need no renegotiation later). Reserved: never shown, never a user channel.
 */
export const CONTROL_CHANNEL = "nbrtc";

/**
 * @typedef {{v: number, type: string, stream: string, payload: any}} Envelope
 * @typedef {{ok: true, msg: Envelope}} Valid
 * @typedef {{ok: false, code: string, message: string}} Invalid
 */

/**
 * Build an envelope. Throws TypeError for a malformed type or stream id because
 * that is a bug in the caller, never a runtime condition (the router catches it).
 * @param {string} type
 * @param {string} stream
 * @param {any} payload
 * @returns {Envelope}
 */
export function makeMessage(type, stream, payload) {
  if (!BROWSER_TYPES.includes(type)) {
    throw new TypeError(`not a browser message type: ${String(type)}`);
  }
  if (!isStreamId(stream)) {
    throw new TypeError(`not a stream id: ${String(stream)}`);
  }
  return { v: PROTOCOL_VERSION, type, stream, payload: payload === undefined ? null : payload };
}

/**
 * The envelope of a `batch`: `items` (`{type, payload}`, each of a BATCHABLE type, 1 to
 * MAX_BATCH of them) for one stream, which the kernel takes apart and handles one by one.
 * @param {string} stream
 * @param {{type: string, payload: any}[]} items
 * @returns {{v: number, type: "batch", stream: string, payload: {type: string, payload: any}[]}}
 */
export function makeBatch(stream, items) {
  if (!isStreamId(stream)) throw new TypeError(`not a stream id: ${String(stream)}`);
  if (items.length < 1 || items.length > MAX_BATCH) throw new RangeError(`a batch holds 1 to ${MAX_BATCH} messages`);
  for (const { type } of items) {
    if (!BATCHABLE.includes(type)) throw new TypeError(`${String(type)} cannot go in a batch`);
  }
  return {
    v: PROTOCOL_VERSION,
    type: "batch",
    stream,
    payload: items.map(({ type, payload }) => ({ type, payload: payload === undefined ? null : payload })),
  };
}

/** A lone surrogate: a high one not followed by a low one, or a low one not after a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * `value` as text of at most `max` UTF-16 units for a message to the kernel, cut on a
 * character boundary. The kernel refuses a message with a lone surrogate anywhere
 * (docs/protocol.md "Envelope": UTF-8 cannot carry one), and a plain `slice` can cut an
 * emoji in half; a lone surrogate already in `value` becomes U+FFFD.
 * @param {unknown} value
 * @param {number} max
 * @returns {string}
 */
export function clipText(value, max) {
  let text = String(value ?? "");
  if (text.length > max) {
    text = text.slice(0, max);
    const last = text.charCodeAt(text.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) text = text.slice(0, -1);
  }
  return text.replace(LONE_SURROGATE, "\uFFFD");
}

/**
 * @param {unknown} value
 * @returns {value is string}
 */
export function isStreamId(value) {
  return typeof value === "string" && STREAM_ID_RE.test(value);
}

/**
 * Size of the message as the wire sees it: UTF-8 bytes of its compact JSON.
 * Anything JSON cannot encode (cycles, BigInt) counts as too large, as in the kernel.
 * @param {unknown} value
 * @returns {number}
 */
export function encodedSize(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    return MAX_MESSAGE_BYTES + 1;
  }
  if (typeof text !== "string") return 0;
  // TextEncoder exists in browsers and node; counting bytes, not UTF-16 units.
  return new TextEncoder().encode(text).length;
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, any>}
 */
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * @param {unknown} value
 * @param {number} maxLen
 * @returns {boolean}
 */
function isShortString(value, maxLen) {
  return typeof value === "string" && value.length <= maxLen;
}

/**
 * Why `payload` is wrong for a kernel message of `type`, or null when it is fine.
 * Extra payload keys are ignored, like extra envelope keys.
 * @param {string} type
 * @param {any} payload
 * @returns {string | null}
 */
function checkKernelPayload(type, payload) {
  switch (type) {
    case "answer":
    case "offer": {
      if (!isObject(payload)) return `${type} payload must be an object`;
      const sdp = payload.sdp;
      if (typeof sdp !== "string" || !sdp.startsWith("v=0")) {
        return `${type}.sdp must be an SDP string starting with 'v=0'`;
      }
      if (sdp.length > MAX_SDP_CHARS) return `${type}.sdp is longer than ${MAX_SDP_CHARS} characters`;
      return null;
    }
    case "state": {
      if (!isObject(payload)) return "state payload must be an object";
      if (!KERNEL_STATES.includes(payload.state)) {
        return `state.state must be one of ${KERNEL_STATES.join(", ")}`;
      }
      // `detail` is documented as a string; an absent one is read as "".
      if ("detail" in payload && !isShortString(payload.detail, 4096)) {
        return "state.detail must be a string";
      }
      return null;
    }
    case "ping": {
      // The kernel only needs the message to arrive (it feeds the watchdog); `t` is
      // informative, so null is accepted, but a present `t` must be a number.
      if (payload === null) return null;
      if (!isObject(payload)) return "ping payload must be an object or null";
      if ("t" in payload && (typeof payload.t !== "number" || !Number.isFinite(payload.t))) {
        return "ping.t must be a finite number";
      }
      if (
        "live" in payload &&
        !(Array.isArray(payload.live) && payload.live.length <= MAX_LIVE && payload.live.every((id) => isShortString(id, 64)))
      ) {
        return `ping.live must be a list of at most ${MAX_LIVE} stream ids`;
      }
      if ("ask" in payload && typeof payload.ask !== "boolean") return "ping.ask must be a boolean";
      return null;
    }
    case "offer-taken":
      return payload === null ? null : "offer-taken payload must be null";
    case "bye": {
      if (payload === null) return null;
      if (!isObject(payload)) return "bye payload must be null or {reason: string}";
      if ("reason" in payload && !isShortString(payload.reason, 256)) {
        return "bye.reason must be a string";
      }
      return null;
    }
    case "error": {
      if (!isObject(payload)) return "error payload must be an object";
      if (!isShortString(payload.code, 64)) return "error.code must be a string";
      if (!isShortString(payload.message, 4096)) return "error.message must be a string";
      if ("ref" in payload && payload.ref !== null) {
        if (!isObject(payload.ref)) return "error.ref must be an object";
        const refType = payload.ref.type;
        if (refType !== undefined && refType !== null && !isShortString(refType, 64)) {
          return "error.ref.type must be a string or null";
        }
      }
      return null;
    }
    case "renegotiate": {
      if (!isObject(payload)) return "renegotiate payload must be an object";
      if ("ice_restart" in payload && typeof payload.ice_restart !== "boolean") {
        return "renegotiate.ice_restart must be a boolean";
      }
      if ("reason" in payload && !isShortString(payload.reason, 256)) {
        return "renegotiate.reason must be a string";
      }
      if ("fresh" in payload && typeof payload.fresh !== "boolean") {
        return "renegotiate.fresh must be a boolean";
      }
      return null;
    }
    case "members": {
      if (!isObject(payload)) return "members payload must be an object";
      if (!isStreamId(payload.you)) return "members.you must be a stream id";
      if ("room" in payload && !isShortString(payload.room, 128)) return "members.room must be a string";
      if (!Array.isArray(payload.members) || payload.members.length > 256) {
        return "members.members must be a list";
      }
      for (const m of payload.members) {
        if (!isObject(m) || !isStreamId(m.id) || typeof m.seq !== "number" || !Number.isFinite(m.seq)) {
          return "each member needs a stream id and a numeric seq";
        }
      }
      return null;
    }
    case "signal": {
      if (!isObject(payload)) return "signal payload must be an object";
      if (!isStreamId(payload.from)) return "signal.from must be a stream id";
      const data = payload.data;
      if (!isObject(data) || !SIGNAL_TYPES.includes(data.type)) {
        return `signal.data.type must be one of ${SIGNAL_TYPES.join(", ")}`;
      }
      if ((data.type === "offer" || data.type === "answer") &&
        (typeof data.sdp !== "string" || !data.sdp.startsWith("v=0") || data.sdp.length > MAX_SDP_CHARS)) {
        return "signal.data.sdp must be an SDP string";
      }
      if (data.type === "candidate" && data.candidate !== null && data.candidate !== undefined) {
        if (!isObject(data.candidate) || !isShortString(data.candidate.candidate, 1024)) {
          return "signal.data.candidate must be null or {candidate: string, ...}";
        }
      }
      return null;
    }
    case "ice-servers":
      return checkIceServersPayload(payload);
    case "transport":
      if (!isObject(payload) || (payload.use !== "comm" && payload.use !== "webrtc")) {
        return "transport payload must be {use: 'comm' | 'webrtc'}";
      }
      return null;
    case "frame": {
      if (!isObject(payload)) return "frame payload must be an object";
      if (!isCount(payload.seq)) return "frame.seq must be a non-negative integer";
      for (const key of ["w", "h"]) {
        const v = payload[key];
        if (!Number.isInteger(v) || v < 1 || v > MAX_FRAME_SIDE) {
          return `frame.${key} must be an integer from 1 to ${MAX_FRAME_SIDE}`;
        }
      }
      if (payload.type !== "jpeg") return "frame.type must be 'jpeg'";
      return null;
    }
    case "frame-ack":
      if (!isObject(payload) || !isCount(payload.seq)) return "frame-ack payload must be {seq: integer}";
      return null;
    case "audio": {
      if (!isObject(payload)) return "audio payload must be an object";
      if (!isCount(payload.seq)) return "audio.seq must be a non-negative integer";
      const { rate, ch } = payload;
      if (!Number.isInteger(rate) || rate < MIN_AUDIO_RATE || rate > MAX_AUDIO_RATE) {
        return `audio.rate must be an integer from ${MIN_AUDIO_RATE} to ${MAX_AUDIO_RATE}`;
      }
      if (!Number.isInteger(ch) || ch < 1 || ch > MAX_AUDIO_CHANNELS) return "audio.ch must be 1 or 2";
      if (!isCount(payload.pos)) return "audio.pos must be a non-negative integer";
      return null;
    }
    case "audio-ack":
      if (!isObject(payload) || !isCount(payload.seq)) return "audio-ack payload must be {seq: integer}";
      return null;
    default:
      return `unknown type ${type}`;
  }
}

/**
 * @param {unknown} value
 * @returns {boolean} a non-negative safe integer
 */
function isCount(value) {
  return Number.isSafeInteger(value) && /** @type {number} */ (value) >= 0;
}

/**
 * Validate a kernel -> browser message. Never throws.
 * @param {unknown} msg
 * @returns {Valid | Invalid}
 */
export function validateKernelMessage(msg) {
  try {
    return validate(msg);
  } catch (err) {
    // Getters, proxies: whatever it is, it is not a message we can trust.
    return { ok: false, code: "bad-message", message: `unreadable message: ${String(err)}` };
  }
}

/**
 * @param {unknown} msg
 * @returns {Valid | Invalid}
 */
function validate(msg) {
  if (!isObject(msg)) {
    return { ok: false, code: "bad-message", message: "message must be a JSON object" };
  }
  if (encodedSize(msg) > MAX_MESSAGE_BYTES) {
    return {
      ok: false,
      code: "too-large",
      message: `message is larger than ${MAX_MESSAGE_BYTES} bytes`,
    };
  }
  if (msg.v !== PROTOCOL_VERSION) {
    return {
      ok: false,
      code: "version",
      message:
        `protocol version ${JSON.stringify(msg.v) ?? "undefined"} is not supported; ` +
        `this page speaks v${PROTOCOL_VERSION}. Reload the page after upgrading nbrtc.`,
    };
  }
  if (!isStreamId(msg.stream)) {
    return { ok: false, code: "bad-message", message: "stream must be an id string" };
  }
  if (typeof msg.type !== "string" || !KERNEL_TYPES.includes(msg.type)) {
    return {
      ok: false,
      code: "bad-type",
      message: `unknown kernel message type ${JSON.stringify(msg.type) ?? "undefined"}`,
    };
  }
  const why = checkKernelPayload(msg.type, msg.payload);
  if (why !== null) return { ok: false, code: "bad-message", message: why };
  return {
    ok: true,
    msg: { v: PROTOCOL_VERSION, type: msg.type, stream: msg.stream, payload: msg.payload },
  };
}
