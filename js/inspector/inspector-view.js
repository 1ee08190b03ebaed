// The Inspector's DOM: a developer-tool panel showing both sides of one WebRTC
// connection (the browser's and the kernel's), from traits the Python side computes.
// It only renders and turns clicks into control requests (`onControl`); there is no
// peer connection here. The document is the one `el` belongs to, so node tests can
// hand in a fake DOM; the pure helpers are exported for unit tests.
//
// Selectors (for tests):
//   .nbrtc-inspector[data-tab]                      root; data-tab = the tab shown
//   .nbrtc-insp-title, .nbrtc-insp-status[data-state][data-kind], .nbrtc-insp-detail,
//   .nbrtc-insp-error, .nbrtc-insp-warning
//   button.nbrtc-insp-tab[data-tab][aria-selected]  tabs (room hidden while `room` is null)
//   .nbrtc-insp-panel[data-panel]                   panels (hidden ones stay up to date)
//   charts     see charts.js (.nbrtc-chart[data-chart], path.nbrtc-line[data-points] ...)
//   signaling  input.nbrtc-log-quiet (hide chatter), table.nbrtc-log[data-quiet]
//              tr.nbrtc-log-row[data-dir][data-type] > td.nbrtc-log-t, .nbrtc-log-dir,
//              .nbrtc-log-type, .nbrtc-log-size, .nbrtc-log-summary
//   sdp        ul.nbrtc-sdp-summary li, .nbrtc-sdp-round, button.nbrtc-sdp-toggle,
//              .nbrtc-sdp-cols[data-expanded], .nbrtc-sdp[data-side=offer|answer]
//              .nbrtc-sdp-section[data-section], .nbrtc-sdp-line[data-n][data-status]
//              [data-section][data-key][data-selected][data-match] > .nbrtc-sdp-text,
//              .nbrtc-sdp-explain
//   ice        .nbrtc-selected-pair[data-side][data-state], table.nbrtc-cands[data-side]
//              tr.nbrtc-cand[data-type][data-end=local|remote][data-selected]
//   states     svg.nbrtc-timeline > g.nbrtc-lane[data-side][data-what] > rect.nbrtc-seg
//              [data-state][data-tone][data-t]; g.nbrtc-axis
//   controls   input.nbrtc-ctl-loss/-delay/-rate, button.nbrtc-ctl-apply, -clear,
//              select.nbrtc-ctl-codec, input.nbrtc-ctl-maxbitrate, button.nbrtc-ctl-bitrate,
//              button.nbrtc-ctl-restart, .nbrtc-ctl-error[data-for=loss|delay|rate|max_bitrate],
//              .nbrtc-ctl-current, .nbrtc-ctl-note, .nbrtc-ctl-status
//   room       .nbrtc-room-compare[data-relayed][data-media], ul.nbrtc-room-members
//              li[data-id][data-state], table.nbrtc-room-links tr[data-a][data-b][data-state],
//              .nbrtc-room-note

import { createChartGrid, formatBytes, formatNumber, niceStep, svgEl } from "./charts.js";
import { listen } from "../core/listen.js";

const STYLE_ID = "nbrtc-inspector-style-v1";

export const TABS = Object.freeze(["charts", "signaling", "sdp", "ice", "states", "controls", "room"]);
const TAB_LABELS = Object.freeze({
  charts: "Charts",
  signaling: "Signaling",
  sdp: "SDP",
  ice: "ICE",
  states: "States",
  controls: "Controls",
  room: "Room",
});
/** Log message types the "hide chatter" box hides. */
export const CHATTER = Object.freeze(["candidate", "stats", "ping"]);
export const DIR_TEXT = Object.freeze({ in: "browser → kernel", out: "kernel → browser", note: "note" });
/** The traits the view draws (inspector.js listens to each). */
export const TRAITS = Object.freeze([
  "title",
  "status",
  "log",
  "sdp",
  "candidates",
  "timeline",
  "charts",
  "controls",
  "room",
  "error",
]);
/** What the kernel's set_network accepts (nbrtc/_netem.py): loss in [0, 1), delay in
 * [0, 10000] ms, rate None or >= 8 kbit/s. */
export const LIMITS = Object.freeze({
  lossBelow: 100,
  delayMax: 10000,
  rateMin: 8,
  rateMax: 1_000_000,
  bitrateMaxKbps: 1_000_000,
});

