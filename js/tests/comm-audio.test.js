// Sound over the comm (js/transport/comm-audio.js): PCM chunks from an audio track with a bounded
// amount unacknowledged, gap-free scheduling of the kernel's chunks on an AudioContext
// with a bounded queue, and how a BrowserPeer uses both on transport="comm".
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ACK_EVERY,
  AudioDownlink,
  AudioUplink,
  CHUNK_MS,
  JITTER_S,
  MAX_QUEUED_S,
  MAX_UNACKED_MS,
} from "../transport/comm-audio.js";
import { BrowserPeer } from "../peer/peer.js";
import { createRouter } from "../core/router.js";
import { FakeStream, FakeTrack, flush, peerSetup, quietLog } from "./fakes.js";

/** An AudioData of `frames` samples per channel, each channel filled with `value`. */
function audioData(frames = 480, { rate = 48000, channels = 1, value = 0.5 } = {}) {
  return {
    numberOfFrames: frames,
    numberOfChannels: channels,
    sampleRate: rate,
    closed: false,
    /** @param {Float32Array} dest @param {{planeIndex: number, format: string}} opts */
    copyTo(dest, opts) {
      assert.equal(opts.format, "f32-planar");
      dest.fill(opts.planeIndex === 0 ? value : -value);
    },
    close() {
      this.closed = true;
    },
  };
}

/** A WebAudio stand-in whose clock the test sets; it records what was scheduled. */
function fakeAudioContext() {
  const world = { contexts: /** @type {any[]} */ ([]), starts: /** @type {number[]} */ ([]) };
  class Ctx {
    constructor() {
      this.state = "running";
      this.currentTime = 0;
      this.resumes = 0;
      world.contexts.push(this);
    }
    createMediaStreamDestination() {
      return { stream: new FakeStream([new FakeTrack("audio")]) };
    }
    /** @param {number} ch @param {number} frames @param {number} rate */
    createBuffer(ch, frames, rate) {
      const data = Array.from({ length: ch }, () => new Float32Array(frames));
      return { numberOfChannels: ch, length: frames, sampleRate: rate, getChannelData: (/** @type {number} */ c) => data[c] };
    }
    createBufferSource() {
      return {
        buffer: /** @type {any} */ (null),
        connect() {},
        /** @param {number} at */
        start(at) {
          world.starts.push(at);
        },
      };
    }
    async resume() {
      this.resumes += 1;
    }
    async close() {
      this.state = "closed";
    }
  }
  return { world, AudioContext: Ctx };
}

const env = (/** @type {Record<string, any>} */ extra = {}) => ({ now: () => 0, log: quietLog(), ...extra });

describe("AudioUplink", () => {
  test("40 ms s16 chunks with their sample position, at most MAX_UNACKED_MS unacknowledged", () => {
    /** @type {any[]} */
    const sent = [];
    let acks = 0;
    const up = new AudioUplink({ track: {}, send: (p, b) => (sent.push([p, b]), true), onAck: () => acks++, env: env() });
    up.take(audioData(480 * 4)); // 40 ms at 48 kHz: exactly one chunk
    assert.equal(sent.length, 1);
    const [payload, [buffer]] = sent[0];
    assert.deepEqual({ ...payload, t: 0 }, { seq: 1, rate: 48000, ch: 1, pos: 0, t: 0 });
    const samples = new Int16Array(buffer);
    assert.equal(samples.length, (48000 * CHUNK_MS) / 1000);
    assert.equal(samples[0], 16383, "0.5 as s16");
    // no acks: chunks go until MAX_UNACKED_MS are out, then are skipped (not queued)
    for (let i = 0; i < 30; i++) up.take(audioData(1920));
    const limit = MAX_UNACKED_MS / CHUNK_MS;
    assert.equal(sent.length, limit);
    assert.equal(up.chunksSkipped, 31 - limit);
    up.ack(limit); // cumulative
    assert.equal(acks, 1);
    up.take(audioData(1920));
    assert.equal(sent.length, limit + 1);
    const last = sent.at(-1)[0];
    assert.equal(last.seq, limit + 1);
    assert.equal(last.pos, 31 * 1920, "skipped chunks advance the sample clock");
    up.stop();
    up.take(audioData(1920));
    assert.equal(sent.length, limit + 1, "nothing after stop");
  });

  test("stereo of a multichannel device, a refused chunk frees the bound, a new rate flushes", () => {
    /** @type {any[]} */
    const sent = [];
    const up = new AudioUplink({ track: {}, send: (p, b) => (sent.push([p, b]), true), env: env() });
    up.take(audioData(1764, { rate: 44100, channels: 6, value: 0.25 }));
    const [p, [buf]] = sent[0];
    assert.equal(p.ch, 2);
    assert.equal(p.rate, 44100);
    const s = new Int16Array(buf);
    assert.deepEqual([s[0], s[1]], [8191, -8192], "interleaved L, R");
    for (let i = 0; i < 20; i++) up.take(audioData(1764, { rate: 44100, channels: 2 }));
    assert.ok(up.chunksSkipped > 0);
    up.refused(); // the kernel refused one with `limit`: none of those will be acked
    const before = sent.length;
    up.take(audioData(1764, { rate: 44100, channels: 2 }));
    assert.equal(sent.length, before + 1);
    up.take(audioData(100, { rate: 44100, channels: 2 })); // a partial chunk waits...
    up.take(audioData(480, { rate: 48000, channels: 1 })); // ...and goes when the rate changes
    assert.equal(sent.at(-1)[0].rate, 44100);
    assert.equal(new Int16Array(sent.at(-1)[1][0]).length, 200);
  });

  test("reads a clone of the track through MediaStreamTrackProcessor and closes each AudioData", async () => {
    /** @type {any[]} */
    const queue = [audioData(1920), audioData(1920)];
    let cancelled = 0;
    class MSTP {
      constructor() {
        this.readable = {
          getReader: () => ({
            read: async () => (queue.length ? { value: queue.shift(), done: false } : { value: undefined, done: true }),
            cancel: async () => cancelled++,
          }),
        };
      }
    }
    const clone = { stopped: false, stop() { this.stopped = true; } };
    const datas = [...queue];
    /** @type {any[]} */
    const sent = [];
    const up = new AudioUplink({ track: { clone: () => clone }, send: (p) => (sent.push(p), true), env: env({ MediaStreamTrackProcessor: MSTP }) });
    up.start();
    await flush();
    assert.equal(sent.length, 2);
    assert.ok(datas.every((d) => d.closed));
    up.stop();
    assert.equal(clone.stopped, true);
    assert.equal(cancelled, 1);
  });
});

