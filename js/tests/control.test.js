// The control channel carries a live peer's periodic reports (stats, heartbeat pings)
// and the kernel's pings once it is open; the comm carries them otherwise (control.js).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrowserPeer } from "../peer/peer.js";
import { STATS_INTERVAL_MS } from "../core/session.js";
import { KERNEL_SILENCE_MS, PING_INTERVAL_MS } from "../core/liveness.js";
import { CONTROL_FRESH_MS } from "../peer/control.js";
import { createRouter } from "../core/router.js";
import { CONTROL_CHANNEL } from "../core/protocol.js";
import { FakeModel, fakeBrowser, flush, quietLog } from "./fakes.js";

/** A camera peer with its answer, connected; its control channel not open yet. */
async function connected(traits = {}, page = {}) {
  const browser = page.browser ?? fakeBrowser({ auto: true });
  const router = page.router ?? createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "c0ffee01" });
  const model = new FakeModel({
    kind: "camera",
    constraints: { width: 320, height: 240, frame_rate: null, device_id: null },
    rtc_config: { iceServers: [] },
    transport_mode: "webrtc",
    ...traits,
  });
  const peer = new BrowserPeer({ model, kind: "camera", router, env: browser.env });
  await peer.start();
  model.emit({ v: 1, type: "answer", stream: peer.id, payload: { sdp: "v=0\r\nfake-answer\r\n" } });
  await flush();
  const pc = browser.world.pcs.at(-1);
  pc.setState("connectionState", "connected", "connectionstatechange");
  const dc = pc.channels.find((/** @type {any} */ c) => c.label === CONTROL_CHANNEL);
  assert.ok(dc, "the peer opened its control channel with the pc");
  /** What went out on the control channel, parsed, of one type. */
  const onControl = (/** @type {string} */ type) => dc.sent.map((d) => JSON.parse(d)).filter((m) => m.type === type);
  return { browser, router, model, peer, pc, dc, onControl };
}

/** Advance the fake clock by `ms` in one-second steps, letting getStats settle. */
async function run(browser, ms) {
  for (let t = 0; t < ms; t += 500) {
    browser.advance(500);
    await flush();
  }
}

