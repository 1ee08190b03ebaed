// The life of one browser peer as a pure state machine. Keeping the transitions in one
// function makes "what can happen after a close" a table that tests can enumerate:
// closed and error are terminal, so a late getUserMedia/answer/ICE event cannot revive
// a stream.
//
//   idle -> negotiating (offer sent) -> connecting (answer applied) -> live (pc
//        connected) -> closed
// (A camera opens its device after the answer, while ICE runs, so it has no state of
// its own for that: peer.js _acquire.)
//   any non-terminal state -> error (terminal, keeps the reason) | closed

/**
 * @typedef {"idle"|"negotiating"|"connecting"|"live"|"closed"|"error"} StateName
 * @typedef {{readonly name: StateName, readonly reason: string}} PeerState
 *   `reason` is "" except in closed (why it closed) and error (what went wrong).
 * @typedef {{type: "offer-sent"}
 *   | {type: "answer-applied"}
 *   | {type: "connected"}
 *   | {type: "close", reason?: string}
 *   | {type: "fail", reason?: string}} PeerEvent
 */

export const STATE_NAMES = Object.freeze([
  "idle",
  "negotiating",
  "connecting",
  "live",
  "closed",
  "error",
]);

export const EVENT_TYPES = Object.freeze([
  "offer-sent",
  "answer-applied",
  "connected",
  "close",
  "fail",
]);

/** Forward moves: event type -> the states it may leave -> the state it enters. */
const FORWARD = Object.freeze({
  "offer-sent": { from: ["idle"], to: "negotiating" },
  "answer-applied": { from: ["negotiating"], to: "connecting" },
  connected: { from: ["connecting"], to: "live" },
});

/**
 * @param {StateName} name
 * @param {string} [reason]
 * @returns {PeerState}
 */
export function makeState(name, reason = "") {
  return Object.freeze({ name, reason });
}

/** The state every peer starts in. */
export const INITIAL = makeState("idle");

/**
 * @param {PeerState} state
 * @returns {boolean}
 */
export function isTerminal(state) {
  return state.name === "closed" || state.name === "error";
}

/**
 * The one transition function. Illegal transitions (including any event in a terminal
 * state, and unknown events) return the very same state object, so callers detect a
 * change with `!==` and log it exactly once.
 * @param {PeerState} state
 * @param {PeerEvent} event
 * @returns {PeerState}
 */
export function reduce(state, event) {
  if (!state || !event || typeof event.type !== "string" || isTerminal(state)) return state;
  switch (event.type) {
    case "close":
      return makeState("closed", typeof event.reason === "string" ? event.reason : "closed");
    case "fail":
      return makeState("error", typeof event.reason === "string" ? event.reason : "error");
    default: {
      const rule = Object.hasOwn(FORWARD, event.type)
        ? FORWARD[/** @type {keyof typeof FORWARD} */ (event.type)]
        : undefined;
      if (rule && rule.from.includes(state.name)) return makeState(/** @type {StateName} */ (rule.to));
      return state;
    }
  }
}
