// Everything a session (BrowserPeer, RoomMember) takes from the browser, in one object,
// so node's tests can pass fakes. Browser globals are looked up when defaultEnv() is
// called, never at import, so node can import every module that uses it.

/**
 * @typedef {{
 *   mediaDevices: any,
 *   RTCPeerConnection: any,
 *   MediaStream: any,
 *   now: () => number,
 *   setInterval: (fn: () => void, ms: number) => any,
 *   clearInterval: (id: any) => void,
 *   setTimeout: (fn: () => void, ms: number) => any,
 *   clearTimeout: (id: any) => void,
 *   log: Pick<Console, "debug" | "info" | "warn" | "error">,
 *   host: string,
 * }} PeerEnv
 */

/**
 * The page's own devices, peer connections, clock, timers and console.
 * @returns {PeerEnv}
 */
export function defaultEnv() {
  const g = /** @type {any} */ (globalThis);
  return {
    mediaDevices: g.navigator?.mediaDevices,
    RTCPeerConnection: g.RTCPeerConnection,
    MediaStream: g.MediaStream,
    // "ms since page load", as the protocol's ping asks.
    now: () => (g.performance ? g.performance.now() : Date.now()),
    setInterval: (fn, ms) => g.setInterval(fn, ms),
    clearInterval: (id) => g.clearInterval(id),
    setTimeout: (fn, ms) => g.setTimeout(fn, ms),
    clearTimeout: (id) => g.clearTimeout(id),
    log: console,
    host: hostOf(g),
  };
}

/**
 * The notebook host the page runs in, as far as it matters to a session: "vscode" for
 * VS Code's notebook view (its webviews deny getUserMedia, microsoft/vscode#119127, so a
 * camera there must say so instead of asking the user to allow access they cannot
 * grant), "" for a browser tab (JupyterLab, Notebook 7, Voila...).
 * @param {any} g the page's global object
 * @returns {string}
 */
export function hostOf(g) {
  const protocol = g.location?.protocol;
  if (protocol === "vscode-webview:" || typeof g.acquireVsCodeApi === "function") return "vscode";
  return "";
}
