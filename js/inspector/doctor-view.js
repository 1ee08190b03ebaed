// The view of an nbrtc.doctor(): it draws the kernel's table (the `table_rows` and
// `advice` traits, kernel-checked) and, when the doctor has not run yet, runs the probes
// (doctor.js). What a probe saw goes to the kernel, never straight into the table: the
// table shows what the kernel concluded. Text only (textContent), no HTML from a trait.
//
//   .nbrtc-root.nbrtc-doctor[data-state=new|running|done|closed]
//     .nbrtc-doctor-title       "nbrtc doctor: running..."
//     table.nbrtc-doctor-table  tr[data-path=ID][data-result=ok|failed|pending]
//     ul.nbrtc-doctor-advice    li per sentence
//
// The look is in doctor.css (bundled into static/widget.css, anywidget's `_css`): the view
// injects no style.

import { pageIsRemote, runDoctor } from "./doctor.js";

/** The columns: header, and how a row (a kernel table row) fills it. */
export const COLUMNS = Object.freeze([
  ["path", (/** @type {any} */ r) => `${r.path}${r.url ? ` ${r.url}` : ""}`],
  ["result", (/** @type {any} */ r) => (r.result === "pending" ? "…" : r.result)],
  ["RTT", (/** @type {any} */ r) => (typeof r.rtt_ms === "number" ? `${Math.round(r.rtt_ms)} ms` : "")],
  ["via", (/** @type {any} */ r) => r.via ?? ""],
  ["why not", (/** @type {any} */ r) => r.why ?? ""],
]);

/**
 * @param {{model: any, el: any, router: import("../core/router.js").Router, signal?: AbortSignal, warning?: string, env?: any, doc?: any, location?: any}} ctx
 * @returns {() => void} cleanup (idempotent): cancels running probes (bye to the kernel)
 */
export function renderDoctor({ model, el, router, signal, warning = "", env, doc, location }) {
  const document = doc ?? /** @type {any} */ (globalThis).document;
  const root = document.createElement("div");
  root.className = "nbrtc-root nbrtc-doctor";
  const title = document.createElement("div");
  title.className = "nbrtc-doctor-title";
  const table = document.createElement("table");
  table.className = "nbrtc-doctor-table";
  const advice = document.createElement("ul");
  advice.className = "nbrtc-doctor-advice";
  root.append(title, table, advice);
  if (warning) {
    const w = document.createElement("div");
    w.className = "nbrtc-warning";
    w.textContent = warning;
    root.appendChild(w);
  }
  el.appendChild(root);

  const cell = (/** @type {string} */ tag, /** @type {string} */ text, cls = "") => {
    const c = document.createElement(tag);
    c.textContent = text;
    if (cls) c.className = cls;
    return c;
  };
  const draw = () => {
    const state = String(model.get("state") ?? "new");
    root.dataset.state = state;
    title.textContent = `nbrtc doctor: ${state === "done" ? "done" : state === "closed" ? "closed" : state === "running" ? "probing…" : "waiting for this page"}`;
    while (table.children.length) table.children[0].remove();
    const head = document.createElement("tr");
    for (const [name] of COLUMNS) head.appendChild(cell("th", /** @type {string} */ (name)));
    table.appendChild(head);
    const rows = Array.isArray(model.get("table_rows")) ? model.get("table_rows") : [];
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.dataset.path = String(r.id ?? "");
      tr.dataset.result = String(r.result ?? "");
      for (const [name, fill] of COLUMNS) {
        tr.appendChild(cell("td", String(/** @type {any} */ (fill)(r)), `nbrtc-doctor-${String(name).replace(/\s+/g, "-").toLowerCase()}`));
      }
      table.appendChild(tr);
    }
    while (advice.children.length) advice.children[0].remove();
    const sentences = Array.isArray(model.get("advice")) ? model.get("advice") : [];
    for (const s of sentences) advice.appendChild(cell("li", String(s)));
  };
  const onState = () => {
    if (model.get("state") === "closed") run?.cancel();
  };
  for (const name of ["change:state", "change:table_rows", "change:advice"]) model.on(name, draw);
  model.on("change:state", onState);
  draw();

  /** @type {{done: Promise<any>, cancel: () => void} | null} */
  let run = null;
  let ended = false;
  const g = /** @type {any} */ (globalThis);
  const later = env?.setTimeout ?? ((/** @type {() => void} */ fn, /** @type {number} */ ms) => g.setTimeout(fn, ms));
  const cancelLater = env?.clearTimeout ?? ((/** @type {any} */ id) => g.clearTimeout(id));
  // The probes start on the next task (a close from the same cell arrives first), and
  // only for a doctor that has not run: another view, or the same view re-rendered,
  // shows the kernel's table.
  const startTimer = later(() => {
    if (ended || model.get("state") !== "new") return;
    const paths = Array.isArray(model.get("paths")) ? model.get("paths") : [];
    run = runDoctor({ model, router, paths, remote: pageIsRemote(location ?? g.location), env });
  }, 0);

  const cleanup = () => {
    if (ended) return;
    ended = true;
    cancelLater(startTimer);
    run?.cancel();
    for (const name of ["change:state", "change:table_rows", "change:advice"]) model.off(name, draw);
    model.off("change:state", onState);
    root.remove();
  };
  if (signal) {
    if (signal.aborted) cleanup();
    else signal.addEventListener("abort", cleanup, { once: true });
  }
  return cleanup;
}
