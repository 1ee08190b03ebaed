// One browser-side RTCPeerConnection for one view of one widget: a "stream" of
// docs/protocol.md. It owns the local tracks (camera, microphone, screen), the data
// channels and the peer connection, and it is the only thing that creates them, so
// closing it is enough to leave nothing behind.
//
// Every `await` in start() is followed by a closed check: getUserMedia or createOffer
// may resolve after the view was removed, and whatever they produced must then be
// stopped at once instead of being used ("close during negotiation" in the contract).
// Browser globals are looked up lazily (core/env.js) so node can import this file.
//
// The lifecycle, liveness, stats timer and teardown order are core/session.js's; the
// kernel's renegotiations live in renegotiation.js, the device in device.js, the comm
// transport in comm-transport.js; this file is the stream's signaling and its pc.

import { guard, stopTracks } from "../core/cleanup.js";
import { Channels } from "../core/channels.js";
import { audioConstraints } from "../core/constraints.js";
import { listen } from "../core/listen.js";
import { describeError, deviceFor, iceFailed, pathLost } from "../core/errors.js";
import { PathWatch } from "../transport/reconnect.js";
import { kernelOf } from "../core/router.js";
import { COMM_KINDS, CONTROL_CHANNEL, SENDING_KINDS, STREAM_KINDS, clipText } from "../core/protocol.js";
import { peerConfig } from "../core/rtc-config.js";
import { Session, statsInterval } from "../core/session.js";
import { INITIAL, reduce } from "../core/state.js";
import { collectStats } from "../core/stats.js";
import { StatsDelta } from "../core/stats-delta.js";
import { COMM_FALLBACK_MS } from "../transport/comm.js";
import { needsCredentials, withIceServers } from "../transport/ice.js";
import { acquireDevice, applyScreenConstraints } from "./device.js";
import { PICK_KINDS } from "./picker.js";
import { applyReanswer, renegotiate, rollbackReoffer } from "./renegotiation.js";
import { ControlLink } from "./control.js";
import { answerOffer, watchesServer } from "./answerer.js";
import { addSections, answerDirections } from "./sections.js";
import { applyJitterTarget, jitterTarget } from "./playout.js";
/** @typedef {import("../transport/comm.js").CommUplink} CommUplink */
/** @typedef {import("../transport/comm.js").CommDownlink} CommDownlink */
/** @typedef {import("../transport/comm-audio.js").AudioUplink} AudioUplink */
/** @typedef {import("../transport/comm-audio.js").AudioDownlink} AudioDownlink */
import { backToWebrtc, commConfirmed, commRemote, dropPc, fallBack, startOnComm, startUplink, stopComm } from "./comm-transport.js";

// ice.test.js and older callers import it from here.
export { peerConfig } from "../core/rtc-config.js";

/** ice-error reports a pc sends at most (a server failing every gathering retry). */
export const MAX_ICE_ERRORS = 8;

/**
 * @typedef {import("../core/state.js").PeerState} PeerState
 * @typedef {import("../core/state.js").PeerEvent} PeerEvent
 * @typedef {import("../core/router.js").Router} Router
 * @typedef {import("../core/router.js").ModelLike} ModelLike
 * @typedef {import("../core/protocol.js").Envelope} Envelope
 * @typedef {import("../core/env.js").PeerEnv} PeerEnv
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
 *   devices?: import("./picker.js").DeviceInfo[],
 * }} PeerSnapshot
 *
 * A data channel event as the view gets it (ChannelEvent plus the stream id).
 * @typedef {import("../core/channels.js").ChannelEvent & {stream: string}} PeerChannelEvent
 */

/** What the view shows when the user ends a screen share from the browser's own UI. */
export const SCREEN_ENDED_WORDS = "Screen sharing was stopped in the browser.";
/**
 * How long a view waits for the kernel's offer that its widget announced (it normally
 * arrived before the display; a page that opened later never sees it), then offers itself.
 */
export const KERNEL_OFFER_WAIT_MS = 250;

/**
 * One stream of one view (a Session, core/session.js).
 * @extends {Session<PeerSnapshot>}
 */
