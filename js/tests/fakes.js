// Test doubles shared by the tests: an anywidget-like model, a quiet logger, and a
// fake browser (media devices, screen capture, RTCPeerConnection, data channels, a
// minimal DOM, WebAudio) whose async steps the test resolves by hand so it can close a
// peer at any point of its start sequence.

export class FakeModel {
  /** @param {Record<string, any>} [traits] */
  constructor(traits = {}) {
    this.traits = { ...traits };
    /** @type {Map<string, Function[]>} */
    this.listeners = new Map();
    /** @type {any[]} */
    this.sent = [];
    this.dead = false;
  }
  /** @param {string} key */
  get(key) {
    return this.traits[key];
  }
  /**
   * @param {string} name
   * @param {Function} cb
   */
  on(name, cb) {
    const list = this.listeners.get(name) ?? [];
    list.push(cb);
    this.listeners.set(name, list);
  }
  /**
   * @param {string} name
   * @param {Function} cb
   */
  off(name, cb) {
    const list = this.listeners.get(name) ?? [];
    const i = list.indexOf(cb);
    if (i >= 0) list.splice(i, 1);
  }
  /**
   * @param {any} content
   * @param {any} [_callbacks]
   * @param {any[]} [buffers] kept on the recorded message as `buffers`
   */
  send(content, _callbacks, buffers) {
    if (this.dead) throw new Error("Cannot send on a closed comm");
    this.sent.push(buffers ? { ...content, buffers } : content);
  }
  /** @param {string} name */
  count(name) {
    return (this.listeners.get(name) ?? []).length;
  }
  /** Deliver a kernel -> browser custom message to every listener, like Backbone. */
  emit(content, buffers = []) {
    for (const cb of [...(this.listeners.get("msg:custom") ?? [])]) cb(content, buffers);
  }
  /** @param {string} type */
  sentOf(type) {
    return this.sent.filter((m) => m.type === type);
  }
}

/** A console stand-in that records instead of printing. */
export function quietLog() {
  /** @type {{level: string, args: any[]}[]} */
  const lines = [];
  const make = (level) => (...args) => lines.push({ level, args });
  return { lines, debug: make("debug"), info: make("info"), warn: make("warn"), error: make("error") };
}

/** A promise with its resolve/reject exposed. */
export function deferred() {
  const d = { settled: false, promise: null, resolve: null, reject: null };
  d.promise = new Promise((res, rej) => {
    d.resolve = (v) => {
      d.settled = true;
      res(v);
    };
    d.reject = (e) => {
      d.settled = true;
      rej(e);
    };
  });
  return d;
}

/**
 * Counts listeners per target, honouring `{signal}` and removeEventListener, so tests
 * can assert that a cleanup left none behind.
 */
export class CountingTarget extends EventTarget {
  constructor() {
    super();
    /** @type {{type: string, cb: any}[]} */
    this._listeners = [];
  }
  addEventListener(type, cb, options) {
    super.addEventListener(type, cb, options);
    const signal = typeof options === "object" ? options?.signal : undefined;
    if (signal?.aborted) return;
    const rec = { type, cb };
    this._listeners.push(rec);
    signal?.addEventListener("abort", () => {
      const i = this._listeners.indexOf(rec);
      if (i >= 0) this._listeners.splice(i, 1);
    });
  }
  removeEventListener(type, cb, options) {
    super.removeEventListener(type, cb, options);
    const i = this._listeners.findIndex((r) => r.type === type && r.cb === cb);
    if (i >= 0) this._listeners.splice(i, 1);
  }
  /** @param {string} [type] */
  listenerCount(type) {
    return this._listeners.filter((r) => type === undefined || r.type === type).length;
  }
}

