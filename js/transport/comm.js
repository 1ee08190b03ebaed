// Video over the widget's comm: the transport a stream falls back to when WebRTC cannot
// connect (docs/protocol.md "Transports"). The kernel's half is src/nbrtc/_transport/comm_media.py.
//
// Frames travel as JPEG in the binary buffer of a `frame` message (no base64), each
// answered by a `frame-ack` once the other side decoded (kernel) or drew (page) it. A
// sender keeps at most WINDOW frames unacknowledged: when the link or the other side is
// slow, frames are skipped at the source, never queued, so latency stays flat. Quality
// adapts the JPEG quality and the frame size to what the link carries.
//
// CommUplink: the page's camera or screen -> kernel. CommDownlink: the kernel's video ->
// a canvas whose captureStream() is the MediaStream the view plays, so the view does not
// care which transport brought it. Browser globals come from `env` (tests pass fakes).

/** Frames a sender may have sent and not yet seen acknowledged (as the kernel's). */
export const WINDOW = 3;
/** How long a stream waits for WebRTC to connect before it also starts the comm. */
export const COMM_FALLBACK_MS = 1500;
export const MIN_QUALITY = 0.35;
export const MAX_QUALITY = 0.85;
export const START_QUALITY = 0.7;
/** At least 320x240 of a 640x480 camera (see _comm_media.MIN_SCALE for why). */
export const MIN_SCALE = 0.5;
const ADAPT_EVERY_MS = 1000;
// 1.6 and 1.25, as _comm_media.py (its comments say why): on a saturated link even the
// best round trip seen includes queueing behind the window's other frames
const RTT_QUEUED_FACTOR = 1.6;
const RTT_QUEUED_MIN_MS = 120;
const RTT_CLEAR_FACTOR = 1.25;
/** Frame interval of the fallback capture path (no MediaStreamTrackProcessor). */
const FALLBACK_FPS = 30;

/**
 * JPEG quality and scale for one direction, adapted once a second: down (quality by
 * 0.1, then size by 0.8) when the median round trip grew 1.6x above the best seen and
 * above 120 ms (frames queue: a slow link or receiver); up (size first, then quality by
 * 0.05) when it is back within 1.25x. A full window alone is no reason: on a fast link the round trip, not the
 * bytes, sets the pace. Mirrors _comm_media.Quality.
 */
export class Quality {
  /** @param {() => number} now ms */
  constructor(now) {
    this.quality = START_QUALITY;
    this.scale = 1;
    this._now = now;
    this._since = now();
    this._offered = 0;
    this._skipped = 0;
    /** @type {number[]} */
    this._rtts = [];
    /** @type {number | null} */
    this.bestRtt = null;
    this.changes = 0;
  }

  offered() {
    this._offered += 1;
    this._maybeAdapt();
  }

  skipped() {
    this._skipped += 1;
  }

  /** @param {number} rtt ms */
  acked(rtt) {
    this._rtts.push(rtt);
    if (this.bestRtt === null || rtt < this.bestRtt) this.bestRtt = rtt;
  }

  _maybeAdapt() {
    const now = this._now();
    if (now - this._since < ADAPT_EVERY_MS) return;
    const rtts = [...this._rtts].sort((a, b) => a - b);
    const median = rtts.length ? rtts[Math.floor(rtts.length / 2)] : null;
    const best = this.bestRtt;
    const queued = median !== null && best !== null && median > Math.max(RTT_QUEUED_MIN_MS, best * RTT_QUEUED_FACTOR);
    const clear = median !== null && best !== null &&
      (median <= best * RTT_CLEAR_FACTOR || median < RTT_QUEUED_MIN_MS / 2);
    const before = `${this.quality}/${this.scale}`;
    if (queued) {
      if (this.quality > MIN_QUALITY + 1e-9) this.quality = Math.max(MIN_QUALITY, round(this.quality - 0.1));
      else this.scale = Math.max(MIN_SCALE, round(this.scale * 0.8));
    } else if (clear) {
      if (this.scale < 1) this.scale = Math.min(1, round(this.scale / 0.8));
      else if (this.quality < MAX_QUALITY - 1e-9) this.quality = Math.min(MAX_QUALITY, round(this.quality + 0.05));
    }
    if (`${this.quality}/${this.scale}` !== before) this.changes += 1;
    this._since = now;
    this._offered = 0;
    this._skipped = 0;
    this._rtts = [];
  }

