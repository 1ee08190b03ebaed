// core/session.js: the lifecycle, liveness and stats wiring that BrowserPeer and
// RoomMember share, through a minimal subclass that records what the base asks of it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { KERNEL_SILENCE_MS, PING_INTERVAL_MS, WATCHDOG_TICK_MS } from "../core/liveness.js";
import { createRouter } from "../core/router.js";
import { STATS_INTERVAL_MS, Session, statsDue, statsInterval } from "../core/session.js";
import { FakeModel, fakeBrowser, quietLog } from "./fakes.js";

class Probe extends Session {
  constructor(options) {
    super(options);
    /** @type {string[]} */
    this.calls = [];
    this.final = null;
    this.samples = 0;
  }
  snapshot() {
    return { id: this.id, closed: this.closed, words: this.words, final: this.final };
  }
  start() {
    this._register();
    this._heartbeat.start();
    this._watchdog.start();
    this._startStats(STATS_INTERVAL_MS);
  }
  _onKernelMessage(msg) {
    this.calls.push(`message ${msg.type}`);
  }
  _sampleStats() {
    this.samples += 1;
    this._statsSentAt = this.env.now();
  }
  _enterFinal(state) {
    this.calls.push(`final ${state.name}`);
    this.final = state;
  }
  _release() {
    this.calls.push(`release (registered: ${this._registered})`);
  }
}

function setup() {
  const browser = fakeBrowser();
  const router = createRouter({ log: quietLog(), pageTarget: null, randomHex: () => "abcdef01" });
  const model = new FakeModel({});
  /** @type {any[]} */
  const snapshots = [];
  const session = new Probe({ model, router, env: browser.env, onChange: (s) => snapshots.push(s) });
  const kernel = (type, payload = null) => model.emit({ v: 1, type, stream: session.id, payload });
  return { browser, router, model, session, snapshots, kernel };
}