export class FakeTrack extends CountingTarget {
  constructor(kind = "video") {
    super();
    this.kind = kind;
    this.readyState = "live";
    this.contentHint = "";
    /** @type {any[]} */
    this.applied = [];
  }
  /** Like the browser: stop() ends the track without firing `ended`. */
  stop() {
    this.readyState = "ended";
  }
  /** The browser ended it (device gone, "Stop sharing"): fires `ended`. */
  end() {
    this.readyState = "ended";
    this.dispatchEvent(new Event("ended"));
  }
  async applyConstraints(c) {
    this.applied.push(c);
  }
}

export class FakeStream {
  constructor(tracks = [new FakeTrack()]) {
    this.tracks = tracks;
  }
  getTracks() {
    return [...this.tracks];
  }
  getVideoTracks() {
    return this.tracks.filter((t) => t.kind === "video");
  }
  getAudioTracks() {
    return this.tracks.filter((t) => t.kind === "audio");
  }
  addTrack(track) {
    if (!this.tracks.includes(track)) this.tracks.push(track);
  }
}

/** An RTCDataChannel: connecting until open(); close() ends it and fires `close`. */
export class FakeDataChannel extends CountingTarget {
  constructor(label, init = {}) {
    super();
    this.label = label;
    this.init = init;
    this.readyState = "connecting";
    this.binaryType = "blob";
    /** @type {any[]} */
    this.sent = [];
  }
  send(data) {
    if (this.readyState !== "open") {
      throw Object.assign(new Error(`channel is ${this.readyState}`), { name: "InvalidStateError" });
    }
    this.sent.push(data);
  }
  open() {
    this.readyState = "open";
    this.dispatchEvent(new Event("open"));
  }
  /** A message from the kernel. */
  receive(data) {
    this.dispatchEvent(Object.assign(new Event("message"), { data }));
  }
  close() {
    if (this.readyState === "closed") return;
    this.readyState = "closed";
    this.dispatchEvent(new Event("close"));
  }
}

/**
 * A fake browser. Each async step is a deferred the test settles (or auto-settles).
 * @param {{auto?: boolean}} [opts] auto: settle getUserMedia/createOffer/etc at once
 */
