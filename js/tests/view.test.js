import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_LOG, chooseShowing, createView, statusText } from "../peer/view.js";
import { FakeDocument, FakeStream, FakeTrack, fakeAudio, fakeTimers, flush, quietLog } from "./fakes.js";

const st = (name, reason = "") => ({ name, reason });

describe("statusText", () => {
  const cases = [
    [{ state: st("idle") }, "Starting…", "new"],
    [{ state: st("negotiating") }, "Connecting…", "connecting"],
    [{ state: st("connecting") }, "Connecting…", "connecting"],
    [{ state: st("live"), width: 640, height: 480 }, "Live · 640×480", "live"],
    [{ state: st("live") }, "Live", "live"],
    [{ state: st("closed", "view-removed") }, "Closed", "closed"],
    [{ state: st("closed", "kernel-gone"), words: "Lost the connection to the kernel" }, "Lost the connection to the kernel", "closed"],
    [{ state: st("error", "why"), words: "Camera permission was denied" }, "Camera permission was denied", "error"],
    [{ state: st("error", "only a reason") }, "only a reason", "error"],
  ];
  for (const [input, text, badge] of cases) {
    test(`${input.state.name} -> ${text}`, () => {
      assert.deepEqual(statusText(input), { text, badge });
    });
  }
});

describe("createView", () => {
  test("builds the DOM, follows the state, removes itself", () => {
    const doc = new FakeDocument();
    const saved = globalThis.document;
    globalThis.document = doc;
    try {
      const el = doc.createElement("div");
      const view = createView(el, { kind: "camera" });
      createView(doc.createElement("div"), { kind: "view" });
      // anywidget applies static/widget.css (the widgets' `_css`); the view adds no <style>
      assert.equal(doc.head.children.length, 0, "no style of its own");
      const root = el.children[0];
      assert.equal(root.className, "nbrtc-root");
      assert.equal(root.dataset.kind, "camera");
      assert.equal(root.dataset.state, "idle");
      const video = root.find("nbrtc-video");
      assert.equal(video.muted, true);
      assert.equal(video.autoplay, true);
      assert.equal(video.playsInline, true);
      const stream = { id: "s" };
      view.update({ id: "x", kind: "camera", state: st("live"), words: "", media: stream, kernelState: "live" });
      // no size before loadedmetadata: keep the 4:3 placeholder box (no layout jump)
      assert.equal(root.dataset.media, "no");
      video.videoWidth = 640;
      video.videoHeight = 480;
      video.dispatchEvent(new Event("resize"));
      assert.equal(root.dataset.state, "live");
      assert.equal(root.dataset.media, "yes");
      assert.equal(video.srcObject, stream);
      assert.equal(root.find("nbrtc-text").textContent, "Live · 640×480");
      view.setKernelError("callback raised ValueError");
      assert.equal(root.find("nbrtc-kernel-error").textContent, "Kernel: callback raised ValueError");
      view.setWarning("Version mismatch");
      assert.equal(root.find("nbrtc-warning").textContent, "Version mismatch");
      view.destroy();
      assert.equal(el.children.length, 0);
      assert.equal(video.srcObject, null);
    } finally {
      globalThis.document = saved;
    }
  });

  test("a redraw that changes nothing writes nothing to the DOM", () =>
    withDoc((doc) => {
      const el = doc.createElement("div");
      const view = createView(el, { kind: "camera" });
      const root = el.children[0];
      const stream = { id: "s" };
      const snap = (state) => ({ id: "x", kind: "camera", state: st(state), words: "", media: stream, kernelState: state });
      view.update(snap("connecting"));
      // Count every write of the data-* attributes, texts, `hidden` and `disabled` from now on.
      const writes = [];
      root.dataset = new Proxy(root.dataset, {
        set(target, key, value) {
          writes.push(`data-${String(key)}`);
          target[key] = value;
          return true;
        },
      });
      const watch = (node) => {
        for (const prop of ["textContent", "hidden", "disabled"]) {
          let value = node[prop];
          Object.defineProperty(node, prop, {
            get: () => value,
            set: (v) => {
              writes.push(`${node.className || node.tagName}.${prop}`);
              value = v;
            },
          });
        }
        for (const child of node.children) watch(child);
      };
      watch(root);
      view.update(snap("connecting"));
      view.update(snap("connecting"));
      root.find("nbrtc-local").dispatchEvent(new Event("loadedmetadata"));
      assert.deepEqual(writes, [], "equal redraws rewrote the view");
      view.update(snap("live"));
      assert.ok(writes.includes("data-state"), `a new state is drawn: ${writes}`);
      assert.equal(root.dataset.state, "live");
      view.destroy();
    }));
});