  /**
   * The size to send a width x height frame at (even, at least 16).
   * @param {number} width
   * @param {number} height
   * @returns {[number, number]}
   */
  size(width, height) {
    const even = (/** @type {number} */ v) => Math.max(16, Math.floor((v * this.scale) / 2) * 2);
    return [even(width), even(height)];
  }
}

/** @param {number} v */
function round(v) {
  return Math.round(v * 1000) / 1000;
}

/**
 * What the comm classes take from the browser; tests pass fakes.
 * @typedef {{
 *   now: () => number,
 *   setTimeout: (fn: () => void, ms: number) => any,
 *   clearTimeout: (id: any) => void,
 *   log: Pick<Console, "debug" | "info" | "warn" | "error">,
 *   MediaStream?: typeof MediaStream,
 *   MediaStreamTrackProcessor?: any,
 *   OffscreenCanvas?: typeof OffscreenCanvas,
 *   createImageBitmap?: (blob: Blob) => Promise<ImageBitmap>,
 *   Blob?: typeof Blob,
 *   document?: Document,
 * }} CommEnv
 */

/** @returns {Partial<CommEnv>} the browser's globals the comm classes use */
export function commGlobals() {
  const g = /** @type {any} */ (globalThis);
  return {
    MediaStreamTrackProcessor: g.MediaStreamTrackProcessor,
    OffscreenCanvas: g.OffscreenCanvas,
    createImageBitmap: g.createImageBitmap ? (/** @type {any} */ b) => g.createImageBitmap(b) : undefined,
    Blob: g.Blob,
    document: g.document,
  };
}

/**
 * The page's video track -> JPEG frames to the kernel, at most WINDOW unacknowledged.
 * Reads a clone of the track (stopping the clone leaves the view's track alone) with a
 * MediaStreamTrackProcessor, or, where there is none, from a muted <video> on a timer.
 */
export class CommUplink {
  /**
   * @param {{
   *   track: any,
   *   send: (payload: any, buffers: ArrayBuffer[]) => boolean,
   *   onAck?: () => void,
   *   env: CommEnv,
   * }} options
   */
  constructor({ track, send, onAck, env }) {
    this.env = env;
    this._send = send;
    this._onAck = onAck ?? (() => {});
    this._source = track;
    /** @type {any} */
    this._track = null;
    this.quality = new Quality(env.now);
    /** @type {Map<number, number>} seq -> sent at (ms) */
    this._inFlight = new Map();
    this._seq = 0;
    this._stopped = false;
    this._busy = false;
    /** @type {any} */
    this._reader = null;
    /** @type {any} */
    this._video = null;
    /** @type {any} */
    this._timer = null;
    /** @type {any} */
    this._canvas = null;
    this.framesSent = 0;
    this.bytesSent = 0;
    this.framesAcked = 0;
    this.framesSkipped = 0;
  }

  /** Start reading and sending (idempotent). Never throws: failures are logged. */
  start() {
    if (this._track || this._stopped) return;
    const env = this.env;
    try {
      this._track = typeof this._source.clone === "function" ? this._source.clone() : this._source;
      const OC = env.OffscreenCanvas;
      this._canvas = typeof OC === "function" ? new OC(16, 16) : env.document?.createElement("canvas");
      const MSTP = env.MediaStreamTrackProcessor;
      if (typeof MSTP === "function") {
        this._reader = new MSTP({ track: this._track }).readable.getReader();
        this._pump().catch((err) => env.log.warn("[nbrtc] comm uplink stopped", err));
      } else {
        this._startVideoElement();
      }
    } catch (err) {
      env.log.warn("[nbrtc] the comm uplink could not start", err);
    }
  }

