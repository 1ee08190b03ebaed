// The Signaling tab: every message between the page and the kernel for this stream, in
// order, with a box that hides the chatter (candidates, stats, pings). Trait `log`: the
// kernel's list of {t, dir, type, size, summary}; new entries are appended, not redrawn
// (planLog), and the table follows the newest row unless the person scrolled up.

import { elements, tabListeners } from "./tab.js";
import { arr, isNum, obj, str } from "./values.js";

export const LABEL = "Signaling";
/** The trait this tab draws. */
export const TRAIT = "log";

/** Log message types the "hide chatter" box hides. */
export const CHATTER = Object.freeze(["candidate", "stats", "ping"]);
/** The direction column's words for each entry's `dir`. */
export const DIR_TEXT = Object.freeze({ in: "browser → kernel", out: "kernel → browser", note: "note" });

/**
 * Seconds with 3 decimals ("" when missing).
 * @param {unknown} t
 */
export function formatTime(t) {
  return isNum(t) ? t.toFixed(3) : "";
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
 * Build the signaling log inside `el` (its panel).
 * @type {import("./tab.js").MountTab}
 */
export function mount(el, ctx) {
  const { doc } = ctx;
  const { make, td, makeTable } = elements(doc);
  const { on, stop } = tabListeners(ctx);

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
  el.append(logBar, logWrap);
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
    if (!el.hidden) stick = atBottom();
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

  return {
    update: setLog,
    /** Scroll to the newest row (unless the person scrolled up). */
    show: followLog,
    destroy() {
      stop();
      el.replaceChildren();
    },
  };
}
