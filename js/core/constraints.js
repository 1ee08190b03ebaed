// getUserMedia / getDisplayMedia constraints from the widgets' traits: the one builder
// for BrowserPeer (camera, microphone, screen) and RoomMember (a room's camera). The
// traits use Python names and nulls for "don't care"; sizes and rates are wishes
// (`ideal`), a device id is a demand (`exact`). Pure: node's test runner loads it.

/**
 * @typedef {import("./router.js").ModelLike} ModelLike
 *
 * What a kind asks the browser for: the mediaDevices method and its argument.
 * @typedef {{
 *   method: "getUserMedia" | "getDisplayMedia",
 *   constraints: {video: MediaTrackConstraints | boolean, audio: MediaTrackConstraints | boolean},
 * }} MediaRequest
 */

/**
 * @param {unknown} v
 * @returns {v is number} whether v is a usable size or rate
 */
const positive = (v) => typeof v === "number" && Number.isFinite(v) && v > 0;

/**
 * Map the widget's `constraints` trait (Python names, nulls for "don't care") to
 * getUserMedia video constraints. Width, height, frame rate and facing mode (the front
 * or back camera of a phone) are wishes (`ideal`);
 * a device id is a demand (`exact`), so a wrong one fails loudly with
 * OverconstrainedError instead of silently opening another camera.
 * @param {any} constraints
 * @returns {MediaTrackConstraints | true} true when nothing is asked for
 */
export function videoConstraints(constraints) {
  /** @type {Record<string, any>} */
  const out = {};
  const c = constraints && typeof constraints === "object" ? constraints : {};
  if (positive(c.width)) out.width = { ideal: c.width };
  if (positive(c.height)) out.height = { ideal: c.height };
  if (positive(c.frame_rate)) out.frameRate = { ideal: c.frame_rate };
  if (typeof c.device_id === "string" && c.device_id !== "") out.deviceId = { exact: c.device_id };
  // a wish too: a laptop with one camera still opens it for "environment"
  if (typeof c.facing_mode === "string" && c.facing_mode !== "") out.facingMode = { ideal: c.facing_mode };
  return Object.keys(out).length ? out : true;
}

/**
 * Map the widget's `audio` trait to getUserMedia audio constraints.
 * false/null/undefined: no audio (null). true: the browser's defaults (true). An object
 * with Python names {device_id, echo_cancellation, noise_suppression, auto_gain_control}
 * where null means "the browser's choice": device_id is a demand (`exact`, like the
 * camera's), the three switches are plain booleans (the browser treats them as ideal).
 * @param {any} value
 * @returns {MediaTrackConstraints | true | null}
 */
export function audioConstraints(value) {
  if (value === true) return true;
  if (!value || typeof value !== "object" || Array.isArray(value)) return null;
  /** @type {Record<string, any>} */
  const out = {};
  if (typeof value.device_id === "string" && value.device_id !== "") out.deviceId = { exact: value.device_id };
  if (typeof value.echo_cancellation === "boolean") out.echoCancellation = value.echo_cancellation;
  if (typeof value.noise_suppression === "boolean") out.noiseSuppression = value.noise_suppression;
  if (typeof value.auto_gain_control === "boolean") out.autoGainControl = value.auto_gain_control;
  return Object.keys(out).length ? out : true;
}

/**
 * getDisplayMedia video constraints: videoConstraints without the device id, because
 * getDisplayMedia rejects `exact` with a TypeError and the user picks the surface anyway.
 * @param {any} constraints
 * @returns {MediaTrackConstraints | true}
 */
export function displayConstraints(constraints) {
  const video = videoConstraints(constraints);
  if (video === true) return true;
  const rest = { .../** @type {Record<string, any>} */ (video) };
  delete rest.deviceId;
  delete rest.facingMode; // a screen has no facing
  return Object.keys(rest).length ? rest : true;
}

/**
 * What a sending kind of BrowserPeer opens: a screen through getDisplayMedia (never with
 * sound), a microphone's sound alone, a camera's video with the sound the offer asked
 * for. `audio` is audioConstraints of the `audio` trait as read for the offer (so the
 * offer's transceivers and the device agree); null means none.
 * @param {"camera" | "screen" | "microphone"} kind
 * @param {any} constraints the `constraints` trait
 * @param {MediaTrackConstraints | true | null} audio
 * @returns {MediaRequest}
 */
export function deviceRequest(kind, constraints, audio) {
  if (kind === "screen") {
    return { method: "getDisplayMedia", constraints: { video: displayConstraints(constraints), audio: false } };
  }
  if (kind === "microphone") {
    return { method: "getUserMedia", constraints: { audio: audio ?? true, video: false } };
  }
  return { method: "getUserMedia", constraints: { video: videoConstraints(constraints), audio: audio ?? false } };
}

/**
 * getUserMedia constraints from a room's traits (width, height, frame_rate: wishes;
 * `audio`: only true turns the microphone on). The room has no device id, so its video
 * is the camera's videoConstraints, as an object ({} for "the browser's choice").
 * @param {ModelLike} model
 * @returns {{video: MediaTrackConstraints, audio: boolean}}
 */
export function roomConstraints(model) {
  const video = videoConstraints({
    width: model.get("width"),
    height: model.get("height"),
    frame_rate: model.get("frame_rate"),
  });
  return { video: video === true ? {} : video, audio: model.get("audio") === true };
}
