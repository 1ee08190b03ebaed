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
// Through a media server (the `sfu` trait is "janus"; server.js): the same messages, but
// this view's camera goes once to the server (the link named "server", which this view
// offers) and every other member's camera comes from the server (Janus offers, this view
// answers with js/peer/answerer.js answerOffer); the kernel relays between page and server.
//
// Every await is followed by a closed check (the member's and the link's): whatever a
// late promise produced is dropped, never used. Browser globals are looked up lazily
// (core/env.js) so node can import this file. Lifecycle, liveness, the stats timer and
// the teardown order are core/session.js's; the stats filter is core/stats.js's
// filterLinkStats, the camera's constraints core/constraints.js's roomConstraints.

import { guard, stopTracks } from "../core/cleanup.js";
import { roomConstraints } from "../core/constraints.js";
import { describeError, deviceFor } from "../core/errors.js";
import { listen } from "../core/listen.js";
import { mountSession } from "../core/mount.js";
import { peerConfig } from "../core/rtc-config.js";
import { STATS_INTERVAL_MS, Session } from "../core/session.js";
import { filterLinkStats } from "../core/stats.js";
import { needsCredentials, withIceServers } from "../transport/ice.js";
import { answerOffer } from "../peer/answerer.js";
import { createRoomView } from "./room-view.js";
import { SERVER_PEER, mayReceiveFrom, roomViaServer, serverRoomState } from "./server.js";

/**
 * @typedef {import("../core/router.js").Router} Router
 * @typedef {import("../core/router.js").ModelLike} ModelLike
 * @typedef {import("../core/protocol.js").Envelope} Envelope
 * @typedef {import("../core/env.js").PeerEnv} PeerEnv
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
 *   via: string,
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

/** Words for the kernel's `bye` reasons. */
const BYE_WORDS = Object.freeze({
  closed: "The room was closed.",
  limit:
    "The room is full (max_members). Close another view of it, or make the room with a higher max_members.",
  "browser-gone": "The kernel heard nothing from this view for a while and dropped it. Run the cell again.",
  "wrong-kind": "The kernel refused this view (wrong kind). Restart the kernel and reload the page.",
  server: "The room's media server dropped this view. Run the cell again.",
});

/**
 * One view's membership of a room (a Session, core/session.js: lifecycle, liveness,
 * stats timer and teardown order come from there).
 * @extends {Session<RoomSnapshot>}
 */
export class RoomMember extends Session {
  /**
   * @param {{
   *   model: ModelLike,
   *   router: Router,
   *   env?: Partial<PeerEnv>,
   *   onChange?: (snapshot: RoomSnapshot) => void,
   * }} options
   */
  constructor({ model, router, env, onChange }) {
    super({ model, router, env, onChange });
    this.kind = "room";
    /** joining -> acquiring -> ready; the displayed state derives from it (see _derive) */
    this.phase = "idle";
    /** @type {{name: string, reason: string}} */
    this.state = { name: "idle", reason: "" };
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
    /** The join went out: from then on the kernel holds a member to say bye to. */
    this._joinSent = false;
    /** @type {unknown} the RTCConfiguration every link's pc is made with (set at join) */
    this._rtcConfig = null;
    /** Whether the media goes through a server (the kernel-owned `sfu` trait, read at start). */
    this.viaServer = false;
  }

  /** @returns {RoomSnapshot} */
  snapshot() {
    return {
      id: this.id,
      room: this.room,
      state: this.state,
      words: this.words,
      members: this.members.length,
      via: this.viaServer ? "janus" : "",
      local: this.localStream,
      // the link to the server carries this view's own camera: no tile of its own
      peers: [...this.links.values()].filter((l) => l.id !== SERVER_PEER || !this.viaServer).map((l) => ({
        id: l.id,
        seq: l.seq,
        state: l.closed ? "closed" : String(l.pc?.connectionState ?? "new"),
        stream: l.remoteStream,
        failed: l.failed,
      })),
    };
  }

  /** @returns {string} how log lines name this member */
  get label() {
    return `room ${this.id}`;
  }

