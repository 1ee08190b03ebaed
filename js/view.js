// The DOM of one widget view: a video element and a status line. It only draws what
// the peer reports (see PeerSnapshot in peer.js); it never talks to the kernel.
// `document` is touched only inside createView, so node can import statusText().

const STYLE_ID = "nbrtc-style-v1";

// JupyterLab's CSS variables make it follow light and dark themes; the fallbacks are
// for hosts without them (plain Notebook pages, VS Code, static HTML).
const CSS = `
.nbrtc-root {
  display: inline-flex;
  flex-direction: column;
  gap: 4px;
  max-width: 100%;
  font-family: var(--jp-ui-font-family, system-ui, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, inherit);
}
.nbrtc-video {
  display: block;
  width: 640px;
  max-width: 100%;
  aspect-ratio: 4 / 3;
  background: #000;
  object-fit: contain;
  border-radius: 2px;
}
.nbrtc-root[data-media="yes"] .nbrtc-video {
  width: auto;
  aspect-ratio: auto;
}
.nbrtc-status {
  display: flex;
  align-items: center;
  gap: 6px;
  min-height: 1.4em;
  line-height: 1.4;
}
.nbrtc-badge {
  flex: none;
  font-size: 10px;
  font-weight: 600;
  letter-spacing: 0.04em;
  text-transform: uppercase;
  padding: 0 6px;
  border-radius: 8px;
  border: 1px solid currentColor;
  opacity: 0.85;
}
.nbrtc-root[data-state="live"] .nbrtc-badge {
  background: var(--jp-success-color1, #2e7d32);
  border-color: transparent;
  color: #fff;
  opacity: 1;
}
.nbrtc-root[data-state="error"] .nbrtc-badge {
  background: var(--jp-error-color1, #c62828);
  border-color: transparent;
  color: #fff;
  opacity: 1;
}
.nbrtc-root[data-state="error"] .nbrtc-text,
.nbrtc-kernel-error {
  color: var(--jp-error-color1, #c62828);
}
.nbrtc-warning {
  color: var(--jp-warn-color1, #e65100);
}
.nbrtc-warning:empty, .nbrtc-kernel-error:empty { display: none; }
`;

/**
 * @typedef {import("./peer.js").PeerSnapshot} PeerSnapshot
 * @typedef {{
 *   state: {name: string, reason: string},
 *   words?: string,
 *   width?: number,
 *   height?: number,
 * }} StatusInput
 */

/** Short badge labels. */
const BADGES = Object.freeze({
  idle: "new",
  acquiring: "camera",
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
export function statusText({ state, words = "", width = 0, height = 0 }) {
  const badge = Object.hasOwn(BADGES, state.name)
    ? BADGES[/** @type {keyof typeof BADGES} */ (state.name)]
    : state.name;
  switch (state.name) {
    case "idle":
      return { text: "Starting…", badge };
    case "acquiring":
      return { text: "Starting camera…", badge };
    case "negotiating":
    case "connecting":
      return { text: "Connecting…", badge };
    case "live":
      return { text: width > 0 && height > 0 ? `Live · ${width}×${height}` : "Live", badge };
    case "closed":
      return { text: words || "Closed", badge };
    case "error":
      return { text: words || state.reason || "Error", badge };
    default:
      return { text: state.name, badge };
  }
}

/** Inject the stylesheet once per page (every view shares it). */
function ensureStyle() {
  const doc = globalThis.document;
  if (!doc || doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  (doc.head ?? doc.documentElement).appendChild(style);
}

/**
 * Build the view inside `el`.
 * @param {HTMLElement} el
 * @param {{kind: string}} options
 */
export function createView(el, { kind }) {
  ensureStyle();
  const doc = el.ownerDocument;
  const root = doc.createElement("div");
  root.className = "nbrtc-root";
  root.dataset.kind = String(kind);
  root.dataset.state = "idle";

  const video = doc.createElement("video");
  video.className = "nbrtc-video";
  video.autoplay = true;
  video.playsInline = true;
  // muted both ways: the attribute is what autoplay policies read at insertion time.
  video.muted = true;
  video.setAttribute("muted", "");
  video.setAttribute("playsinline", "");

  const status = doc.createElement("div");
  status.className = "nbrtc-status";
  const badge = doc.createElement("span");
  badge.className = "nbrtc-badge";
  const text = doc.createElement("span");
  text.className = "nbrtc-text";
  const kernelError = doc.createElement("span");
  kernelError.className = "nbrtc-kernel-error";
  const warning = doc.createElement("span");
  warning.className = "nbrtc-warning";
  status.append(badge, text, kernelError, warning);
  root.append(video, status);
  el.appendChild(root);

  /** @type {PeerSnapshot | null} */
  let last = null;
  /** @type {any} */
  let media = null;
  let kernelErrorText = "";

  function draw() {
    const state = last?.state ?? { name: "idle", reason: "" };
    const { text: words, badge: label } = statusText({
      state,
      words: last?.words ?? "",
      width: video.videoWidth,
      height: video.videoHeight,
    });
    root.dataset.state = state.name;
    // Only size the box by the video once the video knows its size: before
    // loadedmetadata it would fall back to 300x150 and make the notebook jump.
    root.dataset.media = media && video.videoWidth > 0 ? "yes" : "no";
    badge.textContent = label;
    text.textContent = words;
    // A browser-side error already says why in its own words; repeat nothing.
    kernelError.textContent =
      kernelErrorText && state.name !== "error" && kernelErrorText !== words
        ? `Kernel: ${kernelErrorText}`
        : "";
  }

  const onResize = () => draw();
  video.addEventListener("resize", onResize);
  video.addEventListener("loadedmetadata", onResize);
  draw();

  return {
    root,
    video,
    /** @param {PeerSnapshot} snapshot */
    update(snapshot) {
      last = snapshot;
      const next = snapshot.media ?? null;
      if (next !== media) {
        media = next;
        video.srcObject = media;
        if (media) {
          // autoplay usually suffices; play() covers hosts that insert the element late.
          const p = video.play?.();
          if (p && typeof p.catch === "function") p.catch(() => {});
        }
      }
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
    destroy() {
      video.removeEventListener("resize", onResize);
      video.removeEventListener("loadedmetadata", onResize);
      try {
        video.pause();
      } catch {
        // nothing to pause
      }
      video.srcObject = null;
      root.remove();
    },
  };
}
