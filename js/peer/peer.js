// One browser-side RTCPeerConnection for one view of one widget: a "stream" of
// docs/protocol.md. It owns the local tracks (camera, microphone, screen), the data
// channels and the peer connection, and it is the only thing that creates them, so
// closing it is enough to leave nothing behind.
//
// Every `await` in start() is followed by a closed check: getUserMedia or createOffer
// may resolve after the view was removed, and whatever they produced must then be
// stopped at once instead of being used ("close during negotiation" in the contract).
// Browser globals are looked up lazily (see defaultEnv) so node can import this file.

import { guard, stopTracks } from "../core/cleanup.js";
import { Channels } from "../core/channels.js";
import { listen } from "../core/listen.js";
import { describeError, deviceFor, iceFailed, kernelGone, pathLost } from "../core/errors.js";
import { PathWatch } from "../transport/reconnect.js";
import { COMM_KINDS, CONTROL_CHANNEL, SENDING_KINDS, STREAM_KINDS } from "../core/protocol.js";
import { COMM_FALLBACK_MS, CommDownlink, CommUplink, commGlobals } from "../transport/comm.js";
import { AudioDownlink, AudioUplink, audioGlobals } from "../transport/comm-audio.js";
import { INITIAL, reduce } from "../core/state.js";
import { collectStats } from "../core/stats.js";
import { Heartbeat, KernelWatchdog } from "../core/liveness.js";
import { IceServersRequest, needsCredentials, withIceServers } from "../transport/ice.js";

/** How often the browser samples its getStats for the kernel (Inspector, stats()). */
export const STATS_INTERVAL_MS = 1000;

/**
 * The `stats_interval` trait (seconds; 0 = off) in ms; the default when it is absent.
 * @param {unknown} seconds
 * @returns {number}
 */
export function statsInterval(seconds) {
  if (seconds === undefined || seconds === null) return STATS_INTERVAL_MS;
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) return 0;
  return Math.max(250, seconds * 1000);
}

/**
 * The RTCConfiguration of a new pc: the widget's `rtc_config` (its ICE servers) with
 * `bundlePolicy: "max-bundle"` unless it sets one. The other end always bundles (aiortc
 * does, and so does a browser), so gathering a second set of candidates for the data
 * channel's m-section until the answer, as "balanced" does, would only double the
 * sockets, the trickled candidates and the connectivity checks.
 * @param {unknown} rtcConfig
 * @returns {RTCConfiguration}
 */
/** ice-error reports a pc sends at most (a server failing every gathering retry). */
export const MAX_ICE_ERRORS = 8;

export function peerConfig(rtcConfig) {
  const base = rtcConfig && typeof rtcConfig === "object" ? { ...rtcConfig } : {};
  delete base.credentials; // ice.js's marker, not an RTCConfiguration member
  return { bundlePolicy: "max-bundle", ...base };
}

/**
 * @typedef {import("../core/state.js").PeerState} PeerState
 * @typedef {import("../core/state.js").PeerEvent} PeerEvent
 * @typedef {import("../core/router.js").Router} Router
 * @typedef {import("../core/router.js").ModelLike} ModelLike
 * @typedef {import("../core/protocol.js").Envelope} Envelope
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
 * What the view draws. `media` is what the kind is about (the local stream of a sending
 * kind, the kernel's stream of a receiving one); `local` and `remote` are both streams,
 * so a camera view can show the kernel's processed video (`remote`) instead of `local`.
 * @typedef {{
 *   id: string,
 *   kind: string,
 *   state: PeerState,
 *   words: string,
 *   media: any,
 *   local?: any,
 *   remote?: any,
 *   kernelState: string,
 *   transport?: string,
 * }} PeerSnapshot
 *
 * A data channel event as the view gets it (ChannelEvent plus the stream id).
 * @typedef {import("../core/channels.js").ChannelEvent & {stream: string}} PeerChannelEvent
 */