export function fakeBrowser({ auto = true } = {}) {
  const world = {
    /** @type {FakePC[]} */
    pcs: [],
    /** @type {FakeStream[]} */
    streams: [],
    gum: /** @type {ReturnType<typeof deferred>[]} */ ([]),
    /** @type {any[]} */
    gumCalls: [],
    gdm: /** @type {ReturnType<typeof deferred>[]} */ ([]),
    /** @type {any[]} */
    gdmCalls: [],
    /** @type {FakeDataChannel[]} every channel of every pc */
    channels: [],
    timers: new Map(),
    nextTimer: 1,
    nowMs: 0,
    devices: [
      { deviceId: "cam1", kind: "videoinput", label: "Fake cam", groupId: "g1" },
    ],
  };

  class FakePC extends EventTarget {
    constructor(config) {
      super();
      this.config = config;
      this.closed = false;
      this.connectionState = "new";
      this.iceConnectionState = "new";
      this.iceGatheringState = "new";
      this.signalingState = "stable";
      /** @type {any[]} */
      this.transceivers = [];
      /** receivers of the kernel's tracks (remoteTrack) */
      this.receivers = [];
      /** @type {FakeDataChannel[]} */
      this.channels = [];
      this.localDescription = null;
      this.remoteDescription = null;
      /** @type {any[]} the options of every createOffer call */
      this.offerOptions = [];
      this.restarts = 0;
      this.rollbacks = 0;
      /** What getStats() reports (RTCStats-shaped objects). */
      this.statsReports = [
        { id: "OT01", type: "outbound-rtp", kind: "video", bytesSent: 1000, packetsSent: 10, timestamp: 1 },
        { id: "T01", type: "transport", bytesSent: 1200, selectedCandidatePairId: "CP1", timestamp: 1 },
      ];
      this.offerStep = deferred();
      this.localStep = deferred();
      this.remoteStep = deferred();
      if (auto) {
        this.offerStep.resolve({ type: "offer", sdp: "v=0\r\nfake-offer\r\n" });
        this.localStep.resolve();
        this.remoteStep.resolve();
      }
      world.pcs.push(this);
    }
    addTransceiver(trackOrKind, init) {
      if (this.closed) throw new Error("InvalidStateError");
      const pc = this;
      const transceiver = {
        kind: typeof trackOrKind === "string" ? trackOrKind : trackOrKind.kind,
        trackOrKind,
        init,
        sender: {
          track: typeof trackOrKind === "string" ? null : trackOrKind,
          async replaceTrack(track) {
            if (pc.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
            this.track = track;
          },
        },
      };
      this.transceivers.push(transceiver);
      return transceiver;
    }
    createDataChannel(label, init) {
      if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
      const channel = new FakeDataChannel(label, init);
      this.channels.push(channel);
      world.channels.push(channel);
      return channel;
    }
    /** The kernel opened a channel (DCEP): the browser gets `datachannel`. */
    remoteChannel(label, { open = true } = {}) {
      const channel = new FakeDataChannel(label);
      if (open) channel.readyState = "open";
      this.channels.push(channel);
      world.channels.push(channel);
      this.dispatchEvent(Object.assign(new Event("datachannel"), { channel }));
      return channel;
    }
    /**
     * The kernel sent a track: the browser gets `track`. `stream` undefined: a stream of
     * its own; null: no stream at all (a sender without msid).
     */
    remoteTrack(kind = "video", stream = undefined) {
      const track = new FakeTrack(kind);
      const streams = stream === null ? [] : [stream ?? new FakeStream([track])];
      // like Chromium's RTCRtpReceiver: jitterBufferTarget null until set, RangeError
      // beyond 4000 ms
      let target = null;
      const receiver = {
        track,
        get jitterBufferTarget() {
          return target;
        },
        set jitterBufferTarget(ms) {
          if (ms !== null && !(ms >= 0 && ms <= 4000)) throw new RangeError(`bad target ${ms}`);
          target = ms;
        },
      };
      this.receivers.push(receiver);
      this.dispatchEvent(Object.assign(new Event("track"), { track, streams, receiver }));
      return track;
    }
    getReceivers() {
      return [...this.receivers];
    }
    async createOffer(options) {
      this.offerOptions.push(options ?? null);
      const offer = await this.offerStep.promise;
      if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
      return offer;
    }
    /** A media server's offer was applied: the page answers (answerer.js). */
    async createAnswer() {
      if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
      return { type: "answer", sdp: "v=0\r\nfake-answer-of-the-page\r\n" };
    }
    async setLocalDescription(desc) {
      await this.localStep.promise;
      if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
      if (desc?.type === "rollback") {
        this.rollbacks += 1;
        this.setState("signalingState", "stable", "signalingstatechange");
        return;
      }
      this.localDescription = desc;
      this.setState("signalingState", "have-local-offer", "signalingstatechange");
    }
    restartIce() {
      this.restarts += 1;
    }
    async getStats() {
      if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
      return new Map(this.statsReports.map((r) => [r.id, r]));
    }
    /** Like the browser: a remote offer's media sections become recvonly transceivers. */
    getTransceivers() {
      return [...this.transceivers];
    }
    async setRemoteDescription(desc) {
      await this.remoteStep.promise;
      if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
      if (desc?.type === "offer" && this.transceivers.length === 0) {
        for (const [, kind] of String(desc.sdp).matchAll(/^m=(video|audio) /gm)) {
          const tx = this.addTransceiver(kind, { direction: "recvonly" });
          tx.direction = "recvonly";
          tx.receiver = { track: new FakeTrack(kind) };
        }
      }
      this.remoteDescription = desc;
      this.setState("signalingState", "stable", "signalingstatechange");
    }
    close() {
      this.closed = true;
      this.connectionState = "closed";
      this.signalingState = "closed";
      // Like the browser: its channels are closed, without `close` events.
      for (const c of this.channels) c.readyState = "closed";
    }
    setState(field, value, event) {
      this[field] = value;
      this.dispatchEvent(new Event(event));
    }
    candidate(c) {
      const ev = new Event("icecandidate");
      ev.candidate = c;
      this.dispatchEvent(ev);
    }
  }

  const env = {
    mediaDevices: {
      getUserMedia(constraints) {
        world.gumCalls.push(constraints);
        const d = deferred();
        world.gum.push(d);
        if (auto) d.resolve(streamFor(constraints));
        return d.promise;
      },
      getDisplayMedia(constraints) {
        world.gdmCalls.push(constraints);
        const d = deferred();
        world.gdm.push(d);
        if (auto) d.resolve(streamFor(constraints));
        return d.promise;
      },
      async enumerateDevices() {
        return world.devices;
      },
    },
    RTCPeerConnection: FakePC,
    MediaStream: FakeStream,
    now: () => world.nowMs,
    setInterval: (fn, ms) => addTimer(fn, ms, true),
    clearInterval: (id) => world.timers.delete(id),
    setTimeout: (fn, ms) => addTimer(fn, ms, false),
    clearTimeout: (id) => world.timers.delete(id),
    log: quietLog(),
  };

  /** @param {string[]} [kinds] */
  function makeStream(kinds = ["video"]) {
    const s = new FakeStream(kinds.map((k) => new FakeTrack(k)));
    world.streams.push(s);
    return s;
  }

  /** What getUserMedia/getDisplayMedia would return for these constraints. */
  function streamFor(constraints) {
    const kinds = [];
    if (constraints?.video) kinds.push("video");
    if (constraints?.audio) kinds.push("audio");
    return makeStream(kinds);
  }

  function addTimer(fn, ms, repeat) {
    const id = world.nextTimer++;
    world.timers.set(id, { fn, ms, repeat, due: world.nowMs + ms });
    return id;
  }

  /** Advance the fake clock, running due timers in order. */
  function advance(ms) {
    const end = world.nowMs + ms;
    for (;;) {
      let next = null;
      for (const [id, t] of world.timers) {
        if (t.due <= end && (next === null || t.due < next[1].due)) next = [id, t];
      }
      if (next === null) break;
      const [id, t] = next;
      // A timer that is overdue (see stall) fires late, never back in time.
      world.nowMs = Math.max(world.nowMs, t.due);
      if (t.repeat) t.due += t.ms;
      else world.timers.delete(id);
      t.fn();
    }
    world.nowMs = end;
  }

  /**
   * The page's main thread is blocked for `ms`: the clock moves, no timer fires; the
   * next advance() fires the overdue ones, late, as a browser does.
   */
  function stall(ms) {
    world.nowMs += ms;
  }

  /** Live things: unclosed pcs and unstopped tracks. */
  function leaks() {
    return {
      pcs: world.pcs.filter((pc) => !pc.closed).length,
      tracks: world.streams.flatMap((s) => s.tracks).filter((t) => t.readyState === "live").length,
    };
  }

  /** Data channels neither closed by nbrtc nor by their pc. */
  function openChannels() {
    return world.channels.filter((c) => c.readyState !== "closed").length;
  }

  /** Settle every pending step, so a start() that went wrong cannot hang a test. */
  function settleAll() {
    for (const d of world.gum) if (!d.settled) d.resolve(makeStream());
    for (const d of world.gdm) if (!d.settled) d.resolve(makeStream());
    for (const pc of world.pcs) {
      pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\nlate-offer\r\n" });
      pc.localStep.resolve();
      pc.remoteStep.resolve();
    }
  }

  return { world, env, makeStream, advance, stall, leaks, openChannels, settleAll, FakePC };
}

/** Let pending promise callbacks run. */
export async function flush(times = 10) {
  for (let i = 0; i < times; i++) await new Promise((r) => setImmediate(r));
}

/** A classList over FakeElement.className, as view.js uses it. */
class FakeClassList {
  constructor(el) {
    this.el = el;
  }
  get tokens() {
    return this.el.className.split(/\s+/).filter(Boolean);
  }
  contains(c) {
    return this.tokens.includes(c);
  }
  add(...cs) {
    const t = this.tokens;
    for (const c of cs) if (!t.includes(c)) t.push(c);
    this.el.className = t.join(" ");
  }
  remove(...cs) {
    this.el.className = this.tokens.filter((c) => !cs.includes(c)).join(" ");
  }
}

/** Just enough DOM for view.js: elements with children, attributes and events. */
export class FakeElement extends CountingTarget {
  constructor(tag, ownerDocument) {
    super();
    this.tagName = tag.toUpperCase();
    this.ownerDocument = ownerDocument;
    /** @type {FakeElement[]} */
    this.children = [];
    this.parentNode = null;
    this.dataset = {};
    this.attributes = {};
    this.className = "";
    this.id = "";
    this.textContent = "";
    this.srcObject = null;
    this.videoWidth = 0;
    this.videoHeight = 0;
    this.plays = 0;
    this.hidden = false;
    this.muted = false;
    this.value = "";
    this.classList = new FakeClassList(this);
    /** What play() does: resolve, or reject like an autoplay policy (see refusePlay). */
    this.playResult = () => Promise.resolve();
    /** @type {Map<number, Function>} pending requestVideoFrameCallback callbacks */
    this.frameCallbacks = new Map();
    this.nextFrameHandle = 1;
    if (this.tagName === "VIDEO" && !ownerDocument?.noFrameCallbacks) {
      // Present on video elements only, like the browser; tests delete it for the fallback.
      this.requestVideoFrameCallback = (cb) => {
        const h = this.nextFrameHandle++;
        this.frameCallbacks.set(h, cb);
        return h;
      };
      this.cancelVideoFrameCallback = (h) => {
        this.frameCallbacks.delete(h);
      };
    }
  }
  /** A frame was presented: run (and forget) the pending frame callbacks. */
  presentFrame(width = 640, height = 480) {
    this.videoWidth = width;
    this.videoHeight = height;
    const cbs = [...this.frameCallbacks.values()];
    this.frameCallbacks.clear();
    for (const cb of cbs) cb(0, { width, height });
  }
  /** Make play() reject as an autoplay policy does (muted playback still allowed). */
  refusePlay({ evenMuted = false } = {}) {
    this.playResult = () =>
      this.muted && !evenMuted
        ? Promise.resolve()
        : Promise.reject(Object.assign(new Error("play() failed"), { name: "NotAllowedError" }));
  }
  appendChild(child) {
    child.parentNode = this;
    this.children.push(child);
    return child;
  }
  append(...children) {
    for (const c of children) this.appendChild(c);
  }
  remove() {
    if (!this.parentNode) return;
    const list = this.parentNode.children;
    list.splice(list.indexOf(this), 1);
    this.parentNode = null;
  }
  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }
  play() {
    this.plays += 1;
    return this.playResult();
  }
  pause() {}
  /** Depth-first search by one class name (a token of className). */
  find(className) {
    return this.findAll(className)[0] ?? null;
  }
  /** Every descendant with that class token, in document order. */
  findAll(className) {
    const out = [];
    for (const c of this.children) {
      if (c.classList.contains(className)) out.push(c);
      out.push(...c.findAll(className));
    }
    return out;
  }
  /** This element and every descendant. */
  all() {
    return [this, ...this.children.flatMap((c) => c.all())];
  }
}