describe("AudioDownlink", () => {
  test("schedules chunks back to back, drops beyond MAX_QUEUED_S, acks every ACK_EVERY", () => {
    const { world, AudioContext } = fakeAudioContext();
    /** @type {number[]} */
    const acks = [];
    let sounds = 0;
    const down = new AudioDownlink({ ack: (s) => acks.push(s), onSound: () => sounds++, env: env({ AudioContext }) });
    assert.equal(down.stream, null, "no AudioContext before the first chunk");
    const pcm = new Int16Array(1920).fill(16384);
    const chunk = (/** @type {number} */ seq) => down.chunk({ seq, rate: 48000, ch: 1 }, [new DataView(pcm.buffer)]);
    chunk(1);
    assert.equal(world.contexts.length, 1);
    assert.ok(down.stream.getAudioTracks().length === 1, "the view plays the destination's track");
    assert.equal(sounds, 1);
    assert.deepEqual(world.starts, [JITTER_S]);
    for (let seq = 2; seq <= 12; seq++) chunk(seq); // a burst: the clock does not move
    const queuedMax = Math.floor((MAX_QUEUED_S - JITTER_S) / 0.04) + 1;
    assert.equal(world.starts.length, queuedMax, "at most ~300 ms queued");
    for (let i = 1; i < world.starts.length; i++) {
      assert.ok(Math.abs(world.starts[i] - world.starts[i - 1] - 0.04) < 1e-9, "back to back");
    }
    assert.equal(down.chunksDropped, 12 - queuedMax);
    assert.deepEqual(acks, [1, ACK_EVERY, 2 * ACK_EVERY], "the first, then every ACK_EVERY");
    // the clock ran past the queue (a gap): the next chunk starts JITTER_S ahead again
    world.contexts[0].currentTime = 5;
    chunk(13);
    assert.equal(world.starts.at(-1), 5 + JITTER_S);
    assert.equal(down.underruns, 1);
    const [track] = down.stream.getAudioTracks();
    down.stop();
    down.stop();
    assert.equal(world.contexts[0].state, "closed");
    assert.equal(track.readyState, "ended");
    chunk(14);
    assert.equal(world.starts.length, queuedMax + 1, "nothing after stop");
  });

  test("a suspended context is asked to resume (at most once a second)", () => {
    const { world, AudioContext } = fakeAudioContext();
    let now = 0;
    const down = new AudioDownlink({ ack: () => {}, env: env({ AudioContext, now: () => now }) });
    const pcm = new Int16Array(960);
    down.chunk({ seq: 1, rate: 48000, ch: 2 }, [pcm]);
    world.contexts[0].state = "suspended";
    down.chunk({ seq: 2, rate: 48000, ch: 2 }, [pcm]);
    down.chunk({ seq: 3, rate: 48000, ch: 2 }, [pcm]);
    assert.equal(world.contexts[0].resumes, 1);
    now = 1500;
    down.chunk({ seq: 4, rate: 48000, ch: 2 }, [pcm]);
    assert.equal(world.contexts[0].resumes, 2);
    down.stop();
  });
});

/** @param {Record<string, any>} traits @param {string} kind */
function peerOnComm(traits, kind) {
  const setup = peerSetup({ BrowserPeer, createRouter, kind, traits });
  const audio = fakeAudioContext();
  const commEnv = { now: () => 0, setTimeout: () => 0, clearTimeout: () => {}, log: quietLog(), AudioContext: audio.AudioContext };
  /** @type {any} */ (setup.peer.env).comm = commEnv;
  return { ...setup, audio };
}