// ---- kinds, processed video, notice, channels, meter, autoplay, cleanup ----------------

/**
 * Run `fn` with a fake document installed as globalThis.document.
 * @param {(doc: FakeDocument) => void | Promise<void>} fn
 * @param {ConstructorParameters<typeof FakeDocument>[0]} [options]
 */
async function withDoc(fn, options) {
  const doc = new FakeDocument(options);
  const saved = globalThis.document;
  globalThis.document = doc;
  try {
    await fn(doc);
  } finally {
    globalThis.document = saved;
  }
}

/** A view with fake timers and WebAudio, and the parts tests poke at. */
function make(doc, kind, { onSend = () => true, audio = fakeAudio() } = {}) {
  const timers = fakeTimers();
  const el = doc.createElement("div");
  const view = createView(el, {
    kind,
    onSend,
    env: { ...timers, AudioContext: audio?.AudioContext, log: quietLog() },
  });
  return { el, view, root: el.children[0], timers, audio };
}

const snap = (kind, extra) => ({ id: "abc-1", kind, state: st("live"), words: "", media: null, kernelState: "live", local: null, remote: null, ...extra });
const videoStream = () => new FakeStream([new FakeTrack("video")]);
const avStream = () => new FakeStream([new FakeTrack("video"), new FakeTrack("audio")]);
const audioStream = () => new FakeStream([new FakeTrack("audio")]);

describe("chooseShowing", () => {
  for (const [processing, remoteFresh, out] of [
    [false, false, "camera"],
    [false, true, "camera"],
    [true, false, "camera"],
    [true, true, "processed"],
  ]) {
    test(`processing=${processing} remoteFresh=${remoteFresh} -> ${out}`, () => {
      assert.equal(chooseShowing({ processing, remoteFresh }), out);
    });
  }
});

describe("camera/screen view: processed video", () => {
  for (const kind of ["camera", "screen"]) {
    test(`${kind}: two videos, one visible .nbrtc-video, muted preview`, () =>
      withDoc((doc) => {
        const { root, view } = make(doc, kind);
        const local = root.find("nbrtc-local");
        const remote = root.find("nbrtc-remote");
        assert.equal(root.find("nbrtc-stage").children.length, 2);
        assert.deepEqual(root.findAll("nbrtc-video"), [local], "only the visible video has .nbrtc-video");
        assert.ok(remote.classList.contains("nbrtc-hidden"));
        assert.equal(local.muted, true);
        assert.equal(local.attributes.muted, "");
        assert.equal(root.dataset.showing, "camera");
        view.destroy();
      }));
  }

  test("switches to processed only once a remote frame arrived, and back at once", () =>
    withDoc((doc) => {
      const { root, view } = make(doc, "camera");
      const local = view.local;
      const remote = view.remote;
      const cam = videoStream();
      const processed = videoStream();
      view.update(snap("camera", { media: cam, local: cam, remote: processed }));
      assert.equal(local.srcObject, cam);
      assert.equal(remote.srcObject, processed);
      const plays = [local.plays, remote.plays];

      view.setProcessing(true);
      assert.equal(root.dataset.showing, "camera", "no remote frame yet: keep the preview (never black)");
      remote.presentFrame(320, 240);
      assert.equal(root.dataset.showing, "processed");
      assert.deepEqual(root.findAll("nbrtc-video"), [remote]);
      assert.ok(local.classList.contains("nbrtc-hidden"));
      assert.equal(root.find("nbrtc-text").textContent, "Live · 320×240", "status follows the visible video");

      view.setProcessing(false);
      assert.equal(root.dataset.showing, "camera");
      assert.deepEqual(root.findAll("nbrtc-video"), [local]);

      // On again: the remote element still holds an old frame; wait for a new one.
      view.setProcessing(true);
      assert.equal(root.dataset.showing, "camera");
      remote.presentFrame(320, 240);
      assert.equal(root.dataset.showing, "processed");

      // The kernel stopped sending (the track mutes): back to the preview.
      processed.getVideoTracks()[0].dispatchEvent(new Event("mute"));
      assert.equal(root.dataset.showing, "camera");
      remote.presentFrame(320, 240);
      assert.equal(root.dataset.showing, "processed");

      // Same snapshot again: nothing re-attached, no extra play().
      view.update(snap("camera", { media: cam, local: cam, remote: processed }));
      assert.deepEqual([local.plays, remote.plays], plays);
      assert.equal(local.srcObject, cam);
      view.destroy();
      assert.equal(doc.listenerCount(), 0);
      assert.equal(processed.getVideoTracks()[0].listenerCount(), 0);
      assert.equal(remote.frameCallbacks.size, 0, "pending frame callback cancelled");
    }));

  test("processing before the remote stream exists waits for it and its frame", () =>
    withDoc((doc) => {
      const { root, view } = make(doc, "screen");
      view.setProcessing(true);
      const cam = videoStream();
      view.update(snap("screen", { media: cam, local: cam }));
      assert.equal(root.dataset.showing, "camera");
      const processed = videoStream();
      view.update(snap("screen", { media: cam, local: cam, remote: processed }));
      assert.equal(root.dataset.showing, "camera");
      view.remote.presentFrame();
      assert.equal(root.dataset.showing, "processed");
      view.destroy();
    }));

  test("without requestVideoFrameCallback: resize/playing with a size count as a frame", () =>
    withDoc(
      (doc) => {
        const { root, view } = make(doc, "camera");
        const remote = view.remote;
        assert.equal(remote.requestVideoFrameCallback, undefined);
        const cam = videoStream();
        view.update(snap("camera", { media: cam, local: cam, remote: videoStream() }));
        view.setProcessing(true);
        remote.dispatchEvent(new Event("playing"));
        assert.equal(root.dataset.showing, "camera", "playing without a size is not a frame");
        remote.videoWidth = 640;
        remote.videoHeight = 480;
        remote.dispatchEvent(new Event("resize"));
        assert.equal(root.dataset.showing, "processed");
        view.destroy();
        assert.equal(doc.listenerCount(), 0);
      },
      { noFrameCallbacks: true },
    ));
});

