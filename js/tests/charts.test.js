import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  WINDOW_S,
  displayUnit,
  formatBytes,
  formatNumber,
  formatValue,
  latest,
  lineData,
  linePath,
  niceMax,
  niceStep,
  xWindow,
  yMaxOf,
} from "../inspector/charts.js";

/** A 100 x 50 plot at (0, 0), x 0..10 s, y 0..100. */
const box = { left: 0, top: 0, width: 100, height: 50, t0: 0, t1: 10, yMax: 100 };

describe("niceMax", () => {
  const cases = [
    [0, 1],
    [-5, 1],
    [null, 1],
    [NaN, 1],
    [Infinity, 1],
    [1, 1],
    [1.2, 2],
    [2, 2],
    [2.1, 2.5],
    [3, 5],
    [7.5, 10],
    [10, 10],
    [11, 20],
    [240, 250],
    [999, 1000],
    [1001, 2000],
    [0.003, 0.005],
    [0.07, 0.1],
    [1234567, 2000000],
  ];
  for (const [v, want] of cases) {
    test(`${v} -> ${want}`, () => assert.equal(niceMax(/** @type {any} */ (v)), want));
  }
  test("never below the value", () => {
    for (let i = 0; i < 500; i++) {
      const v = Math.random() * 10 ** (Math.random() * 12 - 4);
      const m = niceMax(v);
      assert.ok(m >= v, `${m} >= ${v}`);
      assert.ok(m <= v * 2.5 + 1e-12, `${m} at most 2.5x ${v}`);
    }
  });
});

describe("niceStep", () => {
  test("about the target count of ticks, on 1/2/5 steps", () => {
    assert.equal(niceStep(10, 5), 2);
    assert.equal(niceStep(100, 8), 20);
    assert.equal(niceStep(7, 8), 1);
    assert.equal(niceStep(0.5, 5), 0.1);
    assert.equal(niceStep(3600, 6), 1000);
    assert.equal(niceStep(0), 1);
    assert.equal(niceStep(-1), 1);
  });
});

describe("formatNumber / formatValue / formatBytes", () => {
  test("numbers in few characters", () => {
    assert.equal(formatNumber(0), "0");
    assert.equal(formatNumber(1234), "1234");
    assert.equal(formatNumber(99.95), "100");
    assert.equal(formatNumber(29.97), "30");
    assert.equal(formatNumber(12.34), "12.3");
    assert.equal(formatNumber(1.5), "1.5");
    assert.equal(formatNumber(2), "2");
    assert.equal(formatNumber(0.0123), "0.012");
    assert.equal(formatNumber(0.5), "0.5");
    assert.equal(formatNumber(-3.25), "-3.25");
    assert.equal(formatNumber(250000), "250k");
    assert.equal(formatNumber(12_345_678), "12.3M");
    assert.equal(formatNumber(/** @type {any} */ (null)), "—");
  });
  test("values with units, scaled", () => {
    assert.equal(formatValue(850, "kbit/s"), "850 kbit/s");
    assert.equal(formatValue(1500, "kbit/s"), "1.5 Mbit/s");
    assert.equal(formatValue(2_500_000, "bit/s"), "2.5 Mbit/s");
    assert.equal(formatValue(64_000, "bps"), "64 kbit/s");
    assert.equal(formatValue(30, "fps"), "30 fps");
    assert.equal(formatValue(2.5, "%"), "2.5%");
    assert.equal(formatValue(12.3456, "ms"), "12.3 ms");
    assert.equal(formatValue(480, "px"), "480 px");
    assert.equal(formatValue(7, ""), "7");
    assert.equal(formatValue(7), "7");
    assert.equal(formatValue(null, "ms"), "—");
    assert.equal(formatValue(undefined, "ms"), "—");
    assert.equal(formatValue(NaN, "ms"), "—");
  });
  test("bytes", () => {
    assert.equal(formatBytes(0), "0 B");
    assert.equal(formatBytes(950), "950 B");
    assert.equal(formatBytes(12_300), "12.3 kB");
    assert.equal(formatBytes(4_560_000), "4.56 MB");
  });
  test("displayUnit picks the axis unit", () => {
    assert.deepEqual(displayUnit(2000, "kbit/s"), { div: 1000, unit: "Mbit/s" });
    assert.deepEqual(displayUnit(500, "kbit/s"), { div: 1, unit: "kbit/s" });
    assert.deepEqual(displayUnit(5, "fps"), { div: 1, unit: "fps" });
  });
});

