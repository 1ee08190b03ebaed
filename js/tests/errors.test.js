import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { constraintName, describeError, deviceFor, iceFailed, kernelGone } from "../core/errors.js";

/** A DOMException-like object (node has DOMException too; both shapes must work). */
function dom(name, message = "", extra = {}) {
  return Object.assign(new Error(message), { name }, extra);
}

describe("describeError words", () => {
  const cases = [
    // [input, name, words must include...]
    [dom("NotAllowedError", "Permission denied"), "NotAllowedError", [
      "Camera permission was denied (NotAllowedError). Allow camera access for this page and run the cell again.",
    ]],
    [dom("NotFoundError", "Requested device not found"), "NotFoundError", ["No camera was found", "run the cell again"]],
    [dom("NotReadableError", "Could not start video source"), "NotReadableError", ["busy", "another app or browser tab"]],
    [dom("OverconstrainedError", "", { constraint: "deviceId" }), "OverconstrainedError", ["device_id", "not found"]],
    [dom("OverconstrainedError", "", { constraint: "frameRate" }), "OverconstrainedError", ["frame_rate constraint"]],
    [dom("OverconstrainedError", ""), "OverconstrainedError", ["the requested constraints"]],
    [dom("SecurityError", "insecure"), "SecurityError", ["secure context", "https://"]],
    [dom("AbortError", "aborted"), "AbortError", ["aborted (AbortError)"]],
    [new TypeError("At least one of audio and video must be requested"), "TypeError", ["TypeError: At least one of audio"]],
    [dom("WeirdError", "odd"), "WeirdError", ["WeirdError: odd", "Run the cell again."]],
    ["a plain string", "Error", ["Error: a plain string"]],
    [undefined, "Error", ["Something went wrong (Error)"]],
    [42, "Error", ["Error: 42"]],
  ];
  for (const [input, name, fragments] of cases) {
    test(`${name} ${JSON.stringify(fragments[0]).slice(0, 40)}`, () => {
      const d = describeError(input);
      assert.equal(d.name, name);
      assert.equal(typeof d.message, "string");
      for (const f of fragments) assert.ok(d.words.includes(f), `${d.words} should include ${f}`);
    });
  }
  test("DOMException from node works too", () => {
    const d = describeError(new DOMException("denied", "NotAllowedError"));
    assert.equal(d.name, "NotAllowedError");
    assert.equal(d.message, "denied");
    assert.match(d.words, /Allow camera access/);
  });
  test("an empty OverconstrainedError message names the constraint", () => {
    assert.equal(
      describeError(dom("OverconstrainedError", "", { constraint: "deviceId" })).message,
      "constraint deviceId cannot be satisfied",
    );
  });
  test("keeps the browser's message for the kernel", () => {
    assert.equal(describeError(dom("NotReadableError", "Device in use")).message, "Device in use");
  });
});

describe("fixed descriptions", () => {
  test("ICE failure", () => {
    const d = iceFailed();
    assert.equal(d.name, "IceFailed");
    assert.match(d.words, /^ICE failed/);
  });
  test("kernel gone", () => {
    assert.equal(
      kernelGone().words,
      "Lost the connection to the kernel (restarted or shut down?). Run the cell again.",
    );
  });
});

describe("constraintName", () => {
  for (const [input, out] of [["deviceId", "device_id"], ["frameRate", "frame_rate"], ["width", "width"], ["aspectRatio", "aspectRatio"], ["", ""], [undefined, ""]]) {
    test(`${String(input)} -> ${out}`, () => assert.equal(constraintName(input), out));
  }
});

describe("words per device", () => {
  const cases = [
    ["microphone", "NotAllowedError", {}, "Microphone permission was denied (NotAllowedError). Allow microphone access for this page and run the cell again."],
    ["microphone", "NotFoundError", {}, "No microphone was found (NotFoundError)."],
    ["microphone", "NotReadableError", {}, "The microphone is busy or could not be started"],
    ["microphone", "OverconstrainedError", { constraint: "deviceId" }, "The requested microphone was not found: no microphone has that device_id"],
    ["microphone", "OverconstrainedError", { constraint: "echoCancellation" }, "No microphone can satisfy the echo_cancellation constraint"],
    ["microphone", "SecurityError", {}, "refused microphone access"],
    ["camera or microphone", "NotAllowedError", {}, "Camera or microphone permission was denied (NotAllowedError). Allow camera and microphone access"],
    ["camera or microphone", "NotFoundError", {}, "No camera or microphone was found"],
    ["screen", "NotAllowedError", {}, "Screen sharing was cancelled or denied (NotAllowedError)."],
    ["screen", "NotFoundError", {}, "No screen, window or tab could be captured (NotFoundError)."],
    ["screen", "NotReadableError", {}, "The screen could not be captured (NotReadableError)"],
    ["screen", "InvalidStateError", {}, "right after a click or key press"],
    ["screen", "NotSupportedError", {}, "This browser cannot share the screen (NotSupportedError)."],
    ["screen", "AbortError", {}, "Screen sharing could not start (AbortError)."],
    ["screen", "SecurityError", {}, "refused screen access because this page is not a secure context"],
    ["screen", "TypeError", {}, "The browser rejected the request (TypeError"],
    ["camera", "NotAllowedError", {}, "Camera permission was denied (NotAllowedError). Allow camera access"],
    ["nonsense", "NotAllowedError", {}, "Camera permission was denied"],
  ];
  for (const [device, name, extra, fragment] of cases) {
    test(`${device} ${name}`, () => {
      const d = describeError(dom(name, "m", extra), device);
      assert.equal(d.name, name);
      assert.equal(d.message, "m", "the browser's message goes to the kernel unchanged");
      assert.ok(d.words.includes(fragment), `${d.words} should include ${fragment}`);
    });
  }
  test("failures that are not about a device read the same for every kind", () => {
    assert.equal(describeError(dom("IceFailed", ""), "screen").words, iceFailed().words);
  });
});

describe("deviceFor", () => {
  for (const [kind, audio, device] of [
    ["camera", false, "camera"],
    ["camera", true, "camera or microphone"],
    ["microphone", false, "microphone"],
    ["microphone", true, "microphone"],
    ["screen", false, "screen"],
    ["view", false, "camera"],
    ["audio", false, "camera"],
  ]) {
    test(`${kind} audio=${audio} -> ${device}`, () => assert.equal(deviceFor(kind, audio), device));
  }
});
