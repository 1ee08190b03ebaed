// TURN logins are asked for, never read from the trait (ice.js): the page sends
// `ice-servers` before it creates a pc when rtc_config says `credentials: "ask"`, waits
// for the kernel's reply (bounded), and builds the pc from it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ICE_SERVERS_TIMEOUT_MS,
  MAX_ICE_SERVERS,
  checkIceServersPayload,
  needsCredentials,
  withIceServers,
} from "../transport/ice.js";
import { BrowserPeer, peerConfig } from "../peer/peer.js";
import { validateKernelMessage } from "../core/protocol.js";
import { RoomMember } from "../room/room.js";
import { createRouter } from "../core/router.js";
import { FakeModel, fakeBrowser, flush, peerSetup, quietLog } from "./fakes.js";

const TURN = { urls: "turn:127.0.0.1:3478", username: "u", credential: "s3cret-login" };
/** What the kernel syncs when a server has a login: URLs only, and the marker. */
const ASK = { iceServers: [{ urls: TURN.urls }], credentials: "ask" };

describe("ice.js helpers", () => {
  test("the marker, the merge and peerConfig", () => {
    assert.equal(needsCredentials(ASK), true);
    for (const other of [{ iceServers: [] }, {}, null, undefined, "ask", { credentials: "yes" }]) {
      assert.equal(needsCredentials(other), false);
    }
    const merged = withIceServers(ASK, [TURN]);
    assert.deepEqual(merged, { iceServers: [TURN] }, "the marker is not an RTCConfiguration member");
    assert.deepEqual(ASK.iceServers, [{ urls: TURN.urls }], "the trait's value is not modified");
    assert.deepEqual(peerConfig(ASK), { bundlePolicy: "max-bundle", iceServers: [{ urls: TURN.urls }] });
  });

  test("a reply is checked and bounded", () => {
    assert.equal(checkIceServersPayload({ iceServers: [TURN, { urls: ["stun:a", "stun:b"] }] }), null);
    const bad = [
      null,
      [],
      { iceServers: "x" },
      { iceServers: [null] },
      { iceServers: [{ urls: 3 }] },
      { iceServers: [{ urls: [] }] },
      { iceServers: [{ urls: "turn:x", credential: 5 }] },
      { iceServers: Array.from({ length: MAX_ICE_SERVERS + 1 }, () => ({ urls: "stun:a" })) },
    ];
    for (const payload of bad) assert.notEqual(checkIceServersPayload(payload), null, JSON.stringify(payload)?.slice(0, 80));
    const msg = (payload) => ({ v: 1, type: "ice-servers", stream: "p-1", payload });
    assert.equal(validateKernelMessage(msg({ iceServers: [TURN] })).ok, true);
    assert.equal(validateKernelMessage(msg({ iceServers: [{ urls: 3 }] })).ok, false);
  });
});

