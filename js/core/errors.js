// Turn what getUserMedia, getDisplayMedia or WebRTC threw into words a person can act on. Pure, so the
// wording is tested in node. `name` and `message` go to the kernel unchanged (the
// Python error names the DOMException); `words` is what the widget shows.

/**
 * @typedef {{name: string, message: string, words: string}} Described
 */

/** Browser constraint names -> the names a Python user passed to the widget. */
const CONSTRAINT_NAMES = Object.freeze({
  deviceId: "device_id",
  frameRate: "frame_rate",
  width: "width",
  height: "height",
  facingMode: "facing_mode",
  echoCancellation: "echo_cancellation",
  noiseSuppression: "noise_suppression",
  autoGainControl: "auto_gain_control",
});

/**
 * @param {unknown} constraint
 * @returns {string}
 */
export function constraintName(constraint) {
  if (typeof constraint !== "string" || constraint === "") return "";
  return Object.hasOwn(CONSTRAINT_NAMES, constraint)
    ? CONSTRAINT_NAMES[/** @type {keyof typeof CONSTRAINT_NAMES} */ (constraint)]
    : constraint;
}

/**
 * What was being opened, as the words name it. "camera" is also what every failure
 * that is not about a device (ICE, kernel) is described with, as before.
 * @typedef {"camera" | "camera or microphone" | "microphone" | "screen"} Device
 */

/**
 * @param {string} name
 * @param {string} message
 * @param {unknown} err
 * @param {Device} device
 * @returns {string}
 */
function wordsFor(name, message, err, device) {
  if (device === "screen") {
    const words = screenWordsFor(name, message);
    if (words) return words;
  }
  // "camera or microphone": a camera with audio asks for both in one getUserMedia, and
  // the browser does not say which of the two failed.
  const Device = device.charAt(0).toUpperCase() + device.slice(1);
  const access = device === "camera or microphone" ? "camera and microphone" : device;
  switch (name) {
    case "NotAllowedError":
      return (
        `${Device} permission was denied (NotAllowedError). ` +
        `Allow ${access} access for this page and run the cell again.`
      );
    case "NotFoundError":
      return (
        `No ${device} was found (NotFoundError). ` +
        `Connect a ${device} (or enable it in the system settings) and run the cell again.`
      );
    case "NotReadableError":
      return (
        `The ${device} is busy or could not be started (NotReadableError): another app or ` +
        "browser tab is probably using it. Close that app or tab and run the cell again."
      );
    case "OverconstrainedError": {
      const raw =
        err && typeof err === "object" && "constraint" in err ? /** @type {any} */ (err).constraint : "";
      const which = constraintName(raw);
      if (which === "device_id") {
        return (
          `The requested ${device} was not found: no ${device} has that device_id ` +
          "(OverconstrainedError). Pick a device_id from the widget's devices list, " +
          "or leave device_id unset, and run the cell again."
        );
      }
      const subject = which ? `the ${which} constraint` : "the requested constraints";
      return (
        `No ${device} can satisfy ${subject} (OverconstrainedError). ` +
        "Relax or remove it and run the cell again."
      );
    }
    case "SecurityError":
      return (
        `The browser refused ${access} access because this page is not a secure context ` +
        "(SecurityError). Open Jupyter over https:// or http://localhost and run the cell again."
      );
    case "AbortError":
      return (
        `Starting the ${device} was aborted (AbortError), often because the device ` +
        "disappeared or the request was cancelled. Run the cell again."
      );
    case "TypeError":
      return (
        `The browser rejected the request (TypeError: ${message || "invalid arguments"}). ` +
        "Check the widget's constraints and rtc_config and run the cell again."
      );
    case "IceFailed":
      return (
        "ICE failed: the browser and the kernel could not reach each other over the " +
        "network. Check rtc_config (ICE servers) and firewalls, then run the cell again."
      );
    case "PathLost":
      return (
        "The network path to the kernel was lost and did not come back" +
        (message ? ` (${message})` : "") +
        ". Check the network (Wi-Fi, VPN, firewall), then run the cell again."
      );
    case "HostNoCapture":
      return (
        `VS Code's notebook view does not allow ${access} capture (its webviews deny ` +
        "getUserMedia and getDisplayMedia). Open this notebook in JupyterLab or Jupyter " +
        "Notebook in a browser for Camera, Microphone and ScreenShare; VideoView and " +
        "AudioView (kernel to page) work here."
      );
    case "KernelGone":
      return "Lost the connection to the kernel (restarted or shut down?). Run the cell again.";
    default: {
      const detail = message ? `: ${message}` : "";
      return `Something went wrong (${name}${detail}). Run the cell again.`;
    }
  }
}

