// The Inspector's shell: a developer-tool panel showing both sides of one WebRTC
// connection (the browser's and the kernel's), from traits the Python side computes.
// This module draws the header (title, status, error, warning) and the tab bar, and
// mounts one module per tab (tab-*.js, each `mount(el, ctx) -> {update, show?, destroy}`,
// see tab.js) into its panel; it hands each tab its trait's new values, on hidden tabs
// too. Nothing here talks to the kernel except through `onControl` (the controls tab's
// requests); there is no peer connection. The document is the one `el` belongs to, so
// node tests can hand in a fake DOM. The look is in inspector.css (bundled into
// static/inspector.css, anywidget's `_css`): nothing here injects a style.
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

import { listen } from "../core/listen.js";
import * as charts from "./tab-charts.js";
import * as controls from "./tab-controls.js";
import * as ice from "./tab-ice.js";
import * as room from "./tab-room.js";
import * as sdp from "./tab-sdp.js";
import * as signaling from "./tab-signaling.js";
import * as states from "./tab-states.js";
import { obj, str } from "./values.js";

/** The tab modules, in tab bar order. */
const TAB_MODULES = Object.freeze({ charts, signaling, sdp, ice, states, controls, room });
export const TABS = Object.freeze(/** @type {(keyof typeof TAB_MODULES)[]} */ (Object.keys(TAB_MODULES)));
/** The traits the view draws (inspector.js listens to each): the header's, then the tabs'. */
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
  const abort = new AbortController();
  let destroyed = false;

  /**
   * @param {EventTarget} target
   * @param {string} type
   * @param {(ev: any) => void} fn
   */
  const on = (target, type, fn) =>
    listen(target, type, fn, { signal: abort.signal, isClosed: () => destroyed, log, what: "inspector " });

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

  // ---- header --------------------------------------------------------------------------
  const root = make("div", "nbrtc-inspector");
  const header = make("div", "nbrtc-insp-header");
  const title = make("span", "nbrtc-insp-title", "Inspector");
  const status = make("span", "nbrtc-insp-status", "new");
  status.dataset.state = "new";
  const detail = make("span", "nbrtc-insp-detail");
  const errorLine = make("div", "nbrtc-insp-error");
  const warningLine = make("div", "nbrtc-insp-warning");
  header.append(status, title, detail, errorLine, warningLine);

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

  // ---- tab bar and panels --------------------------------------------------------------
  const tabBar = make("div", "nbrtc-insp-tabs");
  tabBar.setAttribute("role", "tablist");
  const panelsBox = make("div", "nbrtc-insp-panels");
  /** @type {Record<string, any>} */
  const tabs = {};
  /** @type {Record<string, any>} */
  const panels = {};
  for (const name of TABS) {
    const button = make("button", "nbrtc-insp-tab", TAB_MODULES[name].LABEL);
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

  /** @type {import("./tab.js").TabContext} */
  const ctx = { doc, log, isClosed: () => destroyed, onControl };
  /** @type {Record<string, import("./tab.js").Tab>} */
  const mounted = {};
  for (const name of TABS) mounted[name] = TAB_MODULES[name].mount(panels[name], ctx);

  let current = "";
  /** @param {string} name */
  const showTab = (name) => {
    if (!(/** @type {string[]} */ (TABS).includes(name)) || tabs[name].hidden) name = "charts";
    if (name === current) return;
    current = name;
    root.dataset.tab = name;
    for (const n of TABS) {
      const active = n === name;
      tabs[n].setAttribute("aria-selected", active ? "true" : "false");
      tabs[n].tabIndex = active ? 0 : -1;
      panels[n].hidden = !active;
    }
    mounted[name].show?.();
  };
  on(tabBar, "click", (ev) => {
    const button = ev.target?.closest?.(".nbrtc-insp-tab");
    if (button?.dataset?.tab) showTab(button.dataset.tab);
  });
  on(tabBar, "keydown", (ev) => {
    if (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") return;
    const visible = TABS.filter((n) => !tabs[n].hidden);
    const i = visible.indexOf(/** @type {any} */ (current));
    const next = visible[(i + (ev.key === "ArrowRight" ? 1 : visible.length - 1)) % visible.length];
    showTab(next);
    tabs[next].focus?.();
  });

  /** @type {Record<string, (value: any) => void>} each trait's drawing */
  const setters = {
    title: (v) => {
      title.textContent = str(v) || "Inspector";
      title.title = str(v);
    },
    status: setStatus,
    error: (v) => {
      errorLine.textContent = str(v);
    },
  };
  for (const name of TABS) {
    const tab = mounted[name];
    setters[TAB_MODULES[name].TRAIT] = (v) => tab.update(v);
  }
  // The Room tab is there only while the Inspector watches a room.
  setters.room = (v) => {
    const isRoom = room.isRoomValue(v);
    tabs.room.hidden = !isRoom;
    if (!isRoom && current === "room") showTab("charts");
    mounted.room.update(v);
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
    /** Remove every tab (each one's listeners and DOM), the shell's listeners and the root. Idempotent. */
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const name of TABS) {
        try {
          mounted[name].destroy();
        } catch (err) {
          log.error(`[nbrtc] inspector could not remove the ${name} tab`, err);
        }
      }
      abort.abort();
      root.remove();
    },
  };
}