/** What the view shows when the user ends a screen share from the browser's own UI. */
export const SCREEN_ENDED_WORDS = "Screen sharing was stopped in the browser.";

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
 * Map the widget's `audio` trait to getUserMedia audio constraints.
 * false/null/undefined: no audio (null). true: the browser's defaults (true). An object
 * with Python names {device_id, echo_cancellation, noise_suppression, auto_gain_control}
 * where null means "the browser's choice": device_id is a demand (`exact`, like the
 * camera's), the three switches are plain booleans (the browser treats them as ideal).
 * @param {any} value
 * @returns {MediaTrackConstraints | true | null}
 */
export function audioConstraints(value) {
  if (value === true) return true;
  if (!value || typeof value !== "object" || Array.isArray(value)) return null;
  /** @type {Record<string, any>} */
  const out = {};
  if (typeof value.device_id === "string" && value.device_id !== "") out.deviceId = { exact: value.device_id };
  if (typeof value.echo_cancellation === "boolean") out.echoCancellation = value.echo_cancellation;
  if (typeof value.noise_suppression === "boolean") out.noiseSuppression = value.noise_suppression;
  if (typeof value.auto_gain_control === "boolean") out.autoGainControl = value.auto_gain_control;
  return Object.keys(out).length ? out : true;
}

/**
 * getDisplayMedia video constraints: videoConstraints without the device id, because
 * getDisplayMedia rejects `exact` with a TypeError and the user picks the surface anyway.
 * @param {any} constraints
 * @returns {MediaTrackConstraints | true}
 */
export function displayConstraints(constraints) {
  const video = videoConstraints(constraints);
  if (video === true) return true;
  const rest = { .../** @type {Record<string, any>} */ (video) };
  delete rest.deviceId;
  return Object.keys(rest).length ? rest : true;
}

export class BrowserPeer {
  /**
   * @param {{
   *   model: ModelLike,
   *   kind: "camera" | "view" | "screen" | "microphone" | "audio",
   *   router: Router,
   *   viewId?: string,
   *   onChange?: (snapshot: PeerSnapshot) => void,
   *   onChannel?: (event: PeerChannelEvent) => void,
   *   env?: Partial<PeerEnv>,
   * }} options
   */
  constructor({ model, kind, router, viewId, onChange, onChannel, env }) {
    if (!STREAM_KINDS.includes(kind)) throw new TypeError(`unknown kind: ${String(kind)}`);
    this.model = model;
    this.kind = kind;
    this.router = router;
    this.env = { ...defaultEnv(), ...env };
    this.id = router.nextStreamId();
    this.viewId = viewId ?? router.nextViewId();
    this.onChange = onChange ?? (() => {});
    this.onChannel = onChannel ?? (() => {});
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
    /** @type {any} the transceiver the camera/screen track goes out on (sendrecv) */
    this._videoTx = null;
    /** @type {any} the sendonly transceiver the microphone track goes out on */
    this._audioTx = null;
    /**
     * The audio the offer asked for (audioConstraints of the `audio` trait), read once
     * so the offer's transceivers and getUserMedia agree even if the trait changes (a
     * change restarts the stream anyway, see widget.js).
     * @type {MediaTrackConstraints | true | null}
     */
    this._audioRequest = null;
    /** @type {string} the getDisplayMedia constraints used, to catch later changes */
    this._screenConstraintsKey = "";
    /** @type {any} the reserved control channel */
    this._control = null;
    /** @type {any} the kernel's media: a view's source, or a camera's processed video */
    this.remoteStream = null;
    this.channels = new Channels({
      onEvent: (event) => this._channelEvent(event),
      log: this.env.log,
    });
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
    /** Pings the kernel when nothing else went out for a while (started with the offer). */
    this._heartbeat = new Heartbeat(this.env, () => this._send("ping", { t: this.env.now() }));
    /** Gives the stream up when the kernel falls silent (armed once the answer arrived). */
    this._watchdog = new KernelWatchdog(this.env, () => this.kernelGone());
    /** @type {any} the getStats sampling timer (STATS_INTERVAL_MS) */
    this._statsTimer = null;
    this._statsBusy = false;
    /** A reoffer is out and its answer not applied yet (one renegotiation at a time). */
    this._reoffering = false;
    /** @type {any} a renegotiate request that arrived while another was in flight */
    this._pendingRenegotiation = null;
    /** @type {any[] | null} candidates gathered before the reoffer went out */
    this._heldCandidates = null;
    /** @type {IceServersRequest | null} the pending ask for TURN logins (ice.js) */
    this._iceRequest = null;
    /** A lost path after connecting waits for the kernel's ICE restarts (reconnect.js). */
    this._path = new PathWatch(this.env, (ms) => this.fail(pathLost(ms)));
    /**
     * How this stream starts (the widget's `transport_mode`): "auto" (WebRTC, and the
     * comm too when WebRTC has not connected after COMM_FALLBACK_MS), "webrtc", "comm".
     * @type {string}
     */
    const mode = this.model.get("transport_mode");
    this.transportMode = COMM_KINDS.includes(kind) && (mode === "comm" || mode === "webrtc") ? mode : "auto";
    if (!COMM_KINDS.includes(kind)) this.transportMode = "webrtc";
    /** What carries the media now: "" (nothing yet), "webrtc" or "comm". */
    this.transport = "";
    /** The page asked the kernel for the comm and has not moved back since. */
    this._commAsked = false;
    /** @type {any} the fallback timer (COMM_FALLBACK_MS after the offer) */
    this._fallbackTimer = null;
    /** The pc connected at least once (a later failure is a lost path, reconnect.js). */
    this._connectedOnce = false;
    /** @type {CommUplink | null} */
    this._uplink = null;
    /** @type {CommDownlink | null} */
    this._downlink = null;
    /** @type {AudioUplink | null} the device's sound to the kernel over the comm */
    this._audioUp = null;
    /** @type {AudioDownlink | null} the kernel's sound over the comm */
    this._audioDown = null;
    /** @type {any} the comm's video and sound in one MediaStream (made when both exist) */
    this._commMixed = null;
    /** @type {any} the RTC configuration (with TURN logins) the pc was made with */
    this._rtcConfig = null;
    /** New peer connections made for the kernel's reconnection (a lost path). */
    this.freshPeers = 0;
  }

  /** Whether this kind opens a local device. */
  get sending() {
    return SENDING_KINDS.includes(this.kind);
  }

  /** @returns {PeerSnapshot} */
  snapshot() {
    const remote = this.transport === "comm" ? this._commRemote() : this.remoteStream;
    return {
      id: this.id,
      kind: this.kind,
      state: this.state,
      words: this.words,
      media: this.sending ? this.localStream : remote,
      local: this.localStream,
      remote,
      kernelState: this.kernelState,
      transport: this.transport,
    };
  }

  /** @param {import("../core/channels.js").ChannelEvent} event */
  _channelEvent(event) {
    try {
      this.onChannel({ ...event, stream: this.id });
    } catch (err) {
      this.env.log.error("[nbrtc] data channel view update failed", err);
    }
  }

  /**
   * Send on a named data channel, opening it when nobody did yet (queued until open).
   * Throws TypeError for a bad label or data; false when the stream is closed.
   * @param {string} label
   * @param {any} data
   * @returns {boolean}
   */
  sendData(label, data) {
    return this.channels.send(label, data);
  }

  /** @returns {string[]} the open (or opening) named channels */
  channelLabels() {
    return this.closed ? [] : this.channels.labels();
  }

  /** The words for a failure of this stream's device. */
  _device() {
    return deviceFor(this.kind, this._audioRequest !== null);
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
   * @param {ArrayBuffer[]} [buffers] a comm frame's JPEG
   */
  _send(type, payload, buffers) {
    if (!this._registered) return false;
    const sent = buffers ? this.router.send(this.id, type, payload, buffers) : this.router.send(this.id, type, payload);
    if (sent) this._kernelKnows = true;
    if (sent && type !== "ping") this._heartbeat.sent();
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
      gathering: String(pc.iceGatheringState ?? ""),
    };
    const key = `${payload.connection}/${payload.ice}/${payload.signaling}/${payload.gathering}`;
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
    if (this.transportMode === "comm") {
      this._startOnComm();
      return;
    }

    const PC = env.RTCPeerConnection;
    if (typeof PC !== "function") {
      throw Object.assign(new Error("this browser has no RTCPeerConnection"), {
        name: "NotSupportedError",
      });
    }
    let rtcConfig = this.model.get("rtc_config");
    if (needsCredentials(rtcConfig)) {
      // TURN logins are not in the trait (it is saved with the notebook): ask the
      // kernel, bounded (ice.js). Only then can the pc exist: its servers are fixed.
      const servers = await this._askIceServers();
      if (this.closed) return;
      if (!Array.isArray(servers)) {
        if (servers) this.fail(servers.failed);
        return;
      }
      rtcConfig = withIceServers(rtcConfig, servers);
    }
    // kept for a new pc when a lost path needs one (_freshPeer)
    this._rtcConfig = rtcConfig;
    // Created and stored with no await in between, so close() always sees it.
    const pc = new PC(peerConfig(rtcConfig));
    this.pc = pc;
    this._wire(pc);

    // Devices are opened only once the kernel has accepted the stream (after the
    // answer, see _acquire): a widget closed in the very cell that displayed it never
    // turns the camera on, and getUserMedia overlaps ICE and DTLS instead of delaying
    // the offer. replaceTrack onto these transceivers needs no renegotiation.
    this._audioRequest = this.kind === "camera" || this.kind === "microphone"
      ? audioConstraints(this.model.get("audio"))
      : null;
    switch (this.kind) {
      case "camera":
      case "screen":
        // sendrecv: the kernel may send processed video back on the same m-line.
        this._videoTx = pc.addTransceiver("video", { direction: "sendrecv" });
        if (this.kind === "camera" && this._audioRequest !== null) {
          this._audioTx = pc.addTransceiver("audio", { direction: "sendonly" });
        }
        break;
      case "microphone":
        this._audioTx = pc.addTransceiver("audio", { direction: "sendonly" });
        break;
      case "view":
        // audio too: a kernel source may have sound (the answer says whether it has).
        pc.addTransceiver("video", { direction: "recvonly" });
        pc.addTransceiver("audio", { direction: "recvonly" });
        break;
      default: // audio
        pc.addTransceiver("audio", { direction: "recvonly" });
    }
    // The control channel puts an m=application section in the offer, so channels
    // either side opens later need no renegotiation. Then the channels a page script
    // asked for before the pc existed.
    this._control = pc.createDataChannel(CONTROL_CHANNEL);
    this.channels.attach(pc);

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
    this._heartbeat.start();
    const every = statsInterval(this.model.get("stats_interval"));
    if (every > 0) this._statsTimer = env.setInterval(() => this._sampleStats(), every);
    if (this.transportMode === "auto") {
      this._fallbackTimer = env.setTimeout(() => this._fallBack(), COMM_FALLBACK_MS);
    }
  }

  // --- the comm transport (comm.js) ---------------------------------------------------

  /** transport="comm": no pc at all; the kernel's `transport` reply stands for an answer. */
  _startOnComm() {
    this._commAsked = true;
    // getUserMedia asks for sound when the widget wants it (no transceiver needs it)
    this._audioRequest = this.kind === "camera" || this.kind === "microphone"
      ? audioConstraints(this.model.get("audio"))
      : null;
    this._send("offer", { kind: this.kind, page: this.router.pageId, view: this.viewId, transport: "comm" });
    this._offerSent = true;
    this.setState({ type: "offer-sent" });
    for (const [type, payload] of this._outbox.splice(0)) this._send(type, payload);
    this._heartbeat.start();
    const every = statsInterval(this.model.get("stats_interval"));
    if (every > 0) this._statsTimer = this.env.setInterval(() => this._sampleStats(), every);
  }

  /**
   * WebRTC has not connected COMM_FALLBACK_MS after the offer (or failed before it did):
   * ask the kernel for the comm too (ICE goes on trying, see _backToWebrtc).
   * @param {string} [reason]
   */
  _fallBack(reason) {
    if (this._fallbackTimer !== null) this.env.clearTimeout(this._fallbackTimer);
    this._fallbackTimer = null;
    const pc = this.pc;
    if (this.closed || !pc || pc.connectionState === "connected" || this._commAsked) return;
    this._commAsked = true;
    const why = reason ?? `WebRTC not connected ${COMM_FALLBACK_MS / 1000} s after the offer (ICE ${pc.iceConnectionState})`;
    this.env.log.info(`[nbrtc] ${this.id}: ${why}: starting the comm transport`);
    this._send("transport", { use: "comm", why });
  }

  /** The kernel carries this stream over the comm from now on (its `transport` reply). */
  async _commConfirmed() {
    if (this.closed || !this._commAsked || this.transport === "comm") return;
    this.transport = "comm";
    if (!this._answerSeen) {
      // what an answer does on WebRTC (none came, or transport="comm" asks for none):
      // the kernel holds the stream, the device may open
      this._answerSeen = true;
      this._watchdog.start();
      this.setState({ type: "answer-applied" });
      if (this.sending) {
        try {
          await this._acquire();
        } catch (err) {
          if (!this.closed) this.fail(describeError(err, this._device()));
          return;
        }
      }
    }
    if (this.closed) return;
    this._startUplink();
    if (!this._audioDown && (this.kind === "view" || this.kind === "audio")) {
      this._audioDown = new AudioDownlink({
        ack: (seq) => this._send("audio-ack", { seq }),
        onSound: () => this._commFlowing(true), // the stream now has a sound track
        env: this._commEnv(),
      });
    }
    if (!this._downlink && this.kind !== "microphone" && this.kind !== "audio") {
      this._downlink = new CommDownlink({
        ack: (seq) => this._send("frame-ack", { seq }),
        onFrame: () => this._commFlowing(true),
        env: this._commEnv(),
      });
    }
    this._notify();
  }

  /** The camera's video goes to the kernel over the comm (once confirmed and acquired). */
  _startUplink() {
    if (this.closed || this.transport !== "comm" || !this.sending) return;
    const sound = this.localStream?.getAudioTracks?.()[0];
    if (sound && !this._audioUp) {
      this._audioUp = new AudioUplink({
        track: sound,
        send: (payload, buffers) => this._send("audio", payload, buffers),
        onAck: () => this._commFlowing(false),
        env: this._commEnv(),
      });
      this._audioUp.start();
    }
    if (this._uplink) return;
    const track = this.localStream?.getVideoTracks?.()[0];
    if (!track) return;
    this._uplink = new CommUplink({
      track,
      send: (payload, buffers) => this._send("frame", payload, buffers),
      onAck: () => this._commFlowing(false),
      env: this._commEnv(),
    });
    this._uplink.start();
  }

  /**
   * A frame crossed the comm: the kernel decoded ours, or we drew the kernel's.
   * @param {boolean} drawn
   */
  _commFlowing(drawn) {
    if (drawn) this._notify(); // the view's video now has a picture
    if (drawn === !this.sending) this.setState({ type: "connected" });
  }

  /** @returns {import("../transport/comm.js").CommEnv} */
  _commEnv() {
    const env = this.env;
    return {
      ...commGlobals(),
      ...audioGlobals(),
      now: env.now,
      setTimeout: env.setTimeout,
      clearTimeout: env.clearTimeout,
      log: env.log,
      MediaStream: env.MediaStream,
      .../** @type {any} */ (env).comm,
    };
  }

  /** WebRTC connected after the comm took over: move back to it and stop the comm. */
  _backToWebrtc() {
    this._stopComm();
    this._commAsked = false;
    this.transport = "webrtc";
    this._send("transport", { use: "webrtc", why: "WebRTC connected" });
    this._notify();
  }

  /** The comm's remote media: the kernel's video, its sound, or both in one stream. */
  _commRemote() {
    const video = this._downlink?.stream ?? null;
    const sound = this._audioDown?.stream ?? null;
    if (!sound) return video ?? this.remoteStream;
    if (!video) return sound;
    if (!this._commMixed && typeof this.env.MediaStream === "function") {
      this._commMixed = new this.env.MediaStream([...video.getVideoTracks(), ...sound.getAudioTracks()]);
    }
    return this._commMixed ?? video;
  }

  _stopComm() {
    const log = this.env.log;
    guard(log, "stopping the comm audio uplink", () => this._audioUp?.stop());
    guard(log, "stopping the comm audio downlink", () => this._audioDown?.stop());
    this._audioUp = null;
    this._audioDown = null;
    this._commMixed = null;
    guard(log, "stopping the comm uplink", () => this._uplink?.stop());
    guard(log, "stopping the comm downlink", () => this._downlink?.stop());
    this._uplink = null;
    this._downlink = null;
  }

  /**
   * WebRTC failed while the comm carries the stream: only the pc goes.
   * @param {string} why
   */
  _dropPc(why) {
    const pc = this.pc;
    if (!pc) return;
    this.env.log.info(`[nbrtc] ${this.id}: WebRTC given up (${why}); the comm carries the stream`);
    this.pc = null;
    guard(this.env.log, "closing the failed pc", () => pc.close());
  }

  /**
   * Ask the kernel for the full ICE servers of this stream (ice.js). Resolves to the
   * list, to `{failed}` (timeout, refusal) or to null (closed meanwhile); never rejects.
   */
  _askIceServers() {
    const request = new IceServersRequest(this.env);
    this._iceRequest = request;
    if (!this._send("ice-servers", null)) request.refused("closed", "the widget's comm is closed");
    return request.promise;
  }

  /**
   * Send the pc's filtered getStats to the kernel (the Inspector, `stats()`), at most
   * one sample in flight: a frozen page does not pile up getStats calls.
   */
  async _sampleStats() {
    const pc = this.pc;
    const comm = [this._uplink?.stats(), this._downlink?.stats(), this._audioUp?.stats(), this._audioDown?.stats()]
      .filter(Boolean);
    if (this.closed || (!pc && !comm.length) || this._statsBusy || !this._answerSeen) return;
    this._statsBusy = true;
    try {
      const reports = pc ? await collectStats(pc) : [];
      reports.push(...comm);
      if (!this.closed && reports.length) this._send("stats", { t: this.env.now(), reports });
    } finally {
      this._statsBusy = false;
    }
  }

  /**
   * The kernel asks for a reoffer (a codec or bitrate change, or an ICE restart). One at
   * a time: a request during another is kept and run after its answer. Never rejects.
   * @param {{ice_restart?: boolean, reason?: string}} request
   */
  async _renegotiate(request) {
    const pc = this.pc;
    if (this.closed || !pc || !this._answerSeen) return;
    if (this._reoffering) {
      // An ICE restart must not be lost behind a codec change: merge the requests.
      const pending = this._pendingRenegotiation;
      this._pendingRenegotiation = {
        ice_restart: Boolean(request.ice_restart || pending?.ice_restart),
        fresh: Boolean(request.fresh || pending?.fresh),
        reason: request.reason ?? "",
      };
      return;
    }
    this._reoffering = true;
    this._heldCandidates = [];
    if (request.fresh) {
      await this._freshPeer(request);
      return;
    }
    try {
      if (request.ice_restart && typeof pc.restartIce === "function") pc.restartIce();
      const offer = await pc.createOffer(request.ice_restart ? { iceRestart: true } : {});
      if (this.closed) return;
      await pc.setLocalDescription(offer);
      if (this.closed) return;
      const sdp = pc.localDescription?.sdp ?? offer.sdp;
      this._send("reoffer", { sdp, reason: String(request.reason ?? "").slice(0, 128) });
    } catch (err) {
      this._reoffering = false;
      this.env.log.warn("[nbrtc] renegotiation failed to start", err);
    } finally {
      const held = this._heldCandidates ?? [];
      this._heldCandidates = null;
      if (!this.closed) for (const c of held) this._send("candidate", c);
    }
  }

  /**
   * The kernel asks for a new peer connection (its reconnection after a lost path that
   * ICE restarts did not bring back, or after its own ICE connection ended): the old pc
   * goes, a new one takes the same camera/microphone tracks (the device stays open), and
   * its offer goes out as a `reoffer` with `fresh`. The kernel answers under the same
   * stream. Called by _renegotiate with `_reoffering` set; never rejects.
   * @param {{reason?: string}} request
   */
  async _freshPeer(request) {
    const old = this.pc;
    const PC = this.env.RTCPeerConnection;
    try {
      const pc = new PC(peerConfig(this._rtcConfig ?? this.model.get("rtc_config")));
      this.pc = pc; // from here the old pc's events are ignored (_wire)
      this.freshPeers += 1;
      this._wire(pc);
      const local = this.localStream;
      const video = local?.getVideoTracks?.()[0] ?? null;
      const sound = local?.getAudioTracks?.()[0] ?? null;
      switch (this.kind) {
        case "camera":
        case "screen":
          this._videoTx = pc.addTransceiver(video ?? "video", { direction: "sendrecv" });
          if (this._audioTx) this._audioTx = pc.addTransceiver(sound ?? "audio", { direction: "sendonly" });
          break;
        case "microphone":
          this._audioTx = pc.addTransceiver(sound ?? "audio", { direction: "sendonly" });
          break;
        case "view":
          pc.addTransceiver("video", { direction: "recvonly" });
          pc.addTransceiver("audio", { direction: "recvonly" });
          break;
        default:
          pc.addTransceiver("audio", { direction: "recvonly" });
      }
      guard(this.env.log, "closing the old control channel", () => this._control?.close());
      this._control = pc.createDataChannel(CONTROL_CHANNEL);
      this.channels.moveTo(pc);
      // the kernel's media comes again on the new pc's tracks
      stopTracks(this.remoteStream);
      this.remoteStream = null;
      this._notify();
      const offer = await pc.createOffer();
      if (this.closed || this.pc !== pc) return;
      await pc.setLocalDescription(offer);
      if (this.closed || this.pc !== pc) return;
      const sdp = pc.localDescription?.sdp ?? offer.sdp;
      const reason = String(request.reason ?? "").slice(0, 128);
      this._send("reoffer", { sdp, reason, fresh: true });
      this._sendPcState();
    } catch (err) {
      this._reoffering = false;
      this.env.log.warn("[nbrtc] a new peer connection failed to start", err);
    } finally {
      const held = this._heldCandidates ?? [];
      this._heldCandidates = null;
      if (!this.closed) for (const c of held) this._send("candidate", c);
      // closed only once the new offer is out: the kernel, told first, does not take
      // the old pc's end for the stream's
      guard(this.env.log, "closing the old pc", () => old?.close());
    }
  }

  /**
   * The kernel's answer to our reoffer.
   * @param {string} sdp
   */
  async _applyReanswer(sdp) {
    const pc = this.pc;
    try {
      await pc.setRemoteDescription({ type: "answer", sdp });
    } catch (err) {
      if (!this.closed) this.fail(describeError(err));
      return;
    } finally {
      this._reoffering = false;
    }
    const next = this._pendingRenegotiation;
    this._pendingRenegotiation = null;
    if (next && !this.closed) await this._renegotiate(next);
  }

  /** The kernel refused our reoffer: back to the description we had. */
  async _rollbackReoffer() {
    const pc = this.pc;
    this._reoffering = false;
    this._pendingRenegotiation = null;
    if (!pc || this.closed || pc.signalingState !== "have-local-offer") return;
    try {
      await pc.setLocalDescription({ type: "rollback" });
    } catch (err) {
      this.env.log.warn("[nbrtc] rolling back a refused reoffer failed", err);
    }
  }

  /**
   * Listeners go through the AbortController so close() removes them all at once.
   * @param {any} pc
   */
  _wire(pc) {
    const options = {
      signal: this._abort.signal,
      // a pc replaced by _freshPeer (or dropped for the comm) says nothing any more
      isClosed: () => this.closed || this.pc !== pc,
      log: this.env.log,
      what: "",
    };
    /**
     * @param {string} type
     * @param {(ev: any) => void} fn
     */
    const on = (type, fn) => listen(pc, type, fn, options);

    on("icecandidate", (ev) => {
      const c = ev.candidate;
      if (!c) {
        this._sendAfterOffer("candidate", null);
        return;
      }
      // An empty candidate string is a per-generation end marker; the null event
      // that follows says the same thing in the protocol's terms.
      if (!c.candidate) return;
      if (this._heldCandidates !== null) {
        // A renegotiation is being offered: its new candidates must follow the reoffer,
        // or the kernel would take them for the old ICE generation's.
        this._heldCandidates.push({
          candidate: c.candidate,
          sdpMid: c.sdpMid ?? null,
          sdpMLineIndex: c.sdpMLineIndex ?? null,
        });
        return;
      }
      this._sendAfterOffer("candidate", {
        candidate: c.candidate,
        sdpMid: c.sdpMid ?? null,
        sdpMLineIndex: c.sdpMLineIndex ?? null,
      });
    });
    // A STUN/TURN server that failed this pc (a TURN 401, an unreachable server): the
    // kernel names it when it explains why ICE failed (docs/protocol.md "ice-error").
    let iceErrors = 0;
    on("icecandidateerror", (ev) => {
      if (iceErrors >= MAX_ICE_ERRORS) return;
      iceErrors += 1;
      this._sendAfterOffer("ice-error", {
        url: String(ev.url ?? "").slice(0, 1024),
        code: Number.isInteger(ev.errorCode) ? ev.errorCode : 0,
        text: String(ev.errorText ?? "").slice(0, 256),
      });
    });
    on("connectionstatechange", () => {
      this._sendPcState();
      if (pc.connectionState === "connected") {
        this._connectedOnce = true;
        if (this._fallbackTimer !== null) this.env.clearTimeout(this._fallbackTimer);
        this._fallbackTimer = null;
        if (this._commAsked) this._backToWebrtc();
        else this.transport = "webrtc";
      } else if (
        pc.connectionState === "failed" &&
        (this._commAsked || (this.transportMode === "auto" && !this._connectedOnce))
      ) {
        // WebRTC cannot connect here: the comm carries the stream instead of failing it
        this._fallBack("WebRTC failed before it connected");
        this._dropPc("the connection failed");
        return;
      }
      if (this._path.connectionChanged(pc.connectionState)) return; // the kernel restores it
      if (pc.connectionState === "connected") this.setState({ type: "connected" });
      else if (pc.connectionState === "failed") this.fail(iceFailed());
    });
    on("iceconnectionstatechange", () => this._sendPcState());
    on("icegatheringstatechange", () => this._sendPcState());
    on("signalingstatechange", () => this._sendPcState());
    on("track", (ev) => {
      const track = ev.track;
      if (!track) return;
      // A microphone receives nothing; a camera or screen only its processed video.
      if (this.kind === "microphone") return;
      if ((this.kind === "camera" || this.kind === "screen") && track.kind !== "video") return;
      this._addRemoteTrack(track, ev.streams?.[0]);
    });
    on("datachannel", (ev) => this.channels.adopt(ev.channel));
  }

  /**
   * Collect the kernel's tracks in one stream: a view's video and sound may arrive in
   * separate `track` events (and, from some senders, in separate streams).
   * @param {any} track
   * @param {any} stream
   */
  _addRemoteTrack(track, stream) {
    const MS = this.env.MediaStream;
    if (!this.remoteStream) {
      this.remoteStream = stream ?? (typeof MS === "function" ? new MS([track]) : null);
    }
    const remote = this.remoteStream;
    if (remote && typeof remote.getTracks === "function" && !remote.getTracks().includes(track)) {
      try {
        remote.addTrack(track);
      } catch (err) {
        this.env.log.debug("[nbrtc] could not add a remote track", err);
      }
    }
    this._notify();
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
   * @param {any[]} [buffers] a comm frame's JPEG
   */
  handleKernelMessage(msg, buffers) {
    if (this.closed) return;
    this._watchdog.heard();
    const payload = msg.payload;
    switch (msg.type) {
      case "answer":
        if (this._reoffering) {
          this._applyReanswer(payload.sdp).catch((err) =>
            this.env.log.error("[nbrtc] applying the renegotiated answer failed", err),
          );
          return;
        }
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
      case "renegotiate":
        this._renegotiate(payload).catch((err) =>
          this.env.log.error("[nbrtc] renegotiation failed", err),
        );
        return;
      case "error":
        this.env.log.warn(`[nbrtc] kernel refused a message of ${this.id}: ${payload.code}: ${payload.message}`);
        if (payload.ref?.type === "audio") this._audioUp?.refused(); // never acknowledged
        if (payload.ref?.type === "ice-servers" && this._iceRequest) {
          this._iceRequest.refused(payload.code, payload.message);
          return;
        }
        if (payload.ref?.type === "reoffer" && this._reoffering) {
          this._rollbackReoffer().catch(() => {});
          return;
        }
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
      case "ice-servers":
        this._iceRequest?.answered(payload);
        return;
      case "transport":
        if (payload.use === "comm") {
          this._commConfirmed().catch((err) => this.env.log.error("[nbrtc] starting the comm failed", err));
        }
        return;
      case "frame":
        this._downlink?.frame(payload, buffers);
        return;
      case "frame-ack":
        this._uplink?.ack(payload.seq);
        return;
      case "audio":
        this._audioDown?.chunk(payload, buffers);
        return;
      case "audio-ack":
        this._audioUp?.ack(payload.seq);
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
    this._watchdog.start();
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
    if (this.sending) {
      try {
        await this._acquire();
      } catch (err) {
        if (!this.closed) this.fail(describeError(err, this._device()));
      }
    }
  }

  /**
   * Open the kind's device (getUserMedia, or getDisplayMedia for a screen), then send
   * each track on the transceiver the offer already made for it.
   */
  async _acquire() {
    const md = this.env.mediaDevices;
    const screen = this.kind === "screen";
    if (!md) {
      // navigator.mediaDevices is undefined outside secure contexts.
      throw Object.assign(new Error("navigator.mediaDevices is not available"), { name: "SecurityError" });
    }
    const method = screen ? "getDisplayMedia" : "getUserMedia";
    if (typeof md[method] !== "function") {
      throw Object.assign(new Error(`navigator.mediaDevices.${method} is not available`), {
        name: screen ? "NotSupportedError" : "SecurityError",
      });
    }
    /** @type {any} */
    let stream;
    if (screen) {
      const video = displayConstraints(this.model.get("constraints"));
      this._screenConstraintsKey = JSON.stringify(video);
      stream = await md.getDisplayMedia({ video, audio: false });
    } else if (this.kind === "microphone") {
      stream = await md.getUserMedia({ audio: this._audioRequest ?? true, video: false });
    } else {
      stream = await md.getUserMedia({
        video: videoConstraints(this.model.get("constraints")),
        audio: this._audioRequest ?? false,
      });
    }
    if (this.closed) {
      stopTracks(stream);
      return;
    }
    this.localStream = stream;
    if (screen) {
      // "Stop sharing" in the browser's own bar ends the track, and nothing else
      // would tell the kernel. (track.stop() in our teardown does not fire `ended`.)
      const [track] = stream.getVideoTracks();
      track?.addEventListener("ended", () => this._screenEnded(), { signal: this._abort.signal });
    }
    for (const track of stream.getTracks()) {
      const tx = track.kind === "video" ? this._videoTx : track.kind === "audio" ? this._audioTx : null;
      if (!tx && this.transportMode === "comm") continue; // comm.js / comm-audio.js read it
      if (!tx) {
        // Nothing was offered for it (e.g. a browser added audio nobody asked for).
        guard(this.env.log, "stopping an unexpected track", () => track.stop());
        continue;
      }
      // "detail" keeps the resolution when bandwidth is short at the start of a call
      // (Chromium would otherwise scale 640x480 down while the estimate ramps up); for
      // a screen it keeps text readable.
      if (track.kind === "video" && "contentHint" in track) track.contentHint = "detail";
      await tx.sender?.replaceTrack(track);
      if (this.closed) return;
    }
    this._notify();
    this._startUplink();
    if (!screen) this._reportDevices(md);
    // The constraints may have changed while the share picker was open.
    if (screen && JSON.stringify(displayConstraints(this.model.get("constraints"))) !== this._screenConstraintsKey) {
      await this.applyVideoConstraints();
    }
  }

  /**
   * New `constraints` for a live screen share: applied to its track, so the user is not
   * asked to pick a screen again. A camera restarts instead (a device_id change needs
   * another device). Never rejects.
   * @returns {Promise<boolean>} whether they were applied
   */
  async applyVideoConstraints() {
    if (this.closed || this.kind !== "screen") return false;
    const track = this.localStream?.getVideoTracks?.()[0];
    if (!track || typeof track.applyConstraints !== "function") return false;
    const video = displayConstraints(this.model.get("constraints"));
    this._screenConstraintsKey = JSON.stringify(video);
    try {
      await track.applyConstraints(video === true ? {} : video);
    } catch (err) {
      this.env.log.warn("[nbrtc] the screen share did not take the new constraints", err);
      return false;
    }
    return !this.closed;
  }

  /** The user stopped the screen share from the browser: a normal close, with words. */
  _screenEnded() {
    if (this.closed) return;
    this.words = SCREEN_ENDED_WORDS;
    this.close("ended");
  }

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
    const log = env.log;
    guard(log, "removing listeners", () => this._abort.abort());
    guard(log, "stopping the heartbeat", () => this._heartbeat.stop());
    guard(log, "cancelling the ice-servers request", () => this._iceRequest?.cancel());
    guard(log, "stopping the watchdog", () => this._watchdog.stop());
    guard(log, "stopping the path watch", () => this._path.stop());
    guard(log, "clearing the comm fallback timer", () => {
      if (this._fallbackTimer !== null) env.clearTimeout(this._fallbackTimer);
    });
    this._fallbackTimer = null;
    this._stopComm();
    guard(log, "clearing the stats timer", () => {
      if (this._statsTimer !== null) env.clearInterval(this._statsTimer);
    });
    this._statsTimer = null;
    this._outbox = [];
    stopTracks(this.localStream);
    // Channels close with the pc anyway; closing them first also reports each label's
    // end to the view and drops queued messages.
    guard(log, "closing data channels", () => this.channels.close());
    guard(log, "closing the control channel", () => this._control?.close());
    this._control = null;
    if (this.pc) {
      guard(log, "pc.close", () => this.pc.close());
      this.pc = null;
    }
    // Received tracks end with the pc; stopping them too costs nothing.
    stopTracks(this.remoteStream);
    this.localStream = null;
    this.remoteStream = null;
    if (notify && this._kernelKnows) guard(log, "sending bye", () => this._send("bye", { reason }));
    if (this._registered) guard(log, "unregistering", () => this.router.unregister(this.id));
    this._notify();
  }
}
