// The page's answering side for a stream whose far end is a media server (answerer.js).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { answerOffer, watchesServer } from "../peer/answerer.js";

/** A pc that records its calls; `closeAfter` makes isClosed() true after that step. */
function fakePc(steps) {
  return {
    localDescription: null,
    async setRemoteDescription(desc) {
      steps.push(["remote", desc.type, desc.sdp]);
    },
    async createAnswer() {
      steps.push(["createAnswer"]);
      return { type: "answer", sdp: "v=0\r\nanswer" };
    },
    async setLocalDescription(desc) {
      steps.push(["local", desc.type]);
      this.localDescription = { type: "answer", sdp: `${desc.sdp}\r\na=candidate-free` };
    },
  };
}

describe("answerer", () => {
  test("applies the server's offer and returns the local answer's SDP", async () => {
    const steps = [];
    const sdp = await answerOffer(fakePc(steps), "v=0\r\noffer", () => false);
    assert.deepEqual(steps, [["remote", "offer", "v=0\r\noffer"], ["createAnswer"], ["local", "answer"]]);
    assert.equal(sdp, "v=0\r\nanswer\r\na=candidate-free");
  });

  for (const [after, expected] of [
    [1, ["remote"]],
    [2, ["remote", "createAnswer"]],
    [3, ["remote", "createAnswer", "local"]],
  ]) {
    test(`closed after step ${after}: resolves to null and does nothing more`, async () => {
      const steps = [];
      let checks = 0;
      const result = await answerOffer(fakePc(steps), "v=0\r\n", () => ++checks >= after);
      assert.equal(result, null);
      assert.deepEqual(
        steps.map((s) => s[0]),
        expected,
      );
    });
  }

  test("a refused offer rejects (the caller fails the stream in words)", async () => {
    const pc = fakePc([]);
    pc.setRemoteDescription = async () => {
      throw Object.assign(new Error("bad offer"), { name: "InvalidAccessError" });
    };
    await assert.rejects(answerOffer(pc, "v=0\r\n", () => false), /bad offer/);
  });

  test("only a view of a Janus broadcast watches a server", () => {
    assert.equal(watchesServer("view", "janus"), true);
    assert.equal(watchesServer("view", ""), false);
    assert.equal(watchesServer("camera", "janus"), false);
    assert.equal(watchesServer("view", undefined), false);
  });
});
