// The page answering the kernel's offer (peer.js _answerKernel, docs/protocol.md "The
// kernel's offer"): which id it takes, what it sends, when the camera opens, and the way
// back to offering when the kernel gives the offer to someone else.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrowserPeer } from "../peer/peer.js";
import { createRouter } from "../core/router.js";
import { CONTROL_CHANNEL } from "../core/protocol.js";
import { FakeModel, fakeBrowser, quietLog } from "./fakes.js";

const OFFER = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
const ID = "k0123456789abcdef-0";
const tick = () => new Promise((r) => setTimeout(r, 0));

/**
 * @param {{status?: string, offered?: boolean, onOfferRefused?: (code: string) => void}} [opts]
 */
function setup({ status = "idle", offered = true, onOfferRefused } = {}) {
  const browser = fakeBrowser();
  const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "abcdef01" });
  const model = new FakeModel({
    kind: "camera",
    constraints: { width: 640, height: 480 },
    rtc_config: { iceServers: [] },
    _kernel_offer: ID,
  });
  /** @type {any} */ (model).widget_manager = { kernel: { status, statusChanged: { connect() {}, disconnect() {} } } };
  router.attachModel(model);
  if (offered) model.emit({ v: 1, type: "offer", stream: ID, payload: { sdp: OFFER, kernel: true } });
  const peer = new BrowserPeer({ model, kind: "camera", router, env: browser.env, kernelOffer: ID, onOfferRefused });
  const kernel = (type, payload) => model.emit({ v: 1, type, stream: ID, payload });
  return { browser, router, model, peer, kernel };
}

describe("answering the kernel's offer", () => {
  test("the view takes the kernel's id and answers with what it is", async () => {
    const { browser, model, peer } = setup();
    await peer.start();
    assert.equal(peer.id, ID);
    assert.equal(peer.answering, true);
    const [answer] = model.sentOf("answer");
    assert.equal(answer.stream, ID);
    assert.deepEqual(Object.keys(answer.payload).sort(), ["kind", "page", "sdp", "view"]);
    assert.equal(answer.payload.kind, "camera");
    assert.equal(model.sentOf("offer").length, 0, "no offer of its own");
    const pc = browser.world.pcs[0];
    assert.equal(pc.remoteDescription.type, "offer");
    const video = pc.getTransceivers().find((t) => t.kind === "video");
    assert.equal(video.direction, "sendrecv", "the camera goes out on the kernel's video section");
    assert.equal(pc.channels.length, 0, "the control channel is the kernel's, not opened here");
    pc.remoteChannel(CONTROL_CHANNEL);
    assert.ok(peer._link.dc, "the kernel's control channel is the stream's");
  });

  test("with the kernel idle the camera opens before the kernel took the answer", async () => {
    const { browser, peer } = setup({ status: "idle" });
    await peer.start();
    assert.equal(browser.world.gumCalls.length, 1);
    assert.equal(peer.state.name, "negotiating");
  });

  test("with the kernel busy it opens only once the kernel took the answer", async () => {
    const { browser, peer, kernel } = setup({ status: "busy" });
    await peer.start();
    assert.equal(browser.world.gumCalls.length, 0, "the displaying cell may still close it");
    kernel("state", { state: "connecting", detail: "" });
    await tick();
    assert.equal(browser.world.gumCalls.length, 1);
    assert.equal(peer.state.name, "connecting");
  });

  // A refused answer closes the view's peer quietly (the kernel holds nothing for it) and
  // tells the view the refusal's code: "unknown-stream" hands over to a view that offers,
  // "closed" (the widget closed) starts nothing (widget.js).
  for (const [code, message, why] of [
    ["unknown-stream", "taken", "a refused answer closes quietly and hands over to a view that offers"],
    ["closed", "this widget is closed", "an answer refused because the widget closed says so to the view"],
  ]) {
    test(why, async () => {
      /** @type {string[]} */
      const refused = [];
      const { model, peer, kernel } = setup({ status: "busy", onOfferRefused: (c) => refused.push(c) });
      await peer.start();
      kernel("error", { code, message, ref: { type: "answer" } });
      assert.equal(peer.closed, true);
      assert.deepEqual(refused, [code]);
      assert.equal(model.sentOf("bye").length, 0, "the kernel holds nothing for it");
    });
  }

  test("no offer within the wait: the view offers itself under its own id", async () => {
    const { model, peer } = setup({ offered: false });
    await peer.start();
    assert.notEqual(peer.id, ID);
    assert.equal(peer.answering, false);
    assert.equal(model.sentOf("offer").length, 1);
    assert.equal(model.sentOf("answer").length, 0);
  });
});
