// The anywidget front-end module. initialize() ties the model's comm to the page's
// router; render() makes one view with one BrowserPeer, and its cleanup closes that
// peer (stopping the camera) before the DOM goes. The Python side owns every synced
// trait: this module only reads them.
//
// For page scripts, the view's root element (.nbrtc-root) carries
//   root.nbrtc = {send(label, data) -> boolean, channels() -> string[]}
// and dispatches a bubbling CustomEvent "nbrtc-message" ({channel, data, stream}) for
// every message the kernel sends on a named data channel.

import { renderDoctor } from "./inspector/doctor-view.js";
import { runAll } from "./core/cleanup.js";
import { mountSession } from "./core/mount.js";
import { BrowserPeer } from "./peer/peer.js";
import { PROBE_KIND, STREAM_KINDS } from "./core/protocol.js";
import { renderRoom } from "./room/room.js";
import { getRouter } from "./core/router.js";
import { createView } from "./peer/view.js";
import { earlyAnswerer } from "./peer/early-answer.js";
import { defaultEnv } from "./core/env.js";

/** @type {ReturnType<typeof earlyAnswerer> | null} made on first use: the page's env */
let earlyPreparer = null;
/**
 * The page's preparer of early answers (the router calls it as a kernel offer arrives).
 * @param {string} sdp
 * @param {any} model
 */
const answerEarly = (sdp, model) => (earlyPreparer ??= earlyAnswerer(defaultEnv()))(sdp, model);

/** Injected by js/build.mjs from package.json; "dev" when run unbundled. */
export const BUNDLE_VERSION =
  typeof __NBRTC_VERSION__ === "string" ? __NBRTC_VERSION__ : "dev";

/**
 * @param {any} model
 * @returns {string} "" when the versions agree, else the warning to show
 */
function versionWarning(model) {
  let kernelVersion;
  try {
    kernelVersion = model.get("_version");
  } catch {
    kernelVersion = undefined;
  }
  if (kernelVersion === BUNDLE_VERSION) return "";
  return (
    `Version mismatch: Python nbrtc ${String(kernelVersion ?? "unknown")}, ` +
    `browser bundle ${BUNDLE_VERSION}. Restart the kernel and reload the page.`
  );
}

