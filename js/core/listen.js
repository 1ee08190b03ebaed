// One way to add a DOM/RTC event listener in nbrtc: removed by an AbortSignal (so a
// teardown drops them all at once), skipped once its owner is closed, and never throwing
// out of the handler (a failing handler is logged and the others still run).

/**
 * @param {EventTarget} target
 * @param {string} type
 * @param {(ev: any) => void} fn
 * @param {{signal: AbortSignal, isClosed: () => boolean, log: Pick<Console, "error">, what: string}} options
 */
export function listen(target, type, fn, { signal, isClosed, log, what }) {
  target.addEventListener(
    type,
    (/** @type {any} */ ev) => {
      if (isClosed()) return;
      try {
        fn(ev);
      } catch (err) {
        log.error(`[nbrtc] ${what}${type} handler failed`, err);
      }
    },
    { signal },
  );
}
