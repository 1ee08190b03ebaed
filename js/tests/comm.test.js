// The comm transport's page side (js/transport/comm.js) and how a BrowserPeer uses it: the
// fallback after COMM_FALLBACK_MS, transport="comm" without a pc, the move back to
// WebRTC, flow control, and teardown.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  COMM_FALLBACK_MS,
  CommDownlink,
  CommUplink,
  MIN_QUALITY,
  Quality,
  WINDOW,
} from "../transport/comm.js";
import { BrowserPeer } from "../peer/peer.js";
import { createRouter } from "../core/router.js";
import { flush, peerSetup, quietLog } from "./fakes.js";

/** A MediaStreamTrackProcessor whose frames the test pushes. */
function fakeProcessor() {
  const world = {
    frames: /** @type {any[]} */ ([]),
    waiting: /** @type {any[]} */ ([]),
    audioWaiting: /** @type {any[]} */ ([]),
    cancelled: 0,
    closed: 0,
  };
  class MSTP {
    /** @param {{track: any}} init */
    constructor({ track }) {
      this.track = track;
      this.readable = {
        getReader: () => ({
          read: () =>
            new Promise((resolve) => {
              // an audio track's reader (comm-audio.js) gets nothing here: push() is video
              if (track?.kind === "audio") return world.audioWaiting.push(resolve);
              const f = world.frames.shift();
              if (f) resolve({ value: f, done: false });
              else world.waiting.push(resolve);
            }),
          cancel: async () => {
            world.cancelled += 1;
            for (const r of world.waiting.splice(0)) r({ value: undefined, done: true });
            for (const r of world.audioWaiting.splice(0)) r({ value: undefined, done: true });
          },
        }),
      };
    }
  }
  const push = () => {
    const frame = { displayWidth: 640, displayHeight: 480, close: () => (world.closed += 1) };
    const r = world.waiting.shift();
    if (r) r({ value: frame, done: false });
    else world.frames.push(frame);
  };
  return { MSTP, world, push };
}

class FakeCanvas {
  constructor(w = 2, h = 2) {
    this.width = w;
    this.height = h;
    this.drawn = 0;
    /** @type {any[]} */
    this.tracks = [{ kind: "video", readyState: "live", frames: 0, stop() { this.readyState = "ended"; }, requestFrame() { this.frames += 1; } }];
  }
  getContext() {
    return { drawImage: () => (this.drawn += 1) };
  }
  async convertToBlob() {
    return { arrayBuffer: async () => new ArrayBuffer(1000) };
  }
  captureStream() {
    return { getVideoTracks: () => this.tracks, getTracks: () => this.tracks };
  }
}

function commEnv(extra = {}) {
  let now = 0;
  return {
    env: {
      now: () => now,
      setTimeout: () => 0,
      clearTimeout: () => {},
      log: quietLog(),
      OffscreenCanvas: FakeCanvas,
      document: { createElement: () => new FakeCanvas() },
      Blob: class {
        /** @param {any[]} parts */
        constructor(parts) {
          this.parts = parts;
        }
      },
      createImageBitmap: async () => ({ close() {} }),
      ...extra,
    },
    tick: (/** @type {number} */ ms) => (now += ms),
  };
}

describe("Quality", () => {
  test("steps down when frames queue, not for a full window alone, and back up", () => {
    let now = 0;
    const q = new Quality(() => now);
    const second = (/** @type {number} */ at, /** @type {number} */ rtt, skip = false) => {
      for (let i = 0; i < 30; i++) {
        now = at * 1000 + (i * 1000) / 30;
        if (skip && i % 2) q.skipped();
        q.acked(rtt);
        q.offered();
      }
    };
    second(0, 40);
    second(1, 45, true);
    second(2, 45, true);
    assert.ok(q.quality >= 0.7 && q.scale === 1, "up, if anything");
    for (let at = 3; at < 15; at++) second(at, 400);
    assert.equal(q.quality, MIN_QUALITY);
    assert.ok(q.scale < 1);
    for (let at = 15; at < 45; at++) second(at, 40);
    assert.equal(q.scale, 1);
    assert.ok(q.quality > MIN_QUALITY);
    const [w, h] = q.size(641, 481);
    assert.equal(w % 2, 0);
    assert.equal(h % 2, 0);
  });
});