describe("BrowserPeer: sound on the comm", () => {
  test("a microphone on transport='comm' asks for sound and is live at the kernel's first ack", async () => {
    const { browser, peer, model, kernel } = peerOnComm({ transport_mode: "comm", audio: true }, "microphone");
    /** @type {any[]} */
    const sent = [];
    peer.env.comm.MediaStreamTrackProcessor = class {
      constructor() {
        this.readable = { getReader: () => ({ read: () => new Promise(() => {}), cancel: async () => {} }) };
      }
    };
    await peer.start();
    assert.equal(browser.world.pcs.length, 0);
    assert.equal(model.sentOf("offer")[0].payload.transport, "comm");
    kernel("transport", { use: "comm" });
    await flush();
    assert.equal(browser.world.gumCalls.length, 1);
    assert.ok(browser.world.gumCalls[0].audio, "getUserMedia asked for sound");
    const up = peer._audioUp;
    assert.ok(up, "the audio uplink runs");
    up.take(audioData(1920));
    const [msg] = model.sentOf("audio");
    assert.equal(msg.payload.rate, 48000);
    assert.equal(peer.state.name, "connecting");
    kernel("audio-ack", { seq: 1 });
    assert.equal(peer.state.name, "live");
    // a `limit` refusal frees the bound
    for (let i = 0; i < 20; i++) up.take(audioData(1920));
    const skipped = up.chunksSkipped;
    assert.ok(skipped > 0);
    kernel("error", { code: "limit", message: "full", ref: { type: "audio" } });
    up.take(audioData(1920));
    assert.equal(up.chunksSkipped, skipped);
    void sent;
    peer.close();
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
    assert.equal(peer._audioUp, null);
  });

  test("an AudioView on the comm plays the kernel's sound and closes its AudioContext", async () => {
    const { peer, model, kernel, audio } = peerOnComm({ transport_mode: "comm" }, "audio");
    await peer.start();
    kernel("transport", { use: "comm" });
    await flush();
    assert.equal(peer.snapshot().media, null, "no stream before sound");
    const pcm = new Int16Array(1920).fill(1000);
    model.emit({ v: 1, type: "audio", stream: peer.id, payload: { seq: 1, rate: 48000, ch: 1, pos: 0 } }, [pcm]);
    await flush();
    assert.deepEqual(model.sentOf("audio-ack").map((m) => m.payload.seq), [1]);
    assert.equal(peer.state.name, "live");
    const media = peer.snapshot().media;
    assert.ok(media && media === peer._audioDown.stream, "the player gets the destination's stream");
    assert.equal(audio.world.starts.length, 1);
    // a malformed chunk is refused by the router, not played
    model.emit({ v: 1, type: "audio", stream: peer.id, payload: { seq: 2, rate: 1, ch: 1, pos: 0 } }, [pcm]);
    await flush();
    assert.equal(audio.world.starts.length, 1);
    peer.close();
    assert.equal(audio.world.contexts[0].state, "closed");
  });

  test("a VideoView on the comm gets one stream with the canvas video and the sound", async () => {
    const { peer, model, kernel } = peerOnComm({ transport_mode: "comm" }, "view");
    peer.env.comm.document = {
      createElement: () => ({
        width: 2,
        height: 2,
        captureStream: () => new FakeStream([new FakeTrack("video")]),
        getContext: () => ({ drawImage() {} }),
      }),
    };
    await peer.start();
    kernel("transport", { use: "comm" });
    await flush();
    const pcm = new Int16Array(3840);
    model.emit({ v: 1, type: "audio", stream: peer.id, payload: { seq: 1, rate: 48000, ch: 2, pos: 0 } }, [pcm]);
    await flush();
    const media = peer.snapshot().media;
    assert.equal(media.getVideoTracks().length, 1);
    assert.equal(media.getAudioTracks().length, 1);
    assert.equal(peer.snapshot().media, media, "the same stream each time (no re-attach)");
    peer.close();
  });
});

describe("BrowserPeer: sound after the automatic fallback", () => {
  test("a microphone whose WebRTC does not connect sends its sound over the comm", async () => {
    const { COMM_FALLBACK_MS } = await import("../transport/comm.js");
    const { browser, peer, model, kernel } = peerOnComm({ audio: true }, "microphone");
    peer.env.comm.MediaStreamTrackProcessor = class {
      constructor() {
        this.readable = { getReader: () => ({ read: () => new Promise(() => {}), cancel: async () => {} }) };
      }
    };
    await peer.start();
    assert.equal(browser.world.pcs.length, 1);
    kernel("answer", { sdp: "v=0\r\nanswer\r\n" });
    await flush();
    assert.equal(browser.world.gumCalls.length, 1, "the microphone opened for WebRTC");
    browser.advance(COMM_FALLBACK_MS);
    assert.equal(model.sentOf("transport").length, 1);
    kernel("transport", { use: "comm" });
    await flush();
    assert.ok(peer._audioUp, "the same microphone's sound goes over the comm too");
    peer._audioUp.take(audioData(1920));
    assert.equal(model.sentOf("audio").length, 1);
    peer.close();
    assert.deepEqual(browser.leaks(), { pcs: 0, tracks: 0 });
  });
});
