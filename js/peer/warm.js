// A stream's peer connection prepared while its view is still on the way.
//
// Why: the kernel's `comm_open` reaches the page ~20 ms before the cell's display does,
// and JupyterLab then spends another 30-50 ms of its main thread creating the model and
// rendering the output before the view's BrowserPeer starts. Created at the model's
// initialize(), the pc's sections, control channel, createOffer and setLocalDescription
// (10-30 ms, measured in Chromium under JupyterLab: issue 14) overlap that work, and the
// first view sends its offer as it starts.
//
// What: at most one prepared pc per model, for the first view to take (take()); only
// when nothing about it can differ from what the view would make (same constructor,
// kind, sound, RTCConfiguration without logins to ask for; not a comm-only or server
// stream). No device is opened and nothing is sent to the kernel: the camera still opens
// only once the kernel holds the stream (peer.js _openDevice). A pc no view takes is
// closed when the model goes (widget.js initialize's cleanup) or after WARM_MS.
//
// Events before the take: the pc's `icecandidate` (its candidates and the end of
// gathering) and `icecandidateerror` events are kept, in order, and the taker handles them
// as if they came after its offer, which is the SDP as set (no candidates in it): the
// kernel sees what an unprepared pc sends.

import { guard } from "../core/cleanup.js";
import { audioConstraints } from "../core/constraints.js";
import { COMM_KINDS, CONTROL_CHANNEL, STREAM_KINDS } from "../core/protocol.js";
import { peerConfig } from "../core/rtc-config.js";
import { needsCredentials } from "../transport/ice.js";
import { watchesServer } from "./answerer.js";
import { addSections } from "./sections.js";

/** A prepared pc no view took within this long is closed (ms). */
export const WARM_MS = 10_000;
/** At most this many events are kept before the take (a pc gathers a few candidates). */
const MAX_EARLY_EVENTS = 64;

/**
 * @typedef {{
 *   pc: any,
 *   PC: any,
 *   key: string,
 *   videoTx: any,
 *   audioTx: any,
 *   control: any,
 *   ready: Promise<unknown>,
 *   sdp: string,
 *   early: any[],
 *   stop: AbortController,
 *   timer: any,
 *   clearTimer: (id: any) => void,
 *   log: Pick<Console, "debug">,
 * }} Warm
 * `ready`: resolves once createOffer and setLocalDescription are done, rejects with their
 * error. `sdp`: the offer as set. `early`: the pc's `icecandidate` and
 * `icecandidateerror` events before the take, in order.
 */

/**
 * The prepared pcs, by their model. The key is the object the model's `rtc_config`
 * trait holds: anywidget hands initialize() and render() different proxies of one model,
 * but both read the same attribute object, and a changed trait is a new object (whose
 * view then makes its own pc; the old one is closed by its timer).
 * @type {WeakMap<object, Warm>}
 */
const prepared = new WeakMap();

/**
 * @param {any} model
 * @returns {object | null}
 */
function keyOf(model) {
  const config = model.get("rtc_config");
  return config && typeof config === "object" ? config : null;
}

/**
 * What a stream of this kind, sound and configuration would offer, as one string.
 * @param {string} kind
 * @param {boolean} audio
 * @param {any} config the RTCConfiguration (peerConfig's)
 */
export function offerKey(kind, audio, config) {
  return JSON.stringify([kind, audio, config]);
}

/**
 * Prepare `model`'s pc (initialize(); never throws). Null when there is nothing to
 * prepare or the page cannot make a pc.
 * @param {any} model
 * @param {{RTCPeerConnection: any, setTimeout: (fn: () => void, ms: number) => any,
 *   clearTimeout: (id: any) => void, log: Pick<Console, "debug">}} env
 * @returns {Warm | null}
 */
