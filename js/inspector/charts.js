// Tiny SVG line charts for the Inspector, with no dependencies. The pure part (path
// data, scales, number formatting) takes no DOM and is unit tested; the renderer takes
// the document to draw in, so node tests can hand it a fake.
//
// A chart spec (the `charts` trait, one entry):
//   {id, title, unit, t: [seconds...], lines: [{label, side: "browser"|"kernel", values: [number|null...]}]}
// Every values array has the length of `t`. A null (or any non-number) is a gap.
//
// DOM of one chart:
//   div.nbrtc-chart[data-chart=ID]
//     div.nbrtc-chart-head > span.nbrtc-chart-title, span.nbrtc-chart-unit
//     svg.nbrtc-chart-svg
//       text.nbrtc-chart-ymax, text.nbrtc-chart-ymin, text.nbrtc-chart-xmin, text.nbrtc-chart-xmax
//       path.nbrtc-line[data-line=INDEX][data-side][data-points=N]   (one per line)
//     div.nbrtc-chart-legend > span.nbrtc-chart-key[data-line][data-side]
//       > span.nbrtc-chart-swatch, span.nbrtc-chart-name, span.nbrtc-chart-value

export const SVG_NS = "http://www.w3.org/2000/svg";
/** Seconds of history a chart shows. */
export const WINDOW_S = 120;

/** The chart's SVG geometry (viewBox units). */
export const CHART_BOX = Object.freeze({ width: 320, height: 112, left: 36, right: 6, top: 6, bottom: 16 });

/**
 * @typedef {{left: number, top: number, width: number, height: number,
 *   t0: number, t1: number, yMax: number, yMin?: number}} PlotBox
 * left/top/width/height: the plot area; t0..t1: the x domain (s); yMin..yMax: the y domain.
 */

/** @param {unknown} v @returns {v is number} */
const isNum = (v) => typeof v === "number" && Number.isFinite(v);

/** @param {number} v one decimal, no "-0" */
const r1 = (v) => {
  const x = Math.round(v * 10) / 10;
  return Object.is(x, -0) ? 0 : x;
};

/**
 * The smallest "nice" number (1, 2, 2.5, 5 times a power of ten) at or above `v`; the
 * top of a y axis that starts at 0. 1 for anything not positive.
 * @param {number} v
 * @returns {number}
 */
export function niceMax(v) {
  if (!isNum(v) || v <= 0) return 1;
  const exp = Math.floor(Math.log10(v));
  const base = 10 ** exp;
  const f = v / base;
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (f <= m * (1 + 1e-9)) return Number((m * base).toPrecision(12));
  }
  return Number((10 * base).toPrecision(12));
}

/**
 * A nice tick step (1, 2, 5 times a power of ten) giving about `target` ticks over `span`.
 * @param {number} span
 * @param {number} [target]
 * @returns {number}
 */
export function niceStep(span, target = 6) {
  if (!isNum(span) || span <= 0 || !(target > 0)) return 1;
  const raw = span / target;
  const exp = Math.floor(Math.log10(raw));
  const base = 10 ** exp;
  const f = raw / base;
  const m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return Number((m * base).toPrecision(12));
}

/**
 * A number in few characters: 1234, 12.3, 1.23, 0.012 (trailing zeros dropped).
 * @param {number} v
 * @returns {string}
 */
export function formatNumber(v) {
  if (!isNum(v)) return "—";
  const a = Math.abs(v);
  let s;
  if (a >= 1e7) s = `${r1(v / 1e6)}M`;
  else if (a >= 1e5) s = `${r1(v / 1e3)}k`;
  else if (a >= 100) s = String(Math.round(v));
  else if (a >= 10) s = v.toFixed(1);
  else if (a >= 1) s = v.toFixed(2);
  else if (a === 0) return "0";
  else s = v.toPrecision(2);
  if (/^-?\d+\.\d+$/.test(s)) s = s.replace(/\.?0+$/, "");
  return s === "-0" ? "0" : s;
}

/**
 * The unit to show a value of this size in, and what to divide it by
 * (kbit/s -> Mbit/s, bit/s -> kbit/s -> Mbit/s, B -> kB -> MB).
 * @param {number} v
 * @param {string} unit
 * @returns {{div: number, unit: string}}
 */
