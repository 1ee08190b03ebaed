// A room member: one view of an nbrtc.Room. Members form a full mesh: this view holds
// one RTCPeerConnection to every other member (in this page or another tab on the same
// kernel), each sending this view's camera. The kernel is only the signaling server: it
// admits members (`join` -> `members`) and relays `signal` messages between them.
//
//   join ---------------------------------> kernel: member list, seq = join order
//   <-------------------------------------- members {you, room, members: [{id, page, seq}]}
//   getUserMedia (once admitted: a refused or closed room never turns the camera on)
//   per other member: a pc; the member with the HIGHER seq offers (no glare):
//   signal {to, data: offer|answer|candidate} -> kernel -> signal {from, data}
//   state {peer, connection, ice, signaling, gathering} on every change, stats {peer, ...}
//   every second, a ping at each 1 s beat when nothing else went out; bye when this view goes.
//
// Every await is followed by a closed check (the member's and the link's): whatever a
// late promise produced is dropped, never used. Browser globals are looked up lazily
// (defaultEnv) so node can import this file.

import { guard, stopTracks } from "../core/cleanup.js";
import { describeError, deviceFor, kernelGone } from "../core/errors.js";
import { listen } from "../core/listen.js";
import { defaultEnv, peerConfig } from "../peer/peer.js";
import { IceServersRequest, needsCredentials, withIceServers } from "../transport/ice.js";
import { Heartbeat, KernelWatchdog } from "../core/liveness.js";
import { createRoomView } from "./room-view.js";

export const STATS_INTERVAL_MS = 1000;
/** Reports kept per stats sample (the kernel accepts 300; a link has about a dozen). */
export const MAX_ROOM_REPORTS = 40;
const MAX_STRING = 512;

/**
 * @typedef {import("../core/router.js").Router} Router
 * @typedef {import("../core/router.js").ModelLike} ModelLike
 * @typedef {import("../core/protocol.js").Envelope} Envelope
 * @typedef {import("../peer/peer.js").PeerEnv} PeerEnv
 * @typedef {{id: string, page?: string, seq: number}} MemberInfo
 *
 * One pc to one other member.
 * @typedef {{
 *   id: string,
 *   seq: number,
 *   offerer: boolean,
 *   pc: any,
 *   closed: boolean,
 *   remoteSet: boolean,
 *   pending: any[],
 *   outbox: any[],
 *   descSent: boolean,
 *   answered: boolean,
 *   chain: Promise<void>,
 *   remoteStream: any,
 *   stateKey: string,
 *   statsBusy: boolean,
 *   failed: string,
 *   abort: AbortController,
 * }} Link
 *
 * What the view draws.
 * @typedef {{
 *   id: string,
 *   room: string,
 *   state: {name: string, reason: string},
 *   words: string,
 *   members: number,
 *   local: any,
 *   peers: {id: string, seq: number, state: string, stream: any, failed: string}[],
 * }} RoomSnapshot
 */

/**
 * Which side of a pair makes the offer: the member that joined later (higher seq).
 * Both sides compute the same answer from the kernel's list, so offers never cross.
 * @param {number} mySeq
 * @param {number} theirSeq
 * @returns {boolean} true when this member offers
 */
export function isOfferer(mySeq, theirSeq) {
  return mySeq > theirSeq;
}

/** The getStats fields kept per report type (scalars only; besides id, type, timestamp). */
const STATS_FIELDS = Object.freeze({
  "candidate-pair": [
    "transportId",
    "localCandidateId",
    "remoteCandidateId",
    "state",
    "nominated",
    "selected",
    "bytesSent",
    "bytesReceived",
    "currentRoundTripTime",
    "availableOutgoingBitrate",
  ],
  "local-candidate": ["address", "ip", "port", "protocol", "candidateType", "networkType"],
  "remote-candidate": ["address", "ip", "port", "protocol", "candidateType"],
  transport: ["selectedCandidatePairId", "dtlsState", "iceState", "iceRole", "bytesSent", "bytesReceived"],
  "outbound-rtp": [
    "kind",
    "ssrc",
    "bytesSent",
    "packetsSent",
    "framesSent",
    "framesEncoded",
    "framesPerSecond",
    "frameWidth",
    "frameHeight",
    "qualityLimitationReason",
  ],
  "inbound-rtp": [
    "kind",
    "ssrc",
    "bytesReceived",
    "packetsReceived",
    "packetsLost",
    "jitter",
    "framesReceived",
    "framesDecoded",
    "framesDropped",
    "framesPerSecond",
    "frameWidth",
    "frameHeight",
  ],
  "remote-inbound-rtp": ["kind", "ssrc", "packetsLost", "jitter", "roundTripTime", "fractionLost"],
});

