// The comm transport of a BrowserPeer (docs/protocol.md "transport"): video as JPEG
// frames and sound as PCM chunks over the widget's comm, for a page where WebRTC cannot
// connect (transport_mode "auto" falls back after COMM_FALLBACK_MS or a failure before
// connecting; "comm" starts on it). The links themselves are transport/comm.js and
// transport/comm-audio.js; this is when they start and stop, and the move back to WebRTC
// when ICE connects after all. State stays on the peer (`_commAsked`, `_uplink`,
// `_downlink`, `_audioUp`, `_audioDown`, `transport`), which the tests read.

import { guard } from "../core/cleanup.js";
import { audioConstraints } from "../core/constraints.js";
import { COMM_FALLBACK_MS, CommDownlink, CommUplink, commGlobals } from "../transport/comm.js";
import { AudioDownlink, AudioUplink, audioGlobals } from "../transport/comm-audio.js";
import { statsInterval } from "../core/session.js";

/** @typedef {import("./peer.js").BrowserPeer} BrowserPeer */

/**
 * transport="comm": no pc at all; the kernel's `transport` reply stands for an answer.
 * @param {BrowserPeer} peer
 */
export function startOnComm(peer) {
  peer._commAsked = true;
  // getUserMedia asks for sound when the widget wants it (no transceiver needs it)
  peer._audioRequest = peer.kind === "camera" || peer.kind === "microphone"
    ? audioConstraints(peer.model.get("audio"))
    : null;
  peer._send("offer", { kind: peer.kind, page: peer.router.pageId, view: peer.viewId, transport: "comm" });
  peer._offerSent = true;
  peer.setState({ type: "offer-sent" });
  for (const [type, payload] of peer._outbox.splice(0)) peer._send(type, payload);
  peer._heartbeat.start();
  peer._startStats(statsInterval(peer.model.get("stats_interval")));
}

/**
 * WebRTC has not connected COMM_FALLBACK_MS after the offer (or failed before it did):
 * ask the kernel for the comm too (ICE goes on trying, see backToWebrtc).
 * @param {BrowserPeer} peer
 * @param {string} [reason]
 */
export function fallBack(peer, reason) {
  if (peer._fallbackTimer !== null) peer.env.clearTimeout(peer._fallbackTimer);
  peer._fallbackTimer = null;
  const pc = peer.pc;
  if (peer.closed || !pc || pc.connectionState === "connected" || peer._commAsked) return;
  peer._commAsked = true;
  const why = reason ?? `WebRTC not connected ${COMM_FALLBACK_MS / 1000} s after the offer (ICE ${pc.iceConnectionState})`;
  peer.env.log.info(`[nbrtc] ${peer.id}: ${why}: starting the comm transport`);
  peer._send("transport", { use: "comm", why });
}

/**
 * The kernel carries this stream over the comm from now on (its `transport` reply).
 * @param {BrowserPeer} peer
 */
export async function commConfirmed(peer) {
  if (peer.closed || !peer._commAsked || peer.transport === "comm") return;
  peer.transport = "comm";
  if (!peer._answerSeen) {
    // what an answer does on WebRTC (none came, or transport="comm" asks for none):
    // the kernel holds the stream, the device may open
    peer._answerSeen = true;
    peer._watchdog.start();
    peer.setState({ type: "answer-applied" });
    if (peer.sending) await peer._openDevice();
  }
  if (peer.closed) return;
  startUplink(peer);
  if (!peer._audioDown && (peer.kind === "view" || peer.kind === "audio")) {
    peer._audioDown = new AudioDownlink({
      ack: (seq) => peer._send("audio-ack", { seq }),
      onSound: () => commFlowing(peer, true), // the stream now has a sound track
      env: commEnv(peer),
    });
  }
  if (!peer._downlink && peer.kind !== "microphone" && peer.kind !== "audio") {
    peer._downlink = new CommDownlink({
      ack: (seq) => peer._send("frame-ack", { seq }),
      onFrame: () => commFlowing(peer, true),
      env: commEnv(peer),
    });
  }
  peer._notify();
}

