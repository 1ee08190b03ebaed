// Named data channels: the Channels map on its own, and through a BrowserPeer (the
// kernel opening channels in-band, page scripts sending, teardown).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Channels, MAX_QUEUED, describeData, isSendable, labelProblem } from "../core/channels.js";
import { BrowserPeer } from "../peer/peer.js";
import { createRouter } from "../core/router.js";
import { FakeDataChannel, flush, peerSetup, quietLog } from "./fakes.js";

const ANSWER_SDP = "v=0\r\nfake-answer\r\n";

/** A Channels on a stand-in pc that records the channels it creates. */
function channelsOnFakePc() {
  /** @type {any[]} */
  const events = [];
  const created = /** @type {FakeDataChannel[]} */ ([]);
  const pc = {
    closed: false,
    createDataChannel(label) {
      if (this.closed) throw Object.assign(new Error("closed"), { name: "InvalidStateError" });
      const c = new FakeDataChannel(label);
      created.push(c);
      return c;
    },
  };
  const channels = new Channels({ onEvent: (e) => events.push(e), log: quietLog() });
  const summary = () => events.map((e) => (e.data === undefined ? `${e.type}:${e.label}` : `${e.type}:${e.label}:${describeData(e.data)}`));
  return { channels, events, created, pc, summary };
}

describe("helpers", () => {
  test("labelProblem", () => {
    assert.equal(labelProblem("telemetry"), "");
    assert.match(labelProblem("nbrtc"), /reserved/);
    assert.match(labelProblem(""), /non-empty/);
    assert.match(labelProblem(3), /non-empty string/);
    assert.match(labelProblem("x".repeat(257)), /at most 256/);
  });
  test("isSendable", () => {
    assert.equal(isSendable("a"), true);
    assert.equal(isSendable(new ArrayBuffer(2)), true);
    assert.equal(isSendable(new Uint8Array(2)), true);
    assert.equal(isSendable(new Blob(["ab"])), true);
    assert.equal(isSendable({}), false);
    assert.equal(isSendable(3), false);
  });
  test("describeData", () => {
    assert.equal(describeData("hello"), "hello");
    assert.equal(describeData(new ArrayBuffer(12)), "<12 bytes>");
    assert.equal(describeData(new Uint16Array(3)), "<6 bytes>");
    assert.equal(describeData(new Blob(["abc"])), "<3 bytes>");
  });
});

describe("Channels", () => {
  test("a kernel-opened channel: add, open, messages in, sends out", () => {
    const { channels, summary } = channelsOnFakePc();
    const c = new FakeDataChannel("telemetry");
    channels.adopt(c);
    assert.equal(c.binaryType, "arraybuffer");
    assert.deepEqual(channels.labels(), ["telemetry"]);
    c.open();
    c.receive("hi");
    c.receive(new ArrayBuffer(4));
    assert.equal(channels.send("telemetry", "yo"), true);
    assert.deepEqual(c.sent, ["yo"]);
    assert.deepEqual(summary(), [
      "add:telemetry",
      "open:telemetry",
      "message:telemetry:hi",
      "message:telemetry:<4 bytes>",
      "out:telemetry:yo",
    ]);
  });

  test("the control channel is never adopted", () => {
    const { channels, events } = channelsOnFakePc();
    channels.adopt(new FakeDataChannel("nbrtc"));
    assert.deepEqual(channels.labels(), []);
    assert.deepEqual(events, []);
    assert.throws(() => channels.send("nbrtc", "x"), TypeError);
  });

  test("send on an unknown label before the pc exists: created at attach, queued until open", () => {
    const { channels, created, pc, summary } = channelsOnFakePc();
    assert.equal(channels.send("cmd", "one"), true);
    assert.equal(channels.send("cmd", "two"), true);
    assert.deepEqual(created, []);
    channels.attach(pc);
    assert.deepEqual(created.map((c) => c.label), ["cmd"]);
    assert.deepEqual(created[0].sent, [], "not sent before open");
    created[0].open();
    assert.deepEqual(created[0].sent, ["one", "two"], "in order once open");
    assert.equal(channels.send("cmd", "three"), true);
    assert.deepEqual(created[0].sent, ["one", "two", "three"]);
    assert.deepEqual(summary(), ["add:cmd", "out:cmd:one", "out:cmd:two", "open:cmd", "out:cmd:three"]);
  });

  test("send on an unknown label with a pc creates the channel at once", () => {
    const { channels, created, pc } = channelsOnFakePc();
    channels.attach(pc);
    channels.send("cmd", "x");
    assert.deepEqual(created.map((c) => c.label), ["cmd"]);
    assert.equal(created[0].binaryType, "arraybuffer");
  });

  test("the queue is bounded", () => {
    const { channels } = channelsOnFakePc();
    for (let i = 0; i < MAX_QUEUED; i++) assert.equal(channels.send("cmd", String(i)), true);
    assert.equal(channels.send("cmd", "overflow"), false);
  });

  test("bad data is a TypeError", () => {
    const { channels } = channelsOnFakePc();
    assert.throws(() => channels.send("cmd", { not: "sendable" }), TypeError);
    assert.throws(() => channels.send("", "x"), TypeError);
  });

  test("a channel that closes leaves the map; a new send reopens the label", () => {
    const { channels, created, pc, summary } = channelsOnFakePc();
    channels.attach(pc);
    channels.send("cmd", "a");
    created[0].open();
    created[0].close();
    assert.deepEqual(channels.labels(), []);
    channels.send("cmd", "b");
    assert.equal(created.length, 2);
    assert.deepEqual(summary(), ["add:cmd", "out:cmd:a", "open:cmd", "close:cmd", "add:cmd", "out:cmd:b"]);
  });

  test("a second channel with the same label takes over sending", () => {
    const { channels, summary } = channelsOnFakePc();
    const first = new FakeDataChannel("x");
    const second = new FakeDataChannel("x");
    channels.adopt(first);
    first.open();
    channels.adopt(second);
    second.open();
    channels.send("x", "to-second");
    first.receive("late on first");
    first.close(); // the replaced one closing does not remove the label
    assert.deepEqual(channels.labels(), ["x"]);
    assert.deepEqual(second.sent, ["to-second"]);
    assert.deepEqual(summary(), ["add:x", "open:x", "open:x", "out:x:to-second", "message:x:late on first"]);
  });

  test("a failing send returns false instead of throwing", () => {
    const { channels } = channelsOnFakePc();
    const c = new FakeDataChannel("x");
    channels.adopt(c);
    c.open();
    c.send = () => {
      throw Object.assign(new Error("full"), { name: "OperationError" });
    };
    assert.equal(channels.send("x", "y"), false);
  });

  test("close: every channel closed, listeners gone, close reported, nothing after", () => {
    const { channels, created, pc, events } = channelsOnFakePc();
    channels.attach(pc);
    const kernelOpened = new FakeDataChannel("k");
    channels.adopt(kernelOpened);
    const replaced = new FakeDataChannel("k");
    channels.adopt(replaced);
    channels.send("mine", "q");
    events.length = 0;
    channels.close();
    channels.close();
    for (const c of [kernelOpened, replaced, ...created]) {
      assert.equal(c.readyState, "closed");
      assert.equal(c.listenerCount(), 0);
    }
    assert.deepEqual(events.map((e) => `${e.type}:${e.label}`).sort(), ["close:k", "close:mine"]);
    assert.equal(channels.send("mine", "late"), false);
    channels.adopt(new FakeDataChannel("later"));
    assert.deepEqual(channels.labels(), []);
  });

  test("a channel whose close() throws does not keep others open", () => {
    const { channels } = channelsOnFakePc();
    const bad = new FakeDataChannel("bad");
    bad.close = () => {
      throw new Error("boom");
    };
    const good = new FakeDataChannel("good");
    channels.adopt(bad);
    channels.adopt(good);
    assert.doesNotThrow(() => channels.close());
    assert.equal(good.readyState, "closed");
  });
});

