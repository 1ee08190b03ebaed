// warm.js: the pc a model prepares before its first view renders, and the view that
// takes it (peer.js): one pc in all, the same offer, nothing lost of what happened
// before the take, and nothing left open when no view takes it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrowserPeer } from "../peer/peer.js";
import { WARM_MS, discard, prepare } from "../peer/warm.js";
import { createRouter } from "../core/router.js";
import { CONTROL_CHANNEL } from "../core/protocol.js";
import { FakeModel, fakeBrowser, flush, quietLog } from "./fakes.js";

const CAMERA = {
  kind: "camera",
  constraints: { width: 640, height: 480, frame_rate: null, device_id: null },
  rtc_config: { iceServers: [] },
  audio: false,
};

function world(traits = {}) {
  const browser = fakeBrowser();
  const model = new FakeModel({ ...CAMERA, ...traits });
  const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "abcdef01" });
  /** @param {any} [env] */
  const view = (env = browser.env) =>
    new BrowserPeer({ model, kind: String(model.get("kind")), router, env });
  return { browser, model, view, types: () => model.sent.map((m) => m.type) };
}

describe("a pc prepared at initialize", () => {
  test("the first view takes it: one pc, its offer, its control channel", async () => {
    const { browser, model, view, types } = world();
    const warm = prepare(model, browser.env);
    assert.ok(warm);
    await flush();
    const [pc] = browser.world.pcs;
    assert.equal(browser.world.pcs.length, 1);
    assert.deepEqual(pc.transceivers.map((t) => [t.kind, t.init.direction]), [["video", "sendrecv"]]);
    assert.deepEqual(pc.channels.map((c) => c.label), [CONTROL_CHANNEL]);
    assert.equal(pc.offerOptions.length, 1, "the offer was made before any view");
    assert.deepEqual(types(), [], "nothing goes to the kernel before a view");

    const peer = view();
    await peer.start();
    assert.equal(browser.world.pcs.length, 1, "no second pc");
    assert.equal(peer.pc, pc);
    assert.equal(peer._videoTx, pc.transceivers[0]);
    assert.equal(pc.offerOptions.length, 1, "no second offer");
    assert.deepEqual(types().filter((t) => t !== "state"), ["offer"]);
    assert.equal(model.sentOf("offer")[0].payload.sdp, pc.localDescription.sdp, "the offer as set");
    // taken: the model's cleanup leaves it to its view
    discard(model);
    assert.equal(pc.closed, false);
    peer.close("test");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("what happened before the take is reported after the offer, in order", async () => {
    const { browser, model, view } = world();
    prepare(model, browser.env);
    await flush();
    const [pc] = browser.world.pcs;
    // a candidate was gathered, a STUN server failed, and gathering ended, before the view
    // rendered
    const early = { candidate: "candidate:0 1 udp 1 192.0.2.1 8 typ host", sdpMid: "0", sdpMLineIndex: 0 };
    pc.candidate(early);
    pc.dispatchEvent(
      Object.assign(new Event("icecandidateerror"), { url: "stun:192.0.2.9:3478", errorCode: 701, errorText: "x" }),
    );
    pc.candidate(null);
    const peer = view();
    await peer.start();
    const sent = model.sent.map((m) => [m.type, m.payload]);
    assert.equal(sent[0][0], "offer");
    // the offer as set: its candidates trickle after it, as from a pc made by the view
    assert.equal(sent[0][1].sdp, "v=0\r\nfake-offer\r\n");
    const after = sent.slice(1).filter(([t]) => t !== "state");
    assert.deepEqual(after, [
      ["candidate", early],
      ["ice-error", { url: "stun:192.0.2.9:3478", code: 701, text: "x" }],
      ["candidate", null],
    ]);
    // a candidate after the take trickles as usual, once
    pc.candidate({ candidate: "candidate:1 1 udp 1 192.0.2.1 9 typ host", sdpMid: "0", sdpMLineIndex: 0 });
    assert.equal(model.sentOf("candidate").length, 3);
    peer.close("test");
  });

  test("a view that would make another pc makes it, and the prepared one is closed", async () => {
    const { browser, model, view } = world();
    prepare(model, browser.env);
    await flush();
    const [prepared] = browser.world.pcs;
    model.traits.audio = true; // the view's offer would carry sound: not the prepared one
    const peer = view();
    await peer.start();
    assert.equal(browser.world.pcs.length, 2);
    assert.equal(prepared.closed, true);
    assert.notEqual(peer.pc, prepared);
    peer.close("test");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("a view in another environment (its own RTCPeerConnection) does not take it", async () => {
    const { browser, model, view } = world();
    prepare(model, browser.env);
    const other = fakeBrowser();
    const peer = view(other.env);
    await peer.start();
    assert.equal(browser.world.pcs[0].closed, true);
    assert.equal(other.world.pcs.length, 1);
    peer.close("test");
  });

  test("a view closed while the prepared offer is made sends nothing and closes it", async () => {
    const browser = fakeBrowser({ auto: false });
    const model = new FakeModel({ ...CAMERA });
    const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0 });
    prepare(model, browser.env);
    const [pc] = browser.world.pcs;
    const peer = new BrowserPeer({ model, kind: "camera", router, env: browser.env });
    const started = peer.start();
    await flush();
    peer.close("view-removed");
    pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\n" });
    pc.localStep.resolve();
    await started;
    assert.equal(pc.closed, true);
    assert.deepEqual(model.sentOf("offer"), []);
  });

  test("what was gathered while the offer was made goes right after it, as one batch", async () => {
    // a router that batches (BATCH_MS) on the fake clock: the offer opens its window
    const browser = fakeBrowser({ auto: false });
    const model = new FakeModel({ ...CAMERA });
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

  test("no view: closed with the model, or after WARM_MS", async () => {
    const a = world();
    prepare(a.model, a.browser.env);
    discard(a.model);
    discard(a.model); // idempotent
    assert.equal(a.browser.world.pcs[0].closed, true);

    const b = world();
    prepare(b.model, b.browser.env);
    b.browser.advance(WARM_MS - 1);
    assert.equal(b.browser.world.pcs[0].closed, false);
    b.browser.advance(1);
    assert.equal(b.browser.world.pcs[0].closed, true);
    // and a view after that makes its own
    const peer = b.view();
    await peer.start();
    assert.equal(b.browser.world.pcs.length, 2);
    peer.close("test");
  });

  test("nothing is prepared where the view's pc could differ or none is made", () => {
    const cases = [
      { kind: "room" },
      { kind: "probe" },
      { transport_mode: "comm" },
      { rtc_config: { iceServers: [{ urls: ["turn:192.0.2.7:3478"] }], credentials: "ask" } },
      { rtc_config: null },
    ];
    for (const traits of cases) {
      const { browser, model } = world(traits);
      assert.equal(prepare(model, browser.env), null, JSON.stringify(traits));
      assert.equal(browser.world.pcs.length, 0, JSON.stringify(traits));
    }
    const { browser, model } = world();
    assert.ok(prepare(model, browser.env));
    assert.equal(prepare(model, browser.env), null, "one per model");
    assert.equal(prepare(model, { ...browser.env, RTCPeerConnection: undefined }), null);
    discard(model);
  });
});