/**
 * One report as a flat object of scalars (what the kernel accepts), or null.
 * @param {any} report
 * @returns {Record<string, any> | null}
 */
function flatten(report) {
  const fields = STATS_FIELDS[/** @type {keyof typeof STATS_FIELDS} */ (report?.type)];
  if (!fields || typeof report.id !== "string" || report.id.length > 256) return null;
  /** @type {Record<string, any>} */
  const out = { id: report.id, type: report.type };
  if (typeof report.timestamp === "number" && Number.isFinite(report.timestamp)) {
    out.timestamp = report.timestamp;
  }
  for (const key of fields) {
    const value = report[key];
    if (typeof value === "number" ? Number.isFinite(value) : typeof value === "boolean") {
      out[key] = value;
    } else if (typeof value === "string" && value.length <= MAX_STRING) {
      out[key] = value;
    }
  }
  return out;
}

/**
 * A link's getStats result, filtered for the kernel: the selected candidate pair (or the
 * nominated, succeeded ones while the transport names none) with its two candidates,
 * the transport, and the RTP reports; at most MAX_ROOM_REPORTS. Never throws.
 * @param {any} statsReport an RTCStatsReport (anything with forEach), or an array
 * @returns {Record<string, any>[]}
 */
export function filterRoomStats(statsReport) {
  /** @type {any[]} */
  const all = [];
  try {
    if (Array.isArray(statsReport)) all.push(...statsReport);
    else statsReport?.forEach?.((/** @type {any} */ r) => all.push(r));
  } catch {
    return [];
  }
  const byId = new Map(all.filter((r) => r && typeof r.id === "string").map((r) => [r.id, r]));
  const transports = all.filter((r) => r?.type === "transport");
  /** @type {any[]} */
  let pairs = transports
    .map((t) => byId.get(t.selectedCandidatePairId))
    .filter((p) => p && p.type === "candidate-pair");
  if (!pairs.length) {
    pairs = all.filter(
      (r) => r?.type === "candidate-pair" && (r.selected === true || (r.nominated === true && r.state === "succeeded")),
    );
  }
  const candidates = pairs.flatMap((p) => [byId.get(p.localCandidateId), byId.get(p.remoteCandidateId)]);
  const rtp = all.filter((r) => ["outbound-rtp", "inbound-rtp", "remote-inbound-rtp"].includes(r?.type));
  const out = [];
  const seen = new Set();
  for (const r of [...transports, ...pairs, ...candidates, ...rtp]) {
    if (!r || seen.has(r)) continue;
    seen.add(r);
    const flat = flatten(r);
    if (flat) out.push(flat);
    if (out.length >= MAX_ROOM_REPORTS) break;
  }
  return out;
}

/**
 * getUserMedia constraints from the room's traits (wishes, not demands).
 * @param {ModelLike} model
 * @returns {{video: MediaTrackConstraints, audio: boolean}}
 */
export function roomConstraints(model) {
  const num = (/** @type {unknown} */ v) => typeof v === "number" && Number.isFinite(v) && v > 0;
  /** @type {Record<string, any>} */
  const video = {};
  const width = model.get("width");
  const height = model.get("height");
  const rate = model.get("frame_rate");
  if (num(width)) video.width = { ideal: width };
  if (num(height)) video.height = { ideal: height };
  if (num(rate)) video.frameRate = { ideal: rate };
  return { video, audio: model.get("audio") === true };
}

