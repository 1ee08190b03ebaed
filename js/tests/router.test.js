import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_KERNEL_OFFERS, ROUTER_KEY, createRouter, getRouter } from "../core/router.js";
import { FakeModel, quietLog } from "./fakes.js";

class FakePeer {
  constructor(kind = "camera", stateName = "live") {
    this.kind = kind;
    this.state = { name: stateName };
    /** @type {any[]} */
    this.received = [];
    /** @type {any[]} */
    this.closes = [];
  }
  handleKernelMessage(msg) {
    this.received.push(msg);
  }
  close(reason, options) {
    this.closes.push([reason, options]);
  }
}

/** A pagehide target that counts its listeners. */
class PageTarget extends EventTarget {
  constructor() {
    super();
    this.added = 0;
  }
  addEventListener(type, cb, opts) {
    if (type === "pagehide") this.added += 1;
    super.addEventListener(type, cb, opts);
  }
}

function setup() {
  const log = quietLog();
  const page = new PageTarget();
  let n = 0;
  const router = createRouter({ log, pageTarget: page, randomHex: () => `0000000${++n}`.slice(-8) });
  return { router, log, page };
}

const ping = (stream) => ({ v: 1, type: "ping", stream, payload: { t: 1 } });

describe("ids", () => {
  test("pageId is 8 hex chars and stream ids count up from 1", () => {
    const router = createRouter({ log: quietLog(), pageTarget: null });
    assert.match(router.pageId, /^[0-9a-f]{8}$/);
    assert.equal(router.nextStreamId(), `${router.pageId}-1`);
    assert.equal(router.nextStreamId(), `${router.pageId}-2`);
    assert.equal(router.nextViewId(), `${router.pageId}-v1`);
  });
  test("two pages get different page ids", () => {
    const a = createRouter({ log: quietLog(), pageTarget: null });
    const b = createRouter({ log: quietLog(), pageTarget: null });
    assert.notEqual(a.pageId, b.pageId);
  });
  test("an id is never reused", () => {
    const { router } = setup();
    const model = new FakeModel();
    router.register("p-1", new FakePeer(), model);
    assert.throws(() => router.register("p-1", new FakePeer(), model));
    router.unregister("p-1");
    assert.equal(router.isDead("p-1"), true);
    assert.throws(() => router.register("p-1", new FakePeer(), model));
  });
});

describe("singleton", () => {
  test("getRouter creates one router per root and stores it under the v1 key", () => {
    const root = {};
    const page = new PageTarget();
    const a = getRouter(root, { log: quietLog(), pageTarget: page });
    const b = getRouter(root, { log: quietLog(), pageTarget: page });
    assert.equal(a, b);
    assert.equal(root[ROUTER_KEY], a);
    assert.equal(ROUTER_KEY, "__nbrtc_router_v1");
    assert.equal(page.added, 1, "pagehide is registered once per page");
  });
  test("a second evaluation of the module finds the same router", async () => {
    const root = {};
    const first = getRouter(root, { log: quietLog(), pageTarget: null });
    const again = await import(`../core/router.js?second-evaluation`);
    assert.notEqual(again.getRouter, getRouter, "really a second module instance");
    assert.equal(again.getRouter(root), first);
  });
  test("the default root is globalThis", () => {
    try {
      const r = getRouter();
      assert.equal(globalThis.__nbrtc_router_v1, r);
      assert.equal(getRouter(), r);
    } finally {
      delete globalThis.__nbrtc_router_v1;
    }
  });
});

