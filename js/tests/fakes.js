// Test doubles shared by the tests: an anywidget-like model, a quiet logger, and a
// fake browser (media devices, RTCPeerConnection) whose async steps the test resolves
// by hand so it can close a peer at any point of its start sequence.

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
  /** @param {any} content */
  send(content) {
    if (this.dead) throw new Error("Cannot send on a closed comm");
    this.sent.push(content);
  }
  /** @param {string} name */
  count(name) {
    return (this.listeners.get(name) ?? []).length;
  }
  /** Deliver a kernel -> browser custom message to every listener, like Backbone. */
  emit(content) {
    for (const cb of [...(this.listeners.get("msg:custom") ?? [])]) cb(content, []);
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

export class FakeTrack {
  constructor(kind = "video") {
    this.kind = kind;
    this.readyState = "live";
    this.contentHint = "";
  }
  stop() {
    this.readyState = "ended";
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
      this.signalingState = "stable";
      /** @type {any[]} */
      this.transceivers = [];
      this.localDescription = null;
      this.remoteDescription = null;
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
    async createOffer() {
      const offer = await this.offerStep.promise;
      if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
      return offer;
    }
    async setLocalDescription(desc) {
      await this.localStep.promise;
      if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
      this.localDescription = desc;
      this.setState("signalingState", "have-local-offer", "signalingstatechange");
    }
    async setRemoteDescription(desc) {
      await this.remoteStep.promise;
      if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
      this.remoteDescription = desc;
      this.setState("signalingState", "stable", "signalingstatechange");
    }
    close() {
      this.closed = true;
      this.connectionState = "closed";
      this.signalingState = "closed";
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
        if (auto) d.resolve(makeStream());
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

  function makeStream() {
    const s = new FakeStream();
    world.streams.push(s);
    return s;
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
      world.nowMs = t.due;
      if (t.repeat) t.due += t.ms;
      else world.timers.delete(id);
      t.fn();
    }
    world.nowMs = end;
  }

  /** Live things: unclosed pcs and unstopped tracks. */
  function leaks() {
    return {
      pcs: world.pcs.filter((pc) => !pc.closed).length,
      tracks: world.streams.flatMap((s) => s.tracks).filter((t) => t.readyState === "live").length,
    };
  }

  /** Settle every pending step, so a start() that went wrong cannot hang a test. */
  function settleAll() {
    for (const d of world.gum) if (!d.settled) d.resolve(makeStream());
    for (const pc of world.pcs) {
      pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\nlate-offer\r\n" });
      pc.localStep.resolve();
      pc.remoteStep.resolve();
    }
  }

  return { world, env, makeStream, advance, leaks, settleAll, FakePC };
}

/** Let pending promise callbacks run. */
export async function flush(times = 10) {
  for (let i = 0; i < times; i++) await new Promise((r) => setImmediate(r));
}

/** Just enough DOM for view.js: elements with children, attributes and events. */
export class FakeElement extends EventTarget {
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
    return Promise.resolve();
  }
  pause() {}
  /** Depth-first search by class name. */
  find(className) {
    for (const c of this.children) {
      if (c.className === className) return c;
      const deep = c.find(className);
      if (deep) return deep;
    }
    return null;
  }
}

export class FakeDocument {
  constructor() {
    this.head = new FakeElement("head", this);
    this.documentElement = new FakeElement("html", this);
  }
  createElement(tag) {
    return new FakeElement(tag, this);
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
