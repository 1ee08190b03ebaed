import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { METER_INTERVAL_MS, createMeter, levelFromSamples } from "../peer/meter.js";
import { FakeStream, FakeTrack, fakeAudio, fakeTimers } from "./fakes.js";

describe("levelFromSamples", () => {
  const cases = [
    [[], 0],
    [[0, 0, 0], 0],
    [[1, -1, 1, -1], 1], // full scale
    [[0.001, -0.001], 0], // -60 dBFS: the floor
    [[0.1, -0.1], 2 / 3], // -20 dBFS
    [[2, -2], 1], // clipped, never above 1
    [[NaN, 0.1], levelFromSamples([0, 0.1])],
  ];
  for (const [samples, level] of cases) {
    test(`${JSON.stringify(samples)} -> ${level}`, () => {
      assert.ok(Math.abs(levelFromSamples(samples) - level) < 1e-9, String(levelFromSamples(samples)));
    });
  }
});

describe("createMeter", () => {
  const audioStream = () => new FakeStream([new FakeTrack("audio")]);

  test("reads ~10 times a second, stops its timer and closes its context", () => {
    const audio = fakeAudio();
    const timers = fakeTimers();
    const levels = [];
    const meter = createMeter(audioStream(), (l) => levels.push(l), { ...timers, AudioContext: audio.AudioContext });
    assert.ok(meter);
    assert.equal(audio.world.sources[0].connected.length, 1, "source -> analyser only (not the speakers)");
    timers.advance(METER_INTERVAL_MS * 3);
    assert.equal(levels.length, 3);
    assert.ok(Math.abs(levels[0] - 0.9) < 0.01, "0.5 constant is -6 dBFS: (60 - 6) / 60");
    meter.stop();
    meter.stop();
    assert.equal(timers.timers.size, 0);
    assert.equal(audio.open(), 0);
    assert.equal(meter.running, false);
    timers.advance(1000);
    assert.equal(levels.length, 3);
  });

  test("no AudioContext: no meter, no throw, no timer", () => {
    const timers = fakeTimers();
    assert.equal(createMeter(audioStream(), () => {}, { ...timers, AudioContext: undefined }), null);
    assert.equal(timers.timers.size, 0);
  });

  test("a stream without audio: no meter, no context left open", () => {
    const audio = fakeAudio();
    const timers = fakeTimers();
    assert.equal(createMeter(new FakeStream([new FakeTrack("video")]), () => {}, { ...timers, AudioContext: audio.AudioContext }), null);
    assert.equal(audio.open(), 0);
  });

  test("a context that fails to wire up is closed", () => {
    const audio = fakeAudio();
    const timers = fakeTimers();
    const stream = audioStream();
    stream.getAudioTracks = () => [new FakeTrack("audio")]; // says audio, but...
    stream.getTracks = () => [];
    const Broken = class extends audio.AudioContext {
      createAnalyser() {
        throw new Error("nope");
      }
    };
    assert.equal(createMeter(stream, () => {}, { ...timers, AudioContext: Broken }), null);
    assert.equal(audio.open(), 0);
    assert.equal(timers.timers.size, 0);
  });

  test("a suspended context is resumed", () => {
    const audio = fakeAudio();
    const Suspended = class extends audio.AudioContext {
      constructor() {
        super();
        this.state = "suspended";
      }
    };
    const meter = createMeter(audioStream(), () => {}, { ...fakeTimers(), AudioContext: Suspended });
    assert.equal(audio.world.contexts[0].resumes, 1);
    meter.stop();
  });
});
