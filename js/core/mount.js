// The render lifecycle of a view that runs one session (widget.js for the stream kinds,
// room.js for a room): when its session starts, when it closes, and the order of its
// cleanup. anywidget calls render() once per view and calls the cleanup it returns (or
// aborts `signal`) when the view goes; either may come first, both may come.
//
//   render  -> the kernel already closed the widget?  close the session, never start it
//           -> else start it on the next task (a close that arrived with the display,
//              from the same cell, is applied first)
//   kernel state "closed" at any time              -> close the session ("closed")
//   cleanup / abort -> cancel the start, close the session ("view-removed"), then the
//                      caller's steps (listeners, then the DOM); once, each step guarded

import { once, runAll } from "./cleanup.js";

/**
 * What mountSession needs of a session (BrowserPeer, RoomMember).
 * @typedef {{start: () => unknown, close: (reason?: string) => void}} Startable
 */

/**
 * Run `current()`'s session for the life of a view. `current` is read at each step, so a
 * caller may replace the session (widget.js does when the constraints change).
 * @param {{
 *   model: {get: (name: string) => any, on: (ev: string, fn: () => void) => void, off: (ev: string, fn: () => void) => void},
 *   current: () => Startable | null,
 *   release: (() => void)[],
 *   signal?: AbortSignal,
 * }} options `release`: cleanup steps after the session closed (listeners, then the DOM)
 * @returns {{cleanup: () => void, starting: () => boolean}} cleanup (idempotent), and
 *   whether the start is still waiting for its task
 */
export function mountSession({ model, current, release, signal }) {
  const kernelClosed = () => model.get("state") === "closed";
  const onKernelClosed = () => {
    if (kernelClosed()) current()?.close("closed");
  };
  model.on("change:state", onKernelClosed);
  /** @type {ReturnType<typeof setTimeout> | null} */
  let startTimer = null;
  const starting = () => startTimer !== null;
  // Order matters: release the camera and the pcs first, then listeners, then the DOM.
  const cleanup = once(() =>
    runAll([
      () => {
        if (startTimer !== null) clearTimeout(startTimer);
      },
      () => current()?.close("view-removed"),
      () => model.off("change:state", onKernelClosed),
      ...release,
    ]),
  );
  if (signal) {
    if (signal.aborted) {
      cleanup();
      return { cleanup, starting };
    }
    signal.addEventListener("abort", cleanup, { once: true });
  }
  // The kernel may close the widget in the very cell that displays it
  // (`cam = Camera(); display(cam); cam.close()`): a closed widget never opens a device.
  if (kernelClosed()) {
    current()?.close("closed");
    return { cleanup, starting };
  }
  startTimer = setTimeout(() => {
    startTimer = null;
    if (kernelClosed() || signal?.aborted) current()?.close("closed");
    else current()?.start();
  }, 0);
  return { cleanup, starting };
}