describe("dispatch", () => {
  test("by stream id, across models", () => {
    const { router } = setup();
    const m1 = new FakeModel();
    const m2 = new FakeModel();
    const p1 = new FakePeer();
    const p2 = new FakePeer();
    const p3 = new FakePeer("view");
    router.register("s-1", p1, m1);
    router.register("s-2", p2, m1);
    router.register("s-3", p3, m2);
    m1.emit(ping("s-2"));
    m2.emit(ping("s-3"));
    assert.equal(p1.received.length, 0);
    assert.deepEqual(p2.received, [ping("s-2")]);
    assert.deepEqual(p3.received, [ping("s-3")]);
  });

  test("unknown stream is dropped without throwing", () => {
    const { router, log } = setup();
    const m = new FakeModel();
    const p = new FakePeer();
    router.register("s-1", p, m);
    assert.doesNotThrow(() => m.emit(ping("nobody-9")));
    assert.equal(p.received.length, 0);
    assert.ok(log.lines.some((l) => l.level === "debug" && String(l.args[0]).includes("nobody-9")));
  });

  test("closed stream is dropped (tombstone)", () => {
    const { router, log } = setup();
    const m = new FakeModel();
    const p = new FakePeer();
    const keep = new FakePeer();
    router.register("s-1", p, m);
    router.register("s-2", keep, m);
    router.unregister("s-1");
    m.emit({ v: 1, type: "answer", stream: "s-1", payload: { sdp: "v=0\r\n" } });
    assert.equal(p.received.length, 0);
    assert.ok(log.lines.some((l) => String(l.args[0]).includes("closed stream s-1")));
  });

  test("invalid messages reach no peer and never throw", () => {
    const { router, log } = setup();
    const m = new FakeModel();
    const p = new FakePeer();
    router.register("s-1", p, m);
    for (const bad of [
      null,
      "text",
      { v: 2, type: "ping", stream: "s-1", payload: null },
      { v: 1, type: "offer", stream: "s-1", payload: {} },
      { v: 1, type: "answer", stream: "s-1", payload: { sdp: 3 } },
      { v: 1, type: "ping", stream: "s-1", payload: { t: "x".repeat(300000) } },
    ]) {
      assert.doesNotThrow(() => m.emit(bad));
    }
    assert.equal(p.received.length, 0);
    assert.ok(log.lines.some((l) => l.level === "warn" && String(l.args[0]).includes("(version)")));
    assert.ok(log.lines.some((l) => l.level === "warn" && String(l.args[0]).includes("(too-large)")));
  });

  test("foreign messages on the comm are only debug-logged", () => {
    const { router, log } = setup();
    const m = new FakeModel();
    router.attachModel(m);
    m.emit({ id: "x", kind: "anywidget-command-response", response: 1 });
    assert.equal(log.lines.filter((l) => l.level === "warn").length, 0);
  });

  test("a peer that throws does not break the listener or other streams", () => {
    const { router, log } = setup();
    const m = new FakeModel();
    const bad = new FakePeer();
    bad.handleKernelMessage = () => {
      throw new Error("peer bug");
    };
    const good = new FakePeer();
    router.register("s-1", bad, m);
    router.register("s-2", good, m);
    assert.doesNotThrow(() => m.emit(ping("s-1")));
    m.emit(ping("s-2"));
    assert.equal(good.received.length, 1);
    assert.ok(log.lines.some((l) => l.level === "error"));
  });

  test("two listeners on one comm (anywidget proxies) dispatch once", () => {
    const { router } = setup();
    // initialize() and render() get different proxy objects for the same comm.
    const comm = new FakeModel();
    const proxyA = { on: comm.on.bind(comm), off: comm.off.bind(comm), send: comm.send.bind(comm), get: comm.get.bind(comm) };
    const proxyB = { ...proxyA };
    router.attachModel(proxyA);
    const p = new FakePeer();
    router.register("s-1", p, proxyB);
    assert.equal(comm.count("msg:custom"), 2);
    comm.emit(ping("s-1"));
    assert.equal(p.received.length, 1);
  });
});

