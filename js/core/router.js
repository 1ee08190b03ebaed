// The one page-wide signaling router (docs/protocol.md). Every widget model's comm
// delivers `msg:custom` messages here; the router validates them and hands each to the
// peer that owns its stream id. It also owns the page id, the stream id counter and the
// `pagehide` teardown.
//
// Why a singleton on globalThis: anywidget may evaluate this bundle more than once in a
// page (one evaluation per widget model, and again after a hot reload), so module-level
// variables would give each evaluation its own page id, counter and pagehide handler.
// Nothing here touches window/document at import time, so node can load it for tests.

import { PING_INTERVAL_MS } from "./liveness.js";
import { BATCHABLE, MAX_BATCH, MAX_LIVE, makeBatch, makeMessage, validateKernelMessage } from "./protocol.js";

export const ROUTER_KEY = "__nbrtc_router_v1";

/**
 * How long a stream's small reports (BATCHABLE: candidates, pc states) may wait to go
 * together, ms. A stream's start makes ~16 of them within ~100 ms; each comm message
 * costs the kernel a dispatch, two IOPub status messages to every page and an entry in
 * its session's replay-protection set, so they travel in a few `batch`es instead. The
 * first report after a quiet spell goes at once; only what follows it within this window
 * waits (docs/protocol.md "Batches"). Offers, byes, pings and stats never wait.
 */
export const BATCH_MS = 20;
/** Kernel offers a page holds for views not rendered yet (the oldest goes first): one per
 * camera of a Grid as large as a page may have streams (max_streams_per_page, 32). */
export const MAX_KERNEL_OFFERS = 32;

/** Kernel statuses after which nothing of the old kernel process will ever answer. */
export const KERNEL_GONE_STATUSES = Object.freeze([
  "restarting",
  "autorestarting",
  "terminating",
  "dead",
]);

/**
 * The kernel connection behind a model, where the host exposes one (JupyterLab and
 * Notebook 7 do, through the widget manager); null elsewhere.
 * @param {ModelLike} model
 * @returns {KernelLike | null}
 */
export function kernelOf(model) {
  try {
    const kernel = /** @type {any} */ (model).widget_manager?.kernel;
    return kernel && typeof kernel.statusChanged?.connect === "function" ? kernel : null;
  } catch {
    return null;
  }
}

/**
 * The part of an anywidget model the router uses.
 * @typedef {{
 *   on(name: string, cb: (...args: any[]) => void): void,
 *   off(name: string, cb: (...args: any[]) => void): void,
 *   send(content: any, callbacks?: any, buffers?: any[]): void,
 *   get(name: string): any,
 * }} ModelLike
 *
 * What the router needs of a peer.
 * @typedef {{
 *   kind: string,
 *   state?: {name: string},
 *   handleKernelMessage(msg: import("./protocol.js").Envelope, buffers?: any[]): void,
 *   close(reason?: string, options?: {notify?: boolean}): void,
 *   kernelGone?(why?: string): void,
 *   kernelHeard?(): void,
 *   sharesBeat?: boolean,
 *   beating?: boolean,
 * }} PeerLike
 *
 * The part of a JupyterLab kernel connection (model.widget_manager.kernel) the router
 * uses: its status signal (a Lumino Signal).
 * @typedef {{
 *   status?: string,
 *   statusChanged?: {
 *     connect(slot: (sender: any, status: string) => void): boolean | void,
 *     disconnect(slot: (sender: any, status: string) => void): boolean | void,
 *   },
 * }} KernelLike
 *
 * @typedef {{
 *   pageId: string,
 *   nextStreamId(): string,
 *   nextViewId(): string,
 *   attachModel(model: ModelLike): () => void,
 *   takeKernelOffer(id: string, ms: number): Promise<string>,
 *   takeEarlyAnswer(id: string): EarlyLike | null,
 *   prepareAnswersWith(fn: ((sdp: string, model: ModelLike) => EarlyLike | null) | null): void,
 *   listenerCount(model: ModelLike): number,
 *   register(streamId: string, peer: PeerLike, model: ModelLike): void,
 *   unregister(streamId: string): void,
 *   isDead(streamId: string): boolean,
 *   send(streamId: string, type: string, payload: any, buffers?: ArrayBuffer[]): boolean,
 *   flushNow(streamId: string): boolean,
 *   beat(streamId: string, now: number): boolean,
 *   deliver(content: unknown, buffers?: any[], model?: ModelLike): void,
 *   closeAll(reason: string): void,
 *   streams(): {id: string, kind: string, state: string}[],
 * }} Router
 *
 * @typedef {{
 *   randomHex?: (chars: number) => string,
 *   pageTarget?: {addEventListener: (type: string, cb: () => void) => void} | null,
 *   log?: Pick<Console, "debug" | "warn" | "error">,
 *   batchMs?: number,
 *   now?: () => number,
 *   setTimer?: (fn: () => void, ms: number) => any,
 *   clearTimer?: (handle: any) => void,
 *   prepareAnswer?: (sdp: string, model: ModelLike) => EarlyLike | null,
 * }} RouterOptions
 *
 * An answer prepared for a kept kernel offer (peer/early-answer.js's EarlyAnswer).
 * @typedef {{close(why?: string): void, adopt(audio: boolean): any}} EarlyLike
 *
 * One registered stream: its peer and model, and the reports waiting to go as a batch.
 * @typedef {{
 *   peer: PeerLike,
 *   model: ModelLike,
 *   detach: () => void,
 *   kernel: KernelLike | null,
 *   pending: {type: string, payload: any}[],
 *   timer: any,
 *   lastSent: number,
 * }} StreamEntry
 */

