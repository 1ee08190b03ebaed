// The DOM of one widget view: the kind's media element(s), a status line, a notice line
// and the data channels panel. It only draws what the peer reports (see PeerSnapshot in
// peer.js) and the traits widget.js hands it; it never talks to the kernel.
// `document` is touched only inside createView, so node can import the pure helpers.
//
// Per kind:
//   camera, screen  two <video>s in .nbrtc-stage: .nbrtc-local (the device, always muted)
//                   and .nbrtc-remote (the kernel's processed video). Exactly one of them,
//                   the visible one, has the class .nbrtc-video; the other has .nbrtc-hidden.
//                   root[data-showing] says which: "camera" (local) or "processed".
//   view            one <video class="nbrtc-video nbrtc-remote"> with the kernel's video and
//                   sound; muted with an .nbrtc-unmute button if autoplay with sound is refused.
//   microphone      <meter class="nbrtc-meter"> on the local stream.
//   audio           <audio class="nbrtc-audio" controls autoplay> plus .nbrtc-meter, and an
//                   .nbrtc-play button if autoplay is refused.
//
// A camera's and a microphone's view also have .nbrtc-devices, the device picker
// (picker.js): a <select class="nbrtc-device"> per kind the page has 2+ devices of.
//
// The look is in view.css (bundled into static/widget.css, anywidget's `_css`): the view
// injects no style.

import { describeData } from "../core/channels.js";
import { createMeter } from "./meter.js";
import { createPicker } from "./picker.js";
import { listen } from "../core/listen.js";
import { setData, setHidden, setText } from "../core/dom.js";

/** Messages kept per channel in the panel. */
export const MAX_LOG = 50;

/**
 * @typedef {import("./peer.js").PeerSnapshot} PeerSnapshot
 * @typedef {import("./peer.js").PeerChannelEvent} PeerChannelEvent
 * @typedef {{
 *   state: {name: string, reason: string},
 *   words?: string,
 *   width?: number,
 *   height?: number,
 *   transport?: string,
 * }} StatusInput
 *
 * What the view needs from the page besides `document`; tests pass fakes.
 * @typedef {{
 *   setInterval: (fn: () => void, ms: number) => any,
 *   clearInterval: (id: any) => void,
 *   AudioContext?: any,
 *   log: Pick<Console, "debug" | "warn" | "error">,
 * }} ViewEnv
 *
 * @typedef {"camera" | "processed"} Showing
 */

/** Short badge labels. */
const BADGES = Object.freeze({
  idle: "new",
  negotiating: "connecting",
  connecting: "connecting",
  live: "live",
  closed: "closed",
  error: "error",
});

/**
 * The status line's words for a peer state. Pure.
 * @param {StatusInput} input
 * @returns {{text: string, badge: string}}
 */
export function statusText({ state, words = "", width = 0, height = 0, transport = "" }) {
  const badge = Object.hasOwn(BADGES, state.name)
    ? BADGES[/** @type {keyof typeof BADGES} */ (state.name)]
    : state.name;
  switch (state.name) {
    case "idle":
      return { text: "Starting…", badge };
    case "negotiating":
    case "connecting":
      return { text: "Connecting…", badge };
    case "live": {
      const size = width > 0 && height > 0 ? ` · ${width}×${height}` : "";
      // over the comm, say so: slower than WebRTC, and the reason is worth a look
      const via = transport === "comm" ? " · via the notebook connection (WebRTC could not connect)" : "";
      return { text: `Live${size}${via}`, badge };
    }
    case "closed":
      return { text: words || "Closed", badge };
    case "error":
      return { text: words || state.reason || "Error", badge };
    default:
      return { text: state.name, badge };
  }
}

/**
 * Which video a camera or screen view shows. The kernel's processed video only when the
 * kernel says it sends it (`processing` trait) AND a frame of it arrived since that was
 * last in doubt (`remoteFresh`), so a switch never shows black or a stale frame. Pure.
 * @param {{processing: boolean, remoteFresh: boolean}} input
 * @returns {Showing}
 */
export function chooseShowing({ processing, remoteFresh }) {
  return processing && remoteFresh ? "processed" : "camera";
}

