import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RoomMember, isOfferer, renderRoom } from "../room/room.js";
import { roomConstraints } from "../core/constraints.js";
import { filterLinkStats } from "../core/stats.js";
import { roomCaption, roomStatusText } from "../room/room-view.js";
import { createRouter } from "../core/router.js";
import { FakeDocument, FakeModel, FakeTrack, fakeBrowser, flush, quietLog } from "./fakes.js";

const OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
const ANSWER = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
const cand = (port) => ({
  candidate: `candidate:1 1 udp 2122260223 127.0.0.1 ${port} typ host`,
  sdpMid: "0",
  sdpMLineIndex: 0,
});

/**
 * A fake browser whose pcs also do what a mesh member needs: transceivers made by a
 * remote offer, answers, addIceCandidate (refused before the remote description, like
 * the browser) and getStats.
 */
function roomBrowser() {
  const browser = fakeBrowser();
  class RoomPC extends browser.FakePC {
    constructor(config) {
      super(config);
      /** @type {any[]} */
      this.added = [];
      /** @type {any} */
      this.stats = new Map();
    }
    addTransceiver(trackOrKind, init) {
      const tx = super.addTransceiver(trackOrKind, init);
      tx.direction = init?.direction;
      tx.receiver = { track: new FakeTrack(tx.kind) };
      return tx;
    }
    getTransceivers() {
      return [...this.transceivers];
    }
    async setRemoteDescription(desc) {
      await super.setRemoteDescription(desc);
      if (desc.type !== "offer") return;
      for (const line of desc.sdp.split("\r\n")) {
        const kind = line.startsWith("m=video") ? "video" : line.startsWith("m=audio") ? "audio" : null;
        if (!kind) continue;
        const tx = super.addTransceiver(kind, { direction: "recvonly" });
        tx.direction = "recvonly";
        tx.receiver = { track: new FakeTrack(kind) };
        tx.sender.setStreams = (...streams) => {
          tx.sender.streams = streams;
        };
      }
      this.setState("signalingState", "have-remote-offer", "signalingstatechange");
    }
    async createAnswer() {
      if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
      return { type: "answer", sdp: ANSWER };
    }
    async setLocalDescription(desc) {
      await super.setLocalDescription(desc);
      if (desc.type === "answer") this.setState("signalingState", "stable", "signalingstatechange");
    }
    async addIceCandidate(c) {
      if (!this.remoteDescription) {
        throw Object.assign(new Error("no remote description"), { name: "InvalidStateError" });
      }
      this.added.push(c);
    }
    async getStats() {
      return this.stats;
    }
  }
  browser.env.RTCPeerConnection = RoomPC;
  return browser;
}

function setup({ traits = {} } = {}) {
  const browser = roomBrowser();
  const log = quietLog();
  const router = createRouter({ log, pageTarget: null, batchMs: 0, randomHex: () => "abcdef01" });
  const model = new FakeModel({
    kind: "room",
    name: "lesson",
    width: 320,
    height: 240,
    frame_rate: 15,
    audio: false,
    rtc_config: { iceServers: [] },
    state: "new",
    ...traits,
  });
  /** @type {any[]} */
  const snapshots = [];
  const member = new RoomMember({ model, router, env: browser.env, onChange: (s) => snapshots.push(s) });
  const kernel = (type, payload) => model.emit({ v: 1, type, stream: member.id, payload });
  /** @param {{id: string, seq: number}[]} list */
  const members = (list) => kernel("members", { you: member.id, room: "lesson", members: list });
  const signals = (to) =>
    model.sentOf("signal").filter((m) => to === undefined || m.payload.to === to).map((m) => m.payload.data);
  const pcTo = (id) => member.links.get(id)?.pc;
  return { browser, router, model, member, snapshots, kernel, members, signals, pcTo };
}