const CSS = `
.nbrtc-inspector {
  --nbrtc-browser: #1e88e5;
  --nbrtc-kernel: #f4511e;
  --nbrtc-ok: #43a047;
  --nbrtc-pending: #fb8c00;
  --nbrtc-idle: #9e9e9e;
  --nbrtc-bad: #e53935;
  --nbrtc-closed: #546e7a;
  --nbrtc-other: #78909c;
  --nbrtc-border: var(--jp-border-color2, rgba(128, 128, 128, 0.35));
  --nbrtc-muted: var(--jp-ui-font-color2, #888);
  --nbrtc-code: var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, Consolas, monospace);
  --nbrtc-head-bg: var(--jp-layout-color2, rgba(128, 128, 128, 0.12));
  box-sizing: border-box;
  width: 100%;
  max-width: 1000px;
  display: flex;
  flex-direction: column;
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  line-height: 1.35;
  color: var(--jp-ui-font-color1, inherit);
  background: var(--jp-layout-color1, transparent);
  border: 1px solid var(--nbrtc-border);
  border-radius: 4px;
  overflow: hidden;
}
.nbrtc-inspector *, .nbrtc-inspector *::before, .nbrtc-inspector *::after { box-sizing: border-box; }
.nbrtc-inspector [hidden] { display: none !important; }
.nbrtc-insp-header {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 4px 8px;
  padding: 6px 8px;
  border-bottom: 1px solid var(--nbrtc-border);
  background: var(--nbrtc-head-bg);
}
.nbrtc-insp-title { font-weight: 600; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.nbrtc-insp-status {
  flex: none;
  font-size: 10px;
  font-weight: 600;
  letter-spacing: 0.04em;
  text-transform: uppercase;
  padding: 1px 7px;
  border-radius: 9px;
  color: #fff;
  background: var(--nbrtc-idle);
}
.nbrtc-insp-status[data-state="live"] { background: var(--nbrtc-ok); }
.nbrtc-insp-status[data-state="connecting"] { background: var(--nbrtc-pending); }
.nbrtc-insp-status[data-state="error"] { background: var(--nbrtc-bad); }
.nbrtc-insp-status[data-state="closed"], .nbrtc-insp-status[data-state="no-stream"] { background: var(--nbrtc-closed); }
.nbrtc-insp-detail { color: var(--nbrtc-muted); min-width: 0; }
.nbrtc-insp-error, .nbrtc-insp-warning { flex-basis: 100%; color: var(--jp-error-color1, #e53935); }
.nbrtc-insp-warning { color: var(--jp-warn-color1, #fb8c00); }
.nbrtc-insp-error:empty, .nbrtc-insp-warning:empty { display: none; }
.nbrtc-insp-tabs {
  display: flex;
  flex-wrap: wrap;
  gap: 0;
  padding: 0 4px;
  border-bottom: 1px solid var(--nbrtc-border);
}
.nbrtc-insp-tab {
  font: inherit;
  color: var(--nbrtc-muted);
  background: none;
  border: none;
  border-bottom: 2px solid transparent;
  padding: 5px 10px 4px;
  cursor: pointer;
}
.nbrtc-insp-tab:hover { color: var(--jp-ui-font-color0, inherit); }
.nbrtc-insp-tab[aria-selected="true"] {
  color: var(--jp-ui-font-color0, inherit);
  border-bottom-color: var(--jp-brand-color1, var(--nbrtc-browser));
  font-weight: 600;
}
.nbrtc-insp-panels { height: 460px; min-height: 180px; resize: vertical; overflow: hidden; }
.nbrtc-insp-panel { height: 100%; overflow: auto; padding: 8px; }
.nbrtc-insp-panel[data-panel="signaling"] { display: flex; flex-direction: column; gap: 6px; overflow: hidden; }
.nbrtc-empty { color: var(--nbrtc-muted); font-style: italic; padding: 4px 0; }
.nbrtc-toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 12px; }
.nbrtc-toolbar label { display: inline-flex; align-items: center; gap: 4px; cursor: pointer; }
.nbrtc-inspector button:not(.nbrtc-insp-tab) {
  font: inherit;
  font-size: 12px;
  padding: 2px 10px;
  border-radius: 3px;
  border: 1px solid var(--nbrtc-border);
  background: var(--jp-layout-color2, rgba(128, 128, 128, 0.12));
  color: inherit;
  cursor: pointer;
}
.nbrtc-inspector button:disabled, .nbrtc-inspector input:disabled, .nbrtc-inspector select:disabled {
  opacity: 0.5;
  cursor: default;
}
.nbrtc-inspector table { border-collapse: collapse; width: 100%; }
.nbrtc-inspector th {
  text-align: left;
  font-weight: 600;
  color: var(--nbrtc-muted);
  padding: 2px 6px;
  border-bottom: 1px solid var(--nbrtc-border);
  white-space: nowrap;
}
.nbrtc-inspector td { padding: 1px 6px; vertical-align: top; border-bottom: 1px solid rgba(128, 128, 128, 0.12); }
.nbrtc-num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.nbrtc-mono { font-family: var(--nbrtc-code); font-size: var(--jp-code-font-size, 12px); }
.nbrtc-sub { color: var(--nbrtc-muted); font-size: 11px; }

/* charts */
.nbrtc-charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 8px; }
.nbrtc-charts > .nbrtc-empty { grid-column: 1 / -1; }
.nbrtc-chart { border: 1px solid var(--nbrtc-border); border-radius: 3px; padding: 4px 6px; min-width: 0; }
.nbrtc-chart-head { display: flex; justify-content: space-between; gap: 6px; font-weight: 600; font-size: 12px; }
.nbrtc-chart-unit { color: var(--nbrtc-muted); font-weight: 400; }
.nbrtc-chart-svg { display: block; width: 100%; height: auto; overflow: visible; }
.nbrtc-chart-grid { stroke: rgba(128, 128, 128, 0.2); stroke-width: 0.5; }
.nbrtc-chart-axis { stroke: rgba(128, 128, 128, 0.5); stroke-width: 0.75; }
.nbrtc-chart-label { fill: var(--nbrtc-muted); font-size: 9px; font-family: inherit; }
.nbrtc-line { fill: none; stroke-width: 1.5; stroke-linejoin: round; stroke-linecap: round; }
.nbrtc-line[data-side="browser"] { stroke: var(--nbrtc-browser); }
.nbrtc-line[data-side="kernel"] { stroke: var(--nbrtc-kernel); }
.nbrtc-line[data-variant="1"] { stroke-dasharray: 4 3; }
.nbrtc-line[data-variant="2"] { stroke-dasharray: 1 3; }
.nbrtc-chart-legend { display: flex; flex-wrap: wrap; gap: 2px 10px; font-size: 11px; }
.nbrtc-chart-key { display: inline-flex; align-items: center; gap: 4px; white-space: nowrap; }
.nbrtc-chart-swatch { display: inline-block; width: 12px; height: 0; border-top: 2px solid var(--nbrtc-browser); }
.nbrtc-chart-key[data-side="kernel"] .nbrtc-chart-swatch { border-top-color: var(--nbrtc-kernel); }
.nbrtc-chart-key[data-variant="1"] .nbrtc-chart-swatch { border-top-style: dashed; }
.nbrtc-chart-key[data-variant="2"] .nbrtc-chart-swatch { border-top-style: dotted; }
.nbrtc-chart-name { color: var(--nbrtc-muted); }
.nbrtc-chart-value { font-weight: 600; font-variant-numeric: tabular-nums; }

/* signaling */
.nbrtc-log-wrap { flex: 1; min-height: 0; overflow: auto; border: 1px solid var(--nbrtc-border); border-radius: 3px; }
.nbrtc-log thead th { position: sticky; top: 0; background: var(--jp-layout-color2, Canvas); z-index: 1; }
.nbrtc-log-row td { white-space: nowrap; }
.nbrtc-log-row td.nbrtc-log-summary { white-space: normal; word-break: break-word; width: 100%; }
.nbrtc-log-dir { font-size: 11px; }
.nbrtc-log-row[data-dir="in"] .nbrtc-log-dir { color: var(--nbrtc-browser); }
.nbrtc-log-row[data-dir="out"] .nbrtc-log-dir { color: var(--nbrtc-kernel); }
.nbrtc-log-row[data-dir="note"] { color: var(--nbrtc-muted); font-style: italic; }
.nbrtc-log-type { font-weight: 600; }
.nbrtc-log[data-quiet="true"] .nbrtc-log-row[data-type="candidate"],
.nbrtc-log[data-quiet="true"] .nbrtc-log-row[data-type="stats"],
.nbrtc-log[data-quiet="true"] .nbrtc-log-row[data-type="ping"] { display: none; }

/* sdp */
.nbrtc-sdp-summary { margin: 0 0 6px; padding-left: 18px; }
.nbrtc-sdp-legend { display: inline-flex; flex-wrap: wrap; gap: 4px; font-size: 11px; }
.nbrtc-sdp-legend span { padding: 0 5px; border-radius: 2px; }
.nbrtc-sdp-cols { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 8px; margin-top: 6px; }
.nbrtc-sdp { min-width: 0; border: 1px solid var(--nbrtc-border); border-radius: 3px; }
.nbrtc-sdp-head { font-weight: 600; padding: 2px 6px; background: var(--nbrtc-head-bg); border-bottom: 1px solid var(--nbrtc-border); }
.nbrtc-sdp-section {
  font-size: 11px;
  font-weight: 600;
  color: var(--nbrtc-muted);
  padding: 3px 6px 1px;
  border-top: 1px solid var(--nbrtc-border);
}
.nbrtc-sdp-section:first-child { border-top: none; }
.nbrtc-sdp-line { padding: 0 6px 0 4px; border-left: 3px solid transparent; cursor: pointer; }
.nbrtc-sdp-line:hover { background: rgba(128, 128, 128, 0.08); }
.nbrtc-sdp-n { display: inline-block; min-width: 2.2em; color: var(--nbrtc-muted); font-size: 10px; user-select: none; }
.nbrtc-sdp-text { font-family: var(--nbrtc-code); font-size: var(--jp-code-font-size, 12px); white-space: pre-wrap; word-break: break-all; }
.nbrtc-sdp-explain { display: none; margin: 0 0 3px 2.6em; font-size: 11px; color: var(--nbrtc-muted); white-space: normal; }
.nbrtc-sdp-cols[data-expanded="true"] .nbrtc-sdp-explain,
.nbrtc-sdp-line[data-selected="true"] .nbrtc-sdp-explain { display: block; }
.nbrtc-sdp-line[data-selected="true"] { background: rgba(30, 136, 229, 0.14); border-left-color: var(--nbrtc-browser); }
.nbrtc-sdp-line[data-match="true"] { background: rgba(30, 136, 229, 0.08); border-left-color: rgba(30, 136, 229, 0.5); }
.nbrtc-sdp-line[data-status="changed"], .nbrtc-sdp-legend [data-status="changed"] { background: rgba(251, 140, 0, 0.16); }
.nbrtc-sdp-line[data-status="changed"] { border-left-color: var(--nbrtc-pending); }
.nbrtc-sdp-line[data-status="removed"], .nbrtc-sdp-legend [data-status="removed"] { background: rgba(229, 57, 53, 0.12); }
.nbrtc-sdp-line[data-status="removed"] { border-left-color: var(--nbrtc-bad); }
.nbrtc-sdp-line[data-status="removed"] .nbrtc-sdp-text,
.nbrtc-sdp-legend [data-status="removed"] { text-decoration: line-through; text-decoration-color: rgba(229, 57, 53, 0.7); }
.nbrtc-sdp-line[data-status="added"], .nbrtc-sdp-legend [data-status="added"] { background: rgba(67, 160, 71, 0.15); }
.nbrtc-sdp-line[data-status="added"] { border-left-color: var(--nbrtc-ok); }
.nbrtc-sdp-line[data-status="side"] .nbrtc-sdp-text, .nbrtc-sdp-legend [data-status="side"] { color: #6f8fa8; }

/* ice */
.nbrtc-ice { display: grid; grid-template-columns: repeat(auto-fit, minmax(430px, 1fr)); gap: 10px; }
.nbrtc-ice-side { min-width: 0; display: flex; flex-direction: column; gap: 6px; overflow-x: auto; }
.nbrtc-cands td.nbrtc-mono { word-break: break-all; }
.nbrtc-ice-head { font-weight: 600; }
.nbrtc-selected-pair { border: 1px solid var(--nbrtc-border); border-left: 3px solid var(--nbrtc-idle); border-radius: 3px; padding: 4px 6px; }
.nbrtc-selected-pair[data-state="succeeded"], .nbrtc-selected-pair[data-state="connected"],
.nbrtc-selected-pair[data-state="completed"] { border-left-color: var(--nbrtc-ok); }
.nbrtc-selected-pair[data-state="failed"] { border-left-color: var(--nbrtc-bad); }
.nbrtc-pair-ends { font-family: var(--nbrtc-code); font-size: var(--jp-code-font-size, 12px); word-break: break-all; }
.nbrtc-cand[data-selected="true"] { background: rgba(67, 160, 71, 0.16); font-weight: 600; }
.nbrtc-cand[data-selected="true"] td:first-child { box-shadow: inset 3px 0 var(--nbrtc-ok); }
.nbrtc-cand-type { font-weight: 600; }
.nbrtc-cand[data-type="host"] .nbrtc-cand-type { color: var(--nbrtc-browser); }
.nbrtc-cand[data-type="srflx"] .nbrtc-cand-type, .nbrtc-cand[data-type="prflx"] .nbrtc-cand-type { color: var(--nbrtc-ok); }
.nbrtc-cand[data-type="relay"] .nbrtc-cand-type { color: var(--nbrtc-kernel); }

/* states */
.nbrtc-timeline { display: block; width: 100%; height: auto; }
.nbrtc-timeline text { font-family: inherit; font-size: 11px; }
.nbrtc-lane-label { fill: var(--jp-ui-font-color1, currentColor); }
.nbrtc-lane-side { fill: var(--nbrtc-muted); }
.nbrtc-lane-bg { fill: rgba(128, 128, 128, 0.08); }
.nbrtc-seg { stroke: rgba(0, 0, 0, 0.15); stroke-width: 0.5; }
.nbrtc-seg[data-tone="ok"] { fill: var(--nbrtc-ok); }
.nbrtc-seg[data-tone="pending"] { fill: var(--nbrtc-pending); }
.nbrtc-seg[data-tone="idle"] { fill: var(--nbrtc-idle); }
.nbrtc-seg[data-tone="bad"] { fill: var(--nbrtc-bad); }
.nbrtc-seg[data-tone="closed"] { fill: var(--nbrtc-closed); }
.nbrtc-seg[data-tone="other"] { fill: var(--nbrtc-other); }
.nbrtc-seg-label { fill: #fff; font-size: 10px !important; pointer-events: none; }
.nbrtc-axis line { stroke: rgba(128, 128, 128, 0.5); stroke-width: 0.75; }
.nbrtc-axis text { fill: var(--nbrtc-muted); font-size: 10px !important; }
.nbrtc-now { stroke: var(--jp-ui-font-color1, currentColor); stroke-width: 1; stroke-dasharray: 2 2; opacity: 0.6; }
.nbrtc-timeline-legend { display: flex; flex-wrap: wrap; gap: 4px 12px; margin-top: 6px; font-size: 11px; color: var(--nbrtc-muted); }
.nbrtc-timeline-legend span::before { content: ""; display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; background: var(--nbrtc-other); }
.nbrtc-timeline-legend [data-tone="ok"]::before { background: var(--nbrtc-ok); }
.nbrtc-timeline-legend [data-tone="pending"]::before { background: var(--nbrtc-pending); }
.nbrtc-timeline-legend [data-tone="idle"]::before { background: var(--nbrtc-idle); }
.nbrtc-timeline-legend [data-tone="bad"]::before { background: var(--nbrtc-bad); }
.nbrtc-timeline-legend [data-tone="closed"]::before { background: var(--nbrtc-closed); }

/* controls */
.nbrtc-ctl { display: flex; flex-direction: column; gap: 12px; max-width: 760px; }
.nbrtc-ctl fieldset { border: 1px solid var(--nbrtc-border); border-radius: 3px; margin: 0; padding: 6px 10px 8px; }
.nbrtc-ctl legend { font-weight: 600; padding: 0 4px; }
.nbrtc-ctl-row { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 8px 14px; }
.nbrtc-ctl-field { display: flex; flex-direction: column; gap: 2px; }
.nbrtc-ctl-field > label { font-size: 11px; color: var(--nbrtc-muted); }
.nbrtc-ctl input, .nbrtc-ctl select {
  font: inherit;
  width: 9em;
  padding: 2px 4px;
  color: inherit;
  background: var(--jp-input-background, transparent);
  border: 1px solid var(--jp-input-border-color, var(--nbrtc-border));
  border-radius: 2px;
}
.nbrtc-ctl input[aria-invalid="true"] { border-color: var(--nbrtc-bad); }
.nbrtc-ctl-error { color: var(--jp-error-color1, #e53935); font-size: 11px; max-width: 16em; }
.nbrtc-ctl-error:empty { display: none; }
.nbrtc-ctl-buttons { display: flex; gap: 6px; margin-top: 16px; }
.nbrtc-ctl-current, .nbrtc-ctl-help { color: var(--nbrtc-muted); font-size: 11px; margin-top: 4px; }
.nbrtc-ctl-note { color: var(--jp-warn-color1, #fb8c00); }
.nbrtc-ctl-note:empty, .nbrtc-ctl-status:empty { display: none; }
.nbrtc-ctl-status { color: var(--nbrtc-muted); font-size: 11px; }
.nbrtc-ctl-status[data-kind="error"] { color: var(--jp-error-color1, #e53935); }

/* room */
.nbrtc-room { display: flex; flex-direction: column; gap: 8px; }
.nbrtc-room-name { font-weight: 600; }
.nbrtc-room-compare {
  padding: 6px 8px;
  border-radius: 3px;
  border-left: 3px solid var(--nbrtc-ok);
  background: rgba(67, 160, 71, 0.12);
  font-size: 14px;
}
.nbrtc-room-compare b { font-variant-numeric: tabular-nums; }
.nbrtc-room-members { margin: 0; padding-left: 18px; }
.nbrtc-room-members li[data-state="connected"] .nbrtc-room-state,
.nbrtc-room-links tr[data-state="connected"] .nbrtc-room-state { color: var(--nbrtc-ok); }
.nbrtc-room-note { color: var(--nbrtc-muted); }
`;

