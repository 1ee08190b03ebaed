// nbrtc.doctor(): the page probes every path to the kernel (docs/protocol.md "Doctor").
// The kernel lists the paths (the `paths` trait: id, label, url, policy; never a login).
// For each WebRTC path the page makes a probe: a stream of kind "probe" through the
// page's router like any other (doctor {op: "probe"} binds its id to the path, then the
// `ice-servers` ask returns that path's server only, then offer/answer/candidates), a
// peer with only that server and, for TURN, iceTransportPolicy "relay" so that nothing
// else can connect, and one data channel that the kernel echoes. The comm path's round
// trip is the `ice-servers` ask and its answer. Each probe reports its row (doctor
// {op: "row"}), says bye and closes; the kernel checks the row against what it saw and
// publishes the table. Browser globals are looked up lazily, so node can test this.

import { listen } from "../core/listen.js";
import { clipText } from "../core/protocol.js";

/** How long a WebRTC probe may take to connect and echo. */
export const PROBE_TIMEOUT_MS = 8000;
/** Probes running at once (each costs a peer, and a TURN allocation). */
export const PARALLEL_PROBES = 3;
/** Echo round trips per WebRTC probe, comm round trips for the comm row. */
export const ECHOES = 3;
/** The kernel's answer to an `ice-servers` ask must come within this. */
export const ASK_TIMEOUT_MS = 5000;
/** The data channel the kernel echoes on (nbrtc/doctor.py ECHO_LABEL). */
export const ECHO_LABEL = "doctor";
/** What a probe reports at most (the kernel's bounds, _doctor_protocol.py). */
export const MAX_ROW_ERRORS = 8;
const MAX_WHY = 300;
const PING_MS = 1000;

/**
 * @typedef {{id: string, label: string, url: string, kind: string, transport: string, policy: string}} DoctorPath
 * @typedef {{
 *   op: "row", path: string, result: "ok" | "failed", rtt_ms: number | null, local?: string,
 *   protocol?: string, remote?: string, why: string,
 *   errors: {url: string, code: number, text: string}[],
 * }} ProbeRow
 * @typedef {{
 *   RTCPeerConnection: any,
 *   now: () => number,
 *   setTimeout: (fn: () => void, ms: number) => any,
 *   clearTimeout: (id: any) => void,
 *   setInterval: (fn: () => void, ms: number) => any,
 *   clearInterval: (id: any) => void,
 *   log: Pick<Console, "debug" | "warn" | "error">,
 * }} ProbeEnv
 */

/** @returns {ProbeEnv} */
export function defaultProbeEnv() {
  const g = /** @type {any} */ (globalThis);
  return {
    RTCPeerConnection: g.RTCPeerConnection,
    now: () => (g.performance ? g.performance.now() : Date.now()),
    setTimeout: (fn, ms) => g.setTimeout(fn, ms),
    clearTimeout: (id) => g.clearTimeout(id),
    setInterval: (fn, ms) => g.setInterval(fn, ms),
    clearInterval: (id) => g.clearInterval(id),
    log: console,
  };
}

/**
 * Whether the page is served from another machine than its own (so the kernel is most
 * likely remote): advice only.
 * @param {{hostname?: string} | undefined} location
 */
export function pageIsRemote(location) {
  const host = String(location?.hostname ?? "").replace(/^\[|\]$/g, "");
  if (!host) return false;
  return !(host === "localhost" || host === "::1" || host.startsWith("127.") || host.endsWith(".localhost"));
}

/**
 * The median of a non-empty list.
 * @param {number[]} values
 */
