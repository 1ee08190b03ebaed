// A room through a media server (room.js with the `sfu` trait "janus", server.js): this
// view offers its camera once, to "server", and answers the server's offer of each other
// member's camera; the mesh's links to other members are never made.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RoomMember } from "../room/room.js";
import { SERVER_PEER, mayReceiveFrom, roomViaServer, serverRoomState } from "../room/server.js";
import { roomCaption } from "../room/room-view.js";
import { createRouter } from "../core/router.js";
import { FakeModel, FakeTrack, fakeBrowser, flush, quietLog } from "./fakes.js";

const JANUS_OFFER = "v=0\r\no=- 5 6 IN IP4 203.0.113.1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n";
const JANUS_ANSWER = "v=0\r\no=- 7 8 IN IP4 203.0.113.1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n";
const ANSWER = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n";

/** Fake pcs that take a remote offer (as a browser: a recvonly transceiver per m-line). */
function serverBrowser() {
  const browser = fakeBrowser();
  class PC extends browser.FakePC {
    async setRemoteDescription(desc) {
      await super.setRemoteDescription(desc);
      if (desc.type !== "offer") return;
      const tx = super.addTransceiver("video", { direction: "recvonly" });
      tx.receiver = { track: new FakeTrack("video") };
      this.setState("signalingState", "have-remote-offer", "signalingstatechange");
    }
    async createAnswer() {
      return { type: "answer", sdp: ANSWER };
    }
    async setLocalDescription(desc) {
      await super.setLocalDescription(desc);
      if (desc.type === "answer") this.setState("signalingState", "stable", "signalingstatechange");
    }
    async addIceCandidate() {}
    async getStats() {
      return new Map();
    }
  }
  browser.env.RTCPeerConnection = PC;
  return browser;
}

function setup() {
  const browser = serverBrowser();
  const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "abcdef01" });
  const model = new FakeModel({
    kind: "room",
    name: "lesson",
    width: 320,
    height: 240,
    frame_rate: 15,
    audio: false,
    rtc_config: { iceServers: [] },
    state: "new",
    sfu: "janus",
  });
  /** @type {any[]} */
  const snapshots = [];
  const member = new RoomMember({ model, router, env: browser.env, onChange: (s) => snapshots.push(s) });
  const kernel = (type, payload) => model.emit({ v: 1, type, stream: member.id, payload });
  const members = (list) => kernel("members", { you: member.id, room: "lesson", members: list });
  const signals = (to) => model.sentOf("signal").filter((m) => m.payload.to === to).map((m) => m.payload.data);
  return { browser, model, member, snapshots, kernel, members, signals };
}

describe("server room helpers", () => {
  test("the sfu trait, the state and who may offer", () => {
    assert.equal(roomViaServer("janus"), true);
    assert.equal(roomViaServer(""), false);
    assert.equal(roomViaServer(undefined), false);
    assert.equal(serverRoomState([{ state: "connected" }], 1), "waiting");
    assert.equal(serverRoomState([{ state: "connected" }, { state: "new" }], 2), "live");
    assert.equal(serverRoomState([{ state: "connecting" }], 3), "connecting");
    const list = [{ id: "me" }, { id: "a" }];
    assert.equal(mayReceiveFrom("a", "me", list, new Set()), true);
    assert.equal(mayReceiveFrom("a", "me", list, new Set(["a"])), false, "left");
    assert.equal(mayReceiveFrom("b", "me", list, new Set()), false, "not a member");
    assert.equal(mayReceiveFrom("me", "me", list, new Set()), false);
    assert.equal(mayReceiveFrom(SERVER_PEER, "me", [...list, { id: SERVER_PEER }], new Set()), false);
    assert.match(roomCaption(4, "janus"), /^4 members · media goes through the server \(janus\): each member sends its camera once/);
  });
});

describe("RoomMember through a server", () => {
  test("offers its camera once to the server and answers each member's feed", async () => {
    const { browser, member, members, kernel, signals, snapshots } = setup();
    member.start();
    assert.equal(member.viaServer, true);
    members([{ id: member.id, seq: 1 }]);
    await flush();
    assert.deepEqual([...member.links.keys()], [SERVER_PEER]);
    const up = member.links.get(SERVER_PEER);
    assert.deepEqual(signals(SERVER_PEER).map((d) => d.type), ["offer"]);
    const [tx] = up.pc.transceivers;
    assert.equal(tx.trackOrKind, browser.world.streams[0].tracks[0], "the camera goes up");
    assert.equal(tx.init.direction, "sendonly");
    assert.equal(up.pc.transceivers.length, 1, "nothing is received on the camera's link");
    kernel("signal", { from: SERVER_PEER, data: { type: "answer", sdp: JANUS_ANSWER } });
    await flush();
    assert.equal(up.pc.remoteDescription.sdp, JANUS_ANSWER);
    up.pc.setState("connectionState", "connected", "connectionstatechange");
    assert.equal(member.state.name, "waiting", "alone in the room");
    assert.deepEqual(snapshots.at(-1).peers, [], "no tile for the server link");
    assert.equal(snapshots.at(-1).via, "janus");

    // another member: no link until the server offers its camera
    members([{ id: member.id, seq: 1 }, { id: "bbbb-1", seq: 2 }]);
    await flush();
    assert.deepEqual([...member.links.keys()], [SERVER_PEER]);
    assert.deepEqual(signals("bbbb-1"), []);
    assert.equal(member.state.name, "live");
    kernel("signal", { from: "bbbb-1", data: { type: "offer", sdp: JANUS_OFFER } });
    await flush();
    const down = member.links.get("bbbb-1");
    assert.equal(down.offerer, false);
    assert.equal(down.pc.remoteDescription.sdp, JANUS_OFFER);
    assert.deepEqual(signals("bbbb-1"), [{ type: "answer", sdp: ANSWER }]);
    assert.ok(down.pc.transceivers.every((t) => t.sender.track === null), "nothing sent back");
    assert.deepEqual(snapshots.at(-1).peers.map((p) => p.id), ["bbbb-1"]);
    // only one camera upload, however many members
    assert.equal(signals(SERVER_PEER).filter((d) => d.type === "offer").length, 1);

    // an offer for a member not in the list is dropped; the member leaves: its link closes
    kernel("signal", { from: "zzzz-1", data: { type: "offer", sdp: JANUS_OFFER } });
    members([{ id: member.id, seq: 1 }]);
    await flush();
    assert.deepEqual([...member.links.keys()], [SERVER_PEER]);
    assert.equal(down.pc.closed, true);
    kernel("signal", { from: "bbbb-1", data: { type: "offer", sdp: JANUS_OFFER } });
    await flush();
    assert.equal(member.links.has("bbbb-1"), false, "a late offer for a member that left");
    member.close();
    assert.equal(up.pc.closed, true);
  });

  test("a refused join shows the server's words", async () => {
    const { member, kernel } = setup();
    member.start();
    const words = "the room is full (4 members): Janus refused another publisher.";
    kernel("error", { code: "limit", message: words, ref: { type: "join" } });
    assert.equal(member.state.name, "error");
    assert.equal(member.words, words);
  });
});
