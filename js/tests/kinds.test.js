// The five widget kinds at the peer level: what each offers, what each opens after the
// answer, how their failures read, and that closing at any point leaves nothing live.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BrowserPeer, SCREEN_ENDED_WORDS } from "../peer/peer.js";
import { audioConstraints, displayConstraints } from "../core/constraints.js";
import { createRouter } from "../core/router.js";
import { flush, peerSetup } from "./fakes.js";

const ANSWER_SDP = "v=0\r\nfake-answer\r\n";

/** @param {{kind?: string, auto?: boolean, traits?: Record<string, any>}} [opts] */
const setup = (opts = {}) => peerSetup({ BrowserPeer, createRouter, ...opts });

/** Start, answer, and let acquisition run (auto fakes). */
async function startAndAnswer(ctx) {
  await ctx.peer.start();
  ctx.kernel("answer", { sdp: ANSWER_SDP });
  await flush();
  return ctx.browser.world.pcs[0];
}

/** @param {any} pc */
const shape = (pc) => pc.transceivers.map((t) => `${t.trackOrKind}:${t.init.direction}`);

describe("audioConstraints", () => {
  const cases = [
    [false, null],
    [null, null],
    [undefined, null],
    [0, null],
    ["yes", null],
    [[], null],
    [true, true],
    [{}, true],
    [{ device_id: null, echo_cancellation: null, noise_suppression: null, auto_gain_control: null }, true],
    [{ device_id: "mic1" }, { deviceId: { exact: "mic1" } }],
    [{ device_id: "" }, true],
    [
      { device_id: "mic1", echo_cancellation: false, noise_suppression: true, auto_gain_control: false },
      { deviceId: { exact: "mic1" }, echoCancellation: false, noiseSuppression: true, autoGainControl: false },
    ],
    [{ echo_cancellation: "no", noise_suppression: 1 }, true],
  ];
  for (const [input, out] of cases) {
    test(`${JSON.stringify(input)} -> ${JSON.stringify(out)}`, () => {
      assert.deepEqual(audioConstraints(input), out);
    });
  }
});

describe("displayConstraints", () => {
  test("drops the device id (getDisplayMedia refuses exact)", () => {
    assert.deepEqual(displayConstraints({ width: 1280, device_id: "x" }), { width: { ideal: 1280 } });
    assert.equal(displayConstraints({ device_id: "x" }), true);
    assert.equal(displayConstraints(null), true);
  });
});

describe("offer shapes per kind", () => {
  const cases = [
    ["camera", {}, ["video:sendrecv"]],
    ["camera", { audio: true }, ["video:sendrecv", "audio:sendonly"]],
    ["camera", { audio: { echo_cancellation: false } }, ["video:sendrecv", "audio:sendonly"]],
    ["camera", { audio: false }, ["video:sendrecv"]],
    ["screen", {}, ["video:sendrecv"]],
    ["screen", { audio: true }, ["video:sendrecv"]],
    ["microphone", {}, ["audio:sendonly"]],
    ["microphone", { audio: { device_id: "mic1" } }, ["audio:sendonly"]],
    ["view", {}, ["video:recvonly", "audio:recvonly"]],
    ["audio", {}, ["audio:recvonly"]],
  ];
  for (const [kind, traits, expected] of cases) {
    test(`${kind} ${JSON.stringify(traits)}`, async () => {
      const ctx = setup({ kind, traits });
      await ctx.peer.start();
      const pc = ctx.browser.world.pcs[0];
      assert.deepEqual(shape(pc), expected);
      assert.deepEqual(pc.channels.map((c) => c.label), ["nbrtc"], "control channel before the offer");
      assert.equal(ctx.model.sentOf("offer")[0].payload.kind, kind);
      assert.equal(ctx.browser.world.gumCalls.length + ctx.browser.world.gdmCalls.length, 0, "nothing opened before the answer");
      ctx.peer.close();
    });
  }

  test("the control channel exists before createOffer", async () => {
    const ctx = setup({ kind: "view", auto: false });
    const started = ctx.peer.start();
    await flush();
    const pc = ctx.browser.world.pcs[0];
    assert.deepEqual(pc.channels.map((c) => c.label), ["nbrtc"]);
    ctx.peer.close();
    ctx.browser.settleAll();
    await started;
  });
});