export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * The selected candidate pair of a getStats report: local type (with the relay's
 * protocol to its TURN server, or the pair's own), and remote type.
 * @param {Map<string, any> | Iterable<[string, any]>} report
 * @returns {{local: string, protocol: string, remote: string} | null}
 */
export function selectedPair(report) {
  const byId = new Map(report);
  const all = [...byId.values()];
  const transport = all.find((r) => r.type === "transport" && r.selectedCandidatePairId);
  let pair = transport ? byId.get(transport.selectedCandidatePairId) : null;
  if (!pair) pair = all.find((r) => r.type === "candidate-pair" && r.nominated && r.state === "succeeded");
  if (!pair) return null;
  const local = byId.get(pair.localCandidateId) ?? {};
  const remote = byId.get(pair.remoteCandidateId) ?? {};
  const short = (/** @type {unknown} */ v) => String(v ?? "?").slice(0, 16);
  return {
    local: short(local.candidateType),
    protocol: short(local.candidateType === "relay" ? (local.relayProtocol ?? local.protocol) : local.protocol),
    remote: short(remote.candidateType),
  };
}

/**
 * One probe of one path: a stream of the page's router until it has its row.
 * `run()` never rejects and always ends closed (bye sent when the kernel had a stream).
 */
export class Probe {
  /**
   * @param {{model: any, router: import("../core/router.js").Router, path: DoctorPath, remote?: boolean, env?: Partial<ProbeEnv>}} options
   */
  constructor({ model, router, path, remote = false, env }) {
    this.model = model;
    this.router = router;
    this.path = path;
    this.remote = remote;
    this.env = { ...defaultProbeEnv(), ...env };
    this.kind = "probe";
    this.id = router.nextStreamId();
    this.closed = false;
    /** @type {any} */
    this.pc = null;
    /** @type {any} */
    this.dc = null;
    /** @type {{url: string, code: number, text: string}[]} */
    this.errors = [];
    this._offered = false;
    /** @type {any[]} candidates gathered before the offer went out */
    this._held = [];
    /** @type {((msg: any) => void) | null} who waits for the next ice-servers reply */
    this._askWaiter = null;
    /** @type {((why: string) => void) | null} ends the run with a failure */
    this._fail = null;
    /** @type {any[]} timers to clear at close */
    this._timers = [];
    this._abort = new AbortController();
    this.state = { name: "probing" };
  }

  /** @param {string} type @param {any} payload */
  _send(type, payload) {
    return this.router.send(this.id, type, payload);
  }

  /** The router's entry point for kernel messages of this stream. @param {any} msg */
  handleKernelMessage(msg) {
    if (this.closed) return;
    const p = msg.payload;
    if (msg.type === "ice-servers") {
      const waiter = this._askWaiter;
      this._askWaiter = null;
      waiter?.({ servers: p.iceServers });
    } else if (msg.type === "error") {
      const words = `the kernel refused ${p.ref?.type ?? "a message"}: ${p.code}: ${p.message}`;
      if (this._askWaiter && (p.ref?.type === "ice-servers" || p.ref?.type === "doctor")) {
        const waiter = this._askWaiter;
        this._askWaiter = null;
        waiter({ failed: words });
      } else if (p.ref?.type !== "candidate" && p.ref?.type !== "ice-error") {
        this._fail?.(words);
      }
    } else if (msg.type === "answer" && this.pc) {
      this.pc.setRemoteDescription({ type: "answer", sdp: p.sdp }).catch((/** @type {any} */ err) => {
        this._fail?.(`the kernel's answer was refused: ${err?.name ?? err}`);
      });
    } else if (msg.type === "bye") {
      this._fail?.(`the kernel closed the probe (${p?.reason ?? "bye"})`);
    } else if (msg.type === "state" && p.state === "error") {
      this._fail?.(String(p.detail || "the kernel's peer failed"));
    }
  }

  /** @param {string} [reason] @param {{notify?: boolean}} [options] */
  close(reason = "doctor-done", { notify = true } = {}) {
    if (this.closed) return;
    this.closed = true;
    this.state = { name: "closed" };
    this._abort.abort();
    for (const t of this._timers) {
      this.env.clearTimeout(t);
      this.env.clearInterval(t);
    }
    this._timers = [];
    if (notify && this._offered) this._send("bye", { reason });
    try {
      this.dc?.close();
    } catch {
      // closing anyway
    }
    try {
      this.pc?.close();
    } catch {
      // closing anyway
    }
    this.pc = null;
    this.dc = null;
    this.router.unregister(this.id);
    const waiter = this._askWaiter;
    this._askWaiter = null;
    waiter?.({ failed: "closed" });
    this._fail?.(`closed (${reason})`);
  }

  kernelGone() {
    this.close("kernel-gone", { notify: false });
  }

  /**
   * One `ice-servers` ask: the kernel's reply (or why none came) and its round trip.
   * @returns {Promise<{servers?: any[], failed?: string, rtt: number}>}
   */
  _ask() {
    const t0 = this.env.now();
    return new Promise((resolve) => {
      const timer = this.env.setTimeout(() => {
        this._askWaiter = null;
        resolve({ failed: `no answer from the kernel within ${ASK_TIMEOUT_MS / 1000} s`, rtt: 0 });
      }, ASK_TIMEOUT_MS);
      this._timers.push(timer);
      this._askWaiter = (/** @type {any} */ reply) => {
        this.env.clearTimeout(timer);
        resolve({ ...reply, rtt: this.env.now() - t0 });
      };
      if (!this._send("ice-servers", null)) {
        this._askWaiter = null;
        this.env.clearTimeout(timer);
        resolve({ failed: "the page could not reach the kernel (no comm)", rtt: 0 });
      }
    });
  }

  /**
   * Probe, report the row to the kernel, close.
   * @returns {Promise<ProbeRow>}
   */
  async run() {
    /** @type {ProbeRow} */
    let row;
    try {
      this.router.register(this.id, this, this.model);
      this._send("doctor", { op: "probe", path: this.path.id, remote: this.remote });
      row = this.path.kind === "comm" ? await this._comm() : await this._webrtc();
    } catch (err) {
      row = this._row("failed", null, `the probe failed: ${String(/** @type {any} */ (err)?.message ?? err)}`);
    }
    if (!this.closed) this._send("doctor", row);
    this.close("doctor-done");
    return row;
  }

  /**
   * @param {"ok" | "failed"} result
   * @param {number | null} rtt
   * @param {string} why
   * @param {{local: string, protocol: string, remote: string} | null} [pair]
   * @returns {ProbeRow}
   */
  _row(result, rtt, why, pair = null) {
    return {
      op: "row",
      path: this.path.id,
      result,
      rtt_ms: rtt === null ? null : Math.min(60000, Math.max(0, Math.round(rtt * 10) / 10)),
      ...(pair ?? {}),
      why: clipText(why, MAX_WHY),
      errors: this.errors.slice(0, MAX_ROW_ERRORS),
    };
  }

  /** @returns {Promise<ProbeRow>} */
  async _comm() {
    const rtts = [];
    for (let i = 0; i < ECHOES; i++) {
      const reply = await this._ask();
      if (reply.failed) return this._row("failed", null, reply.failed);
      rtts.push(reply.rtt);
    }
    return this._row("ok", median(rtts), "");
  }

  /** @returns {Promise<ProbeRow>} */
  async _webrtc() {
    const reply = await this._ask();
    if (reply.failed) return this._row("failed", null, reply.failed);
    if (this.closed) return this._row("failed", null, "closed");
    const env = this.env;
    const pc = new env.RTCPeerConnection({
      iceServers: reply.servers ?? [],
      iceTransportPolicy: this.path.policy === "relay" ? "relay" : "all",
      bundlePolicy: "max-bundle",
    });
    this.pc = pc;
    return await new Promise((resolve) => {
      let done = false;
      const finish = (/** @type {ProbeRow} */ row) => {
        if (done) return;
        done = true;
        this._fail = null;
        resolve(row);
      };
      this._fail = (why) => finish(this._row("failed", null, why));
      const deadline = env.setTimeout(
        () => this._fail?.(this._timeoutWords()),
        PROBE_TIMEOUT_MS,
      );
      this._timers.push(deadline);
      // the kernel's watchdog closes a stream whose page is silent for 3.5 s
      this._timers.push(env.setInterval(() => this._send("ping", { t: env.now() }), PING_MS));
      const opts = { signal: this._abort.signal, isClosed: () => this.closed, log: env.log, what: "doctor probe " };
      const on = (/** @type {any} */ target, /** @type {string} */ type, /** @type {(ev: any) => void} */ fn) =>
        listen(target, type, fn, opts);
      let gathered = 0;
      on(pc, "icecandidate", (ev) => {
        const c = ev.candidate;
        if (c && !c.candidate) return; // a generation's end marker; null follows
        if (c) gathered += 1;
        const payload = c ? { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null } : null;
        if (this._offered) this._send("candidate", payload);
        else this._held.push(payload);
      });
      on(pc, "icecandidateerror", (ev) => {
        if (this.errors.length >= MAX_ROW_ERRORS) return;
        const err = {
          url: clipText(ev.url, 256),
          code: Number.isInteger(ev.errorCode) ? ev.errorCode : 0,
          text: clipText(ev.errorText, 256),
        };
        this.errors.push(err);
        if (this._offered) this._send("ice-error", err);
      });
      on(pc, "icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete" && gathered === 0 && this.path.policy === "relay") {
          this._fail?.(`no relay candidate: the browser got no allocation from ${this.path.url}${this._errorWords()}`);
        }
      });
      on(pc, "connectionstatechange", () => {
        if (pc.connectionState === "failed") this._fail?.(`ICE failed on this path${this._errorWords()}`);
      });
      const dc = pc.createDataChannel(ECHO_LABEL);
      this.dc = dc;
      on(dc, "open", () => {
        this._echo(dc).then(
          (rtt) => this._result(pc, rtt).then(finish),
          (err) => this._fail?.(`the echo failed: ${String(err?.message ?? err)}`),
        );
      });
      (async () => {
        const offer = await pc.createOffer();
        if (this.closed) return;
        await pc.setLocalDescription(offer);
        if (this.closed) return;
        this._send("offer", { sdp: offer.sdp, kind: "probe", page: this.router.pageId, view: this.path.id });
        this._offered = true;
        for (const c of this._held) this._send("candidate", c);
        this._held = [];
      })().catch((err) => this._fail?.(`the offer failed: ${String(err?.name ?? err)}`));
    });
  }

  _timeoutWords() {
    const state = this.pc ? this.pc.connectionState : "new";
    return `not connected within ${PROBE_TIMEOUT_MS / 1000} s (state ${state})${this._errorWords()}`;
  }

  _errorWords() {
    if (!this.errors.length) return "";
    return `: ${this.errors.map((e) => `${e.url} ${e.code} ${e.text}`.trim()).join("; ")}`;
  }

  /**
   * ECHOES round trips on the data channel; the median.
   * @param {any} dc
   * @returns {Promise<number>}
   */
  async _echo(dc) {
    const rtts = [];
    for (let i = 0; i < ECHOES; i++) {
      const token = `e${i}:${Math.round(this.env.now())}`;
      const t0 = this.env.now();
      await new Promise((resolve, reject) => {
        const onMessage = (/** @type {any} */ ev) => {
          if (ev.data !== token) return;
          dc.removeEventListener("message", onMessage);
          resolve(undefined);
        };
        dc.addEventListener("message", onMessage, { signal: this._abort.signal });
        try {
          dc.send(token);
        } catch (err) {
          reject(err);
        }
      });
      rtts.push(this.env.now() - t0);
    }
    return median(rtts);
  }

  /**
   * The ok row, with the selected pair from getStats.
   * @param {any} pc
   * @param {number} rtt
   */
  async _result(pc, rtt) {
    /** @type {{local: string, protocol: string, remote: string} | null} */
    let pair;
    try {
      pair = selectedPair(await pc.getStats());
    } catch {
      pair = null; // closing: the row says what it can
    }
    return this._row("ok", rtt, "", pair);
  }
}

/**
 * Run every path's probe, PARALLEL_PROBES at a time, in path order.
 * @param {{model: any, router: import("../core/router.js").Router, paths: DoctorPath[], remote?: boolean, env?: Partial<ProbeEnv>, onRow?: (row: ProbeRow) => void}} options
 * @returns {{done: Promise<ProbeRow[]>, cancel: () => void}}
 */
export function runDoctor({ model, router, paths, remote = false, env, onRow }) {
  /** @type {Set<Probe>} */
  const running = new Set();
  let cancelled = false;
  const queue = [...paths];
  /** @type {ProbeRow[]} */
  const rows = [];
  const worker = async () => {
    while (queue.length && !cancelled) {
      const path = /** @type {DoctorPath} */ (queue.shift());
      const probe = new Probe({ model, router, path, remote, env });
      running.add(probe);
      const row = await probe.run();
      running.delete(probe);
      rows.push(row);
      onRow?.(row);
    }
  };
  const workers = Array.from({ length: Math.min(PARALLEL_PROBES, paths.length) }, worker);
  return {
    done: Promise.all(workers).then(() => rows),
    cancel: () => {
      cancelled = true;
      for (const p of [...running]) p.close("view-removed");
    },
  };
}
