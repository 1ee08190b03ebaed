// Turn what getUserMedia or WebRTC threw into words a person can act on. Pure, so the
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
 * @param {string} name
 * @param {string} message
 * @param {unknown} err
 * @returns {string}
 */
function wordsFor(name, message, err) {
  switch (name) {
    case "NotAllowedError":
      return (
        "Camera permission was denied (NotAllowedError). " +
        "Allow camera access for this page and run the cell again."
      );
    case "NotFoundError":
      return (
        "No camera was found (NotFoundError). " +
        "Connect a camera (or enable it in the system settings) and run the cell again."
      );
    case "NotReadableError":
      return (
        "The camera is busy or could not be started (NotReadableError): another app or " +
        "browser tab is probably using it. Close that app or tab and run the cell again."
      );
    case "OverconstrainedError": {
      const raw =
        err && typeof err === "object" && "constraint" in err ? /** @type {any} */ (err).constraint : "";
      const which = constraintName(raw);
      if (which === "device_id") {
        return (
          "The requested camera was not found: no camera has that device_id " +
          "(OverconstrainedError). Pick a device_id from the widget's devices list, " +
          "or leave device_id unset, and run the cell again."
        );
      }
      const subject = which ? `the ${which} constraint` : "the requested constraints";
      return (
        `No camera can satisfy ${subject} (OverconstrainedError). ` +
        "Relax or remove it and run the cell again."
      );
    }
    case "SecurityError":
      return (
        "The browser refused camera access because this page is not a secure context " +
        "(SecurityError). Open Jupyter over https:// or http://localhost and run the cell again."
      );
    case "AbortError":
      return (
        "Starting the camera was aborted (AbortError), often because the device " +
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
    case "KernelGone":
      return "Lost the connection to the kernel (restarted or shut down?). Run the cell again.";
    default: {
      const detail = message ? `: ${message}` : "";
      return `Something went wrong (${name}${detail}). Run the cell again.`;
    }
  }
}

/**
 * Describe anything that was thrown. Never throws.
 * @param {unknown} err
 * @returns {Described}
 */
export function describeError(err) {
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
  return { name, message, words: wordsFor(name, message, err) };
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
 * The words shown when the kernel stopped answering for a stream.
 * @returns {Described}
 */
export function kernelGone() {
  return describeError({ name: "KernelGone", message: "no message from the kernel for 1500 ms" });
}
