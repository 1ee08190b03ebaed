// One browser-side RTCPeerConnection for one view of one widget: a "stream" of
// docs/protocol.md. It owns the camera tracks and the peer connection, and it is the
// only thing that creates them, so closing it is enough to leave nothing behind.
//
// Every `await` in start() is followed by a closed check: getUserMedia or createOffer
// may resolve after the view was removed, and whatever they produced must then be
// stopped at once instead of being used ("close during negotiation" in the contract).
// Browser globals are looked up lazily (see defaultEnv) so node can import this file.

import { describeError, iceFailed, kernelGone } from "./errors.js";
import { INITIAL, reduce } from "./state.js";

export const PING_INTERVAL_MS = 1000;
export const KERNEL_SILENCE_MS = 1500;

/**
 * @typedef {import("./state.js").PeerState} PeerState
 * @typedef {import("./state.js").PeerEvent} PeerEvent
 * @typedef {import("./router.js").Router} Router
 * @typedef {import("./router.js").ModelLike} ModelLike
 * @typedef {import("./protocol.js").Envelope} Envelope
 *
 * Everything the peer takes from the browser; tests pass fakes.
 * @typedef {{
 *   mediaDevices: any,
 *   RTCPeerConnection: any,
 *   MediaStream: any,
 *   now: () => number,
 *   setInterval: (fn: () => void, ms: number) => any,
 *   clearInterval: (id: any) => void,
 *   setTimeout: (fn: () => void, ms: number) => any,
 *   clearTimeout: (id: any) => void,
 *   log: Pick<Console, "debug" | "info" | "warn" | "error">,
 * }} PeerEnv
 *
 * What the view draws.
 * @typedef {{
 *   id: string,
 *   kind: string,
 *   state: PeerState,
 *   words: string,
 *   media: any,
 *   kernelState: string,
 * }} PeerSnapshot
 */

/** @returns {PeerEnv} */
export function defaultEnv() {
  const g = /** @type {any} */ (globalThis);
  return {
    mediaDevices: g.navigator?.mediaDevices,
    RTCPeerConnection: g.RTCPeerConnection,
    MediaStream: g.MediaStream,
    // "ms since page load", as the protocol's ping asks.
    now: () => (g.performance ? g.performance.now() : Date.now()),
    setInterval: (fn, ms) => g.setInterval(fn, ms),
    clearInterval: (id) => g.clearInterval(id),
    setTimeout: (fn, ms) => g.setTimeout(fn, ms),
    clearTimeout: (id) => g.clearTimeout(id),
    log: console,
  };
}

/**
 * Map the widget's `constraints` trait (Python names, nulls for "don't care") to
 * getUserMedia video constraints. Width, height and frame rate are wishes (`ideal`);
 * a device id is a demand (`exact`), so a wrong one fails loudly with
 * OverconstrainedError instead of silently opening another camera.
 * @param {any} constraints
 * @returns {MediaTrackConstraints | true}
 */
export function videoConstraints(constraints) {
  /** @type {Record<string, any>} */
  const out = {};
  const c = constraints && typeof constraints === "object" ? constraints : {};
  const num = (/** @type {unknown} */ v) => typeof v === "number" && Number.isFinite(v) && v > 0;
  if (num(c.width)) out.width = { ideal: c.width };
  if (num(c.height)) out.height = { ideal: c.height };
  if (num(c.frame_rate)) out.frameRate = { ideal: c.frame_rate };
  if (typeof c.device_id === "string" && c.device_id !== "") out.deviceId = { exact: c.device_id };
  return Object.keys(out).length ? out : true;
}

/**
 * @param {any} stream
 */
function stopTracks(stream) {
  if (!stream || typeof stream.getTracks !== "function") return;
  for (const track of stream.getTracks()) {
    try {
      track.stop();
    } catch {
      // A track that cannot stop is already ended.
    }
  }
}

