// Counting init script for nbrtc's end-to-end tests.
//
// Added with `context.add_init_script(path=...)`, so it runs in every document before
// any page script. It counts browser-side WebRTC resources independently of nbrtc's own
// bookkeeping, so a test can tell whether the widget really released them:
//
//   window.__counters.snapshot() -> {peersCreated, peersLive, tracksCreated, tracksLive}
//   window.__counters.reset()    -> counts from zero again, refused (false) while any is live
//   window.__counters.receivers() -> [{kind, jitterBufferTarget}] of the live peers' receivers
//
// * A peer is every RTCPeerConnection constructed; it is live until `close()` is called
//   on it (or its connectionState reads "closed").
// * A track is every MediaStreamTrack handed out by getUserMedia / getDisplayMedia (and
//   clones of such tracks); it is live until `stop()` is called on it (or its readyState
//   reads "ended").
//
// The wrappers hold strong references on purpose: a peer or track that was dropped
// without being closed/stopped is exactly the leak these counters exist to find. Once
// closed/stopped it is let go (the newest RECENT are kept for details()): Chromium allows
// 500 RTCPeerConnection objects per page, and holding every closed one hit that limit
// after ~250 open/close cycles of a Camera and a VideoView.
(() => {
  "use strict";
  if (window.__counters) return; // never wrap twice (e.g. script injected again)

  const peers = new Set();
  const tracks = new Set();
  const RECENT = 32;
  const recentPeers = [];
  const recentTracks = [];
  const letGo = (set, recent, item) => {
    if (!set.delete(item)) return;
    recent.push(item);
    if (recent.length > RECENT) recent.shift();
  };
  const closedPeers = new WeakSet();
  const stoppedTracks = new WeakSet();
  let peersCreated = 0;
  let tracksCreated = 0;

  const peerIsLive = (pc) => {
    if (closedPeers.has(pc)) return false;
    try {
      return pc.connectionState !== "closed" && pc.signalingState !== "closed";
    } catch (_e) {
      return true;
    }
  };
  const trackIsLive = (t) => !stoppedTracks.has(t) && t.readyState !== "ended";

  // --- RTCPeerConnection ------------------------------------------------------------
  const NativePC = window.RTCPeerConnection;
  const localAsSet = new WeakMap();
  const remoteAsGiven = new WeakMap();
  if (typeof NativePC === "function") {
    const nativeClose = NativePC.prototype.close;
    // Patch close() on the native prototype so even `NativePC.prototype.close.call(pc)`
    // is seen.
    NativePC.prototype.close = function close(...args) {
      closedPeers.add(this);
      const result = nativeClose.apply(this, args);
      letGo(peers, recentPeers, this);
      return result;
    };
    // The local description as it stood right after each setLocalDescription (what a
    // page sends as its offer): the live localDescription later gains the gathered
    // candidates and a real port.
    const nativeSetLocal = NativePC.prototype.setLocalDescription;
    NativePC.prototype.setLocalDescription = async function setLocalDescription(...args) {
      const result = await nativeSetLocal.apply(this, args);
      localAsSet.set(this, this.localDescription ? this.localDescription.sdp : null);
      return result;
    };
    // ...and the remote description exactly as the page received it (Chromium
    // re-serializes pc.remoteDescription: another o= address, msid lines...).
    const nativeSetRemote = NativePC.prototype.setRemoteDescription;
    NativePC.prototype.setRemoteDescription = function setRemoteDescription(...args) {
      const desc = args[0];
      if (desc && typeof desc.sdp === "string") remoteAsGiven.set(this, desc.sdp);
      return nativeSetRemote.apply(this, args);
    };
    // A subclass keeps `pc instanceof RTCPeerConnection` true for both the wrapper and
    // the native constructor, and inherits static members (generateCertificate).
    class RTCPeerConnection extends NativePC {
      constructor(...args) {
        super(...args);
        peersCreated += 1;
        peers.add(this);
      }
    }
    window.RTCPeerConnection = RTCPeerConnection;
    if ("webkitRTCPeerConnection" in window) window.webkitRTCPeerConnection = RTCPeerConnection;
  }

  // --- MediaStreamTrack -------------------------------------------------------------
  const adopt = (track) => {
    if (!track || tracks.has(track)) return track;
    tracksCreated += 1;
    tracks.add(track);
    return track;
  };
  const TrackProto = window.MediaStreamTrack && window.MediaStreamTrack.prototype;
  if (TrackProto) {
    const nativeStop = TrackProto.stop;
    TrackProto.stop = function stop(...args) {
      stoppedTracks.add(this);
      const result = nativeStop.apply(this, args);
      letGo(tracks, recentTracks, this);
      return result;
    };
    const nativeClone = TrackProto.clone;
    TrackProto.clone = function clone(...args) {
      const copy = nativeClone.apply(this, args);
      return tracks.has(this) ? adopt(copy) : copy;
    };
  }
  const StreamProto = window.MediaStream && window.MediaStream.prototype;
  if (StreamProto && StreamProto.clone) {
    const nativeStreamClone = StreamProto.clone;
    StreamProto.clone = function clone(...args) {
      const before = this.getTracks();
      const copy = nativeStreamClone.apply(this, args);
      if (before.some((t) => tracks.has(t))) copy.getTracks().forEach(adopt);
      return copy;
    };
  }

  // --- getUserMedia / getDisplayMedia -------------------------------------------------
  const DevProto = window.MediaDevices && window.MediaDevices.prototype;
  for (const name of ["getUserMedia", "getDisplayMedia"]) {
    if (!DevProto || typeof DevProto[name] !== "function") continue;
    const native = DevProto[name];
    DevProto[name] = async function (...args) {
      const stream = await native.apply(this, args);
      stream.getTracks().forEach(adopt);
      return stream;
    };
  }

  const snapshot = () => {
    let peersLive = 0;
    for (const pc of peers) if (peerIsLive(pc)) peersLive += 1;
    let tracksLive = 0;
    for (const t of tracks) if (trackIsLive(t)) tracksLive += 1;
    return { peersCreated, peersLive, tracksCreated, tracksLive };
  };
  const details = () => ({
    peers: [...recentPeers, ...peers].map((pc) => ({
      live: peerIsLive(pc),
      closeCalled: closedPeers.has(pc),
      connectionState: pc.connectionState,
      iceConnectionState: pc.iceConnectionState,
      signalingState: pc.signalingState,
    })),
    tracks: [...recentTracks, ...tracks].map((t) => ({
      live: trackIsLive(t),
      stopCalled: stoppedTracks.has(t),
      kind: t.kind,
      label: t.label,
      readyState: t.readyState,
    })),
  });

  // getStats() of every live peer, flattened: [{type, kind, ...report}] (e.g. to see
  // that audio samples arrive, or what a track's frame rate is).
  const stats = async () => {
    const out = [];
    for (const pc of peers) {
      if (!peerIsLive(pc)) continue;
      const report = await pc.getStats();
      report.forEach((r) => out.push({ ...r }));
    }
    return out;
  };
  // The live peers' descriptions and per-peer stats, as the page really holds them (to
  // compare with what nbrtc's Inspector shows).
  const descriptions = () =>
    [...peers].filter(peerIsLive).map((pc) => ({
      local: pc.localDescription ? pc.localDescription.sdp : null,
      localAsSet: localAsSet.get(pc) ?? null,
      remoteAsGiven: remoteAsGiven.get(pc) ?? null,
      remote: pc.remoteDescription ? pc.remoteDescription.sdp : null,
      connectionState: pc.connectionState,
      iceConnectionState: pc.iceConnectionState,
      signalingState: pc.signalingState,
      iceGatheringState: pc.iceGatheringState,
    }));
  const peerStats = async () => {
    const out = [];
    for (const pc of peers) {
      if (!peerIsLive(pc)) continue;
      const list = [];
      (await pc.getStats()).forEach((r) => list.push({ ...r }));
      out.push(list);
    }
    return out;
  };
  // What a person does with the browser's "Stop sharing" button, which headless Chromium
  // has no UI for: end every live track of this kind with an `ended` event.
  const endTracks = (kind) => {
    let n = 0;
    for (const t of tracks) {
      if (trackIsLive(t) && t.kind === kind) {
        t.stop();
        t.dispatchEvent(new Event("ended"));
        n += 1;
      }
    }
    return n;
  };

  // The harness hands a booted JupyterLab page to the next test only once nothing is
  // live in it; the counts then start again from zero. Refused (false) while anything is.
  const reset = () => {
    const now = snapshot();
    if (now.peersLive || now.tracksLive) return false;
    peersCreated = 0;
    tracksCreated = 0;
    peers.clear();
    tracks.clear();
    recentPeers.length = 0;
    recentTracks.length = 0;
    return true;
  };

  // The receivers of the live peers: the kind of each one's track and the jitter buffer
  // target the page gave it (null: the browser's own).
  const receivers = () =>
    [...peers].filter(peerIsLive).flatMap((pc) =>
      pc.getReceivers().map((r) => ({
        kind: r.track ? r.track.kind : null,
        jitterBufferTarget: "jitterBufferTarget" in r ? r.jitterBufferTarget : "unsupported",
      })),
    );

  Object.defineProperty(window, "__counters", {
    value: Object.freeze({
      snapshot,
      details,
      stats,
      endTracks,
      descriptions,
      peerStats,
      receivers,
      reset,
    }),
    configurable: false,
    enumerable: false,
    writable: false,
  });
})();
