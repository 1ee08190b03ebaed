import assert from "node:assert/strict";
import { setMaxListeners } from "node:events";
import { describe, test } from "node:test";
import inspector, { BUNDLE_VERSION } from "../inspector.js";
import { TABS, TRAITS, createInspectorView } from "../inspector/inspector-view.js";
import * as tabCharts from "../inspector/tab-charts.js";
import * as tabControls from "../inspector/tab-controls.js";
import * as tabIce from "../inspector/tab-ice.js";
import * as tabRoom from "../inspector/tab-room.js";
import * as tabSdp from "../inspector/tab-sdp.js";
import * as tabSignaling from "../inspector/tab-signaling.js";
import * as tabStates from "../inspector/tab-states.js";
import { parseNumber, validateBitrate, validateNetwork } from "../inspector/tab-controls.js";
import { hostPort, sameCandidate } from "../inspector/tab-ice.js";
import { sinceText } from "../inspector/tab-room.js";
import { planLog } from "../inspector/tab-signaling.js";
import { stateTone } from "../inspector/tab-states.js";
import { CountingTarget, FakeModel, quietLog } from "./fakes.js";

// The view hangs ~20 DOM listeners on one AbortSignal (CountingTarget adds an abort
// listener for each): fine in a browser, but node warns past 10.
setMaxListeners(100);

// ---- a small DOM with tables, SVG, selectors and bubbling ------------------------------
// fakes.js's FakeDocument has no createElementNS, attributes-as-data or selectors; the
// Inspector needs those, so it gets its own (listeners still counted by CountingTarget).

/** @param {string} s */
const camel = (s) => s.replace(/-([a-z])/g, (_, c) => c.toUpperCase());

class Elem extends CountingTarget {
  /**
   * @param {MiniDocument} doc
   * @param {string} tag
   * @param {string | null} ns
   */
  constructor(doc, tag, ns = null) {
    super();
    this.ownerDocument = doc;
    this.localName = tag;
    this.namespaceURI = ns;
    this.tagName = ns ? tag : tag.toUpperCase();
    /** @type {Elem[]} */
    this.children = [];
    /** @type {Elem | null} */
    this.parentNode = null;
    /** @type {Record<string, string>} */
    this.dataset = {};
    /** @type {Map<string, string>} */
    this.attrs = new Map();
    this._class = "";
    this.id = "";
    this.textContent = "";
    this.hidden = false;
    this.disabled = false;
    this.value = "";
    this.checked = false;
    this.title = "";
    this.scrollTop = 0;
    this.scrollHeight = 0;
    this.clientHeight = 0;
    this.focused = 0;
  }
  get className() {
    return this._class;
  }
  set className(v) {
    if (this.namespaceURI) throw new Error("SVG className is not a string: use setAttribute('class')");
    this._class = String(v);
  }
  get classList() {
    const tokens = this._class.split(/\s+/).filter(Boolean);
    return { contains: (/** @type {string} */ c) => tokens.includes(c) };
  }
  /** @param {Elem} child */
  appendChild(child) {
    if (child.parentNode) child.remove();
    child.parentNode = this;
    this.children.push(child);
    return child;
  }
  /** @param {...Elem} cs */
  append(...cs) {
    for (const c of cs) this.appendChild(c);
  }
  /** @param {...Elem} cs */
  replaceChildren(...cs) {
    for (const c of this.children) c.parentNode = null;
    this.children = [];
    this.append(...cs);
  }
  remove() {
    if (!this.parentNode) return;
    const list = this.parentNode.children;
    list.splice(list.indexOf(this), 1);
    this.parentNode = null;
  }
  /** @param {string} name @param {unknown} value */
  setAttribute(name, value) {
    const v = String(value);
    if (name === "class") this._class = v;
    else if (name.startsWith("data-")) this.dataset[camel(name.slice(5))] = v;
    else this.attrs.set(name, v);
  }
  /** @param {string} name */
  getAttribute(name) {
    if (name === "class") return this._class;
    if (name.startsWith("data-")) return this.dataset[camel(name.slice(5))] ?? null;
    return this.attrs.get(name) ?? null;
  }
  /** @param {string} name */
  removeAttribute(name) {
    if (name.startsWith("data-")) delete this.dataset[camel(name.slice(5))];
    else this.attrs.delete(name);
  }
  focus() {
    this.focused += 1;
  }
  /** @param {string} sel */
  closest(sel) {
    for (let n = /** @type {Elem | null} */ (this); n; n = n.parentNode) if (matches(n, sel)) return n;
    return null;
  }
  /** @param {string} sel */
  querySelectorAll(sel) {
    /** @type {Elem[]} */
    const out = [];
    const walk = (/** @type {Elem} */ el) => {
      for (const c of el.children) {
        if (matches(c, sel)) out.push(c);
        walk(c);
      }
    };
    walk(this);
    return out;
  }
  /** @param {string} sel */
  querySelector(sel) {
    return this.querySelectorAll(sel)[0] ?? null;
  }
  /** All text below, like the DOM's textContent getter on a parent. */
  get text() {
    return this.textContent + this.children.map((c) => c.text).join("");
  }
  /** Whether this element or an ancestor is hidden. */
  get isHidden() {
    for (let n = /** @type {Elem | null} */ (this); n; n = n.parentNode) if (n.hidden) return true;
    return false;
  }
}

/**
 * Does `el` match a selector of compounds (tag.class[attr=value]) joined by spaces
 * (descendant)?
 * @param {Elem} el
 * @param {string} sel
 */
function matches(el, sel) {
  const parts = sel.trim().split(/\s+/);
  if (!matchCompound(el, parts[parts.length - 1])) return false;
  let i = parts.length - 2;
  for (let n = el.parentNode; n && i >= 0; n = n.parentNode) if (matchCompound(n, parts[i])) i--;
  return i < 0;
}

/** @param {Elem} el @param {string} compound */
function matchCompound(el, compound) {
  const re = /^([a-zA-Z][\w-]*)|\.([\w-]+)|\[([\w-]+)(?:=("?)([^\]"]*)\4)?\]/g;
  let m;
  let consumed = 0;
  while ((m = re.exec(compound))) {
    consumed += m[0].length;
    if (m[1] && el.localName !== m[1].toLowerCase()) return false;
    if (m[2] && !el.classList.contains(m[2])) return false;
    if (m[3]) {
      const v = el.getAttribute(m[3]);
      if (v === null) return false;
      if (m[5] !== undefined && v !== m[5]) return false;
    }
  }
  if (consumed !== compound.length) throw new Error(`selector not understood: ${compound}`);
  return true;
}

