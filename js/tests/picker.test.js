// The view's device picker (peer/picker.js): which devices it lists and how, when it is
// shown and usable, what choosing one sends (a `device` message through the stream's
// session, never a trait write), and that nothing of it is left after destroy.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { currentDevice, pickerKinds, pickerOptions } from "../peer/picker.js";
import { BrowserPeer } from "../peer/peer.js";
import { createView } from "../peer/view.js";
import { createRouter } from "../core/router.js";
import widget from "../widget.js";
import { FakeDocument, FakeModel, FakeStream, FakeTrack, fakeBrowser, flush, peerSetup } from "./fakes.js";

const ANSWER_SDP = "v=0\r\nfake-answer\r\n";
const st = (name, reason = "") => ({ name, reason });

const DEVICES = [
  { deviceId: "cam1", kind: "videoinput", label: "Front camera", groupId: "g1" },
  { deviceId: "cam2", kind: "videoinput", label: "", groupId: "g2" },
  { deviceId: "mic1", kind: "audioinput", label: "Mic one", groupId: "g1" },
  { deviceId: "mic2", kind: "audioinput", label: "Mic two", groupId: "g2" },
  { deviceId: "spk1", kind: "audiooutput", label: "Speaker", groupId: "g1" },
];

/** A track that runs on `deviceId`, as getSettings() says in the browser. */
function trackOn(kind, deviceId) {
  const t = new FakeTrack(kind);
  t.getSettings = () => ({ deviceId });
  return t;
}

/**
 * Run `fn` with a fake document installed as globalThis.document.
 * @param {(doc: FakeDocument) => void | Promise<void>} fn
 */
async function withDoc(fn) {
  const doc = new FakeDocument();
  const saved = globalThis.document;
  globalThis.document = doc;
  try {
    await fn(doc);
  } finally {
    globalThis.document = saved;
  }
}

describe("pickerOptions", () => {
  test("one kind, listed order, one per id, labels or numbered names", () => {
    const list = [...DEVICES, { deviceId: "cam1", kind: "videoinput", label: "dup", groupId: "" }];
    list.push({ deviceId: "", kind: "videoinput", label: "no permission yet", groupId: "" });
    assert.deepEqual(pickerOptions(list, "video"), [
      { deviceId: "cam1", label: "Front camera" },
      { deviceId: "cam2", label: "Camera 2" },
    ]);
    assert.deepEqual(pickerOptions(list, "audio").map((o) => o.deviceId), ["mic1", "mic2"]);
    assert.deepEqual(pickerOptions(null, "video"), []);
    assert.deepEqual(pickerOptions([null, 1, { kind: "videoinput", deviceId: 5 }], "video"), []);
  });

  test("pickerKinds: a camera its camera (and microphone with sound), a microphone its own", () => {
    assert.deepEqual(pickerKinds("camera", new FakeStream([new FakeTrack("video")])), ["video"]);
    const both = new FakeStream([new FakeTrack("video"), new FakeTrack("audio")]);
    assert.deepEqual(pickerKinds("camera", both), ["video", "audio"]);
    assert.deepEqual(pickerKinds("camera", null), ["video"]);
    assert.deepEqual(pickerKinds("microphone", null), ["audio"]);
    for (const kind of ["screen", "view", "audio", "probe"]) assert.deepEqual(pickerKinds(kind, both), []);
  });

  test("currentDevice reads the track's settings, '' when it cannot", () => {
    const stream = new FakeStream([trackOn("video", "cam2"), trackOn("audio", "mic1")]);
    assert.equal(currentDevice(stream, "video"), "cam2");
    assert.equal(currentDevice(stream, "audio"), "mic1");
    assert.equal(currentDevice(new FakeStream([new FakeTrack("video")]), "video"), "");
    assert.equal(currentDevice(null, "video"), "");
    const throwing = new FakeTrack("video");
    throwing.getSettings = () => {
      throw new Error("gone");
    };
    assert.equal(currentDevice(new FakeStream([throwing]), "video"), "");
  });
});