describe("CommUplink", () => {
  test("keeps at most WINDOW frames unacknowledged and skips the rest", async () => {
    const { MSTP, world, push } = fakeProcessor();
    const { env } = commEnv({ MediaStreamTrackProcessor: MSTP });
    /** @type {any[]} */
    const sent = [];
    const source = { kind: "video", clone() { return { kind: "video", stopped: false, stop() { this.stopped = true; } }; } };
    let acks = 0;
    const up = new CommUplink({ track: source, send: (p, b) => (sent.push([p, b]), true), onAck: () => acks++, env });
    up.start();
    for (let i = 0; i < 6; i++) {
      push();
      await flush();
    }
    assert.equal(sent.length, WINDOW);
    assert.equal(up.framesSkipped, 6 - WINDOW);
    assert.deepEqual(sent.map(([p]) => p.seq), Array.from({ length: WINDOW }, (_, i) => i + 1));
    assert.equal(sent[0][0].type, "jpeg");
    assert.ok(sent[0][1][0] instanceof ArrayBuffer, "binary buffer, no base64");
    up.ack(2); // acks the older one too: two credits back
    assert.equal(acks, 1);
    push();
    await flush();
    push();
    await flush();
    assert.equal(sent.length, WINDOW + 2);
    assert.equal(world.closed, 8, "every frame is closed");
    const clone = up._track;
    up.stop();
    up.stop();
    assert.equal(world.cancelled, 1);
    assert.equal(clone.stopped, true, "the clone stops, not the view's track");
    push();
    await flush();
    assert.equal(sent.length, WINDOW + 2, "nothing after stop");
  });
});

describe("CommDownlink", () => {
  test("draws, acknowledges, and replaces a waiting frame with a newer one", async () => {
    const { env } = commEnv();
    /** @type {number[]} */
    const acks = [];
    let frames = 0;
    const down = new CommDownlink({ ack: (s) => acks.push(s), onFrame: () => frames++, env });
    const data = new Uint8Array([0xff, 0xd8]);
    down.frame({ seq: 1, w: 320, h: 240 }, [data]);
    down.frame({ seq: 2, w: 320, h: 240 }, [data]); // waits behind 1
    down.frame({ seq: 3, w: 320, h: 240 }, [data]); // replaces 2, which is acked undrawn
    await flush();
    assert.deepEqual(acks, [2, 1, 3]);
    assert.equal(down.framesDrawn, 2);
    assert.equal(frames, 2);
    const [track] = down.stream.getVideoTracks();
    assert.equal(track.frames, 2, "one captured frame per drawn frame");
    down.stop();
    assert.equal(track.readyState, "ended");
    down.frame({ seq: 4, w: 320, h: 240 }, [data]);
    await flush();
    assert.deepEqual(acks, [2, 1, 3]);
  });
});

/** @param {Record<string, any>} [traits] @param {string} [kind] */
function peerOnComm(traits = {}, kind = "camera") {
  const { MSTP, push } = fakeProcessor();
  const setup = peerSetup({ BrowserPeer, createRouter, kind, traits });
  const { env } = commEnv({ MediaStreamTrackProcessor: MSTP });
  /** @type {any} */ (setup.browser.env).comm = env;
  setup.peer.env.comm = env;
  return { ...setup, push };
}

