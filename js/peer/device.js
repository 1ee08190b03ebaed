// The local device of a sending BrowserPeer (camera, microphone, screen): opened only
// after the kernel accepted the stream (its answer, or the comm's confirmation), with
// the constraints core/constraints.js builds, its tracks put on the transceivers the
// offer made. A screen share's new constraints go onto its live track.

import { guard, stopTracks } from "../core/cleanup.js";
import { deviceRequest, displayConstraints } from "../core/constraints.js";
import { clipText } from "../core/protocol.js";

/** @typedef {import("./peer.js").BrowserPeer} BrowserPeer */

/**
 * Open the kind's device (getUserMedia, or getDisplayMedia for a screen), then send
 * each track on the transceiver the offer already made for it. Rejects with the
 * browser's error (NotAllowedError...) or a SecurityError / NotSupportedError when the
 * page cannot ask at all; the caller fails the stream with it. Tracks that arrive after
 * the peer closed are stopped at once.
 * @param {BrowserPeer} peer
 * @returns {Promise<void>}
 */
export async function acquireDevice(peer) {
  const md = peer.env.mediaDevices;
  const screen = peer.kind === "screen";
  if (peer.env.host === "vscode") {
    // VS Code's notebook webviews deny capture whatever the user does
    throw Object.assign(new Error("VS Code's notebook view does not allow capture"), {
      name: "HostNoCapture",
    });
  }
  if (!md) {
    // navigator.mediaDevices is undefined outside secure contexts.
    throw Object.assign(new Error("navigator.mediaDevices is not available"), { name: "SecurityError" });
  }
  const method = screen ? "getDisplayMedia" : "getUserMedia"; // as deviceRequest says
  if (typeof md[method] !== "function") {
    throw Object.assign(new Error(`navigator.mediaDevices.${method} is not available`), {
      name: screen ? "NotSupportedError" : "SecurityError",
    });
  }
  // only the sending kinds open a device (BrowserPeer.sends)
  const kind = /** @type {"camera" | "screen" | "microphone"} */ (peer.kind);
  const request = deviceRequest(kind, peer.model.get("constraints"), peer._audioRequest);
  if (screen) peer._screenConstraintsKey = JSON.stringify(request.constraints.video);
  /** @type {any} */
  const stream = await md[request.method](request.constraints);
  if (peer.closed) {
    stopTracks(stream);
    return;
  }
  peer.localStream = stream;
  if (screen) {
    // "Stop sharing" in the browser's own bar ends the track, and nothing else
    // would tell the kernel. (track.stop() in our teardown does not fire `ended`.)
    const [track] = stream.getVideoTracks();
    track?.addEventListener("ended", () => peer._screenEnded(), { signal: peer._abort.signal });
  }
  for (const track of stream.getTracks()) {
    const tx = track.kind === "video" ? peer._videoTx : track.kind === "audio" ? peer._audioTx : null;
    if (!tx && peer.transportMode === "comm") continue; // comm.js / comm-audio.js read it
    if (!tx) {
      // Nothing was offered for it (e.g. a browser added audio nobody asked for).
      guard(peer.env.log, "stopping an unexpected track", () => track.stop());
      continue;
    }
    // "detail" keeps the resolution when bandwidth is short at the start of a call
    // (Chromium would otherwise scale 640x480 down while the estimate ramps up); for
    // a screen it keeps text readable.
    if (track.kind === "video" && "contentHint" in track) track.contentHint = "detail";
    await tx.sender?.replaceTrack(track);
    if (peer.closed) return;
  }
  peer._notify();
  peer._startUplink();
  if (!screen) reportDevices(peer, md);
  // The constraints may have changed while the share picker was open.
  if (screen && JSON.stringify(displayConstraints(peer.model.get("constraints"))) !== peer._screenConstraintsKey) {
    await applyScreenConstraints(peer);
  }
}

/**
 * New `constraints` for a live screen share: applied to its track, so the user is not
 * asked to pick a screen again. A camera restarts instead (a device_id change needs
 * another device). Never rejects.
 * @param {BrowserPeer} peer
 * @returns {Promise<boolean>} whether they were applied
 */
export async function applyScreenConstraints(peer) {
  if (peer.closed || peer.kind !== "screen") return false;
  const track = peer.localStream?.getVideoTracks?.()[0];
  if (!track || typeof track.applyConstraints !== "function") return false;
  const video = displayConstraints(peer.model.get("constraints"));
  peer._screenConstraintsKey = JSON.stringify(video);
  try {
    await track.applyConstraints(video === true ? {} : video);
  } catch (err) {
    peer.env.log.warn("[nbrtc] the screen share did not take the new constraints", err);
    return false;
  }
  return !peer.closed;
}

/**
 * Tell the kernel which devices the page has (after the offer; `devices`), so Python can
 * list them. Bounded to 256; a failing enumerateDevices only logs.
 * @param {BrowserPeer} peer
 * @param {any} md navigator.mediaDevices
 */
export function reportDevices(peer, md) {
  if (typeof md.enumerateDevices !== "function") return;
  Promise.resolve()
    .then(() => md.enumerateDevices())
    .then((/** @type {any[]} */ list) => {
      if (peer.closed || !Array.isArray(list)) return;
      const devices = list.slice(0, 256).map((d) => ({
        deviceId: String(d.deviceId ?? ""),
        kind: String(d.kind ?? ""),
        label: clipText(d.label, 512), // the kernel's bound: a longer one would refuse them all
        groupId: String(d.groupId ?? ""),
      }));
      peer._sendAfterOffer("devices", devices);
      peer.devices = devices; // the view's device picker lists them (picker.js)
      peer._notify();
    })
    .catch((/** @type {unknown} */ err) => peer.env.log.debug("[nbrtc] enumerateDevices failed", err));
}