describe("Session", () => {
  test("ids come from the router; nothing is registered or sent before start", () => {
    const { session, router, model, browser } = setup();
    assert.equal(session.id, `${router.pageId}-1`);
    assert.equal(session.viewId, `${router.pageId}-v1`);
    assert.equal(session._send("ping", null), false);
    assert.deepEqual(model.sent, []);
    assert.equal(browser.world.timers.size, 0);
  });

  test("close: once, in order, with a bye only when the kernel knows the session", () => {
    const { session, model, browser, router, snapshots } = setup();
    session.start();
    assert.ok(browser.world.timers.size >= 3, "heartbeat, watchdog and stats timers");
    session._send("state", { connection: "new" });
    session.close("view-removed");
    session.close("again");
    session.fail({ name: "X", message: "x", words: "x" });
    assert.deepEqual(session.calls, ["final closed", "release (registered: true)"]);
    assert.deepEqual(session.final, { name: "closed", reason: "view-removed" });
    assert.deepEqual(
      model.sentOf("bye").map((m) => m.payload),
      [{ reason: "view-removed" }],
    );
    assert.equal(browser.world.timers.size, 0, "every timer cleared");
    assert.equal(router.isDead(session.id), true, "unregistered");
    assert.equal(snapshots.at(-1).closed, true, "the view got the closed snapshot last");
    assert.equal(session._send("ping", null), false, "nothing goes out afterwards");
  });

  test("close before anything reached the kernel says no bye", () => {
    const { session, model } = setup();
    session.close();
    assert.deepEqual(model.sentOf("bye"), []);
    assert.equal(session.closed, true);
  });

  test("fail tells the kernel (error, then bye error) unless the kernel reported it", () => {
    const a = setup();
    a.session.start();
    a.session._send("state", {});
    a.session.fail({ name: "NotAllowedError", message: "denied", words: "Camera permission was denied." });
    assert.deepEqual(
      a.model.sent.filter((m) => m.type === "error" || m.type === "bye").map((m) => [m.type, m.payload]),
      [
        ["error", { name: "NotAllowedError", message: "denied" }],
        ["bye", { reason: "error" }],
      ],
    );
    assert.equal(a.session.words, "Camera permission was denied.");
    assert.deepEqual(a.session.final, { name: "error", reason: "Camera permission was denied." });

    const b = setup();
    b.session.start();
    b.session._send("state", {});
    b.session.fail({ name: "KernelError", message: "", words: "boom" }, { tellKernel: false });
    assert.deepEqual(b.model.sent.filter((m) => m.type === "error" || m.type === "bye"), []);
    assert.equal(b.session.closed, true);
  });

  test("fail's report stays within the kernel's bounds, cut on a character boundary", () => {
    // the kernel refuses an error name over 128 or a message over 4096 characters, and any
    // message with a lone surrogate: it would never learn why the view failed
    const a = setup();
    a.session.start();
    a.session._send("state", {});
    const long = "x".repeat(4095) + "\u{1F600}" + "tail";
    a.session.fail({ name: "N".repeat(200), message: long, words: "boom" });
    const [{ payload: report }] = a.model.sentOf("error");
    assert.equal(report.name, "N".repeat(128));
    assert.equal(report.message, "x".repeat(4095)); // not half of the emoji
    assert.equal(/[\uD800-\uDFFF]/.test(report.message), false);
  });

  test("kernel messages feed the watchdog; silence closes without a bye", () => {
    const { session, kernel, browser, model } = setup();
    session.start();
    session._send("state", {});
    browser.advance(KERNEL_SILENCE_MS - WATCHDOG_TICK_MS);
    kernel("ping");
    assert.deepEqual(session.calls, ["message ping"]);
    browser.advance(KERNEL_SILENCE_MS - WATCHDOG_TICK_MS);
    assert.equal(session.closed, false, "heard in time");
    browser.advance(KERNEL_SILENCE_MS);
    assert.equal(session.closed, true);
    assert.match(session.words, /kernel/i);
    assert.deepEqual(session.final, { name: "closed", reason: "kernel-gone" });
    assert.deepEqual(model.sentOf("bye"), [], "nobody there to hear it");
    kernel("ping");
    assert.deepEqual(session.calls.filter((c) => c.startsWith("message")), ["message ping"], "none after close");
  });

  test("the heartbeat pings only when nothing else went out; stats sample on the interval", () => {
    const { session, browser, model } = setup();
    // the heartbeat's pings (the kernel is silent here, so the watchdog also asks it)
    const beats = () => model.sentOf("ping").filter((m) => m.payload?.ask !== true).length;
    session.start();
    browser.advance(PING_INTERVAL_MS);
    assert.equal(beats(), 1);
    session._send("stats", { t: 0, reports: [] });
    browser.advance(PING_INTERVAL_MS);
    assert.equal(beats(), 1, "the stats message proved the page alive");
    assert.equal(session.samples, 2);
    session.close();
    browser.advance(10 * STATS_INTERVAL_MS);
    assert.equal(session.samples, 2, "no sample after close");
  });

  test("stats sample every tick while read, every stats_idle_interval while not", () => {
    const { session, browser, model, kernel } = setup();
    Object.assign(model.traits, { stats_read: false, stats_idle_interval: 5 });
    session.start();
    /** @param {number} n ticks, the kernel pinging at each (its watchdog stays fed) */
    const ticks = (n) => {
      for (let i = 0; i < n; i++) {
        browser.advance(STATS_INTERVAL_MS);
        kernel("ping");
      }
    };
    ticks(1);
    assert.equal(session.samples, 1, "the first tick samples at once");
    ticks(4);
    assert.equal(session.samples, 1, "nobody reads: nothing more for 5 s");
    ticks(1);
    assert.equal(session.samples, 2, "5 s after the first");
    model.traits.stats_read = true;
    ticks(3);
    assert.equal(session.samples, 5, "read: every tick");
    model.traits.stats_read = false;
    ticks(4);
    assert.equal(session.samples, 5, "not read any more: the idle pace");
    ticks(1);
    assert.equal(session.samples, 6);
    assert.equal(session.closed, false);
    session.close();
  });

  test("statsDue: an absent stats_read counts as read; a bad idle interval as none", () => {
    assert.equal(statsDue(new FakeModel({}), 0, 1000), true);
    assert.equal(statsDue(new FakeModel({ stats_read: true, stats_idle_interval: 5 }), 0, 1000), true);
    const idle = new FakeModel({ stats_read: false, stats_idle_interval: 5 });
    assert.equal(statsDue(idle, 4000, 1000), false);
    assert.equal(statsDue(idle, 4600, 1000), true, "half a tick of slack");
    assert.equal(statsDue(new FakeModel({ stats_read: false, stats_idle_interval: "x" }), 1000, 1000), true);
  });

  test("_startStats(0) samples never; statsInterval maps the trait", () => {
    const { session, browser } = setup();
    session._startStats(statsInterval(0));
    assert.equal(browser.world.timers.size, 0);
    assert.equal(statsInterval(undefined), STATS_INTERVAL_MS);
  });

  test("a view that throws on update is logged, not fatal", () => {
    const browser = fakeBrowser();
    const log = quietLog();
    const router = createRouter({ log: quietLog(), pageTarget: null, randomHex: () => "abcdef01" });
    const session = new Probe({
      model: new FakeModel({}),
      router,
      env: { ...browser.env, log },
      onChange: () => {
        throw new Error("view gone");
      },
    });
    session.start();
    session.close();
    assert.equal(session.closed, true);
    assert.ok(log.lines.some((l) => l.level === "error" && /view update failed/.test(l.args[0])));
  });
});