describe("data channels through a BrowserPeer", () => {
  const setup = (kind = "camera") => peerSetup({ BrowserPeer, createRouter, kind });

  test("the kernel opens channels; the map excludes nbrtc; events carry the stream id", async () => {
    const ctx = setup("view");
    await ctx.peer.start();
    ctx.kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    const pc = ctx.browser.world.pcs[0];
    const telemetry = pc.remoteChannel("telemetry");
    pc.remoteChannel("nbrtc"); // a misbehaving kernel: still never shown
    telemetry.receive("42");
    assert.deepEqual(ctx.peer.channelLabels(), ["telemetry"]);
    assert.deepEqual(
      ctx.channelEvents.map((e) => [e.type, e.label, e.stream]),
      [
        ["add", "telemetry", ctx.peer.id],
        ["open", "telemetry", ctx.peer.id],
        ["message", "telemetry", ctx.peer.id],
      ],
    );
    assert.equal(ctx.peer.sendData("telemetry", "ack"), true);
    assert.deepEqual(telemetry.sent, ["ack"]);
    ctx.peer.close();
  });

  test("send on an unknown label opens a browser channel, queued until open", async () => {
    const ctx = setup("microphone");
    await ctx.peer.start();
    const pc = ctx.browser.world.pcs[0];
    assert.equal(ctx.peer.sendData("cmd", "go"), true);
    const cmd = pc.channels.find((c) => c.label === "cmd");
    assert.ok(cmd, "pc.createDataChannel(label)");
    assert.deepEqual(cmd.sent, []);
    cmd.open();
    assert.deepEqual(cmd.sent, ["go"]);
    ctx.peer.close();
  });

  test("a send before start() creates the channel with the pc (before the offer)", async () => {
    const ctx = setup("audio");
    assert.equal(ctx.peer.sendData("early", "x"), true);
    await ctx.peer.start();
    const pc = ctx.browser.world.pcs[0];
    assert.deepEqual(pc.channels.map((c) => c.label), ["nbrtc", "early"]);
    ctx.peer.close();
  });

  test("close leaves no channel open and reports each label closed", async () => {
    const ctx = setup("camera");
    await ctx.peer.start();
    const pc = ctx.browser.world.pcs[0];
    pc.remoteChannel("a");
    ctx.peer.sendData("b", "x");
    ctx.peer.close();
    assert.equal(ctx.browser.openChannels(), 0);
    assert.ok(pc.channels.every((c) => c.listenerCount() === 0));
    assert.deepEqual(ctx.peer.channelLabels(), []);
    assert.deepEqual(
      ctx.channelEvents.filter((e) => e.type === "close").map((e) => e.label).sort(),
      ["a", "b"],
    );
    assert.equal(ctx.peer.sendData("a", "late"), false);
    // A datachannel event after close (a late DCEP) creates nothing.
    assert.throws(() => pc.createDataChannel("x"));
  });
});
