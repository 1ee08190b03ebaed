// Renegotiation (codec, bitrate, ICE restart) and getStats sampling of BrowserPeer.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrowserPeer } from "../peer/peer.js";
import { STATS_INTERVAL_MS, statsInterval } from "../core/session.js";
import { createRouter } from "../core/router.js";
import { FakeModel, fakeBrowser, flush, quietLog } from "./fakes.js";

const ANSWER_SDP = "v=0\r\nfake-answer\r\n";

async function livePeer(kind = "camera") {
  const browser = fakeBrowser({ auto: true });
  const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "abcdef01" });
  const model = new FakeModel({
    kind,
    constraints: { width: 640, height: 480, frame_rate: null, device_id: null },
    rtc_config: { iceServers: [] },
  });
  const peer = new BrowserPeer({ model, kind, router, env: browser.env });
  const kernel = (type, payload) => model.emit({ v: 1, type, stream: peer.id, payload });
  await peer.start();
  kernel("answer", { sdp: ANSWER_SDP });
  await flush();
  const pc = browser.world.pcs[0];
  pc.setState("connectionState", "connected", "connectionstatechange");
  return { browser, model, peer, pc, kernel };
}

describe("renegotiation", () => {
  test("renegotiate -> reoffer with the reason; the answer is applied; still live", async () => {
    const { model, peer, pc, kernel } = await livePeer();
    kernel("renegotiate", { ice_restart: false, reason: "set_codec(H264)" });
    await flush();
    const reoffers = model.sentOf("reoffer");
    assert.equal(reoffers.length, 1);
    assert.equal(reoffers[0].payload.reason, "set_codec(H264)");
    assert.ok(reoffers[0].payload.sdp.startsWith("v=0"));
    assert.equal(pc.restarts, 0);
    assert.deepEqual(pc.offerOptions.at(-1), {});
    kernel("answer", { sdp: "v=0\r\nsecond-answer\r\n" });
    await flush();
    assert.equal(pc.remoteDescription.sdp, "v=0\r\nsecond-answer\r\n");
    assert.equal(peer.state.name, "live");
    assert.equal(peer._reoffering, false);
    peer.close();
  });

  test("an ICE restart restarts ICE and holds new candidates until the reoffer is out", async () => {
    const { model, pc, peer, kernel } = await livePeer();
    // the offer step is pending: candidates gathered meanwhile must wait
    pc.offerStep = { promise: new Promise((resolve) => (pc._release = resolve)) };
    kernel("renegotiate", { ice_restart: true, reason: "restart_ice()" });
    await flush();
    assert.equal(pc.restarts, 1);
    assert.deepEqual(pc.offerOptions.at(-1), { iceRestart: true });
    const before = model.sentOf("candidate").length;
    pc.candidate({ candidate: "candidate:1 1 udp 1 10.0.0.1 5000 typ host ufrag NEW", sdpMid: "0", sdpMLineIndex: 0 });
    assert.equal(model.sentOf("candidate").length, before, "held while the reoffer is made");
    pc._release({ type: "offer", sdp: "v=0\r\nrestart-offer\r\n" });
    await flush();
    const types = model.sent.map((m) => m.type);
    const reofferAt = types.lastIndexOf("reoffer");
    const candAt = types.lastIndexOf("candidate");
    assert.ok(reofferAt >= 0 && candAt > reofferAt, "the held candidate follows the reoffer");
    peer.close();
  });

  test("a request during another is merged and runs after the answer", async () => {
    const { model, peer, pc, kernel } = await livePeer();
    kernel("renegotiate", { ice_restart: false, reason: "set_codec(H264)" });
    await flush();
    kernel("renegotiate", { ice_restart: true, reason: "restart_ice()" });
    kernel("renegotiate", { ice_restart: false, reason: "set_max_bitrate(300000)" });
    await flush();
    assert.equal(model.sentOf("reoffer").length, 1, "one renegotiation at a time");
    kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    const reoffers = model.sentOf("reoffer");
    assert.equal(reoffers.length, 2);
    assert.equal(pc.restarts, 1, "the restart was not lost behind the later request");
    peer.close();
  });

  test("a refused reoffer is rolled back", async () => {
    const { peer, pc, kernel } = await livePeer();
    kernel("renegotiate", { reason: "x" });
    await flush();
    kernel("error", { code: "bad-message", message: "no", ref: { type: "reoffer" } });
    await flush();
    assert.equal(pc.rollbacks, 1);
    assert.equal(peer._reoffering, false);
    assert.equal(peer.state.name, "live", "a refused renegotiation does not end the stream");
    peer.close();
  });

  test("fresh: a new pc with the same camera tracks, its offer as a fresh reoffer; the old pc is silenced and closed", async () => {
    const { browser, model, peer, pc, kernel } = await livePeer();
    const camera = peer.localStream.getVideoTracks()[0];
    assert.ok(camera, "the camera is open");
    kernel("renegotiate", { ice_restart: true, fresh: true, reason: "reconnect: a new peer connection (attempt 4)" });
    await flush();
    assert.equal(browser.world.pcs.length, 2, "a second pc");
    const next = browser.world.pcs[1];
    assert.equal(peer.pc, next);
    assert.equal(pc.closed, true, "the old pc is closed");
    assert.equal(peer.freshPeers, 1);
    assert.equal(next.transceivers[0].sender.track, camera, "the same camera track, not a new getUserMedia");
    assert.equal(camera.readyState, "live", "the camera stays on");
    assert.ok(next.channels.some((c) => c.label === "nbrtc"), "the control channel on the new pc");
    const reoffers = model.sentOf("reoffer");
    assert.equal(reoffers.length, 1);
    assert.equal(reoffers[0].payload.fresh, true);
    assert.match(reoffers[0].payload.reason, /new peer connection/);
    // the old pc's late events change nothing
    pc.setState("connectionState", "failed", "connectionstatechange");
    await flush();
    assert.equal(peer.state.name, "live");
    kernel("answer", { sdp: "v=0\r\nfresh-answer\r\n" });
    await flush();
    assert.equal(next.remoteDescription.sdp, "v=0\r\nfresh-answer\r\n");
    assert.equal(peer._reoffering, false);
    next.setState("connectionState", "connected", "connectionstatechange");
    await flush();
    assert.equal(peer.state.name, "live");
    peer.close();
    assert.equal(next.closed, true);
    assert.equal(browser.leaks().tracks, 0, "nothing left on after close");
  });

  test("renegotiate before the first answer is ignored", async () => {
    const browser = fakeBrowser({ auto: true });
    const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "abcdef02" });
    const model = new FakeModel({ kind: "view", rtc_config: {} });
    const peer = new BrowserPeer({ model, kind: "view", router, env: browser.env });
    await peer.start();
    model.emit({ v: 1, type: "renegotiate", stream: peer.id, payload: { ice_restart: true } });
    await flush();
    assert.equal(model.sentOf("reoffer").length, 0);
    assert.equal(browser.world.pcs[0].restarts, 0);
    peer.close();
  });
});

