// The answer to the kernel's offer prepared as the offer arrives (peer/early-answer.js):
// what is prepared and when, that the view adopts it instead of making a pc of its own,
// and that every way an unadopted answer can end closes its pc.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrowserPeer } from "../peer/peer.js";
import { createRouter, MAX_KERNEL_OFFERS } from "../core/router.js";
import { EARLY_TTL_MS, EarlyAnswer, canAnswerEarly, earlyAnswerer } from "../peer/early-answer.js";
import { FakeModel, fakeBrowser, flush, quietLog } from "./fakes.js";

const OFFER = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
const ID = "k0123456789abcdef-0";

/** @param {Record<string, any>} [traits] */
function cameraModel(traits = {}) {
  const model = new FakeModel({
    kind: "camera",
    rtc_config: { iceServers: [] },
    transport_mode: "auto",
    state: "idle",
    audio: false,
    _kernel_offer: ID,
    ...traits,
  });
  /** @type {any} */ (model).widget_manager = { kernel: { status: "idle", statusChanged: { connect() {}, disconnect() {} } } };
  return model;
}

/** @param {FakeModel} model */
function setState(model, state) {
  model.traits.state = state;
  for (const cb of [...(model.listeners.get("change:state") ?? [])]) cb();
}

/** A page: a router that prepares answers on the fake browser, and one camera model. */
function page(traits = {}) {
  const browser = fakeBrowser();
  const router = createRouter({
    log: quietLog(),
    pageTarget: null,
    batchMs: 0,
    randomHex: () => "abcdef01",
    prepareAnswer: earlyAnswerer(browser.env),
  });
  const model = cameraModel(traits);
  router.attachModel(model);
  const offer = (id = ID, sdp = OFFER) => model.emit({ v: 1, type: "offer", stream: id, payload: { sdp, kernel: true } });
  return { browser, router, model, offer };
}

describe("preparing the answer as the kernel's offer arrives", () => {
  test("the offer is set and the answer made before any view exists, with nothing sent", async () => {
    const { browser, model, offer } = page();
    offer();
    await flush();
    assert.equal(browser.world.pcs.length, 1, "one pc, made as the offer arrived");
    const pc = browser.world.pcs[0];
    assert.equal(pc.remoteDescription?.type, "offer");
    assert.equal(pc.localDescription, null, "the answer is the view's to set: ICE starts then");
    const [video, audio] = pc.getTransceivers();
    assert.equal(video.direction, "sendrecv");
    assert.equal(audio.direction, "recvonly", "no sound asked for: the audio section stays unused");
    assert.equal(model.sent.length, 0, "nothing leaves the page before a view answers");
    assert.equal(browser.world.gumCalls.length, 0, "no device opens");
  });

  test("a camera with sound sends on the audio section", async () => {
    const { browser, offer } = page({ audio: true });
    offer();
    await flush();
    assert.equal(browser.world.pcs[0].getTransceivers()[1].direction, "sendonly");
  });

  test("only for a camera over WebRTC that needs no ICE servers from the kernel", () => {
    assert.equal(canAnswerEarly(cameraModel()), true);
    assert.equal(canAnswerEarly(cameraModel({ kind: "view" })), false);
    assert.equal(canAnswerEarly(cameraModel({ transport_mode: "comm" })), false);
    assert.equal(canAnswerEarly(cameraModel({ state: "closed" })), false);
    assert.equal(canAnswerEarly(cameraModel({ rtc_config: { credentials: "ask", iceServers: [] } })), false);
    const { browser, offer } = page({ rtc_config: { credentials: "ask", iceServers: [] } });
    offer();
    assert.equal(browser.world.pcs.length, 0);
  });

  test("a view already waiting for the offer answers it itself: nothing is prepared", async () => {
    const { browser, router, offer } = page();
    const taking = router.takeKernelOffer(ID, 250);
    offer();
    assert.equal(await taking, OFFER);
    assert.equal(browser.world.pcs.length, 0);
    assert.equal(router.takeEarlyAnswer(ID), null);
  });
});

