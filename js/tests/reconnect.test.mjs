import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PAGE_GIVE_UP_MS, PathWatch } from "../transport/reconnect.js";
import { BrowserPeer } from "../peer/peer.js";
import { createRouter } from "../core/router.js";
import { FakeModel, fakeBrowser, flush, quietLog } from "./fakes.js";

describe("PathWatch", () => {
  function setup(giveUpMs = 1000) {
    const browser = fakeBrowser();
    /** @type {number[]} */
    const gaveUp = [];
    const watch = new PathWatch(browser.env, (ms) => gaveUp.push(ms), giveUpMs);
    return { browser, watch, gaveUp };
  }

  test("a pc that never connected keeps the usual failure", () => {
    const { browser, watch, gaveUp } = setup();
    assert.equal(watch.connectionChanged("connecting"), false);
    assert.equal(watch.connectionChanged("failed"), false, "ICE found no path: fail as before");
    browser.advance(5000);
    assert.deepEqual(gaveUp, []);
    assert.equal(browser.world.timers.size, 0);
  });

  test("a lost path after connecting waits, and gives up once after giveUpMs", () => {
    const { browser, watch, gaveUp } = setup(1000);
    watch.connectionChanged("connected");
    assert.equal(watch.connectionChanged("disconnected"), true);
    browser.advance(600);
    assert.equal(watch.connectionChanged("failed"), true, "failed: still the kernel's call");
    assert.equal(browser.world.timers.size, 1, "one timer from the first loss");
    browser.advance(399);
    assert.deepEqual(gaveUp, []);
    browser.advance(1);
    assert.deepEqual(gaveUp, [1000]);
    browser.advance(10_000);
    assert.equal(gaveUp.length, 1, "said once");
    assert.equal(watch.connectionChanged("failed"), false, "stopped: no longer holds it back");
  });

  test("the path coming back cancels the give-up; a later loss counts afresh", () => {
    const { browser, watch, gaveUp } = setup(1000);
    watch.connectionChanged("connected");
    watch.connectionChanged("failed");
    browser.advance(900);
    assert.equal(watch.connectionChanged("connected"), false);
    assert.equal(browser.world.timers.size, 0);
    browser.advance(5000);
    assert.deepEqual(gaveUp, []);
    watch.connectionChanged("disconnected");
    browser.advance(999);
    assert.deepEqual(gaveUp, []);
    browser.advance(1);
    assert.deepEqual(gaveUp, [1000]);
  });

  test("stop() is idempotent and final", () => {
    const { browser, watch, gaveUp } = setup(1000);
    watch.connectionChanged("connected");
    watch.connectionChanged("failed");
    watch.stop();
    watch.stop();
    assert.equal(browser.world.timers.size, 0);
    assert.equal(watch.connectionChanged("failed"), false);
    browser.advance(5000);
    assert.deepEqual(gaveUp, []);
  });

  test("the page gives up later than the kernel (60 s)", () => {
    assert.ok(PAGE_GIVE_UP_MS > 60_000 && PAGE_GIVE_UP_MS <= 90_000);
  });
});

describe("BrowserPeer with a lost path", () => {
  async function livePeer() {
    const browser = fakeBrowser({ auto: true });
    const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => "abcdef01" });
    const model = new FakeModel({
      kind: "camera",
      constraints: { width: 640, height: 480, frame_rate: null, device_id: null },
      rtc_config: { iceServers: [] },
    });
    const peer = new BrowserPeer({ model, kind: "camera", router, env: browser.env });
    const kernel = (/** @type {string} */ type, /** @type {any} */ payload) =>
      model.emit({ v: 1, type, stream: peer.id, payload });
    await peer.start();
    kernel("answer", { sdp: "v=0\r\nfake-answer\r\n" });
    await flush();
    const pc = browser.world.pcs[0];
    pc.setState("iceConnectionState", "connected", "iceconnectionstatechange");
    pc.setState("connectionState", "connected", "connectionstatechange");
    assert.equal(peer.state.name, "live");
    return { browser, model, peer, pc, kernel };
  }

  test("failed after live keeps the camera on and reports the state to the kernel", async () => {
    const { browser, model, peer, pc, kernel } = await livePeer();
    pc.setState("iceConnectionState", "failed", "iceconnectionstatechange");
    pc.setState("connectionState", "failed", "connectionstatechange");
    assert.equal(peer.state.name, "live", "not failed by the page");
    assert.equal(browser.leaks().tracks, 1, "the camera stays on");
    assert.equal(model.sentOf("error").length, 0);
    assert.deepEqual(
      { ice: model.sentOf("state").at(-1).payload.ice, conn: model.sentOf("state").at(-1).payload.connection },
      { ice: "failed", conn: "failed" },
      "the kernel hears it and decides",
    );
    // the kernel asks for an ICE restart; the page re-offers with iceRestart
    kernel("renegotiate", { ice_restart: true, reason: "reconnect: ICE restart 1" });
    await flush();
    assert.equal(model.sentOf("reoffer").length, 1);
    // the path comes back: nothing fires later
    pc.setState("connectionState", "connected", "connectionstatechange");
    for (let t = 0; t < PAGE_GIVE_UP_MS * 2; t += 1000) {
      kernel("ping", { t }); // an audible kernel: the watchdog stays quiet
      browser.advance(1000);
    }
    assert.equal(peer.state.name, "live");
    peer.close("view-removed");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("a path the kernel never restores fails in words after PAGE_GIVE_UP_MS", async () => {
    const { browser, model, peer, pc, kernel } = await livePeer();
    pc.setState("connectionState", "failed", "connectionstatechange");
    // the kernel stays audible (pings), so this is the path watch, not the kernel watchdog
    for (let t = 0; t < PAGE_GIVE_UP_MS - 1000; t += 1000) {
      kernel("ping", { t });
      browser.advance(1000);
    }
    kernel("ping", { t: 0 });
    browser.advance(999);
    assert.equal(peer.state.name, "live");
    browser.advance(1);
    assert.equal(peer.state.name, "error");
    assert.match(peer.words, /network path to the kernel was lost/);
    assert.equal(model.sentOf("error").at(-1).payload.name, "PathLost");
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });
});