/** Words for the kernel's `bye` reasons. */
const BYE_WORDS = Object.freeze({
  closed: "The room was closed.",
  limit:
    "The room is full (max_members). Close another view of it, or make the room with a higher max_members.",
  "browser-gone": "The kernel heard nothing from this view for a while and dropped it. Run the cell again.",
  "wrong-kind": "The kernel refused this view (wrong kind). Restart the kernel and reload the page.",
});

export class RoomMember {
  /**
   * @param {{
   *   model: ModelLike,
   *   router: Router,
   *   env?: Partial<PeerEnv>,
   *   onChange?: (snapshot: RoomSnapshot) => void,
   * }} options
   */
  constructor({ model, router, env, onChange }) {
    this.model = model;
    this.router = router;
    this.env = { ...defaultEnv(), ...env };
    this.kind = "room";
    this.id = router.nextStreamId();
    this.viewId = router.nextViewId();
    this.onChange = onChange ?? (() => {});
    /** joining -> acquiring -> ready; the displayed state derives from it (see _derive) */
    this.phase = "idle";
    /** @type {{name: string, reason: string}} */
    this.state = { name: "idle", reason: "" };
    this.words = "";
    this.closed = false;
    this.room = "";
    /** @type {number | null} this member's seq, from the kernel's list */
    this.seq = null;
    /** @type {MemberInfo[]} */
    this.members = [];
    /** @type {Map<string, Link>} */
    this.links = new Map();
    /** Members that left: their late signals are dropped, no link is made for them. */
    /** @type {Set<string>} */
    this.gone = new Set();
    /** @type {any} */
    this.localStream = null;
    /** @type {Promise<any> | null} the camera: resolves to the stream, or null (failed/closed) */
    this._media = null;
    this._started = false;
    this._registered = false;
    this._joinSent = false;
    /** Pings the kernel when nothing else went out for a while (started with the join). */
    this._heartbeat = new Heartbeat(this.env, () => this._send("ping", { t: this.env.now() }));
    /** @type {any} */
    this._statsTimer = null;
    /** Leaves the room when the kernel falls silent (armed once admitted). */
    this._watchdog = new KernelWatchdog(this.env, () => this.kernelGone());
    /** @type {IceServersRequest | null} the pending ask for TURN logins (ice.js) */
    this._iceRequest = null;
    /** @type {unknown} the RTCConfiguration every link's pc is made with (set at join) */
    this._rtcConfig = null;
  }

  /** @returns {RoomSnapshot} */
  snapshot() {
    return {
      id: this.id,
      room: this.room,
      state: this.state,
      words: this.words,
      members: this.members.length,
      local: this.localStream,
      peers: [...this.links.values()].map((l) => ({
        id: l.id,
        seq: l.seq,
        state: l.closed ? "closed" : String(l.pc?.connectionState ?? "new"),
        stream: l.remoteStream,
        failed: l.failed,
      })),
    };
  }

  /** The state a person sees, derived from the phase and the links. */
  _derive() {
    if (this.closed) return this.state.name;
    if (this.phase !== "ready") return this.phase;
    const open = [...this.links.values()].filter((l) => !l.closed);
    if (open.some((l) => l.pc?.connectionState === "connected")) return "live";
    return open.length ? "connecting" : "waiting";
  }

  /** The one place the state changes (logged once as `old -> new`); then redraw. */
  _refresh() {
    const name = this._derive();
    if (name !== this.state.name) {
      this.env.log.info(`[nbrtc] room ${this.id} ${this.state.name} -> ${name}`);
      this.state = { name, reason: "" };
    }
    try {
      this.onChange(this.snapshot());
    } catch (err) {
      this.env.log.error("[nbrtc] room view update failed", err);
    }
  }

  /**
   * @param {string} type
   * @param {any} payload
   */
  _send(type, payload) {
    if (!this._registered) return false;
    const sent = this.router.send(this.id, type, payload);
    if (sent && type !== "ping") this._heartbeat.sent();
    return sent;
  }

  /**
   * @param {string} to
   * @param {any} data
   */
  _signal(to, data) {
    if (!this.closed) this._send("signal", { to, data });
  }

