// The page's answering side for a stream whose far end is a media server (Janus): the
// server offers (the kernel relays its offer), the page answers. BrowserPeer uses it for
// a view of a Broadcast (`watch`, docs/protocol.md "Watching a media server"); a later
// Room through Janus (each member subscribes to the others) takes the same two steps per
// subscription, so they know nothing of widgets, kinds or the router: a pc and an SDP in,
// an SDP out, with the caller's closed check after every await.

/**
 * Apply a server's offer to `pc` and make the page's answer. Resolves to the answer's SDP
 * (the local description, candidates trickle after it), or to null when `isClosed()`
 * turned true meanwhile (then nothing more may be done with `pc`). Rejects when the
 * browser refuses the offer (the caller fails the stream in words).
 * @param {any} pc an RTCPeerConnection with no local description yet
 * @param {string} sdp the server's offer
 * @param {() => boolean} isClosed
 * @returns {Promise<string | null>}
 */
export async function answerOffer(pc, sdp, isClosed) {
  await pc.setRemoteDescription({ type: "offer", sdp });
  if (isClosed()) return null;
  const answer = await pc.createAnswer();
  if (isClosed()) return null;
  await pc.setLocalDescription(answer);
  if (isClosed()) return null;
  return String(pc.localDescription?.sdp ?? answer.sdp);
}

/**
 * Whether a widget's views watch a media server instead of offering to the kernel (the
 * kernel-owned `sfu` trait of a VideoView of a Broadcast). Pure.
 * @param {string} kind
 * @param {unknown} sfu
 * @returns {boolean}
 */
export function watchesServer(kind, sfu) {
  return kind === "view" && sfu === "janus";
}
