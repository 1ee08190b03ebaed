import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { EVENT_TYPES, INITIAL, STATE_NAMES, isTerminal, makeState, reduce } from "../core/state.js";

// The complete transition table: [from, event] -> to. Everything not listed must
// leave the state unchanged (the very same object).
const LEGAL = {
  "idle/offer-sent": "negotiating",
  "negotiating/answer-applied": "connecting",
  "connecting/connected": "live",
};
for (const from of ["idle", "negotiating", "connecting", "live"]) {
  LEGAL[`${from}/close`] = "closed";
  LEGAL[`${from}/fail`] = "error";
}

describe("reduce: every state x every event", () => {
  for (const from of STATE_NAMES) {
    for (const type of EVENT_TYPES) {
      const key = `${from}/${type}`;
      const expected = LEGAL[key];
      test(`${from} --${type}--> ${expected ?? "(unchanged)"}`, () => {
        const state = makeState(from, from === "error" ? "why" : "");
        const next = reduce(state, { type, reason: "r" });
        if (expected) {
          assert.notEqual(next, state);
          assert.equal(next.name, expected);
        } else {
          assert.equal(next, state, "an illegal transition returns the same object");
        }
      });
    }
  }
});

describe("reduce details", () => {
  test("starts idle", () => {
    assert.equal(INITIAL.name, "idle");
    assert.equal(INITIAL.reason, "");
  });
  test("the camera path", () => {
    let s = INITIAL;
    const seen = [s.name];
    for (const type of ["offer-sent", "answer-applied", "connected"]) {
      s = reduce(s, { type });
      seen.push(s.name);
    }
    s = reduce(s, { type: "close", reason: "view-removed" });
    seen.push(s.name);
    assert.deepEqual(seen, ["idle", "negotiating", "connecting", "live", "closed"]);
    assert.equal(s.reason, "view-removed");
  });
  test("there is no acquiring state: a camera opens its device while it connects", () => {
    assert.equal(STATE_NAMES.includes("acquiring"), false);
    assert.equal(reduce(INITIAL, { type: "acquire" }), INITIAL);
  });
  test("error keeps its reason and is terminal", () => {
    const e = reduce(makeState("connecting"), { type: "fail", reason: "ICE failed" });
    assert.equal(e.name, "error");
    assert.equal(e.reason, "ICE failed");
    assert.equal(isTerminal(e), true);
    assert.equal(reduce(e, { type: "close", reason: "x" }), e);
    assert.equal(reduce(e, { type: "connected" }), e);
  });
  test("close without reason says closed", () => {
    assert.equal(reduce(INITIAL, { type: "close" }).reason, "closed");
  });
  test("closed is terminal", () => {
    const c = reduce(INITIAL, { type: "close", reason: "x" });
    assert.equal(isTerminal(c), true);
    assert.equal(reduce(c, { type: "fail", reason: "late" }), c);
  });
  test("unknown and malformed events change nothing", () => {
    assert.equal(reduce(INITIAL, { type: "toString" }), INITIAL);
    assert.equal(reduce(INITIAL, { type: "bogus" }), INITIAL);
    assert.equal(reduce(INITIAL, null), INITIAL);
  });
  test("states are frozen", () => {
    assert.equal(Object.isFrozen(reduce(INITIAL, { type: "offer-sent" })), true);
  });
});
