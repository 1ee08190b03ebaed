import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CONTROL_CHANNEL,
  MAX_BATCH,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  SENDING_KINDS,
  STREAM_KINDS,
  clipText,
  encodedSize,
  isStreamId,
  makeBatch,
  makeMessage,
  validateKernelMessage,
} from "../core/protocol.js";

const SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n";

describe("clipText", () => {
  test("cuts on a character boundary and leaves no lone surrogate", () => {
    assert.equal(clipText("abc", 2), "ab");
    assert.equal(clipText("a\u{1F600}b", 2), "a"); // not the emoji's first half
    assert.equal(clipText("a\u{1F600}b", 3), "a\u{1F600}");
    assert.equal(clipText("x\uD800y\uDC00", 10), "x\uFFFDy\uFFFD");
    assert.equal(clipText(undefined, 5), "");
    assert.equal(clipText(42, 5), "42");
  });
});

/** A valid kernel message of `type` with `payload`, overridable per field. */
function msg(type, payload, extra = {}) {
  return { v: 1, type, stream: "abcd1234-1", payload, ...extra };
}

describe("constants", () => {
  test("match docs/protocol.md", () => {
    assert.equal(PROTOCOL_VERSION, 1);
    assert.equal(MAX_MESSAGE_BYTES, 262144);
    assert.deepEqual([...STREAM_KINDS], ["camera", "view", "screen", "microphone", "audio"]);
    assert.deepEqual([...SENDING_KINDS], ["camera", "screen", "microphone"]);
    assert.equal(CONTROL_CHANNEL, "nbrtc");
  });
});

describe("validateKernelMessage accepts", () => {
  const ok = [
    ["answer", msg("answer", { sdp: SDP })],
    ["answer with extra payload keys", msg("answer", { sdp: SDP, type: "answer" })],
    ["state connecting", msg("state", { state: "connecting", detail: "" })],
    ["state live", msg("state", { state: "live", detail: "640x480" })],
    ["state closed", msg("state", { state: "closed", detail: "widget closed" })],
    ["state error", msg("state", { state: "error", detail: "boom" })],
    ["state without detail", msg("state", { state: "live" })],
    ["ping", msg("ping", { t: 12.5 })],
    ["ping null", msg("ping", null)],
    ["ping that asks", msg("ping", { t: 1, live: ["a-1"], ask: true })],
    ["bye", msg("bye", { reason: "widget-closed" })],
    ["bye null", msg("bye", null)],
    ["error", msg("error", { code: "closed", message: "dead", ref: { type: "offer" } })],
    ["error ref type null", msg("error", { code: "bad-type", message: "x", ref: { type: null } })],
    ["error without ref", msg("error", { code: "internal", message: "x" })],
    ["extra envelope keys", msg("ping", { t: 1 }, { extra: true })],
    ["stream id with all allowed chars", msg("ping", { t: 1 }, { stream: "aZ09_.:-" })],
    ["stream id of 64 chars", msg("ping", { t: 1 }, { stream: "a".repeat(64) })],
    ["the kernel's unroutable id", msg("error", { code: "bad-message", message: "x" }, { stream: "-" })],
  ];
  for (const [name, input] of ok) {
    test(name, () => {
      const r = validateKernelMessage(input);
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.deepEqual(r.msg, { v: 1, type: input.type, stream: input.stream, payload: input.payload });
    });
  }
});