describe("control channel", () => {
  /** The kernel's ping on `dc` for `peer` (what _signaling/control.py sends). */
  const kernelPing = (dc, peer, live = [peer.id]) =>
    dc.receive(JSON.stringify({ v: 1, type: "ping", stream: peer.id, payload: { t: 1, live } }));

  test("stats go on the open channel; the comm pings every beat until the kernel is heard there", async () => {
    const { browser, model, peer, dc, onControl } = await connected();
    dc.open();
    const comm0 = model.sentOf("ping").length;
    for (let beat = 0; beat < 4; beat++) {
      model.emit({ v: 1, type: "ping", stream: peer.id, payload: { t: beat, live: [peer.id] } });
      await run(browser, PING_INTERVAL_MS);
    }
    const samples = onControl("stats");
    assert.ok(samples.length >= 3, `stats on the channel: ${samples.length}`);
    assert.deepEqual(Object.keys(samples[0]).sort(), ["payload", "stream", "type", "v"]);
    assert.equal(samples[0].stream, peer.id);
    assert.equal(samples[0].v, 1);
    assert.ok(Array.isArray(samples[0].payload.reports));
    assert.equal(model.sentOf("stats").length, 0, "no stats through the comm");
    assert.ok(onControl("ping").length >= 3, "and the heartbeat, at every beat (the kernel hears it each second)");
    assert.ok(model.sentOf("ping").length - comm0 >= 3, "the channel is not known to work: the comm pings each beat");
    assert.equal(peer.closed, false);
    peer.close();
  });

  test("while the kernel is heard on the channel the heartbeat stays off the comm, and goes through it each beat once it is not", async () => {
    const { browser, model, peer, dc } = await connected();
    dc.open();
    const commPings = () => model.sentOf("ping").length;
    for (let beat = 0; beat < 2; beat++) {
      kernelPing(dc, peer);
      await run(browser, PING_INTERVAL_MS);
    }
    let before = commPings();
    for (let beat = 0; beat < 8; beat++) {
      kernelPing(dc, peer);
      await run(browser, PING_INTERVAL_MS);
    }
    assert.equal(commPings() - before, 0, "no heartbeat through the comm while the channel works");
    // the channel goes quiet (a UDP blackout): the kernel pings through the comm only
    before = commPings();
    for (let beat = 0; beat < 6; beat++) {
      model.emit({ v: 1, type: "ping", stream: peer.id, payload: { t: beat, live: [peer.id] } });
      await run(browser, PING_INTERVAL_MS);
    }
    const after = commPings() - before;
    assert.ok(after >= 4, `each beat once the channel is silent for ${CONTROL_FRESH_MS} ms: ${after} in 6`);
    assert.equal(peer.closed, false, "the comm kept both watchdogs fed");
    peer.close();
  });

  test("a kernel ping through the comm that asks is answered through the comm at once", async () => {
    const { browser, model, peer, dc } = await connected({ stats_interval: 0 });
    dc.open();
    for (let beat = 0; beat < 3; beat++) {
      kernelPing(dc, peer);
      await run(browser, PING_INTERVAL_MS);
    }
    const before = model.sentOf("ping").length;
    // the kernel's ping without `ask` (its every-other-time copy) wants no answer
    model.emit({ v: 1, type: "ping", stream: peer.id, payload: { t: 1, live: [peer.id] } });
    await flush();
    assert.equal(model.sentOf("ping").length, before, "no answer to a plain ping");
    // the kernel misses this page (its path to the kernel is dark one way): it asks
    model.emit({ v: 1, type: "ping", stream: peer.id, payload: { t: 2, live: [peer.id], ask: true } });
    await flush();
    const pings = model.sentOf("ping");
    assert.equal(pings.length, before + 1, "answered at once, without waiting for a beat");
    assert.deepEqual(pings.at(-1).payload.live, [peer.id], "the page's shared ping, listing the stream");
    // asked again within the same beat: the page's one comm ping per beat already went
    model.emit({ v: 1, type: "ping", stream: peer.id, payload: { t: 3, live: [peer.id], ask: true } });
    await flush();
    assert.equal(model.sentOf("ping").length, before + 1, "at most one comm ping per beat");
    browser.advance(PING_INTERVAL_MS);
    model.emit({ v: 1, type: "ping", stream: peer.id, payload: { t: 4, live: [peer.id], ask: true } });
    await flush();
    assert.ok(model.sentOf("ping").length >= before + 2, "asked a beat later: answered again");
    peer.close();
  });

  test("the kernel unheard for 1.25 s is asked through the comm; its answer there keeps the stream", async () => {
    const { browser, model, peer, dc } = await connected({ stats_interval: 0 });
    dc.open();
    const asks = () => model.sentOf("ping").filter((m) => m.payload?.ask === true).length;
    for (let beat = 0; beat < 4; beat++) {
      kernelPing(dc, peer);
      await run(browser, PING_INTERVAL_MS);
    }
    assert.equal(asks(), 0, "the kernel heard on the channel is never asked");
    // the kernel's pings stop reaching the page (its path towards the page is dark): the
    // page asks through the comm; the kernel answers each ask there
    for (let i = 0; i < 8; i++) {
      const before = asks();
      await run(browser, 500);
      if (asks() > before) {
        model.emit({ v: 1, type: "ping", stream: peer.id, payload: { t: i, live: [peer.id] } });
      }
    }
    assert.ok(asks() >= 2, `asked through the comm: ${asks()}`);
    assert.equal(peer.closed, false, "the answers through the comm kept the stream");
    // nobody answers any more: the page gives the kernel up as before
    await run(browser, KERNEL_SILENCE_MS + 1000);
    assert.equal(peer.closed, true);
  });

  test("before the channel opens and after it closes, stats go through the comm", async () => {
    const { browser, model, peer, dc, onControl } = await connected();
    await run(browser, STATS_INTERVAL_MS + 100);
    assert.equal(model.sentOf("stats").length, 1, "comm before the channel opened");
    dc.open();
    await run(browser, STATS_INTERVAL_MS);
    assert.equal(onControl("stats").length, 1);
    dc.close();
    await run(browser, STATS_INTERVAL_MS);
    assert.equal(model.sentOf("stats").length, 2, "comm again once the channel closed");
    peer.close();
  });

  test("a send the channel refuses goes through the comm instead", async () => {
    const { browser, model, peer, dc } = await connected();
    dc.open();
    dc.send = () => {
      throw Object.assign(new Error("queue full"), { name: "OperationError" });
    };
    await run(browser, STATS_INTERVAL_MS + 100);
    assert.equal(model.sentOf("stats").length, 1);
    peer.close();
  });

  test("with stats off the heartbeat pings on the channel every beat, and not through the comm", async () => {
    const { browser, model, peer, dc, onControl } = await connected({ stats_interval: 0 });
    dc.open();
    const comm0 = model.sentOf("ping").length;
    for (let beat = 0; beat < 6; beat++) {
      kernelPing(dc, peer);
      await run(browser, PING_INTERVAL_MS);
    }
    assert.equal(peer.closed, false);
    const pings = onControl("ping");
    assert.ok(pings.length >= 5, `pings on the channel: ${pings.length}`);
    assert.equal(typeof pings[0].payload.t, "number");
    assert.equal(model.sentOf("ping").length - comm0, 0, "and none through the comm");
    peer.close();
  });

  test("the kernel's pings on the channel keep the stream; pings for another stream do not", async () => {
    const { browser, peer, dc } = await connected({ stats_interval: 0 });
    dc.open();
    for (let t = 0; t < KERNEL_SILENCE_MS * 2; t += 1000) {
      kernelPing(dc, peer);
      await run(browser, 1000);
    }
    assert.equal(peer.closed, false, "heard on the control channel");
    for (let t = 0; t < KERNEL_SILENCE_MS + 1000; t += 1000) {
      dc.receive(JSON.stringify({ v: 1, type: "ping", stream: "someone-else", payload: { t: 1 } }));
      dc.receive("not json");
      dc.receive(JSON.stringify({ v: 1, type: "bye", stream: peer.id, payload: {} }));
      await run(browser, 1000);
    }
    assert.equal(peer.closed, true, "nothing that counts for 3 s: the kernel is given up");
  });

  test("one kernel ping on one stream's channel vouches for the streams it lists", async () => {
    const a = await connected({ stats_interval: 0 });
    const b = await connected({ stats_interval: 0 }, { browser: a.browser, router: a.router });
    const c = await connected({ stats_interval: 0 }, { browser: a.browser, router: a.router });
    a.dc.open();
    for (let t = 0; t < KERNEL_SILENCE_MS * 2; t += 1000) {
      kernelPing(a.dc, a.peer, [a.peer.id, b.peer.id]);
      await run(a.browser, 1000);
    }
    assert.equal(a.peer.closed, false);
    assert.equal(b.peer.closed, false, "listed: heard through a's channel");
    assert.equal(c.peer.closed, true, "not listed, no ping of its own: the kernel is given up");
    a.peer.close();
    b.peer.close();
  });

  test("the kernel heard on one stream's channel keeps every open channel of the page working", async () => {
    const a = await connected({ stats_interval: 0 });
    const b = await connected({ stats_interval: 0 }, { browser: a.browser, router: a.router });
    a.dc.open();
    b.dc.open();
    const commPings = () => a.model.sentOf("ping").length + b.model.sentOf("ping").length;
    for (let beat = 0; beat < 2; beat++) {
      kernelPing(a.dc, a.peer, [a.peer.id, b.peer.id]);
      await run(a.browser, PING_INTERVAL_MS);
    }
    const before = commPings();
    for (let beat = 0; beat < 6; beat++) {
      // the kernel's one ping per page goes on a's channel and lists b
      kernelPing(a.dc, a.peer, [a.peer.id, b.peer.id]);
      await run(a.browser, PING_INTERVAL_MS);
    }
    assert.equal(commPings() - before, 0, "neither stream's heartbeat goes through the comm");
    assert.ok(b.onControl("ping").length >= 5, "b's heartbeat goes on b's own channel");
    assert.equal(b.peer.closed, false);
    // a's channel closes: b's channel has not heard the kernel itself, so the page has
    // no working channel any more and b's heartbeat goes through the comm again
    a.dc.close();
    const closedAt = commPings();
    for (let beat = 0; beat < 5; beat++) {
      b.model.emit({ v: 1, type: "ping", stream: b.peer.id, payload: { t: beat, live: [b.peer.id] } });
      await run(a.browser, PING_INTERVAL_MS);
    }
    assert.ok(commPings() - closedAt >= 2, `the comm again: ${commPings() - closedAt}`);
    a.peer.close();
    b.peer.close();
  });
});