describe("BrowserPeer on the comm", () => {
  test("falls back when WebRTC has not connected after COMM_FALLBACK_MS", async () => {
    const { browser, peer, model, kernel, push } = peerOnComm();
    await peer.start();
    kernel("answer", { sdp: "v=0\r\nanswer\r\n" });
    await flush();
    browser.advance(COMM_FALLBACK_MS - 10);
    assert.equal(model.sentOf("transport").length, 0);
    browser.advance(20);
    const [ask] = model.sentOf("transport");
    assert.equal(ask.payload.use, "comm");
    assert.match(ask.payload.why, /not connected 1.5 s after the offer/);
    kernel("transport", { use: "comm" });
    await flush();
    assert.equal(peer.transport, "comm");
    push();
    await flush();
    const [frame] = model.sentOf("frame");
    assert.equal(frame.payload.seq, 1);
    assert.equal(frame.buffers.length, 1);
    kernel("frame-ack", { seq: 1 });
    await flush();
    assert.equal(peer.state.name, "live", "live once the kernel decoded a frame");
    // ICE connects after all: back to WebRTC, the comm stops
    const pc = browser.world.pcs[0];
    pc.connectionState = "connected";
    pc.dispatchEvent(new Event("connectionstatechange"));
    assert.equal(peer.transport, "webrtc");
    assert.equal(model.sentOf("transport")[1].payload.use, "webrtc");
    assert.equal(peer._uplink, null);
    peer.close();
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("no fallback when WebRTC connects in time, nor with transport='webrtc'", async () => {
    for (const traits of [{}, { transport_mode: "webrtc" }]) {
      const { browser, peer, model } = peerOnComm(traits);
      await peer.start();
      const pc = browser.world.pcs[0];
      if (!traits.transport_mode) {
        pc.connectionState = "connected";
        pc.dispatchEvent(new Event("connectionstatechange"));
      }
      browser.advance(COMM_FALLBACK_MS * 3);
      assert.equal(model.sentOf("transport").length, 0);
      peer.close();
    }
  });

  test("a failed pc is dropped, not the stream, while the comm carries it", async () => {
    const { browser, peer, kernel } = peerOnComm();
    await peer.start();
    kernel("answer", { sdp: "v=0\r\nanswer\r\n" });
    await flush();
    browser.advance(COMM_FALLBACK_MS + 10);
    kernel("transport", { use: "comm" });
    await flush();
    const pc = browser.world.pcs[0];
    pc.connectionState = "failed";
    pc.dispatchEvent(new Event("connectionstatechange"));
    assert.equal(pc.closed, true);
    assert.equal(peer.pc, null);
    assert.notEqual(peer.state.name, "error");
    peer.close();
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("a pc that fails before it ever connected asks for the comm at once", async () => {
    const { browser, peer, model, kernel } = peerOnComm();
    await peer.start();
    kernel("answer", { sdp: "v=0\r\nanswer\r\n" });
    await flush();
    const pc = browser.world.pcs[0];
    pc.connectionState = "failed"; // e.g. relay-only with a TURN server it cannot reach
    pc.dispatchEvent(new Event("connectionstatechange"));
    const [ask] = model.sentOf("transport");
    assert.equal(ask.payload.why, "WebRTC failed before it connected");
    assert.equal(pc.closed, true);
    assert.notEqual(peer.state.name, "error");
    browser.advance(COMM_FALLBACK_MS * 2);
    assert.equal(model.sentOf("transport").length, 1, "asked once");
    peer.close();
  });

  test("with transport='webrtc' a failed pc fails the stream, as before", async () => {
    const { browser, peer, model, kernel } = peerOnComm({ transport_mode: "webrtc" });
    await peer.start();
    kernel("answer", { sdp: "v=0\r\nanswer\r\n" });
    await flush();
    const pc = browser.world.pcs[0];
    pc.connectionState = "failed";
    pc.dispatchEvent(new Event("connectionstatechange"));
    assert.equal(peer.state.name, "error");
    assert.equal(model.sentOf("transport").length, 0);
  });

  test("transport='comm' makes no pc; the kernel's reply opens the camera", async () => {
    const { browser, peer, model, kernel, push } = peerOnComm({ transport_mode: "comm", audio: true });
    await peer.start();
    assert.equal(browser.world.pcs.length, 0);
    const [offer] = model.sentOf("offer");
    assert.equal(offer.payload.transport, "comm");
    assert.equal(offer.payload.sdp, undefined);
    assert.equal(browser.world.gumCalls.length, 0, "no camera before the kernel accepted");
    kernel("transport", { use: "comm" });
    await flush();
    assert.equal(browser.world.gumCalls.length, 1);
    assert.equal(browser.world.gumCalls[0].audio, true, "sound goes over the comm too (comm-audio.js)");
    assert.equal(peer.state.name, "connecting");
    push();
    await flush();
    kernel("frame-ack", { seq: 1 });
    assert.equal(peer.state.name, "live");
    assert.equal(peer.snapshot().transport, "comm");
    peer.close();
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("a view on the comm plays the canvas stream and acknowledges each frame", async () => {
    const { peer, model, kernel } = peerOnComm({ transport_mode: "comm" }, "view");
    await peer.start();
    kernel("transport", { use: "comm" });
    await flush();
    const data = new Uint8Array([0xff, 0xd8]);
    model.emit({ v: 1, type: "frame", stream: peer.id, payload: { seq: 1, w: 320, h: 240, type: "jpeg" } }, [data]);
    await flush();
    assert.deepEqual(model.sentOf("frame-ack").map((m) => m.payload.seq), [1]);
    assert.equal(peer.state.name, "live");
    const snap = peer.snapshot();
    assert.ok(snap.media && snap.media === peer._downlink.stream, "the view plays the canvas stream");
    const [track] = snap.media.getVideoTracks();
    peer.close();
    assert.equal(track.readyState, "ended");
  });
});