export function displayUnit(v, unit) {
  const a = isNum(v) ? Math.abs(v) : 0;
  const u = String(unit ?? "");
  if (u === "kbit/s" || u === "kbps") {
    return a >= 1000 ? { div: 1000, unit: "Mbit/s" } : { div: 1, unit: "kbit/s" };
  }
  if (u === "bit/s" || u === "bps") {
    if (a >= 1e6) return { div: 1e6, unit: "Mbit/s" };
    if (a >= 1e3) return { div: 1e3, unit: "kbit/s" };
    return { div: 1, unit: "bit/s" };
  }
  if (u === "B" || u === "bytes") {
    if (a >= 1e6) return { div: 1e6, unit: "MB" };
    if (a >= 1e3) return { div: 1e3, unit: "kB" };
    return { div: 1, unit: "B" };
  }
  return { div: 1, unit: u };
}

/**
 * A value with its unit, scaled to a readable unit: "1.5 Mbit/s", "30 fps", "2.5%".
 * "—" for a missing value.
 * @param {number | null | undefined} v
 * @param {string} [unit]
 * @returns {string}
 */
export function formatValue(v, unit = "") {
  if (!isNum(v)) return "—";
  const d = displayUnit(v, unit);
  const num = formatNumber(v / d.div);
  if (!d.unit) return num;
  return d.unit === "%" ? `${num}%` : `${num} ${d.unit}`;
}

/**
 * Bytes, readable: "0 B", "950 B", "12.3 kB", "4.56 MB".
 * @param {number | null | undefined} n
 * @returns {string}
 */
export function formatBytes(n) {
  return formatValue(n, "B");
}

/**
 * The x domain of a chart: WINDOW_S seconds, starting at the first sample until the
 * data is longer than that, then the last WINDOW_S seconds (it fills, then scrolls).
 * @param {number[]} ts
 * @param {number} [span]
 * @returns {{t0: number, t1: number}}
 */
export function xWindow(ts, span = WINDOW_S) {
  const finite = (Array.isArray(ts) ? ts : []).filter(isNum);
  if (finite.length === 0) return { t0: 0, t1: span };
  const first = Math.min(...finite);
  const last = Math.max(...finite);
  const t0 = Math.max(first, last - span);
  return { t0, t1: t0 + span };
}

/**
 * A nice y maximum for every value of `lines` whose time is inside [t0, t1].
 * @param {number[]} ts
 * @param {{values: (number | null)[]}[]} lines
 * @param {number} t0
 * @param {number} t1
 * @returns {number}
 */
export function yMaxOf(ts, lines, t0, t1) {
  let max = 0;
  for (const line of lines ?? []) {
    const values = Array.isArray(line?.values) ? line.values : [];
    for (let i = 0; i < values.length; i++) {
      const t = ts?.[i];
      const v = values[i];
      if (isNum(t) && isNum(v) && t >= t0 && t <= t1 && v > max) max = v;
    }
  }
  return niceMax(max);
}

/**
 * SVG path data for one line, and how many points it draws. A missing value (or time)
 * breaks the line: the next point starts a new subpath with M; a point alone is drawn
 * as a zero-length segment (a dot with round caps). Points outside [t0, t1] are left
 * out; values are clamped to [yMin, yMax].
 * @param {number[]} ts
 * @param {(number | null)[]} values
 * @param {PlotBox} box
 * @returns {{d: string, points: number}}
 */
export function lineData(ts, values, box) {
  const { left, top, width, height, t0, t1, yMax } = box;
  const yMin = box.yMin ?? 0;
  const n = Math.min(Array.isArray(ts) ? ts.length : 0, Array.isArray(values) ? values.length : 0);
  const tSpan = t1 - t0;
  const ySpan = yMax - yMin;
  /** @type {string[]} */
  const parts = [];
  let points = 0;
  let run = 0; // points in the current subpath
  for (let i = 0; i < n; i++) {
    const t = ts[i];
    const v = values[i];
    if (isNum(t) && (t < t0 || t > t1)) continue; // outside the window: no gap either
    if (!isNum(t) || !isNum(v)) {
      if (run === 1) parts.push("h0");
      run = 0;
      continue;
    }
    const x = tSpan > 0 ? left + ((t - t0) / tSpan) * width : left + width;
    const frac = ySpan > 0 ? (Math.min(Math.max(v, yMin), yMax) - yMin) / ySpan : 0;
    const y = top + height - frac * height;
    parts.push(`${run === 0 ? "M" : "L"}${r1(x)} ${r1(y)}`);
    run += 1;
    points += 1;
  }
  if (run === 1) parts.push("h0");
  return { d: parts.join(" "), points };
}

