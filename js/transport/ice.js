// TURN logins stay out of widget state. The `rtc_config` trait is synced to every page
// and saved with the notebook ("Save Widget State"), so the kernel puts only the ICE
// server URLs there, plus `credentials: "ask"` when a server has a username or a
// credential. A page then asks the kernel for the full list (`ice-servers`, payload
// null) right before it creates a peer connection, and keeps the reply in memory only:
// never in a trait, never in a log line. With no login configured (the default) nothing
// is asked and no round trip is added. Pure apart from the timers it is given.

/** How long a page waits for the kernel's `ice-servers` reply before failing the stream. */
export const ICE_SERVERS_TIMEOUT_MS = 5000;
/** At most this many servers in a reply (the kernel's MAX_ICE_SERVERS). */
export const MAX_ICE_SERVERS = 32;

/**
 * Whether `rtcConfig` (the trait) says the logins must be asked for.
 * @param {unknown} rtcConfig
 * @returns {boolean}
 */
export function needsCredentials(rtcConfig) {
  return Boolean(rtcConfig && typeof rtcConfig === "object" && /** @type {any} */ (rtcConfig).credentials === "ask");
}

/**
 * The trait with the kernel's full server list in place of its URL-only one, and
 * without the marker (it is not an RTCConfiguration member).
 * @param {unknown} rtcConfig
 * @param {any[]} iceServers
 * @returns {Record<string, any>}
 */
export function withIceServers(rtcConfig, iceServers) {
  const base = rtcConfig && typeof rtcConfig === "object" ? { .../** @type {any} */ (rtcConfig) } : {};
  delete base.credentials;
  return { ...base, iceServers };
}

/**
 * Why an `ice-servers` reply payload is wrong, or null. Bounded like every kernel message.
 * @param {any} payload
 * @returns {string | null}
 */
export function checkIceServersPayload(payload) {
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) return "ice-servers payload must be an object";
  const list = payload.iceServers;
  if (!Array.isArray(list) || list.length > MAX_ICE_SERVERS) {
    return `ice-servers.iceServers must be a list of at most ${MAX_ICE_SERVERS} servers`;
  }
  for (const s of list) {
    if (!s || typeof s !== "object" || Array.isArray(s)) return "each ICE server must be an object";
    const urls = /** @type {unknown[]} */ (Array.isArray(s.urls) ? s.urls : [s.urls]);
    if (!urls.length || !urls.every((u) => typeof u === "string" && u.length <= 1024)) {
      return "each ICE server needs urls: a string or a list of strings";
    }
    for (const key of ["username", "credential"]) {
      if (key in s && (typeof s[key] !== "string" || s[key].length > 1024)) return `ICE server ${key} must be a string`;
    }
  }
  return null;
}

/** The failure when the kernel never sent the logins (words for the view, name for Python). */
export function credentialsTimeout() {
  return {
    name: "IceServersTimeout",
    message: `no ice-servers reply within ${ICE_SERVERS_TIMEOUT_MS / 1000} s`,
    words:
      `The kernel did not send the TURN credentials within ${ICE_SERVERS_TIMEOUT_MS / 1000} s ` +
      "(is it busy running a cell?). Run the cell again.",
  };
}

/**
 * The failure when the kernel refused to send them.
 * @param {string} code
 * @param {string} message
 */
export function credentialsRefused(code, message) {
  return {
    name: "IceServersRefused",
    message: `${code}: ${message}`,
    words: `The kernel refused to send the TURN credentials (${code}: ${message}). Run the cell again.`,
  };
}

/**
 * One pending request: `promise` resolves to the server list, or to a described failure
 * (`{failed: ...}`) on timeout or refusal, or to null when `cancel()` ran (the owner
 * closed). Settles once; never rejects.
 */
export class IceServersRequest {
  /**
   * @param {{setTimeout: (fn: () => void, ms: number) => any, clearTimeout: (id: any) => void}} env
   * @param {number} [timeoutMs]
   */
  constructor(env, timeoutMs = ICE_SERVERS_TIMEOUT_MS) {
    this.env = env;
    this.settled = false;
    /** @type {(value: any[] | {failed: {name: string, message: string, words: string}} | null) => void} */
    let resolve = () => {};
    /** @type {Promise<any[] | {failed: {name: string, message: string, words: string}} | null>} */
    this.promise = new Promise((r) => {
      resolve = r;
    });
    this._resolve = resolve;
    this._timer = env.setTimeout(() => this._settle({ failed: credentialsTimeout() }), timeoutMs);
  }

  /** @param {any[] | {failed: {name: string, message: string, words: string}} | null} value */
  _settle(value) {
    if (this.settled) return;
    this.settled = true;
    this.env.clearTimeout(this._timer);
    this._resolve(value);
  }

  /**
   * The kernel's reply arrived (already validated by the router).
   * @param {any} payload
   */
  answered(payload) {
    const why = checkIceServersPayload(payload);
    this._settle(why === null ? payload.iceServers : { failed: credentialsRefused("bad-message", why) });
  }

  /**
   * The kernel refused the request.
   * @param {string} code
   * @param {string} message
   */
  refused(code, message) {
    this._settle({ failed: credentialsRefused(code, message) });
  }

  /** The owner closed: the waiter gives up quietly. */
  cancel() {
    this._settle(null);
  }
}