export class FakeDocument {
  /** @param {{noFrameCallbacks?: boolean}} [options] videos without requestVideoFrameCallback */
  constructor({ noFrameCallbacks = false } = {}) {
    this.noFrameCallbacks = noFrameCallbacks;
    /** @type {FakeElement[]} every element ever created, for leak checks */
    this.created = [];
    this.head = new FakeElement("head", this);
    this.documentElement = new FakeElement("html", this);
  }
  createElement(tag) {
    const el = new FakeElement(tag, this);
    this.created.push(el);
    return el;
  }
  /** Listeners still attached to any element this document made. */
  listenerCount() {
    return this.created.reduce((n, el) => n + el.listenerCount(), 0);
  }
  getElementById(id) {
    const walk = (el) => {
      for (const c of el.children) {
        if (c.id === id) return c;
        const d = walk(c);
        if (d) return d;
      }
      return null;
    };
    return walk(this.head);
  }
}

/**
 * A WebAudio stand-in for the level meter: the analyser returns `world.level` as a
 * constant signal; contexts are counted so tests can check that all were closed.
 */
export function fakeAudio() {
  const world = { level: 0.5, contexts: /** @type {any[]} */ ([]), sources: /** @type {any[]} */ ([]) };
  class FakeAudioContext {
    constructor() {
      this.state = "running";
      this.resumes = 0;
      world.contexts.push(this);
    }
    createMediaStreamSource(stream) {
      if (!stream.getAudioTracks().length) {
        throw Object.assign(new Error("no audio track"), { name: "InvalidStateError" });
      }
      const source = {
        stream,
        connected: /** @type {any[]} */ ([]),
        connect(node) {
          this.connected.push(node);
        },
        disconnect() {
          this.connected = [];
        },
      };
      world.sources.push(source);
      return source;
    }
    createAnalyser() {
      return {
        fftSize: 2048,
        getFloatTimeDomainData(arr) {
          arr.fill(world.level);
        },
      };
    }
    async resume() {
      this.resumes += 1;
      this.state = "running";
    }
    async close() {
      this.state = "closed";
    }
  }
  const open = () => world.contexts.filter((c) => c.state !== "closed").length;
  return { world, AudioContext: FakeAudioContext, open };
}