class MiniDocument {
  constructor() {
    /** @type {Elem[]} */
    this.created = [];
    this.head = this.createElement("head");
    this.documentElement = this.createElement("html");
  }
  /** @param {string} tag */
  createElement(tag) {
    const el = new Elem(this, tag.toLowerCase());
    this.created.push(el);
    return el;
  }
  /** @param {string} ns @param {string} tag */
  createElementNS(ns, tag) {
    const el = new Elem(this, tag, ns);
    this.created.push(el);
    return el;
  }
  /** @param {string} id */
  getElementById(id) {
    return [this.head, ...this.head.querySelectorAll("style")].find((e) => e.id === id) ?? null;
  }
  listenerCount() {
    return this.created.reduce((n, el) => n + el.listenerCount(), 0);
  }
}

/**
 * Fire an event at `el` that bubbles through its ancestors, with `target` set.
 * @param {Elem} el
 * @param {string} type
 * @param {Record<string, any>} [extra]
 */
function fire(el, type, extra = {}) {
  const ev = { type, target: el, preventDefault() {}, ...extra };
  for (let n = /** @type {Elem | null} */ (el); n; n = n.parentNode) {
    for (const rec of [...n._listeners]) if (rec.type === type) rec.cb(ev);
  }
}

/** @param {Elem} el */
const click = (el) => fire(el, "click");

/**
 * Type into an input, as a person does (fires `input`).
 * @param {Elem} input
 * @param {string} value
 */
function type(input, value) {
  input.value = value;
  fire(input, "input");
}

// ---- fixtures --------------------------------------------------------------------------

const cand = (type, address, port, extra = {}) => ({ side: "local", type, protocol: "udp", address, port, priority: 100, ...extra });

const LOG = [
  { t: 0.0123, dir: "in", type: "offer", size: 4321, summary: "offer: video sendrecv" },
  { t: 0.2, dir: "out", type: "answer", size: 2100, summary: "answer: VP8" },
];

const SDP = {
  round: 1,
  summary: ["The browser offers VP8 and H264.", "The kernel picks VP8."],
  offer: {
    lines: [
      { n: 1, line: "v=0", section: "session", key: "v", explain: "SDP version", status: "same" },
      { n: 2, line: "m=video 9 UDP/TLS/RTP/SAVPF 96 97", section: "video", key: "m", explain: "a video section", status: "changed" },
      { n: 3, line: "a=rtpmap:96 VP8/90000", section: "video", key: "rtpmap:96", explain: "VP8", status: "same" },
      { n: 4, line: "a=rtpmap:97 H264/90000", section: "video", key: "rtpmap:97", explain: "H264", status: "removed" },
      { n: 5, line: "a=ice-ufrag:abcd", section: "video", key: "ice-ufrag", explain: "ICE user fragment", status: "side" },
    ],
  },
  answer: {
    lines: [
      { n: 1, line: "v=0", section: "session", key: "v", explain: "SDP version", status: "same" },
      { n: 2, line: "m=video 9 UDP/TLS/RTP/SAVPF 96", section: "video", key: "m", explain: "a video section", status: "changed" },
      { n: 3, line: "a=rtpmap:96 VP8/90000", section: "video", key: "rtpmap:96", explain: "VP8", status: "same" },
      { n: 4, line: "a=ice-ufrag:wxyz", section: "video", key: "ice-ufrag", explain: "ICE user fragment", status: "side" },
      { n: 5, line: "a=extmap-allow-mixed", section: "video", key: "extmap-allow-mixed", explain: "", status: "added" },
    ],
  },
};

const CANDIDATES = {
  browser: [
    cand("host", "192.168.1.5", 50000, { id: "b1" }),
    cand("srflx", "203.0.113.7", 60000, { id: "b2", related_address: "192.168.1.5", related_port: 50000 }),
    cand("host", "10.0.0.2", 40000, { id: "b3", side: "remote", protocol: "UDP" }),
  ],
  kernel: [cand("host", "10.0.0.2", 40000), cand("host", "fe80::1", 40001)],
  selected: {
    browser: {
      local: cand("host", "192.168.1.5", 50000, { id: "b1" }),
      remote: cand("host", "10.0.0.2", 40000),
      state: "succeeded",
      rtt_ms: 1.5,
      bytes_sent: 12_300,
      bytes_received: 4_560_000,
    },
    kernel: null,
  },
};

const TIMELINE = {
  t0: 0,
  now: 10,
  rows: [
    { side: "browser", what: "ice", events: [{ t: 0, state: "new" }, { t: 1, state: "checking" }, { t: 2, state: "connected" }] },
    { side: "kernel", what: "connection", events: [{ t: 0.5, state: "connecting" }, { t: 8, state: "failed" }] },
    { side: "kernel", what: "stream", events: [] },
  ],
};

const chartSpec = (values, t = values.map((_, i) => i)) => ({
  id: "bitrate",
  title: "Bitrate",
  unit: "kbit/s",
  t,
  lines: [
    { label: "browser sends", side: "browser", values },
    { label: "kernel receives", side: "kernel", values: values.map((v) => (v === null ? null : v / 2)) },
  ],
});

const CONTROLS = {
  network: { loss: 0, delay_ms: 0, rate_kbps: null, direction: "both" },
  codec: "VP8",
  max_bitrate: null,
  codecs: ["VP8", "H264"],
  can_restart_ice: true,
  enabled: true,
};

const ROOM = {
  name: "lobby",
  members: [
    { id: "p1", page: "a1", since: 1.5, state: "connected" },
    { id: "p2", page: "b2", since: 3, state: "connected" },
  ],
  links: [
    { a: "p1", b: "p2", state: "connected", selected: { local: cand("host", "192.168.1.5", 1), remote: "192.168.1.6:2" }, bytes: 2_000_000 },
    { a: "p1", b: "p3", state: "connecting", selected: null, bytes: 500_000 },
  ],
  kernel_relayed_bytes: 12_000,
  kernel_media_bytes: 0,
  note: "Media goes browser to browser.",
};

function makeModel(traits = {}) {
  return new FakeModel({
    title: "Camera 3f2a — stream s12",
    status: { state: "live", detail: "640×480 VP8", kind: "camera" },
    log: LOG,
    sdp: SDP,
    candidates: CANDIDATES,
    timeline: TIMELINE,
    charts: [chartSpec([100, 200, null, 400])],
    controls: CONTROLS,
    room: null,
    error: "",
    ...traits,
  });
}

/** Set a trait and fire its change event, as the anywidget model does. */
function change(model, name, value) {
  model.traits[name] = value;
  for (const cb of [...(model.listeners.get(`change:${name}`) ?? [])]) cb();
}

function setup(traits) {
  const doc = new MiniDocument();
  const el = doc.createElement("div");
  const model = makeModel(traits);
  const cleanup = inspector.render({ model, el: /** @type {any} */ (el) });
  const root = el.children[0];
  /** @param {string} s */
  const $ = (s) => root.querySelector(s);
  /** @param {string} s */
  const $$ = (s) => root.querySelectorAll(s);
  return { doc, el, model, cleanup, root, $, $$ };
}

// ---- tests -----------------------------------------------------------------------------

