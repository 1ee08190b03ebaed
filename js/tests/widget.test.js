import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { BUNDLE_VERSION, default as widget } from "../widget.js";
import { FakeDocument, FakeModel, fakeBrowser, flush } from "./fakes.js";

/** @type {ReturnType<typeof fakeBrowser>} */
let browser;
/** @type {FakeDocument} */
let doc;
const saved = {};

beforeEach(() => {
  browser = fakeBrowser();
  doc = new FakeDocument();
  for (const key of ["document", "navigator", "RTCPeerConnection", "__nbrtc_router_v1"]) {
    saved[key] = Object.getOwnPropertyDescriptor(globalThis, key);
  }
  globalThis.document = doc;
  Object.defineProperty(globalThis, "navigator", {
    value: { mediaDevices: browser.env.mediaDevices },
    configurable: true,
    writable: true,
  });
  globalThis.RTCPeerConnection = browser.FakePC;
  delete globalThis.__nbrtc_router_v1;
});

afterEach(() => {
  // Close whatever a failing test left open, so no interval keeps node alive.
  globalThis.__nbrtc_router_v1?.closeAll("test-end");
  for (const [key, desc] of Object.entries(saved)) {
    if (desc) Object.defineProperty(globalThis, key, desc);
    else delete globalThis[key];
  }
});

function model(traits = {}) {
  return new FakeModel({
    kind: "camera",
    constraints: { width: null, height: null, frame_rate: null, device_id: null },
    rtc_config: { iceServers: [] },
    state: "new",
    error: "",
    _version: BUNDLE_VERSION,
    ...traits,
  });
}

describe("initialize", () => {
  test("attaches the model to the page router and detaches on cleanup", () => {
    const m = model();
    const cleanup = widget.initialize({ model: m });
    assert.equal(m.count("msg:custom"), 1);
    assert.ok(globalThis.__nbrtc_router_v1, "router on globalThis");
    cleanup();
    assert.equal(m.count("msg:custom"), 0);
  });
});

describe("render", () => {
  test("starts one camera stream and cleans everything up", async () => {
    const m = model();
    const el = doc.createElement("div");
    const cleanupInit = widget.initialize({ model: m });
    const cleanup = widget.render({ model: m, el });
    await flush();
    assert.equal(m.sentOf("offer").length, 1);
    assert.equal(el.children[0].className, "nbrtc-root");
    assert.equal(el.children[0].find("nbrtc-warning").textContent, "");
    assert.equal(globalThis.__nbrtc_router_v1.streams().length, 1);
    cleanup();
    cleanup(); // twice is harmless
    assert.deepEqual(m.sentOf("bye").map((x) => x.payload), [{ reason: "view-removed" }]);
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
    assert.equal(el.children.length, 0);
    assert.equal(m.count("change:state"), 0);
    assert.equal(m.count("change:error"), 0);
    assert.equal(m.count("msg:custom"), 1, "initialize still holds its listener");
    cleanupInit();
    assert.equal(m.count("msg:custom"), 0);
  });

  test("an aborted signal closes the view", async () => {
    const m = model({ kind: "view" });
    const el = doc.createElement("div");
    const controller = new AbortController();
    widget.render({ model: m, el, signal: controller.signal });
    await flush();
    controller.abort();
    assert.deepEqual(m.sentOf("bye").map((x) => x.payload), [{ reason: "view-removed" }]);
    assert.equal(el.children.length, 0);
  });

  test("a cleanup step that throws does not stop the others", async () => {
    const m = model();
    const el = doc.createElement("div");
    const cleanup = widget.render({ model: m, el });
    await flush();
    m.off = () => {
      throw new Error("dead model");
    };
    const errors = [];
    const original = console.error;
    console.error = (...args) => errors.push(args);
    try {
      assert.doesNotThrow(cleanup);
    } finally {
      console.error = original;
    }
    assert.equal(el.children.length, 0);
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
    assert.ok(errors.length >= 1);
  });

  test("warns when the Python and bundle versions differ", () => {
    const m = model({ _version: "9.9.9" });
    const el = doc.createElement("div");
    const cleanup = widget.render({ model: m, el });
    assert.match(el.children[0].find("nbrtc-warning").textContent, /Python nbrtc 9\.9\.9/);
    cleanup();
  });

  test("shows the kernel's error trait", () => {
    const m = model();
    const el = doc.createElement("div");
    const cleanup = widget.render({ model: m, el });
    m.traits.state = "error";
    m.traits.error = "frame callback raised ValueError";
    for (const cb of m.listeners.get("change:state")) cb();
    assert.equal(
      el.children[0].find("nbrtc-kernel-error").textContent,
      "Kernel: frame callback raised ValueError",
    );
    cleanup();
  });

  test("an unknown kind shows an error and starts nothing", async () => {
    const m = model({ kind: "microwave" });
    const el = doc.createElement("div");
    const cleanup = widget.render({ model: m, el });
    await flush();
    assert.equal(browser.world.pcs.length, 0);
    assert.match(el.children[0].find("nbrtc-text").textContent, /Unknown widget kind/);
    cleanup();
  });
});

describe("render of a widget the kernel closed", () => {
  /** @param {FakeModel} m */
  function setState(m, state) {
    m.traits.state = state;
    for (const cb of [...(m.listeners.get("change:state") ?? [])]) cb();
  }
  const settle = async () => {
    await flush();
    await new Promise((r) => setTimeout(r, 5));
    await flush();
  };

  test("closed right after render (same cell): the camera is never opened", async () => {
    const m = model();
    const cleanup = widget.render({ model: m, el: doc.createElement("div") });
    setState(m, "closed");
    await settle();
    assert.equal(browser.world.gumCalls.length, 0);
    assert.equal(m.sentOf("offer").length, 0);
    cleanup();
  });

  test("already closed at render: nothing starts", async () => {
    const m = model({ state: "closed" });
    const cleanup = widget.render({ model: m, el: doc.createElement("div") });
    await settle();
    assert.equal(browser.world.gumCalls.length, 0);
    cleanup();
  });

  test("an open widget offers on the next task", async () => {
    const m = model();
    const cleanup = widget.render({ model: m, el: doc.createElement("div") });
    assert.equal(browser.world.pcs.length, 0, "not synchronously");
    await settle();
    assert.equal(m.sentOf("offer").length, 1);
    cleanup();
  });
});

describe("constraints changed from Python", () => {
  test("a live camera view restarts its stream with the new constraints", async () => {
    const m = model();
    const cleanup = widget.render({ model: m, el: doc.createElement("div") });
    await flush();
    await new Promise((r) => setTimeout(r, 5));
    await flush();
    const first = m.sentOf("offer")[0].stream;
    m.traits.constraints = { width: 320, height: 240, frame_rate: null, device_id: null };
    for (const cb of [...(m.listeners.get("change:constraints") ?? [])]) cb();
    await flush();
    const offers = m.sentOf("offer");
    assert.equal(offers.length, 2);
    assert.notEqual(offers[1].stream, first, "a new stream id");
    assert.deepEqual(
      m.sentOf("bye").map((x) => [x.stream, x.payload.reason]),
      [[first, "constraints-changed"]],
    );
    assert.equal(browser.world.pcs.filter((pc) => !pc.closed).length, 1);
    cleanup();
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });
});