  async _pump() {
    const reader = this._reader;
    while (!this._stopped) {
      const { value: frame, done } = await reader.read();
      if (done || !frame) return;
      try {
        await this._offer(frame, frame.displayWidth, frame.displayHeight);
      } finally {
        frame.close();
      }
    }
  }

  _startVideoElement() {
    const env = this.env;
    const video = env.document?.createElement("video");
    if (!video || typeof env.MediaStream !== "function") throw new Error("no way to read the camera's frames");
    video.muted = true;
    video.playsInline = true;
    video.srcObject = new env.MediaStream([this._track]);
    Promise.resolve(video.play()).catch((/** @type {unknown} */ err) => env.log.debug("[nbrtc] comm video play", err));
    this._video = video;
    const tick = () => {
      if (this._stopped) return;
      this._timer = env.setTimeout(tick, 1000 / FALLBACK_FPS);
      if (video.readyState >= 2 && video.videoWidth > 0 && !this._busy) {
        this._offer(video, video.videoWidth, video.videoHeight).catch(
          (err) => env.log.debug("[nbrtc] comm frame", err),
        );
      }
    };
    tick();
  }

  /**
   * One source frame: sent if the window allows, else skipped.
   * @param {any} source a VideoFrame or a <video>
   * @param {number} width
   * @param {number} height
   */
  async _offer(source, width, height) {
    if (this._stopped || !width || !height) return;
    this.quality.offered();
    if (this._inFlight.size >= WINDOW || this._busy) {
      this.framesSkipped += 1;
      this.quality.skipped();
      return;
    }
    this._busy = true;
    try {
      const [w, h] = this.quality.size(width, height);
      const canvas = this._canvas;
      if (canvas.width !== w) canvas.width = w;
      if (canvas.height !== h) canvas.height = h;
      canvas.getContext("2d").drawImage(source, 0, 0, w, h);
      const blob = typeof canvas.convertToBlob === "function"
        ? await canvas.convertToBlob({ type: "image/jpeg", quality: this.quality.quality })
        : await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", this.quality.quality));
      if (this._stopped || !blob) return;
      const data = await blob.arrayBuffer();
      if (this._stopped) return;
      this._seq += 1;
      const t = this.env.now();
      this._inFlight.set(this._seq, t);
      if (this._send({ seq: this._seq, w, h, type: "jpeg", t: Math.round(t) }, [data])) {
        this.framesSent += 1;
        this.bytesSent += data.byteLength;
      } else {
        this._inFlight.delete(this._seq);
      }
    } finally {
      this._busy = false;
    }
  }

  /**
   * The kernel decoded frame `seq`: its credit (and that of any older one lost on the
   * way) comes back.
   * @param {number} seq
   */
  ack(seq) {
    const sent = this._inFlight.get(seq);
    if (sent === undefined) return;
    for (const old of [...this._inFlight.keys()]) if (old <= seq) this._inFlight.delete(old);
    this.framesAcked += 1;
    this.quality.acked(this.env.now() - sent);
    this._onAck();
  }

  stats() {
    return {
      id: "nbrtc-comm-out",
      type: "nbrtc-comm",
      framesSent: this.framesSent,
      bytesSent: this.bytesSent,
      framesAcked: this.framesAcked,
      framesSkipped: this.framesSkipped,
      quality: this.quality.quality,
      scale: this.quality.scale,
      bestRtt: this.quality.bestRtt,
    };
  }

  /** Stop (idempotent): the reader, the clone, the timer and the element go. */
  stop() {
    if (this._stopped) return;
    this._stopped = true;
    const log = this.env.log;
    try {
      this._reader?.cancel().catch(() => {});
    } catch (err) {
      log.debug("[nbrtc] cancelling the comm reader", err);
    }
    if (this._timer !== null) this.env.clearTimeout(this._timer);
    if (this._video) {
      this._video.srcObject = null;
      this._video = null;
    }
    if (this._track && this._track !== this._source) {
      try {
        this._track.stop();
      } catch (err) {
        log.debug("[nbrtc] stopping the comm clone", err);
      }
    }
    this._track = null;
    this._reader = null;
  }
}