  /** Join the room. Once only; never throws. */
  start() {
    if (this._started || this.closed) return;
    this._started = true;
    try {
      this.router.register(this.id, this, this.model);
      this._registered = true;
    } catch (err) {
      this.fail(describeError(err), { tellKernel: false });
      return;
    }
    this.phase = "joining";
    const rtcConfig = this.model.get("rtc_config");
    if (needsCredentials(rtcConfig)) {
      // TURN logins are not in the trait (saved with the notebook): ask the kernel
      // first (ice-servers, bounded, see ice.js), so every link's pc has them.
      this._joinWithLogins(rtcConfig);
      this._refresh();
      return;
    }
    this._join(rtcConfig);
  }

  /**
   * Ask the kernel for the full ICE servers, then join; fail in words when they never
   * come. Never rejects.
   * @param {unknown} rtcConfig the trait (URLs only)
   */
  async _joinWithLogins(rtcConfig) {
    const request = new IceServersRequest(this.env);
    this._iceRequest = request;
    if (!this._send("ice-servers", null)) request.refused("closed", "the room's comm is closed");
    const servers = await request.promise;
    this._iceRequest = null;
    if (this.closed) return;
    if (!Array.isArray(servers)) {
      if (servers) this.fail(servers.failed);
      return;
    }
    this._join(withIceServers(rtcConfig, servers));
  }

  /**
   * Send the join; every link's pc is made with `rtcConfig`.
   * @param {unknown} rtcConfig
   */
  _join(rtcConfig) {
    this._rtcConfig = rtcConfig;
    this._send("join", { page: this.router.pageId, view: this.viewId });
    this._joinSent = true;
    this._heartbeat.start();
    this._statsTimer = this.env.setInterval(() => this._sampleStats(), STATS_INTERVAL_MS);
    this._refresh();
  }

  /**
   * A validated kernel message for this member (called by the router).
   * @param {Envelope} msg
   */
  handleKernelMessage(msg) {
    if (this.closed) return;
    this._watchdog.heard();
    const p = msg.payload;
    switch (msg.type) {
      case "members":
        this._onMembers(p);
        return;
      case "signal":
        this._onSignal(p.from, p.data);
        return;
      case "state":
        if (p.state === "closed") this.close("closed", { notify: false });
        return;
      case "bye": {
        const reason = p && typeof p.reason === "string" ? p.reason : "closed";
        this.words = Object.hasOwn(BYE_WORDS, reason)
          ? BYE_WORDS[/** @type {keyof typeof BYE_WORDS} */ (reason)]
          : `Closed by the kernel (${reason}).`;
        this.close(reason, { notify: false });
        return;
      }
      case "ice-servers":
        this._iceRequest?.answered(p);
        return;
      case "error":
        this.env.log.warn(`[nbrtc] room ${this.id}: kernel refused ${p.ref?.type}: ${p.code}: ${p.message}`);
        if (p.ref?.type === "ice-servers" && this._iceRequest) {
          this._iceRequest.refused(p.code, p.message);
          return;
        }
        // A refused join means this view is not a member: nothing will ever connect.
        if (p.ref?.type === "join") {
          this.fail(
            { name: "JoinRefused", message: `${p.code}: ${p.message}`, words: `The kernel refused this view: ${p.message}` },
            { tellKernel: false },
          );
        }
        return;
      default:
        return; // ping: only feeds the watchdog
    }
  }

  /** @param {{you: string, room?: string, members: MemberInfo[]}} payload */
  _onMembers(payload) {
    if (payload.you !== this.id) return;
    const me = payload.members.find((m) => m.id === this.id);
    if (!me) return;
    this.room = typeof payload.room === "string" ? payload.room : "";
    this.members = payload.members.map((m) => ({ id: m.id, page: m.page, seq: m.seq }));
    if (this.seq === null) {
      // Admitted: now the camera may open, and the kernel's pings are expected.
      this.seq = me.seq;
      this._watchdog.start();
      this.phase = "acquiring";
      this._media = this._acquire();
    }
    const others = new Map(this.members.filter((m) => m.id !== this.id).map((m) => [m.id, m]));
    for (const id of [...this.links.keys()]) {
      if (!others.has(id)) {
        this.gone.add(id);
        this._closeLink(id);
      }
    }
    for (const m of others.values()) {
      const link = this.links.get(m.id);
      if (link) link.seq = m.seq;
      else if (!this.gone.has(m.id)) this._openLink(m.id, m.seq);
    }
    this._refresh();
  }

