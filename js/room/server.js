// A room through a media server (nbrtc.Room(name, server=janus), docs/protocol.md "Rooms
// through a media server"): what differs from the mesh, as pure helpers RoomMember
// (room.js) uses. The wire is the mesh's (`signal` with `to`/`from`, `state`/`stats` with
// `peer`), with one reserved peer name:
//
//   "server"      this member's one link to the server: the page OFFERS its camera
//                 (sendonly) as for a mesh link, the kernel relays it to Janus as a
//                 publish and relays Janus's answer back (signal {from: "server"})
//   <member id>   this member's subscription to that member's camera: Janus offers
//                 (signal {from: id, data: offer}), the page answers (recvonly, with
//                 js/peer/answerer.js answerOffer); made only when the kernel relays
//                 such an offer, closed when the member leaves the kernel's list
//
// So a member uploads its camera once, whatever the number of members.

/** The peer name of a member's link to the server (never a member id: the kernel refuses it). */
export const SERVER_PEER = "server";

/**
 * Whether a room's views go through a media server (the kernel-owned `sfu` trait). Pure.
 * @param {unknown} sfu
 * @returns {boolean}
 */
export function roomViaServer(sfu) {
  return sfu === "janus";
}

/**
 * The displayed state of a member in a server room once its camera is ready: "live" when
 * a link is connected and there is someone else in the room, "waiting" when it is alone
 * (its camera may already be at the server), else "connecting". Pure.
 * @param {{state: string}[]} links every open link, the one to the server included
 * @param {number} members the kernel's member count (this member included)
 * @returns {"live" | "waiting" | "connecting"}
 */
export function serverRoomState(links, members) {
  if (members <= 1) return "waiting";
  return links.some((l) => l.state === "connected") ? "live" : "connecting";
}

/**
 * Whether an offer relayed from `from` may make a new subscription link: a current
 * member other than this one (the kernel relays Janus's offers only for those; a late
 * offer for one that left is dropped). Pure.
 * @param {string} from
 * @param {string} me
 * @param {{id: string}[]} members
 * @param {Set<string>} gone
 * @returns {boolean}
 */
export function mayReceiveFrom(from, me, members, gone) {
  return from !== SERVER_PEER && from !== me && !gone.has(from) && members.some((m) => m.id === from);
}
