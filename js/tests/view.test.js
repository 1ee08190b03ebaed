import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createView, statusText } from "../view.js";
import { FakeDocument } from "./fakes.js";

const st = (name, reason = "") => ({ name, reason });

describe("statusText", () => {
  const cases = [
    [{ state: st("idle") }, "Starting…", "new"],
    [{ state: st("acquiring") }, "Starting camera…", "camera"],
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
      assert.equal(doc.head.children.filter((c) => c.tagName === "STYLE").length, 1, "style once per page");
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
});