  /** Open the camera (after admission). Resolves to the stream, or null; never rejects. */
  async _acquire() {
    const md = this.env.mediaDevices;
    const { video, audio } = roomConstraints(this.model);
    try {
      if (!md || typeof md.getUserMedia !== "function") {
        throw Object.assign(new Error("navigator.mediaDevices.getUserMedia is not available"), {
          name: "SecurityError",
        });
      }
      const stream = await md.getUserMedia({ video, audio });
      if (this.closed) {
        stopTracks(stream);
        return null;
      }
      this.localStream = stream;
      this.phase = "ready";
      this._refresh();
      return stream;
    } catch (err) {
      if (!this.closed) this.fail(describeError(err, deviceFor("camera", audio)));
      return null;
    }
  }

  /**
   * @param {string} id
   * @param {number} seq
   * @returns {Link}
   */
  _openLink(id, seq) {
    const PC = this.env.RTCPeerConnection;
    const pc = new PC(peerConfig(this._rtcConfig));
    /** @type {Link} */
    const link = {
      id,
      seq,
      offerer: this.seq !== null && isOfferer(this.seq, seq),
      pc,
      closed: false,
      remoteSet: false,
      pending: [],
      outbox: [],
      descSent: false,
      answered: false,
      chain: Promise.resolve(),
      remoteStream: null,
      stateKey: "",
      statsBusy: false,
      failed: "",
      // Its own controller: closing the link removes its listeners, the member's
      // teardown closes every link.
      abort: new AbortController(),
    };
    this.links.set(id, link);
    this._wire(link);
    if (link.offerer) this._enqueue(link, () => this._offer(link));
    return link;
  }

  /**
   * Run `step` after the link's earlier signaling steps (offers and answers apply in
   * the order they arrived). A failing step is logged; it never rejects the chain.
   * @param {Link} link
   * @param {() => Promise<void>} step
   */
  _enqueue(link, step) {
    link.chain = link.chain
      .then(() => (this.closed || link.closed ? undefined : step()))
      .catch((err) => {
        if (this.closed || link.closed) return;
        this.env.log.warn(`[nbrtc] room ${this.id}: signaling with ${link.id} failed`, err);
        link.failed = describeError(err).words;
        this._refresh();
      });
  }

  /** @param {Link} link */
  _wire(link) {
    const pc = link.pc;
    const opts = {
      signal: link.abort.signal,
      isClosed: () => this.closed || link.closed,
      log: this.env.log,
      what: "room pc ",
    };
    /**
     * @param {string} type
     * @param {(ev: any) => void} fn
     */
    const on = (type, fn) => listen(pc, type, fn, opts);
    on("icecandidate", (ev) => {
      const c = ev.candidate;
      // The end of candidates needs no message: both sides go on with what they have.
      if (!c || !c.candidate) return;
      const data = {
        type: "candidate",
        candidate: { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null },
      };
      if (link.descSent) this._signal(link.id, data);
      else link.outbox.push(data);
    });
    const report = () => this._reportLink(link);
    on("connectionstatechange", () => {
      report();
      if (pc.connectionState === "failed") {
        link.failed = `The connection to ${link.id} failed (ICE found no path between the two browsers).`;
      } else if (pc.connectionState === "connected") {
        link.failed = "";
      }
      this._refresh();
    });
    on("iceconnectionstatechange", report);
    on("signalingstatechange", report);
    on("icegatheringstatechange", report);
    on("track", (ev) => {
      const track = ev.track;
      if (!track) return;
      if (!link.remoteStream) {
        const MS = this.env.MediaStream;
        link.remoteStream = ev.streams?.[0] ?? (typeof MS === "function" ? new MS([]) : null);
      }
      const remote = link.remoteStream;
      if (remote && typeof remote.getTracks === "function" && !remote.getTracks().includes(track)) {
        guard(this.env.log, "adding a remote track", () => remote.addTrack(track));
      }
      this._refresh();
    });
  }

