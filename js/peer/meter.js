// A sound level meter for a MediaStream: WebAudio AnalyserNode, read by a ~10 Hz timer
// (not requestAnimationFrame: a timer is testable with fake clocks, and 10 Hz is
// enough for a bar). The analyser is not connected to the destination, so metering the
// microphone never plays it back (Chromium pulls analysers on its own).
// Without WebAudio (old browsers, node) the meter is simply absent: nothing throws.

export const METER_INTERVAL_MS = 100;
/** Levels below this many dBFS show as an empty bar. */
export const METER_FLOOR_DB = -60;

/**
 * @typedef {{
 *   AudioContext?: typeof AudioContext,
 *   setInterval: (fn: () => void, ms: number) => any,
 *   clearInterval: (id: any) => void,
 *   log?: Pick<Console, "debug">,
 * }} MeterEnv
 *
 * @typedef {{stop(): void, resume(): void, readonly running: boolean}} Meter
 */

/**
 * The level of a block of samples (-1..1) as 0..1: RMS in dBFS, mapped linearly from
 * METER_FLOOR_DB (0) to 0 dBFS (1), which matches how loud things sound. Pure.
 * @param {ArrayLike<number>} samples
 * @returns {number}
 */
export function levelFromSamples(samples) {
  const n = samples?.length ?? 0;
  if (!n) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = Number(samples[i]) || 0;
    sum += v * v;
  }
  const rms = Math.sqrt(sum / n);
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db - METER_FLOOR_DB) / -METER_FLOOR_DB));
}

/**
 * Start metering `stream`'s audio; `onLevel` gets 0..1 about ten times a second.
 * Returns null (and leaves nothing open) when there is no WebAudio or no audio track.
 * @param {MediaStream} stream
 * @param {(level: number) => void} onLevel
 * @param {MeterEnv} env
 * @returns {Meter | null}
 */
export function createMeter(stream, onLevel, env) {
  const AC = env.AudioContext;
  if (typeof AC !== "function" || !stream) return null;
  if (typeof stream.getAudioTracks === "function" && stream.getAudioTracks().length === 0) return null;
  /** @type {AudioContext | null} */
  let ctx = null;
  /** @type {MediaStreamAudioSourceNode} */
  let source;
  /** @type {AnalyserNode} */
  let analyser;
  try {
    ctx = new AC();
    source = ctx.createMediaStreamSource(stream);
    analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
  } catch (err) {
    env.log?.debug("[nbrtc] no level meter", err);
    closeQuietly(ctx);
    return null;
  }
  const context = ctx; // made: a const, so the closures below know it is not null
  const samples = new Float32Array(analyser.fftSize);
  let running = true;
  const timer = env.setInterval(() => {
    if (!running) return;
    try {
      analyser.getFloatTimeDomainData(samples);
      onLevel(levelFromSamples(samples));
    } catch (err) {
      env.log?.debug("[nbrtc] level meter read failed", err);
    }
  }, METER_INTERVAL_MS);

  const meter = {
    get running() {
      return running;
    },
    stop() {
      if (!running) return;
      running = false;
      try {
        env.clearInterval(timer);
      } catch {
        // a timer that cannot be cleared is already gone
      }
      try {
        source.disconnect();
      } catch {
        // already disconnected
      }
      closeQuietly(context);
    },
    /** An AudioContext made before any click may start suspended (autoplay policy). */
    resume() {
      if (!running || context.state !== "suspended") return;
      try {
        const p = context.resume();
        if (p && typeof p.catch === "function") p.catch(() => {});
      } catch {
        // stays suspended: the bar stays empty, nothing else is affected
      }
    },
  };
  meter.resume();
  return meter;
}

/** @param {AudioContext | null} ctx */
function closeQuietly(ctx) {
  if (!ctx || ctx.state === "closed") return;
  try {
    const p = ctx.close();
    if (p && typeof p.catch === "function") p.catch(() => {});
  } catch {
    // already closed
  }
}