describe("pure helpers", () => {
  test("the later joiner (higher seq) offers", () => {
    assert.equal(isOfferer(3, 1), true);
    assert.equal(isOfferer(1, 3), false);
    assert.equal(isOfferer(2, 2), false);
  });

  test("constraints come from the room's traits", () => {
    const model = new FakeModel({ width: 320, height: 240, frame_rate: 15, audio: false });
    assert.deepEqual(roomConstraints(model), {
      video: { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15 } },
      audio: false,
    });
    assert.deepEqual(roomConstraints(new FakeModel({ audio: true })), { video: {}, audio: true });
  });

  test("stats keep the selected pair, its candidates, the transport and RTP", () => {
    const reports = [
      { id: "T1", type: "transport", selectedCandidatePairId: "CP2", dtlsState: "connected", extra: { nested: 1 } },
      { id: "CP1", type: "candidate-pair", localCandidateId: "L1", remoteCandidateId: "R1", state: "failed" },
      {
        id: "CP2",
        type: "candidate-pair",
        localCandidateId: "L2",
        remoteCandidateId: "R2",
        state: "succeeded",
        nominated: true,
        currentRoundTripTime: 0.001,
      },
      { id: "L1", type: "local-candidate", address: "10.0.0.1", port: 1 },
      { id: "L2", type: "local-candidate", address: "127.0.0.1", port: 50000, candidateType: "host" },
      { id: "R2", type: "remote-candidate", address: "127.0.0.1", port: 50001, candidateType: "host" },
      { id: "OT", type: "outbound-rtp", kind: "video", bytesSent: 12345, frameWidth: 320, junk: [1] },
      { id: "IT", type: "inbound-rtp", kind: "video", bytesReceived: 999, framesDecoded: 30 },
      { id: "C1", type: "codec", mimeType: "video/VP8" },
      { id: "M1", type: "media-source", kind: "video" },
    ];
    const out = filterLinkStats(new Map(reports.map((r) => [r.id, r])));
    assert.deepEqual(out.map((r) => r.id).sort(), ["CP2", "IT", "L2", "OT", "R2", "T1"]);
    const ot = out.find((r) => r.id === "OT");
    assert.deepEqual(ot, { id: "OT", type: "outbound-rtp", kind: "video", bytesSent: 12345, frameWidth: 320 });
    assert.ok(out.every((r) => Object.values(r).every((v) => typeof v !== "object")), "flat scalars only");

    // before the transport names a pair: the nominated, succeeded ones
    const early = filterLinkStats(reports.filter((r) => r.type !== "transport"));
    assert.deepEqual(early.filter((r) => r.type === "candidate-pair").map((r) => r.id), ["CP2"]);

    const many = Array.from({ length: 100 }, (_, i) => ({ id: `I${i}`, type: "inbound-rtp", bytesReceived: i }));
    assert.equal(filterLinkStats(many).length, 40);
    assert.deepEqual(filterLinkStats(null), []);
    assert.deepEqual(filterLinkStats({ forEach() { throw new Error("boom"); } }), []);
  });

  test("words", () => {
    assert.equal(roomCaption(3), "3 members · media flows browser ↔ browser; the kernel only relays signaling");
    assert.match(roomCaption(1), /^1 member ·/);
    const peers = [
      { id: "a", seq: 1, state: "connected", stream: null, failed: "" },
      { id: "b", seq: 2, state: "connecting", stream: null, failed: "" },
    ];
    assert.equal(roomStatusText({ state: { name: "live", reason: "" }, words: "", room: "x", peers }).text, "Live · connected to 1 of 2");
    assert.match(roomStatusText({ state: { name: "waiting", reason: "" }, words: "", room: "x", peers: [] }).text, /another tab/);
  });
});

