// Sound over the widget's comm: the audio half of the comm transport (docs/protocol.md
// "Transports"; the video half is comm.js, the kernel's half src/nbrtc/_transport/comm_audio.py).
//
// Audio travels as raw PCM, signed 16-bit little-endian interleaved, mono or stereo, in
// the binary buffer of an `audio` message {seq, rate, ch, pos, t}: `pos` is the chunk's
// first sample on the sender's sample clock (it counts skipped chunks too, so the
// receiver keeps the timing), `t` the sender's clock in ms. A chunk is CHUNK_MS.
//
// AudioUplink (microphone, camera audio -> kernel): reads a clone of the track with a
// MediaStreamTrackProcessor (AudioData), and sends a chunk only while less than
// MAX_UNACKED_MS of audio is unacknowledged; the kernel acknowledges cumulatively every
// ACK_EVERY chunks. Beyond the bound chunks are skipped, never queued: a slow link or a
// kernel busy in a cell costs at most that much queued sound.
//
// AudioDownlink (kernel -> page): schedules each chunk as an AudioBufferSourceNode on an
// AudioContext's clock, JITTER_S ahead of now, into a MediaStreamAudioDestinationNode
// whose stream the view plays (its <audio>/<video> and meter). More than MAX_QUEUED_S
// ahead is dropped. It acknowledges every ACK_EVERY chunks, which the kernel only counts
// (the first one makes an AudioView live): the kernel waits for nothing.

/** Milliseconds of sound per chunk (the kernel's CHUNK_SECONDS). */
export const CHUNK_MS = 40;
/** The uplink sends while less than this much audio is unacknowledged (kernel's twin). */
export const MAX_UNACKED_MS = 600;
/** Chunks per acknowledgement, each way (the kernel's ACK_EVERY). */
export const ACK_EVERY = 5;
/** How far ahead of the AudioContext's clock a chunk after a gap is scheduled. */
export const JITTER_S = 0.06;
/** More sound than this queued in the page: the chunk is dropped. */
export const MAX_QUEUED_S = 0.3;
const RESUME_EVERY_MS = 1000;

/**
 * What the audio classes take from the browser; tests pass fakes.
 * @typedef {{
 *   now: () => number,
 *   log: Pick<Console, "debug" | "info" | "warn" | "error">,
 *   MediaStreamTrackProcessor?: any,
 *   AudioContext?: typeof AudioContext,
 * }} AudioEnv
 */

/** @returns {Partial<AudioEnv>} the browser's globals the audio classes use */
export function audioGlobals() {
  const g = /** @type {any} */ (globalThis);
  return { MediaStreamTrackProcessor: g.MediaStreamTrackProcessor, AudioContext: g.AudioContext };
}

/**
 * The page's audio track -> PCM chunks to the kernel, at most MAX_UNACKED_MS
 * unacknowledged. Reads a clone of the track (stopping it leaves the view's track alone).
 */
export class AudioUplink {
  /**
   * @param {{
   *   track: any,
   *   send: (payload: any, buffers: ArrayBuffer[]) => boolean,
   *   onAck?: () => void,
   *   env: AudioEnv,
   * }} options
   */
  constructor({ track, send, onAck, env }) {
    this.env = env;
    this._send = send;
    this._onAck = onAck ?? (() => {});
    this._source = track;
    /** @type {any} */
    this._track = null;
    /** @type {any} */
    this._reader = null;
    this._stopped = false;
    /** @type {Map<number, number>} seq -> ms of sound, not yet acknowledged */
    this._inFlight = new Map();
    this._seq = 0;
    /** The sample clock: the next chunk's first sample (skipped chunks count). */
    this._pos = 0;
    this._rate = 0;
    this._ch = 0;
    /** @type {Int16Array<ArrayBuffer> | null} the chunk being filled, interleaved (owns its whole buffer, which is sent) */
    this._buf = null;
    this._fill = 0;
    this.chunksSent = 0;
    this.bytesSent = 0;
    this.chunksSkipped = 0;
    this.acks = 0;
  }

  /** Start reading and sending (idempotent). Never throws: failures are logged. */
  start() {
    if (this._track || this._stopped) return;
    const env = this.env;
    try {
      const MSTP = env.MediaStreamTrackProcessor;
      if (typeof MSTP !== "function") {
        // Firefox and Safari have no MediaStreamTrackProcessor: sound needs WebRTC there
        env.log.warn("[nbrtc] this browser cannot read audio for the comm transport (no MediaStreamTrackProcessor)");
        return;
      }
      this._track = typeof this._source.clone === "function" ? this._source.clone() : this._source;
      this._reader = new MSTP({ track: this._track }).readable.getReader();
      this._pump().catch((err) => env.log.warn("[nbrtc] comm audio uplink stopped", err));
    } catch (err) {
      env.log.warn("[nbrtc] the comm audio uplink could not start", err);
    }
  }