export class BrowserPeer {
  /**
   * @param {{
   *   model: ModelLike,
   *   kind: "camera" | "view",
   *   router: Router,
   *   viewId?: string,
   *   onChange?: (snapshot: PeerSnapshot) => void,
   *   env?: Partial<PeerEnv>,
   * }} options
   */
  constructor({ model, kind, router, viewId, onChange, env }) {
    if (kind !== "camera" && kind !== "view") throw new TypeError(`unknown kind: ${String(kind)}`);
    this.model = model;
    this.kind = kind;
    this.router = router;
    this.env = { ...defaultEnv(), ...env };
    this.id = router.nextStreamId();
    this.viewId = viewId ?? router.nextViewId();
    this.onChange = onChange ?? (() => {});
    /** @type {PeerState} */
    this.state = INITIAL;
    /** What the view shows for closed/error states ("" otherwise). */
    this.words = "";
    /** The kernel's own view of the stream, from its `state` messages. */
    this.kernelState = "";
    this.closed = false;
    /** @type {any} */
    this.pc = null;
    /** @type {any} */
    this.localStream = null;
    /** @type {any} the sendonly transceiver the camera track goes out on */
    this._cameraTx = null;
    /** @type {any} */
    this.remoteStream = null;
    /** @type {Promise<void> | null} */
    this._started = null;
    this._registered = false;
    /** The kernel knows this stream once we sent it anything (offer, or error). */
    this._kernelKnows = false;
    this._offerSent = false;
    this._answerSeen = false;
    /** Messages that must wait for the offer, or the kernel answers `unknown-stream`. */
    /** @type {[string, any][]} */
    this._outbox = [];
    /** @type {string} */
    this._lastStateKey = "";
    this._abort = new AbortController();
    /** @type {any} */
    this._pingTimer = null;
    /** @type {any} */
    this._watchdog = null;
  }

  /** @returns {PeerSnapshot} */
  snapshot() {
    return {
      id: this.id,
      kind: this.kind,
      state: this.state,
      words: this.words,
      media: this.kind === "camera" ? this.localStream : this.remoteStream,
      kernelState: this.kernelState,
    };
  }

  /**
   * The one place the state changes; each real change is logged once as `old -> new`.
   * @param {PeerEvent} event
   * @returns {boolean} whether the state changed
   */
  setState(event) {
    const before = this.state;
    const after = reduce(before, event);
    if (after === before) return false;
    this.state = after;
    this.env.log.info(`[nbrtc] ${this.id} ${before.name} -> ${after.name}`);
    this._notify();
    return true;
  }

  _notify() {
    try {
      this.onChange(this.snapshot());
    } catch (err) {
      this.env.log.error("[nbrtc] view update failed", err);
    }
  }

  /**
   * @param {string} type
   * @param {any} payload
   */
  _send(type, payload) {
    if (!this._registered) return false;
    const sent = this.router.send(this.id, type, payload);
    if (sent) this._kernelKnows = true;
    return sent;
  }

  /**
   * @param {string} type
   * @param {any} payload
   */
  _sendAfterOffer(type, payload) {
    if (this.closed) return;
    if (this._offerSent) this._send(type, payload);
    else this._outbox.push([type, payload]);
  }

  /** Report the pc's three states, once per distinct combination. */
  _sendPcState() {
    const pc = this.pc;
    if (!pc || this.closed) return;
    const payload = {
      connection: String(pc.connectionState ?? ""),
      ice: String(pc.iceConnectionState ?? ""),
      signaling: String(pc.signalingState ?? ""),
    };
    const key = `${payload.connection}/${payload.ice}/${payload.signaling}`;
    if (!this._offerSent || key === this._lastStateKey) return;
    this._lastStateKey = key;
    this._send("state", payload);
  }

  /**
   * Start the stream. Idempotent: a second call returns the first call's promise, so
   * there is never more than one peer connection per BrowserPeer. Never rejects.
   * @returns {Promise<void>}
   */
  start() {
    if (!this._started) {
      this._started = this._run().catch((err) => {
        if (!this.closed) this.fail(describeError(err));
      });
    }
    return this._started;
  }

  async _run() {
    if (this.closed) return;
    this.router.register(this.id, this, this.model);
    this._registered = true;
    const env = this.env;

    const PC = env.RTCPeerConnection;
    if (typeof PC !== "function") {
      throw Object.assign(new Error("this browser has no RTCPeerConnection"), {
        name: "NotSupportedError",
      });
    }
    const rtcConfig = this.model.get("rtc_config");
    // Created and stored with no await in between, so close() always sees it.
    const pc = new PC(rtcConfig && typeof rtcConfig === "object" ? rtcConfig : {});
    this.pc = pc;
    this._wire(pc);

    if (this.kind === "camera") {
      // The camera is opened only once the kernel has accepted the stream (after the
      // answer, see _acquireCamera): a widget closed in the very cell that displayed it
      // never turns the camera on, and getUserMedia overlaps ICE and DTLS instead of
      // delaying the offer. replaceTrack needs no renegotiation.
      this._cameraTx = pc.addTransceiver("video", { direction: "sendonly" });
    } else {
      pc.addTransceiver("video", { direction: "recvonly" });
    }

    const offer = await pc.createOffer();
    if (this.closed) return;
    await pc.setLocalDescription(offer);
    if (this.closed) return;

    // Sent at once: candidates trickle after it, so ICE gathering is not waited for.
    const sdp = pc.localDescription?.sdp ?? offer.sdp;
    this._send("offer", { sdp, kind: this.kind, page: this.router.pageId, view: this.viewId });
    this._offerSent = true;
    this.setState({ type: "offer-sent" });
    for (const [type, payload] of this._outbox.splice(0)) this._send(type, payload);
    this._sendPcState();
    this._pingTimer = env.setInterval(() => {
      if (!this.closed) this._send("ping", { t: env.now() });
    }, PING_INTERVAL_MS);
  }