export default {
  /** @param {{model: any}} ctx */
  initialize({ model }) {
    let detach = () => {};
    try {
      const router = getRouter();
      // The kernel's offer is answered as it arrives, before the view renders
      // (peer/early-answer.js); a router from another bundle may lack the hook.
      router.prepareAnswersWith?.(answerEarly);
      detach = router.attachModel(model);
    } catch (err) {
      console.error("[nbrtc] could not attach the model to the router", err);
    }
    return () => runAll([detach]);
  },

  /** @param {{model: any, el: HTMLElement, signal?: AbortSignal}} ctx */
  render({ model, el, signal }) {
    const router = getRouter();
    const kind = model.get("kind");
    // A room's view is a mesh member (room.js), not a stream to the kernel.
    if (kind === "room") {
      return renderRoom({ model, el, router, signal, warning: versionWarning(model) });
    }
    // nbrtc.doctor(): probes of every path to the kernel, and the kernel's table.
    if (kind === PROBE_KIND) {
      return renderDoctor({ model, el, router, signal, warning: versionWarning(model) });
    }
    /** @type {BrowserPeer | null} */
    let peer = null;
    const view = createView(el, {
      kind,
      // The panel's Send: the peer throws only for a bad label, which the panel never has.
      onSend: (label, text) => (peer ? peer.sendData(label, text) : false),
      // The device picker asks the kernel (a `device` message); the kernel's new
      // constraints then restart the stream below, like `cam.constraints = {...}`.
      onPickDevice: (pickKind, deviceId) => (peer ? peer.pickDevice(pickKind, deviceId) : false),
    });
    view.setWarning(versionWarning(model));

    /** @param {string} [kernelOffer] the kernel's offer this peer may answer */
    const newPeer = (kernelOffer = "") =>
      new BrowserPeer({
        model,
        kind,
        router,
        onChange: (snap) => view.update(snap),
        onChannel: (ev) => view.channelEvent(ev),
        kernelOffer,
        // the offer went to another view or page: this view offers itself instead;
        // a widget the kernel closed meanwhile ("closed") starts nothing, even before
        // its closed state reaches this page
        onOfferRefused: (code) => {
          if (code === "closed" || kernelClosed() || signal?.aborted) return;
          peer = newPeer();
          peer.start();
        },
      });
    if (STREAM_KINDS.includes(kind)) {
      // The first peer of this view may answer the kernel's offer (the widget's
      // `_kernel_offer`, made as it was displayed); a restart offers itself.
      const offered = model.get("_kernel_offer");
      peer = newPeer(typeof offered === "string" ? offered : "");
    } else {
      view.update({
        id: "",
        kind: String(kind),
        state: { name: "error", reason: "bad kind" },
        words:
          `Unknown widget kind ${JSON.stringify(kind)}: expected one of ` +
          `${STREAM_KINDS.map((k) => JSON.stringify(k)).join(", ")}.`,
        media: null,
        kernelState: "",
      });
    }

    // The page-script API. It follows `peer`, which a constraints change replaces.
    const root = /** @type {any} */ (view.root);
    root.nbrtc = Object.freeze({
      /**
       * Send on a named data channel; an unknown label opens one (queued until open).
       * @param {string} label
       * @param {string | ArrayBuffer | ArrayBufferView | Blob} data
       * @returns {boolean} false when the stream is not running
       */
      send: (label, data) => (peer ? peer.sendData(label, data) : false),
      /** @returns {string[]} */
      channels: () => (peer ? peer.channelLabels() : []),
    });

    // What the kernel does with the camera's or screen's video: processed video shown
    // instead of the preview. The notice line: the processing callback's failure, and
    // the kernel's `warning` (a problem that has not ended the stream, e.g. a TURN 401).
    const onProcessing = () => view.setProcessing(Boolean(model.get("processing")));
    const onNotice = () => {
      const parts = [model.get("process_error"), model.get("warning")];
      view.setNotice(parts.filter((p) => typeof p === "string" && p !== "").join(" · "));
    };
    model.on("change:processing", onProcessing);
    model.on("change:process_error", onNotice);
    model.on("change:warning", onNotice);
    onProcessing();
    onNotice();

    // The kernel's own state/error traits (e.g. a failed frame callback, or a kernel
    // side failure the browser cannot see).
    const onKernelTraits = () => {
      const state = model.get("state");
      const error = model.get("error");
      if (state === "error") view.setKernelError(error || "The kernel reported an error.");
      else view.setKernelError(typeof error === "string" ? error : "");
    };
    model.on("change:state", onKernelTraits);
    model.on("change:error", onKernelTraits);
    onKernelTraits();

    // Opened below (mountSession): until then a change has nothing to restart.
    /** @type {ReturnType<typeof mountSession> | null} */
    let mounted = null;
    const kernelClosed = () => model.get("state") === "closed";
    // New constraints from Python (`cam.constraints = {...}`, `mic.audio = {...}`):
    // getUserMedia takes them only when it opens the device, so this view replaces its
    // stream with a fresh one (bye reason "constraints-changed" for both traits).
    const restart = () => {
      if (kernelClosed() || !mounted || mounted.starting() || !peer) return;
      peer.close("constraints-changed");
      peer = newPeer();
      peer.start();
    };
    const onConstraints = () => {
      if (kind === "camera") restart();
      // A screen share takes them on its live track: restarting would ask the user to
      // pick a screen again.
      else if (kind === "screen") peer?.applyVideoConstraints();
    };
    const onAudio = () => {
      if (kind === "camera" || kind === "microphone") restart();
    };
    model.on("change:constraints", onConstraints);
    model.on("change:audio", onAudio);
    // The page's jitter buffer for the kernel's video (peer/playout.js), live.
    const onJitterBuffer = () => peer?.applyJitterBuffer();
    model.on("change:jitter_buffer_ms", onJitterBuffer);

    // The session's start, its close on the kernel's "closed" and on cleanup (mount.js);
    // after it, this view's own listeners, then the DOM.
    mounted = mountSession({
      model,
      current: () => peer,
      signal,
      release: [
        () => {
          delete root.nbrtc;
        },
        () => model.off("change:constraints", onConstraints),
        () => model.off("change:audio", onAudio),
        () => model.off("change:jitter_buffer_ms", onJitterBuffer),
        () => model.off("change:processing", onProcessing),
        () => model.off("change:process_error", onNotice),
        () => model.off("change:warning", onNotice),
        () => model.off("change:state", onKernelTraits),
        () => model.off("change:error", onKernelTraits),
        () => view.destroy(),
      ],
    });
    return mounted.cleanup;
  },
};