describe("RoomMember", () => {
  test("joins, opens the camera once admitted, offers only to lower seqs", async () => {
    const { browser, model, member, members, signals, pcTo } = setup();
    member.start();
    assert.deepEqual(model.sentOf("join").map((m) => m.payload), [{ page: "abcdef01", view: "abcdef01-v1" }]);
    assert.equal(member.state.name, "joining");
    assert.equal(browser.world.gumCalls.length, 0, "no camera before the kernel admitted this view");

    members([
      { id: "aaaa-1", seq: 1 },
      { id: member.id, seq: 2 },
      { id: "cccc-1", seq: 3 },
    ]);
    assert.deepEqual(browser.world.gumCalls, [
      { video: { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 15 } }, audio: false },
    ]);
    await flush();
    assert.equal(member.links.size, 2);
    // seq 2 offers to seq 1, and waits for seq 3's offer
    assert.deepEqual(signals("aaaa-1").map((d) => d.type), ["offer"]);
    assert.deepEqual(signals("cccc-1"), []);
    const toA = pcTo("aaaa-1");
    const [tx] = toA.transceivers;
    assert.equal(tx.trackOrKind, browser.world.streams[0].tracks[0], "the camera track goes out");
    assert.equal(tx.init.direction, "sendrecv");
    assert.equal(member.state.name, "connecting");

    toA.setState("connectionState", "connected", "connectionstatechange");
    assert.equal(member.state.name, "live");
    const states = model.sentOf("state").map((m) => m.payload);
    assert.deepEqual(states.at(-1), {
      connection: "connected",
      ice: "new",
      signaling: "have-local-offer",
      gathering: "new",
      peer: "aaaa-1",
    });
    member.close();
  });

  test("local candidates wait for the description and follow it, in order", async () => {
    const { browser, member, members, signals } = setup();
    // the camera resolves by hand: the offer cannot go before it
    browser.env.mediaDevices.getUserMedia = () => new Promise(() => {});
    member.start();
    members([
      { id: "aaaa-1", seq: 1 },
      { id: member.id, seq: 2 },
    ]);
    const link = member.links.get("aaaa-1");
    link.pc.candidate(cand(5000));
    link.pc.candidate(cand(5001));
    await flush();
    assert.deepEqual(signals("aaaa-1"), [], "nothing before the offer");
    member._media = Promise.resolve(browser.makeStream(["video"]));
    await member._offer(link);
    link.pc.candidate(cand(5002));
    link.pc.candidate(null); // end of candidates: no message
    assert.deepEqual(
      signals("aaaa-1").map((d) => d.type + (d.candidate ? `:${d.candidate.candidate.split(" ")[5]}` : "")),
      ["offer", "candidate:5000", "candidate:5001", "candidate:5002"],
    );
    member.close();
  });

  test("remote candidates before the remote description are queued, then added in order", async () => {
    const { member, members, kernel, signals, pcTo, browser } = setup();
    member.start();
    members([
      { id: member.id, seq: 1 },
      { id: "bbbb-1", seq: 2 },
    ]);
    const pc = pcTo("bbbb-1");
    pc.remoteStep = { promise: new Promise((resolve) => (pc.release = resolve)) };
    const signal = (data) => kernel("signal", { from: "bbbb-1", data });
    signal({ type: "candidate", candidate: cand(6000) });
    signal({ type: "offer", sdp: OFFER });
    signal({ type: "candidate", candidate: cand(6001) });
    await flush();
    assert.equal(pc.remoteDescription, null);
    signal({ type: "candidate", candidate: cand(6002) });
    await flush();
    assert.deepEqual(pc.added, [], "no candidate reaches the pc before the offer is applied");
    pc.release();
    await flush();
    assert.deepEqual(pc.remoteDescription, { type: "offer", sdp: OFFER });
    signal({ type: "candidate", candidate: cand(6003) });
    await flush();
    assert.deepEqual(
      pc.added.map((c) => c.candidate.split(" ")[5]),
      ["6000", "6001", "6002", "6003"],
    );
    // the answer carries our camera on the offer's video transceiver
    assert.deepEqual(signals("bbbb-1"), [{ type: "answer", sdp: ANSWER }]);
    const [tx] = pc.getTransceivers();
    assert.equal(tx.direction, "sendrecv");
    assert.equal(tx.sender.track, browser.world.streams[0].tracks[0]);
    assert.deepEqual(signals("aaaa-1"), []);
    member.close();
  });

  test("an answer is applied once, to the offer this side made", async () => {
    const { member, members, kernel, pcTo } = setup();
    member.start();
    members([
      { id: "aaaa-1", seq: 1 },
      { id: member.id, seq: 2 },
    ]);
    await flush();
    const pc = pcTo("aaaa-1");
    kernel("signal", { from: "aaaa-1", data: { type: "candidate", candidate: cand(7000) } });
    kernel("signal", { from: "aaaa-1", data: { type: "answer", sdp: ANSWER } });
    kernel("signal", { from: "aaaa-1", data: { type: "answer", sdp: "v=0\r\nsecond\r\n" } });
    // an offer from the lower seq would be glare: ignored
    kernel("signal", { from: "aaaa-1", data: { type: "offer", sdp: OFFER } });
    await flush();
    assert.deepEqual(pc.remoteDescription, { type: "answer", sdp: ANSWER });
    assert.deepEqual(pc.added.map((c) => c.candidate.split(" ")[5]), ["7000"]);
    member.close();
  });

  test("a member leaving closes that pc only, and its late signals are dropped", async () => {
    const { member, members, kernel, pcTo, browser } = setup();
    member.start();
    members([
      { id: "aaaa-1", seq: 1 },
      { id: "bbbb-1", seq: 2 },
      { id: member.id, seq: 3 },
    ]);
    await flush();
    const toA = pcTo("aaaa-1");
    const toB = pcTo("bbbb-1");
    const remote = toA.remoteTrack("video");
    assert.ok(member.snapshot().peers.find((p) => p.id === "aaaa-1").stream);
    members([
      { id: "bbbb-1", seq: 2 },
      { id: member.id, seq: 3 },
    ]);
    assert.equal(toA.closed, true);
    assert.equal(remote.readyState, "ended", "its received tracks stop too");
    assert.equal(toB.closed, false);
    assert.deepEqual([...member.links.keys()], ["bbbb-1"]);
    const pcs = browser.world.pcs.length;
    kernel("signal", { from: "aaaa-1", data: { type: "offer", sdp: OFFER } });
    members([
      { id: "aaaa-1", seq: 1 }, // a stale list naming it again makes no new pc
      { id: "bbbb-1", seq: 2 },
      { id: member.id, seq: 3 },
    ]);
    await flush();
    assert.equal(browser.world.pcs.length, pcs, "nothing is made for a member that left");
    member.close();
  });

  test("close() stops every track, closes every pc, says bye once and unregisters", async () => {
    const { member, members, model, router, browser, pcTo } = setup();
    member.start();
    members([
      { id: "aaaa-1", seq: 1 },
      { id: "bbbb-1", seq: 2 },
      { id: member.id, seq: 3 },
    ]);
    await flush();
    const remote = pcTo("bbbb-1").remoteTrack("video");
    assert.deepEqual(router.streams(), [{ id: member.id, kind: "room", state: "connecting" }]);
    assert.deepEqual(browser.leaks(), { pcs: 2, tracks: 1 });
    member.close("view-removed");
    member.close("again");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
    assert.equal(remote.readyState, "ended");
    assert.deepEqual(model.sentOf("bye").map((m) => m.payload), [{ reason: "view-removed" }]);
    assert.deepEqual(router.streams(), []);
    assert.equal(router.isDead(member.id), true);
    assert.equal(browser.world.timers.size, 0, "ping, stats and watchdog timers cleared");
    assert.equal(member.state.name, "closed");
    const sent = model.sent.length;
    browser.advance(5000);
    assert.equal(model.sent.length, sent, "nothing is sent after close");
  });

  test("a camera that opens after close is stopped at once", async () => {
    const { browser, member, members } = setup();
    let resolve;
    browser.env.mediaDevices.getUserMedia = () => new Promise((r) => (resolve = r));
    member.start();
    members([{ id: member.id, seq: 1 }]);
    member.close();
    const stream = browser.makeStream(["video"]);
    resolve(stream);
    await flush();
    assert.equal(stream.tracks[0].readyState, "ended");
    assert.equal(member.localStream, null);
  });

  test("camera refused: error and bye to the kernel, the reason in words", async () => {
    const { browser, member, members, model } = setup();
    browser.env.mediaDevices.getUserMedia = async () => {
      throw Object.assign(new Error("Permission denied"), { name: "NotAllowedError" });
    };
    member.start();
    members([{ id: member.id, seq: 1 }]);
    await flush();
    assert.deepEqual(model.sentOf("error").map((m) => m.payload), [
      { name: "NotAllowedError", message: "Permission denied" },
    ]);
    assert.deepEqual(model.sentOf("bye").map((m) => m.payload), [{ reason: "error" }]);
    assert.equal(member.state.name, "error");
    assert.match(member.words, /Camera permission was denied/);
  });

  test("the kernel's bye, a refused join and a dead kernel close without a bye back", async () => {
    const full = setup();
    full.member.start();
    full.kernel("bye", { reason: "limit" });
    assert.equal(full.member.state.name, "closed");
    assert.match(full.member.words, /full/);
    assert.deepEqual(full.model.sentOf("bye"), []);

    const refused = setup();
    refused.member.start();
    refused.kernel("error", { code: "out-of-order", message: "already joined", ref: { type: "join" } });
    assert.equal(refused.member.state.name, "error");
    assert.deepEqual(refused.model.sentOf("bye"), []);

    const silent = setup();
    silent.member.start();
    silent.members([
      { id: silent.member.id, seq: 1 },
      { id: "bbbb-1", seq: 2 },
    ]);
    await flush();
    silent.browser.advance(2900);
    assert.equal(silent.member.closed, false);
    silent.kernel("ping", { t: 1 });
    silent.browser.advance(2900);
    assert.equal(silent.member.closed, false, "a ping keeps it alive");
    silent.browser.advance(500);
    assert.equal(silent.member.closed, true, "3 s without the kernel: gone");
    assert.match(silent.member.words, /connection to the kernel/);
    assert.deepEqual(silent.model.sentOf("bye"), []);
    assert.deepEqual(silent.browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("stats go to the kernel per link, filtered, one sample at a time", async () => {
    const { member, members, model, browser, pcTo } = setup();
    member.start();
    members([
      { id: "aaaa-1", seq: 1 },
      { id: member.id, seq: 2 },
    ]);
    await flush();
    pcTo("aaaa-1").stats = new Map([
      ["OT", { id: "OT", type: "outbound-rtp", bytesSent: 10 }],
      ["X", { id: "X", type: "codec" }],
    ]);
    browser.advance(1000);
    await flush();
    const stats = model.sentOf("stats").map((m) => m.payload);
    assert.equal(stats.length, 1);
    assert.equal(stats[0].peer, "aaaa-1");
    assert.deepEqual(stats[0].reports, [{ id: "OT", type: "outbound-rtp", bytesSent: 10 }]);
    member.close();
  });
});

describe("the page router closes room members", () => {
  test("a kernel restart closes every member without a bye", async () => {
    const browser = roomBrowser();
    const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "abcdef01" });
    /** @type {Function[]} */
    const slots = [];
    const kernel = { statusChanged: { connect: (f) => slots.push(f), disconnect: () => {} } };
    const model = new FakeModel({ kind: "room", rtc_config: {}, audio: false });
    model.widget_manager = { kernel };
    const members = [0, 1].map(() => new RoomMember({ model, router, env: browser.env }));
    for (const m of members) m.start();
    const ids = members.map((m) => m.id);
    model.emit({ v: 1, type: "members", stream: ids[0], payload: { you: ids[0], members: [{ id: ids[0], seq: 1 }, { id: ids[1], seq: 2 }] } });
    model.emit({ v: 1, type: "members", stream: ids[1], payload: { you: ids[1], members: [{ id: ids[0], seq: 1 }, { id: ids[1], seq: 2 }] } });
    await flush();
    assert.deepEqual(browser.leaks(), { pcs: 2, tracks: 2 });
    for (const slot of slots) slot(kernel, "restarting");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
    assert.ok(members.every((m) => m.closed && /kernel/.test(m.words)));
    assert.deepEqual(model.sentOf("bye"), []);
    assert.deepEqual(router.streams(), []);
  });

  test("pagehide: one bye per member, then everything closed", async () => {
    const browser = roomBrowser();
    const target = new EventTarget();
    const router = createRouter({ log: quietLog(), pageTarget: target, batchMs: 0, randomHex: () => "abcdef01" });
    const model = new FakeModel({ kind: "room", rtc_config: {}, audio: false });
    const member = new RoomMember({ model, router, env: browser.env });
    member.start();
    model.emit({ v: 1, type: "members", stream: member.id, payload: { you: member.id, members: [{ id: member.id, seq: 1 }, { id: "bbbb-1", seq: 2 }] } });
    await flush();
    target.dispatchEvent(new Event("pagehide"));
    assert.deepEqual(model.sentOf("bye").map((m) => m.payload), [{ reason: "pagehide" }]);
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
    assert.equal(member.closed, true);
  });
});