/**
 * @param {number} chars
 * @returns {string}
 */
function defaultRandomHex(chars) {
  const bytes = new Uint8Array(Math.ceil(chars / 2));
  const c = globalThis.crypto;
  if (c && typeof c.getRandomValues === "function") {
    c.getRandomValues(bytes);
  } else {
    // Only uniqueness within a kernel matters, not secrecy.
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0"))
    .join("")
    .slice(0, chars);
}

/**
 * Call `fn`, logging instead of throwing: listeners and teardown must never throw.
 * @param {Pick<Console, "error">} log
 * @param {string} what
 * @param {() => void} fn
 */
function guarded(log, what, fn) {
  try {
    fn();
  } catch (err) {
    log.error(`[nbrtc] ${what} failed`, err);
  }
}

/**
 * Make a router. Pages use `getRouter()`; tests make private ones.
 * @param {RouterOptions} [options]
 * @returns {Router}
 */
export function createRouter(options = {}) {
  const log = options.log ?? console;
  const randomHex = options.randomHex ?? defaultRandomHex;
  const batchMs = options.batchMs ?? BATCH_MS;
  const now = options.now ?? (() => globalThis.performance.now());
  const setTimer = options.setTimer ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
  const clearTimer = options.clearTimer ?? ((handle) => globalThis.clearTimeout(handle));
  const pageId = randomHex(8);
  // The page key: a secret of this page, sent in the envelope of every message it sends
  // to a kernel. Those go on this page's own connection, while everything the kernel
  // says is seen by every page, stream ids included: the key is how the kernel knows a
  // message for a stream comes from the page that owns it (docs/protocol.md "Trust").
  const pageKey = randomHex(32);
  let streamCounter = 0;
  let viewCounter = 0;
  /** @type {Map<string, StreamEntry>} */
  const streams = new Map();
  /**
   * Kernel status subscriptions, one per kernel connection, held while a stream of
   * that kernel is registered: a restart or shutdown closes its streams at once (the
   * old kernel cannot say bye, and waiting for silence would keep cameras on).
   * @type {Map<KernelLike, {count: number, slot: (sender: any, status: string) => void}>}
   */
  const kernels = new Map();

  /** @param {KernelLike} kernel */
  function watchKernel(kernel) {
    let record = kernels.get(kernel);
    if (!record) {
      /** @type {(sender: any, status: string) => void} */
      const slot = (_sender, status) => {
        if (!KERNEL_GONE_STATUSES.includes(status)) return;
        for (const [id, entry] of [...streams]) {
          if (entry.kernel !== kernel) continue;
          log.debug(`[nbrtc] kernel ${status}: closing ${id}`);
          guarded(log, `closing ${id} after kernel ${status}`, () =>
            entry.peer.kernelGone ? entry.peer.kernelGone(status) : entry.peer.close("kernel-gone", { notify: false }),
          );
        }
      };
      record = { count: 0, slot };
      kernels.set(kernel, record);
      guarded(log, "watching the kernel status", () => kernel.statusChanged?.connect(slot));
    }
    record.count += 1;
  }

  /** @param {KernelLike} kernel */
  function unwatchKernel(kernel) {
    const record = kernels.get(kernel);
    if (!record) return;
    record.count -= 1;
    if (record.count > 0) return;
    kernels.delete(kernel);
    guarded(log, "unwatching the kernel status", () => kernel.statusChanged?.disconnect(record.slot));
  }
  /** Tombstones: an id is never reused and nothing is created for a dead one. */
  /** @type {Set<string>} */
  const dead = new Set();
  /** @type {Map<ModelLike, {count: number, listener: (content: unknown) => void}>} */
  const models = new Map();
  /**
   * anywidget hands initialize() and render() different proxy objects for one model,
   * so ref-counting by object can leave two listeners on one comm. Both receive the
   * same content object, so remembering delivered objects keeps dispatch exactly-once.
   * @type {WeakSet<object>}
   */
  const delivered = new WeakSet();

  /**
   * @param {import("./protocol.js").Envelope} msg
   * @param {any[] | undefined} buffers a `frame`'s binary data
   * @param {ModelLike} [model] the model whose comm carried it
   */
  function dispatch(msg, buffers, model) {
    if (msg.type === "ping" && Array.isArray(msg.payload?.live)) {
      // One kernel ping per page vouches for every stream it lists (the kernel's
      // watchdogs share it): each listed session of this page has heard the kernel.
      // Other pages' ids are simply not here (every page sees every comm message).
      for (const id of msg.payload.live) {
        const listed = id === msg.stream ? undefined : streams.get(id);
        if (listed?.peer.kernelHeard) guarded(log, `ping for ${id}`, () => listed.peer.kernelHeard?.());
      }
    }
    const entry = streams.get(msg.stream);
    if (!entry && !dead.has(msg.stream) && msg.type === "offer" && msg.payload?.kernel === true) {
      keepKernelOffer(msg.stream, msg.payload.sdp, model);
      return;
    }
    if (msg.type === "offer-taken") {
      // Another page (or another view here, whose stream now owns the id) answered the
      // kernel's offer: this page forgets it and closes the answer it prepared.
      if (!entry) {
        kernelOffers.delete(msg.stream);
        dropEarly(msg.stream, "another page answered");
      }
      return;
    }
    if (!entry && msg.type === "bye" && kernelOffers.delete(msg.stream)) {
      dropEarly(msg.stream, "the kernel's offer expired");
      return;
    }
    if (!entry) {
      const why = dead.has(msg.stream) ? "closed" : "unknown";
      if (msg.type === "error" && !dead.has(msg.stream)) {
        log.warn(`[nbrtc] kernel error for ${why} stream ${msg.stream}`, msg.payload);
      } else {
        log.debug(`[nbrtc] dropped ${msg.type} for ${why} stream ${msg.stream}`);
      }
      return;
    }
    guarded(log, `handling ${msg.type} for ${msg.stream}`, () =>
      entry.peer.handleKernelMessage(msg, buffers),
    );
  }

  /**
   * The kernel's offers for views not rendered yet (a camera's kernel offers as the
   * widget is displayed, docs/protocol.md "The kernel's offer"): stream id -> SDP, at
   * most MAX_KERNEL_OFFERS (the oldest goes), each taken once by the view that answers.
   * @type {Map<string, string>}
   */
  const kernelOffers = new Map();
  /** @type {Map<string, ((sdp: string) => void)[]>} views waiting for an offer */
  const offerWaiters = new Map();
  /**
   * Answers prepared for kept offers (peer/early-answer.js), by stream id: made as the
   * offer arrives, adopted by the view that takes the offer, closed with the offer.
   * @type {Map<string, EarlyLike>}
   */
  const earlyAnswers = new Map();
  /** @type {((sdp: string, model: ModelLike) => EarlyLike | null) | null} */
  let prepareAnswer = options.prepareAnswer ?? null;

  /**
   * @param {string} id
   * @param {string} why
   */
  function dropEarly(id, why) {
    const early = earlyAnswers.get(id);
    if (!early) return;
    earlyAnswers.delete(id);
    guarded(log, `closing the early answer of ${id}`, () => early.close(why));
  }

  /**
   * @param {string} id
   * @param {string} sdp
   * @param {ModelLike} [model]
   */
  function keepKernelOffer(id, sdp, model) {
    const waiting = offerWaiters.get(id);
    if (waiting && waiting.length > 0) {
      offerWaiters.delete(id);
      const first = /** @type {(sdp: string) => void} */ (waiting.shift());
      guarded(log, `taking the kernel's offer ${id}`, () => first(sdp));
      for (const other of waiting) guarded(log, "a second view", () => other(""));
      return;
    }
    kernelOffers.delete(id);
    kernelOffers.set(id, sdp);
    dropEarly(id, "a new offer of this id");
    if (prepareAnswer && model) {
      try {
        const early = prepareAnswer(sdp, model);
        if (early) earlyAnswers.set(id, early);
      } catch (err) {
        // the view answers on a pc of its own, as without a preparer
        log.warn(`[nbrtc] preparing the answer to ${id} failed`, err);
      }
    }
    while (kernelOffers.size > MAX_KERNEL_OFFERS) {
      const oldest = /** @type {string} */ (kernelOffers.keys().next().value);
      kernelOffers.delete(oldest);
      dropEarly(oldest, "too many offers waiting");
    }
  }

  /**
   * The answer prepared for the kernel's offer `id`, for the view that took that offer
   * (takeKernelOffer): it is the view's from now on. null when none was prepared.
   * @param {string} id
   * @returns {EarlyLike | null}
   */
  function takeEarlyAnswer(id) {
    const early = earlyAnswers.get(id) ?? null;
    earlyAnswers.delete(id);
    return early;
  }

  /**
   * Take the kernel's offer `id` for one view: its SDP, at once when it is here, else
   * when it arrives within `ms`; "" when it does not (or another view took it), and the
   * view offers itself.
   * @param {string} id
   * @param {number} ms
   * @returns {Promise<string>}
   */
  function takeKernelOffer(id, ms) {
    const sdp = kernelOffers.get(id);
    if (sdp !== undefined) {
      kernelOffers.delete(id);
      return Promise.resolve(sdp);
    }
    if (dead.has(id) || streams.has(id) || !(ms > 0)) return Promise.resolve("");
    return new Promise((resolve) => {
      const list = offerWaiters.get(id) ?? [];
      const waiter = (/** @type {string} */ got) => {
        clearTimer(timer);
        resolve(got);
      };
      const timer = setTimer(() => {
        const now = offerWaiters.get(id) ?? [];
        const i = now.indexOf(waiter);
        if (i >= 0) now.splice(i, 1);
        if (now.length === 0) offerWaiters.delete(id);
        resolve("");
      }, ms);
      list.push(waiter);
      offerWaiters.set(id, list);
    });
  }

  /**
   * @param {unknown} content
   * @param {any[]} [buffers]
   * @param {ModelLike} [model] the model whose comm carried it
   */
  function deliver(content, buffers, model) {
    try {
      if (typeof content === "object" && content !== null) {
        if (delivered.has(content)) return;
        delivered.add(content);
      }
      const result = validateKernelMessage(content);
      if (!result.ok) {
        // The comm is shared with anything else that talks over it (e.g. anywidget's
        // own commands): only something that claims to be ours is worth a warning.
        const ours = typeof content === "object" && content !== null && "stream" in content;
        (ours ? log.warn : log.debug).call(
          log,
          `[nbrtc] dropped kernel message (${result.code}): ${result.message}`,
        );
        return;
      }
      dispatch(result.msg, buffers, model);
    } catch (err) {
      log.error("[nbrtc] kernel message handler failed", err);
    }
  }

  /**
   * Listen to a model's custom messages. Ref-counted per model object: the listener
   * is installed by the first attach and removed when the last detach runs.
   * @param {ModelLike} model
   * @returns {() => void} detach (idempotent)
   */
  function attachModel(model) {
    let record = models.get(model);
    if (!record) {
      /**
       * @param {unknown} content
       * @param {any[]} [buffers]
       */
      const listener = (content, buffers) => deliver(content, buffers, model);
      model.on("msg:custom", listener);
      record = { count: 0, listener };
      models.set(model, record);
    }
    record.count += 1;
    const rec = record;
    let detached = false;
    return () => {
      if (detached) return;
      detached = true;
      rec.count -= 1;
      if (rec.count > 0) return;
      if (models.get(model) === rec) models.delete(model);
      guarded(log, "removing the msg:custom listener", () => model.off("msg:custom", rec.listener));
    };
  }

  /**
   * @param {ModelLike} model
   * @returns {number}
   */
  function listenerCount(model) {
    return models.get(model)?.count ?? 0;
  }

  /**
   * @param {string} streamId
   * @param {PeerLike} peer
   * @param {ModelLike} model the model whose comm carries this stream's messages
   */
  function register(streamId, peer, model) {
    if (streams.has(streamId) || dead.has(streamId)) {
      throw new Error(`stream id ${streamId} was already used`);
    }
    // The stream keeps its model's listener alive even if initialize() never ran.
    const detach = attachModel(model);
    const kernel = kernelOf(model);
    if (kernel) watchKernel(kernel);
    streams.set(streamId, { peer, model, detach, kernel, pending: [], timer: null, lastSent: -Infinity });
  }

  /** @param {string} streamId */
  function unregister(streamId) {
    const entry = streams.get(streamId);
    dead.add(streamId);
    if (!entry) return;
    streams.delete(streamId);
    // Reports still waiting are dropped: the kernel drops late messages of a closed id.
    stopTimer(entry);
    entry.pending = [];
    guarded(log, "detaching a model", entry.detach);
    if (entry.kernel) unwatchKernel(entry.kernel);
  }

  /**
   * Send a message for a stream through the model that owns it. Returns false instead
   * of throwing when the stream is gone or the comm is dead (kernel restarted).
   * @param {string} streamId
   * @param {string} type
   * @param {any} payload
   * @param {ArrayBuffer[]} [buffers] binary data (a comm `frame`)
   * @returns {boolean}
   */
  function send(streamId, type, payload, buffers) {
    const entry = streams.get(streamId);
    if (!entry) {
      log.debug(`[nbrtc] not sending ${type}: stream ${streamId} is not open`);
      return false;
    }
    if (batchMs > 0 && !buffers && BATCHABLE.includes(type)) {
      const t = now();
      if (entry.pending.length > 0 || t - entry.lastSent < batchMs) {
        entry.pending.push({ type, payload });
        if (entry.pending.length >= MAX_BATCH) return flush(streamId, entry);
        if (entry.timer === null) {
          // unregister() cancels it: when it fires, the stream is still open
          entry.timer = setTimer(() => {
            entry.timer = null;
            flush(streamId, entry);
          }, Math.max(0, entry.lastSent + batchMs - t));
        }
        return true;
      }
    }
    // What waits goes first: the kernel sees one stream's messages in the order they were made.
    if (!flush(streamId, entry)) return false;
    return post(streamId, entry, type, () => makeMessage(type, streamId, payload), buffers);
  }

  /** @param {StreamEntry} entry */
  function stopTimer(entry) {
    if (entry.timer !== null) clearTimer(entry.timer);
    entry.timer = null;
  }

  /**
   * Send what waits in `entry.pending` (one message alone, several as a `batch`). False
   * when the comm refused it.
   * @param {string} streamId
   * @param {StreamEntry} entry
   * @returns {boolean}
   */
  function flush(streamId, entry) {
    stopTimer(entry);
    const items = entry.pending;
    if (items.length === 0) return true;
    entry.pending = [];
    if (items.length === 1) {
      const [{ type, payload }] = items;
      return post(streamId, entry, type, () => makeMessage(type, streamId, payload));
    }
    return post(streamId, entry, "batch", () => makeBatch(streamId, items));
  }

  /**
   * Send what waits for `streamId` now, as one message, instead of at the end of its
   * window: what a session made before its offer went out (its first candidates, which
   * the kernel's connectivity checks wait for) must not wait BATCH_MS more behind the
   * offer. False when the stream is not open or the comm refused it.
   * @param {string} streamId
   * @returns {boolean}
   */
  function flushNow(streamId) {
    const entry = streams.get(streamId);
    return entry ? flush(streamId, entry) : false;
  }

  /**
   * Build a message with `make` (it throws on a bad type or stream id) and send it with the
   * page key through the stream's model. False instead of throwing.
   * @param {string} streamId
   * @param {StreamEntry} entry
   * @param {string} type
   * @param {() => object} make
   * @param {ArrayBuffer[]} [buffers]
   * @returns {boolean}
   */
  function post(streamId, entry, type, make, buffers) {
    try {
      const content = { ...make(), key: pageKey };
      if (buffers) entry.model.send(content, undefined, buffers);
      else entry.model.send(content);
      entry.lastSent = now();
      return true;
    } catch (err) {
      log.debug(`[nbrtc] sending ${type} for ${streamId} failed`, err);
      return false;
    }
  }

  let lastBeat = -Infinity;
  /** @type {Set<string>} the streams the last page heartbeat listed */
  let lastListed = new Set();

  /**
   * A session's heartbeat is due (liveness.js; only sessions with `sharesBeat`): one
   * ping per page and about PING_INTERVAL_MS goes to the kernel, on the asking stream,
   * listing (`live`) every stream of this page whose heartbeat runs, so that the kernel
   * hears from all of them through one message (docs/protocol.md "Liveness"). A stream
   * the last beat listed, less than 0.9 of an interval ago, sends nothing. True when a
   * ping went out.
   * @param {string} streamId
   * @param {number} now the session's clock, ms
   * @returns {boolean}
   */
  function beat(streamId, now) {
    if (now - lastBeat < 0.9 * PING_INTERVAL_MS && lastListed.has(streamId)) return false;
    const live = [streamId];
    for (const [id, { peer }] of streams) {
      if (live.length >= MAX_LIVE) break;
      if (id !== streamId && peer.sharesBeat && peer.beating) live.push(id);
    }
    if (!send(streamId, "ping", { t: now, live })) return false;
    lastBeat = now;
    lastListed = new Set(live);
    return true;
  }

  /**
   * Close every stream now: `bye` to the kernel, then the peer closes synchronously
   * without sending a second bye. Used on pagehide.
   * @param {string} reason
   */
  function closeAll(reason) {
    for (const id of [...earlyAnswers.keys()]) dropEarly(id, reason);
    for (const [id, entry] of [...streams]) {
      send(id, "bye", { reason });
      guarded(log, `closing ${id}`, () => entry.peer.close(reason, { notify: false }));
      unregister(id);
    }
  }

  function streamsSnapshot() {
    return [...streams].map(([id, { peer }]) => ({
      id,
      kind: peer.kind,
      state: peer.state?.name ?? "unknown",
    }));
  }

  /** @type {Router} */
  const router = {
    pageId,
    nextStreamId: () => `${pageId}-${++streamCounter}`,
    nextViewId: () => `${pageId}-v${++viewCounter}`,
    attachModel,
    takeKernelOffer,
    takeEarlyAnswer,
    prepareAnswersWith: (fn) => {
      prepareAnswer = fn;
    },
    listenerCount,
    register,
    unregister,
    isDead: (id) => dead.has(id),
    send,
    flushNow,
    beat,
    deliver,
    closeAll,
    streams: streamsSnapshot,
  };

  // Once per router, i.e. once per page. pagehide (not unload) also fires for bfcache
  // and does not block it; the peers must be closed synchronously inside it.
  const target =
    options.pageTarget !== undefined
      ? options.pageTarget
      : typeof (/** @type {any} */ (globalThis).addEventListener) === "function"
        ? /** @type {any} */ (globalThis)
        : null;
  if (target) target.addEventListener("pagehide", () => closeAll("pagehide"));

  return router;
}

/**
 * The page's router, created on first use.
 * @param {Record<string, any>} [root] where the singleton lives (globalThis in a page)
 * @param {RouterOptions} [options] used only when the router is created
 * @returns {Router}
 */
export function getRouter(root = globalThis, options = undefined) {
  const existing = root[ROUTER_KEY];
  if (existing && typeof existing.deliver === "function") return existing;
  const router = createRouter(options);
  root[ROUTER_KEY] = router;
  return router;
}