describe("the picker in the view", () => {
  test("a camera with two cameras: labelled select, current one selected, usable when live", () =>
    withDoc((doc) => {
      /** @type {any[]} */
      const picks = [];
      const view = createView(doc.createElement("div"), {
        kind: "camera",
        onPickDevice: (kind, id) => (picks.push([kind, id]), true),
      });
      const box = view.root.find("nbrtc-devices");
      assert.equal(box.hidden, true, "hidden before the page listed its devices");
      const local = new FakeStream([trackOn("video", "cam1")]);
      const snap = (state, devices = DEVICES) => ({ id: "s1", kind: "camera", state: st(state), words: "", media: local, local, kernelState: "", devices });
      view.update(snap("connecting"));
      const select = view.deviceSelect("video");
      assert.equal(box.hidden, false);
      assert.equal(select.tagName, "SELECT");
      assert.equal(select.attributes["aria-label"], "Camera");
      assert.deepEqual(select.children.map((o) => [o.value, o.textContent]), [
        ["cam1", "Front camera"],
        ["cam2", "Camera 2"],
      ]);
      assert.equal(select.value, "cam1", "the device the stream runs on");
      assert.equal(select.disabled, true, "not usable before the stream is live");
      assert.equal(view.deviceSelect("audio"), null, "no microphone select without sound");
      view.update(snap("live"));
      assert.equal(select.disabled, false);
      // the user chooses the second camera (mouse or keyboard: both fire `change`)
      select.value = "cam2";
      select.dispatchEvent(new Event("change"));
      assert.deepEqual(picks, [["video", "cam2"]]);
      // the same one again asks nothing
      select.value = "cam1";
      select.dispatchEvent(new Event("change"));
      assert.deepEqual(picks, [["video", "cam2"]]);
      // the stream closes: still listed, not usable
      view.update({ ...snap("closed"), local: null, media: null });
      assert.equal(select.disabled, true);
      assert.equal(box.hidden, false);
      // a new stream that has not listed its devices yet keeps the page's list
      view.update({ ...snap("error"), devices: [] });
      assert.equal(select.children.length, 2);
      assert.equal(select.disabled, true, "disabled while errored");
      view.destroy();
      assert.equal(doc.listenerCount(), 0, "no listener left after destroy");
      select.dispatchEvent(new Event("change"));
      assert.equal(picks.length, 1);
    }));

  test("a refused pick shows the device the stream still runs on", () =>
    withDoc((doc) => {
      const view = createView(doc.createElement("div"), { kind: "camera", onPickDevice: () => false });
      const local = new FakeStream([trackOn("video", "cam1")]);
      view.update({ id: "s1", kind: "camera", state: st("live"), words: "", media: local, local, kernelState: "", devices: DEVICES });
      const select = view.deviceSelect("video");
      select.value = "cam2";
      select.dispatchEvent(new Event("change"));
      assert.equal(select.value, "cam1");
      view.destroy();
    }));

  test("one device of a kind: no picker; a camera with sound gets a microphone select", () =>
    withDoc((doc) => {
      const view = createView(doc.createElement("div"), { kind: "camera" });
      const one = DEVICES.filter((d) => d.deviceId !== "cam2");
      const local = new FakeStream([trackOn("video", "cam1"), trackOn("audio", "mic2")]);
      view.update({ id: "s1", kind: "camera", state: st("live"), words: "", media: local, local, kernelState: "", devices: one });
      assert.equal(view.deviceSelect("video"), null, "one camera: nothing to pick");
      const mic = view.deviceSelect("audio");
      assert.equal(mic.attributes["aria-label"], "Microphone");
      assert.equal(mic.value, "mic2");
      assert.equal(view.root.find("nbrtc-devices").hidden, false);
      view.destroy();
    }));

  test("a microphone lists microphones; screens and views have no picker", () =>
    withDoc((doc) => {
      const mic = createView(doc.createElement("div"), { kind: "microphone" });
      const local = new FakeStream([trackOn("audio", "mic1")]);
      mic.update({ id: "s1", kind: "microphone", state: st("live"), words: "", media: local, local, kernelState: "", devices: DEVICES });
      assert.deepEqual(mic.deviceSelect("audio").children.map((o) => o.value), ["mic1", "mic2"]);
      assert.equal(mic.deviceSelect("video"), null);
      mic.destroy();
      for (const kind of ["screen", "view", "audio"]) {
        const v = createView(doc.createElement("div"), { kind });
        v.update({ id: "s2", kind, state: st("live"), words: "", media: local, local, kernelState: "", devices: DEVICES });
        assert.equal(v.root.find("nbrtc-devices"), null, `${kind}: no picker`);
        assert.equal(v.root.find("nbrtc-device"), null);
        v.destroy();
      }
    }));
});