// ---- pure helpers ----------------------------------------------------------------------

/** @param {unknown} v @returns {v is number} */
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
/** @param {unknown} v @returns {Record<string, any>} */
const obj = (v) => (v && typeof v === "object" && !Array.isArray(v) ? /** @type {any} */ (v) : {});
/** @param {unknown} v @returns {any[]} */
const arr = (v) => (Array.isArray(v) ? v : []);
/** @param {unknown} v */
const str = (v) => (v === null || v === undefined ? "" : String(v));

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
 * Seconds with 3 decimals ("" when missing).
 * @param {unknown} t
 */
export function formatTime(t) {
  return isNum(t) ? t.toFixed(3) : "";
}

/**
 * "address:port" ("[v6]:port" for IPv6).
 * @param {unknown} address
 * @param {unknown} port
 */
export function hostPort(address, port) {
  const a = str(address);
  const p = str(port);
  const host = a.includes(":") && !a.startsWith("[") ? `[${a}]` : a;
  if (!p) return host;
  return `${host}:${p}`;
}

/**
 * A candidate in one line: "host udp 192.168.1.2:54321".
 * @param {any} c
 */
export function describeCandidate(c) {
  if (!c || typeof c !== "object") return str(c) || "—";
  return [str(c.type), str(c.protocol).toLowerCase(), hostPort(c.address, c.port)].filter(Boolean).join(" ");
}

