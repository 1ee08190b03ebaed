// The anywidget front-end module of nbrtc.Inspector: a diagnostic panel beside a live
// stream. The Python side computes everything (log, SDP, candidates, states, charts,
// room) and pushes it in synced traits; this module draws them (inspector-view.js) and
// sends control requests back:
//   {type: "control", action: "set_network" | "clear_network" | "set_codec" |
//    "set_max_bitrate" | "restart_ice", args: {...}}
// It has no peer connection and no timers: everything follows trait changes.

import { TRAITS, createInspectorView } from "./inspector/inspector-view.js";

/** Injected by js/build.mjs from package.json; "dev" when run unbundled. */
export const BUNDLE_VERSION =
  typeof __NBRTC_VERSION__ === "string" ? __NBRTC_VERSION__ : "dev";

/**
 * @param {any} model
 * @returns {string} "" when the versions agree (or the model has no `_version`)
 */
function versionWarning(model) {
  let kernelVersion;
  try {
    kernelVersion = model.get("_version");
  } catch {
    kernelVersion = undefined;
  }
  if (typeof kernelVersion !== "string" || kernelVersion === BUNDLE_VERSION) return "";
  return (
    `Version mismatch: Python nbrtc ${kernelVersion}, browser bundle ${BUNDLE_VERSION}. ` +
    "Restart the kernel and reload the page."
  );
}

export default {
  /** @param {{model: any, el: HTMLElement, signal?: AbortSignal}} ctx */
  render({ model, el, signal }) {
    const view = createInspectorView(el, {
      onControl: (action, args) => model.send({ type: "control", action, args }),
    });
    view.setWarning(versionWarning(model));

    /** @type {[string, () => void][]} */
    const handlers = TRAITS.map((name) => [
      name,
      () => {
        let value;
        try {
          value = model.get(name);
        } catch (err) {
          console.error(`[nbrtc] inspector could not read ${name}`, err);
          return;
        }
        view.set(name, value);
      },
    ]);
    for (const [name, fn] of handlers) {
      model.on(`change:${name}`, fn);
      fn();
    }

    let done = false;
    const cleanup = () => {
      if (done) return;
      done = true;
      for (const [name, fn] of handlers) {
        try {
          model.off(`change:${name}`, fn);
        } catch (err) {
          console.error("[nbrtc] inspector cleanup step failed", err);
        }
      }
      view.destroy();
    };
    if (signal) {
      if (signal.aborted) cleanup();
      else signal.addEventListener("abort", cleanup, { once: true });
    }
    return cleanup;
  },
};