  /**
   * Report a link's pc states to the kernel, once per distinct combination.
   * @param {Link} link
   */
  _reportLink(link) {
    const pc = link.pc;
    if (!pc || link.closed || this.closed) return;
    const payload = {
      connection: String(pc.connectionState ?? ""),
      ice: String(pc.iceConnectionState ?? ""),
      signaling: String(pc.signalingState ?? ""),
      gathering: String(pc.iceGatheringState ?? ""),
      peer: link.id,
    };
    const key = `${payload.connection}/${payload.ice}/${payload.signaling}/${payload.gathering}`;
    if (key === link.stateKey) return;
    link.stateKey = key;
    this._send("state", payload);
  }

  /**
   * Put the local tracks on an offering pc: one sendrecv transceiver per kind (recvonly
   * when there is no such track).
   * @param {Link} link
   * @param {any} local
   */
  _addLocalForOffer(link, local) {
    const kinds = ["video", ...(roomConstraints(this.model).audio ? ["audio"] : [])];
    for (const kind of kinds) {
      const track = local?.getTracks?.().find((/** @type {any} */ t) => t.kind === kind);
      if (track) link.pc.addTransceiver(track, { direction: "sendrecv", streams: [local] });
      else link.pc.addTransceiver(kind, { direction: "recvonly" });
    }
  }

  /**
   * Put the local tracks on the transceivers an offer created (answering side).
   * @param {Link} link
   * @param {any} local
   */
  async _addLocalForAnswer(link, local) {
    const used = new Set();
    for (const tx of link.pc.getTransceivers?.() ?? []) {
      const kind = tx.receiver?.track?.kind;
      const track = local?.getTracks?.().find((/** @type {any} */ t) => t.kind === kind && !used.has(t));
      if (!track) continue;
      used.add(track);
      tx.direction = "sendrecv";
      await tx.sender.replaceTrack(track);
      if (this.closed || link.closed) return;
      guard(this.env.log, "setting the sender's stream", () => tx.sender.setStreams?.(local));
    }
  }

  /** @param {Link} link */
  async _offer(link) {
    const local = await this._media;
    if (this.closed || link.closed) return;
    this._addLocalForOffer(link, local);
    const offer = await link.pc.createOffer();
    if (this.closed || link.closed) return;
    await link.pc.setLocalDescription(offer);
    if (this.closed || link.closed) return;
    this._signal(link.id, { type: "offer", sdp: link.pc.localDescription?.sdp ?? offer.sdp });
    this._descSent(link);
  }

  /**
   * @param {Link} link
   * @param {string} sdp
   */
  async _answer(link, sdp) {
    if (link.answered) {
      this.env.log.warn(`[nbrtc] room ${this.id}: a second offer from ${link.id} was ignored`);
      return;
    }
    link.answered = true;
    const local = await this._media;
    if (this.closed || link.closed) return;
    await link.pc.setRemoteDescription({ type: "offer", sdp });
    if (this.closed || link.closed) return;
    this._remoteSet(link);
    await this._addLocalForAnswer(link, local);
    if (this.closed || link.closed) return;
    const answer = await link.pc.createAnswer();
    if (this.closed || link.closed) return;
    await link.pc.setLocalDescription(answer);
    if (this.closed || link.closed) return;
    this._signal(link.id, { type: "answer", sdp: link.pc.localDescription?.sdp ?? answer.sdp });
    this._descSent(link);
  }

  /**
   * @param {Link} link
   * @param {string} sdp
   */
  async _applyAnswer(link, sdp) {
    if (!link.offerer || link.remoteSet || link.pc.signalingState !== "have-local-offer") {
      this.env.log.debug(`[nbrtc] room ${this.id}: ignored an answer from ${link.id}`);
      return;
    }
    await link.pc.setRemoteDescription({ type: "answer", sdp });
    if (this.closed || link.closed) return;
    this._remoteSet(link);
  }

  /**
   * The remote description is set: candidates that came before it can be added now.
   * @param {Link} link
   */
  _remoteSet(link) {
    link.remoteSet = true;
    for (const c of link.pending.splice(0)) this._addCandidate(link, c);
  }

  /**
   * Our description went out: candidates gathered meanwhile follow it.
   * @param {Link} link
   */
  _descSent(link) {
    link.descSent = true;
    for (const data of link.outbox.splice(0)) this._signal(link.id, data);
  }