describe("BrowserPeer.pickDevice", () => {
  /** A live-ish camera (answered, device open, devices reported). */
  async function answered(opts = {}) {
    const ctx = peerSetup({ BrowserPeer, createRouter, ...opts });
    ctx.browser.world.devices = DEVICES;
    await ctx.peer.start();
    ctx.kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    return ctx;
  }

  test("a listed camera: one `device` message for the stream, no trait written", async () => {
    const ctx = await answered();
    assert.deepEqual(ctx.snapshots.at(-1).devices, DEVICES, "the view gets the page's devices");
    const traits = JSON.stringify(ctx.model.traits);
    assert.equal(ctx.peer.pickDevice("video", "cam2"), true);
    assert.deepEqual(ctx.model.sentOf("device").map((m) => [m.stream, m.payload]), [
      [ctx.peer.id, { kind: "video", deviceId: "cam2" }],
    ]);
    assert.equal(JSON.stringify(ctx.model.traits), traits);
    ctx.peer.close();
  });

  test("refuses what the kernel would: unlisted ids, kinds it does not capture, closed", async () => {
    const ctx = await answered();
    assert.equal(ctx.peer.pickDevice("video", "nope"), false);
    assert.equal(ctx.peer.pickDevice("video", "mic1"), false, "a microphone's id as a camera");
    assert.equal(ctx.peer.pickDevice("audio", "mic1"), false, "this camera has no sound");
    assert.equal(ctx.peer.pickDevice(/** @type {any} */ ("__proto__"), "cam2"), false);
    ctx.peer.close();
    assert.equal(ctx.peer.pickDevice("video", "cam2"), false);
    assert.equal(ctx.model.sentOf("device").length, 0);

    const withSound = await answered({ traits: { audio: true } });
    assert.equal(withSound.peer.pickDevice("audio", "mic2"), true);
    withSound.peer.close();
    const mic = await answered({ kind: "microphone", traits: { audio: true } });
    assert.equal(mic.peer.pickDevice("video", "cam2"), false);
    assert.equal(mic.peer.pickDevice("audio", "mic2"), true);
    mic.peer.close();
    const fresh = peerSetup({ BrowserPeer, createRouter });
    assert.equal(fresh.peer.pickDevice("video", "cam2"), false, "before the offer");
  });
});

describe("the picker in a rendered camera widget", () => {
  test("choosing a camera sends `device`, writes no trait; the kernel's constraints restart the view", async () => {
    const browser = fakeBrowser();
    browser.world.devices = DEVICES;
    const doc = new FakeDocument();
    const saved = {};
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
    const settle = async () => {
      await flush();
      await new Promise((r) => setTimeout(r, 5));
      await flush();
    };
    try {
      const m = new FakeModel({
        kind: "camera",
        constraints: { width: null, height: null, frame_rate: null, device_id: null },
        rtc_config: { iceServers: [] },
        state: "new",
        error: "",
      });
      const cleanupInit = widget.initialize({ model: m });
      const el = doc.createElement("div");
      const cleanup = widget.render({ model: m, el });
      await settle();
      const first = m.sentOf("offer")[0].stream;
      m.emit({ v: 1, type: "answer", stream: first, payload: { sdp: ANSWER_SDP } });
      await settle();
      const pc = browser.world.pcs[0];
      for (const track of browser.world.streams[0].tracks) track.getSettings = () => ({ deviceId: "cam1" });
      pc.setState("iceConnectionState", "connected", "iceconnectionstatechange");
      pc.setState("connectionState", "connected", "connectionstatechange");
      const select = el.children[0].find("nbrtc-device");
      assert.ok(select, "a select once the page listed two cameras");
      assert.equal(select.disabled, false);
      assert.equal(select.value, "cam1");
      const traits = JSON.stringify(m.traits);
      select.value = "cam2";
      select.dispatchEvent(new Event("change"));
      assert.deepEqual(m.sentOf("device").map((x) => [x.stream, x.payload]), [[first, { kind: "video", deviceId: "cam2" }]]);
      assert.equal(JSON.stringify(m.traits), traits, "the page wrote no trait");
      // the kernel took it: its new constraints restart this view with the device
      m.traits.constraints = { width: null, height: null, frame_rate: null, device_id: "cam2" };
      for (const cb of [...(m.listeners.get("change:constraints") ?? [])]) cb();
      await settle();
      assert.equal(m.sentOf("offer").length, 2);
      assert.deepEqual(m.sentOf("bye").map((x) => [x.stream, x.payload.reason]), [[first, "constraints-changed"]]);
      m.emit({ v: 1, type: "answer", stream: m.sentOf("offer")[1].stream, payload: { sdp: ANSWER_SDP } });
      await settle();
      assert.deepEqual(browser.world.gumCalls.at(-1).video.deviceId, { exact: "cam2" });
      cleanup();
      cleanupInit();
      assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
      assert.equal(doc.listenerCount(), 0, "no listener left on the view's elements");
    } finally {
      globalThis.__nbrtc_router_v1?.closeAll("test-end");
      for (const [key, desc] of Object.entries(saved)) {
        if (desc) Object.defineProperty(globalThis, key, desc);
        else delete globalThis[key];
      }
    }
  });
});