/**
 * Whether two candidates are the same: by id when both have one, else by address, port
 * and protocol.
 * @param {any} a
 * @param {any} b
 */
export function sameCandidate(a, b) {
  if (!a || !b || typeof a !== "object" || typeof b !== "object") return false;
  if (a.id && b.id && a.id === b.id) return true;
  return (
    str(a.address) !== "" &&
    str(a.address).toLowerCase() === str(b.address).toLowerCase() &&
    str(a.port) === str(b.port) &&
    str(a.protocol || "udp").toLowerCase() === str(b.protocol || "udp").toLowerCase()
  );
}

/**
 * A log entry's identity, to tell rows already drawn from new ones.
 * @param {any} e
 */
export function logKey(e) {
  const x = obj(e);
  return `${str(x.t)}|${str(x.dir)}|${str(x.type)}|${str(x.size)}|${str(x.summary)}`;
}

/**
 * How to go from the rows drawn (`oldKeys`) to the new log (`newKeys`) without redrawing:
 * drop the first `drop` rows, then append newKeys from index `from` on. null when the
 * new log is not a continuation (the Inspector switched stream): redraw everything.
 * @param {string[]} oldKeys
 * @param {string[]} newKeys
 * @returns {{drop: number, from: number} | null}
 */
export function planLog(oldKeys, newKeys) {
  if (oldKeys.length === 0) return { drop: 0, from: 0 };
  for (let drop = 0; drop < oldKeys.length; drop++) {
    const kept = oldKeys.length - drop;
    if (kept > newKeys.length || oldKeys[drop] !== newKeys[0]) continue;
    let same = true;
    for (let i = 1; i < kept; i++) {
      if (oldKeys[drop + i] !== newKeys[i]) {
        same = false;
        break;
      }
    }
    if (same) return { drop, from: kept };
  }
  return null;
}

/**
 * A number typed by a person: "" -> null, "1,5" -> 1.5, anything else not a plain
 * decimal number -> NaN.
 * @param {unknown} text
 * @returns {number | null}
 */
export function parseNumber(text) {
  const s = str(text).trim().replace(",", ".");
  if (s === "") return null;
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(s)) return NaN;
  return Number(s);
}

/**
 * Check the network emulation fields (loss in %, delay in ms, rate in kbit/s; rate ""
 * means no limit, loss and delay "" mean 0) against LIMITS.
 * @param {{loss: unknown, delay: unknown, rate: unknown}} fields
 * @returns {{ok: true, args: {loss: number, delay_ms: number, rate_kbps: number | null}}
 *   | {ok: false, errors: Partial<Record<"loss" | "delay" | "rate", string>>}}
 */