/**
 * getDisplayMedia fails differently from getUserMedia: the user picks (or cancels) in a
 * browser dialog, and there is no device to connect. "" falls back to the common words.
 * @param {string} name
 * @param {string} message
 * @returns {string}
 */
function screenWordsFor(name, message) {
  switch (name) {
    case "NotAllowedError":
      return (
        "Screen sharing was cancelled or denied (NotAllowedError). " +
        "Run the cell again and pick a screen, window or tab to share."
      );
    case "NotFoundError":
      return "No screen, window or tab could be captured (NotFoundError). Run the cell again.";
    case "NotReadableError":
      return (
        "The screen could not be captured (NotReadableError): the operating system may not " +
        "allow this browser to record the screen. Allow it in the system settings and run " +
        "the cell again."
      );
    case "InvalidStateError":
      // Firefox and Safari share the screen only within a moment of a click or key press.
      return (
        "The browser shares the screen only right after a click or key press on the page " +
        `(InvalidStateError${message ? `: ${message}` : ""}). Run the cell again.`
      );
    case "NotSupportedError":
      return (
        "This browser cannot share the screen (NotSupportedError). " +
        "Use a desktop browser such as Chrome, Edge or Firefox."
      );
    case "AbortError":
      return "Screen sharing could not start (AbortError). Run the cell again.";
    default:
      return "";
  }
}

/**
 * Which device a widget kind opens, for the words. Kinds that open nothing (view, audio)
 * say "camera" like every other failure that is not about a device.
 * @param {string} kind
 * @param {boolean} [withAudio] a camera that also opens the microphone
 * @returns {Device}
 */
export function deviceFor(kind, withAudio = false) {
  if (kind === "screen") return "screen";
  if (kind === "microphone") return "microphone";
  return kind === "camera" && withAudio ? "camera or microphone" : "camera";
}

/**
 * Describe anything that was thrown. Never throws.
 * @param {unknown} err
 * @param {Device} [device] what was being opened; only the words depend on it
 * @returns {Described}
 */
export function describeError(err, device = "camera") {
  let name = "Error";
  let message = "";
  if (err && typeof err === "object") {
    const e = /** @type {{name?: unknown, message?: unknown}} */ (err);
    if (typeof e.name === "string" && e.name) name = e.name;
    if (typeof e.message === "string") message = e.message;
  } else if (typeof err === "string") {
    message = err;
  } else if (err !== undefined && err !== null) {
    message = String(err);
  }
  if (name === "OverconstrainedError" && !message) {
    // Chromium leaves the message empty; the kernel's error should still say which.
    const raw = /** @type {any} */ (err).constraint;
    if (typeof raw === "string" && raw) message = `constraint ${raw} cannot be satisfied`;
  }
  const known = ["camera", "camera or microphone", "microphone", "screen"];
  const what = known.includes(device) ? device : "camera";
  return { name, message, words: wordsFor(name, message, err, what) };
}

/**
 * The error shown when the peer connection's state becomes `failed`.
 * @returns {Described}
 */
export function iceFailed() {
  return describeError({
    name: "IceFailed",
    message: "RTCPeerConnection connectionState became 'failed'",
  });
}

/**
 * The error shown when a pc that had connected lost its path and the kernel did not
 * restore it (nor fail the stream) within reconnect.js's PAGE_GIVE_UP_MS.
 * @param {number} lostForMs
 * @returns {Described}
 */
export function pathLost(lostForMs) {
  return describeError({
    name: "PathLost",
    message: `no network path for ${Math.round(lostForMs / 1000)} s`,
  });
}

/**
 * The words shown when the kernel stopped answering for a stream (or its status said
 * it is restarting or dead).
 * @param {string} [why]
 * @returns {Described}
 */
export function kernelGone(why = "") {
  const message = why ? `the kernel is ${why}` : "no message from the kernel for a while";
  return describeError({ name: "KernelGone", message });
}
