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
    // The kernel knows a stream (and gets a bye) once its offer went out.
    for (let i = 0; i < 500 && m.sentOf("offer").length === 0; i++) await flush(1);
    assert.equal(m.sentOf("offer").length, 1);
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

describe("kinds", () => {
  const settle = async () => {
    await flush();
    await new Promise((r) => setTimeout(r, 5));
    await flush();
  };
  const answer = (m) => {
    const stream = m.sentOf("offer").at(-1).stream;
    m.emit({ v: 1, type: "answer", stream, payload: { sdp: "v=0\r\nanswer\r\n" } });
  };

  for (const [kind, opens] of [
    ["camera", "gum"],
    ["screen", "gdm"],
    ["microphone", "gum"],
    ["view", null],
    ["audio", null],
  ]) {
    test(`${kind}: offers its kind, opens ${opens ?? "nothing"}, cleans up`, async () => {
      browser.env.mediaDevices.getDisplayMedia = browser.env.mediaDevices.getDisplayMedia.bind(browser.env.mediaDevices);
      const m = model({ kind });
      const el = doc.createElement("div");
      const cleanup = widget.render({ model: m, el });
      await settle();
      assert.equal(m.sentOf("offer")[0].payload.kind, kind);
      answer(m);
      await settle();
      assert.equal(browser.world.gumCalls.length, opens === "gum" ? 1 : 0);
      assert.equal(browser.world.gdmCalls.length, opens === "gdm" ? 1 : 0);
      assert.equal(el.children[0].dataset.kind, kind);
      cleanup();
      assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
      assert.equal(browser.openChannels(), 0);
      assert.equal(el.children.length, 0);
      assert.equal(doc.listenerCount(), 0, "no DOM listener left");
      for (const name of ["change:state", "change:error", "change:constraints", "change:audio", "change:processing", "change:process_error", "change:warning"]) {
        assert.equal(m.count(name), 0, name);
      }
    });
  }

  test("unknown kind names the five kinds", () => {
    const m = model({ kind: "microwave" });
    const el = doc.createElement("div");
    const cleanup = widget.render({ model: m, el });
    assert.match(
      el.children[0].find("nbrtc-text").textContent,
      /expected one of "camera", "view", "screen", "microphone", "audio"/,
    );
    cleanup();
  });
});

describe("traits", () => {
  const settle = async () => {
    await flush();
    await new Promise((r) => setTimeout(r, 5));
    await flush();
  };
  const fire = (m, name) => {
    for (const cb of [...(m.listeners.get(`change:${name}`) ?? [])]) cb();
  };

  for (const [kind, restarts] of [
    ["camera", true],
    ["microphone", true],
    ["view", false],
    ["screen", false],
  ]) {
    test(`change:audio ${restarts ? "restarts" : "leaves"} a ${kind} stream`, async () => {
      const m = model({ kind, audio: null });
      const cleanup = widget.render({ model: m, el: doc.createElement("div") });
      await settle();
      const first = m.sentOf("offer")[0].stream;
      m.traits.audio = true;
      fire(m, "audio");
      await flush();
      if (restarts) {
        assert.equal(m.sentOf("offer").length, 2);
        assert.deepEqual(m.sentOf("bye").map((x) => [x.stream, x.payload.reason]), [[first, "constraints-changed"]]);
        const pc = browser.world.pcs.at(-1);
        assert.ok(pc.transceivers.some((t) => t.trackOrKind === "audio" && t.init.direction === "sendonly"));
      } else {
        assert.equal(m.sentOf("offer").length, 1);
        assert.equal(m.sentOf("bye").length, 0);
      }
      cleanup();
      assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
    });
  }

  test("change:constraints on a screen applies them to the live track (no new picker)", async () => {
    const m = model({ kind: "screen" });
    const cleanup = widget.render({ model: m, el: doc.createElement("div") });
    await settle();
    const stream = m.sentOf("offer")[0].stream;
    m.emit({ v: 1, type: "answer", stream, payload: { sdp: "v=0\r\nanswer\r\n" } });
    await settle();
    m.traits.constraints = { width: 1024, height: null, frame_rate: null, device_id: null };
    fire(m, "constraints");
    await flush();
    assert.equal(browser.world.gdmCalls.length, 1);
    assert.equal(m.sentOf("offer").length, 1);
    assert.deepEqual(browser.world.streams[0].getVideoTracks()[0].applied, [{ width: { ideal: 1024 } }]);
    cleanup();
  });

  test("processing and process_error drive the view", async () => {
    const m = model({ processing: false, process_error: "" });
    const el = doc.createElement("div");
    const cleanup = widget.render({ model: m, el });
    await settle();
    const stream = m.sentOf("offer")[0].stream;
    m.emit({ v: 1, type: "answer", stream, payload: { sdp: "v=0\r\nanswer\r\n" } });
    await settle();
    const root = el.children[0];
    const pc = browser.world.pcs[0];
    pc.remoteTrack("video");
    m.traits.processing = true;
    fire(m, "processing");
    assert.equal(root.dataset.showing, "camera", "no processed frame yet");
    root.find("nbrtc-remote").presentFrame();
    assert.equal(root.dataset.showing, "processed");
    assert.equal(root.find("nbrtc-video"), root.find("nbrtc-remote"));
    m.traits.process_error = "ZeroDivisionError: division by zero";
    fire(m, "process_error");
    assert.equal(root.find("nbrtc-notice").textContent, "ZeroDivisionError: division by zero");
    assert.equal(root.find("nbrtc-notice").hidden, false);
    m.traits.processing = false;
    fire(m, "processing");
    assert.equal(root.dataset.showing, "camera");
    cleanup();
  });

  test("the kernel's warning shows on the notice line, next to a process_error, and clears", async () => {
    const m = model({ process_error: "", warning: "" });
    const el = doc.createElement("div");
    const cleanup = widget.render({ model: m, el });
    await settle();
    const root = el.children[0];
    assert.equal(root.find("nbrtc-notice").hidden, true);
    m.traits.warning = "TURN: the TURN server turn:192.0.2.1:3478 refused the credentials (401 Unauthorized)";
    fire(m, "warning");
    assert.match(root.find("nbrtc-notice").textContent, /^TURN: .*401/);
    assert.equal(root.find("nbrtc-notice").hidden, false);
    m.traits.process_error = "ValueError: x";
    fire(m, "process_error");
    assert.match(root.find("nbrtc-notice").textContent, /^ValueError: x · TURN: /);
    m.traits.warning = "";
    m.traits.process_error = "";
    fire(m, "warning");
    assert.equal(root.find("nbrtc-notice").hidden, true);
    cleanup();
  });
});