  /**
   * Listeners go through the AbortController so close() removes them all at once.
   * @param {any} pc
   */
  _wire(pc) {
    const signal = this._abort.signal;
    /**
     * @param {string} type
     * @param {(ev: any) => void} fn
     */
    const on = (type, fn) =>
      pc.addEventListener(
        type,
        (/** @type {any} */ ev) => {
          if (this.closed) return;
          try {
            fn(ev);
          } catch (err) {
            this.env.log.error(`[nbrtc] ${type} handler failed`, err);
          }
        },
        { signal },
      );

    on("icecandidate", (ev) => {
      const c = ev.candidate;
      if (!c) {
        this._sendAfterOffer("candidate", null);
        return;
      }
      // An empty candidate string is a per-generation end marker; the null event
      // that follows says the same thing in the protocol's terms.
      if (!c.candidate) return;
      this._sendAfterOffer("candidate", {
        candidate: c.candidate,
        sdpMid: c.sdpMid ?? null,
        sdpMLineIndex: c.sdpMLineIndex ?? null,
      });
    });
    on("connectionstatechange", () => {
      this._sendPcState();
      if (pc.connectionState === "connected") this.setState({ type: "connected" });
      else if (pc.connectionState === "failed") this.fail(iceFailed());
    });
    on("iceconnectionstatechange", () => this._sendPcState());
    on("signalingstatechange", () => this._sendPcState());
    on("track", (ev) => {
      if (this.kind !== "view") return;
      const MS = this.env.MediaStream;
      this.remoteStream = ev.streams?.[0] ?? (typeof MS === "function" ? new MS([ev.track]) : null);
      this._notify();
    });
  }

  /** @param {any} md */
  _reportDevices(md) {
    if (typeof md.enumerateDevices !== "function") return;
    Promise.resolve()
      .then(() => md.enumerateDevices())
      .then((/** @type {any[]} */ list) => {
        if (this.closed || !Array.isArray(list)) return;
        const devices = list.slice(0, 256).map((d) => ({
          deviceId: String(d.deviceId ?? ""),
          kind: String(d.kind ?? ""),
          label: String(d.label ?? ""),
          groupId: String(d.groupId ?? ""),
        }));
        this._sendAfterOffer("devices", devices);
      })
      .catch((/** @type {unknown} */ err) => this.env.log.debug("[nbrtc] enumerateDevices failed", err));
  }

  /**
   * Handle a validated kernel message for this stream (called by the router).
   * @param {Envelope} msg
   */
  handleKernelMessage(msg) {
    if (this.closed) return;
    // Anything from the kernel proves it is alive.
    if (this._watchdog !== null) this._armWatchdog();
    const payload = msg.payload;
    switch (msg.type) {
      case "answer":
        this._applyAnswer(payload.sdp).catch((err) =>
          this.env.log.error("[nbrtc] applying the answer failed", err),
        );
        return;
      case "state":
        this.kernelState = payload.state;
        if (payload.state === "closed") {
          this.close("closed", { notify: false });
        } else if (payload.state === "error") {
          const detail = typeof payload.detail === "string" && payload.detail ? payload.detail : "";
          this.fail(
            { name: "KernelError", message: detail, words: detail || "The kernel reported an error." },
            { tellKernel: false },
          );
        } else {
          this._notify();
        }
        return;
      case "bye":
        this.close(payload && typeof payload.reason === "string" ? payload.reason : "closed", {
          notify: false,
        });
        return;
      case "error":
        this.env.log.warn(`[nbrtc] kernel refused a message of ${this.id}: ${payload.code}: ${payload.message}`);
        // An error never closes a healthy stream, but a refused offer means there is
        // no stream: nothing will ever answer it, so say why and release the camera.
        // The kernel holds nothing for it, so there is nobody to send error/bye to.
        if (payload.ref?.type === "offer" && this.state.name === "negotiating") {
          this.fail(
            {
              name: "OfferRefused",
              message: `${payload.code}: ${payload.message}`,
              words: `The kernel refused this stream (${payload.code}): ${payload.message}`,
            },
            { tellKernel: false },
          );
        }
        return;
      default:
        return; // ping: only feeds the watchdog
    }
  }