describe("Inspector render", () => {
  test("header, tabs and panels; the charts tab by default; no style of its own", () => {
    const { doc, root, $, $$, model, el } = setup();
    assert.equal(root.className, "nbrtc-inspector");
    assert.equal($(".nbrtc-insp-title").textContent, "Camera 3f2a — stream s12");
    assert.equal($(".nbrtc-insp-status").dataset.state, "live");
    assert.equal($(".nbrtc-insp-status").dataset.kind, "camera");
    assert.equal($(".nbrtc-insp-status").textContent, "live");
    assert.equal($(".nbrtc-insp-detail").textContent, "640×480 VP8");
    // the path the media takes, in words
    change(model, "status", { state: "live", detail: "", kind: "camera", transport: "comm" });
    assert.equal($(".nbrtc-insp-status").textContent, "live · via the notebook connection");
    assert.equal($(".nbrtc-insp-status").dataset.transport, "comm");
    change(model, "status", { state: "live", detail: "640×480 VP8", kind: "camera" });
    assert.equal($(".nbrtc-insp-error").textContent, "");
    const tabs = $$("button.nbrtc-insp-tab");
    assert.deepEqual(tabs.map((t) => t.dataset.tab), ["charts", "signaling", "sdp", "ice", "states", "controls", "room"]);
    assert.equal($("button.nbrtc-insp-tab[data-tab=room]").hidden, true, "no room: no room tab");
    assert.deepEqual($$(".nbrtc-insp-panel").map((p) => p.dataset.panel), tabs.map((t) => t.dataset.tab));
    assert.equal(root.dataset.tab, "charts");
    assert.equal($(".nbrtc-insp-panel[data-panel=charts]").hidden, false);
    assert.equal($(".nbrtc-insp-panel[data-panel=sdp]").hidden, true);
    assert.equal($("button.nbrtc-insp-tab[data-tab=charts]").getAttribute("aria-selected"), "true");

    // clicking a tab (or something inside it) switches, without rebuilding other panels
    const sdpLine = $(".nbrtc-sdp-line");
    const logRow = $("tr.nbrtc-log-row");
    click($("button.nbrtc-insp-tab[data-tab=sdp]"));
    assert.equal(root.dataset.tab, "sdp");
    assert.equal($(".nbrtc-insp-panel[data-panel=sdp]").hidden, false);
    assert.equal($(".nbrtc-insp-panel[data-panel=charts]").hidden, true);
    assert.equal($("button.nbrtc-insp-tab[data-tab=charts]").getAttribute("aria-selected"), "false");
    click($("button.nbrtc-insp-tab[data-tab=signaling]"));
    click($("button.nbrtc-insp-tab[data-tab=sdp]"));
    assert.equal($(".nbrtc-sdp-line"), sdpLine);
    assert.equal($("tr.nbrtc-log-row"), logRow);
    // arrow keys move between tabs
    fire($(".nbrtc-insp-tabs"), "keydown", { key: "ArrowRight" });
    assert.equal(root.dataset.tab, "ice");
    fire($(".nbrtc-insp-tabs"), "keydown", { key: "ArrowLeft" });
    fire($(".nbrtc-insp-tabs"), "keydown", { key: "ArrowLeft" });
    assert.equal(root.dataset.tab, "signaling");

    // a second Inspector on the page: neither adds a <style> (anywidget applies the
    // Inspector's `_css`, static/inspector.css, once per widget class)
    inspector.render({ model, el: /** @type {any} */ (doc.createElement("div")) });
    assert.equal(doc.head.children.length, 0);
    assert.equal(el.children.length, 1);
  });

  test("status, title and error follow their traits", () => {
    const { model, $ } = setup();
    change(model, "status", { state: "error", detail: "ICE failed", kind: "camera" });
    assert.equal($(".nbrtc-insp-status").dataset.state, "error");
    assert.equal($(".nbrtc-insp-detail").textContent, "ICE failed");
    change(model, "error", "set_codec: unknown codec");
    assert.equal($(".nbrtc-insp-error").textContent, "set_codec: unknown codec");
    change(model, "error", "");
    assert.equal($(".nbrtc-insp-error").textContent, "");
    change(model, "title", "View 1 — stream s2");
    assert.equal($(".nbrtc-insp-title").textContent, "View 1 — stream s2");
  });

  test("version warning only when a _version trait differs", () => {
    assert.equal(setup().$(".nbrtc-insp-warning").textContent, "");
    assert.equal(setup({ _version: BUNDLE_VERSION }).$(".nbrtc-insp-warning").textContent, "");
    assert.match(setup({ _version: "0.0.1-other" }).$(".nbrtc-insp-warning").textContent, /Version mismatch/);
  });
});

describe("signaling log", () => {
  test("rows with time, direction, type, size and summary", () => {
    const { $, $$ } = setup();
    const rows = $$("table.nbrtc-log tr.nbrtc-log-row");
    assert.equal(rows.length, 2);
    assert.equal(rows[0].dataset.dir, "in");
    assert.equal(rows[0].dataset.type, "offer");
    assert.deepEqual(
      rows[0].children.map((c) => c.textContent),
      ["0.012", "browser → kernel", "offer", "4321", "offer: video sendrecv"],
    );
    assert.equal(rows[1].querySelector(".nbrtc-log-dir").textContent, "kernel → browser");
    assert.equal(rows[1].querySelector(".nbrtc-log-t").textContent, "0.200");
    assert.equal($(".nbrtc-log-count").textContent, "2 messages");
  });

  test("new entries are appended; existing rows stay the same elements", () => {
    const { model, $$ } = setup();
    const before = $$("tr.nbrtc-log-row");
    const more = [
      ...LOG,
      { t: 0.3, dir: "in", type: "candidate", size: 120, summary: "host udp" },
      { t: 0.5, dir: "note", type: "state", size: 0, summary: "ICE connected" },
    ];
    change(model, "log", more);
    const after = $$("tr.nbrtc-log-row");
    assert.equal(after.length, 4);
    assert.equal(after[0], before[0]);
    assert.equal(after[1], before[1]);
    assert.equal(after[2].dataset.type, "candidate");
    assert.equal(after[3].dataset.dir, "note");
    assert.equal(after[3].querySelector(".nbrtc-log-dir").textContent, "note");
    assert.equal(after[3].querySelector(".nbrtc-log-size").textContent, "", "no size for 0 bytes");

    // the same log again (a copy, as a trait sync makes): nothing changes
    change(model, "log", JSON.parse(JSON.stringify(more)));
    assert.deepEqual($$("tr.nbrtc-log-row"), after);

    // the oldest rows dropped at the front (a capped log): the rest stay
    const capped = [...more.slice(1), { t: 0.9, dir: "out", type: "stats", size: 80, summary: "stats" }];
    change(model, "log", capped);
    const rows = $$("tr.nbrtc-log-row");
    assert.equal(rows.length, 4);
    assert.deepEqual(rows.slice(0, 3), after.slice(1));
    assert.equal(before[0].parentNode, null, "the dropped row left the table");

    // a different stream: the log is replaced entirely
    change(model, "log", [{ t: 0, dir: "in", type: "offer", size: 10, summary: "new stream" }]);
    const fresh = $$("tr.nbrtc-log-row");
    assert.equal(fresh.length, 1);
    assert.notEqual(fresh[0], rows[0]);
    assert.equal(fresh[0].querySelector(".nbrtc-log-summary").textContent, "new stream");
    change(model, "log", []);
    assert.equal($$("tr.nbrtc-log-row").length, 0);
  });

  test("follows the bottom unless the person scrolled up", () => {
    const { model, $ } = setup();
    click($("button.nbrtc-insp-tab[data-tab=signaling]"));
    const wrap = $(".nbrtc-log-wrap");
    wrap.clientHeight = 200;
    wrap.scrollHeight = 1000;
    wrap.scrollTop = 800; // at the bottom
    fire(wrap, "scroll");
    wrap.scrollHeight = 1100;
    change(model, "log", [...LOG, { t: 1, dir: "in", type: "stats", size: 1, summary: "a" }]);
    assert.equal(wrap.scrollTop, 1100, "followed the new row");
    wrap.scrollTop = 300; // scrolled up
    fire(wrap, "scroll");
    wrap.scrollHeight = 1200;
    change(model, "log", [...LOG, { t: 1, dir: "in", type: "stats", size: 1, summary: "a" }, { t: 2, dir: "in", type: "stats", size: 1, summary: "b" }]);
    assert.equal(wrap.scrollTop, 300, "stays where the person is reading");
  });

  test("the chatter filter marks the table (CSS hides candidate/stats/ping rows)", () => {
    const { $ } = setup();
    const table = $("table.nbrtc-log");
    const box = $("input.nbrtc-log-quiet");
    assert.equal(box.type, "checkbox");
    assert.equal(table.dataset.quiet, "false");
    box.checked = true;
    fire(box, "change");
    assert.equal(table.dataset.quiet, "true");
    box.checked = false;
    fire(box, "change");
    assert.equal(table.dataset.quiet, "false");
  });
});