  /**
   * @param {Link} link
   * @param {any} candidate
   */
  _addCandidate(link, candidate) {
    Promise.resolve()
      .then(() => link.pc.addIceCandidate(candidate))
      .catch((/** @type {unknown} */ err) => {
        if (!link.closed) this.env.log.debug(`[nbrtc] room ${this.id}: candidate from ${link.id} not added`, err);
      });
  }

  /**
   * A signal another member sent this member, relayed by the kernel.
   * @param {string} from
   * @param {any} data
   */
  _onSignal(from, data) {
    if (from === this.id || this.gone.has(from)) {
      this.env.log.debug(`[nbrtc] room ${this.id}: dropped ${data.type} from ${from}`);
      return;
    }
    let link = this.links.get(from);
    if (!link) {
      if (data.type === "bye") return;
      // The kernel relays only between members, and its member list always reaches us
      // before a newcomer's offer; this is a fallback (the sender offered, so we answer).
      link = this._openLink(from, Number.NEGATIVE_INFINITY);
    }
    const l = link;
    switch (data.type) {
      case "offer":
        if (l.offerer) {
          this.env.log.warn(`[nbrtc] room ${this.id}: ${from} offered although this side offers`);
          return;
        }
        this._enqueue(l, () => this._answer(l, data.sdp));
        return;
      case "answer":
        this._enqueue(l, () => this._applyAnswer(l, data.sdp));
        return;
      case "candidate": {
        const c = data.candidate;
        if (!c || !c.candidate) return; // end of candidates
        if (l.remoteSet) this._addCandidate(l, c);
        else l.pending.push(c);
        return;
      }
      case "bye":
        this.gone.add(from);
        this._closeLink(from);
        this._refresh();
        return;
      default:
        return;
    }
  }

  /**
   * Close the pc to member `id` (it left, or said bye), and forget it.
   * @param {string} id
   */
  _closeLink(id) {
    const link = this.links.get(id);
    if (!link) return;
    this.links.delete(id);
    this._shutLink(link);
  }

  /** @param {Link} link */
  _shutLink(link) {
    if (link.closed) return;
    link.closed = true;
    guard(this.env.log, "removing the link's listeners", () => link.abort.abort());
    link.pending = [];
    link.outbox = [];
    guard(this.env.log, "pc.close", () => link.pc?.close());
    stopTracks(link.remoteStream);
    link.remoteStream = null;
  }

  /** Every STATS_INTERVAL_MS: each link's filtered getStats (one sample in flight each). */
  _sampleStats() {
    if (this.closed) return;
    for (const link of this.links.values()) {
      const pc = link.pc;
      if (link.closed || link.statsBusy || typeof pc?.getStats !== "function") continue;
      if (pc.connectionState === "new" && !link.descSent) continue;
      link.statsBusy = true;
      Promise.resolve()
        .then(() => pc.getStats())
        .then((/** @type {any} */ report) => {
          if (this.closed || link.closed) return;
          this._send("stats", { t: this.env.now(), peer: link.id, reports: filterRoomStats(report) });
        })
        .catch((/** @type {unknown} */ err) => this.env.log.debug("[nbrtc] room getStats failed", err))
        .finally(() => {
          link.statsBusy = false;
        });
    }
  }

  /**
   * The kernel is gone (restart, shutdown, silence): close without telling it.
   * @param {string} [why]
   */
  kernelGone(why) {
    if (this.closed) return;
    this.words = kernelGone(why).words;
    this.close("kernel-gone", { notify: false });
  }

  /**
   * A failure of this member (camera refused, join refused): words shown, the kernel
   * told (`error`, then `bye` reason `error`) unless it reported it, everything closed.
   * @param {{name: string, message: string, words: string}} described
   * @param {{tellKernel?: boolean}} [options]
   */
  fail(described, { tellKernel = true } = {}) {
    if (this.closed) return;
    this.env.log.warn(`[nbrtc] room ${this.id} failed: ${described.name}: ${described.message}`);
    this.words = described.words;
    if (tellKernel) this._send("error", { name: described.name, message: described.message });
    this._teardown({ name: "error", reason: described.words }, "error", tellKernel);
  }

