// The `_esm` of every nbrtc widget model: a few hundred bytes that import the real
// bundle (static/widget.js or static/inspector.js) once per page, then hand each model
// and view to it.
//
// Why: anywidget imports each model's `_esm` from a fresh blob URL, so every widget
// parsed and evaluated the whole ~100 KiB bundle again (7-12 ms of the page's main
// thread per widget, measured in Chromium: on the path to every camera's first frame,
// 16x for a 16-camera Grid). The bundle is kept by its id (`_module_id`: name and
// content hash), so a changed bundle (a new nbrtc after a kernel restart, without a page
// reload) is imported anew, never confused with the old one.
//
// Where its text comes from: the model's `_module` trait, which the kernel fills only
// until a page of it has shown that it holds the bundle (nbrtc/_bundle.py); a later
// model carries "" and is served from this page's cache. A page that lacks it (a second
// tab, a reload) asks the model's widget for the text once ({nbrtc_module: id}, answered
// with {nbrtc_module: id, text} or {nbrtc_module: id, error}). A failed import or
// request is forgotten, so the next widget tries again. A kernel older than `_module_id`
// sends the text every time: it is then the cache's key, as before.

/** @typedef {{initialize?: (ctx: any) => any, render?: (ctx: any) => any}} WidgetDef */

/** How long a page waits for the kernel to send a bundle it asked for. */
export const ASK_MS = 15000;

/**
 * A loader over `cache` (bundle id, or text from an older kernel -> its module).
 * @param {{
 *   cache: Map<string, Promise<WidgetDef>>,
 *   importText: (text: string) => Promise<WidgetDef>,
 *   setTimer: (fn: () => void, ms: number) => any,
 *   clearTimer: (id: any) => void,
 * }} deps
 */
export function createLoader({ cache, importText, setTimer, clearTimer }) {
  /**
   * Ask `model`'s widget in the kernel for bundle `id`'s text.
   * @param {any} model
   * @param {string} id
   * @returns {Promise<string>}
   */
  function ask(model, id) {
    return new Promise((resolve, reject) => {
      /** @param {unknown} content */
      const onMessage = (content) => {
        const msg = /** @type {any} */ (content);
        if (!msg || typeof msg !== "object" || msg.nbrtc_module !== id) return;
        if (typeof msg.text === "string" && msg.text !== "") finish(null, msg.text);
        else finish(new Error(`nbrtc: the kernel did not send the widget's front end: ${String(msg.error ?? "no text")}`));
      };
      const timer = setTimer(
        () =>
          finish(
            new Error(
              `nbrtc: the kernel did not send the widget's front end (${id}) within ` +
                `${ASK_MS / 1000} s: is the kernel running? Run the cell again.`,
            ),
          ),
        ASK_MS,
      );
      /**
       * @param {Error | null} err
       * @param {string} [text]
       */
      function finish(err, text) {
        clearTimer(timer);
        model.off("msg:custom", onMessage);
        if (err) reject(err);
        else resolve(/** @type {string} */ (text));
      }
      model.on("msg:custom", onMessage);
      model.send({ nbrtc_module: id });
    });
  }

  /**
   * The bundle of `model`, imported once per page.
   * @param {any} model
   * @returns {Promise<WidgetDef>}
   */
  function load(model) {
    const id = String(model.get("_module_id") ?? "");
    const text = String(model.get("_module") ?? "");
    const key = id || text;
    if (!key) return Promise.reject(new Error("nbrtc: this widget names no front-end bundle"));
    let found = cache.get(key);
    if (!found) {
      found = (text ? Promise.resolve(text) : ask(model, id)).then(importText);
      found.catch(() => cache.delete(key));
      cache.set(key, found);
    }
    return found;
  }

  return {
    load,
    /**
     * The bundle's initialize for this model. When the bundle must be asked for, this
     * returns at once and the bundle's initialize runs when the text came: anywidget
     * holds every comm message to a model, the reply included, until its initialize
     * has returned (AnyModel._handle_comm_msg awaits the runtime's ready). The view's
     * render awaits the same promise, whose reactions run in order, so the bundle's
     * initialize has run before its render.
     * @param {any} ctx anywidget's {model, signal, experimental}
     */
    async initialize(ctx) {
      const model = ctx.model;
      const id = String(model.get("_module_id") ?? "");
      if (id && !String(model.get("_module") ?? "") && !cache.has(id)) {
        let gone = false;
        /** @type {unknown} */
        let cleanup;
        load(model).then(
          (def) => {
            if (!gone) cleanup = def.initialize?.(ctx);
          },
          () => {}, // the view's render shows the failure
        );
        return () => {
          gone = true;
          if (typeof cleanup === "function") cleanup();
        };
      }
      const def = await load(model);
      return def.initialize?.(ctx);
    },
    /** @param {any} ctx anywidget's {model, el, signal, host, experimental} */
    async render(ctx) {
      const def = await load(ctx.model);
      return def.render?.(ctx);
    },
  };
}

/**
 * Import a bundle's text as a module (a blob URL, revoked once imported).
 * @param {string} text
 * @returns {Promise<WidgetDef>}
 */
function importText(text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
  return import(/* @vite-ignore */ url)
    .then((mod) => /** @type {WidgetDef} */ (mod.default))
    .finally(() => URL.revokeObjectURL(url));
}

const loader = createLoader({
  cache: /** @type {any} */ (globalThis).__nbrtc_modules ??= new Map(),
  importText,
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (id) => clearTimeout(id),
});

export default { initialize: loader.initialize, render: loader.render };