export class BrowserPeer extends Session {
  /**
   * @param {{
   *   model: ModelLike,
   *   kind: "camera" | "view" | "screen" | "microphone" | "audio",
   *   router: Router,
   *   viewId?: string,
   *   onChange?: (snapshot: PeerSnapshot) => void,
   *   onChannel?: (event: PeerChannelEvent) => void,
   *   kernelOffer?: string,
   *   onOfferRefused?: (code: string) => void,
   *   env?: Partial<PeerEnv>,
   * }} options `kernelOffer`: the id of the kernel's offer this view may answer
   *   (the widget's `_kernel_offer`); `onOfferRefused(code)`: the kernel refused this
   *   peer's answer (the offer went to another view or page, or expired: the caller
   *   starts one that offers; "closed": the widget closed, and nothing starts)
   */
  constructor({ model, kind, router, viewId, onChange, onChannel, kernelOffer, onOfferRefused, env }) {
    if (!STREAM_KINDS.includes(kind)) throw new TypeError(`unknown kind: ${String(kind)}`);
    super({ model, router, env, viewId, onChange });
    this.kind = kind;
    this.sharesBeat = true; // one heartbeat per page for all its streams (router.beat)
    this.onChannel = onChannel ?? (() => {});
    /** @type {PeerState} */
    this.state = INITIAL;
    /** The kernel's own view of the stream, from its `state` messages. */
    this.kernelState = "";
    /** @type {any} */
    this.pc = null;
    /** @type {any} */
    this.localStream = null;
    /**
     * The page's devices as this stream reported them to the kernel (device.js), for
     * the view's device picker; empty until then.
     * @type {import("./picker.js").DeviceInfo[]}
     */
    this.devices = [];
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
    /** the reserved control channel: the stream's reports and the kernel's pings (control.js) */
    this._link = new ControlLink(this);
    /** @type {any} the kernel's media: a view's source, or a camera's processed video */
    this.remoteStream = null;
    this.channels = new Channels({
      onEvent: (event) => this._channelEvent(event),
      log: this.env.log,
    });
    /** @type {Promise<void> | null} */
    this._started = null;
    this._offerSent = false;
    this._answerSeen = false;
    /** The device's opening (`_openDevice`), once begun. @type {Promise<void> | null} */
    this._deviceOpening = null;
    /** Messages that must wait for the offer, or the kernel answers `unknown-stream`. */
    /** @type {[string, any][]} */
    this._outbox = [];
    /** @type {string} */
    this._lastStateKey = "";
    this._abort = new AbortController();
    this._statsBusy = false;
    /** the stats samples' unchanged reports go by id (stats-delta.js) */
    this._statsDelta = new StatsDelta();
    /** A reoffer is out and its answer not applied yet (one renegotiation at a time). */
    this._reoffering = false;
    /** @type {any} a renegotiate request that arrived while another was in flight */
    this._pendingRenegotiation = null;
    /** @type {any[] | null} candidates gathered before the reoffer went out */
    this._heldCandidates = null;
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
    /**
     * The view watches a media server (a Broadcast through Janus): the page sends
     * `watch`, the server offers through the kernel and the page answers (answerer.js).
     * No comm fallback: the media never passes the kernel.
     */
    this.watching = watchesServer(kind, this.model.get("sfu"));
    if (this.watching) this.transportMode = "webrtc";
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
    /** The kernel's offer this view may answer ("" when it offers itself). */
    this._kernelOfferId = typeof kernelOffer === "string" ? kernelOffer : "";
    /** This peer answered the kernel's offer (and took its stream id). */
    this.answering = false;
    this._onOfferRefused = onOfferRefused ?? null;
  }

  /** Whether this kind opens a local device. */
  get sending() {
    return SENDING_KINDS.includes(this.kind);
  }