describe("BrowserPeer and ice-servers", () => {
  test("no login configured: no request, the pc is made at once with the trait's servers", async () => {
    const { peer, model, browser } = peerSetup({ BrowserPeer, createRouter });
    await peer.start();
    assert.deepEqual(model.sentOf("ice-servers"), []);
    assert.equal(model.sent[0].type, "offer", "no round trip before the offer");
    assert.deepEqual(browser.world.pcs[0].config, { bundlePolicy: "max-bundle", iceServers: [] });
  });

  test("a login configured: ask, wait, then the pc gets the kernel's full list", async () => {
    const { peer, model, browser, kernel } = peerSetup({ BrowserPeer, createRouter, traits: { rtc_config: ASK } });
    const started = peer.start();
    await flush();
    assert.deepEqual(
      model.sent.map((m) => [m.type, m.stream, m.payload]),
      [["ice-servers", peer.id, null]],
      "the request goes out first, for the stream about to start",
    );
    assert.equal(browser.world.pcs.length, 0, "no pc before the logins arrived");
    kernel("ice-servers", { iceServers: [TURN] });
    await started;
    assert.equal(browser.world.pcs.length, 1);
    assert.deepEqual(browser.world.pcs[0].config, { bundlePolicy: "max-bundle", iceServers: [TURN] });
    assert.deepEqual(model.sent.map((m) => m.type).slice(0, 2), ["ice-servers", "offer"]);
    assert.deepEqual(model.get("rtc_config"), ASK, "the login never goes into the trait");
    peer.close();
  });

  test("no reply within 5 s: the stream fails in words, no pc is made", async () => {
    const { peer, model, browser } = peerSetup({ BrowserPeer, createRouter, traits: { rtc_config: ASK } });
    const started = peer.start();
    await flush();
    browser.advance(ICE_SERVERS_TIMEOUT_MS - 1);
    await flush();
    assert.equal(peer.closed, false, "still waiting just before the bound");
    browser.advance(1);
    await started;
    assert.equal(peer.state.name, "error");
    assert.match(peer.words, /did not send the TURN credentials within 5 s/);
    assert.equal(browser.world.pcs.length, 0);
    assert.deepEqual(model.sentOf("error").map((m) => m.payload.name), ["IceServersTimeout"]);
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("a refusal fails the stream with the kernel's reason; a late reply is ignored", async () => {
    const { peer, browser, kernel } = peerSetup({ BrowserPeer, createRouter, traits: { rtc_config: ASK } });
    const started = peer.start();
    await flush();
    kernel("error", { code: "closed", message: "this stream or widget is closed", ref: { type: "ice-servers" } });
    await started;
    assert.equal(peer.state.name, "error");
    assert.match(peer.words, /refused to send the TURN credentials \(closed/);
    kernel("ice-servers", { iceServers: [TURN] });
    await flush();
    assert.equal(browser.world.pcs.length, 0);
  });

  test("closed while waiting: nothing is made afterwards, the timer is gone", async () => {
    const { peer, browser, kernel } = peerSetup({ BrowserPeer, createRouter, traits: { rtc_config: ASK } });
    const started = peer.start();
    await flush();
    peer.close();
    await started;
    kernel("ice-servers", { iceServers: [TURN] });
    browser.advance(ICE_SERVERS_TIMEOUT_MS * 2);
    await flush();
    assert.equal(browser.world.pcs.length, 0);
    assert.equal(peer.state.name, "closed");
  });
});

describe("RoomMember and ice-servers", () => {
  /** @param {any} rtcConfig */
  function roomSetup(rtcConfig) {
    const browser = fakeBrowser();
    const router = createRouter({ log: quietLog(), pageTarget: null, randomHex: () => "abcdef01" });
    const model = new FakeModel({
      kind: "room", name: "lesson", width: 320, height: 240, frame_rate: 15, audio: false, rtc_config: rtcConfig,
    });
    const member = new RoomMember({ model, router, env: browser.env });
    const kernel = (type, payload) => model.emit({ v: 1, type, stream: member.id, payload });
    return { browser, model, member, kernel };
  }

  test("asks before joining; every link's pc has the full list", async () => {
    const { browser, model, member, kernel } = roomSetup(ASK);
    member.start();
    assert.deepEqual(model.sent.map((m) => [m.type, m.payload]), [["ice-servers", null]], "no join before the logins");
    kernel("ice-servers", { iceServers: [TURN] });
    await flush();
    assert.deepEqual(model.sent.map((m) => m.type), ["ice-servers", "join"]);
    kernel("members", { you: member.id, room: "lesson", members: [{ id: "x-1", seq: 1 }, { id: member.id, seq: 2 }] });
    await flush();
    assert.equal(browser.world.pcs.length, 1);
    assert.deepEqual(browser.world.pcs[0].config, { bundlePolicy: "max-bundle", iceServers: [TURN] });
    member.close();
  });

  test("no login configured: joins at once; no reply in 5 s: fails in words, never joins", async () => {
    const plain = roomSetup({ iceServers: [] });
    plain.member.start();
    assert.deepEqual(plain.model.sent.map((m) => m.type), ["join"]);
    plain.member.close();

    const { browser, model, member } = roomSetup(ASK);
    member.start();
    browser.advance(ICE_SERVERS_TIMEOUT_MS);
    await flush();
    assert.equal(member.state.name, "error");
    assert.match(member.words, /did not send the TURN credentials/);
    assert.ok(!model.sent.some((m) => m.type === "join"));
  });
});