/** @returns {ViewEnv} */
export function defaultViewEnv() {
  const g = /** @type {any} */ (globalThis);
  return {
    setInterval: (fn, ms) => g.setInterval(fn, ms),
    clearInterval: (id) => g.clearInterval(id),
    AudioContext: g.AudioContext ?? g.webkitAudioContext,
    log: console,
  };
}

/**
 * @param {any} stream
 * @param {"audio" | "video"} kind
 * @returns {any[]}
 */
function tracksOf(stream, kind) {
  if (!stream || typeof stream.getTracks !== "function") return [];
  return stream.getTracks().filter((/** @type {any} */ t) => t.kind === kind);
}

/**
 * @param {any} p what play() returned (a promise in browsers, undefined in old ones)
 * @returns {Promise<void>}
 */
function settle(p) {
  return p && typeof p.then === "function" ? p : Promise.resolve();
}

/**
 * Build the view inside `el`.
 * @param {HTMLElement} el
 * @param {{
 *   kind: string,
 *   env?: Partial<ViewEnv>,
 *   onSend?: (label: string, text: string) => boolean,
 *   onPickDevice?: (kind: "video" | "audio", deviceId: string) => boolean,
 * }} options onSend: the channel panel's Send (true when sent or queued); onPickDevice:
 *   the device picker's choice (true when the kernel was asked; picker.js)
 */