  async _pump() {
    const reader = this._reader;
    while (!this._stopped) {
      const { value, done } = await reader.read();
      if (done || !value) return;
      try {
        this.take(value);
      } finally {
        value.close?.();
      }
    }
  }

  /**
   * One AudioData: its first two channels, as s16, into chunks of CHUNK_MS.
   * @param {any} data an AudioData (numberOfFrames, numberOfChannels, sampleRate, copyTo)
   */
  take(data) {
    if (this._stopped) return;
    const frames = data.numberOfFrames;
    const rate = Math.round(data.sampleRate);
    const ch = Math.min(2, data.numberOfChannels);
    if (!frames || !rate || !ch) return;
    if (rate !== this._rate || ch !== this._ch) {
      this._emit(); // what is left of the old format goes as it is
      this._rate = rate;
      this._ch = ch;
      this._buf = null;
    }
    // f32-planar is the one conversion every Chromium's copyTo does
    const planes = [];
    for (let c = 0; c < ch; c += 1) {
      const plane = new Float32Array(frames);
      data.copyTo(plane, { planeIndex: c, format: "f32-planar" });
      planes.push(plane);
    }
    const per = Math.round((rate * CHUNK_MS) / 1000);
    for (let i = 0; i < frames; i += 1) {
      if (!this._buf) {
        this._buf = new Int16Array(per * ch);
        this._fill = 0;
      }
      for (let c = 0; c < ch; c += 1) {
        const v = Math.max(-1, Math.min(1, planes[c][i]));
        this._buf[this._fill * ch + c] = v < 0 ? v * 32768 : v * 32767;
      }
      this._fill += 1;
      if (this._fill === per) this._emit();
    }
  }

  /** Send the filled part of the current chunk, or skip it when too much is unacknowledged. */
  _emit() {
    const buf = this._buf;
    const frames = this._fill;
    this._buf = null;
    this._fill = 0;
    if (!buf || !frames || this._stopped) return;
    const pos = this._pos;
    this._pos += frames;
    const ms = (frames / this._rate) * 1000;
    let unacked = 0;
    for (const v of this._inFlight.values()) unacked += v;
    if (unacked + ms > MAX_UNACKED_MS) {
      this.chunksSkipped += 1;
      return;
    }
    const data = frames * this._ch === buf.length ? buf : buf.slice(0, frames * this._ch);
    this._seq += 1;
    const payload = { seq: this._seq, rate: this._rate, ch: this._ch, pos, t: Math.round(this.env.now()) };
    this._inFlight.set(this._seq, ms);
    if (this._send(payload, [data.buffer])) {
      this.chunksSent += 1;
      this.bytesSent += data.byteLength;
    } else {
      this._inFlight.delete(this._seq);
    }
  }

  /**
   * The kernel has every chunk up to `seq`.
   * @param {number} seq
   */
  ack(seq) {
    let any = false;
    for (const s of [...this._inFlight.keys()]) {
      if (s <= seq) {
        this._inFlight.delete(s);
        any = true;
      }
    }
    if (!any) return;
    this.acks += 1;
    this._onAck();
  }

  /** The kernel refused a chunk (`limit`): what was in flight will never be acknowledged. */
  refused() {
    this._inFlight.clear();
  }

  stats() {
    return {
      id: "nbrtc-comm-audio-out",
      type: "nbrtc-comm",
      audioChunksSent: this.chunksSent,
      audioBytesSent: this.bytesSent,
      audioChunksSkipped: this.chunksSkipped,
      audioAcks: this.acks,
    };
  }

  /** Stop (idempotent): the reader and the clone go. */
  stop() {
    if (this._stopped) return;
    this._stopped = true;
    const log = this.env.log;
    try {
      this._reader?.cancel().catch(() => {});
    } catch (err) {
      log.debug("[nbrtc] cancelling the comm audio reader", err);
    }
    if (this._track && this._track !== this._source) {
      try {
        this._track.stop();
      } catch (err) {
        log.debug("[nbrtc] stopping the comm audio clone", err);
      }
    }
    this._track = null;
    this._reader = null;
  }
}

/**
 * @param {any} data a message buffer (ArrayBuffer, DataView or typed array)
 * @returns {Int16Array} its samples, copied (the buffer's offset may be odd)
 */
function samplesOf(data) {
  const bytes = data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const copy = new Uint8Array(bytes.byteLength - (bytes.byteLength % 2));
  copy.set(bytes.subarray(0, copy.byteLength));
  return new Int16Array(copy.buffer);
}