  /** The state a person sees, derived from the phase and the links (final once ending). */
  _derive() {
    if (this.closed || this.state.name === "closed" || this.state.name === "error") return this.state.name;
    if (this.phase !== "ready") return this.phase;
    const open = [...this.links.values()].filter((l) => !l.closed);
    if (this.viaServer) {
      const states = open.map((l) => ({ state: String(l.pc?.connectionState ?? "new") }));
      return serverRoomState(states, this.members.length);
    }
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
    this._notify();
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
    this.viaServer = roomViaServer(this.model.get("sfu"));
    try {
      this._register();
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
    const servers = await this._askIceServers("the room's comm is closed");
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
    this._startStats(STATS_INTERVAL_MS);
    this._refresh();
  }

  /**
   * A validated kernel message for this member (Session.handleKernelMessage, called by
   * the router, fed the watchdog already).
   * @param {Envelope} msg
   */
  _onKernelMessage(msg) {
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
        // Through a server the kernel's words are the server's (room full, unreachable...).
        if (p.ref?.type === "join") {
          const words = this.viaServer ? `${p.message}` : `The kernel refused this view: ${p.message}`;
          this.fail({ name: "JoinRefused", message: `${p.code}: ${p.message}`, words }, { tellKernel: false });
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
      // through a server: one link, this view's camera to it (offered once the camera is up)
      if (this.viaServer) this._openLink(SERVER_PEER, 0, true);
    }
    const others = new Map(this.members.filter((m) => m.id !== this.id).map((m) => [m.id, m]));
    for (const id of [...this.links.keys()]) {
      if (!others.has(id) && !(this.viaServer && id === SERVER_PEER)) {
        this.gone.add(id);
        this._closeLink(id);
      }
    }
    for (const m of others.values()) {
      const link = this.links.get(m.id);
      if (link) link.seq = m.seq;
      // through a server a member's feed comes as the server's offer (_onSignal)
      else if (!this.gone.has(m.id) && !this.viaServer) this._openLink(m.id, m.seq);
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
   * @param {boolean} [offerer] default: the later joiner offers (isOfferer)
   * @returns {Link}
   */
  _openLink(id, seq, offerer) {
    const PC = this.env.RTCPeerConnection;
    const pc = new PC(peerConfig(this._rtcConfig));
    /** @type {Link} */
    const link = {
      id,
      seq,
      offerer: offerer ?? (this.seq !== null && isOfferer(this.seq, seq)),
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
        link.failed = this.viaServer
          ? `The connection to the media server for ${link.id === SERVER_PEER ? "this camera" : link.id} failed (ICE found no path to it; a TURN server may be needed).`
          : `The connection to ${link.id} failed (ICE found no path between the two browsers).`;
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
    // to a server the camera only goes up; the others' come on their own links
    const send = this.viaServer ? "sendonly" : "sendrecv";
    for (const kind of kinds) {
      const track = local?.getTracks?.().find((/** @type {any} */ t) => t.kind === kind);
      if (track) link.pc.addTransceiver(track, { direction: send, streams: [local] });
      else if (!this.viaServer) link.pc.addTransceiver(kind, { direction: "recvonly" });
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
   * The server's offer of another member's camera: answer it, sending nothing back
   * (answerer.js, as a view of a broadcast does).
   * @param {Link} link
   * @param {string} sdp
   */
  async _answerServer(link, sdp) {
    if (link.answered) {
      this.env.log.warn(`[nbrtc] room ${this.id}: a second server offer for ${link.id} was ignored`);
      return;
    }
    link.answered = true;
    const answer = await answerOffer(link.pc, sdp, () => this.closed || link.closed);
    if (answer === null) return;
    this._remoteSet(link);
    this._signal(link.id, { type: "answer", sdp: answer });
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
    if (!link && this.viaServer) {
      // a member's camera, offered by the server: a new receiving link
      if (data.type !== "offer" || !mayReceiveFrom(from, this.id, this.members, this.gone)) {
        this.env.log.debug(`[nbrtc] room ${this.id}: dropped ${data.type} for ${from}`);
        return;
      }
      const m = this.members.find((x) => x.id === from);
      link = this._openLink(from, m?.seq ?? 0, false);
      this._refresh(); // its tile appears now; its video when the track comes
    }
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
        this._enqueue(l, () => (this.viaServer ? this._answerServer(l, data.sdp) : this._answer(l, data.sdp)));
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
          this._send("stats", { t: this.env.now(), peer: link.id, reports: filterLinkStats(report) });
        })
        .catch((/** @type {unknown} */ err) => this.env.log.debug("[nbrtc] room getStats failed", err))
        .finally(() => {
          link.statsBusy = false;
        });
    }
  }

  /**
   * Record the final state (Session.close / fail), logged once as `old -> new`.
   * @param {{name: "closed" | "error", reason: string}} state
   */
  _enterFinal(state) {
    this.env.log.info(`[nbrtc] room ${this.id} ${this.state.name} -> ${state.name}`);
    this.state = state;
  }

  /** Every link's pc closed and its tracks stopped, then the camera (Session._teardown). */
  _release() {
    for (const link of this.links.values()) this._shutLink(link);
    this.links.clear();
    stopTracks(this.localStream);
    this.localStream = null;
  }

  /** A bye is due once the join went out (an ask for TURN logins alone made nothing). */
  _saysBye() {
    return this._joinSent;
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
  return mountSession({ model, current: () => member, signal, release: [() => view.destroy()] }).cleanup;
}