describe("linePath / lineData", () => {
  test("maps time to x and value to y (0 at the bottom)", () => {
    const { d, points } = lineData([0, 5, 10], [0, 50, 100], box);
    assert.equal(d, "M0 50 L50 25 L100 0");
    assert.equal(points, 3);
    assert.equal(linePath([0, 5, 10], [0, 50, 100], box), d);
  });

  test("offsets by the plot's left/top", () => {
    assert.equal(linePath([0, 10], [0, 100], { ...box, left: 30, top: 5 }), "M30 55 L130 5");
  });

  test("a null is a gap: the next point starts a new subpath", () => {
    const { d, points } = lineData([0, 1, 2, 3, 4], [10, 20, null, 40, 50], box);
    assert.equal(d, "M0 45 L10 40 M30 30 L40 25");
    assert.equal(points, 4);
    assert.equal((d.match(/M/g) ?? []).length, 2);
  });

  test("non-numbers and missing times are gaps too; leading/trailing gaps draw nothing", () => {
    const { d, points } = lineData([0, 1, 2, null, 4, 5], [null, 20, 30, 40, "x", undefined], box);
    assert.equal(d, "M10 40 L20 35");
    assert.equal(points, 2);
  });

  test("an isolated point becomes a dot (zero-length segment)", () => {
    const { d, points } = lineData([0, 1, 2], [null, 50, null], box);
    assert.equal(d, "M10 25 h0");
    assert.equal(points, 1);
    assert.equal(linePath([5], [50], box), "M50 25 h0");
  });

  test("no data: empty path", () => {
    assert.deepEqual(lineData([], [], box), { d: "", points: 0 });
    assert.deepEqual(lineData([0, 1], [null, null], box), { d: "", points: 0 });
    assert.deepEqual(lineData(/** @type {any} */ (null), /** @type {any} */ (undefined), box), { d: "", points: 0 });
  });

  test("values clamp to the y domain", () => {
    assert.equal(linePath([0, 10], [-5, 250], box), "M0 50 L100 0");
  });

  test("points outside the time window are left out (not a gap)", () => {
    const { d, points } = lineData([-5, 0, 10, 15], [100, 0, 100, 0], box);
    assert.equal(d, "M0 50 L100 0");
    assert.equal(points, 2);
  });

  test("uses the shorter of ts and values", () => {
    assert.equal(lineData([0, 5, 10], [0, 50], box).points, 2);
  });

  test("coordinates have at most one decimal", () => {
    const d = linePath([0, 1 / 3, 2 / 3], [1 / 3, 2 / 3, 1], { ...box, t1: 1, yMax: 1 });
    for (const n of d.match(/-?\d+(\.\d+)?/g) ?? []) assert.ok(!/\.\d\d/.test(n), n);
  });
});

describe("windows and scales", () => {
  test("x window fills from the first sample, then scrolls", () => {
    assert.deepEqual(xWindow([]), { t0: 0, t1: WINDOW_S });
    assert.deepEqual(xWindow([3, 4, 5]), { t0: 3, t1: 3 + WINDOW_S });
    assert.deepEqual(xWindow([0, 100, 200]), { t0: 200 - WINDOW_S, t1: 200 });
    assert.deepEqual(xWindow([10, 20], 5), { t0: 15, t1: 20 });
  });

  test("y max: nice, from the values inside the window only", () => {
    const lines = [{ values: [900, 30, null] }, { values: [5, 70, 12] }];
    assert.equal(yMaxOf([0, 1, 2], lines, 0, 2), 1000);
    assert.equal(yMaxOf([0, 1, 2], lines, 1, 2), 100);
    assert.equal(yMaxOf([0, 1, 2], [{ values: [null, null, null] }], 0, 2), 1);
    assert.equal(yMaxOf([0, 1, 2], [], 0, 2), 1);
  });

  test("latest is the last entry, null when it is missing", () => {
    assert.equal(latest([1, 2, 3]), 3);
    assert.equal(latest([1, 2, null]), null);
    assert.equal(latest([]), null);
    assert.equal(latest(/** @type {any} */ (undefined)), null);
  });
});