/** Fake timers for the view's meter (same clock idea as fakeBrowser's). */
export function fakeTimers() {
  const timers = new Map();
  let next = 1;
  let now = 0;
  return {
    timers,
    setInterval: (fn, ms) => {
      const id = next++;
      timers.set(id, { fn, ms, due: now + ms });
      return id;
    },
    clearInterval: (id) => timers.delete(id),
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let hit = null;
        for (const [id, t] of timers) if (t.due <= end && (!hit || t.due < hit[1].due)) hit = [id, t];
        if (!hit) break;
        now = hit[1].due;
        hit[1].due += hit[1].ms;
        hit[1].fn();
      }
      now = end;
    },
  };
}

/**
 * One BrowserPeer on a fake browser and a private router, for peer-level tests.
 * `kernel(type, payload)` delivers a kernel message for the peer's stream.
 * @param {{BrowserPeer: any, createRouter: any, kind?: string, auto?: boolean, traits?: Record<string, any>}} options
 */
export function peerSetup({ BrowserPeer, createRouter, kind = "camera", auto = true, traits = {} }) {
  const browser = fakeBrowser({ auto });
  const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "abcdef01" });
  const model = new FakeModel({
    kind,
    constraints: { width: 640, height: 480, frame_rate: null, device_id: null },
    rtc_config: { iceServers: [] },
    ...traits,
  });
  /** @type {any[]} */
  const snapshots = [];
  /** @type {any[]} */
  const channelEvents = [];
  const peer = new BrowserPeer({
    model,
    kind,
    router,
    env: browser.env,
    onChange: (s) => snapshots.push(s),
    onChannel: (e) => channelEvents.push(e),
  });
  const kernel = (type, payload) => model.emit({ v: 1, type, stream: peer.id, payload });
  return { browser, router, model, peer, snapshots, channelEvents, kernel };
}