describe("validateKernelMessage refuses", () => {
  const big = "x".repeat(MAX_MESSAGE_BYTES);
  const cyclic = msg("ping", { t: 1 });
  cyclic.payload.self = cyclic;
  const bad = [
    // [name, input, code]
    ["null", null, "bad-message"],
    ["a string", "hello", "bad-message"],
    ["a number", 42, "bad-message"],
    ["an array", [1, 2], "bad-message"],
    ["oversized", msg("answer", { sdp: "v=0" + big }), "too-large"],
    ["oversized by multibyte chars", msg("state", { state: "live", detail: "é".repeat(MAX_MESSAGE_BYTES / 2) }), "too-large"],
    ["unencodable (cycle)", cyclic, "too-large"],
    ["version 2", msg("ping", { t: 1 }, { v: 2 }), "version"],
    ["version missing", { type: "ping", stream: "a-1", payload: null }, "version"],
    ["version as string", msg("ping", { t: 1 }, { v: "1" }), "version"],
    ["version true", msg("ping", { t: 1 }, { v: true }), "version"],
    ["stream missing", { v: 1, type: "ping", payload: null }, "bad-message"],
    ["stream empty", msg("ping", null, { stream: "" }), "bad-message"],
    ["stream too long", msg("ping", null, { stream: "a".repeat(65) }), "bad-message"],
    ["stream with a space", msg("ping", null, { stream: "a b" }), "bad-message"],
    ["stream with a slash", msg("ping", null, { stream: "a/b" }), "bad-message"],
    ["stream not a string", msg("ping", null, { stream: 7 }), "bad-message"],
    ["type missing", { v: 1, stream: "a-1", payload: null }, "bad-type"],
    ["type unknown", msg("hello", null), "bad-type"],
    ["browser-only type reoffer", msg("reoffer", { sdp: SDP }), "bad-type"],
    ["browser-only type watch", msg("watch", { kind: "view" }), "bad-type"],
    ["offer payload null", msg("offer", null), "bad-message"],
    ["offer sdp not SDP", msg("offer", { sdp: "hello" }), "bad-message"],
    ["offer sdp too long", msg("offer", { sdp: "v=0" + "a".repeat(131072) }), "bad-message"],
    ["browser-only type candidate", msg("candidate", null), "bad-type"],
    ["browser-only type devices", msg("devices", []), "bad-type"],
    ["browser-only type device", msg("device", { kind: "video", deviceId: "cam1" }), "bad-type"],
    ["type not a string", msg(3, null), "bad-type"],
    ["answer payload null", msg("answer", null), "bad-message"],
    ["answer sdp missing", msg("answer", {}), "bad-message"],
    ["answer sdp not a string", msg("answer", { sdp: 5 }), "bad-message"],
    ["answer sdp not SDP", msg("answer", { sdp: "hello" }), "bad-message"],
    ["answer sdp too long", msg("answer", { sdp: "v=0" + "a".repeat(131072) }), "bad-message"],
    ["state payload null", msg("state", null), "bad-message"],
    ["state payload array", msg("state", ["live"]), "bad-message"],
    ["state value unknown", msg("state", { state: "new", detail: "" }), "bad-message"],
    ["state value missing", msg("state", { detail: "" }), "bad-message"],
    ["state detail not a string", msg("state", { state: "live", detail: 3 }), "bad-message"],
    ["ping payload a number", msg("ping", 5), "bad-message"],
    ["ping t a string", msg("ping", { t: "5" }), "bad-message"],
    ["ping t infinite", msg("ping", { t: Infinity }), "bad-message"],
    ["ping ask not a boolean", msg("ping", { t: 1, ask: "yes" }), "bad-message"],
    ["bye payload a string", msg("bye", "gone"), "bad-message"],
    ["bye reason a number", msg("bye", { reason: 1 }), "bad-message"],
    ["error payload null", msg("error", null), "bad-message"],
    ["error code missing", msg("error", { message: "x" }), "bad-message"],
    ["error message missing", msg("error", { code: "closed" }), "bad-message"],
    ["error ref not an object", msg("error", { code: "closed", message: "x", ref: "offer" }), "bad-message"],
    ["error ref type a number", msg("error", { code: "closed", message: "x", ref: { type: 1 } }), "bad-message"],
  ];
  for (const [name, input, code] of bad) {
    test(`${name} -> ${code}`, () => {
      const r = validateKernelMessage(input);
      assert.equal(r.ok, false);
      assert.equal(r.code, code, r.message);
      assert.equal(typeof r.message, "string");
      assert.ok(r.message.length > 0);
    });
  }

  test("checks size before version (as the kernel does)", () => {
    const r = validateKernelMessage({ v: 9, type: "answer", stream: "a-1", payload: { sdp: big } });
    assert.equal(r.code, "too-large");
  });
  test("checks version before stream", () => {
    assert.equal(validateKernelMessage({ v: 2, type: "ping", stream: "a b" }).code, "version");
  });
  test("checks stream before type", () => {
    assert.equal(validateKernelMessage({ v: 1, type: "nope", stream: "a b" }).code, "bad-message");
  });
  test("never throws on hostile input", () => {
    const hostile = {
      v: 1,
      type: "ping",
      stream: "a-1",
      get payload() {
        throw new Error("boom");
      },
    };
    assert.doesNotThrow(() => validateKernelMessage(hostile));
    assert.equal(validateKernelMessage(hostile).ok, false);
  });
});

describe("makeMessage", () => {
  test("builds the envelope", () => {
    assert.deepEqual(makeMessage("offer", "abcd1234-1", { sdp: SDP }), {
      v: 1,
      type: "offer",
      stream: "abcd1234-1",
      payload: { sdp: SDP },
    });
  });
  test("undefined payload becomes null", () => {
    assert.equal(makeMessage("candidate", "a-1").payload, null);
  });
  for (const type of ["offer", "candidate", "state", "error", "devices", "device", "ping", "bye"]) {
    test(`allows browser type ${type}`, () => {
      assert.equal(makeMessage(type, "a-1", null).type, type);
    });
  }
  test("refuses kernel-only types", () => {
    assert.throws(() => makeMessage("members", "a-1", {}), TypeError);
    assert.throws(() => makeMessage("renegotiate", "a-1", {}), TypeError);
  });
  test("refuses bad stream ids", () => {
    assert.throws(() => makeMessage("ping", "a b", {}), TypeError);
    assert.throws(() => makeMessage("ping", "", {}), TypeError);
  });
});

describe("helpers", () => {
  test("isStreamId", () => {
    assert.equal(isStreamId("0a1b2c3d-12"), true);
    assert.equal(isStreamId("x".repeat(65)), false);
    assert.equal(isStreamId(null), false);
  });
  test("encodedSize counts UTF-8 bytes", () => {
    assert.equal(encodedSize("é"), 4); // "\"é\"" is 1 + 2 + 1 bytes
    assert.equal(encodedSize({ a: 1 }), 7);
  });
});

describe("makeBatch", () => {
  test("one envelope for a stream's reports, null for a missing payload", () => {
    assert.deepEqual(makeBatch("abcd1234-1", [{ type: "candidate", payload: undefined }, { type: "state", payload: { ice: "new" } }]), {
      v: 1,
      type: "batch",
      stream: "abcd1234-1",
      payload: [
        { type: "candidate", payload: null },
        { type: "state", payload: { ice: "new" } },
      ],
    });
  });
  test("refuses what the kernel would refuse", () => {
    const item = { type: "state", payload: {} };
    assert.throws(() => makeBatch("abcd1234-1", []), RangeError);
    assert.throws(() => makeBatch("abcd1234-1", Array(MAX_BATCH + 1).fill(item)), RangeError);
    assert.throws(() => makeBatch("abcd1234-1", [item, { type: "offer", payload: {} }]), TypeError);
    assert.throws(() => makeBatch("not an id!", [item]), TypeError);
  });
});
