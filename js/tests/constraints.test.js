// core/constraints.js: the one getUserMedia / getDisplayMedia builder for the stream
// kinds and the room (the per-trait mappings are also covered in peer, kinds and room).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { deviceRequest, displayConstraints, roomConstraints, videoConstraints } from "../core/constraints.js";
import { FakeModel } from "./fakes.js";

const TRAIT = { width: 640, height: 480, frame_rate: 30, device_id: "cam-2" };

describe("deviceRequest", () => {
  test("a camera: getUserMedia with its video and the offer's sound (none by default)", () => {
    assert.deepEqual(deviceRequest("camera", TRAIT, null), {
      method: "getUserMedia",
      constraints: { video: videoConstraints(TRAIT), audio: false },
    });
    assert.deepEqual(deviceRequest("camera", null, { echoCancellation: false }).constraints, {
      video: true,
      audio: { echoCancellation: false },
    });
  });

  test("a microphone: sound only, the browser's defaults unless asked", () => {
    assert.deepEqual(deviceRequest("microphone", TRAIT, null), {
      method: "getUserMedia",
      constraints: { audio: true, video: false },
    });
    assert.deepEqual(deviceRequest("microphone", TRAIT, { deviceId: { exact: "m" } }).constraints.audio, {
      deviceId: { exact: "m" },
    });
  });

  test("a screen: getDisplayMedia, no device id, never sound", () => {
    const request = deviceRequest("screen", TRAIT, true);
    assert.equal(request.method, "getDisplayMedia");
    assert.deepEqual(request.constraints, { video: displayConstraints(TRAIT), audio: false });
    assert.equal("deviceId" in /** @type {any} */ (request.constraints.video), false);
  });
});

describe("roomConstraints", () => {
  test("the camera's builder without a device: wishes only, {} when none", () => {
    const model = new FakeModel({ width: 320, height: 240, frame_rate: 15, audio: true, device_id: "x" });
    const { video, audio } = roomConstraints(model);
    assert.deepEqual(video, videoConstraints({ width: 320, height: 240, frame_rate: 15 }));
    assert.equal(audio, true);
    assert.deepEqual(roomConstraints(new FakeModel({ width: -1, audio: "yes" })), { video: {}, audio: false });
  });
});

describe("facing mode", () => {
  test("the front or back camera is a wish (ideal), so a laptop still opens its one camera", () => {
    assert.deepEqual(videoConstraints({ facing_mode: "environment" }), { facingMode: { ideal: "environment" } });
    assert.deepEqual(videoConstraints({ facing_mode: "user", width: 640 }), {
      width: { ideal: 640 },
      facingMode: { ideal: "user" },
    });
    assert.equal(videoConstraints({ facing_mode: null }), true);
    assert.equal(videoConstraints({ facing_mode: "" }), true);
  });
  test("a screen share ignores it", () => {
    assert.equal(displayConstraints({ facing_mode: "user" }), true);
  });
});