  /** @param {string} sdp */
  async _applyAnswer(sdp) {
    if (this.state.name !== "negotiating" || this._answerSeen || !this.pc) {
      this.env.log.debug(`[nbrtc] ${this.id}: ignoring an answer in state ${this.state.name}`);
      return;
    }
    this._answerSeen = true;
    this._armWatchdog();
    const pc = this.pc;
    try {
      await pc.setRemoteDescription({ type: "answer", sdp });
    } catch (err) {
      if (!this.closed) this.fail(describeError(err));
      return;
    }
    if (this.closed) return;
    this.setState({ type: "answer-applied" });
    // ICE may already have connected while setRemoteDescription was settling.
    if (pc.connectionState === "connected") this.setState({ type: "connected" });
    if (this.kind === "camera") {
      try {
        await this._acquireCamera();
      } catch (err) {
        if (!this.closed) this.fail(describeError(err));
      }
    }
  }

  /** getUserMedia, then send the track on the transceiver the offer already made. */
  async _acquireCamera() {
    const env = this.env;
    const md = env.mediaDevices;
    if (!md || typeof md.getUserMedia !== "function") {
      // navigator.mediaDevices is undefined outside secure contexts.
      throw Object.assign(new Error("navigator.mediaDevices.getUserMedia is not available"), {
        name: "SecurityError",
      });
    }
    const stream = await md.getUserMedia({
      audio: false,
      video: videoConstraints(this.model.get("constraints")),
    });
    if (this.closed) {
      stopTracks(stream);
      return;
    }
    this.localStream = stream;
    const [track] = stream.getVideoTracks();
    if (track) {
      // "detail" keeps the resolution when bandwidth is short at the start of a call
      // (Chromium would otherwise scale 640x480 down while the estimate ramps up).
      if ("contentHint" in track) track.contentHint = "detail";
      await this._cameraTx?.sender?.replaceTrack(track);
      if (this.closed) return;
    }
    this._notify();
    this._reportDevices(md);
  }

  _armWatchdog() {
    const env = this.env;
    if (this._watchdog !== null) env.clearTimeout(this._watchdog);
    this._watchdog = env.setTimeout(() => {
      this._watchdog = null;
      if (this.closed) return;
      const gone = kernelGone();
      this.words = gone.words;
      this.close("kernel-gone");
    }, KERNEL_SILENCE_MS);
  }

  /**
   * A failure: show its words, tell the kernel (`error`, then `bye` reason `error`)
   * unless the kernel is the one that reported it (`tellKernel: false`), and close.
   * @param {{name: string, message: string, words: string}} described
   * @param {{tellKernel?: boolean}} [options]
   */
  fail(described, { tellKernel = true } = {}) {
    if (this.closed) return;
    this.env.log.warn(`[nbrtc] ${this.id} failed: ${described.name}: ${described.message}`);
    this.words = described.words;
    this.setState({ type: "fail", reason: described.words });
    if (tellKernel) this._send("error", { name: described.name, message: described.message });
    this._teardown("error", tellKernel);
  }

  /**
   * Close the stream. Idempotent and synchronous: when it returns, every track is
   * stopped, the pc is closed, timers and listeners are gone, and the kernel was told
   * (`bye`) unless `notify` is false (the kernel closed it, or the router already said
   * bye on pagehide).
   * @param {string} [reason]
   * @param {{notify?: boolean}} [options]
   */
  close(reason = "closed", { notify = true } = {}) {
    if (this.closed) return;
    this.setState({ type: "close", reason });
    this._teardown(reason, notify);
  }

  /**
   * @param {string} reason
   * @param {boolean} notify
   */
  _teardown(reason, notify) {
    if (this.closed) return;
    this.closed = true;
    const env = this.env;
    this._abort.abort();
    if (this._pingTimer !== null) env.clearInterval(this._pingTimer);
    if (this._watchdog !== null) env.clearTimeout(this._watchdog);
    this._pingTimer = null;
    this._watchdog = null;
    this._outbox = [];
    stopTracks(this.localStream);
    if (this.pc) {
      try {
        this.pc.close();
      } catch (err) {
        env.log.debug("[nbrtc] pc.close failed", err);
      }
      this.pc = null;
    }
    // Received tracks end with the pc; stopping them too costs nothing.
    stopTracks(this.remoteStream);
    this.localStream = null;
    this.remoteStream = null;
    if (notify && this._kernelKnows) this._send("bye", { reason });
    if (this._registered) this.router.unregister(this.id);
    this._notify();
  }
}