  /** @returns {PeerSnapshot} */
  snapshot() {
    const remote = this.transport === "comm" ? commRemote(this) : this.remoteStream;
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
      devices: this.devices,
    };
  }

  /**
   * The user picked a device in the view's picker: ask the kernel to restart with it
   * (`device`; the kernel checks it against the `devices` this page listed and sets the
   * widget's own constraints, which restarts this view, widget.js). False when this
   * stream cannot ask: closed, not offered yet, a kind it does not capture, an id it did
   * not list.
   * @param {import("./picker.js").PickKind} kind
   * @param {string} deviceId
   * @returns {boolean}
   */
  pickDevice(kind, deviceId) {
    if (this.closed || !this._offerSent || !Object.hasOwn(PICK_KINDS, kind)) return false;
    if (kind === "video" ? this.kind !== "camera" : !(this.kind === "microphone" || this._audioRequest !== null)) {
      return false;
    }
    const listed = this.devices.some((d) => d.deviceId === deviceId && d.kind === PICK_KINDS[kind]);
    return listed && this._send("device", { kind, deviceId });
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
    /** @type {string} */
    let kernelSdp = "";
    /**
     * The answer the page prepared for that offer (peer/early-answer.js): its pc is this
     * peer's from the moment it is adopted (`this.pc`, so every close path closes it).
     * @type {import("./early-answer.js").Adopted | null}
     */
    let adopted = null;
    if (this._kernelOfferId && this.transportMode !== "comm" && !this.watching && this.kind === "camera") {
      // The kernel offered as the widget was displayed: its offer is normally here
      // already (it left before the display); this view answers it as its stream.
      kernelSdp = await this.router.takeKernelOffer(this._kernelOfferId, KERNEL_OFFER_WAIT_MS);
      if (this.closed) {
        // the offer is this view's now: so is its early answer, which nothing will use
        if (kernelSdp) this.router.takeEarlyAnswer?.(this._kernelOfferId)?.close("the view closed");
        return;
      }
      if (kernelSdp) {
        this.id = this._kernelOfferId;
        this.answering = true;
        const early = this.router.takeEarlyAnswer?.(this.id) ?? null;
        adopted = early ? early.adopt(audioConstraints(this.model.get("audio")) !== null) : null;
        if (adopted) {
          this.pc = adopted.pc;
          this.env.log.debug(`[nbrtc] ${this.id}: answering on the early answer's pc`);
        }
      }
    }
    this._register();
    const env = this.env;
    if (this.transportMode === "comm") {
      startOnComm(this);
      return;
    }

    const PC = env.RTCPeerConnection;
    if (typeof PC !== "function") {
      throw Object.assign(new Error("this browser has no RTCPeerConnection"), {
        name: "NotSupportedError",
      });
    }
    let rtcConfig = this.model.get("rtc_config");
    if (adopted && needsCredentials(rtcConfig)) {
      // the ICE servers changed since the early answer's pc was made without asking
      guard(env.log, "closing the early answer's pc", () => adopted?.pc.close());
      this.pc = null;
      adopted = null;
    }
    if (needsCredentials(rtcConfig)) {
      // TURN logins are not in the trait (it is saved with the notebook): ask the
      // kernel, bounded (ice.js). Only then can the pc exist: its servers are fixed.
      const servers = await this._askIceServers("the widget's comm is closed");
      if (this.closed) return;
      if (!Array.isArray(servers)) {
        if (servers) this.fail(servers.failed);
        return;
      }
      rtcConfig = withIceServers(rtcConfig, servers);
    }
    // kept for a new pc when a lost path needs one (renegotiation.js freshPeer)
    this._rtcConfig = rtcConfig;
    // Created (or adopted) and stored with no await in between, so close() always sees it.
    const pc = adopted ? adopted.pc : new PC(peerConfig(rtcConfig));
    this.pc = pc;
    this._wire(pc);

    if (this.answering) {
      if (adopted) {
        // the kernel's tracks arrived as the early answer set the offer
        for (const ev of adopted.tracks) this._onTrack(ev);
        await this._answerKernel(pc, kernelSdp, adopted.answer);
      } else {
        await this._answerKernel(pc, kernelSdp);
      }
      return;
    }
    if (this.watching) {
      // The server's offer decides the m-lines: no transceiver and no control channel
      // here (a data channel would need an offer of ours). Candidates follow the answer.
      this._send("watch", { kind: this.kind, page: this.router.pageId, view: this.viewId });
      this._offerSent = true; // the kernel knows the stream: state, pings may go
      this.setState({ type: "offer-sent" });
      // No stats sampling: the kernel keeps none for a server's stream (its media never
      // touches the kernel), and with many viewers each sample is a message it must
      // read. The heartbeat proves the page alive instead.
      this._heartbeat.start();
      return;
    }

    // Devices are opened only once the kernel has accepted the stream (its "connecting"
    // state, sent as the offer arrives, before aiortc makes the answer; see _openDevice):
    // a widget closed in the very cell that displayed it never turns the camera on, and
    // the camera's start-up (~60 ms to its first frame) overlaps the answer, ICE and DTLS
    // instead of following them. replaceTrack onto these transceivers needs no
    // renegotiation.
    this._audioRequest = this.kind === "camera" || this.kind === "microphone"
      ? audioConstraints(this.model.get("audio"))
      : null;
    const tx = addSections(pc, this.kind, { audio: this._audioRequest !== null });
    this._videoTx = tx.videoTx;
    this._audioTx = tx.audioTx;
    // The control channel puts an m=application section in the offer, so channels
    // either side opens later need no renegotiation. Then the channels a page script
    // asked for before the pc existed.
    this._openControl(pc);
    this.channels.attach(pc);

    const offer = await pc.createOffer();
    if (this.closed) return;
    await this._sendAndSettle(pc, offer, "offer");
  }

  /**
   * Answer the kernel's offer `sdp` on `pc` (the widget's `_kernel_offer`, docs/protocol.md
   * "The kernel's offer"): its sections become this stream's (video sendrecv, audio
   * sendonly when the camera has sound), the kernel's control channel arrives as a
   * `datachannel` event, and ICE starts as the answer is set, while the answer travels.
   * The device opens at once when the kernel is idle, else once the kernel took the
   * answer (its "connecting" state, or the pc connecting).
   * @param {any} pc
   * @param {string} sdp
   * @param {Promise<any | null>} [prepared] the early answer's (its pc has the offer set
   *   and its transceivers' directions chosen); null from it means making it failed
   */
  async _answerKernel(pc, sdp, prepared) {
    listen(
      pc,
      "datachannel",
      (/** @type {any} */ event) => {
        if (event?.channel?.label === CONTROL_CHANNEL) this._link.attach(event.channel, this._abort.signal);
      },
      { signal: this._abort.signal, isClosed: () => this.closed, log: this.env.log, what: "kernel channel " },
    );
    this.channels.attach(pc);
    this._audioRequest = audioConstraints(this.model.get("audio"));
    const early = prepared ? await prepared : null;
    if (this.closed) return;
    if (prepared && !early) throw new Error("the answer to the kernel's offer could not be made");
    if (!early) await pc.setRemoteDescription({ type: "offer", sdp });
    if (this.closed) return;
    const chosen = answerDirections(pc, this._audioRequest !== null);
    this._videoTx = chosen.video;
    this._audioTx = chosen.audio;
    // The kernel idle means the cell that displayed this widget has ended, so no close
    // from that cell can follow: the device opens now and starts while ICE and DTLS run.
    // (A busy kernel may still close the widget in that cell: then it waits for the
    // kernel to take the answer, as an offering view waits for its offer to be taken.)
    if (this.sending && kernelOf(this.model)?.status === "idle") this._openDevice();
    const answer = early ?? (await pc.createAnswer());
    if (this.closed) return;
    this._answerSeen = true; // the SDP exchange is ours to finish: no answer will come
    await this._sendAndSettle(pc, answer, "answer");
  }

  /**
   * Send this stream's first SDP (`offer`, or `answer` to the kernel's offer) while
   * setLocalDescription runs, then what waited for it; the stream's timers start.
   * @param {any} pc
   * @param {any} description
   * @param {"offer" | "answer"} type
   */
  async _sendAndSettle(pc, description, type) {
    const env = this.env;
    const offer = description;
    // The offer goes to the kernel while setLocalDescription runs, not after it: it is
    // the very SDP being set (ICE credentials and fingerprint final, candidates trickle
    // after it), and the browser applies the kernel's answer only once this settles
    // (the pc's operations chain). Its promise settles on the page's main thread, which
    // JupyterLab keeps busy as a cell ends: traced 5-16 ms (median) that the kernel now
    // spends making its answer instead of waiting. A rejection fails the stream below.
    const settingLocal = pc.setLocalDescription(offer);
    // Sent at once: candidates trickle after it, so ICE gathering is not waited for.
    this._send(type, {
      sdp: offer.sdp,
      kind: this.kind,
      page: this.router.pageId,
      view: this.viewId,
    });
    this._offerSent = true;
    this.setState({ type: "offer-sent" });
    for (const [queued, payload] of this._outbox.splice(0)) this._send(queued, payload);
    this._flushNow(); // the offer and what waited for it
    await settingLocal;
    if (this.closed) return;
    this._sendPcState();
    this._flushNow(); // and the candidates gathered while it settled
    this._heartbeat.start();
    this._startStats(statsInterval(this.model.get("stats_interval")));
    if (this.transportMode === "auto") {
      this._fallbackTimer = env.setTimeout(() => fallBack(this), COMM_FALLBACK_MS);
    }
  }

  /**
   * Send what the router holds for this stream as one batch now, not BATCH_MS later (a
   * page's router from an older bundle has no flushNow).
   */
  _flushNow() {
    if (typeof this.router.flushNow === "function") this.router.flushNow(this.id);
  }

  /**
   * Open the control channel on `pc` (the previous pc's, if any, is the caller's to
   * close) and hear the kernel's pings on it (control.js).
   * @param {any} pc
   */
  _openControl(pc) {
    this._link.attach(pc.createDataChannel(CONTROL_CHANNEL), this._abort.signal);
  }

  /**
   * Send a periodic report (`stats`) on the control channel when it is open, else
   * through the comm like any message.
   * @param {string} type
   * @param {any} payload
   * @returns {boolean}
   */
  _report(type, payload) {
    if (this._registered && this._link.send(type, payload)) return true;
    return this._send(type, payload);
  }

  /**
   * The heartbeat is due: a ping on the control channel when it is open, and through
   * the comm as Session sends it unless the channel works and the comm had the previous
   * one (control.js: the comm stays the safety net of liveness).
   */
  _beat() {
    if (!this._registered || this._link.beat()) super._beat();
  }

  /**
   * Send the pc's filtered getStats to the kernel (the Inspector, `stats()`), at most
   * one sample in flight: a frozen page does not pile up getStats calls.
   */
  async _sampleStats() {
    const pc = this.pc;
    const comm = [this._uplink?.stats(), this._downlink?.stats(), this._audioUp?.stats(), this._audioDown?.stats()]
      .filter((r) => r !== undefined);
    if (this.closed || (!pc && !comm.length) || this._statsBusy || !this._answerSeen) return;
    this._statsBusy = true;
    try {
      const reports = pc ? await collectStats(pc) : [];
      reports.push(...comm);
      if (!this.closed && reports.length) {
        // the route a sample takes: the control channel (one per pc) or the comm
        const route = this._registered && this._link.open ? this._link.dc : "comm";
        this._statsSentAt = this.env.now();
        this._report("stats", { t: this._statsSentAt, ...this._statsDelta.pack(reports, route) });
      }
    } finally {
      this._statsBusy = false;
    }
  }

  /**
   * Listeners go through the AbortController so close() removes them all at once.
   * @param {any} pc
   */
  _wire(pc) {
    const options = {
      signal: this._abort.signal,
      // a pc replaced by freshPeer (or dropped for the comm) says nothing any more
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
        url: clipText(ev.url, 1024),
        code: Number.isInteger(ev.errorCode) ? ev.errorCode : 0,
        text: clipText(ev.errorText, 256),
      });
    });
    on("connectionstatechange", () => {
      this._sendPcState();
      if (pc.connectionState === "connected") {
        this._connectedOnce = true;
        if (this._fallbackTimer !== null) this.env.clearTimeout(this._fallbackTimer);
        this._fallbackTimer = null;
        if (this._commAsked) backToWebrtc(this);
        else this.transport = "webrtc";
      } else if (
        pc.connectionState === "failed" &&
        (this._commAsked || (this.transportMode === "auto" && !this._connectedOnce))
      ) {
        // WebRTC cannot connect here: the comm carries the stream instead of failing it
        fallBack(this, "WebRTC failed before it connected");
        dropPc(this, "the connection failed");
        return;
      }
      if (this._path.connectionChanged(pc.connectionState)) return; // the kernel restores it
      // Answering the kernel's offer, a connected pc proves the kernel took the answer
      // (its DTLS needs it), maybe before its "connecting" state crossed: the device opens.
      if (pc.connectionState === "connected" && this.answering && this.sending) this._openDevice();
      if (pc.connectionState === "connected") this.setState({ type: "connected" });
      else if (pc.connectionState === "failed") this.fail(iceFailed());
    });
    on("iceconnectionstatechange", () => this._sendPcState());
    on("icegatheringstatechange", () => this._sendPcState());
    on("signalingstatechange", () => this._sendPcState());
    on("track", (ev) => this._onTrack(ev));
    on("datachannel", (ev) => this.channels.adopt(ev.channel));
  }

  /**
   * A `track` event of this stream's pc (or one the early answer kept for it).
   * @param {any} ev
   */
  _onTrack(ev) {
    const track = ev?.track;
    if (!track) return;
    // A microphone receives nothing; a camera or screen only its processed video.
    if (this.kind === "microphone") return;
    if ((this.kind === "camera" || this.kind === "screen") && track.kind !== "video") return;
    if (track.kind === "video") this.applyJitterBuffer(); // its receiver is among the pc's
    this._addRemoteTrack(track, ev.streams?.[0]);
  }

  /**
   * Every video receiver of this stream's pc takes the `jitter_buffer_ms` trait's target:
   * called when the trait changes (widget.js) and for each new video track.
   */
  applyJitterBuffer() {
    const pc = this.pc;
    if (!pc || this.closed || typeof pc.getReceivers !== "function") return;
    const ms = jitterTarget(this.model.get("jitter_buffer_ms"));
    for (const receiver of pc.getReceivers()) {
      if (receiver.track?.kind === "video") applyJitterTarget(receiver, ms, this.env.log);
    }
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

  /**
   * A validated kernel message for this stream (Session.handleKernelMessage, called by
   * the router, fed the watchdog already).
   * @param {Envelope} msg
   * @param {any[]} [buffers] a comm frame's JPEG
   */
  _onKernelMessage(msg, buffers) {
    const payload = msg.payload;
    switch (msg.type) {
      case "offer":
        if (!this.watching) {
          this.env.log.debug(`[nbrtc] ${this.id}: ignoring an offer: this view offers itself`);
          return;
        }
        this._applyServerOffer(payload.sdp).catch((err) =>
          this.env.log.error("[nbrtc] answering the server's offer failed", err),
        );
        return;
      case "answer":
        if (this._reoffering) {
          applyReanswer(this, payload.sdp).catch((err) =>
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
        if (payload.state === "connecting" && this.answering && this.state.name === "negotiating") {
          // the kernel took this view's answer to its offer: the exchange is complete
          this._watchdog.start();
          this.setState({ type: "answer-applied" });
          if (this.pc?.connectionState === "connected") this.setState({ type: "connected" });
          if (this.sending) this._openDevice();
        } else if (payload.state === "connecting" && this.sending && this._offerSent) {
          // the kernel holds the stream now: the device may open (see _run)
          this._openDevice();
          this._notify();
        } else if (payload.state === "closed") {
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
        renegotiate(this, payload).catch((err) =>
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
          rollbackReoffer(this).catch(() => {});
          return;
        }
        // An error never closes a healthy stream, but a refused offer means there is
        // no stream: nothing will ever answer it, so say why and release the camera.
        // The kernel holds nothing for it, so there is nobody to send error/bye to.
        if (payload.ref?.type === "answer" && this.answering && this.state.name === "negotiating") {
          // Another view or page answered the kernel's offer first, or it expired: this
          // peer goes without a word to the kernel, and the view starts one that offers.
          this.close("kernel-offer-taken", { notify: false });
          this._onOfferRefused?.(String(payload.code ?? ""));
          return;
        }
        if ((payload.ref?.type === "offer" || payload.ref?.type === "watch") && this.state.name === "negotiating") {
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
          commConfirmed(this).catch((err) => this.env.log.error("[nbrtc] starting the comm failed", err));
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

  /**
   * The media server's offer, relayed by the kernel (a `watch` stream): answer it once
   * (answerer.js); the kernel hands the answer to the server. Never rejects.
   * @param {string} sdp
   */
  async _applyServerOffer(sdp) {
    if (this.state.name !== "negotiating" || this._answerSeen || !this.pc) {
      this.env.log.debug(`[nbrtc] ${this.id}: ignoring an offer in state ${this.state.name}`);
      return;
    }
    this._answerSeen = true;
    this._watchdog.start();
    const pc = this.pc;
    let answer;
    try {
      answer = await answerOffer(pc, sdp, () => this.closed || this.pc !== pc);
    } catch (err) {
      if (!this.closed) this.fail(describeError(err));
      return;
    }
    if (answer === null) return;
    this._send("answer", { sdp: answer });
    this.setState({ type: "answer-applied" });
    if (pc.connectionState === "connected") this.setState({ type: "connected" });
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
    if (this.sending) await this._openDevice();
  }

  /**
   * Open the device once the kernel accepted the stream (its "connecting" state, its
   * answer, or the comm's confirmation: whichever comes first), at most once per peer.
   * A device error fails the stream. Never rejects.
   * @returns {Promise<void>}
   */
  _openDevice() {
    if (this.closed) return Promise.resolve();
    if (!this._deviceOpening) {
      this._deviceOpening = acquireDevice(this).catch((err) => {
        if (!this.closed) this.fail(describeError(err, this._device()));
      });
    }
    return this._deviceOpening;
  }

  /** The camera's video to the kernel over the comm, once it runs (device.js calls it). */
  _startUplink() {
    startUplink(this);
  }

  /**
   * New `constraints` for a live screen share (device.js applyScreenConstraints): applied
   * to its track, so the user is not asked to pick a screen again. Never rejects.
   * @returns {Promise<boolean>} whether they were applied
   */
  applyVideoConstraints() {
    return applyScreenConstraints(this);
  }

  /** The user stopped the screen share from the browser: a normal close, with words. */
  _screenEnded() {
    if (this.closed) return;
    this.words = SCREEN_ENDED_WORDS;
    this.close("ended");
  }

  /**
   * The final state (Session.close / fail), through the one reducer.
   * @param {{name: "closed" | "error", reason: string}} state
   */
  _enterFinal(state) {
    if (state.name === "error") this.setState({ type: "fail", reason: state.reason });
    else this.setState({ type: "close", reason: state.reason });
  }

  /** The stream's own parts, in order (Session._teardown stopped the timers already). */
  _release() {
    const env = this.env;
    const log = env.log;
    guard(log, "removing listeners", () => this._abort.abort());
    guard(log, "stopping the path watch", () => this._path.stop());
    guard(log, "clearing the comm fallback timer", () => {
      if (this._fallbackTimer !== null) env.clearTimeout(this._fallbackTimer);
    });
    this._fallbackTimer = null;
    stopComm(this);
    this._outbox = [];
    stopTracks(this.localStream);
    // Channels close with the pc anyway; closing them first also reports each label's
    // end to the view and drops queued messages.
    guard(log, "closing data channels", () => this.channels.close());
    guard(log, "closing the control channel", () => this._link.close());
    if (this.pc) {
      guard(log, "pc.close", () => this.pc.close());
      this.pc = null;
    }
    // Received tracks end with the pc; stopping them too costs nothing.
    stopTracks(this.remoteStream);
    this.localStream = null;
    this.remoteStream = null;
  }
}