export function prepare(model, env) {
  const key = keyOf(model);
  const kind = String(model.get("kind"));
  const rtcConfig = model.get("rtc_config");
  if (
    key === null ||
    prepared.has(key) ||
    !STREAM_KINDS.includes(kind) || // a room or a doctor offers no pc of its own
    watchesServer(kind, model.get("sfu")) ||
    (COMM_KINDS.includes(kind) && model.get("transport_mode") === "comm") ||
    needsCredentials(rtcConfig) ||
    typeof env.RTCPeerConnection !== "function"
  ) {
    return null;
  }
  const audio = (kind === "camera" || kind === "microphone") && audioConstraints(model.get("audio")) !== null;
  const config = peerConfig(rtcConfig);
  const PC = env.RTCPeerConnection;
  /** @type {any} */
  let pc = null;
  try {
    pc = new PC(config);
    const stop = new AbortController();
    const tx = addSections(pc, kind, { audio });
    /** @type {Warm} */
    const warm = {
      pc,
      PC,
      key: offerKey(kind, audio, config),
      videoTx: tx.videoTx,
      audioTx: tx.audioTx,
      control: pc.createDataChannel(CONTROL_CHANNEL),
      ready: Promise.resolve(),
      sdp: "",
      early: [],
      stop,
      timer: null,
      clearTimer: (id) => env.clearTimeout(id),
      log: env.log,
    };
    const keep = (/** @type {any} */ ev) => {
      if (warm.early.length < MAX_EARLY_EVENTS) warm.early.push(ev);
    };
    pc.addEventListener("icecandidate", keep, { signal: stop.signal });
    pc.addEventListener("icecandidateerror", keep, { signal: stop.signal });
    warm.ready = pc.createOffer().then((/** @type {any} */ offer) => {
      warm.sdp = String(offer.sdp ?? "");
      return pc.setLocalDescription(offer);
    });
    warm.ready.catch(() => {}); // the taker reads it; unclaimed, it only closes
    warm.timer = env.setTimeout(() => discard(model, warm), WARM_MS);
    prepared.set(key, warm);
    return warm;
  } catch (err) {
    env.log.debug("[nbrtc] could not prepare a peer connection", err);
    if (pc) guard(env.log, "closing an unprepared pc", () => pc.close());
    return null;
  }
}

/**
 * The model's prepared pc for a view that would make one with `PC` and `key`
 * (offerKey), now this view's: its early listeners stay until the taker calls
 * {@link adopt}. Null when there is none or it does not match (then it is closed).
 * @param {any} model
 * @param {any} PC
 * @param {string} key
 * @returns {Warm | null}
 */
export function take(model, PC, key) {
  const k = keyOf(model);
  const warm = k === null ? undefined : prepared.get(k);
  if (!warm || k === null) return null;
  prepared.delete(k);
  warm.clearTimer(warm.timer);
  if (warm.PC !== PC || warm.key !== key) {
    close(warm);
    return null;
  }
  return warm;
}

/**
 * The taker wires the pc itself from here: the early listeners go, and the events they
 * kept are returned, in order (call it synchronously with the wiring, so that no event
 * falls between).
 * @param {Warm} warm
 * @returns {any[]}
 */
export function adopt(warm) {
  warm.stop.abort();
  return warm.early.splice(0);
}

/**
 * Close the model's prepared pc if no view took it (the model's cleanup; idempotent).
 * With `only`, only that one (a timer of an older one must not close a newer).
 * @param {any} model
 * @param {Warm} [only]
 */
export function discard(model, only) {
  const k = keyOf(model);
  const warm = k === null ? undefined : prepared.get(k);
  if (!warm || k === null || (only && warm !== only)) {
    if (only && warm !== only) close(only); // its model's trait changed: unreachable
    return;
  }
  prepared.delete(k);
  warm.clearTimer(warm.timer);
  close(warm);
}

/** @param {Warm} warm */
function close(warm) {
  warm.stop.abort();
  guard(warm.log, "closing a prepared pc", () => warm.pc.close());
}