describe("sdp", () => {
  test("summary, two columns, lines with status, section separators", () => {
    const { $, $$ } = setup();
    assert.deepEqual($$(".nbrtc-sdp-summary li").map((li) => li.textContent), SDP.summary);
    assert.equal($(".nbrtc-sdp-round").textContent, "Renegotiation 1");
    const offer = $(".nbrtc-sdp[data-side=offer]");
    const answer = $(".nbrtc-sdp[data-side=answer]");
    const offerLines = offer.querySelectorAll(".nbrtc-sdp-line");
    assert.equal(offerLines.length, 5);
    assert.deepEqual(offerLines.map((l) => l.dataset.status), ["same", "changed", "same", "removed", "side"]);
    assert.deepEqual(offerLines.map((l) => l.dataset.n), ["1", "2", "3", "4", "5"]);
    assert.equal(offerLines[3].querySelector(".nbrtc-sdp-text").textContent, "a=rtpmap:97 H264/90000");
    assert.equal(offerLines[3].querySelector(".nbrtc-sdp-explain").textContent, "H264");
    assert.equal(offerLines[3].title, "H264", "explanation as a tooltip");
    assert.equal(offerLines[1].dataset.section, "video");
    assert.deepEqual(offer.querySelectorAll(".nbrtc-sdp-section").map((s) => s.dataset.section), ["session", "video"]);
    assert.deepEqual(offer.querySelectorAll(".nbrtc-sdp-section").map((s) => s.textContent), ["Session", "Media section video"]);
    const answerLines = answer.querySelectorAll(".nbrtc-sdp-line");
    assert.equal(answerLines[4].dataset.status, "added");
    assert.equal(answerLines[4].querySelector(".nbrtc-sdp-explain"), null, "no empty explanation");
  });

  test("selecting a line marks it and its counterpart; expand-all toggles", () => {
    const { $, $$, model } = setup();
    const ufrag = $(".nbrtc-sdp[data-side=offer] .nbrtc-sdp-line[data-key=ice-ufrag]");
    click(ufrag.querySelector(".nbrtc-sdp-text"));
    assert.equal(ufrag.dataset.selected, "true");
    const other = $(".nbrtc-sdp[data-side=answer] .nbrtc-sdp-line[data-key=ice-ufrag]");
    assert.equal(other.dataset.match, "true");
    click(ufrag);
    assert.equal(ufrag.dataset.selected, undefined, "a second click unselects");
    assert.equal(other.dataset.match, undefined);
    // several lines share a key (a=rtpmap): the identical one is the counterpart
    const rtpmap = (_side, text) => ({ n: 0, line: text, section: "0", key: "a=rtpmap", explain: "", status: "same" });
    change(model, "sdp", {
      round: 0,
      offer: { lines: [rtpmap("o", "a=rtpmap:96 VP8/90000"), { ...rtpmap("o", "a=rtpmap:97 H264/90000"), n: 1 }] },
      answer: { lines: [{ ...rtpmap("a", "a=rtpmap:97 H264/90000"), n: 0 }, { ...rtpmap("a", "a=rtpmap:98 AV1/90000"), n: 1 }] },
    });
    click($(".nbrtc-sdp[data-side=offer] .nbrtc-sdp-line[data-n=\"1\"]"));
    assert.deepEqual($$(".nbrtc-sdp-line[data-match]").map((l) => `${l.dataset.side}${l.dataset.n}`), ["answer0"]);
    click($(".nbrtc-sdp[data-side=offer] .nbrtc-sdp-line[data-n=\"0\"]"));
    assert.deepEqual($$(".nbrtc-sdp-line[data-match]").map((l) => `${l.dataset.side}${l.dataset.n}`), ["answer0", "answer1"], "no identical line: every line of that key");

    const cols = $(".nbrtc-sdp-cols");
    assert.equal(cols.dataset.expanded, "false");
    click($("button.nbrtc-sdp-toggle"));
    assert.equal(cols.dataset.expanded, "true");
    click($("button.nbrtc-sdp-toggle"));
    assert.equal(cols.dataset.expanded, "false");
  });

  test("redrawn only when the round or the content changes", () => {
    const { model, $ } = setup();
    const first = $(".nbrtc-sdp-line");
    change(model, "sdp", JSON.parse(JSON.stringify(SDP)));
    assert.equal($(".nbrtc-sdp-line"), first, "same content: same elements");
    change(model, "sdp", { ...SDP, round: 2 });
    assert.notEqual($(".nbrtc-sdp-line"), first);
    assert.equal($(".nbrtc-sdp-round").textContent, "Renegotiation 2");
    change(model, "sdp", { ...SDP, round: 0, reason: "initial" });
    assert.equal($(".nbrtc-sdp-round").textContent, "First negotiation (initial)");
    assert.equal($(".nbrtc-sdp-round").dataset.round, "0");
    change(model, "sdp", {});
    assert.equal($(".nbrtc-sdp-round").textContent, "No negotiation yet");
    change(model, "sdp", { offer: { lines: [] }, answer: { lines: [] }, summary: [], round: 0 });
    assert.equal($(".nbrtc-sdp-line"), null);
    assert.equal($(".nbrtc-sdp[data-side=offer] .nbrtc-empty").textContent, "No offer yet.");
  });
});

