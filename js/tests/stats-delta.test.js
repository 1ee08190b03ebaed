// A stats sample's reports that changed nothing but their timestamp go by id only
// (stats-delta.js); the kernel puts its copy back (_inspection/stats_carry.py).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FULL_EVERY, StatsDelta } from "../core/stats-delta.js";

/** @param {number} ts @param {number} bytes */
const sample = (ts, bytes) => [
  { id: "CO1", type: "codec", timestamp: ts, mimeType: "video/VP8" },
  { id: "CP1", type: "candidate-pair", timestamp: ts, bytesSent: bytes },
  { id: "LC1", type: "local-candidate", timestamp: ts, address: "192.0.2.1" },
];

describe("StatsDelta", () => {
  test("the first sample is whole; then unchanged reports go by id", () => {
    const d = new StatsDelta();
    assert.deepEqual(d.pack(sample(1, 10), "dc"), { reports: sample(1, 10) });
    const next = d.pack(sample(2, 20), "dc");
    assert.deepEqual(next.reports, [sample(2, 20)[1]]);
    assert.deepEqual(next.same, ["CO1", "LC1"]);
  });

  test("a changed field sends the report whole again", () => {
    const d = new StatsDelta();
    d.pack(sample(1, 10), "dc");
    const changed = sample(2, 10);
    changed[2] = { ...changed[2], address: "192.0.2.9" };
    const out = d.pack(changed, "dc");
    assert.deepEqual(out.reports.map((r) => r.id), ["LC1"]);
    assert.deepEqual(out.same, ["CO1", "CP1"]);
  });

  test("a new route (path or peer) and every FULL_EVERY samples send it whole", () => {
    const d = new StatsDelta();
    d.pack(sample(1, 10), "dc");
    assert.equal(d.pack(sample(2, 10), "comm").same, undefined, "the path changed");
    assert.ok(d.pack(sample(3, 10), "comm").same, "same path: a delta");
    for (let i = 3; i < FULL_EVERY; i++) d.pack(sample(i + 1, 10), "comm");
    assert.equal(d.pack(sample(99, 10), "comm").same, undefined, "every FULL_EVERY samples");
  });

  test("reports without a string id or with a repeated id are always sent", () => {
    const d = new StatsDelta();
    const odd = [{ type: "x", timestamp: 1 }, { id: "A", type: "y", timestamp: 1 }, { id: "A", type: "y", timestamp: 1 }];
    d.pack(odd, "dc");
    const out = d.pack(odd, "dc");
    assert.equal(out.reports.length, 2);
    assert.deepEqual(out.same, ["A"]);
  });
});
