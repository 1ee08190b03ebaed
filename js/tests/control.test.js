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
    assert.equal(onControl("ping").length, 0, "the stats speak for the page on the channel");
    assert.ok(model.sentOf("ping").length - comm0 >= 3, "the channel is not known to work: the comm pings each beat");
    assert.equal(peer.closed, false);
    peer.close();
  });

  test("while the kernel is heard on the channel the comm pings every other beat, and each beat again once it is not", async () => {
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
    const half = commPings() - before;
    assert.ok(half >= 3 && half <= 5, `every other beat through the comm: ${half} in 8`);
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

  test("with stats off the heartbeat pings on the channel every beat", async () => {
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
    const comm = model.sentOf("ping").length - comm0;
    assert.ok(comm >= 2 && comm <= 4, `and every other one through the comm: ${comm}`);
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
});
