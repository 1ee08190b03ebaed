// The kernel's renegotiations of a live BrowserPeer (docs/protocol.md "renegotiate"):
// a reoffer on the same pc (a codec or bitrate change, an ICE restart), or a fresh pc
// that takes over the same tracks (the kernel's reconnection after a lost path). One at
// a time: `peer._reoffering` is set while a reoffer waits for its answer, a request that
// comes meanwhile is merged into `peer._pendingRenegotiation`, and candidates gathered
// before the reoffer went out wait in `peer._heldCandidates` (the kernel would take them
// for the old ICE generation's). Every function here never rejects.

import { guard, stopTracks } from "../core/cleanup.js";
import { describeError } from "../core/errors.js";
import { clipText } from "../core/protocol.js";
import { peerConfig } from "../core/rtc-config.js";
import { addSections } from "./sections.js";

/** @typedef {import("./peer.js").BrowserPeer} BrowserPeer */

/**
 * The kernel asks for a reoffer (a codec or bitrate change, or an ICE restart). One at
 * a time: a request during another is kept and run after its answer. Never rejects.
 * @param {BrowserPeer} peer
 * @param {{ice_restart?: boolean, fresh?: boolean, reason?: string}} request
 */
export async function renegotiate(peer, request) {
  const pc = peer.pc;
  if (peer.closed || !pc || !peer._answerSeen) return;
  if (peer._reoffering) {
    // An ICE restart must not be lost behind a codec change: merge the requests.
    const pending = peer._pendingRenegotiation;
    peer._pendingRenegotiation = {
      ice_restart: Boolean(request.ice_restart || pending?.ice_restart),
      fresh: Boolean(request.fresh || pending?.fresh),
      reason: request.reason ?? "",
    };
    return;
  }
  peer._reoffering = true;
  peer._heldCandidates = [];
  if (request.fresh) {
    await freshPeer(peer, request);
    return;
  }
  try {
    if (request.ice_restart && typeof pc.restartIce === "function") pc.restartIce();
    const offer = await pc.createOffer(request.ice_restart ? { iceRestart: true } : {});
    if (peer.closed) return;
    await pc.setLocalDescription(offer);
    if (peer.closed) return;
    const sdp = pc.localDescription?.sdp ?? offer.sdp;
    peer._send("reoffer", { sdp, reason: clipText(request.reason, 128) });
  } catch (err) {
    peer._reoffering = false;
    peer.env.log.warn("[nbrtc] renegotiation failed to start", err);
  } finally {
    const held = peer._heldCandidates ?? [];
    peer._heldCandidates = null;
    if (!peer.closed) for (const c of held) peer._send("candidate", c);
  }
}

/**
 * The kernel asks for a new peer connection (its reconnection after a lost path that
 * ICE restarts did not bring back, or after its own ICE connection ended): the old pc
 * goes, a new one takes the same camera/microphone tracks (the device stays open), and
 * its offer goes out as a `reoffer` with `fresh`. The kernel answers under the same
 * stream. Called by renegotiate with `_reoffering` set; never rejects.
 * @param {BrowserPeer} peer
 * @param {{reason?: string}} request
 */
export async function freshPeer(peer, request) {
  const old = peer.pc;
  const PC = peer.env.RTCPeerConnection;
  try {
    const pc = new PC(peerConfig(peer._rtcConfig ?? peer.model.get("rtc_config")));
    peer.pc = pc; // from here the old pc's events are ignored (_wire)
    peer.freshPeers += 1;
    peer._wire(pc);
    const local = peer.localStream;
    const video = local?.getVideoTracks?.()[0] ?? null;
    const sound = local?.getAudioTracks?.()[0] ?? null;
    const tx = addSections(pc, peer.kind, { audio: peer._audioTx !== null, video, sound });
    if (tx.videoTx) peer._videoTx = tx.videoTx;
    if (tx.audioTx) peer._audioTx = tx.audioTx;
    guard(peer.env.log, "closing the old control channel", () => peer._link.close());
    peer._openControl(pc);
    peer.channels.moveTo(pc);
    // the kernel's media comes again on the new pc's tracks
    stopTracks(peer.remoteStream);
    peer.remoteStream = null;
    peer._notify();
    const offer = await pc.createOffer();
    if (peer.closed || peer.pc !== pc) return;
    await pc.setLocalDescription(offer);
    if (peer.closed || peer.pc !== pc) return;
    const sdp = pc.localDescription?.sdp ?? offer.sdp;
    const reason = clipText(request.reason, 128);
    peer._send("reoffer", { sdp, reason, fresh: true });
    peer._sendPcState();
  } catch (err) {
    peer._reoffering = false;
    peer.env.log.warn("[nbrtc] a new peer connection failed to start", err);
  } finally {
    const held = peer._heldCandidates ?? [];
    peer._heldCandidates = null;
    if (!peer.closed) for (const c of held) peer._send("candidate", c);
    // closed only once the new offer is out: the kernel, told first, does not take
    // the old pc's end for the stream's
    guard(peer.env.log, "closing the old pc", () => old?.close());
  }
}

/**
 * The kernel's answer to our reoffer.
 * @param {BrowserPeer} peer
 * @param {string} sdp
 */
export async function applyReanswer(peer, sdp) {
  const pc = peer.pc;
  try {
    await pc.setRemoteDescription({ type: "answer", sdp });
  } catch (err) {
    if (!peer.closed) peer.fail(describeError(err));
    return;
  } finally {
    peer._reoffering = false;
  }
  const next = peer._pendingRenegotiation;
  peer._pendingRenegotiation = null;
  if (next && !peer.closed) await renegotiate(peer, next);
}

/** The kernel refused our reoffer: back to the description we had. * @param {BrowserPeer} peer
 */
export async function rollbackReoffer(peer) {
  const pc = peer.pc;
  peer._reoffering = false;
  peer._pendingRenegotiation = null;
  if (!pc || peer.closed || pc.signalingState !== "have-local-offer") return;
  try {
    await pc.setLocalDescription({ type: "rollback" });
  } catch (err) {
    peer.env.log.warn("[nbrtc] rolling back a refused reoffer failed", err);
  }
}