describe("listener ref-counting", () => {
  test("one listener per model, removed when the count drops to zero", () => {
    const { router } = setup();
    const m = new FakeModel();
    const detachInit = router.attachModel(m);
    const detachRender = router.attachModel(m);
    assert.equal(m.count("msg:custom"), 1);
    assert.equal(router.listenerCount(m), 2);
    detachInit();
    detachInit(); // idempotent: must not drop the render's reference
    assert.equal(m.count("msg:custom"), 1);
    assert.equal(router.listenerCount(m), 1);
    detachRender();
    assert.equal(m.count("msg:custom"), 0);
    assert.equal(router.listenerCount(m), 0);
    const again = router.attachModel(m);
    assert.equal(m.count("msg:custom"), 1);
    again();
    assert.equal(m.count("msg:custom"), 0);
  });

  test("a registered stream holds a reference until unregistered", () => {
    const { router } = setup();
    const m = new FakeModel();
    const detach = router.attachModel(m);
    router.register("s-1", new FakePeer(), m);
    detach();
    assert.equal(m.count("msg:custom"), 1, "the stream still needs the listener");
    router.unregister("s-1");
    assert.equal(m.count("msg:custom"), 0);
  });
});

describe("send", () => {
  test("through the owning model, as an envelope", () => {
    const { router } = setup();
    const m1 = new FakeModel();
    const m2 = new FakeModel();
    router.register("s-1", new FakePeer(), m1);
    router.register("s-2", new FakePeer(), m2);
    assert.equal(router.send("s-2", "ping", { t: 5 }), true);
    // the page key is the router's second random draw (the page id is the first)
    assert.deepEqual(m2.sent, [
      { v: 1, type: "ping", stream: "s-2", payload: { t: 5 }, key: "00000002" },
    ]);
    assert.equal(m1.sent.length, 0);
  });
  test("every message carries the page's secret key, never the page id", () => {
    const router = createRouter({ log: quietLog(), pageTarget: null });
    const m = new FakeModel();
    router.register("s-1", new FakePeer(), m);
    router.send("s-1", "ping", { t: 1 });
    router.send("s-1", "bye", { reason: "closed" });
    const [a, b] = m.sent.map((msg) => msg.key);
    assert.match(a, /^[0-9a-f]{32}$/);
    assert.equal(a, b, "one key per page");
    assert.ok(!a.startsWith(router.pageId), "the key is not derived from the public page id");
    const other = createRouter({ log: quietLog(), pageTarget: null });
    const m2 = new FakeModel();
    other.register("s-1", new FakePeer(), m2);
    other.send("s-1", "ping", { t: 1 });
    assert.notEqual(m2.sent[0].key, a, "another page has another key");
  });
  test("a dead comm is swallowed", () => {
    const { router } = setup();
    const m = new FakeModel();
    m.dead = true;
    router.register("s-1", new FakePeer(), m);
    assert.equal(router.send("s-1", "bye", { reason: "closed" }), false);
  });
  test("nothing is sent for unknown or closed streams", () => {
    const { router } = setup();
    const m = new FakeModel();
    router.register("s-1", new FakePeer(), m);
    router.unregister("s-1");
    assert.equal(router.send("s-1", "ping", {}), false);
    assert.equal(router.send("zz-1", "ping", {}), false);
    assert.equal(m.sent.length, 0);
  });
});

describe("pagehide", () => {
  test("sends bye for each stream and closes every peer synchronously", () => {
    const { router, page } = setup();
    const m1 = new FakeModel();
    const m2 = new FakeModel();
    const peers = [new FakePeer(), new FakePeer("view"), new FakePeer()];
    router.register("s-1", peers[0], m1);
    router.register("s-2", peers[1], m1);
    router.register("s-3", peers[2], m2);
    // A peer whose close throws must not keep the others open.
    peers[1].close = () => {
      throw new Error("broken peer");
    };
    page.dispatchEvent(new Event("pagehide"));
    assert.deepEqual(
      [...m1.sentOf("bye"), ...m2.sentOf("bye")].map((m) => [m.stream, m.payload.reason]),
      [["s-1", "pagehide"], ["s-2", "pagehide"], ["s-3", "pagehide"]],
    );
    assert.deepEqual(peers[0].closes, [["pagehide", { notify: false }]]);
    assert.deepEqual(peers[2].closes, [["pagehide", { notify: false }]]);
    assert.deepEqual(router.streams(), []);
    assert.equal(m1.count("msg:custom"), 0);
    assert.equal(router.isDead("s-2"), true);
  });
});