describe("notice (process_error)", () => {
  test("shown as a notice line, not as the error state", () =>
    withDoc((doc) => {
      const { root, view } = make(doc, "camera");
      const notice = root.find("nbrtc-notice");
      assert.equal(notice.hidden, true);
      view.update(snap("camera"));
      view.setNotice("ValueError: bad frame");
      assert.equal(notice.textContent, "ValueError: bad frame");
      assert.equal(notice.hidden, false);
      assert.equal(root.dataset.state, "live");
      view.setNotice("");
      assert.equal(notice.hidden, true);
      view.setNotice(null);
      assert.equal(notice.textContent, "");
      view.destroy();
    }));
});

describe("channels panel", () => {
  test("boxes per label, messages in/out, page event, send from the input", () =>
    withDoc((doc) => {
      const sends = [];
      let accept = true;
      const { root, view } = make(doc, "view", {
        onSend: (label, text) => {
          sends.push([label, text]);
          return accept;
        },
      });
      const panel = root.find("nbrtc-channels");
      assert.equal(panel.hidden, true, "hidden while there are none");
      /** @type {any[]} */
      const pageEvents = [];
      root.addEventListener("nbrtc-message", (e) => pageEvents.push(e));

      view.channelEvent({ type: "add", label: "telemetry", stream: "abc-1" });
      assert.equal(panel.hidden, false);
      const box = panel.find("nbrtc-channel");
      assert.equal(box.dataset.label, "telemetry");
      assert.equal(box.dataset.state, "connecting");
      view.channelEvent({ type: "open", label: "telemetry", stream: "abc-1" });
      assert.equal(box.dataset.state, "open");
      view.channelEvent({ type: "message", label: "telemetry", data: "t=1", stream: "abc-1" });
      view.channelEvent({ type: "message", label: "telemetry", data: new ArrayBuffer(4), stream: "abc-1" });
      view.channelEvent({ type: "out", label: "telemetry", data: "ack", stream: "abc-1" });
      assert.deepEqual(
        box.findAll("nbrtc-msg").map((m) => [m.dataset.dir, m.textContent]),
        [["in", "t=1"], ["in", "<4 bytes>"], ["out", "ack"]],
      );
      assert.equal(pageEvents.length, 2);
      assert.ok(pageEvents[0] instanceof CustomEvent);
      assert.equal(pageEvents[0].bubbles, true);
      assert.deepEqual(pageEvents[0].detail, { channel: "telemetry", data: "t=1", stream: "abc-1" });

      const input = box.find("nbrtc-channel-input");
      input.value = "hello";
      input.dispatchEvent(Object.assign(new Event("keydown"), { key: "a" }));
      assert.deepEqual(sends, []);
      input.dispatchEvent(Object.assign(new Event("keydown"), { key: "Enter" }));
      assert.deepEqual(sends, [["telemetry", "hello"]]);
      assert.equal(input.value, "", "cleared once sent");
      accept = false;
      input.value = "again";
      box.find("nbrtc-channel-send").dispatchEvent(new Event("click"));
      assert.deepEqual(sends.at(-1), ["telemetry", "again"]);
      assert.equal(input.value, "again", "kept when it could not be sent");
      input.value = "";
      box.find("nbrtc-channel-send").dispatchEvent(new Event("click"));
      assert.equal(sends.length, 2, "nothing to send");

      view.channelEvent({ type: "close", label: "telemetry", stream: "abc-1" });
      assert.equal(panel.find("nbrtc-channel"), null);
      assert.equal(panel.hidden, true);
      assert.equal(input.listenerCount(), 0, "a removed box keeps no listeners");
      view.destroy();
    }));

  test(`keeps the last ${MAX_LOG} messages`, () =>
    withDoc((doc) => {
      const { root, view } = make(doc, "camera");
      for (let i = 0; i < MAX_LOG + 7; i++) {
        view.channelEvent({ type: "message", label: "x", data: `m${i}`, stream: "s" });
      }
      const msgs = root.findAll("nbrtc-msg");
      assert.equal(msgs.length, MAX_LOG);
      assert.equal(msgs[0].textContent, "m7");
      assert.equal(msgs.at(-1).textContent, `m${MAX_LOG + 6}`);
      view.destroy();
    }));
});

