// The RTCConfiguration every pc of this page is made with (a widget's stream, a room's
// links). Pure.

/**
 * The RTCConfiguration of a new pc: the widget's `rtc_config` (its ICE servers) with
 * `bundlePolicy: "max-bundle"` unless it sets one. The other end always bundles (aiortc
 * does, and so does a browser), so gathering a second set of candidates for the data
 * channel's m-section until the answer, as "balanced" does, would only double the
 * sockets, the trickled candidates and the connectivity checks.
 * @param {unknown} rtcConfig
 * @returns {RTCConfiguration}
 */
export function peerConfig(rtcConfig) {
  /** @type {Record<string, unknown>} */
  const base = rtcConfig && typeof rtcConfig === "object" ? { ...rtcConfig } : {};
  delete base.credentials; // ice.js's marker, not an RTCConfiguration member
  return { bundlePolicy: "max-bundle", ...base };
}