describe("streams()", () => {
  test("lists id, kind and state", () => {
    const { router } = setup();
    const m = new FakeModel();
    router.register("s-1", new FakePeer("camera", "live"), m);
    router.register("s-2", new FakePeer("view", "connecting"), m);
    assert.deepEqual(router.streams(), [
      { id: "s-1", kind: "camera", state: "live" },
      { id: "s-2", kind: "view", state: "connecting" },
    ]);
  });
});

/** A Lumino-like signal and a kernel connection that has one. */
class FakeSignal {
  constructor() {
    /** @type {Function[]} */
    this.slots = [];
  }
  connect(slot) {
    this.slots.push(slot);
    return true;
  }
  disconnect(slot) {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    return i >= 0;
  }
  emit(sender, value) {
    for (const slot of [...this.slots]) slot(sender, value);
  }
}

describe("kernel status", () => {
  function kernelModel(kernel) {
    const model = new FakeModel({ kind: "camera" });
    model.widget_manager = { kernel };
    return model;
  }

  test("a restart or shutdown closes that kernel's streams at once, no others", () => {
    const { router } = setup();
    const k1 = { statusChanged: new FakeSignal() };
    const k2 = { statusChanged: new FakeSignal() };
    const a = new FakePeer();
    const b = new FakePeer();
    const c = new FakePeer();
    const gone = [];
    for (const p of [a, b, c]) p.kernelGone = (why) => gone.push([p, why]);
    router.register("s-1", a, kernelModel(k1));
    router.register("s-2", b, kernelModel(k1));
    router.register("s-3", c, kernelModel(k2));
    assert.equal(k1.statusChanged.slots.length, 1, "one subscription per kernel");
    k1.statusChanged.emit(k1, "busy");
    k1.statusChanged.emit(k1, "idle");
    assert.equal(gone.length, 0, "ordinary statuses change nothing");
    k1.statusChanged.emit(k1, "restarting");
    assert.deepEqual(
      gone.map(([p, why]) => [p === a ? "a" : p === b ? "b" : "c", why]),
      [
        ["a", "restarting"],
        ["b", "restarting"],
      ],
    );
  });

  test("the subscription ends with the kernel's last stream", () => {
    const { router } = setup();
    const k = { statusChanged: new FakeSignal() };
    router.register("s-1", new FakePeer(), kernelModel(k));
    router.register("s-2", new FakePeer(), kernelModel(k));
    router.unregister("s-1");
    assert.equal(k.statusChanged.slots.length, 1);
    router.unregister("s-2");
    assert.equal(k.statusChanged.slots.length, 0);
  });

  test("models without a kernel (other hosts) and throwing signals are tolerated", () => {
    const { router, log } = setup();
    const bad = {
      statusChanged: {
        connect() {
          throw new Error("no");
        },
        disconnect() {
          throw new Error("no");
        },
      },
    };
    router.register("s-1", new FakePeer(), new FakeModel({ kind: "view" }));
    router.register("s-2", new FakePeer(), kernelModel(bad));
    router.unregister("s-2");
    router.unregister("s-1");
    const errors = log.lines.filter((l) => l.level === "error");
    assert.equal(errors.length, 2, "both failures logged, neither thrown");
  });
});