describe("ice", () => {
  test("candidate tables, the selected pair, and its candidates marked", () => {
    const { $, $$, model } = setup();
    const browserRows = $$("table.nbrtc-cands[data-side=browser] tbody tr");
    const kernelRows = $$("table.nbrtc-cands[data-side=kernel] tbody tr");
    assert.deepEqual(browserRows.map((r) => r.dataset.type), ["host", "srflx", "host"]);
    assert.deepEqual(browserRows.map((r) => r.dataset.end), ["local", "local", "remote"]);
    assert.deepEqual(browserRows.map((r) => r.dataset.selected), ["true", "false", "true"]);
    assert.deepEqual(kernelRows.map((r) => r.dataset.selected), ["true", "false"], "the browser's remote end");
    assert.deepEqual(browserRows[0].children.map((c) => c.text), ["local", "host", "udp", "192.168.1.5:50000", "100"]);
    assert.equal(browserRows[1].children[3].text, "203.0.113.7:60000 from 192.168.1.5:50000");
    assert.equal(kernelRows[1].children[3].text, "[fe80::1]:40001");

    const pair = $(".nbrtc-selected-pair[data-side=browser]");
    assert.equal(pair.dataset.state, "succeeded");
    assert.equal(pair.querySelector(".nbrtc-pair-local").textContent, "host udp 192.168.1.5:50000");
    assert.equal(pair.querySelector(".nbrtc-pair-remote").textContent, "host udp 10.0.0.2:40000");
    assert.equal(pair.querySelector(".nbrtc-pair-facts").textContent, "succeeded · RTT 1.5 ms · sent 12.3 kB · received 4.56 MB");
    assert.equal($(".nbrtc-selected-pair[data-side=kernel]").dataset.state, "none");

    // the kernel picks its pair too: its local end (10.0.0.2) and remote (the srflx)
    change(model, "candidates", {
      ...CANDIDATES,
      selected: {
        ...CANDIDATES.selected,
        kernel: { local: cand("host", "10.0.0.2", 40000), remote: cand("srflx", "203.0.113.7", 60000), state: "succeeded", rtt_ms: 2 },
      },
    });
    assert.deepEqual($$("table.nbrtc-cands[data-side=browser] tbody tr").map((r) => r.dataset.selected), ["true", "true", "true"]);
    assert.equal($(".nbrtc-selected-pair[data-side=kernel]").dataset.state, "succeeded");

    change(model, "candidates", { browser: [], kernel: [], selected: { browser: null, kernel: null } });
    assert.equal($$("table.nbrtc-cands[data-side=browser] tr[data-type]").length, 0);
    assert.equal($("table.nbrtc-cands[data-side=browser] tbody").text, "No candidates yet.");
  });
});

describe("states timeline", () => {
  test("one lane per row, one segment per state, coloured by meaning", () => {
    const { $, $$, model } = setup();
    const svg = $("svg.nbrtc-timeline");
    assert.ok(svg, "an svg timeline");
    const lanes = $$("g.nbrtc-lane");
    assert.deepEqual(lanes.map((g) => `${g.dataset.side}/${g.dataset.what}`), ["browser/ice", "kernel/connection", "kernel/stream"]);
    const segs = (/** @type {Elem} */ g) => g.querySelectorAll("rect[data-state]");
    assert.deepEqual(segs(lanes[0]).map((r) => r.dataset.state), ["new", "checking", "connected"]);
    assert.deepEqual(segs(lanes[0]).map((r) => r.dataset.tone), ["idle", "pending", "ok"]);
    assert.deepEqual(segs(lanes[1]).map((r) => r.dataset.tone), ["pending", "bad"]);
    assert.equal(segs(lanes[2]).length, 0);
    // each segment runs from its event to the next one, the last one to `now`
    const [a, b, c] = segs(lanes[0]).map((r) => ({ x: Number(r.getAttribute("x")), w: Number(r.getAttribute("width")) }));
    assert.ok(Math.abs(a.x + a.w - b.x) < 0.2 && Math.abs(b.x + b.w - c.x) < 0.2, "segments touch");
    assert.ok(b.w > 0 && c.w > b.w, "connected lasts longer than checking");
    const now = svg.querySelector("line.nbrtc-now");
    assert.ok(Math.abs(c.x + c.w - Number(now.getAttribute("x1"))) < 0.2, "the last one ends at now");
    assert.equal(segs(lanes[0])[1].querySelector("title").textContent, "browser ice: checking from 1 s to 2 s");
    // a time axis in seconds
    const ticks = svg.querySelectorAll("g.nbrtc-axis text").map((t) => t.textContent);
    assert.equal(ticks[0], "0 s");
    assert.ok(ticks.includes("10 s"), ticks.join(","));

    change(model, "timeline", { ...TIMELINE, now: 20 });
    assert.notEqual($("svg.nbrtc-timeline"), svg, "redrawn on change");
    change(model, "timeline", { t0: 0, now: 0, rows: [] });
    assert.equal($("svg.nbrtc-timeline"), null);
  });

  test("stateTone", () => {
    for (const s of ["new", "gathering"]) assert.equal(stateTone(s), "idle");
    for (const s of ["checking", "connecting", "have-local-offer"]) assert.equal(stateTone(s), "pending");
    for (const s of ["connected", "completed", "complete", "live", "stable"]) assert.equal(stateTone(s), "ok");
    for (const s of ["disconnected", "failed", "error"]) assert.equal(stateTone(s), "bad");
    assert.equal(stateTone("closed"), "closed");
    assert.equal(stateTone("whatever"), "other");
    assert.equal(stateTone(/** @type {any} */ (null)), "other");
  });
});