describe("acquisition per kind", () => {
  test("camera with audio: one getUserMedia, each track on its transceiver, devices", async () => {
    const ctx = setup({ traits: { audio: { device_id: "mic1", echo_cancellation: false } } });
    const pc = await startAndAnswer(ctx);
    assert.deepEqual(ctx.browser.world.gumCalls, [
      {
        video: { width: { ideal: 640 }, height: { ideal: 480 } },
        audio: { deviceId: { exact: "mic1" }, echoCancellation: false },
      },
    ]);
    const [stream] = ctx.browser.world.streams;
    const video = stream.getVideoTracks()[0];
    const audio = stream.getAudioTracks()[0];
    assert.equal(pc.transceivers[0].sender.track, video);
    assert.equal(pc.transceivers[1].sender.track, audio);
    assert.equal(video.contentHint, "detail");
    assert.equal(audio.contentHint, "", "audio keeps the browser's hint");
    assert.equal(ctx.snapshots.at(-1).local, stream);
    assert.equal(ctx.model.sentOf("devices").length, 1);
    ctx.peer.close();
    assert.deepEqual(ctx.browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("camera without audio asks for none", async () => {
    const ctx = setup({ traits: { audio: null } });
    await startAndAnswer(ctx);
    assert.equal(ctx.browser.world.gumCalls[0].audio, false);
    ctx.peer.close();
  });

  test("microphone: audio only, defaults when the trait is unset", async () => {
    const ctx = setup({ kind: "microphone" });
    const pc = await startAndAnswer(ctx);
    assert.deepEqual(ctx.browser.world.gumCalls, [{ audio: true, video: false }]);
    assert.equal(pc.transceivers[0].sender.track, ctx.browser.world.streams[0].getAudioTracks()[0]);
    assert.equal(ctx.snapshots.at(-1).media, ctx.browser.world.streams[0]);
    assert.equal(ctx.model.sentOf("devices").length, 1, "devices after microphone permission");
    ctx.peer.close();
    assert.deepEqual(ctx.browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("microphone with constraints", async () => {
    const ctx = setup({ kind: "microphone", traits: { audio: { noise_suppression: false, auto_gain_control: true } } });
    await startAndAnswer(ctx);
    assert.deepEqual(ctx.browser.world.gumCalls, [
      { audio: { noiseSuppression: false, autoGainControl: true }, video: false },
    ]);
    ctx.peer.close();
  });

  test("screen: getDisplayMedia (no getUserMedia, no devices), detail hint", async () => {
    const ctx = setup({ kind: "screen", traits: { constraints: { width: 1280, height: null, frame_rate: 15, device_id: "ignored" } } });
    const pc = await startAndAnswer(ctx);
    assert.deepEqual(ctx.browser.world.gumCalls, []);
    assert.deepEqual(ctx.browser.world.gdmCalls, [
      { video: { width: { ideal: 1280 }, frameRate: { ideal: 15 } }, audio: false },
    ]);
    const track = ctx.browser.world.streams[0].getVideoTracks()[0];
    assert.equal(pc.transceivers[0].sender.track, track);
    assert.equal(track.contentHint, "detail");
    assert.equal(ctx.model.sentOf("devices").length, 0);
    ctx.peer.close();
    assert.deepEqual(ctx.browser.leaks(), { pcs: 0, tracks: 0 });
    assert.equal(track.listenerCount(), 0, "the ended listener is gone");
  });

  for (const kind of ["view", "audio"]) {
    test(`${kind}: opens nothing`, async () => {
      const ctx = setup({ kind });
      await startAndAnswer(ctx);
      assert.equal(ctx.browser.world.gumCalls.length + ctx.browser.world.gdmCalls.length, 0);
      assert.equal(ctx.peer.state.name, "connecting");
      ctx.peer.close();
    });
  }
});

describe("screen sharing stopped in the browser", () => {
  test("the track's ended event closes the stream with reason ended", async () => {
    const ctx = setup({ kind: "screen" });
    await startAndAnswer(ctx);
    const pc = ctx.browser.world.pcs[0];
    pc.setState("connectionState", "connected", "connectionstatechange");
    assert.equal(ctx.peer.state.name, "live");
    ctx.browser.world.streams[0].getVideoTracks()[0].end();
    assert.equal(ctx.peer.state.name, "closed");
    assert.equal(ctx.peer.state.reason, "ended");
    assert.equal(ctx.peer.words, SCREEN_ENDED_WORDS);
    assert.equal(ctx.snapshots.at(-1).words, "Screen sharing was stopped in the browser.");
    assert.deepEqual(ctx.model.sentOf("bye").map((m) => m.payload), [{ reason: "ended" }]);
    assert.equal(ctx.model.sentOf("error").length, 0, "not an error");
    assert.deepEqual(ctx.browser.leaks(), { pcs: 0, tracks: 0 });
  });

  test("our own stop() at close does not count as the user ending it", async () => {
    const ctx = setup({ kind: "screen" });
    await startAndAnswer(ctx);
    ctx.peer.close("view-removed");
    assert.equal(ctx.peer.state.reason, "view-removed");
    assert.deepEqual(ctx.model.sentOf("bye").map((m) => m.payload), [{ reason: "view-removed" }]);
  });
});

describe("screen constraints change", () => {
  test("applied to the live track; no new picker", async () => {
    const ctx = setup({ kind: "screen" });
    await startAndAnswer(ctx);
    ctx.model.traits.constraints = { width: 800, height: null, frame_rate: null, device_id: null };
    assert.equal(await ctx.peer.applyVideoConstraints(), true);
    const track = ctx.browser.world.streams[0].getVideoTracks()[0];
    assert.deepEqual(track.applied, [{ width: { ideal: 800 } }]);
    assert.equal(ctx.browser.world.gdmCalls.length, 1);
    ctx.peer.close();
    assert.equal(await ctx.peer.applyVideoConstraints(), false);
  });

  test("a change while the picker is open is applied once it resolves", async () => {
    const ctx = setup({ kind: "screen", auto: false });
    const started = ctx.peer.start();
    await flush();
    const pc = ctx.browser.world.pcs[0];
    pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\n" });
    pc.localStep.resolve();
    await started;
    ctx.kernel("answer", { sdp: ANSWER_SDP });
    pc.remoteStep.resolve();
    await flush();
    assert.equal(ctx.browser.world.gdm.length, 1);
    ctx.model.traits.constraints = { width: 320, height: null, frame_rate: null, device_id: null };
    assert.equal(await ctx.peer.applyVideoConstraints(), false, "nothing to apply to yet");
    const stream = ctx.browser.makeStream(["video"]);
    ctx.browser.world.gdm[0].resolve(stream);
    await flush();
    assert.deepEqual(stream.getVideoTracks()[0].applied, [{ width: { ideal: 320 } }]);
    ctx.peer.close();
  });
});

describe("close during acquisition stops every acquired track", () => {
  for (const [kind, traits, kinds, pending] of [
    ["camera", { audio: true }, ["video", "audio"], "gum"],
    ["microphone", {}, ["audio"], "gum"],
    ["screen", {}, ["video"], "gdm"],
  ]) {
    test(`${kind}: tracks that arrive after close are stopped and never sent`, async () => {
      const ctx = setup({ kind, traits, auto: false });
      const started = ctx.peer.start();
      await flush();
      const pc = ctx.browser.world.pcs[0];
      pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\n" });
      pc.localStep.resolve();
      await started;
      ctx.kernel("answer", { sdp: ANSWER_SDP });
      pc.remoteStep.resolve();
      await flush();
      assert.equal(ctx.browser.world[pending].length, 1, "device requested after the answer");
      ctx.peer.close("view-removed");
      const stream = ctx.browser.makeStream(kinds);
      ctx.browser.world[pending][0].resolve(stream);
      await flush();
      assert.deepEqual(stream.getTracks().map((t) => t.readyState), kinds.map(() => "ended"));
      assert.ok(pc.transceivers.every((t) => t.sender.track === null), "nothing sent after close");
      assert.deepEqual(ctx.browser.leaks(), { pcs: 0, tracks: 0 });
      assert.equal(ctx.browser.openChannels(), 0);
    });
  }

  test("camera: close between the video and audio replaceTrack", async () => {
    const ctx = setup({ traits: { audio: true } });
    await ctx.peer.start();
    const pc = ctx.browser.world.pcs[0];
    // Close the peer from inside the first replaceTrack.
    const videoSender = pc.transceivers[0].sender;
    const original = videoSender.replaceTrack.bind(videoSender);
    videoSender.replaceTrack = async (track) => {
      await original(track);
      ctx.peer.close("view-removed");
    };
    ctx.kernel("answer", { sdp: ANSWER_SDP });
    await flush();
    assert.equal(pc.transceivers[1].sender.track, null, "audio never sent");
    assert.deepEqual(ctx.browser.leaks(), { pcs: 0, tracks: 0 });
  });
});

describe("failure words per kind", () => {
  for (const [kind, traits, pending, words] of [
    ["camera", {}, "gum", /^Camera permission was denied/],
    ["camera", { audio: true }, "gum", /^Camera or microphone permission was denied .* Allow camera and microphone access/],
    ["microphone", {}, "gum", /^Microphone permission was denied \(NotAllowedError\)\. Allow microphone access/],
    ["screen", {}, "gdm", /^Screen sharing was cancelled or denied \(NotAllowedError\)\./],
  ]) {
    test(`${kind} ${JSON.stringify(traits)} NotAllowedError`, async () => {
      const ctx = setup({ kind, traits, auto: false });
      const started = ctx.peer.start();
      await flush();
      const pc = ctx.browser.world.pcs[0];
      pc.offerStep.resolve({ type: "offer", sdp: "v=0\r\n" });
      pc.localStep.resolve();
      await started;
      ctx.kernel("answer", { sdp: ANSWER_SDP });
      pc.remoteStep.resolve();
      await flush();
      ctx.browser.world[pending][0].reject(Object.assign(new Error("Permission denied"), { name: "NotAllowedError" }));
      await flush();
      assert.equal(ctx.peer.state.name, "error");
      assert.match(ctx.peer.words, words);
      assert.deepEqual(ctx.model.sentOf("error")[0].payload, { name: "NotAllowedError", message: "Permission denied" });
      assert.deepEqual(ctx.model.sentOf("bye").at(-1).payload, { reason: "error" });
      assert.deepEqual(ctx.browser.leaks(), { pcs: 0, tracks: 0 });
    });
  }

  test("no getDisplayMedia in this browser: NotSupportedError", async () => {
    const ctx = setup({ kind: "screen" });
    delete ctx.browser.env.mediaDevices.getDisplayMedia;
    await startAndAnswer(ctx);
    assert.equal(ctx.peer.state.name, "error");
    assert.match(ctx.peer.words, /cannot share the screen \(NotSupportedError\)/);
  });
});

describe("the kernel's media", () => {
  test("a view merges video and audio from separate track events", async () => {
    const ctx = setup({ kind: "view" });
    await startAndAnswer(ctx);
    const pc = ctx.browser.world.pcs[0];
    const video = pc.remoteTrack("video");
    const audio = pc.remoteTrack("audio"); // in a stream of its own
    const remote = ctx.snapshots.at(-1).remote;
    assert.deepEqual(remote.getTracks(), [video, audio]);
    assert.equal(ctx.snapshots.at(-1).media, remote);
    ctx.peer.close();
    assert.deepEqual([video.readyState, audio.readyState], ["ended", "ended"]);
  });

  test("a track event without streams still makes a stream", async () => {
    const ctx = setup({ kind: "audio" });
    await startAndAnswer(ctx);
    const track = ctx.browser.world.pcs[0].remoteTrack("audio", null);
    assert.deepEqual(ctx.snapshots.at(-1).remote.getTracks(), [track]);
    ctx.peer.close();
  });

  test("a camera keeps its preview as media and the processed video as remote", async () => {
    const ctx = setup({ kind: "camera" });
    await startAndAnswer(ctx);
    const pc = ctx.browser.world.pcs[0];
    const processed = pc.remoteTrack("video");
    pc.remoteTrack("audio"); // ignored: the camera's audio m-line is sendonly
    const snap = ctx.snapshots.at(-1);
    assert.equal(snap.media, ctx.browser.world.streams[0]);
    assert.equal(snap.local, ctx.browser.world.streams[0]);
    assert.deepEqual(snap.remote.getTracks(), [processed]);
    ctx.peer.close();
  });

  test("the kernel's video plays with the jitter_buffer_ms target; audio keeps its own", async () => {
    const ctx = setup({ kind: "view", traits: { jitter_buffer_ms: 40 } });
    await startAndAnswer(ctx);
    const pc = ctx.browser.world.pcs[0];
    pc.remoteTrack("video");
    pc.remoteTrack("audio");
    const [video, audio] = pc.receivers;
    assert.equal(video.jitterBufferTarget, 40);
    assert.equal(audio.jitterBufferTarget, null, "audio is the browser's to pace");
    // a change from Python reaches the live receiver; 0 gives the browser's own back
    ctx.model.traits.jitter_buffer_ms = 120;
    ctx.peer.applyJitterBuffer();
    assert.equal(video.jitterBufferTarget, 120);
    ctx.model.traits.jitter_buffer_ms = 0;
    ctx.peer.applyJitterBuffer();
    assert.equal(video.jitterBufferTarget, null);
    ctx.peer.close();
    ctx.model.traits.jitter_buffer_ms = 80;
    ctx.peer.applyJitterBuffer(); // a closed stream is left alone
    assert.equal(video.jitterBufferTarget, null);
  });

  test("a camera's processed video takes the target; bad values leave the browser's own", async () => {
    const ctx = setup({ kind: "camera", traits: { jitter_buffer_ms: 99999 } });
    await startAndAnswer(ctx);
    const pc = ctx.browser.world.pcs[0];
    pc.remoteTrack("video");
    assert.equal(pc.receivers[0].jitterBufferTarget, 4000, "capped at the browser's bound");
    for (const bad of [-5, "40", null, Number.NaN]) {
      ctx.model.traits.jitter_buffer_ms = bad;
      ctx.peer.applyJitterBuffer();
      assert.equal(pc.receivers[0].jitterBufferTarget, null, String(bad));
    }
    ctx.peer.close();
  });

  test("a browser without jitterBufferTarget plays as before", async () => {
    const ctx = setup({ kind: "view", traits: { jitter_buffer_ms: 40 } });
    await startAndAnswer(ctx);
    const pc = ctx.browser.world.pcs[0];
    const track = new EventTarget();
    Object.assign(track, { kind: "video", readyState: "live", stop() {} });
    const ev = Object.assign(new Event("track"), { track, streams: [], receiver: { track } });
    pc.dispatchEvent(ev);
    assert.equal("jitterBufferTarget" in ev.receiver, false);
    assert.deepEqual(ctx.snapshots.at(-1).remote.getTracks(), [track]);
    ctx.peer.close();
  });

  test("a microphone ignores remote tracks", async () => {
    const ctx = setup({ kind: "microphone" });
    await startAndAnswer(ctx);
    ctx.browser.world.pcs[0].remoteTrack("audio");
    assert.equal(ctx.snapshots.at(-1).remote, null);
    ctx.peer.close();
  });
});

test("an unknown kind is refused at construction", () => {
  assert.throws(() => setup({ kind: "microwave" }), TypeError);
});
