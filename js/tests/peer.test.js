import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrowserPeer, peerConfig } from "../peer/peer.js";
import { videoConstraints } from "../core/constraints.js";
import { createRouter } from "../core/router.js";
import { KERNEL_SILENCE_MS, PING_INTERVAL_MS, WATCHDOG_TICK_MS } from "../core/liveness.js";
import { FakeModel, fakeBrowser, flush, quietLog } from "./fakes.js";

const ANSWER_SDP = "v=0\r\nfake-answer\r\n";

function setup({ kind = "camera", auto = true, traits = {} } = {}) {
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
  const peer = new BrowserPeer({
    model,
    kind,
    router,
    env: browser.env,
    onChange: (s) => snapshots.push(s),
  });
  /** Send a kernel -> browser message through the model's comm. */
  const kernel = (type, payload) => model.emit({ v: 1, type, stream: peer.id, payload });
  return { browser, router, model, peer, snapshots, kernel, types: () => model.sent.map((m) => m.type) };
}

/** Start `peer` and let its offer go out; its pc. */
async function offerSent(peer, browser) {
  const started = peer.start();
  await flush();
  const pc = browser.world.pcs[0];
  pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\n" });
  pc.localStep.resolve();
  await started;
  return pc;
}

/**
 * With manual steps (auto: false): offer, answer, and stop where the camera is requested.
 * @returns {Promise<any>} the peer's fake RTCPeerConnection
 */
async function negotiateUntilCamera(peer, browser, kernel) {
  const pc = await offerSent(peer, browser);
  kernel("answer", { sdp: ANSWER_SDP });
  pc.remoteStep.resolve();
  await flush();
  return pc;
}

describe("videoConstraints", () => {
  const cases = [
    [{ width: 640, height: 480, frame_rate: 30, device_id: "cam1" }, {
      width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 }, deviceId: { exact: "cam1" },
    }],
    [{ width: 320, height: null, frame_rate: null, device_id: null }, { width: { ideal: 320 } }],
    [{ width: null, height: null, frame_rate: null, device_id: null }, true],
    [{ device_id: "" }, true],
    [null, true],
    [undefined, true],
    [{ width: -5, frame_rate: "30" }, true],
  ];
  for (const [input, out] of cases) {
    test(JSON.stringify(input), () => assert.deepEqual(videoConstraints(input), out));
  }
});

describe("peerConfig", () => {
  test("max-bundle unless the widget's rtc_config says otherwise; junk is ignored", () => {
    const turn = { urls: "turn:example.invalid:3478", username: "u", credential: "p" };
    assert.deepEqual(peerConfig({ iceServers: [turn] }), { bundlePolicy: "max-bundle", iceServers: [turn] });
    assert.deepEqual(peerConfig({ bundlePolicy: "balanced" }), { bundlePolicy: "balanced" });
    for (const junk of [null, undefined, "x", 3]) assert.deepEqual(peerConfig(junk), { bundlePolicy: "max-bundle" });
  });
});

