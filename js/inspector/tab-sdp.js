// The SDP tab: the offer and the answer side by side, line by line, each line with its
// plain-words explanation (on click, or all at once), what changed since the previous
// round marked, and a line's counterpart in the other column highlighted. Trait `sdp`:
// {round, reason, summary, offer: {lines}, answer: {lines}}, computed by the kernel.

import { elements, tabListeners } from "./tab.js";
import { arr, isNum, obj, str } from "./values.js";

export const LABEL = "SDP";
/** The trait this tab draws. */
export const TRAIT = "sdp";

/**
 * A column's title: which description, and which side wrote it.
 * @param {string} side "offer" | "answer"
 * @param {string} offerer "browser" | "kernel" (nbrtc.config.kernel_offer)
 * @returns {string}
 */
function sideTitle(side, offerer) {
  const writer = (side === "offer") === (offerer === "kernel") ? "kernel" : "browser";
  return `${side === "offer" ? "Offer" : "Answer"} (${writer})`;
}

/**
 * Build the offer/answer view inside `el` (its panel).
 * @type {import("./tab.js").MountTab}
 */
export function mount(el, ctx) {
  const { doc } = ctx;
  const { make, empty } = elements(doc);
  const { on, stop } = tabListeners(ctx);

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
  /** @type {Record<string, any>} */
  const sdpHeads = {};
  for (const side of ["offer", "answer"]) {
    const col = make("div", "nbrtc-sdp");
    col.dataset.side = side;
    const body = make("div", "nbrtc-sdp-body");
    const head = make("div", "nbrtc-sdp-head", sideTitle(side, "browser"));
    col.append(head, body);
    sdpCols.appendChild(col);
    sdpBodies[side] = body;
    sdpHeads[side] = head;
  }
  el.append(sdpBar, sdpSummary, sdpCols);
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
    const sig = JSON.stringify([s.round ?? null, s.reason ?? null, s.offerer ?? null, s.offer ?? null, s.answer ?? null, s.summary ?? null]);
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
    const offerer = s.offerer === "kernel" ? "kernel" : "browser";
    for (const side of ["offer", "answer"]) sdpHeads[side].textContent = sideTitle(side, offerer);
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

  return {
    update: setSdp,
    destroy() {
      stop();
      el.replaceChildren();
    },
  };
}