/**
 * The kernel's PCM chunks -> an AudioContext -> `stream` (a MediaStream with one audio
 * track) the view plays. Made lazily, at the first chunk.
 */
export class AudioDownlink {
  /**
   * @param {{
   *   ack: (seq: number) => void,
   *   onSound?: () => void,
   *   env: AudioEnv,
   * }} options
   */
  constructor({ ack, onSound, env }) {
    this.env = env;
    this._ack = ack;
    this._onSound = onSound ?? (() => {});
    /** @type {AudioContext | null} */
    this._ctx = null;
    /** @type {MediaStreamAudioDestinationNode | null} */
    this._dest = null;
    /** @type {MediaStream | null} the destination's stream: what the view plays (null before sound) */
    this.stream = null;
    this._next = 0;
    this._stopped = false;
    this._lastResume = -Infinity;
    this.chunksReceived = 0;
    this.chunksPlayed = 0;
    this.chunksDropped = 0;
    this.underruns = 0;
    this.bytesReceived = 0;
  }

  /**
   * The AudioContext and the destination the chunks play into, made on first use.
   * @returns {{ctx: AudioContext, dest: MediaStreamAudioDestinationNode} | null} null
   *   when the browser has no AudioContext
   */
  _ensure() {
    if (this._ctx && this._dest) return { ctx: this._ctx, dest: this._dest };
    const AC = this.env.AudioContext;
    if (typeof AC !== "function") return null;
    const ctx = new AC();
    const dest = ctx.createMediaStreamDestination();
    this._ctx = ctx;
    this._dest = dest;
    this.stream = dest.stream;
    return { ctx, dest };
  }

  /**
   * An `audio` message from the kernel: scheduled, or dropped when too much is queued.
   * @param {{seq: number, rate: number, ch: number}} payload
   * @param {any[] | undefined} buffers
   */
  chunk(payload, buffers) {
    if (this._stopped || !buffers?.[0]) return;
    const env = this.env;
    this.chunksReceived += 1;
    const first = this.chunksReceived === 1;
    if (first || this.chunksReceived % ACK_EVERY === 0) this._ack(payload.seq);
    const audio = this._ensure();
    if (!audio) {
      if (first) env.log.warn("[nbrtc] this browser has no AudioContext: the kernel's sound cannot play");
      return;
    }
    const { ctx, dest } = audio;
    if (ctx.state === "suspended" && env.now() - this._lastResume > RESUME_EVERY_MS) {
      // created without a user gesture: the view's play click (or any click) allows it
      this._lastResume = env.now();
      Promise.resolve(ctx.resume?.()).catch(() => {});
    }
    const samples = samplesOf(buffers[0]);
    this.bytesReceived += samples.byteLength;
    const ch = payload.ch;
    const frames = Math.floor(samples.length / ch);
    if (!frames) return;
    const now = ctx.currentTime;
    if (this._next < now + JITTER_S) {
      if (this.chunksPlayed > 0 && this._next < now) this.underruns += 1;
      this._next = now + JITTER_S; // start, or a gap: a small margin again
    }
    if (this._next - now > MAX_QUEUED_S) {
      this.chunksDropped += 1;
      return;
    }
    const buffer = ctx.createBuffer(ch, frames, payload.rate);
    for (let c = 0; c < ch; c += 1) {
      const out = buffer.getChannelData(c);
      for (let i = 0; i < frames; i += 1) out[i] = samples[i * ch + c] / 32768;
    }
    const node = ctx.createBufferSource();
    node.buffer = buffer;
    node.connect(dest);
    node.start(this._next);
    this._next += frames / payload.rate;
    this.chunksPlayed += 1;
    if (this.chunksPlayed === 1) this._onSound();
  }

  stats() {
    return {
      id: "nbrtc-comm-audio-in",
      type: "nbrtc-comm",
      audioChunksReceived: this.chunksReceived,
      audioChunksPlayed: this.chunksPlayed,
      audioChunksDropped: this.chunksDropped,
      audioUnderruns: this.underruns,
      audioBytesReceived: this.bytesReceived,
    };
  }

  /** Stop (idempotent): the track ends, the AudioContext closes. */
  stop() {
    if (this._stopped) return;
    this._stopped = true;
    const log = this.env.log;
    for (const track of this.stream?.getTracks?.() ?? []) {
      try {
        track.stop();
      } catch (err) {
        log.debug("[nbrtc] stopping the comm audio track", err);
      }
    }
    try {
      Promise.resolve(this._ctx?.close?.()).catch(() => {});
    } catch (err) {
      log.debug("[nbrtc] closing the comm AudioContext", err);
    }
    this._ctx = null;
  }
}