describe("one heartbeat per page (docs/protocol.md \"Liveness\")", () => {
  class BeatingPeer extends FakePeer {
    constructor(sharesBeat = true) {
      super("view");
      this.sharesBeat = sharesBeat;
      this.beating = true;
      this.heard = 0;
    }
    kernelHeard() {
      this.heard += 1;
    }
  }

  test("a kernel ping on one stream is heard by every stream it lists, here only", () => {
    const { router } = setup();
    const model = new FakeModel();
    router.attachModel(model);
    const ids = [router.nextStreamId(), router.nextStreamId(), router.nextStreamId()];
    const peers = ids.map((id) => {
      const p = new BeatingPeer();
      router.register(id, p, model);
      return p;
    });
    model.emit({ v: 1, type: "ping", stream: ids[0], payload: { t: 1, live: [ids[0], ids[1], "ffffffff-9"] } });
    assert.equal(peers[0].received.length, 1, "the carrier handles it as any message");
    assert.equal(peers[0].heard, 0);
    assert.equal(peers[1].heard, 1, "a listed stream heard the kernel");
    assert.equal(peers[2].heard, 0, "an unlisted one did not");
    model.emit({ v: 1, type: "ping", stream: ids[0], payload: { t: 2, live: "all" } });
    assert.equal(peers[1].heard, 1, "a malformed list is refused as a whole");
  });

  test("beats of many streams send one ping per interval, listing the beating ones", () => {
    const { router } = setup();
    const model = new FakeModel();
    router.attachModel(model);
    const ids = [router.nextStreamId(), router.nextStreamId(), router.nextStreamId()];
    const peers = [new BeatingPeer(), new BeatingPeer(), new BeatingPeer(false)];
    ids.forEach((id, i) => router.register(id, peers[i], model));
    let now = 10_000;
    for (const id of ids.slice(0, 2)) router.beat(id, now);
    let pings = model.sent.filter((m) => m.type === "ping");
    assert.equal(pings.length, 1, "the second stream's beat was covered by the first");
    assert.deepEqual(pings[0].payload.live, [ids[0], ids[1]], "the non-sharing session is not listed");
    assert.equal(pings[0].stream, ids[0]);
    now += 1000; // a heartbeat interval later
    router.beat(ids[1], now);
    router.beat(ids[0], now + 10);
    pings = model.sent.filter((m) => m.type === "ping");
    assert.equal(pings.length, 2);
    assert.equal(pings[1].stream, ids[1]);
    // a new stream the last beat did not list gets its own ping at once
    const late = router.nextStreamId();
    router.register(late, new BeatingPeer(), model);
    assert.equal(router.beat(late, now + 20), true);
    assert.deepEqual(model.sent.filter((m) => m.type === "ping")[2].payload.live.length, 3);
  });
});