describe("charts", () => {
  test("one chart per id, a path per line; updated in place on change:charts", () => {
    const { $, $$, model } = setup();
    const chart = $(".nbrtc-chart[data-chart=bitrate]");
    assert.ok(chart);
    assert.equal(chart.querySelector(".nbrtc-chart-title").textContent, "Bitrate");
    const paths = chart.querySelectorAll("svg path.nbrtc-line");
    assert.equal(paths.length, 2);
    assert.deepEqual(paths.map((p) => p.dataset.side), ["browser", "kernel"]);
    assert.deepEqual(paths.map((p) => p.dataset.line), ["0", "1"]);
    assert.equal(paths[0].dataset.points, "3");
    assert.equal((paths[0].getAttribute("d").match(/M/g) ?? []).length, 2, "the null is a gap");
    assert.deepEqual(chart.querySelectorAll(".nbrtc-chart-value").map((v) => v.textContent), ["400 kbit/s", "200 kbit/s"]);
    assert.equal(chart.querySelector(".nbrtc-chart-ymax").textContent, "500");
    assert.equal(chart.querySelector(".nbrtc-chart-ymin").textContent, "0");
    assert.equal(chart.querySelector(".nbrtc-chart-unit").textContent, "kbit/s");

    change(model, "charts", [
      chartSpec([100, 200, null, 400, 1500, 1800]),
      { id: "fps", title: "Frame rate", unit: "fps", t: [0, 1], lines: [{ label: "sent", side: "browser", values: [30, 29] }] },
    ]);
    const same = $(".nbrtc-chart[data-chart=bitrate]");
    assert.equal(same, chart, "the chart element stays");
    const again = same.querySelectorAll("path.nbrtc-line");
    assert.equal(again[0], paths[0], "the path element stays");
    assert.equal(again[0].dataset.points, "5");
    assert.equal(same.querySelector(".nbrtc-chart-ymax").textContent, "2");
    assert.equal(same.querySelector(".nbrtc-chart-unit").textContent, "Mbit/s");
    assert.equal(same.querySelector(".nbrtc-chart-value").textContent, "1.8 Mbit/s");
    assert.deepEqual($$(".nbrtc-chart").map((c) => c.dataset.chart), ["bitrate", "fps"]);

    change(model, "charts", [{ id: "fps", title: "Frame rate", unit: "fps", t: [0, 1], lines: [{ label: "sent", side: "browser", values: [30, null] }] }]);
    assert.deepEqual($$(".nbrtc-chart").map((c) => c.dataset.chart), ["fps"]);
    assert.equal($(".nbrtc-chart-value").textContent, "—", "latest sample missing");
    assert.equal($$("path.nbrtc-line").length, 1);

    change(model, "charts", []);
    assert.equal($$(".nbrtc-chart").length, 0);
    assert.equal($(".nbrtc-charts .nbrtc-empty").hidden, false);
  });

  test("the x axis is the last 120 s", () => {
    const t = Array.from({ length: 200 }, (_, i) => i);
    const { $ } = setup({ charts: [chartSpec(t.map(() => 10), t)] });
    assert.equal($(".nbrtc-chart-xmin").textContent, "79 s");
    assert.equal($(".nbrtc-chart-xmax").textContent, "199 s");
    assert.equal($("path.nbrtc-line").dataset.points, "121");
  });
});

describe("controls", () => {
  test("Apply sends set_network with loss as a fraction; Clear sends clear_network", () => {
    const { $, model } = setup();
    type($("input.nbrtc-ctl-loss"), "5");
    type($("input.nbrtc-ctl-delay"), "120");
    type($("input.nbrtc-ctl-rate"), "400");
    click($("button.nbrtc-ctl-apply"));
    assert.deepEqual(model.sent, [
      { type: "control", action: "set_network", args: { loss: 0.05, delay_ms: 120, rate_kbps: 400 } },
    ]);
    assert.match($(".nbrtc-ctl-status").textContent, /loss 5%, delay 120 ms, rate 400 kbit\/s/);
    type($("input.nbrtc-ctl-rate"), "");
    click($("button.nbrtc-ctl-apply"));
    assert.deepEqual(model.sent[1].args, { loss: 0.05, delay_ms: 120, rate_kbps: null }, "empty rate: no limit");
    click($("button.nbrtc-ctl-clear"));
    assert.deepEqual(model.sent[2], { type: "control", action: "clear_network", args: {} });
  });

  test("bad input shows a message next to the field and sends nothing", () => {
    const { $, model } = setup();
    type($("input.nbrtc-ctl-loss"), "150");
    type($("input.nbrtc-ctl-delay"), "abc");
    click($("button.nbrtc-ctl-apply"));
    assert.deepEqual(model.sent, []);
    assert.match($(".nbrtc-ctl-error[data-for=loss]").textContent, /below 100/);
    assert.match($(".nbrtc-ctl-error[data-for=delay]").textContent, /Delay/);
    assert.equal($(".nbrtc-ctl-error[data-for=rate]").textContent, "");
    assert.equal($("input.nbrtc-ctl-loss").getAttribute("aria-invalid"), "true");
    // Enter in a field applies too; fixing the values clears the messages
    type($("input.nbrtc-ctl-loss"), "2.5");
    assert.equal($(".nbrtc-ctl-error[data-for=loss]").textContent, "", "typing clears the message");
    type($("input.nbrtc-ctl-delay"), "0");
    fire($("input.nbrtc-ctl-delay"), "keydown", { key: "Enter" });
    assert.equal(model.sent.length, 1);
    assert.deepEqual(model.sent[0].args, { loss: 0.025, delay_ms: 0, rate_kbps: null });
    assert.equal($(".nbrtc-ctl-error[data-for=delay]").textContent, "");

    type($("input.nbrtc-ctl-rate"), "-3");
    click($("button.nbrtc-ctl-apply"));
    assert.equal(model.sent.length, 1);
    assert.match($(".nbrtc-ctl-error[data-for=rate]").textContent, /from 8/);
  });

  test("codec, max bitrate and ICE restart", () => {
    const { $, model } = setup();
    const select = $("select.nbrtc-ctl-codec");
    assert.deepEqual(select.children.map((o) => o.value), ["", "VP8", "H264"]);
    assert.equal(select.value, "VP8");
    select.value = "H264";
    fire(select, "change");
    assert.deepEqual(model.sent.at(-1), { type: "control", action: "set_codec", args: { codec: "H264" } });

    type($("input.nbrtc-ctl-maxbitrate"), "500");
    click($("button.nbrtc-ctl-bitrate"));
    assert.deepEqual(model.sent.at(-1), { type: "control", action: "set_max_bitrate", args: { bps: 500000 } });
    type($("input.nbrtc-ctl-maxbitrate"), "");
    click($("button.nbrtc-ctl-bitrate"));
    assert.deepEqual(model.sent.at(-1), { type: "control", action: "set_max_bitrate", args: { bps: null } });
    const count = model.sent.length;
    type($("input.nbrtc-ctl-maxbitrate"), "fast");
    click($("button.nbrtc-ctl-bitrate"));
    assert.equal(model.sent.length, count);
    assert.match($(".nbrtc-ctl-error[data-for=max_bitrate]").textContent, /kbit\/s/);

    click($("button.nbrtc-ctl-restart"));
    assert.deepEqual(model.sent.at(-1), { type: "control", action: "restart_ice", args: {} });
  });

  test("inputs show the kernel's settings, except a field being edited", () => {
    const { $, model } = setup({
      controls: { ...CONTROLS, network: { loss: 0.05, delay_ms: 120, rate_kbps: 400, direction: "both" }, max_bitrate: 750000 },
    });
    assert.equal($("input.nbrtc-ctl-loss").value, "5");
    assert.equal($("input.nbrtc-ctl-delay").value, "120");
    assert.equal($("input.nbrtc-ctl-rate").value, "400");
    assert.equal($("input.nbrtc-ctl-maxbitrate").value, "750");
    assert.equal($(".nbrtc-ctl-current").textContent, "Now: loss 5%, delay 120 ms, rate 400 kbit/s (both)");
    type($("input.nbrtc-ctl-delay"), "30");
    change(model, "controls", { ...CONTROLS, network: { loss: 0.1, delay_ms: 50, rate_kbps: null }, codec: "H264" });
    assert.equal($("input.nbrtc-ctl-loss").value, "10");
    assert.equal($("input.nbrtc-ctl-delay").value, "30", "kept the person's text");
    assert.equal($("input.nbrtc-ctl-rate").value, "");
    assert.equal($("select.nbrtc-ctl-codec").value, "H264");
  });

  test("disabled when controls.enabled is false; restart only when possible", () => {
    const { $, model } = setup({ controls: { ...CONTROLS, enabled: false } });
    for (const s of ["input.nbrtc-ctl-loss", "button.nbrtc-ctl-apply", "button.nbrtc-ctl-clear", "select.nbrtc-ctl-codec", "input.nbrtc-ctl-maxbitrate", "button.nbrtc-ctl-bitrate", "button.nbrtc-ctl-restart"]) {
      assert.equal($(s).disabled, true, s);
    }
    assert.notEqual($(".nbrtc-ctl-note").textContent, "");
    type($("input.nbrtc-ctl-loss"), "5");
    click($("button.nbrtc-ctl-apply"));
    click($("button.nbrtc-ctl-clear"));
    click($("button.nbrtc-ctl-restart"));
    assert.deepEqual(model.sent, []);
    change(model, "controls", { ...CONTROLS, can_restart_ice: false });
    assert.equal($("button.nbrtc-ctl-apply").disabled, false);
    assert.equal($("button.nbrtc-ctl-restart").disabled, true);
    assert.equal($(".nbrtc-ctl-note").textContent, "");
    click($("button.nbrtc-ctl-restart"));
    assert.deepEqual(model.sent, []);
  });

  test("a failing send is shown, not thrown", () => {
    const { $, model } = setup();
    model.dead = true;
    click($("button.nbrtc-ctl-clear"));
    assert.equal($(".nbrtc-ctl-status").dataset.kind, "error");
    assert.match($(".nbrtc-ctl-status").textContent, /closed comm/);
  });
});