  /**
   * Leave the room. Idempotent and synchronous: when it returns every pc is closed,
   * every track stopped, timers and listeners gone, the member unregistered, and the
   * kernel told (`bye`) unless `notify` is false (the kernel said bye, or is gone, or
   * the router already said bye on pagehide).
   * @param {string} [reason]
   * @param {{notify?: boolean}} [options]
   */
  close(reason = "closed", { notify = true } = {}) {
    if (this.closed) return;
    this._teardown({ name: "closed", reason }, reason, notify);
  }

  /**
   * @param {{name: "closed" | "error", reason: string}} state the final state
   * @param {string} byeReason
   * @param {boolean} notify
   */
  _teardown(state, byeReason, notify) {
    if (this.closed) return;
    this.closed = true;
    const log = this.env.log;
    log.info(`[nbrtc] room ${this.id} ${this.state.name} -> ${state.name}`);
    this.state = state;
    if (this._statsTimer !== null) {
      const timer = this._statsTimer;
      guard(log, "clearing the stats timer", () => this.env.clearInterval(timer));
    }
    this._statsTimer = null;
    guard(log, "stopping the heartbeat", () => this._heartbeat.stop());
    guard(log, "stopping the watchdog", () => this._watchdog.stop());
    guard(log, "cancelling the ice-servers request", () => this._iceRequest?.cancel());
    for (const link of this.links.values()) this._shutLink(link);
    this.links.clear();
    stopTracks(this.localStream);
    this.localStream = null;
    if (notify && this._joinSent) guard(log, "sending bye", () => this._send("bye", { reason: byeReason }));
    if (this._registered) guard(log, "unregistering", () => this.router.unregister(this.id));
    this._registered = false;
    try {
      this.onChange(this.snapshot());
    } catch (err) {
      log.error("[nbrtc] room view update failed", err);
    }
  }
}

/**
 * Run each step, logging failures, so one that throws cannot stop the others.
 * @param {(() => void)[]} steps
 */
function runAll(steps) {
  for (const step of steps) {
    try {
      step();
    } catch (err) {
      console.error("[nbrtc] room cleanup step failed", err);
    }
  }
}

/**
 * render() for a model whose kind is "room": one RoomMember per view. Same lifecycle as
 * the other kinds (widget.js): cleanup closes the member (pcs, camera) before the DOM
 * goes; a room the kernel already closed never opens the camera.
 * @param {{
 *   model: any,
 *   el: HTMLElement,
 *   router: Router,
 *   signal?: AbortSignal,
 *   warning?: string,
 *   env?: Partial<PeerEnv>,
 *   viewEnv?: Record<string, any>,
 * }} ctx
 * @returns {() => void} cleanup (idempotent)
 */
export function renderRoom({ model, el, router, signal, warning = "", env, viewEnv }) {
  const view = createRoomView(el, { env: viewEnv });
  view.setWarning(warning);
  const member = new RoomMember({ model, router, env, onChange: (s) => view.update(s) });
  const kernelClosed = () => model.get("state") === "closed";
  const onKernelState = () => {
    if (kernelClosed()) member.close("closed");
  };
  model.on("change:state", onKernelState);
  /** @type {ReturnType<typeof setTimeout> | null} */
  let startTimer = null;
  let done = false;
  const cleanup = () => {
    if (done) return;
    done = true;
    runAll([
      () => {
        if (startTimer !== null) clearTimeout(startTimer);
      },
      () => member.close("view-removed"),
      () => model.off("change:state", onKernelState),
      () => view.destroy(),
    ]);
  };
  if (signal) {
    if (signal.aborted) {
      cleanup();
      return cleanup;
    }
    signal.addEventListener("abort", cleanup, { once: true });
  }
  if (kernelClosed()) {
    member.close("closed");
    return cleanup;
  }
  // Next task, so a close that arrived with the display (same cell) is applied first.
  startTimer = setTimeout(() => {
    startTimer = null;
    if (kernelClosed() || signal?.aborted) member.close("closed");
    else member.start();
  }, 0);
  return cleanup;
}