export function validateNetwork(fields) {
  /** @type {Partial<Record<"loss" | "delay" | "rate", string>>} */
  const errors = {};
  const loss = parseNumber(fields.loss) ?? 0;
  const delay = parseNumber(fields.delay) ?? 0;
  const rate = parseNumber(fields.rate);
  if (!isNum(loss) || loss < 0 || loss >= LIMITS.lossBelow) {
    errors.loss = "Loss must be a number from 0 to below 100 (%).";
  }
  if (!isNum(delay) || delay < 0 || delay > LIMITS.delayMax) {
    errors.delay = `Delay must be a number from 0 to ${LIMITS.delayMax} ms.`;
  }
  if (rate !== null && (!isNum(rate) || rate < LIMITS.rateMin || rate > LIMITS.rateMax)) {
    errors.rate = `Rate must be a number of kbit/s from ${LIMITS.rateMin} (empty: no limit).`;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return {
    ok: true,
    args: { loss: Number((loss / 100).toFixed(6)), delay_ms: delay, rate_kbps: rate },
  };
}

/**
 * Check the max bitrate field (kbit/s; "" means no cap) and give bits per second.
 * @param {unknown} text
 * @returns {{ok: true, bps: number | null} | {ok: false, error: string}}
 */
export function validateBitrate(text) {
  const kbps = parseNumber(text);
  if (kbps === null) return { ok: true, bps: null };
  if (!isNum(kbps) || kbps <= 0 || kbps > LIMITS.bitrateMaxKbps) {
    return { ok: false, error: "Max bitrate must be a positive number of kbit/s (empty: no cap)." };
  }
  return { ok: true, bps: Math.round(kbps * 1000) };
}

/**
 * The inputs' text for the kernel's current network settings.
 * @param {any} network
 * @returns {{loss: string, delay: string, rate: string}}
 */
export function networkFields(network) {
  const n = obj(network);
  return {
    loss: isNum(n.loss) ? String(Number((n.loss * 100).toFixed(4))) : "",
    delay: isNum(n.delay_ms) ? String(n.delay_ms) : "",
    rate: isNum(n.rate_kbps) ? String(n.rate_kbps) : "",
  };
}

/**
 * The kernel's network emulation in words.
 * @param {any} network
 */
export function describeNetwork(network) {
  const n = obj(network);
  const parts = [];
  if (isNum(n.loss) && n.loss > 0) parts.push(`loss ${formatNumber(n.loss * 100)}%`);
  if (isNum(n.delay_ms) && n.delay_ms > 0) parts.push(`delay ${formatNumber(n.delay_ms)} ms`);
  if (isNum(n.rate_kbps) && n.rate_kbps > 0) parts.push(`rate ${formatNumber(n.rate_kbps)} kbit/s`);
  const dir = n.direction ? ` (${str(n.direction)})` : "";
  return parts.length ? `Now: ${parts.join(", ")}${dir}` : "Now: no network emulation";
}

/**
 * When a member joined: a clock time for epoch seconds (what nbrtc.Room reports), else
 * seconds as given.
 * @param {unknown} since
 */
export function sinceText(since) {
  if (!isNum(since)) return str(since);
  if (since > 1e9) {
    const d = new Date(since * 1000);
    const two = (/** @type {number} */ n) => String(n).padStart(2, "0");
    return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  }
  return `${formatNumber(since)} s`;
}

/** Inject the stylesheet once per page. @param {Document} doc */
function ensureStyle(doc) {
  if (!doc || typeof doc.getElementById !== "function" || doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  (doc.head ?? doc.documentElement).appendChild(style);
}

// ---- the view --------------------------------------------------------------------------

/**
 * Build the Inspector inside `el`.
 * @param {HTMLElement} el
 * @param {{
 *   onControl?: (action: string, args: Record<string, any>) => void,
 *   log?: Pick<Console, "debug" | "warn" | "error">,
 * }} [options] onControl: send a control request (may throw: shown in the panel)
 */
export function createInspectorView(el, { onControl, log = console } = {}) {
  const doc = /** @type {Document} */ (el.ownerDocument ?? globalThis.document);
  ensureStyle(doc);
  const abort = new AbortController();
  let destroyed = false;

  /**
   * @param {EventTarget} target
   * @param {string} type
   * @param {(ev: any) => void} fn
   * @param {AbortSignal} [signal]
   */
  const on = (target, type, fn, signal = abort.signal) =>
    listen(target, type, fn, { signal, isClosed: () => destroyed, log, what: "inspector " });

  /**
   * @param {string} tag
   * @param {string} [className]
   * @param {string} [text]
   * @returns {any}
   */
  const make = (tag, className, text) => {
    const node = doc.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  /** @param {string} text @param {string} [className] */
  const th = (text, className) => make("th", className, text);
  /** @param {string} text @param {string} [className] */
  const td = (text, className) => make("td", className, text);
  /** @param {string} text */
  const empty = (text) => make("div", "nbrtc-empty", text);
  /**
   * @param {string} className
   * @param {string[]} headers
   * @param {string[]} [numeric] headers whose column is numeric
   */
  const makeTable = (className, headers, numeric = []) => {
    const table = make("table", className);
    const thead = make("thead");
    const tr = make("tr");
    for (const h of headers) tr.appendChild(th(h, numeric.includes(h) ? "nbrtc-num" : undefined));
    thead.appendChild(tr);
    const tbody = make("tbody");
    table.append(thead, tbody);
    return { table, tbody };
  };

  // ---- skeleton ------------------------------------------------------------------------
  const root = make("div", "nbrtc-inspector");
  const header = make("div", "nbrtc-insp-header");
  const title = make("span", "nbrtc-insp-title", "Inspector");
  const status = make("span", "nbrtc-insp-status", "new");
  status.dataset.state = "new";
  const detail = make("span", "nbrtc-insp-detail");
  const errorLine = make("div", "nbrtc-insp-error");
  const warningLine = make("div", "nbrtc-insp-warning");
  header.append(status, title, detail, errorLine, warningLine);

  const tabBar = make("div", "nbrtc-insp-tabs");
  tabBar.setAttribute("role", "tablist");
  const panelsBox = make("div", "nbrtc-insp-panels");
  /** @type {Record<string, any>} */
  const tabs = {};
  /** @type {Record<string, any>} */
  const panels = {};
  for (const name of TABS) {
    const button = make("button", "nbrtc-insp-tab", TAB_LABELS[/** @type {keyof typeof TAB_LABELS} */ (name)]);
    button.type = "button";
    button.dataset.tab = name;
    button.setAttribute("role", "tab");
    button.setAttribute("aria-selected", "false");
    tabBar.appendChild(button);
    tabs[name] = button;
    const panel = make("div", "nbrtc-insp-panel");
    panel.dataset.panel = name;
    panel.setAttribute("role", "tabpanel");
    panel.hidden = true;
    panelsBox.appendChild(panel);
    panels[name] = panel;
  }
  tabs.room.hidden = true;
  root.append(header, tabBar, panelsBox);
  el.appendChild(root);

  let current = "";
  /** @param {string} name */
  const showTab = (name) => {
    if (!TABS.includes(name) || tabs[name].hidden) name = "charts";
    if (name === current) return;
    current = name;
    root.dataset.tab = name;
    for (const n of TABS) {
      const active = n === name;
      tabs[n].setAttribute("aria-selected", active ? "true" : "false");
      tabs[n].tabIndex = active ? 0 : -1;
      panels[n].hidden = !active;
    }
    if (name === "signaling") followLog();
  };
  on(tabBar, "click", (ev) => {
    const button = ev.target?.closest?.(".nbrtc-insp-tab");
    if (button?.dataset?.tab) showTab(button.dataset.tab);
  });
  on(tabBar, "keydown", (ev) => {
    if (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") return;
    const visible = TABS.filter((n) => !tabs[n].hidden);
    const i = visible.indexOf(current);
    const next = visible[(i + (ev.key === "ArrowRight" ? 1 : visible.length - 1)) % visible.length];
    showTab(next);
    tabs[next].focus?.();
  });

  // ---- charts --------------------------------------------------------------------------
  const grid = createChartGrid(doc);
  panels.charts.appendChild(grid.el);

  // ---- signaling -----------------------------------------------------------------------
  const logBar = make("div", "nbrtc-toolbar");
  const quietLabel = make("label");
  const quiet = make("input", "nbrtc-log-quiet");
  quiet.type = "checkbox";
  quiet.checked = false;
  quietLabel.append(quiet, make("span", undefined, "Hide candidate / stats / ping messages"));
  const logCount = make("span", "nbrtc-sub nbrtc-log-count", "0 messages");
  logBar.append(quietLabel, logCount);
  const logWrap = make("div", "nbrtc-log-wrap");
  const { table: logTable, tbody: logBody } = makeTable(
    "nbrtc-log",
    ["t (s)", "direction", "type", "bytes", "summary"],
    ["t (s)", "bytes"],
  );
  logTable.dataset.quiet = "false";
  logWrap.appendChild(logTable);
  panels.signaling.append(logBar, logWrap);
  /** @type {string[]} */
  let logKeys = [];
  /** @type {any[]} */
  let logRows = [];
  /** Follow new rows unless the person scrolled up. */
  let stick = true;
  const atBottom = () => logWrap.scrollHeight - logWrap.scrollTop - logWrap.clientHeight <= 8;
  const followLog = () => {
    if (stick) logWrap.scrollTop = logWrap.scrollHeight;
  };
  on(logWrap, "scroll", () => {
    // A hidden panel has no layout: its scroll events say nothing about the person.
    if (!panels.signaling.hidden) stick = atBottom();
  });
  on(quiet, "change", () => {
    logTable.dataset.quiet = quiet.checked ? "true" : "false";
    followLog();
  });

  /** @param {any} entry */
  const logRow = (entry) => {
    const e = obj(entry);
    const dir = ["in", "out", "note"].includes(e.dir) ? e.dir : "note";
    const tr = make("tr", "nbrtc-log-row");
    tr.dataset.dir = dir;
    tr.dataset.type = str(e.type);
    tr.append(
      td(formatTime(e.t), "nbrtc-log-t nbrtc-num"),
      td(DIR_TEXT[/** @type {keyof typeof DIR_TEXT} */ (dir)], "nbrtc-log-dir"),
      td(str(e.type), "nbrtc-log-type"),
      td(isNum(e.size) && e.size > 0 ? String(e.size) : "", "nbrtc-log-size nbrtc-num"),
      td(str(e.summary), "nbrtc-log-summary"),
    );
    return tr;
  };

  /** @param {any} value */
  const setLog = (value) => {
    const list = arr(value);
    const keys = list.map(logKey);
    const plan = planLog(logKeys, keys);
    if (plan === null) {
      logRows = list.map(logRow);
      logBody.replaceChildren(...logRows);
      logKeys = keys;
      stick = true;
    } else {
      for (const row of logRows.slice(0, plan.drop)) row.remove();
      const added = list.slice(plan.from).map(logRow);
      if (added.length) logBody.append(...added);
      logRows = logRows.slice(plan.drop).concat(added);
      logKeys = keys;
    }
    logCount.textContent = `${list.length} message${list.length === 1 ? "" : "s"}`;
    followLog();
  };

  // ---- sdp -----------------------------------------------------------------------------
  const sdpBar = make("div", "nbrtc-toolbar");
  const sdpRound = make("span", "nbrtc-sdp-round", "No negotiation yet");
  const sdpToggle = make("button", "nbrtc-sdp-toggle", "Expand all explanations");
  sdpToggle.type = "button";
  const sdpLegend = make("span", "nbrtc-sdp-legend");
  for (const [s, words] of [
    ["changed", "changed"],
    ["removed", "removed"],
    ["added", "added"],
    ["side", "differs per side"],
  ]) {
    const chip = make("span", undefined, words);
    chip.dataset.status = s;
    sdpLegend.appendChild(chip);
  }
  sdpBar.append(sdpRound, sdpToggle, sdpLegend);
  const sdpSummary = make("ul", "nbrtc-sdp-summary");
  const sdpCols = make("div", "nbrtc-sdp-cols");
  sdpCols.dataset.expanded = "false";
  /** @type {Record<string, any>} */
  const sdpBodies = {};
  for (const side of ["offer", "answer"]) {
    const col = make("div", "nbrtc-sdp");
    col.dataset.side = side;
    const body = make("div", "nbrtc-sdp-body");
    col.append(make("div", "nbrtc-sdp-head", side === "offer" ? "Offer" : "Answer"), body);
    sdpCols.appendChild(col);
    sdpBodies[side] = body;
  }
  panels.sdp.append(sdpBar, sdpSummary, sdpCols);
  let sdpSig = "";
  /** @type {{side: string, n: string} | null} */
  let sdpSelected = null;
  /** @type {any[]} */
  let sdpLineEls = [];
  /** @type {Map<any, string>} each line element's SDP text */
  let sdpText = new Map();

  /** Mark the selected line, and its counterparts in the other column: the lines with
   * the same key in the same section (only the identical one when there is one). */
  const markSdpSelection = () => {
    const sel = sdpSelected;
    const chosen = (sel && sdpLineEls.find((l) => l.dataset.side === sel.side && l.dataset.n === sel.n)) || null;
    /** @type {any[]} */
    let matches = [];
    if (chosen && chosen.dataset.key) {
      matches = sdpLineEls.filter(
        (l) =>
          l.dataset.side !== chosen.dataset.side &&
          l.dataset.key === chosen.dataset.key &&
          l.dataset.section === chosen.dataset.section,
      );
      const text = sdpText.get(chosen);
      const exact = matches.filter((l) => sdpText.get(l) === text);
      if (exact.length) matches = exact;
    }
    for (const line of sdpLineEls) {
      if (line === chosen) line.dataset.selected = "true";
      else delete line.dataset.selected;
      if (matches.includes(line)) line.dataset.match = "true";
      else delete line.dataset.match;
    }
  };

  on(sdpCols, "click", (ev) => {
    const line = ev.target?.closest?.(".nbrtc-sdp-line");
    if (!line) return;
    const same = sdpSelected && sdpSelected.side === line.dataset.side && sdpSelected.n === line.dataset.n;
    sdpSelected = same ? null : { side: line.dataset.side, n: line.dataset.n };
    markSdpSelection();
  });
  on(sdpToggle, "click", () => {
    const expanded = sdpCols.dataset.expanded !== "true";
    sdpCols.dataset.expanded = expanded ? "true" : "false";
    sdpToggle.textContent = expanded ? "Collapse explanations" : "Expand all explanations";
  });

  /** @param {any} value */
  const setSdp = (value) => {
    const s = obj(value);
    const sig = JSON.stringify([s.round ?? null, s.reason ?? null, s.offer ?? null, s.answer ?? null, s.summary ?? null]);
    if (sig === sdpSig) return;
    sdpSig = sig;
    sdpSummary.replaceChildren(...arr(s.summary).map((x) => make("li", undefined, str(x))));
    sdpSummary.hidden = arr(s.summary).length === 0;
    const round = isNum(s.round) ? s.round : 0;
    const negotiated = arr(obj(s.offer).lines).length > 0 || arr(obj(s.answer).lines).length > 0;
    const reason = s.reason ? ` (${str(s.reason)})` : "";
    // Round 0 is the first offer/answer; each renegotiation adds one.
    sdpRound.textContent = !negotiated
      ? "No negotiation yet"
      : round > 0
        ? `Renegotiation ${round}${reason}`
        : `First negotiation${reason}`;
    sdpRound.dataset.round = String(round);
    sdpLineEls = [];
    sdpText = new Map();
    for (const side of ["offer", "answer"]) {
      const lines = arr(obj(s[side]).lines);
      /** @type {any[]} */
      const nodes = [];
      let section = null;
      for (const raw of lines) {
        const l = obj(raw);
        const sec = str(l.section);
        if (sec !== section) {
          section = sec;
          const sep = make("div", "nbrtc-sdp-section", !sec || sec === "session" ? "Session" : `Media section ${sec}`);
          sep.dataset.section = sec;
          nodes.push(sep);
        }
        const line = make("div", "nbrtc-sdp-line");
        line.dataset.side = side;
        line.dataset.n = str(l.n);
        line.dataset.status = str(l.status) || "same";
        line.dataset.section = sec;
        line.dataset.key = str(l.key);
        const explain = str(l.explain);
        if (explain) line.title = explain;
        line.append(make("span", "nbrtc-sdp-n", str(l.n)), make("span", "nbrtc-sdp-text", str(l.line)));
        if (explain) line.appendChild(make("div", "nbrtc-sdp-explain", explain));
        nodes.push(line);
        sdpLineEls.push(line);
        sdpText.set(line, str(l.line));
      }
      if (nodes.length === 0) nodes.push(empty(side === "offer" ? "No offer yet." : "No answer yet."));
      sdpBodies[side].replaceChildren(...nodes);
    }
    markSdpSelection();
  };

  // ---- ice -----------------------------------------------------------------------------
  const ice = make("div", "nbrtc-ice");
  /** @type {Record<string, {pair: any, tbody: any}>} */
  const iceSides = {};
  for (const side of ["browser", "kernel"]) {
    const box = make("div", "nbrtc-ice-side");
    box.dataset.side = side;
    const pair = make("div", "nbrtc-selected-pair");
    pair.dataset.side = side;
    pair.dataset.state = "none";
    const { table, tbody } = makeTable("nbrtc-cands", ["end", "type", "protocol", "address:port", "priority"], ["priority"]);
    table.dataset.side = side;
    box.append(make("div", "nbrtc-ice-head", side === "browser" ? "Browser" : "Kernel (aiortc)"), pair, table);
    ice.appendChild(box);
    iceSides[side] = { pair, tbody };
  }
  panels.ice.appendChild(ice);
  let iceSig = "";

  /**
   * @param {any} pairEl
   * @param {string} side
   * @param {any} sel
   */
  const drawPair = (pairEl, side, sel) => {
    const children = [make("div", "nbrtc-sub", `${side === "browser" ? "Browser" : "Kernel"}: selected candidate pair`)];
    if (!sel || typeof sel !== "object" || (!sel.local && !sel.remote)) {
      pairEl.dataset.state = "none";
      children.push(empty("No pair selected yet."));
      pairEl.replaceChildren(...children);
      return;
    }
    pairEl.dataset.state = str(sel.state) || "unknown";
    const ends = make("div", "nbrtc-pair-ends");
    ends.append(
      make("span", "nbrtc-pair-local", describeCandidate(sel.local)),
      make("span", "nbrtc-sub", " ↔ "),
      make("span", "nbrtc-pair-remote", describeCandidate(sel.remote)),
    );
    const facts = [];
    if (sel.state) facts.push(str(sel.state));
    if (isNum(sel.rtt_ms)) facts.push(`RTT ${formatNumber(sel.rtt_ms)} ms`);
    if (isNum(sel.bytes_sent)) facts.push(`sent ${formatBytes(sel.bytes_sent)}`);
    if (isNum(sel.bytes_received)) facts.push(`received ${formatBytes(sel.bytes_received)}`);
    children.push(ends, make("div", "nbrtc-sub nbrtc-pair-facts", facts.join(" · ")));
    pairEl.replaceChildren(...children);
  };

  /** @param {any} value */
  const setCandidates = (value) => {
    const c = obj(value);
    const sig = JSON.stringify([c.browser ?? null, c.kernel ?? null, c.selected ?? null]);
    if (sig === iceSig) return;
    iceSig = sig;
    const sel = obj(c.selected);
    const b = obj(sel.browser);
    const k = obj(sel.kernel);
    // Each table may list its side's local and remote candidates: a row is in use when
    // it is any end of either side's selected pair.
    const ends = [b.local, b.remote, k.local, k.remote].filter(Boolean);
    for (const side of /** @type {const} */ (["browser", "kernel"])) {
      const { pair, tbody } = iceSides[side];
      drawPair(pair, side, sel[side]);
      const list = arr(c[side]).filter((x) => x && typeof x === "object");
      const rows = list.map((cand) => {
        const tr = make("tr", "nbrtc-cand");
        tr.dataset.type = str(cand.type);
        tr.dataset.end = str(cand.side);
        tr.dataset.selected = ends.some((e) => sameCandidate(e, cand)) ? "true" : "false";
        const addr = td("", "nbrtc-mono");
        addr.appendChild(make("span", undefined, hostPort(cand.address, cand.port)));
        if (cand.related_address) {
          addr.appendChild(make("span", "nbrtc-sub", ` from ${hostPort(cand.related_address, cand.related_port)}`));
        }
        tr.append(
          td(str(cand.side), "nbrtc-sub"),
          td(str(cand.type), "nbrtc-cand-type"),
          td(str(cand.protocol).toLowerCase()),
          addr,
          td(isNum(cand.priority) ? String(cand.priority) : str(cand.priority), "nbrtc-num"),
        );
        return tr;
      });
      if (rows.length === 0) {
        const tr = make("tr", "nbrtc-cand-none");
        const cell = td("No candidates yet.", "nbrtc-empty");
        cell.setAttribute("colspan", "5");
        tr.appendChild(cell);
        rows.push(tr);
      }
      tbody.replaceChildren(...rows);
    }
  };

  // ---- states --------------------------------------------------------------------------
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
  panels.states.append(timelineBox, legend);
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

  // ---- controls ------------------------------------------------------------------------
  const ctl = make("div", "nbrtc-ctl");
  const ctlNote = make("div", "nbrtc-ctl-note");
  const ctlStatus = make("div", "nbrtc-ctl-status");
  /** @type {Record<string, any>} */
  const errs = {};
  /**
   * @param {string} key
   * @param {string} labelText
   * @param {string} cls
   * @param {string} placeholder
   */
  const field = (key, labelText, cls, placeholder) => {
    const box = make("div", "nbrtc-ctl-field");
    const input = make("input", cls);
    input.type = "text";
    input.setAttribute("inputmode", "decimal");
    input.placeholder = placeholder;
    input.value = "";
    input.dataset.dirty = "false";
    const label = make("label", undefined, labelText);
    const err = make("div", "nbrtc-ctl-error");
    err.dataset.for = key;
    errs[key] = err;
    box.append(label, input, err);
    on(input, "input", () => {
      input.dataset.dirty = "true";
      setError(key, "");
    });
    return { box, input };
  };
  /**
   * @param {string} key
   * @param {string} message
   */
  const setError = (key, message) => {
    errs[key].textContent = message;
    const input = { loss: lossIn, delay: delayIn, rate: rateIn, max_bitrate: bitrateIn }[key];
    input?.setAttribute("aria-invalid", message ? "true" : "false");
  };

  const netSet = make("fieldset");
  netSet.appendChild(make("legend", undefined, "Network emulation (kernel side)"));
  const netRow = make("div", "nbrtc-ctl-row");
  const { box: lossBox, input: lossIn } = field("loss", "Packet loss (%)", "nbrtc-ctl-loss", "0");
  const { box: delayBox, input: delayIn } = field("delay", "Delay (ms)", "nbrtc-ctl-delay", "0");
  const { box: rateBox, input: rateIn } = field("rate", "Rate (kbit/s)", "nbrtc-ctl-rate", "no limit");
  const netButtons = make("div", "nbrtc-ctl-buttons");
  const applyBtn = make("button", "nbrtc-ctl-apply", "Apply");
  applyBtn.type = "button";
  const clearBtn = make("button", "nbrtc-ctl-clear", "Clear");
  clearBtn.type = "button";
  netButtons.append(applyBtn, clearBtn);
  netRow.append(lossBox, delayBox, rateBox, netButtons);
  const netCurrent = make("div", "nbrtc-ctl-current", describeNetwork(null));
  netSet.append(netRow, netCurrent);

  const mediaSet = make("fieldset");
  mediaSet.appendChild(make("legend", undefined, "Media"));
  const mediaRow = make("div", "nbrtc-ctl-row");
  const codecBox = make("div", "nbrtc-ctl-field");
  const codecSel = make("select", "nbrtc-ctl-codec");
  codecBox.append(make("label", undefined, "Video codec"), codecSel);
  const { box: bitrateBox, input: bitrateIn } = field(
    "max_bitrate",
    "Max bitrate (kbit/s)",
    "nbrtc-ctl-maxbitrate",
    "no cap",
  );
  const bitrateButtons = make("div", "nbrtc-ctl-buttons");
  const bitrateBtn = make("button", "nbrtc-ctl-bitrate", "Set");
  bitrateBtn.type = "button";
  bitrateButtons.appendChild(bitrateBtn);
  const restartButtons = make("div", "nbrtc-ctl-buttons");
  const restartBtn = make("button", "nbrtc-ctl-restart", "Restart ICE");
  restartBtn.type = "button";
  restartButtons.appendChild(restartBtn);
  mediaRow.append(codecBox, bitrateBox, bitrateButtons, restartButtons);
  mediaSet.append(mediaRow);
  ctl.append(ctlNote, netSet, mediaSet, ctlStatus);
  panels.controls.appendChild(ctl);

  let codecsSig = "";
  let controlsEnabled = false;
  let canRestart = false;

  /**
   * @param {string} action
   * @param {Record<string, any>} args
   * @param {string} words
   */
  const request = (action, args, words) => {
    if (!controlsEnabled) return false;
    try {
      if (!onControl) throw new Error("no connection to the kernel");
      onControl(action, args);
    } catch (err) {
      ctlStatus.dataset.kind = "error";
      ctlStatus.textContent = `Could not send ${action}: ${/** @type {any} */ (err)?.message ?? err}`;
      return false;
    }
    ctlStatus.dataset.kind = "info";
    ctlStatus.textContent = `Requested: ${words}`;
    return true;
  };

  const applyNetwork = () => {
    const result = validateNetwork({ loss: lossIn.value, delay: delayIn.value, rate: rateIn.value });
    for (const key of ["loss", "delay", "rate"]) {
      setError(key, result.ok ? "" : (result.errors[/** @type {"loss"} */ (key)] ?? ""));
    }
    if (!result.ok) return;
    const a = result.args;
    const words = `loss ${formatNumber(a.loss * 100)}%, delay ${formatNumber(a.delay_ms)} ms, rate ${
      a.rate_kbps === null ? "unlimited" : `${formatNumber(a.rate_kbps)} kbit/s`
    }`;
    if (request("set_network", a, words)) {
      for (const input of [lossIn, delayIn, rateIn]) input.dataset.dirty = "false";
    }
  };
  /** @param {number} bps */
  const kbpsText = (bps) => `${formatNumber(bps / 1000)} kbit/s`;
  const setBitrate = () => {
    const result = validateBitrate(bitrateIn.value);
    setError("max_bitrate", result.ok ? "" : result.error);
    if (!result.ok) return;
    const words = result.bps === null ? "no bitrate cap" : `max bitrate ${kbpsText(result.bps)}`;
    if (request("set_max_bitrate", { bps: result.bps }, words)) bitrateIn.dataset.dirty = "false";
  };

  on(applyBtn, "click", applyNetwork);
  on(clearBtn, "click", () => {
    for (const key of ["loss", "delay", "rate"]) setError(key, "");
    if (request("clear_network", {}, "no network emulation")) {
      for (const input of [lossIn, delayIn, rateIn]) {
        input.value = "";
        input.dataset.dirty = "false";
      }
    }
  });
  on(bitrateBtn, "click", setBitrate);
  on(restartBtn, "click", () => {
    if (canRestart) request("restart_ice", {}, "ICE restart");
  });
  on(codecSel, "change", () => {
    const codec = str(codecSel.value);
    request("set_codec", { codec }, codec ? `codec ${codec}` : "the browser's default codec");
  });
  for (const input of [lossIn, delayIn, rateIn]) {
    on(input, "keydown", (ev) => {
      if (ev.key === "Enter" && !ev.isComposing) applyNetwork();
    });
  }
  on(bitrateIn, "keydown", (ev) => {
    if (ev.key === "Enter" && !ev.isComposing) setBitrate();
  });

  /** @param {any} value */
  const setControls = (value) => {
    const c = obj(value);
    controlsEnabled = c.enabled === true;
    canRestart = c.can_restart_ice === true;
    ctlNote.textContent = controlsEnabled ? "" : "Controls are unavailable: the stream is not live or the kernel cannot change it.";
    for (const node of [lossIn, delayIn, rateIn, applyBtn, clearBtn, codecSel, bitrateIn, bitrateBtn]) {
      node.disabled = !controlsEnabled;
    }
    restartBtn.disabled = !(controlsEnabled && canRestart);
    restartBtn.title = canRestart ? "Ask for a new ICE negotiation (new candidates, same stream)" : "ICE restart is not available for this stream";
    // Fields the person is editing keep their text.
    const fields = networkFields(c.network);
    for (const [input, text] of /** @type {[any, string][]} */ ([
      [lossIn, fields.loss],
      [delayIn, fields.delay],
      [rateIn, fields.rate],
    ])) {
      if (input.dataset.dirty !== "true") input.value = text;
    }
    netCurrent.textContent = describeNetwork(c.network);
    if (bitrateIn.dataset.dirty !== "true") {
      bitrateIn.value = isNum(c.max_bitrate) ? String(Number((c.max_bitrate / 1000).toFixed(3))) : "";
    }
    const codecs = arr(c.codecs).map(str).filter(Boolean);
    const codec = str(c.codec);
    if (codec && !codecs.includes(codec)) codecs.push(codec);
    const sig = JSON.stringify(codecs);
    if (sig !== codecsSig) {
      codecsSig = sig;
      const options = [["", "browser default"], ...codecs.map((x) => [x, x])].map(([v, text]) => {
        const opt = make("option", undefined, text);
        opt.value = v;
        return opt;
      });
      codecSel.replaceChildren(...options);
    }
    codecSel.value = codec;
  };

  // ---- room ----------------------------------------------------------------------------
  const roomBox = make("div", "nbrtc-room");
  panels.room.appendChild(roomBox);
  let roomSig = "";

  /** @param {any} end a candidate, an address string or null */
  const describeEnd = (end) => (end && typeof end === "object" ? describeCandidate(end) : str(end) || "—");

  /** @param {any} value */
  const setRoom = (value) => {
    const isRoom = value !== null && value !== undefined && typeof value === "object";
    tabs.room.hidden = !isRoom;
    if (!isRoom && current === "room") showTab("charts");
    const sig = JSON.stringify(value ?? null);
    if (sig === roomSig) return;
    roomSig = sig;
    if (!isRoom) {
      roomBox.replaceChildren(empty("Not a room."));
      return;
    }
    const r = obj(value);
    const members = arr(r.members).filter((m) => m && typeof m === "object");
    const links = arr(r.links).filter((l) => l && typeof l === "object");
    const relayed = isNum(r.kernel_relayed_bytes) ? r.kernel_relayed_bytes : 0;
    const media = links.reduce((sum, l) => sum + (isNum(l.bytes) ? l.bytes : 0), 0);
    const kernelMedia = isNum(r.kernel_media_bytes) ? r.kernel_media_bytes : 0;

    const compare = make("div", "nbrtc-room-compare");
    compare.dataset.relayed = String(relayed);
    compare.dataset.media = String(media);
    compare.append(
      make("span", undefined, "The kernel relayed "),
      make("b", "nbrtc-room-relayed", formatBytes(relayed)),
      make("span", undefined, " of signaling; the browsers sent each other "),
      make("b", "nbrtc-room-media", formatBytes(media)),
      make("span", undefined, ` of media directly (media through the kernel: ${formatBytes(kernelMedia)}).`),
    );

    const memberList = make("ul", "nbrtc-room-members");
    for (const m of members) {
      const li = make("li");
      li.dataset.id = str(m.id);
      li.dataset.state = str(m.state);
      li.append(
        make("span", "nbrtc-mono", str(m.id)),
        make("span", "nbrtc-sub", m.page ? ` page ${str(m.page)}` : ""),
        make("span", "nbrtc-sub", m.since ? ` since ${sinceText(m.since)}` : ""),
        make("span", undefined, " · "),
        make("span", "nbrtc-room-state", str(m.state)),
      );
      memberList.appendChild(li);
    }
    const { table, tbody } = makeTable("nbrtc-room-links", ["peers", "state", "selected pair", "media bytes"], ["media bytes"]);
    for (const l of links) {
      const tr = make("tr");
      tr.dataset.a = str(l.a);
      tr.dataset.b = str(l.b);
      tr.dataset.state = str(l.state);
      const sel = l.selected && typeof l.selected === "object" ? l.selected : null;
      tr.append(
        td(`${str(l.a)} ↔ ${str(l.b)}`, "nbrtc-mono"),
        td(str(l.state), "nbrtc-room-state"),
        td(sel ? `${describeEnd(sel.local)} ↔ ${describeEnd(sel.remote)}` : "—", "nbrtc-mono"),
        td(isNum(l.bytes) ? formatBytes(l.bytes) : "—", "nbrtc-num"),
      );
      tbody.appendChild(tr);
    }
    const children = [
      make("div", "nbrtc-room-name", `Room ${str(r.name)}`.trim()),
      compare,
      make("div", "nbrtc-ice-head", `Members (${members.length})`),
      members.length ? memberList : empty("No members yet."),
      make("div", "nbrtc-ice-head", `Links (${links.length})`),
      links.length ? table : empty("No links yet."),
    ];
    const note = make("div", "nbrtc-room-note", str(r.note));
    children.push(note);
    roomBox.replaceChildren(...children);
  };

  // ---- header --------------------------------------------------------------------------
  /** @param {any} value */
  const setStatus = (value) => {
    const s = obj(value);
    const state = str(s.state) || "new";
    status.dataset.state = state;
    status.dataset.kind = str(s.kind);
    status.dataset.transport = str(s.transport);
    // the path in words next to the state: "live · via TURN relay"
    const via = { direct: "direct", relay: "via TURN relay", comm: "via the notebook connection" };
    const path = Object.hasOwn(via, str(s.transport)) ? via[/** @type {keyof typeof via} */ (str(s.transport))] : "";
    status.textContent = path ? `${state} · ${path}` : state;
    detail.textContent = str(s.detail);
  };

  /** @type {Record<string, (value: any) => void>} */
  const setters = {
    title: (v) => {
      title.textContent = str(v) || "Inspector";
      title.title = str(v);
    },
    status: setStatus,
    log: setLog,
    sdp: setSdp,
    candidates: setCandidates,
    timeline: setTimeline,
    charts: (v) => grid.update(v),
    controls: setControls,
    room: setRoom,
    error: (v) => {
      errorLine.textContent = str(v);
    },
  };

  // First paint: every part shows its empty state.
  for (const name of TRAITS) setters[name](name === "room" ? null : undefined);
  showTab("charts");

  return {
    root,
    /**
     * Draw one trait's new value. A malformed value is logged, and the rest goes on.
     * @param {string} name
     * @param {any} value
     */
    set(name, value) {
      if (destroyed || !Object.hasOwn(setters, name)) return;
      try {
        setters[name](value);
      } catch (err) {
        log.error(`[nbrtc] inspector could not draw ${name}`, err);
      }
    },
    /** @param {string} name */
    showTab,
    /** The tab shown. */
    tab: () => current,
    /** @param {string} message e.g. a version mismatch ("" clears it) */
    setWarning(message) {
      warningLine.textContent = str(message);
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      abort.abort();
      root.remove();
    },
  };
}