describe("batches", () => {
  /** A router on a hand-driven clock: `advance(ms)` runs the timers that fall due. */
  function clocked() {
    let t = 1000;
    /** @type {{at: number, fn: () => void, id: number}[]} */
    let timers = [];
    let ids = 0;
    const router = createRouter({
      log: quietLog(),
      pageTarget: null,
      randomHex: () => "abcdef01",
      now: () => t,
      setTimer: (fn, ms) => {
        timers.push({ at: t + ms, fn, id: ++ids });
        return ids;
      },
      clearTimer: (id) => {
        timers = timers.filter((x) => x.id !== id);
      },
    });
    /** @param {number} ms */
    const advance = (ms) => {
      t += ms;
      for (const due of timers.filter((x) => x.at <= t)) {
        timers = timers.filter((x) => x !== due);
        due.fn();
      }
    };
    return { router, advance, pendingTimers: () => timers.length };
  }
  const cand = (n) => ({ candidate: `candidate:${n} 1 udp 1 192.0.2.1 ${5000 + n} typ host`, sdpMid: "0", sdpMLineIndex: 0 });
  const st = (ice) => ({ connection: "new", ice, signaling: "stable", gathering: "gathering" });

  test("the first report goes at once; those that follow within BATCH_MS go as one batch, in order", () => {
    const { router, advance } = clocked();
    const m = new FakeModel();
    router.register("s-1", new FakePeer(), m);
    assert.equal(router.send("s-1", "state", st("new")), true);
    assert.equal(m.sent.length, 1, "nothing was sent just before: no wait");
    router.send("s-1", "candidate", cand(1));
    advance(5);
    router.send("s-1", "candidate", cand(2));
    router.send("s-1", "state", st("checking"));
    assert.equal(m.sent.length, 1, "held while the window is open");
    advance(15);
    assert.equal(m.sent.length, 2);
    assert.deepEqual(m.sent[1], {
      v: 1,
      type: "batch",
      stream: "s-1",
      payload: [
        { type: "candidate", payload: cand(1) },
        { type: "candidate", payload: cand(2) },
        { type: "state", payload: st("checking") },
      ],
      key: "abcdef01",
    });
    advance(100);
    router.send("s-1", "candidate", null);
    assert.deepEqual(m.sent[2], { v: 1, type: "candidate", stream: "s-1", payload: null, key: "abcdef01" });
  });

  test("a lone held report goes as a plain message; other streams keep their own windows", () => {
    const { router, advance } = clocked();
    const a = new FakeModel();
    const b = new FakeModel();
    router.register("s-1", new FakePeer(), a);
    router.register("s-2", new FakePeer(), b);
    router.send("s-1", "state", st("new"));
    router.send("s-1", "state", st("checking"));
    router.send("s-2", "state", st("new"));
    assert.deepEqual([a.sent.length, b.sent.length], [1, 1]);
    advance(20);
    assert.equal(a.sent[1].type, "state");
    assert.deepEqual(a.sent[1].payload, st("checking"));
  });

  test("an offer, a bye or a ping sends what waits first, then itself: order is kept", () => {
    const { router, pendingTimers } = clocked();
    const m = new FakeModel();
    router.register("s-1", new FakePeer(), m);
    router.send("s-1", "ping", { t: 1 });
    router.send("s-1", "candidate", cand(1));
    router.send("s-1", "state", st("checking"));
    router.send("s-1", "bye", { reason: "closed" });
    assert.deepEqual(
      m.sent.map((x) => x.type),
      ["ping", "batch", "bye"],
    );
    assert.equal(pendingTimers(), 0, "the flush cancelled its timer");
  });

  test("never more than MAX_BATCH in one batch; stats and buffers never wait", () => {
    const { router, advance } = clocked();
    const m = new FakeModel();
    router.register("s-1", new FakePeer(), m);
    router.send("s-1", "ping", { t: 1 });
    for (let i = 0; i < 40; i++) router.send("s-1", "candidate", cand(i));
    assert.equal(m.sent.length, 2, "the 32nd held report sent the batch at once");
    assert.equal(m.sent[1].payload.length, 32);
    router.send("s-1", "stats", { t: 2, reports: [] });
    assert.deepEqual(
      m.sent.slice(2).map((x) => [x.type, x.type === "batch" ? x.payload.length : 1]),
      [["batch", 8], ["stats", 1]],
    );
    advance(50);
    assert.equal(m.sent.length, 4, "no timer left behind");
  });

  test("an unregistered stream's held reports are dropped with their timer", () => {
    const { router, advance, pendingTimers } = clocked();
    const m = new FakeModel();
    router.register("s-1", new FakePeer(), m);
    router.send("s-1", "ping", { t: 1 });
    router.send("s-1", "state", st("failed"));
    router.unregister("s-1");
    assert.equal(pendingTimers(), 0);
    advance(50);
    assert.deepEqual(m.sent.map((x) => x.type), ["ping"]);
  });

  test("flushNow sends what waits as one message at once; the window restarts from it", () => {
    const { router, advance, pendingTimers } = clocked();
    const m = new FakeModel();
    router.register("s-1", new FakePeer(), m);
    router.send("s-1", "offer", { sdp: "v=0\r\n", kind: "camera" });
    router.send("s-1", "candidate", cand(1));
    router.send("s-1", "candidate", cand(2));
    router.send("s-1", "state", st("new"));
    assert.deepEqual(m.sent.map((x) => x.type), ["offer"], "held behind the offer");
    assert.equal(router.flushNow("s-1"), true);
    assert.deepEqual(m.sent.map((x) => [x.type, x.type === "batch" ? x.payload.length : 1]), [
      ["offer", 1],
      ["batch", 3],
    ]);
    assert.equal(pendingTimers(), 0, "its timer went with it");
    assert.equal(router.flushNow("s-1"), true, "nothing waits: nothing sent");
    assert.equal(m.sent.length, 2);
    router.send("s-1", "candidate", cand(3)); // within the window the batch opened
    assert.equal(m.sent.length, 2);
    advance(20);
    assert.equal(m.sent.length, 3);
    assert.equal(router.flushNow("s-9"), false, "an unknown stream");
  });

  test("batchMs 0 sends everything at once", () => {
    const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0 });
    const m = new FakeModel();
    router.register("s-1", new FakePeer(), m);
    router.send("s-1", "state", st("new"));
    router.send("s-1", "state", st("checking"));
    assert.deepEqual(m.sent.map((x) => x.type), ["state", "state"]);
  });
});

