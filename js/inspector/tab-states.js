// The States tab: a timeline of every state machine on both sides (ICE, DTLS,
// signaling, connection, the stream's own), one lane each, coloured by what a state
// means (stateTone). Trait `timeline`: {t0, now, rows: [{side, what, events: [{t, state}]}]}.

import { formatNumber, niceStep, svgEl } from "./charts.js";
import { elements } from "./tab.js";
import { arr, isNum, obj, str } from "./values.js";

export const LABEL = "States";
/** The trait this tab draws. */
export const TRAIT = "timeline";

const TONES = Object.freeze({
  ok: ["connected", "completed", "complete", "live", "stable", "open", "succeeded"],
  pending: [
    "checking",
    "connecting",
    "negotiating",
    "have-local-offer",
    "have-remote-offer",
    "have-local-pranswer",
    "have-remote-pranswer",
    "in-progress",
  ],
  idle: ["new", "gathering", "idle", "waiting"],
  bad: ["disconnected", "failed", "error"],
  closed: ["closed", "ended", "no-stream"],
});

/**
 * What a state means, for its colour: ok, pending, idle, bad, closed or other.
 * @param {string} state
 * @returns {"ok" | "pending" | "idle" | "bad" | "closed" | "other"}
 */
export function stateTone(state) {
  const s = str(state).toLowerCase();
  for (const [tone, names] of Object.entries(TONES)) {
    if (names.includes(s)) return /** @type {any} */ (tone);
  }
  return "other";
}

/**
 * Build the state timeline inside `el` (its panel).
 * @type {import("./tab.js").MountTab}
 */
export function mount(el, ctx) {
  const { doc } = ctx;
  const { make, empty } = elements(doc);

  const timelineBox = make("div", "nbrtc-timeline-box");
  const legend = make("div", "nbrtc-timeline-legend");
  for (const [tone, words] of [
    ["idle", "new / gathering"],
    ["pending", "checking / connecting / have-*-offer"],
    ["ok", "connected / completed / live / stable"],
    ["bad", "disconnected / failed / error"],
    ["closed", "closed"],
  ]) {
    const chip = make("span", undefined, words);
    chip.dataset.tone = tone;
    legend.appendChild(chip);
  }
  el.append(timelineBox, legend);
  let timelineSig = "";

  /** @param {any} value */
  const setTimeline = (value) => {
    const tl = obj(value);
    const sig = JSON.stringify([tl.t0 ?? null, tl.now ?? null, tl.rows ?? null]);
    if (sig === timelineSig) return;
    timelineSig = sig;
    const rows = arr(tl.rows).filter((r) => r && typeof r === "object");
    if (rows.length === 0) {
      timelineBox.replaceChildren(empty("No state changes yet."));
      return;
    }
    const W = 900;
    const labelW = 150;
    const laneH = 20;
    const gap = 4;
    const top = 4;
    const axisH = 22;
    const plotW = W - labelW - 10;
    const H = top + rows.length * (laneH + gap) + axisH;
    const t0 = isNum(tl.t0) ? tl.t0 : 0;
    let t1 = isNum(tl.now) ? tl.now : t0;
    for (const r of rows) for (const e of arr(r.events)) if (isNum(e?.t) && e.t > t1) t1 = e.t;
    if (t1 - t0 < 1) t1 = t0 + 1;
    const x = (/** @type {number} */ t) => labelW + ((Math.min(Math.max(t, t0), t1) - t0) / (t1 - t0)) * plotW;
    const r1 = (/** @type {number} */ v) => Math.round(v * 10) / 10;
    const svg = svgEl(doc, "svg", { class: "nbrtc-timeline", viewBox: `0 0 ${W} ${H}`, role: "img" });
    rows.forEach((row, i) => {
      const y = top + i * (laneH + gap);
      const g = svgEl(doc, "g", { class: "nbrtc-lane" });
      g.dataset.side = str(row.side);
      g.dataset.what = str(row.what);
      const side = svgEl(doc, "text", { class: "nbrtc-lane-side", x: 4, y: y + laneH / 2 + 4 });
      side.textContent = str(row.side);
      const what = svgEl(doc, "text", { class: "nbrtc-lane-label", x: 60, y: y + laneH / 2 + 4 });
      what.textContent = str(row.what);
      g.append(side, what, svgEl(doc, "rect", { class: "nbrtc-lane-bg", x: labelW, y, width: plotW, height: laneH }));
      const events = arr(row.events)
        .filter((e) => e && typeof e === "object" && isNum(e.t))
        .sort((a, b) => a.t - b.t);
      events.forEach((e, j) => {
        const start = e.t;
        const end = j + 1 < events.length ? events[j + 1].t : Math.max(t1, start);
        const xa = x(start);
        const w = Math.max(x(end) - xa, 1.5);
        const state = str(e.state);
        const rect = svgEl(doc, "rect", { class: "nbrtc-seg", x: r1(xa), y, width: r1(w), height: laneH, rx: 2 });
        rect.dataset.state = state;
        rect.dataset.tone = stateTone(state);
        rect.dataset.t = String(start);
        const tip = svgEl(doc, "title");
        tip.textContent = `${row.side} ${row.what}: ${state} from ${formatNumber(start)} s to ${
          j + 1 < events.length ? `${formatNumber(end)} s` : "now"
        }`;
        rect.appendChild(tip);
        g.appendChild(rect);
        if (w >= state.length * 6 + 8) {
          const label = svgEl(doc, "text", { class: "nbrtc-seg-label", x: r1(xa + 4), y: y + laneH / 2 + 4 });
          label.textContent = state;
          g.appendChild(label);
        }
      });
      svg.appendChild(g);
    });
    // time axis
    const axis = svgEl(doc, "g", { class: "nbrtc-axis" });
    const yAxis = top + rows.length * (laneH + gap);
    axis.appendChild(svgEl(doc, "line", { x1: labelW, x2: labelW + plotW, y1: yAxis, y2: yAxis }));
    const step = niceStep(t1 - t0, 8);
    for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) {
      const xt = r1(x(t));
      axis.appendChild(svgEl(doc, "line", { x1: xt, x2: xt, y1: yAxis, y2: yAxis + 4 }));
      const label = svgEl(doc, "text", { x: xt, y: yAxis + 15, "text-anchor": "middle" });
      label.textContent = `${formatNumber(Number(t.toPrecision(10)))} s`;
      axis.appendChild(label);
    }
    svg.appendChild(axis);
    if (isNum(tl.now)) {
      const xn = r1(x(tl.now));
      svg.appendChild(svgEl(doc, "line", { class: "nbrtc-now", x1: xn, x2: xn, y1: top, y2: yAxis }));
    }
    timelineBox.replaceChildren(svg);
  };

  return {
    update: setTimeline,
    destroy() {
      el.replaceChildren();
    },
  };
}
