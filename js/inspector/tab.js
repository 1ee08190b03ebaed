// What an Inspector tab is, and the small DOM kit every tab builds with.
//
// A tab module (tab-*.js) exports LABEL (the tab's button text), TRAIT (the synced trait
// it draws) and mount(el, ctx). The shell (inspector-view.js) mounts every tab once into
// its panel, calls update(value) with each new value of TRAIT (on hidden tabs too, so a
// tab is up to date the moment it is shown), show() when the tab becomes the visible one,
// and destroy() once when the Inspector goes away.

import { listen } from "../core/listen.js";

/**
 * @typedef {{
 *   doc: Document,
 *   log: Pick<Console, "debug" | "warn" | "error">,
 *   isClosed: () => boolean,
 *   onControl?: (action: string, args: Record<string, any>) => void,
 * }} TabContext
 *   doc: the document to build in (a fake one in node tests); isClosed: the Inspector
 *   was destroyed (listeners stop); onControl: send a control request to the kernel
 *   (may throw; only the controls tab uses it)
 *
 * @typedef {{
 *   update: (value: any) => void,
 *   show?: () => void,
 *   destroy: () => void,
 * }} Tab
 *   update: draw the trait's new value (may throw on a malformed one: the shell logs it
 *   and goes on); show: the tab became visible; destroy: remove the tab's listeners and
 *   DOM (called once)
 *
 * @typedef {(el: HTMLElement, ctx: TabContext) => Tab} MountTab
 */

/**
 * The listeners of one tab: `on` adds one (removed by `stop`, skipped once the Inspector
 * is closed, a throwing handler logged, see core/listen.js).
 * @param {TabContext} ctx
 */
export function tabListeners(ctx) {
  const abort = new AbortController();
  return {
    /**
     * @param {EventTarget} target
     * @param {string} type
     * @param {(ev: any) => void} fn
     */
    on: (target, type, fn) =>
      listen(target, type, fn, { signal: abort.signal, isClosed: ctx.isClosed, log: ctx.log, what: "inspector " }),
    stop: () => abort.abort(),
  };
}

/**
 * Element builders bound to one document.
 * @param {Document} doc
 */
export function elements(doc) {
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
  /** @param {string} text the "nothing here yet" line */
  const empty = (text) => make("div", "nbrtc-empty", text);
  /**
   * A table with a header row and an empty body.
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
  return { make, th, td, empty, makeTable };
}