describe("microphone view", () => {
  test("a meter on the local stream, no video; cleanup stops timer and context", () =>
    withDoc((doc) => {
      const { root, view, timers, audio } = make(doc, "microphone");
      assert.equal(root.findAll("nbrtc-video").length, 0);
      assert.equal(root.all().filter((e) => e.tagName === "VIDEO").length, 0);
      const meter = root.find("nbrtc-meter");
      assert.equal(meter.tagName, "METER");
      const mic = audioStream();
      view.update(snap("microphone", { media: mic, local: mic }));
      audio.world.level = 0.1;
      timers.advance(250);
      assert.equal(meter.dataset.level, "0.67");
      assert.ok(Math.abs(meter.value - 2 / 3) < 1e-6);
      assert.equal(root.dataset.media, "yes");
      // a closed stream (no media): the meter stops
      view.update(snap("microphone", { state: st("closed") }));
      assert.equal(timers.timers.size, 0);
      assert.equal(audio.open(), 0);
      assert.equal(meter.value, 0);
      view.update(snap("microphone", { media: mic, local: mic }));
      assert.equal(timers.timers.size, 1);
      view.destroy();
      assert.equal(timers.timers.size, 0, "no timer left");
      assert.equal(audio.open(), 0, "AudioContext closed");
      assert.equal(doc.listenerCount(), 0);
    }));

  test("no AudioContext: the meter stays empty and nothing throws", () =>
    withDoc((doc) => {
      const { root, view, timers } = make(doc, "microphone", { audio: null });
      const mic = audioStream();
      assert.doesNotThrow(() => view.update(snap("microphone", { media: mic, local: mic })));
      assert.equal(timers.timers.size, 0);
      assert.equal(root.find("nbrtc-meter").value, 0);
      view.destroy();
    }));
});

