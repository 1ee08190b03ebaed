import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { constraintName, describeError, iceFailed, kernelGone } from "../errors.js";

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