/**
 * The camera's video goes to the kernel over the comm (once confirmed and acquired).
 * @param {BrowserPeer} peer
 */
export function startUplink(peer) {
  if (peer.closed || peer.transport !== "comm" || !peer.sending) return;
  const sound = peer.localStream?.getAudioTracks?.()[0];
  if (sound && !peer._audioUp) {
    peer._audioUp = new AudioUplink({
      track: sound,
      send: (payload, buffers) => peer._send("audio", payload, buffers),
      onAck: () => commFlowing(peer, false),
      env: commEnv(peer),
    });
    peer._audioUp.start();
  }
  if (peer._uplink) return;
  const track = peer.localStream?.getVideoTracks?.()[0];
  if (!track) return;
  peer._uplink = new CommUplink({
    track,
    send: (payload, buffers) => peer._send("frame", payload, buffers),
    onAck: () => commFlowing(peer, false),
    env: commEnv(peer),
  });
  peer._uplink.start();
}

/**
 * A frame crossed the comm: the kernel decoded ours, or we drew the kernel's.
 * @param {BrowserPeer} peer
 * @param {boolean} drawn
 */
export function commFlowing(peer, drawn) {
  if (drawn) peer._notify(); // the view's video now has a picture
  if (drawn === !peer.sending) peer.setState({ type: "connected" });
}

/**
 * @returns {import("../transport/comm.js").CommEnv}
 * @param {BrowserPeer} peer
 */
export function commEnv(peer) {
  const env = peer.env;
  return {
    ...commGlobals(),
    ...audioGlobals(),
    now: env.now,
    setTimeout: env.setTimeout,
    clearTimeout: env.clearTimeout,
    log: env.log,
    MediaStream: env.MediaStream,
    .../** @type {any} */ (env).comm,
  };
}

/**
 * WebRTC connected after the comm took over: move back to it and stop the comm.
 * @param {BrowserPeer} peer
 */
export function backToWebrtc(peer) {
  stopComm(peer);
  peer._commAsked = false;
  peer.transport = "webrtc";
  peer._send("transport", { use: "webrtc", why: "WebRTC connected" });
  peer._notify();
}

/**
 * The comm's remote media: the kernel's video, its sound, or both in one stream.
 * @param {BrowserPeer} peer
 */
export function commRemote(peer) {
  const video = peer._downlink?.stream ?? null;
  const sound = peer._audioDown?.stream ?? null;
  if (!sound) return video ?? peer.remoteStream;
  if (!video) return sound;
  if (!peer._commMixed && typeof peer.env.MediaStream === "function") {
    peer._commMixed = new peer.env.MediaStream([...video.getVideoTracks(), ...sound.getAudioTracks()]);
  }
  return peer._commMixed ?? video;
}

/**
 * Stop every comm uplink and downlink of this peer (idempotent).
 * @param {BrowserPeer} peer
 */
export function stopComm(peer) {
  const log = peer.env.log;
  guard(log, "stopping the comm audio uplink", () => peer._audioUp?.stop());
  guard(log, "stopping the comm audio downlink", () => peer._audioDown?.stop());
  peer._audioUp = null;
  peer._audioDown = null;
  peer._commMixed = null;
  guard(log, "stopping the comm uplink", () => peer._uplink?.stop());
  guard(log, "stopping the comm downlink", () => peer._downlink?.stop());
  peer._uplink = null;
  peer._downlink = null;
}

/**
 * WebRTC failed while the comm carries the stream: only the pc goes.
 * @param {BrowserPeer} peer
 * @param {string} why
 */
export function dropPc(peer, why) {
  const pc = peer.pc;
  if (!pc) return;
  peer.env.log.info(`[nbrtc] ${peer.id}: WebRTC given up (${why}); the comm carries the stream`);
  peer.pc = null;
  guard(peer.env.log, "closing the failed pc", () => pc.close());
}