/**
 * The path data only (see lineData).
 * @param {number[]} ts
 * @param {(number | null)[]} values
 * @param {PlotBox} box
 * @returns {string}
 */
export function linePath(ts, values, box) {
  return lineData(ts, values, box).d;
}

/**
 * The latest value of a line: its last entry (null when that sample is missing).
 * @param {(number | null)[]} values
 * @returns {number | null}
 */
export function latest(values) {
  if (!Array.isArray(values) || values.length === 0) return null;
  const v = values[values.length - 1];
  return isNum(v) ? v : null;
}

// ---- DOM -------------------------------------------------------------------------------

/**
 * An SVG element with attributes.
 * @param {Document} doc
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @returns {any}
 */
export function svgEl(doc, tag, attrs = {}) {
  const node = doc.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/**
 * @param {Document} doc
 * @param {string} tag
 * @param {string} className
 * @param {string} [text]
 * @returns {any}
 */
function htmlEl(doc, tag, className, text) {
  const node = doc.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * @param {any} spec
 * @returns {{id: string, title: string, unit: string, t: number[], lines: any[]}}
 */
function normalize(spec) {
  const s = spec && typeof spec === "object" ? spec : {};
  return {
    id: String(s.id ?? ""),
    title: String(s.title ?? s.id ?? ""),
    unit: String(s.unit ?? ""),
    t: Array.isArray(s.t) ? s.t : [],
    lines: Array.isArray(s.lines) ? s.lines.filter((/** @type {any} */ l) => l && typeof l === "object") : [],
  };
}

/**
 * One chart. update() changes path data, labels and legend in place (the elements stay).
 * @param {Document} doc
 * @param {any} spec
 */
export function createChart(doc, spec) {
  const B = CHART_BOX;
  const plot = { left: B.left, top: B.top, width: B.width - B.left - B.right, height: B.height - B.top - B.bottom };
  const el = htmlEl(doc, "div", "nbrtc-chart");
  const head = htmlEl(doc, "div", "nbrtc-chart-head");
  const title = htmlEl(doc, "span", "nbrtc-chart-title");
  const unitEl = htmlEl(doc, "span", "nbrtc-chart-unit");
  head.append(title, unitEl);
  const svg = svgEl(doc, "svg", {
    class: "nbrtc-chart-svg",
    viewBox: `0 0 ${B.width} ${B.height}`,
    role: "img",
  });
  const yTop = plot.top;
  const yBottom = plot.top + plot.height;
  const xRight = plot.left + plot.width;
  for (const y of [yTop, (yTop + yBottom) / 2]) {
    svg.appendChild(svgEl(doc, "line", { class: "nbrtc-chart-grid", x1: plot.left, x2: xRight, y1: y, y2: y }));
  }
  svg.appendChild(svgEl(doc, "line", { class: "nbrtc-chart-axis", x1: plot.left, x2: xRight, y1: yBottom, y2: yBottom }));
  const label = (/** @type {string} */ cls, /** @type {number} */ x, /** @type {number} */ y, /** @type {string} */ anchor) => {
    const t = svgEl(doc, "text", { class: `nbrtc-chart-label ${cls}`, x, y, "text-anchor": anchor });
    svg.appendChild(t);
    return t;
  };
  const yMaxLabel = label("nbrtc-chart-ymax", plot.left - 4, yTop + 4, "end");
  const yMinLabel = label("nbrtc-chart-ymin", plot.left - 4, yBottom + 3, "end");
  const xMinLabel = label("nbrtc-chart-xmin", plot.left, B.height - 3, "start");
  const xMaxLabel = label("nbrtc-chart-xmax", xRight, B.height - 3, "end");
  const empty = label("nbrtc-chart-empty", plot.left + plot.width / 2, yTop + plot.height / 2 + 3, "middle");
  const linesG = svgEl(doc, "g", { class: "nbrtc-chart-lines" });
  svg.appendChild(linesG);
  const legend = htmlEl(doc, "div", "nbrtc-chart-legend");
  el.append(head, svg, legend);

  /** @type {{path: any, key: any, label: any, value: any}[]} */
  const lines = [];

  const ensureLines = (/** @type {number} */ count) => {
    while (lines.length < count) {
      const i = lines.length;
      const path = svgEl(doc, "path", { class: "nbrtc-line", fill: "none" });
      path.dataset.line = String(i);
      linesG.appendChild(path);
      const key = htmlEl(doc, "span", "nbrtc-chart-key");
      key.dataset.line = String(i);
      const swatch = htmlEl(doc, "span", "nbrtc-chart-swatch");
      const name = htmlEl(doc, "span", "nbrtc-chart-name");
      const value = htmlEl(doc, "span", "nbrtc-chart-value");
      key.append(swatch, name, value);
      legend.appendChild(key);
      lines.push({ path, key, label: name, value });
    }
    while (lines.length > count) {
      const gone = /** @type {any} */ (lines.pop());
      gone.path.remove();
      gone.key.remove();
    }
  };

  /** @param {any} raw */
  const update = (raw) => {
    const s = normalize(raw);
    el.dataset.chart = s.id;
    title.textContent = s.title;
    const { t0, t1 } = xWindow(s.t);
    const yMax = yMaxOf(s.t, s.lines, t0, t1);
    const axis = displayUnit(yMax, s.unit);
    unitEl.textContent = axis.unit;
    yMaxLabel.textContent = formatNumber(yMax / axis.div);
    yMinLabel.textContent = "0";
    xMinLabel.textContent = `${formatNumber(Math.round(t0))} s`;
    xMaxLabel.textContent = `${formatNumber(Math.round(t1))} s`;
    ensureLines(s.lines.length);
    /** @type {Record<string, number>} */
    const perSide = {};
    let total = 0;
    s.lines.forEach((line, i) => {
      const side = line.side === "kernel" ? "kernel" : "browser";
      const variant = perSide[side] ?? 0;
      perSide[side] = variant + 1;
      const { d, points } = lineData(s.t, line.values, { ...plot, t0, t1, yMax });
      total += points;
      const slot = lines[i];
      slot.path.setAttribute("d", d);
      slot.path.dataset.side = side;
      slot.path.dataset.variant = String(Math.min(variant, 2));
      slot.path.dataset.points = String(points);
      slot.key.dataset.side = side;
      slot.key.dataset.variant = String(Math.min(variant, 2));
      slot.label.textContent = String(line.label ?? side);
      slot.value.textContent = formatValue(latest(line.values), s.unit);
    });
    empty.textContent = total === 0 ? "no data yet" : "";
  };

  update(spec);
  return { el, update };
}

/**
 * A grid of charts kept in the order of the latest list; a chart whose id stays is
 * updated in place, a new id gets a new chart, a missing one is removed.
 * @param {Document} doc
 */
export function createChartGrid(doc) {
  const el = htmlEl(doc, "div", "nbrtc-charts");
  const empty = htmlEl(doc, "div", "nbrtc-empty", "No statistics yet: charts appear once the stream is live.");
  el.appendChild(empty);
  /** @type {Map<string, ReturnType<typeof createChart>>} */
  const charts = new Map();
  /** @type {string[]} */
  let order = [];

  /** @param {any} list */
  const update = (list) => {
    const specs = (Array.isArray(list) ? list : []).filter((c) => c && typeof c === "object" && c.id !== undefined);
    const seen = new Set();
    /** @type {string[]} */
    const ids = [];
    for (const spec of specs) {
      const id = String(spec.id);
      if (seen.has(id)) continue;
      seen.add(id);
      ids.push(id);
      const chart = charts.get(id);
      if (chart) chart.update(spec);
      else charts.set(id, createChart(doc, spec));
    }
    for (const [id, chart] of charts) {
      if (!seen.has(id)) {
        chart.el.remove();
        charts.delete(id);
      }
    }
    // Re-append only when the order changed (appending moves an element).
    if (ids.join("\n") !== order.join("\n")) {
      for (const id of ids) el.appendChild(/** @type {any} */ (charts.get(id)).el);
      order = ids;
    }
    empty.hidden = ids.length > 0;
  };

  return { el, update, charts };
}
