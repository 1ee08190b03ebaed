// The answer to the kernel's offer, prepared as the offer reaches the page, before any
// view of its widget renders (docs/protocol.md "The kernel's offer").
//
// Why: anywidget hands the kernel's offer to the page as soon as the widget's model is
// ready, but the view renders later (traced: model ready ~47 ms after the cell starts,
// the view's pc ~72 ms, its answer made at ~106 ms). Setting the offer and making the
// answer is ~30 ms of the browser's work that needs nothing from the view, so it runs
// while the view is built; the view adopts the pc and sets the answer (which starts
// ICE gathering and sends it, peer.js). Nothing leaves the page and no device opens here.
//
// Ownership: until a view adopts it, the pc is this object's, and it closes it when the
// offer expires or is evicted (the router), when the widget closes (its `state` trait),
// after EARLY_TTL_MS, or when the page goes (the router's closeAll). close() is
// idempotent; after adopt() it no longer touches the pc (the view's peer owns it).

import { audioConstraints } from "../core/constraints.js";
import { peerConfig } from "../core/rtc-config.js";
import { needsCredentials } from "../transport/ice.js";
import { answerDirections } from "./sections.js";

/**
 * An answer no view adopted within this is closed (the offer itself stays for a view
 * that renders later, which then answers on a pc of its own). A view normally renders
 * ~0.1 s after its offer arrives; a page that shows no view of the widget (another
 * tab, a console on the same kernel) hears `offer-taken` when a page answers, and
 * this bounds the rest (the kernel's own offer lives 30 s).
 */
export const EARLY_TTL_MS = 5000;

/**
 * @typedef {{
 *   RTCPeerConnection?: any,
 *   setTimeout: (fn: () => void, ms: number) => any,
 *   clearTimeout: (id: any) => void,
 *   log: Pick<Console, "debug" | "warn">,
 * }} EarlyEnv
 *
 * What a view gets when it adopts: the pc (offer set, answer made, not set), the `track`
 * events it fired meanwhile (to replay), and the answer (null when making it failed).
 * @typedef {{pc: any, tracks: any[], answer: Promise<any | null>}} Adopted
 */

/**
 * Whether a view of `model` would answer the kernel's offer itself with a plain pc: a
 * camera over WebRTC whose ICE servers need no request to the kernel (a `credentials:
 * "ask"` config makes its pc only after the kernel's reply), and not closed.
 * @param {any} model
 * @returns {boolean}
 */
export function canAnswerEarly(model) {
  try {
    return (
      model.get("kind") === "camera" &&
      model.get("transport_mode") !== "comm" &&
      model.get("state") !== "closed" &&
      !needsCredentials(model.get("rtc_config"))
    );
  } catch {
    return false;
  }
}

export class EarlyAnswer {
  /**
   * Start answering `sdp` on a new pc (main thread; returns at once).
   * @param {{sdp: string, model: any, env: EarlyEnv, ttlMs?: number}} options
   */
  constructor({ sdp, model, env, ttlMs = EARLY_TTL_MS }) {
    this.model = model;
    this.env = env;
    /** Whether the answer says the camera sends sound (the `audio` trait at the start). */
    this.audio = audioConstraints(model.get("audio")) !== null;
    this.closed = false;
    this.adopted = false;
    /** @type {any[]} `track` events before adoption, replayed by the view */
    this.tracks = [];
    const PC = env.RTCPeerConnection;
    // Created with no await before it, so close() always sees it.
    this.pc = new PC(peerConfig(model.get("rtc_config")));
    this._onTrack = (/** @type {any} */ ev) => this.tracks.push(ev);
    this.pc.addEventListener("track", this._onTrack);
    this._onState = () => {
      if (model.get("state") === "closed") this.close("the widget closed");
    };
    model.on("change:state", this._onState);
    this._timer = env.setTimeout(() => this.close("no view adopted it"), ttlMs);
    /** @type {Promise<any | null>} */
    this.answer = this._make(sdp).catch((err) => {
      if (!this.closed) env.log.debug("[nbrtc] the early answer failed; the view answers itself", err);
      return null;
    });
  }

  /**
   * Set the offer, choose what the page sends (answerDirections), and make the answer.
   * @param {string} sdp
   */
  async _make(sdp) {
    const pc = this.pc;
    await pc.setRemoteDescription({ type: "offer", sdp });
    if (this.closed && !this.adopted) return null;
    answerDirections(pc, this.audio);
    return pc.createAnswer();
  }

  /**
   * Hand the pc to a view that wants sound as `audio` says; null when this answer cannot
   * serve it (closed, already adopted, or made for the other sound setting: the view
   * then answers on a pc of its own, and this one is closed).
   * @param {boolean} audio
   * @returns {Adopted | null}
   */
  adopt(audio) {
    if (this.closed || this.adopted) return null;
    if (audio !== this.audio) {
      this.close("the audio setting changed");
      return null;
    }
    this.adopted = true;
    this._release();
    return { pc: this.pc, tracks: this.tracks.splice(0), answer: this.answer };
  }

  /**
   * Close the pc unless a view adopted it. Idempotent; any time.
   * @param {string} [why]
   */
  close(why = "closed") {
    if (this.closed) return;
    this.closed = true;
    if (this.adopted) return;
    this._release();
    this.tracks = [];
    this.env.log.debug(`[nbrtc] early answer closed: ${why}`);
    try {
      this.pc.close();
    } catch (err) {
      this.env.log.debug("[nbrtc] closing an early answer's pc", err);
    }
  }

  /** Stop listening and the timer: the object no longer acts on its own. */
  _release() {
    this.env.clearTimeout(this._timer);
    this.pc.removeEventListener("track", this._onTrack);
    try {
      this.model.off("change:state", this._onState);
    } catch {
      // a model already gone holds no listener
    }
  }
}

/**
 * The page's preparer for the router: an EarlyAnswer for `model`'s offer `sdp`, or null
 * when its view would not answer with a plain pc (canAnswerEarly) or the page has no
 * RTCPeerConnection.
 * @param {EarlyEnv} env
 * @returns {(sdp: string, model: any) => EarlyAnswer | null}
 */
export function earlyAnswerer(env) {
  return (sdp, model) => {
    if (typeof env.RTCPeerConnection !== "function" || !model || !canAnswerEarly(model)) return null;
    return new EarlyAnswer({ sdp, model, env });
  };
}