/**
 * The kernel's JPEG frames -> a canvas -> a MediaStream the view plays. Each frame is
 * acknowledged once drawn; a frame that arrives while one is decoding waits (the kernel
 * sends at most WINDOW), and only the newest waiting one is drawn.
 */
export class CommDownlink {
  /**
   * @param {{
   *   ack: (seq: number) => void,
   *   onFrame?: () => void,
   *   env: CommEnv,
   * }} options
   */
  constructor({ ack, onFrame, env }) {
    this.env = env;
    this._ack = ack;
    this._onFrame = onFrame ?? (() => {});
    this._canvas = env.document?.createElement("canvas") ?? null;
    if (this._canvas) {
      this._canvas.width = 2;
      this._canvas.height = 2;
    }
    /** @type {any} the canvas's stream: what the view plays */
    this.stream = this._canvas && typeof this._canvas.captureStream === "function"
      ? this._canvas.captureStream(0)
      : null;
    this._stopped = false;
    this._busy = false;
    /** @type {{seq: number, w: number, h: number, data: any} | null} */
    this._next = null;
    this.framesDrawn = 0;
    this.framesBad = 0;
    this.bytesReceived = 0;
  }

  /**
   * A `frame` message from the kernel.
   * @param {{seq: number, w: number, h: number}} payload
   * @param {any[] | undefined} buffers
   */
  frame(payload, buffers) {
    if (this._stopped) return;
    const data = buffers?.[0];
    if (!data) return;
    const waiting = this._next;
    if (waiting) this._ack(waiting.seq); // replaced by a newer one: never drawn, credit back
    this._next = { seq: payload.seq, w: payload.w, h: payload.h, data };
    if (!this._busy) this._drawNext().catch((err) => this.env.log.debug("[nbrtc] comm draw", err));
  }

  async _drawNext() {
    const env = this.env;
    this._busy = true;
    try {
      while (this._next && !this._stopped) {
        const { seq, w, h, data } = this._next;
        this._next = null;
        const bytes = data.buffer && !(data instanceof ArrayBuffer)
          ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
          : data;
        this.bytesReceived += bytes.byteLength ?? 0;
        let bitmap = null;
        try {
          // A page without createImageBitmap or Blob throws here: a bad frame, as a
          // JPEG that does not decode.
          const decode = /** @type {NonNullable<CommEnv["createImageBitmap"]>} */ (env.createImageBitmap);
          bitmap = await decode(new /** @type {typeof Blob} */ (env.Blob)([bytes], { type: "image/jpeg" }));
        } catch (err) {
          this.framesBad += 1;
          env.log.debug("[nbrtc] a kernel frame did not decode", err);
        }
        if (this._stopped) {
          bitmap?.close?.();
          return;
        }
        if (bitmap && this._canvas) {
          if (this._canvas.width !== w) this._canvas.width = w;
          if (this._canvas.height !== h) this._canvas.height = h;
          // null when the canvas cannot give a 2d context: the frame is not drawn, but it
          // is still acknowledged below, so the kernel's window does not stall.
          const ctx = this._canvas.getContext("2d");
          ctx?.drawImage(bitmap, 0, 0, w, h);
          bitmap.close?.();
          if (ctx) {
            const track = this.stream?.getVideoTracks?.()[0];
            track?.requestFrame?.();
            this.framesDrawn += 1;
          }
        }
        this._ack(seq);
        if (bitmap) this._onFrame();
      }
    } finally {
      this._busy = false;
    }
  }

  stats() {
    return {
      id: "nbrtc-comm-in",
      type: "nbrtc-comm",
      framesReceived: this.framesDrawn,
      framesBad: this.framesBad,
      bytesReceived: this.bytesReceived,
    };
  }

  /** Stop (idempotent): the canvas stream's track ends. */
  stop() {
    if (this._stopped) return;
    this._stopped = true;
    this._next = null;
    for (const track of this.stream?.getTracks?.() ?? []) {
      try {
        track.stop();
      } catch (err) {
        this.env.log.debug("[nbrtc] stopping the comm canvas track", err);
      }
    }
  }
}
