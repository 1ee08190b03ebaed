// CommDownlink when the page cannot draw or decode: every frame is still acknowledged,
// so the kernel's window (WINDOW unacknowledged frames) never stalls; nothing counts
// as drawn that was not.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CommDownlink } from "../transport/comm.js";
import { flush, quietLog } from "./fakes.js";

/** A canvas whose 2d context is unavailable (getContext returns null, as the DOM may). */
class NoContextCanvas {
  constructor() {
    this.width = 2;
    this.height = 2;
    /** @type {any[]} */
    this.tracks = [{ kind: "video", frames: 0, stop() {}, requestFrame() { this.frames += 1; } }];
  }
  getContext() {
    return null;
  }
  captureStream() {
    return { getVideoTracks: () => this.tracks, getTracks: () => this.tracks };
  }
}

/** @param {Record<string, any>} extra */
function env(extra) {
  return {
    now: () => 0,
    setTimeout: () => 0,
    clearTimeout: () => {},
    log: quietLog(),
    document: { createElement: () => new NoContextCanvas() },
    Blob: class {},
    createImageBitmap: async () => ({ close() {} }),
    ...extra,
  };
}

describe("CommDownlink without a way to draw", () => {
  test("a canvas without a 2d context: frames are acknowledged, none counts as drawn", async () => {
    /** @type {number[]} */
    const acks = [];
    const down = new CommDownlink({ ack: (s) => acks.push(s), env: /** @type {any} */ (env({})) });
    const data = new Uint8Array([0xff, 0xd8]);
    down.frame({ seq: 1, w: 320, h: 240 }, [data]);
    await flush();
    down.frame({ seq: 2, w: 320, h: 240 }, [data]);
    await flush();
    assert.deepEqual(acks, [1, 2]);
    assert.equal(down.framesDrawn, 0);
    assert.equal(down.stream.getVideoTracks()[0].frames, 0, "no captured frame for an undrawn one");
  });

  test("no createImageBitmap or Blob: each frame is a bad frame, and acknowledged", async () => {
    for (const missing of ["createImageBitmap", "Blob"]) {
      /** @type {number[]} */
      const acks = [];
      const down = new CommDownlink({
        ack: (s) => acks.push(s),
        env: /** @type {any} */ (env({ [missing]: undefined })),
      });
      down.frame({ seq: 7, w: 320, h: 240 }, [new Uint8Array([0xff])]);
      await flush();
      assert.deepEqual(acks, [7], missing);
      assert.equal(down.framesBad, 1, missing);
      assert.equal(down.framesDrawn, 0, missing);
    }
  });
});
