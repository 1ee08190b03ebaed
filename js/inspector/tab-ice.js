// The ICE tab: per side (browser, kernel) the selected candidate pair and every
// candidate, the ones in use marked. Trait `candidates`: {browser: [...], kernel: [...],
// selected: {browser: pair, kernel: pair}}.

import { formatBytes, formatNumber } from "./charts.js";
import { elements } from "./tab.js";
import { arr, isNum, obj, str } from "./values.js";

export const LABEL = "ICE";
/** The trait this tab draws. */
export const TRAIT = "candidates";

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
 * Build the candidate tables inside `el` (its panel).
 * @type {import("./tab.js").MountTab}
 */
export function mount(el, ctx) {
  const { doc } = ctx;
  const { make, td, empty, makeTable } = elements(doc);

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
  el.appendChild(ice);
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

  return {
    update: setCandidates,
    destroy() {
      el.replaceChildren();
    },
  };
}