describe("room", () => {
  test("tab only with a room; members, links and the bytes comparison", () => {
    const { $, $$, model, root } = setup({ room: ROOM });
    assert.equal($("button.nbrtc-insp-tab[data-tab=room]").hidden, false);
    const compare = $(".nbrtc-room-compare");
    assert.equal(compare.dataset.relayed, "12000");
    assert.equal(compare.dataset.media, "2500000");
    assert.equal(
      compare.text,
      "The kernel relayed 12 kB of signaling; the browsers sent each other 2.5 MB of media directly (media through the kernel: 0 B).",
    );
    assert.deepEqual($$("ul.nbrtc-room-members li").map((li) => li.dataset.id), ["p1", "p2"]);
    assert.equal($$("ul.nbrtc-room-members li")[0].text, "p1 page a1 since 1.5 s · connected");
    const links = $$("table.nbrtc-room-links tbody tr");
    assert.deepEqual(links.map((tr) => `${tr.dataset.a}-${tr.dataset.b}:${tr.dataset.state}`), ["p1-p2:connected", "p1-p3:connecting"]);
    assert.deepEqual(links[0].children.map((c) => c.textContent), ["p1 ↔ p2", "connected", "host udp 192.168.1.5:1 ↔ 192.168.1.6:2", "2 MB"]);
    assert.equal($(".nbrtc-room-note").textContent, "Media goes browser to browser.");

    click($("button.nbrtc-insp-tab[data-tab=room]"));
    assert.equal(root.dataset.tab, "room");
    change(model, "room", null);
    assert.equal($("button.nbrtc-insp-tab[data-tab=room]").hidden, true);
    assert.equal(root.dataset.tab, "charts", "the room tab went away: back to charts");
  });
});

describe("lifecycle and robustness", () => {
  test("cleanup removes every model listener, every DOM listener and the DOM", () => {
    const { doc, el, model, cleanup, root } = setup({ room: ROOM });
    for (const name of TRAITS) assert.equal(model.count(`change:${name}`), 1, name);
    assert.ok(doc.listenerCount() > 0);
    cleanup();
    cleanup(); // twice is harmless
    for (const [name, list] of model.listeners) assert.equal(list.length, 0, name);
    assert.equal(doc.listenerCount(), 0);
    assert.equal(el.children.length, 0);
    assert.equal(root.parentNode, null);
  });

  test("each tab module stands alone: mount(el, ctx) -> {update, destroy}", () => {
    // [module, the trait it draws, an element that only a drawn value produces]
    const cases = [
      [tabCharts, "charts", ".nbrtc-chart"],
      [tabSignaling, "log", "tr.nbrtc-log-row"],
      [tabSdp, "sdp", ".nbrtc-sdp-line"],
      [tabIce, "candidates", "tr.nbrtc-cand"],
      [tabStates, "timeline", "rect.nbrtc-seg"],
      [tabControls, "controls", "option"], // the codecs beside "browser default"
      [tabRoom, "room", ".nbrtc-room-compare"],
    ];
    assert.equal(cases.length, TABS.length, "one module per tab");
    const model = makeModel({ room: ROOM });
    for (const [m, trait, drawn] of /** @type {[any, string, string][]} */ (cases)) {
      assert.equal(m.TRAIT, trait);
      assert.equal(typeof m.LABEL, "string", trait);
      const doc = new MiniDocument();
      const panel = doc.createElement("div");
      let closed = false;
      /** @type {[string, Record<string, any>][]} */
      const sent = [];
      const tab = m.mount(/** @type {any} */ (panel), {
        doc: /** @type {any} */ (doc),
        log: quietLog,
        isClosed: () => closed,
        onControl: (/** @type {string} */ action, /** @type {any} */ args) => sent.push([action, args]),
      });
      assert.ok(panel.children.length > 0, `${trait}: builds into its panel`);
      tab.update(undefined); // the empty state first, as the shell paints it
      const before = panel.querySelectorAll(drawn).length;
      tab.update(model.get(trait));
      assert.ok(panel.querySelectorAll(drawn).length > before, `${trait}: drew its trait`);
      tab.destroy();
      closed = true;
      assert.equal(panel.children.length, 0, `${trait}: destroy empties the panel`);
      assert.equal(doc.listenerCount(), 0, `${trait}: destroy removes its listeners`);
      assert.deepEqual(sent, [], `${trait}: drawing sends nothing`);
    }
  });

  test("an aborted signal cleans up too", () => {
    const doc = new MiniDocument();
    const el = doc.createElement("div");
    const model = makeModel();
    const ctl = new AbortController();
    inspector.render({ model, el: /** @type {any} */ (el), signal: ctl.signal });
    ctl.abort();
    assert.equal(el.children.length, 0);
    assert.equal(model.count("change:log"), 0);
  });

  test("malformed or missing traits draw empty states instead of throwing", () => {
    const { $, $$, model } = setup({
      title: undefined,
      status: null,
      log: "garbage",
      sdp: 5,
      candidates: [],
      timeline: { rows: "x" },
      charts: { id: "nope" },
      controls: null,
      room: undefined,
      error: null,
    });
    assert.equal($(".nbrtc-insp-title").textContent, "Inspector");
    assert.equal($(".nbrtc-insp-status").dataset.state, "new");
    assert.equal($$("tr.nbrtc-log-row").length, 0);
    assert.equal($$(".nbrtc-sdp-line").length, 0);
    assert.equal($$(".nbrtc-chart").length, 0);
    assert.equal($("button.nbrtc-insp-tab[data-tab=room]").hidden, true);
    assert.equal($("button.nbrtc-ctl-apply").disabled, true);
    change(model, "log", [null, 7, { t: "x" }]);
    assert.equal($$("tr.nbrtc-log-row").length, 3);
    change(model, "charts", [{ id: "x", lines: [null, { values: "nope" }], t: null }]);
    assert.equal($$("path.nbrtc-line").length, 1);
    change(model, "timeline", { now: 5, rows: [{ side: "browser", what: "ice", events: [null, { t: "1" }, { t: 1, state: "new" }] }] });
    assert.equal($$("rect[data-state]").length, 1);
  });

  test("a drawing failure is logged, the other traits still draw", () => {
    const doc = new MiniDocument();
    const el = doc.createElement("div");
    const log = quietLog();
    const view = createInspectorView(/** @type {any} */ (el), { log });
    const evil = {
      get lines() {
        throw new Error("boom");
      },
    };
    view.set("sdp", { offer: evil });
    assert.equal(log.lines.filter((l) => l.level === "error").length, 1);
    view.set("title", "still fine");
    assert.equal(el.querySelector(".nbrtc-insp-title").textContent, "still fine");
    view.destroy();
  });
});