describe("renderRoom", () => {
  function renderSetup() {
    const browser = roomBrowser();
    const doc = new FakeDocument();
    const saved = globalThis.document;
    globalThis.document = doc;
    const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "abcdef01" });
    const model = new FakeModel({
      kind: "room",
      width: 320,
      height: 240,
      frame_rate: 15,
      audio: false,
      rtc_config: {},
      state: "new",
    });
    const el = doc.createElement("div");
    const restore = () => {
      globalThis.document = saved;
    };
    return { browser, doc, router, model, el, restore };
  }

  test("draws the room, a tile per member, and cleans everything up", async () => {
    const { browser, doc, router, model, el, restore } = renderSetup();
    try {
      const cleanup = renderRoom({ model, el, router, env: browser.env, viewEnv: { log: quietLog() } });
      await new Promise((r) => setTimeout(r, 5));
      const [join] = model.sentOf("join");
      assert.ok(join, "joined on the next task");
      const id = join.stream;
      const root = el.children[0];
      assert.equal(root.className, "nbrtc-root nbrtc-room");
      assert.equal(root.dataset.kind, "room");
      model.emit({
        v: 1,
        type: "members",
        stream: id,
        payload: {
          you: id,
          room: "lesson",
          members: [
            { id: "aaaa-1", seq: 1 },
            { id, seq: 2 },
            { id: "cccc-1", seq: 3 },
          ],
        },
      });
      await flush();
      assert.equal(root.dataset.members, "3");
      assert.equal(root.dataset.state, "connecting");
      const tiles = root.findAll("nbrtc-room-peer");
      assert.deepEqual(tiles.map((t) => t.dataset.peer), ["aaaa-1", "cccc-1"]);
      assert.equal(root.find("nbrtc-room-local").srcObject, browser.world.streams[0]);
      assert.equal(root.find("nbrtc-room-caption").textContent, roomCaption(3));
      assert.equal(root.findAll("nbrtc-room-remote").length, 2);

      const pcA = browser.world.pcs[0];
      pcA.remoteTrack("video");
      pcA.setState("connectionState", "connected", "connectionstatechange");
      assert.equal(root.dataset.state, "live");
      assert.equal(tiles[0].dataset.state, "connected");
      assert.ok(tiles[0].find("nbrtc-room-remote").srcObject);
      pcA.setState("connectionState", "failed", "connectionstatechange");
      assert.equal(root.find("nbrtc-room-error").hidden, false);
      assert.match(root.find("nbrtc-room-error").textContent, /failed/);

      model.emit({
        v: 1,
        type: "members",
        stream: id,
        payload: { you: id, room: "lesson", members: [{ id, seq: 2 }, { id: "cccc-1", seq: 3 }] },
      });
      assert.deepEqual(root.findAll("nbrtc-room-peer").map((t) => t.dataset.peer), ["cccc-1"]);
      assert.equal(pcA.closed, true);

      cleanup();
      cleanup();
      assert.deepEqual(model.sentOf("bye").map((m) => m.payload), [{ reason: "view-removed" }]);
      assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
      assert.equal(el.children.length, 0);
      assert.equal(model.count("change:state"), 0);
      assert.equal(model.count("msg:custom"), 0);
      assert.equal(doc.listenerCount(), 0, "no DOM listener left");
      assert.deepEqual(router.streams(), []);
    } finally {
      restore();
    }
  });

  test("a room the kernel already closed never opens the camera", async () => {
    const { browser, router, model, el, restore } = renderSetup();
    try {
      model.traits.state = "closed";
      const cleanup = renderRoom({ model, el, router, env: browser.env });
      await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(model.sentOf("join"), []);
      assert.equal(browser.world.gumCalls.length, 0);
      assert.equal(el.children[0].dataset.state, "closed");
      cleanup();
    } finally {
      restore();
    }
  });

  test("an aborted signal cleans up", async () => {
    const { browser, router, model, el, restore } = renderSetup();
    try {
      const abort = new AbortController();
      renderRoom({ model, el, router, signal: abort.signal, env: browser.env });
      await new Promise((r) => setTimeout(r, 5));
      assert.equal(model.sentOf("join").length, 1);
      abort.abort();
      assert.equal(model.sentOf("bye").length, 1);
      assert.equal(el.children.length, 0);
    } finally {
      restore();
    }
  });
});
