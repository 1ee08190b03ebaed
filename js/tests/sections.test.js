// The directions a camera answers the kernel's offer with (peer/sections.js's
// answerDirections): one function for the view and for the early answer.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { answerDirections } from "../peer/sections.js";

/** A pc whose remote offer made sections of these kinds, each recvonly as set. */
const pcWith = (/** @type {string[]} */ kinds) => {
  const transceivers = kinds.map((kind) => ({ direction: "recvonly", receiver: { track: { kind } } }));
  return { transceivers, getTransceivers: () => [...transceivers] };
};

describe("answerDirections", () => {
  test("video goes both ways; sound goes out only when the camera sends it", () => {
    for (const [audio, want] of /** @type {const} */ ([
      [true, ["sendrecv", "sendonly"]],
      [false, ["sendrecv", "recvonly"]],
    ])) {
      const pc = pcWith(["video", "audio"]);
      const chosen = answerDirections(pc, audio);
      assert.deepEqual(
        pc.transceivers.map((t) => t.direction),
        want,
        `audio=${audio}`,
      );
      assert.equal(chosen.video, pc.transceivers[0]);
      assert.equal(chosen.audio, audio ? pc.transceivers[1] : null);
    }
  });

  test("only the first section of each kind is chosen; others and kindless ones stay as offered", () => {
    const pc = pcWith(["audio", "video", "video", "audio", ""]);
    const chosen = answerDirections(pc, true);
    assert.deepEqual(
      pc.transceivers.map((t) => t.direction),
      ["sendonly", "sendrecv", "recvonly", "recvonly", "recvonly"],
    );
    assert.equal(chosen.video, pc.transceivers[1]);
    assert.equal(chosen.audio, pc.transceivers[0]);
  });

  test("an offer without sections chooses nothing", () => {
    assert.deepEqual(answerDirections(pcWith([]), true), { video: null, audio: null });
  });
});