describe("pure helpers", () => {
  test("planLog", () => {
    assert.deepEqual(planLog([], ["a", "b"]), { drop: 0, from: 0 });
    assert.deepEqual(planLog(["a", "b"], ["a", "b", "c"]), { drop: 0, from: 2 });
    assert.deepEqual(planLog(["a", "b"], ["a", "b"]), { drop: 0, from: 2 });
    assert.deepEqual(planLog(["a", "b", "c"], ["b", "c", "d"]), { drop: 1, from: 2 });
    assert.deepEqual(planLog(["a", "b", "c"], ["c", "d", "e"]), { drop: 2, from: 1 });
    assert.equal(planLog(["a", "b"], ["x", "y"]), null);
    assert.equal(planLog(["a", "b"], ["a"]), null, "shorter and not a window: replaced");
    assert.equal(planLog(["a", "b"], []), null);
    assert.deepEqual(planLog(["a", "a"], ["a", "a", "a"]), { drop: 0, from: 2 });
  });

  test("sinceText: epoch seconds as a clock time, small numbers as seconds", () => {
    assert.equal(sinceText(3), "3 s");
    assert.match(sinceText(1_732_581_234.5), /^\d\d:\d\d:\d\d$/);
    assert.equal(sinceText(null), "");
  });

  test("parseNumber", () => {
    assert.equal(parseNumber(""), null);
    assert.equal(parseNumber("  "), null);
    assert.equal(parseNumber("12"), 12);
    assert.equal(parseNumber(" 2.5 "), 2.5);
    assert.equal(parseNumber("0,5"), 0.5);
    assert.equal(parseNumber(".5"), 0.5);
    assert.ok(Number.isNaN(parseNumber("1e3")));
    assert.ok(Number.isNaN(parseNumber("abc")));
    assert.ok(Number.isNaN(parseNumber("0x10")));
    assert.ok(Number.isNaN(parseNumber("5%")));
  });

  test("validateNetwork", () => {
    assert.deepEqual(validateNetwork({ loss: "5", delay: "120", rate: "400" }), {
      ok: true,
      args: { loss: 0.05, delay_ms: 120, rate_kbps: 400 },
    });
    assert.deepEqual(validateNetwork({ loss: "", delay: "", rate: "" }), {
      ok: true,
      args: { loss: 0, delay_ms: 0, rate_kbps: null },
    });
    assert.equal(validateNetwork({ loss: "7", delay: "", rate: "" }).args.loss, 0.07, "no float noise");
    assert.deepEqual(Object.keys(validateNetwork({ loss: "150", delay: "-1", rate: "0" }).errors), ["loss", "delay", "rate"]);
    assert.deepEqual(Object.keys(validateNetwork({ loss: "99.9", delay: "10000", rate: "x" }).errors), ["rate"]);
    assert.deepEqual(Object.keys(validateNetwork({ loss: "100", delay: "10001", rate: "7" }).errors), ["loss", "delay", "rate"]);
    assert.equal(validateNetwork({ loss: "0", delay: "0", rate: "8" }).ok, true);
  });

  test("validateBitrate", () => {
    assert.deepEqual(validateBitrate("500"), { ok: true, bps: 500000 });
    assert.deepEqual(validateBitrate("1.5"), { ok: true, bps: 1500 });
    assert.deepEqual(validateBitrate(""), { ok: true, bps: null });
    assert.equal(validateBitrate("0").ok, false);
    assert.equal(validateBitrate("-2").ok, false);
    assert.equal(validateBitrate("lots").ok, false);
  });

  test("candidates: same by id or by address/port/protocol; IPv6 in brackets", () => {
    assert.ok(sameCandidate({ id: "x", address: "1.1.1.1", port: 1 }, { id: "x", address: "2.2.2.2", port: 2 }));
    assert.ok(sameCandidate(cand("host", "1.1.1.1", 5), { address: "1.1.1.1", port: 5, protocol: "UDP" }));
    assert.ok(!sameCandidate(cand("host", "1.1.1.1", 5), cand("host", "1.1.1.1", 6)));
    assert.ok(!sameCandidate(cand("host", "1.1.1.1", 5), { ...cand("host", "1.1.1.1", 5), protocol: "tcp" }));
    assert.ok(!sameCandidate(null, cand("host", "1.1.1.1", 5)));
    assert.equal(hostPort("::1", 9), "[::1]:9");
    assert.equal(hostPort("a.local", 9), "a.local:9");
    assert.equal(hostPort("1.2.3.4", undefined), "1.2.3.4");
  });
});