describe("page-script API and channels", () => {
  const settle = async () => {
    await flush();
    await new Promise((r) => setTimeout(r, 5));
    await flush();
  };

  test("root.nbrtc.send/channels, nbrtc-message events, removed at cleanup", async () => {
    const m = model({ kind: "view" });
    const el = doc.createElement("div");
    const cleanup = widget.render({ model: m, el });
    const root = el.children[0];
    assert.equal(typeof root.nbrtc.send, "function");
    assert.deepEqual(root.nbrtc.channels(), []);
    await settle();
    const pc = browser.world.pcs[0];
    const telemetry = pc.remoteChannel("telemetry");
    assert.deepEqual(root.nbrtc.channels(), ["telemetry"], "nbrtc never listed");
    /** @type {any[]} */
    const got = [];
    const pageListener = (e) => got.push(e.detail);
    root.addEventListener("nbrtc-message", pageListener);
    telemetry.receive("hello");
    assert.deepEqual(got, [{ channel: "telemetry", data: "hello", stream: m.sentOf("offer")[0].stream }]);
    const box = root.find("nbrtc-channels").find("nbrtc-channel");
    assert.equal(box.dataset.label, "telemetry");

    // the panel's input sends through the peer
    const input = box.find("nbrtc-channel-input");
    input.value = "from the panel";
    input.dispatchEvent(Object.assign(new Event("keydown"), { key: "Enter" }));
    assert.deepEqual(telemetry.sent, ["from the panel"]);
    assert.deepEqual(
      box.findAll("nbrtc-msg").map((x) => [x.dataset.dir, x.textContent]),
      [["in", "hello"], ["out", "from the panel"]],
    );

    // an unknown label opens a channel from the browser, queued until open
    assert.equal(root.nbrtc.send("cmd", "go"), true);
    const cmd = pc.channels.find((c) => c.label === "cmd");
    assert.deepEqual(cmd.sent, []);
    cmd.open();
    assert.deepEqual(cmd.sent, ["go"]);
    assert.deepEqual(root.nbrtc.channels(), ["telemetry", "cmd"]);
    assert.throws(() => root.nbrtc.send("nbrtc", "x"), TypeError);

    root.removeEventListener("nbrtc-message", pageListener); // the page script's own
    cleanup();
    assert.equal("nbrtc" in root, false, "property removed");
    assert.equal(browser.openChannels(), 0);
    assert.equal(doc.listenerCount(), 0);
  });

  test("a restart (new constraints) moves the API to the new peer", async () => {
    const m = model();
    const el = doc.createElement("div");
    const cleanup = widget.render({ model: m, el });
    await settle();
    const root = el.children[0];
    browser.world.pcs[0].remoteChannel("old");
    assert.deepEqual(root.nbrtc.channels(), ["old"]);
    m.traits.constraints = { width: 320, height: null, frame_rate: null, device_id: null };
    for (const cb of [...(m.listeners.get("change:constraints") ?? [])]) cb();
    await flush();
    assert.deepEqual(root.nbrtc.channels(), [], "the old peer's channels closed with it");
    assert.equal(root.find("nbrtc-channels").hidden, true);
    root.nbrtc.send("new", "x");
    assert.ok(browser.world.pcs[1].channels.some((c) => c.label === "new"));
    cleanup();
  });
});
