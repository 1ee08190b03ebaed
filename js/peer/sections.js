// The media sections (transceivers) a stream's offer carries, by kind: one place for a
// stream's first pc (peer.js) and the fresh pc of a reconnection (renegotiation.js), so
// that the two always offer alike; and the directions a camera answers the kernel's
// offer with, one place for the view (peer.js) and the early answer (early-answer.js).

/**
 * Add the transceivers of a `kind` stream to `pc`.
 *
 * camera/screen: video sendrecv (the kernel may send processed video back on the same
 * m-line), and for a camera with sound an audio sendonly; microphone: audio sendonly;
 * view: video and audio recvonly (a kernel source may have sound: the answer says);
 * anything else: audio recvonly. `video`/`sound` are the tracks to send when a device is
 * already open (a fresh pc), else the section goes out empty and `replaceTrack` fills it
 * later without renegotiation.
 * @param {any} pc
 * @param {string} kind
 * @param {{audio: boolean, video?: any, sound?: any}} options `audio`: a camera sends sound
 * @returns {{videoTx: any, audioTx: any}} the sending transceivers (null when none)
 */
export function addSections(pc, kind, { audio, video = null, sound = null }) {
  let videoTx = null;
  let audioTx = null;
  switch (kind) {
    case "camera":
    case "screen":
      videoTx = pc.addTransceiver(video ?? "video", { direction: "sendrecv" });
      if (kind === "camera" && audio) {
        audioTx = pc.addTransceiver(sound ?? "audio", { direction: "sendonly" });
      }
      break;
    case "microphone":
      audioTx = pc.addTransceiver(sound ?? "audio", { direction: "sendonly" });
      break;
    case "view":
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
      break;
    default: // audio
      pc.addTransceiver("audio", { direction: "recvonly" });
  }
  return { videoTx, audioTx };
}

/**
 * Choose the directions of a camera's answer to the kernel's offer, already set as `pc`'s
 * remote description (docs/protocol.md "The kernel's offer"): the first video section
 * sendrecv (the camera goes out, processed video may come back), the first audio section
 * sendonly when the camera sends sound; any other section stays as the offer made it.
 * @param {any} pc
 * @param {boolean} audio the camera sends sound
 * @returns {{video: any, audio: any}} the sending transceivers (null when none)
 */
export function answerDirections(pc, audio) {
  let videoTx = null;
  let audioTx = null;
  for (const tx of pc.getTransceivers()) {
    const kind = tx.receiver?.track?.kind;
    if (kind === "video" && !videoTx) {
      tx.direction = "sendrecv";
      videoTx = tx;
    } else if (kind === "audio" && !audioTx && audio) {
      tx.direction = "sendonly";
      audioTx = tx;
    }
  }
  return { video: videoTx, audio: audioTx };
}