describe("the kernel's offers (docs/protocol.md \"The kernel's offer\")", () => {
  const SDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n";
  const offer = (stream, sdp = SDP) => ({ v: 1, type: "offer", stream, payload: { sdp, kernel: true } });

  test("an offer for no stream is kept and taken once", async () => {
    const { router } = setup();
    router.deliver(offer("kabc-0"));
    assert.equal(await router.takeKernelOffer("kabc-0", 0), SDP);
    assert.equal(await router.takeKernelOffer("kabc-0", 0), "", "a second view offers itself");
  });

  test("a view waits for an offer on its way, and gives up after its bound", async () => {
    const { router } = setup();
    const waiting = router.takeKernelOffer("kw-0", 1000);
    router.deliver(offer("kw-0"));
    assert.equal(await waiting, SDP);
    const t0 = Date.now();
    assert.equal(await router.takeKernelOffer("never-0", 30), "");
    assert.ok(Date.now() - t0 >= 25);
  });

  test("a page-made offer (no kernel flag) and one for a dead id are not kept", async () => {
    const { router } = setup();
    router.deliver({ v: 1, type: "offer", stream: "kx-0", payload: { sdp: SDP } });
    assert.equal(await router.takeKernelOffer("kx-0", 0), "");
    const model = new FakeModel();
    router.register("kd-0", { handleKernelMessage() {}, close() {} }, model);
    router.unregister("kd-0");
    router.deliver(offer("kd-0"));
    assert.equal(await router.takeKernelOffer("kd-0", 50), "", "dead: at once, no wait");
  });

  test("the kernel's bye for an expired offer drops it", async () => {
    const { router } = setup();
    router.deliver(offer("ke-0"));
    router.deliver({ v: 1, type: "bye", stream: "ke-0", payload: { reason: "expired" } });
    assert.equal(await router.takeKernelOffer("ke-0", 0), "");
  });

  test("at most MAX_KERNEL_OFFERS are kept: the oldest goes", async () => {
    const { router } = setup();
    for (let i = 0; i < MAX_KERNEL_OFFERS + 2; i += 1) router.deliver(offer(`k${i}-0`));
    assert.equal(await router.takeKernelOffer("k0-0", 0), "");
    assert.equal(await router.takeKernelOffer("k1-0", 0), "");
    assert.equal(await router.takeKernelOffer(`k${MAX_KERNEL_OFFERS + 1}-0`, 0), SDP);
  });
});