export function createView(el, { kind, env: envIn, onSend, onPickDevice }) {
  const env = { ...defaultViewEnv(), ...envIn };
  const doc = el.ownerDocument;
  const abort = new AbortController();
  const signal = abort.signal;
  let destroyed = false;

  /**
   * Every listener goes through one signal, so destroy() removes them all at once.
   * @param {EventTarget} target
   * @param {string} type
   * @param {(ev: any) => void} fn
   * @param {AbortSignal} [sig]
   */
  const on = (target, type, fn, sig = signal) =>
    listen(target, type, fn, { signal: sig, isClosed: () => destroyed, log: env.log, what: "view " });

  /**
   * @param {string} tag
   * @param {string} className
   * @param {string} [text]
   */
  const make = (tag, className, text) => {
    const node = doc.createElement(tag);
    node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  /**
   * @param {string} className
   * @param {boolean} muted
   * @returns {any}
   */
  const makeVideo = (className, muted) => {
    const v = /** @type {any} */ (make("video", className));
    v.autoplay = true;
    v.playsInline = true;
    v.setAttribute("playsinline", "");
    if (muted) {
      // muted both ways: the attribute is what autoplay policies read at insertion time.
      v.muted = true;
      v.setAttribute("muted", "");
    }
    return v;
  };

  const root = make("div", "nbrtc-root");
  root.dataset.kind = String(kind);
  root.dataset.state = "idle";
  const isVideoKind = kind === "camera" || kind === "screen";

  /** @type {any} the device preview (camera, screen) */
  let local = null;
  /** @type {any} the kernel's video (processed video, or a view's source) */
  let remote = null;
  /** @type {any} */
  let audioEl = null;
  /** @type {any} */
  let meterEl = null;
  /** @type {any} */
  let unmuteButton = null;
  /** @type {any} */
  let playButton = null;
  /** @type {any[]} */
  const top = [];

  if (isVideoKind) {
    const stage = make("div", "nbrtc-stage");
    // The local preview is always muted: the camera's own microphone must not echo.
    local = makeVideo("nbrtc-local nbrtc-video", true);
    // Processed video has no sound (the camera's audio m-line is sendonly).
    remote = makeVideo("nbrtc-remote nbrtc-hidden", true);
    stage.append(local, remote);
    top.push(stage);
    root.dataset.showing = "camera";
  } else if (kind === "view") {
    const stage = make("div", "nbrtc-stage");
    // Not muted: a kernel source may have sound. If autoplay with sound is refused the
    // video falls back to muted and the Unmute button appears.
    remote = makeVideo("nbrtc-video nbrtc-remote", false);
    unmuteButton = make("button", "nbrtc-unmute", "Unmute");
    unmuteButton.type = "button";
    unmuteButton.hidden = true;
    stage.append(remote);
    top.push(stage, unmuteButton);
  } else if (kind === "microphone" || kind === "audio") {
    if (kind === "audio") {
      audioEl = make("audio", "nbrtc-audio");
      audioEl.controls = true;
      audioEl.autoplay = true;
      audioEl.setAttribute("controls", "");
      audioEl.setAttribute("autoplay", "");
      playButton = make("button", "nbrtc-play", "Click to play");
      playButton.type = "button";
      playButton.hidden = true;
      top.push(audioEl, playButton);
    }
    meterEl = make("meter", "nbrtc-meter");
    meterEl.min = 0;
    meterEl.max = 1;
    meterEl.value = 0;
    meterEl.dataset.level = "0";
    top.push(meterEl);
  }

  const status = make("div", "nbrtc-status");
  const badge = make("span", "nbrtc-badge");
  const text = make("span", "nbrtc-text");
  const kernelError = make("span", "nbrtc-kernel-error");
  const warning = make("span", "nbrtc-warning");
  status.append(badge, text, kernelError, warning);
  const notice = make("div", "nbrtc-notice");
  notice.hidden = true;
  const channelsPanel = make("div", "nbrtc-channels");
  channelsPanel.hidden = true;
  /** The device picker (camera, microphone): hidden until the page lists 2+ devices. */
  const picker =
    kind === "camera" || kind === "microphone"
      ? createPicker({
          box: make("div", "nbrtc-devices"),
          widgetKind: kind,
          make,
          on: (target, type, fn) => on(target, type, fn),
          onPick: (pickKind, deviceId) => (onPickDevice ? onPickDevice(pickKind, deviceId) : false),
        })
      : null;
  if (picker) picker.box.hidden = true;
  root.append(...top, ...(picker ? [picker.box] : []), status, notice, channelsPanel);
  el.appendChild(root);

  /** @type {PeerSnapshot | null} */
  let last = null;
  let kernelErrorText = "";
  /** The streams on the elements (compared by identity, not via srcObject). */
  /** @type {any} */
  let localStream = null;
  /** @type {any} */
  let remoteStream = null;

  // ---- processed video (camera, screen) ---------------------------------------------
  let processing = false;
  /** A frame of the remote video arrived since it was last in doubt. */
  let remoteFresh = false;
  /** @type {any} a pending requestVideoFrameCallback handle */
  let frameHandle = null;
  /** @type {AbortController | null} listeners on the current remote video track */
  let trackAbort = null;
  /** @type {any} */
  let watchedTrack = null;

  /** @returns {Showing} */
  const showing = () => chooseShowing({ processing, remoteFresh });

  const cancelFrameWatch = () => {
    if (frameHandle !== null && remote && typeof remote.cancelVideoFrameCallback === "function") {
      try {
        remote.cancelVideoFrameCallback(frameHandle);
      } catch {
        // already fired
      }
    }
    frameHandle = null;
  };

  /** The remote video's next presented frame makes it fresh (if it is wanted). */
  const armFrameWatch = () => {
    if (!isVideoKind || destroyed || !processing || remoteFresh || !remoteStream) return;
    if (frameHandle !== null || typeof remote.requestVideoFrameCallback !== "function") return;
    frameHandle = remote.requestVideoFrameCallback(() => {
      frameHandle = null;
      if (destroyed) return;
      markFresh();
    });
  };

  const markFresh = () => {
    if (!processing || !remoteStream || remoteFresh) return;
    remoteFresh = true;
    cancelFrameWatch();
    draw();
  };

  /** Frames may have stopped (new stream, muted or ended track, processing off). */
  const markStale = () => {
    remoteFresh = false;
    cancelFrameWatch();
    armFrameWatch();
  };

  /** Follow the remote video track's mute/ended: no RTP means no fresh frames. */
  const watchRemoteTrack = () => {
    const [track] = tracksOf(remoteStream, "video");
    if (track === watchedTrack) return;
    trackAbort?.abort();
    trackAbort = null;
    watchedTrack = track ?? null;
    if (!track || typeof track.addEventListener !== "function") return;
    // Its own controller (aborted here on a track change, and by destroy()).
    trackAbort = new AbortController();
    const stale = () => {
      markStale();
      draw();
    };
    on(track, "mute", stale, trackAbort.signal);
    on(track, "ended", stale, trackAbort.signal);
  };

  // ---- autoplay with sound (view, audio) -----------------------------------------------
  let needUnmute = false;
  let needClick = false;

  /**
   * Play `media`'s element; when the browser refuses sound without a click, a view
   * falls back to muted video (+ Unmute), an audio widget shows "Click to play".
   * @param {any} element
   * @param {any} stream
   */
  const playWithSound = (element, stream) => {
    /** @type {any} */
    let p;
    try {
      p = element.play?.();
    } catch (err) {
      p = Promise.reject(err);
    }
    settle(p).then(
      () => {
        if (destroyed || stream !== currentOf(element)) return;
        if (element === audioEl) needClick = false;
        draw();
      },
      (/** @type {any} */ err) => {
        if (destroyed || stream !== currentOf(element)) return;
        // AbortError: a newer srcObject interrupted this play(); that one decides.
        if (err?.name !== "NotAllowedError") return;
        if (element === remote && kind === "view") {
          element.muted = true;
          needUnmute = true;
          settle(element.play?.()).catch(() => {});
        } else if (element === audioEl) {
          needClick = true;
        }
        draw();
      },
    );
  };

  /**
   * @param {any} element
   * @returns {any}
   */
  const currentOf = (element) => (element === local ? localStream : remoteStream);

  /**
   * Put `stream` on `element` (only when it changed: re-attaching restarts playback).
   * @param {any} element
   * @param {any} stream
   * @param {boolean} withSound
   */
  const attach = (element, stream, withSound) => {
    element.srcObject = stream;
    if (!stream) return;
    if (withSound) {
      playWithSound(element, stream);
      return;
    }
    // autoplay usually suffices; play() covers hosts that insert the element late.
    try {
      settle(element.play?.()).catch(() => {});
    } catch {
      // nothing to play
    }
  };

  // ---- level meter (microphone, audio) -------------------------------------------------
  /** @type {import("./meter.js").Meter | null} */
  let meter = null;
  /** @type {any} */
  let meterStream = null;

  /** (Re)start the meter when its stream changed or got its audio track. */
  const syncMeter = () => {
    if (!meterEl) return;
    const wanted = kind === "microphone" ? localStream : remoteStream;
    const hasAudio = tracksOf(wanted, "audio").length > 0;
    if (wanted === meterStream && (meter !== null || !hasAudio)) return;
    meter?.stop();
    meter = null;
    meterStream = wanted;
    setLevel(0);
    if (!wanted || !hasAudio || destroyed) return;
    meter = createMeter(wanted, setLevel, env);
  };

  /** @param {number} level */
  const setLevel = (level) => {
    if (!meterEl) return;
    meterEl.value = level;
    meterEl.dataset.level = level.toFixed(2);
  };

  // ---- data channels -------------------------------------------------------------------
  /** @type {Map<string, {box: any, log: any, abort: AbortController}>} */
  const boxes = new Map();

  /**
   * @param {string} label
   */
  const ensureBox = (label) => {
    const existing = boxes.get(label);
    if (existing) return existing;
    const box = make("div", "nbrtc-channel");
    box.dataset.label = label;
    box.dataset.state = "connecting";
    const title = make("div", "nbrtc-channel-label", label);
    const log = make("div", "nbrtc-log");
    const row = make("div", "nbrtc-channel-row");
    const input = /** @type {any} */ (make("input", "nbrtc-channel-input"));
    input.type = "text";
    input.placeholder = `Send on ${label}`;
    input.value = "";
    const button = /** @type {any} */ (make("button", "nbrtc-channel-send", "Send"));
    button.type = "button";
    row.append(input, button);
    box.append(title, log, row);
    channelsPanel.appendChild(box);
    // Its own controller: aborted when the channel closes, and by destroy().
    const boxAbort = new AbortController();
    const sig = boxAbort.signal;
    const submit = () => {
      const value = String(input.value ?? "");
      if (!value || !onSend) return;
      let ok = false;
      try {
        ok = onSend(label, value);
      } catch (err) {
        env.log.warn(`[nbrtc] sending on ${JSON.stringify(label)} failed`, err);
      }
      // Kept on failure, so the text is not lost; the out entry comes from the peer.
      if (ok) input.value = "";
    };
    on(input, "keydown", (ev) => {
      if (ev.key !== "Enter" || ev.isComposing) return;
      ev.preventDefault?.();
      submit();
    }, sig);
    on(button, "click", submit, sig);
    const entry = { box, log, abort: boxAbort };
    boxes.set(label, entry);
    return entry;
  };

  /**
   * @param {{log: any}} entry
   * @param {"in" | "out"} dir
   * @param {any} data
   */
  const logMessage = (entry, dir, data) => {
    const line = make("div", "nbrtc-msg", describeData(data));
    line.dataset.dir = dir;
    entry.log.appendChild(line);
    while (entry.log.children.length > MAX_LOG) entry.log.children[0].remove();
    entry.log.scrollTop = entry.log.scrollHeight;
  };

  /** @param {string} label */
  const removeBox = (label) => {
    const entry = boxes.get(label);
    if (!entry) return;
    boxes.delete(label);
    entry.abort.abort();
    entry.box.remove();
  };

  // ---- drawing ---------------------------------------------------------------------------
  /** The video a person sees (null for audio-only kinds). */
  const visibleVideo = () => (isVideoKind ? (showing() === "processed" ? remote : local) : remote);

  function draw() {
    if (destroyed) return;
    const state = last?.state ?? { name: "idle", reason: "" };
    const video = visibleVideo();
    if (isVideoKind) {
      const now = showing();
      if (root.dataset.showing !== now) {
        root.dataset.showing = now;
        const [shown, hidden] = now === "processed" ? [remote, local] : [local, remote];
        shown.classList.remove("nbrtc-hidden");
        shown.classList.add("nbrtc-video");
        hidden.classList.remove("nbrtc-video");
        hidden.classList.add("nbrtc-hidden");
      }
    }
    const { text: words, badge: label } = statusText({
      state,
      words: last?.words ?? "",
      width: video?.videoWidth ?? 0,
      height: video?.videoHeight ?? 0,
      transport: last?.transport ?? "",
    });
    setData(root, "transport", last?.transport ?? "");
    setData(root, "state", state.name);
    // Only size the box by the video once the video knows its size: before
    // loadedmetadata it would fall back to 300x150 and make the notebook jump.
    const media = video ? (video === local ? localStream : remoteStream) : last?.media;
    setData(root, "media", media && (!video || video.videoWidth > 0) ? "yes" : "no");
    setText(badge, label);
    setText(text, words);
    // A browser-side error already says why in its own words; repeat nothing.
    setText(
      kernelError,
      kernelErrorText && state.name !== "error" && kernelErrorText !== words
        ? `Kernel: ${kernelErrorText}`
        : "",
    );
    if (unmuteButton) setHidden(unmuteButton, !(needUnmute && tracksOf(remoteStream, "audio").length > 0));
    if (playButton) setHidden(playButton, !needClick);
  }

  for (const v of [local, remote]) {
    if (!v) continue;
    on(v, "resize", () => draw());
    on(v, "loadedmetadata", () => draw());
  }
  if (isVideoKind) {
    // Fallback evidence of fresh frames where requestVideoFrameCallback is missing.
    const maybeFresh = () => {
      if (remote.videoWidth > 0) markFresh();
      draw();
    };
    on(remote, "resize", maybeFresh);
    on(remote, "playing", maybeFresh);
  }
  if (unmuteButton) {
    on(unmuteButton, "click", () => {
      remote.muted = false;
      settle(remote.play?.()).then(
        () => {
          needUnmute = false;
          draw();
        },
        () => {
          // still refused: stay muted (and playing) with the button shown
          remote.muted = true;
          settle(remote.play?.()).catch(() => {});
        },
      );
    });
  }
  if (playButton) {
    on(playButton, "click", () => {
      meter?.resume();
      settle(audioEl.play?.()).then(
        () => {
          needClick = false;
          draw();
        },
        () => {},
      );
    });
  }
  // A click anywhere in the widget lets a suspended AudioContext (autoplay policy) run.
  on(root, "click", () => meter?.resume());
  draw();

  return {
    root,
    /** The device preview (camera/screen) or the kernel's video (view); else null. */
    video: local ?? remote,
    local,
    remote,
    audio: audioEl,
    meter: meterEl,
    /** @param {PeerSnapshot} snapshot */
    update(snapshot) {
      if (destroyed) return;
      last = snapshot;
      const nextLocal = snapshot.local ?? (isVideoKind || kind === "microphone" ? snapshot.media : null) ?? null;
      const nextRemote = snapshot.remote ?? (kind === "view" || kind === "audio" ? snapshot.media : null) ?? null;
      if (local && nextLocal !== localStream) {
        localStream = nextLocal;
        attach(local, localStream, false);
      } else if (!local) {
        localStream = nextLocal;
      }
      if (nextRemote !== remoteStream) {
        remoteStream = nextRemote;
        if (remote) attach(remote, remoteStream, kind === "view");
        if (audioEl) attach(audioEl, remoteStream, true);
        if (isVideoKind) markStale();
      }
      if (isVideoKind) watchRemoteTrack();
      syncMeter();
      picker?.update({ devices: snapshot.devices, local: localStream, state: snapshot.state.name });
      draw();
    },
    /** @param {string} message the kernel's `error` trait ("" clears it) */
    setKernelError(message) {
      kernelErrorText = message || "";
      draw();
    },
    /** @param {string} message */
    setWarning(message) {
      warning.textContent = message || "";
    },
    /**
     * The `processing` trait: the kernel sends processed video on the camera's peer.
     * @param {boolean} value
     */
    setProcessing(value) {
      const next = Boolean(value);
      if (next === processing) return;
      processing = next;
      // Off, or on again: either way the frames on the remote element are old news.
      markStale();
      draw();
    },
    /**
     * The `process_error` trait: shown as a notice, the stream stays live.
     * @param {string} message
     */
    setNotice(message) {
      const value = typeof message === "string" ? message : "";
      notice.textContent = value;
      notice.hidden = value === "";
    },
    /** @param {PeerChannelEvent} ev */
    channelEvent(ev) {
      if (destroyed) return;
      const label = ev.label;
      switch (ev.type) {
        case "add":
          ensureBox(label);
          break;
        case "open":
          ensureBox(label).box.dataset.state = "open";
          break;
        case "message": {
          logMessage(ensureBox(label), "in", ev.data);
          const CE = doc.defaultView?.CustomEvent ?? globalThis.CustomEvent;
          if (typeof CE === "function") {
            root.dispatchEvent(
              new CE("nbrtc-message", {
                bubbles: true,
                detail: { channel: label, data: ev.data, stream: ev.stream },
              }),
            );
          }
          break;
        }
        case "out":
          logMessage(ensureBox(label), "out", ev.data);
          break;
        case "close":
          removeBox(label);
          break;
        default:
          return;
      }
      channelsPanel.hidden = boxes.size === 0;
    },
    /** The current decision, for tests and debugging. */
    showing,
    /** The device picker's <select> of `kind` (null when none was needed). */
    deviceSelect: (/** @type {"video" | "audio"} */ pickKind) => picker?.select(pickKind) ?? null,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      /** @param {() => void} fn */
      const step = (fn) => {
        try {
          fn();
        } catch (err) {
          env.log.debug("[nbrtc] view cleanup step failed", err);
        }
      };
      step(() => cancelFrameWatch());
      step(() => meter?.stop());
      meter = null;
      step(() => abort.abort());
      step(() => trackAbort?.abort());
      for (const entry of boxes.values()) step(() => entry.abort.abort());
      boxes.clear();
      for (const m of [local, remote, audioEl]) {
        if (!m) continue;
        step(() => m.pause());
        step(() => {
          m.srcObject = null;
        });
      }
      step(() => root.remove());
    },
  };
}