describe("audio view (kernel -> speaker)", () => {
  test("audio element with controls and autoplay, meter on the remote stream", async () =>
    withDoc(async (doc) => {
      const { root, view, timers } = make(doc, "audio");
      const el = root.find("nbrtc-audio");
      assert.equal(el.tagName, "AUDIO");
      assert.equal(el.controls, true);
      assert.equal(el.autoplay, true);
      const remote = audioStream();
      view.update(snap("audio", { media: remote, remote }));
      await flush();
      assert.equal(el.srcObject, remote);
      assert.equal(root.find("nbrtc-play").hidden, true);
      assert.equal(timers.timers.size, 1, "meter running");
      view.destroy();
      assert.equal(timers.timers.size, 0);
      assert.equal(el.srcObject, null);
    }));

  test("autoplay refused: a Click to play button that plays", async () =>
    withDoc(async (doc) => {
      const { root, view, audio } = make(doc, "audio");
      const el = view.audio;
      el.refusePlay({ evenMuted: true });
      const remote = audioStream();
      view.update(snap("audio", { media: remote, remote }));
      await flush();
      const button = root.find("nbrtc-play");
      assert.equal(button.hidden, false);
      assert.equal(button.textContent, "Click to play");
      el.playResult = () => Promise.resolve(); // the click is a user gesture
      button.dispatchEvent(new Event("click"));
      await flush();
      assert.equal(button.hidden, true);
      assert.ok(audio.world.contexts.length >= 1);
      view.destroy();
      assert.equal(doc.listenerCount(), 0);
    }));

  test("the meter starts when the audio track arrives after the stream", () =>
    withDoc((doc) => {
      const { view, timers } = make(doc, "audio");
      const remote = new FakeStream([]);
      view.update(snap("audio", { media: remote, remote }));
      assert.equal(timers.timers.size, 0);
      remote.addTrack(new FakeTrack("audio"));
      view.update(snap("audio", { media: remote, remote }));
      assert.equal(timers.timers.size, 1);
      view.destroy();
      assert.equal(timers.timers.size, 0);
    }));
});

describe("view kind: sound", () => {
  test("plays with sound when allowed", async () =>
    withDoc(async (doc) => {
      const { root, view } = make(doc, "view");
      const video = root.find("nbrtc-video");
      assert.equal(video, view.remote);
      assert.equal(video.muted, false);
      const remote = avStream();
      view.update(snap("view", { media: remote, remote }));
      await flush();
      assert.equal(video.muted, false);
      assert.equal(root.find("nbrtc-unmute").hidden, true);
      view.destroy();
    }));

  test("autoplay with sound refused: muted fallback and an Unmute button", async () =>
    withDoc(async (doc) => {
      const { root, view } = make(doc, "view");
      const video = view.remote;
      video.refusePlay();
      const remote = avStream();
      view.update(snap("view", { media: remote, remote }));
      await flush();
      assert.equal(video.muted, true, "plays muted instead of not at all");
      assert.ok(video.plays >= 2);
      const button = root.find("nbrtc-unmute");
      assert.equal(button.hidden, false);
      video.playResult = () => Promise.resolve();
      button.dispatchEvent(new Event("click"));
      await flush();
      assert.equal(video.muted, false);
      assert.equal(button.hidden, true);
      view.destroy();
      assert.equal(doc.listenerCount(), 0);
    }));

  test("no Unmute button for a source without sound", async () =>
    withDoc(async (doc) => {
      const { root, view } = make(doc, "view");
      view.remote.refusePlay();
      const remote = videoStream();
      view.update(snap("view", { media: remote, remote }));
      await flush();
      assert.equal(view.remote.muted, true);
      assert.equal(root.find("nbrtc-unmute").hidden, true);
      view.destroy();
    }));
});

describe("cleanup", () => {
  for (const kind of ["camera", "screen", "view", "microphone", "audio"]) {
    test(`${kind}: no listener, timer or AudioContext left, DOM removed, idempotent`, () =>
      withDoc((doc) => {
        const { el, view, timers, audio } = make(doc, kind);
        const local = kind === "audio" || kind === "view" ? null : kind === "microphone" ? audioStream() : avStream();
        const remote = kind === "microphone" ? null : kind === "audio" ? audioStream() : avStream();
        view.update(snap(kind, { media: local ?? remote, local, remote }));
        view.setProcessing(true);
        view.channelEvent({ type: "message", label: "a", data: "x", stream: "s" });
        view.channelEvent({ type: "add", label: "b", stream: "s" });
        view.destroy();
        view.destroy();
        assert.equal(doc.listenerCount(), 0);
        assert.equal(timers.timers.size, 0);
        assert.equal(audio.open(), 0);
        assert.equal(el.children.length, 0);
        for (const s of [local, remote]) for (const t of s?.getTracks() ?? []) assert.equal(t.listenerCount(), 0);
        // late calls after destroy are harmless
        view.update(snap(kind));
        view.channelEvent({ type: "message", label: "a", data: "y", stream: "s" });
      }));
  }
});