describe("stats sampling", () => {
  test("one filtered sample a second after the answer, none after close", async () => {
    const { browser, model, peer } = await livePeer();
    browser.advance(STATS_INTERVAL_MS + 10);
    browser.advance(STATS_INTERVAL_MS); // while the first getStats is pending: skipped
    await flush();
    assert.equal(model.sentOf("stats").length, 1, "one sample in flight at a time");
    browser.advance(STATS_INTERVAL_MS);
    await flush();
    const samples = model.sentOf("stats");
    assert.equal(samples.length, 2);
    const types = samples[0].payload.reports.map((r) => r.type).sort();
    assert.deepEqual(types, ["outbound-rtp", "transport"]);
    assert.equal(typeof samples[0].payload.t, "number");
    peer.close();
    browser.advance(STATS_INTERVAL_MS * 3);
    await flush();
    assert.equal(model.sentOf("stats").length, 2, "no sample after close");
  });

  test("no sample before the answer", async () => {
    const browser = fakeBrowser({ auto: true });
    const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "abcdef03" });
    const model = new FakeModel({ kind: "view", rtc_config: {} });
    const peer = new BrowserPeer({ model, kind: "view", router, env: browser.env });
    await peer.start();
    browser.advance(STATS_INTERVAL_MS * 3);
    await flush();
    assert.equal(model.sentOf("stats").length, 0);
    peer.close();
  });
});

describe("stats_interval", () => {
  test("0 turns sampling off; absent means every second", async () => {
    const browser = fakeBrowser({ auto: true });
    const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "abcdef04" });
    const model = new FakeModel({ kind: "view", rtc_config: {}, stats_interval: 0 });
    const peer = new BrowserPeer({ model, kind: "view", router, env: browser.env });
    await peer.start();
    model.emit({ v: 1, type: "answer", stream: peer.id, payload: { sdp: ANSWER_SDP } });
    await flush();
    browser.advance(STATS_INTERVAL_MS * 5);
    await flush();
    assert.equal(model.sentOf("stats").length, 0);
    peer.close();
  });

  test("statsInterval maps seconds to ms with a floor", () => {
    assert.equal(statsInterval(undefined), STATS_INTERVAL_MS);
    assert.equal(statsInterval(0), 0);
    assert.equal(statsInterval(-1), 0);
    assert.equal(statsInterval("1"), 0);
    assert.equal(statsInterval(2), 2000);
    assert.equal(statsInterval(0.01), 250);
  });
});