describe("camera start sequence", () => {
  test("pc -> offer -> trickle -> answer -> getUserMedia -> live", async () => {
    const { browser, peer, model, kernel, types, router } = setup();
    await peer.start();
    assert.deepEqual(browser.world.gumCalls, [], "no camera before the kernel accepted the stream");
    assert.equal(browser.world.pcs.length, 1);
    const pc = browser.world.pcs[0];
    assert.deepEqual(pc.config, { bundlePolicy: "max-bundle", iceServers: [] }, "one transport, one candidate set");
    assert.equal(pc.transceivers.length, 1, "no audio transceiver without the audio trait");
    // sendrecv: the kernel may send processed video back on the same m-line
    assert.equal(pc.transceivers[0].init.direction, "sendrecv");
    assert.equal(pc.transceivers[0].trackOrKind, "video");
    assert.equal(pc.transceivers[0].sender.track, null);
    assert.deepEqual(pc.channels.map((c) => c.label), ["nbrtc"], "the reserved control channel");

    const offer = model.sent[0];
    assert.equal(offer.type, "offer");
    assert.equal(offer.stream, peer.id);
    assert.equal(peer.id, "abcdef01-1");
    assert.deepEqual(offer.payload, {
      sdp: "v=0\r\nfake-offer\r\n",
      kind: "camera",
      page: "abcdef01",
      view: "abcdef01-v1",
    });
    assert.equal(peer.state.name, "negotiating");
    await flush();
    assert.ok(!types().includes("devices"));

    pc.candidate({ candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", sdpMid: "0", sdpMLineIndex: 0 });
    pc.candidate({ candidate: "", sdpMid: "0", sdpMLineIndex: 0 });
    pc.candidate(null);
    assert.deepEqual(model.sentOf("candidate").map((m) => m.payload), [
      { candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", sdpMid: "0", sdpMLineIndex: 0 },
      null,
    ]);

    kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    assert.deepEqual(pc.remoteDescription, { type: "answer", sdp: ANSWER_SDP });
    assert.equal(peer.state.name, "connecting");
    // the camera opens once the kernel answered, and goes out on the offered transceiver
    assert.deepEqual(browser.world.gumCalls, [
      { audio: false, video: { width: { ideal: 640 }, height: { ideal: 480 } } },
    ]);
    assert.equal(pc.transceivers[0].sender.track, browser.world.streams[0].tracks[0]);
    assert.equal(browser.world.streams[0].tracks[0].contentHint, "detail");
    assert.deepEqual(model.sentOf("devices")[0].payload, [
      { deviceId: "cam1", kind: "videoinput", label: "Fake cam", groupId: "g1" },
    ]);
    pc.setState("iceConnectionState", "connected", "iceconnectionstatechange");
    pc.setState("connectionState", "connected", "connectionstatechange");
    assert.equal(peer.state.name, "live");
    assert.deepEqual(model.sentOf("state").at(-1).payload, {
      connection: "connected",
      ice: "connected",
      signaling: "stable",
      gathering: "new",
    });
    assert.deepEqual(router.streams(), [{ id: peer.id, kind: "camera", state: "live" }]);

    peer.close("view-removed");
    assert.deepEqual(model.sentOf("bye").map((m) => m.payload), [{ reason: "view-removed" }]);
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
    assert.deepEqual(router.streams(), []);
  });

  test("nothing reaches the kernel before the offer; early candidates follow it", async () => {
    const { browser, peer, model } = setup({ auto: false });
    const started = peer.start();
    await flush();
    const pc = browser.world.pcs[0];
    pc.candidate({ candidate: "candidate:early", sdpMid: "0", sdpMLineIndex: 0 });
    pc.setState("iceConnectionState", "checking", "iceconnectionstatechange");
    assert.equal(model.sent.length, 0);
    pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\nx\r\n" });
    pc.localStep.resolve();
    await started;
    await flush();
    const sent = model.sent.map((m) => m.type);
    assert.equal(sent[0], "offer");
    assert.ok(sent.indexOf("candidate") > 0);
    assert.ok(sent.includes("state"));
  });

  test("pings every second once nothing else goes out; state messages only on change", async () => {
    // (no comm fallback: its `transport` message at 1.5 s would count as "something went out")
    const { browser, peer, model } = setup({ traits: { transport_mode: "webrtc" } });
    await peer.start();
    const pc = browser.world.pcs[0];
    browser.advance(PING_INTERVAL_MS * 3 + 10);
    // the offer and states at 0 prove the page alive until PING_QUIET_MS
    assert.deepEqual(model.sentOf("ping").map((m) => m.payload.t), [2000, 3000]);
    const before = model.sentOf("state").length;
    pc.dispatchEvent(new Event("signalingstatechange")); // nothing actually changed
    assert.equal(model.sentOf("state").length, before);
    peer.close();
    browser.advance(5000);
    assert.equal(model.sentOf("ping").length, 2, "no ping after close");
  });

  test("start() twice makes one peer", async () => {
    const { browser, peer } = setup();
    const a = peer.start();
    const b = peer.start();
    assert.equal(a, b);
    await a;
    assert.equal(browser.world.pcs.length, 1);
  });
});

describe("view start sequence", () => {
  test("recvonly video and audio transceivers, no camera, remote stream shown", async () => {
    const { browser, peer, model, snapshots } = setup({ kind: "view" });
    await peer.start();
    assert.equal(browser.world.gumCalls.length, 0);
    const pc = browser.world.pcs[0];
    assert.deepEqual(
      pc.transceivers.map((t) => [t.trackOrKind, t.init]),
      [["video", { direction: "recvonly" }], ["audio", { direction: "recvonly" }]],
    );
    assert.equal(model.sent[0].payload.kind, "view");
    const remote = browser.makeStream();
    const ev = new Event("track");
    ev.track = remote.tracks[0];
    ev.streams = [remote];
    pc.dispatchEvent(ev);
    assert.equal(snapshots.at(-1).media, remote);
    peer.close("view-removed");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });
});

describe("the device opens once the kernel holds the stream", () => {
  test("on the kernel's connecting state, before the answer, once", async () => {
    const { browser, peer, kernel } = setup({ auto: false });
    const pc = await offerSent(peer, browser);
    assert.equal(browser.world.gum.length, 0, "not before the kernel took the offer");
    kernel("state", { state: "connecting", detail: "offer received" });
    await flush();
    assert.equal(browser.world.gum.length, 1, "camera requested as the kernel took the offer");
    browser.world.gum[0].resolve(browser.makeStream());
    await flush();
    assert.notEqual(pc.transceivers[0].sender.track, null, "its track is on the transceiver");
    kernel("answer", { sdp: ANSWER_SDP });
    pc.remoteStep.resolve();
    await flush();
    assert.equal(browser.world.gum.length, 1, "the answer does not open it again");
    peer.close("view-removed");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("a connecting state after close opens nothing", async () => {
    const { browser, peer, kernel } = setup({ auto: false });
    await offerSent(peer, browser);
    peer.close("view-removed");
    kernel("state", { state: "connecting", detail: "offer received" });
    await flush();
    assert.equal(browser.world.gumCalls.length, 0);
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("a view opens no device on connecting", async () => {
    const { browser, peer, kernel } = setup({ kind: "view", auto: false });
    await offerSent(peer, browser);
    kernel("state", { state: "connecting", detail: "offer received" });
    await flush();
    assert.equal(browser.world.gumCalls.length, 0);
    peer.close("view-removed");
  });
});

describe("close during negotiation creates nothing afterwards", () => {
  test("while getUserMedia is pending (after the answer)", async () => {
    const { browser, peer, model, kernel } = setup({ auto: false });
    const pc = await negotiateUntilCamera(peer, browser, kernel);
    assert.equal(browser.world.gum.length, 1, "camera requested after the answer");
    peer.close("view-removed");
    browser.world.gum[0].resolve(browser.makeStream());
    await flush();
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 }, "late camera tracks are stopped");
    assert.equal(pc.transceivers[0].sender.track, null, "nothing sent after close");
    assert.deepEqual(model.sentOf("bye").map((m) => m.payload), [{ reason: "view-removed" }]);
    assert.equal(peer.state.name, "closed");
  });

  test("while createOffer is pending", async () => {
    const { browser, peer, model } = setup({ auto: false });
    const started = peer.start();
    await flush();
    assert.equal(browser.world.gumCalls.length, 0);
    const pc = browser.world.pcs[0];
    peer.close("view-removed");
    assert.equal(pc.closed, true);
    pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\n" });
    pc.localStep.resolve();
    await started;
    await flush();
    assert.equal(model.sentOf("offer").length, 0);
    assert.equal(browser.world.pcs.length, 1);
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("while setLocalDescription is pending", async () => {
    const { browser, peer, model } = setup({ auto: false, kind: "view" });
    const started = peer.start();
    await flush();
    const pc = browser.world.pcs[0];
    pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\n" });
    await flush();
    // the offer went while setLocalDescription ran (the kernel answers meanwhile)
    assert.equal(model.sentOf("offer").length, 1);
    peer.close("view-removed");
    pc.localStep.resolve();
    await started;
    await flush();
    // the kernel hears the close; nothing follows it
    const types = model.sent.map((m) => m.type);
    assert.equal(types.at(-1), "bye");
    assert.equal(types.filter((t) => t === "offer").length, 1);
    assert.equal(peer.state.name, "closed");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("a late answer after close is dropped", async () => {
    const { browser, peer, kernel } = setup();
    await peer.start();
    peer.close("view-removed");
    kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    assert.equal(browser.world.pcs[0].remoteDescription, null);
  });

  test("close before start: start does nothing", async () => {
    const { browser, peer, model } = setup();
    peer.close();
    await peer.start();
    assert.equal(browser.world.gumCalls.length, 0);
    assert.equal(model.sent.length, 0);
  });

  test("close is idempotent", async () => {
    const { peer, model } = setup();
    await peer.start();
    peer.close("view-removed");
    peer.close("view-removed");
    peer.close("other");
    assert.equal(model.sentOf("bye").length, 1);
  });
});

describe("failures", () => {
  test("getUserMedia denied: error then bye, words shown, nothing left", async () => {
    const { browser, peer, model, snapshots, kernel } = setup({ auto: false });
    await negotiateUntilCamera(peer, browser, kernel);
    browser.world.gum[0].reject(Object.assign(new Error("Permission denied"), { name: "NotAllowedError" }));
    await flush();
    assert.deepEqual(
      model.sent.filter((m) => m.type === "error" || m.type === "bye").map((m) => [m.type, m.payload]),
      [
        ["error", { name: "NotAllowedError", message: "Permission denied" }],
        ["bye", { reason: "error" }],
      ],
    );
    assert.equal(peer.state.name, "error");
    assert.match(snapshots.at(-1).words, /Camera permission was denied \(NotAllowedError\)/);
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("no mediaDevices (insecure page) is a SecurityError", async () => {
    const { browser, peer, kernel } = setup();
    browser.env.mediaDevices = undefined;
    peer.env.mediaDevices = undefined;
    await peer.start();
    kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    assert.equal(peer.state.name, "error");
    assert.match(peer.words, /secure context/);
  });

  test("ICE failure closes with words and tells the kernel", async () => {
    // transport "webrtc": with "auto", the comm takes over instead (comm.test.js)
    const { browser, peer, model, kernel } = setup({ traits: { transport_mode: "webrtc" } });
    await peer.start();
    kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    browser.world.pcs[0].setState("connectionState", "failed", "connectionstatechange");
    assert.equal(peer.state.name, "error");
    assert.match(peer.words, /^ICE failed/);
    assert.equal(model.sentOf("error")[0].payload.name, "IceFailed");
    assert.deepEqual(model.sentOf("bye").at(-1).payload, { reason: "error" });
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("a bad answer fails the stream", async () => {
    const { browser, peer, kernel } = setup();
    await peer.start();
    browser.world.pcs[0].remoteStep = { promise: Promise.reject(Object.assign(new Error("bad sdp"), { name: "OperationError" })) };
    browser.world.pcs[0].remoteStep.promise.catch(() => {});
    kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    assert.equal(peer.state.name, "error");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("an offer refused by the kernel ends the stream without error/bye", async () => {
    const { browser, peer, model, kernel } = setup();
    await peer.start();
    const before = model.sent.length;
    kernel("error", { code: "limit", message: "too many streams", ref: { type: "offer" } });
    assert.equal(peer.state.name, "error");
    assert.match(peer.words, /refused this stream \(limit\)/);
    assert.equal(model.sent.slice(before).filter((m) => m.type === "error" || m.type === "bye").length, 0);
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("other kernel errors leave a healthy stream alone", async () => {
    const { peer, kernel } = setup();
    await peer.start();
    kernel("error", { code: "bad-message", message: "candidate", ref: { type: "candidate" } });
    assert.equal(peer.state.name, "negotiating");
  });
});

describe("kernel-initiated close", () => {
  for (const [name, type, payload, state] of [
    ["bye", "bye", { reason: "widget-closed" }, "closed"],
    ["state closed", "state", { state: "closed", detail: "" }, "closed"],
    ["state error", "state", { state: "error", detail: "decoder crashed" }, "error"],
  ]) {
    test(`${name}: close at once, no bye back`, async () => {
      const { browser, peer, model, kernel } = setup();
      await peer.start();
      kernel(type, payload);
      assert.equal(peer.state.name, state);
      assert.equal(model.sentOf("bye").length, 0);
      assert.equal(model.sentOf("error").length, 0);
      assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
      if (state === "error") assert.equal(peer.words, "decoder crashed");
    });
  }
});

describe("kernel watchdog", () => {
  test("closes with kernel-gone after KERNEL_SILENCE_MS of silence after the answer", async () => {
    const { browser, peer, model, kernel } = setup();
    await peer.start();
    browser.advance(2 * KERNEL_SILENCE_MS);
    assert.equal(peer.state.name, "negotiating", "no watchdog before the answer");
    kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    browser.advance(KERNEL_SILENCE_MS - 100);
    kernel("ping", { t: 1 });
    browser.advance(KERNEL_SILENCE_MS - 100);
    assert.equal(peer.state.name, "connecting", "pings keep it alive");
    browser.advance(WATCHDOG_TICK_MS * 2);
    assert.equal(peer.state.name, "closed");
    assert.equal(peer.state.reason, "kernel-gone");
    assert.match(peer.words, /^Lost the connection to the kernel/);
    assert.equal(model.sentOf("bye").length, 0, "nobody is there to hear a bye");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("time the page itself was stalled does not count as kernel silence", async () => {
    const { browser, peer, kernel } = setup();
    await peer.start();
    kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    browser.advance(KERNEL_SILENCE_MS - 500);
    browser.stall(2000); // a busy main thread: no message could be handled
    browser.advance(WATCHDOG_TICK_MS);
    assert.equal(peer.state.name, "connecting", "a stall is not silence");
    kernel("ping", { t: 2 }); // the held-back messages arrive after the stall
    browser.advance(KERNEL_SILENCE_MS - 100);
    assert.equal(peer.state.name, "connecting");
    browser.advance(WATCHDOG_TICK_MS * 2);
    assert.equal(peer.state.name, "closed", "real silence still ends it");
  });

  test("kernelGone() closes at once with words, without a bye", async () => {
    const { browser, peer, model, kernel } = setup();
    await peer.start();
    kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    peer.kernelGone("restarting");
    assert.equal(peer.state.name, "closed");
    assert.equal(peer.state.reason, "kernel-gone");
    assert.equal(model.sentOf("bye").length, 0);
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });
});

describe("a view of a media server (watch)", () => {
  test("asks the kernel to watch, samples no stats, and proves itself alive with pings", async () => {
    const { browser, peer, model, kernel } = setup({ kind: "view", traits: { sfu: "janus", stats_interval: 1 } });
    await peer.start();
    await flush();
    assert.equal(model.sentOf("watch").length, 1, "the page asks to watch");
    assert.equal(model.sentOf("offer").length, 0, "the server offers, not the page");
    kernel("offer", { sdp: "v=0\r\nfake-server-offer\r\n" });
    for (let i = 0; i < 5; i++) await flush();
    browser.world.pcs[0].statsReports = [
      { id: "IV", type: "inbound-rtp", kind: "video", timestamp: 1, bytesReceived: 1000, framesDecoded: 30 },
    ];
    assert.equal(model.sentOf("answer").length, 1, "the page answers the server's offer");
    for (let i = 0; i < 5; i++) {
      browser.advance(PING_INTERVAL_MS);
      kernel("ping", { t: i }); // the kernel's watchdog pings
      await flush();
    }
    assert.notEqual(peer.state.name, "closed");
    assert.equal(model.sentOf("stats").length, 0, "the kernel keeps no stats of a server's stream");
    assert.ok(model.sentOf("ping").length >= 4, "the heartbeat pings instead");
    peer.close("test");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });
});

describe("the offer's first reports", () => {
  test("the offer goes to the kernel while setLocalDescription runs", async () => {
    const { browser, peer, model } = setup({ auto: false });
    const started = peer.start();
    await flush();
    const [pc] = browser.world.pcs;
    const sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n";
    pc.offerStep.resolve({ type: "offer", sdp });
    await flush();
    // the SDP createOffer made, before setLocalDescription settled
    assert.equal(model.sentOf("offer").length, 1);
    assert.equal(model.sentOf("offer")[0].payload.sdp, sdp);
    assert.equal(pc.localDescription, null);
    assert.equal(peer.state.name, "negotiating");
    pc.localStep.resolve();
    await started;
    assert.equal(pc.localDescription?.sdp, sdp);
    peer.close("test");
  });

  test("setLocalDescription refused after the offer went: the stream fails in words", async () => {
    const { browser, peer, model } = setup({ auto: false });
    const started = peer.start();
    await flush();
    const [pc] = browser.world.pcs;
    pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\n" });
    await flush();
    pc.localStep.reject(Object.assign(new Error("bad SDP"), { name: "OperationError" }));
    await started;
    await flush();
    assert.equal(peer.state.name, "error");
    assert.equal(model.sentOf("error").length, 1);
    assert.equal(model.sentOf("error")[0].payload.name, "OperationError");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("what was gathered while the offer was made goes right after it, as one batch", async () => {
    // a router that batches (BATCH_MS) on the fake clock: the offer opens its window
    const browser = fakeBrowser({ auto: false });
    const model = new FakeModel({
      kind: "camera",
      constraints: { width: 640, height: 480, frame_rate: null, device_id: null },
      rtc_config: { iceServers: [] },
    });
    const router = createRouter({
      log: quietLog(),
      pageTarget: null,
      now: () => browser.world.nowMs,
      setTimer: (fn, ms) => browser.env.setTimeout(fn, ms),
      clearTimer: (id) => browser.env.clearTimeout(id),
    });
    const peer = new BrowserPeer({ model, kind: "camera", router, env: browser.env });
    const started = peer.start();
    await flush();
    const [pc] = browser.world.pcs;
    pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\n" });
    await flush();
    pc.candidate({ candidate: "candidate:1 1 udp 1 192.0.2.1 9 typ host", sdpMid: "0", sdpMLineIndex: 0 });
    pc.candidate({ candidate: "candidate:2 1 udp 1 192.0.2.2 9 typ host", sdpMid: "0", sdpMLineIndex: 0 });
    pc.localStep.resolve();
    await started;
    const sent = model.sent.map((m) => m.type);
    assert.deepEqual(sent, ["offer", "batch"], "no time passed: nothing waits for a timer");
    const batch = model.sent[1].payload.map((/** @type {any} */ x) => x.type);
    assert.deepEqual(batch.filter((t) => t === "candidate").length, 2);
    peer.close("test");
  });
});
