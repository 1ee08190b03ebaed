// The `_esm` of every nbrtc widget model: a few hundred bytes that import the real
// bundle (the model's `_module` trait: static/widget.js or static/inspector.js) once per
// page and bundle text, then hand each model and view to it.
//
// Why: anywidget imports each model's `_esm` from a fresh blob URL, so every widget
// parsed and evaluated the whole ~100 KiB bundle again (7-12 ms of the page's main
// thread per widget, measured in Chromium: on the path to every camera's first frame,
// 16x for a 16-camera Grid). Keyed by the text itself, a changed bundle (a new nbrtc
// after a kernel restart, without a page reload) is imported anew, never confused with
// the old one. A failed import is forgotten, so the next widget tries again.

/** @typedef {{initialize?: (ctx: any) => any, render?: (ctx: any) => any}} WidgetDef */

/** @type {Map<string, Promise<WidgetDef>>} */
const cache = /** @type {any} */ (globalThis).__nbrtc_modules ??= new Map();

/**
 * The bundle of `model` (its `_module` text), imported once per page.
 * @param {any} model
 * @returns {Promise<WidgetDef>}
 */
function load(model) {
  const text = String(model.get("_module") ?? "");
  let found = cache.get(text);
  if (!found) {
    const url = URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
    found = import(/* @vite-ignore */ url)
      .then((mod) => /** @type {WidgetDef} */ (mod.default))
      .finally(() => URL.revokeObjectURL(url));
    found.catch(() => cache.delete(text));
    cache.set(text, found);
  }
  return found;
}

export default {
  /** @param {any} ctx anywidget's {model, signal, experimental} */
  async initialize(ctx) {
    const def = await load(ctx.model);
    return def.initialize?.(ctx);
  },
  /** @param {any} ctx anywidget's {model, el, signal, host, experimental} */
  async render(ctx) {
    const def = await load(ctx.model);
    return def.render?.(ctx);
  },
};