describe("every unadopted early answer ends with its offer", () => {
  test("the kernel's bye for an expired offer closes it", async () => {
    const { browser, model, offer } = page();
    offer();
    model.emit({ v: 1, type: "bye", stream: ID, payload: { reason: "expired" } });
    await flush();
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("another page answering (the kernel's offer-taken) closes it and forgets the offer", async () => {
    const { browser, router, model, offer } = page();
    offer();
    model.emit({ v: 1, type: "offer-taken", stream: ID, payload: null });
    await flush();
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
    assert.equal(await router.takeKernelOffer(ID, 0), "", "a view rendered now offers itself");
  });

  test("offer-taken does not touch the stream of the view that answered", async () => {
    const { browser, router, model, offer } = page();
    offer();
    await flush();
    const peer = new BrowserPeer({ model, kind: "camera", router, env: browser.env, kernelOffer: ID });
    await peer.start();
    model.emit({ v: 1, type: "offer-taken", stream: ID, payload: null });
    await flush();
    assert.equal(peer.closed, false);
    assert.equal(browser.leaks().pcs, 1);
    peer.close();
  });

  test("the widget closing (its state trait) closes it", async () => {
    const { browser, model, offer } = page();
    offer();
    setState(model, "closed");
    await flush();
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
    assert.equal(model.count("change:state"), 0, "its listener went with it");
  });

  test("no view within EARLY_TTL_MS closes it", async () => {
    const { browser, offer } = page();
    offer();
    await flush();
    browser.advance(EARLY_TTL_MS - 1);
    assert.equal(browser.leaks().pcs, 1);
    browser.advance(1);
    assert.equal(browser.leaks().pcs, 0);
  });

  test("an offer evicted past MAX_KERNEL_OFFERS closes its answer; the page going closes all", async () => {
    const { browser, router, offer } = page();
    for (let i = 0; i <= MAX_KERNEL_OFFERS; i++) offer(`k0123456789abcdef-${i}`);
    await flush();
    assert.equal(browser.leaks().pcs, MAX_KERNEL_OFFERS, "the oldest went with its offer");
    assert.equal(browser.world.pcs[0].closed, true);
    router.closeAll("pagehide");
    assert.equal(browser.leaks().pcs, 0);
  });

  test("close() is idempotent and leaves an adopted pc to its view", async () => {
    const browser = fakeBrowser();
    const early = new EarlyAnswer({ sdp: OFFER, model: cameraModel(), env: browser.env });
    const adopted = early.adopt(false);
    assert.ok(adopted);
    early.close();
    early.close();
    assert.equal(adopted.pc.closed, false);
    assert.equal(early.adopt(false), null, "adopted once");
    assert.equal(browser.world.timers.size, 0, "its timer went at adoption");
  });

  test("an answer made for the other sound setting is closed, not adopted", () => {
    const browser = fakeBrowser();
    const early = new EarlyAnswer({ sdp: OFFER, model: cameraModel({ audio: false }), env: browser.env });
    assert.equal(early.adopt(true), null);
    assert.equal(browser.leaks().pcs, 0);
  });
});

describe("the view adopts the early answer", () => {
  /** @param {Record<string, any>} [traits] */
  async function rendered(traits = {}) {
    const p = page(traits);
    p.offer();
    await flush();
    const pc = p.browser.world.pcs[0];
    // the kernel's video arrived as the offer was set, before the view listened
    const track = pc.remoteTrack("video");
    const made = { answers: 0, remote: 0 };
    const { createAnswer, setRemoteDescription } = pc;
    pc.createAnswer = (...a) => (made.answers++, createAnswer.apply(pc, a));
    pc.setRemoteDescription = (...a) => (made.remote++, setRemoteDescription.apply(pc, a));
    const peer = new BrowserPeer({ model: p.model, kind: "camera", router: p.router, env: p.browser.env, kernelOffer: ID });
    await peer.start();
    return { ...p, pc, track, peer, made };
  }

  test("its pc becomes the stream's: no second pc, the prepared answer is set and sent", async () => {
    const { browser, model, pc, peer, made } = await rendered();
    assert.equal(browser.world.pcs.length, 1, "no pc of the view's own");
    assert.deepEqual(made, { answers: 0, remote: 0 }, "the offer was set and answered once, early");
    assert.equal(peer.pc, pc);
    assert.equal(peer.id, ID);
    assert.equal(pc.localDescription?.type, "answer");
    const [answer] = model.sentOf("answer");
    assert.equal(answer.payload.sdp, pc.localDescription.sdp);
    assert.equal(browser.world.gumCalls.length, 1, "the kernel is idle: the camera opens");
  });

  test("the kernel's track that arrived before the view is the view's remote video", async () => {
    const { peer, track } = await rendered();
    assert.ok(peer.remoteStream?.getTracks().includes(track));
  });

  test("closing the view closes the adopted pc and the camera", async () => {
    const { browser, peer } = await rendered();
    peer.close();
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("a view closed before it took the offer's answer leaves nothing", async () => {
    const p = page();
    p.offer();
    const peer = new BrowserPeer({ model: p.model, kind: "camera", router: p.router, env: p.browser.env, kernelOffer: ID });
    const starting = peer.start();
    peer.close();
    await starting;
    await flush();
    assert.deepEqual(p.browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("an answer that could not be made fails the stream in words", async () => {
    const p = page();
    p.offer();
    const pc = p.browser.world.pcs[0];
    pc.createAnswer = async () => {
      throw Object.assign(new Error("bad offer"), { name: "OperationError" });
    };
    await flush();
    const peer = new BrowserPeer({ model: p.model, kind: "camera", router: p.router, env: p.browser.env, kernelOffer: ID });
    await peer.start();
    assert.equal(peer.state.name, "error");
    assert.match(String(peer.state.reason ?? peer.words ?? ""), /kernel's offer|could not/);
    assert.deepEqual(p.browser.leaks(), { pcs: 0, tracks: 0 });
  });
});
