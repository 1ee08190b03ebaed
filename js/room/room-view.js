// The DOM of one room view. It only draws what the RoomMember reports (RoomSnapshot in
// room.js); it never talks to the kernel. `document` is touched only inside
// createRoomView, so node can import the pure helpers.
//
//   .nbrtc-root.nbrtc-room[data-kind="room"][data-state][data-members=N]
//     .nbrtc-room-grid
//       .nbrtc-room-tile.nbrtc-room-self      video.nbrtc-room-local (muted) + label
//       .nbrtc-room-tile.nbrtc-room-peer[data-peer=ID][data-state=connectionState]
//                                             video.nbrtc-room-remote + label
//     .nbrtc-status (.nbrtc-badge, .nbrtc-text, .nbrtc-warning)
//     .nbrtc-room-caption   "3 members · media flows browser ↔ browser; ..."
//     .nbrtc-room-error     failed links, in words (hidden when none)
//
// The look is in room.css (bundled into static/widget.css, anywidget's `_css`): the view
// injects no style.

import { listen } from "../core/listen.js";

/**
 * @typedef {import("./room.js").RoomSnapshot} RoomSnapshot
 * @typedef {{log: Pick<Console, "debug" | "error">}} RoomViewEnv
 */

/**
 * The caption line: how many members, and where the media goes. Pure.
 * @param {number} members
 * @param {string} [via] "janus" when the media goes through a server
 * @returns {string}
 */
export function roomCaption(members, via = "") {
  const n = Math.max(0, Math.floor(members));
  const where = via
    ? `media goes through the server (${via}): each member sends its camera once`
    : "media flows browser ↔ browser";
  return `${n} member${n === 1 ? "" : "s"} · ${where}; the kernel only relays signaling`;
}

/**
 * The status line's badge and words for a member snapshot. Pure.
 * @param {Pick<RoomSnapshot, "state" | "words" | "room" | "peers">} snap
 * @returns {{badge: string, text: string}}
 */
export function roomStatusText({ state, words, room, peers }) {
  const name = room ? `“${room}”` : "the room";
  const open = peers.filter((p) => p.state !== "closed");
  const connected = open.filter((p) => p.state === "connected").length;
  switch (state.name) {
    case "idle":
      return { badge: "new", text: "Starting…" };
    case "joining":
      return { badge: "joining", text: `Joining ${name}…` };
    case "acquiring":
      return { badge: "camera", text: "Starting camera…" };
    case "waiting":
      return {
        badge: "waiting",
        text: `In ${name} · waiting for others: display the room in another tab or cell`,
      };
    case "connecting":
      return { badge: "connecting", text: `Connecting to ${open.length} member${open.length === 1 ? "" : "s"}…` };
    case "live":
      return { badge: "live", text: `Live · connected to ${connected} of ${open.length}` };
    case "closed":
      return { badge: "closed", text: words || "Left the room" };
    case "error":
      return { badge: "error", text: words || state.reason || "Error" };
    default:
      return { badge: state.name, text: state.name };
  }
}

/**
 * Build a room view inside `el`.
 * @param {HTMLElement} el
 * @param {{env?: Partial<RoomViewEnv>}} [options]
 */
export function createRoomView(el, { env: envIn } = {}) {
  const env = { log: console, ...envIn };
  const doc = el.ownerDocument;
  const abort = new AbortController();
  let destroyed = false;

  /**
   * @param {string} tag
   * @param {string} className
   * @param {string} [text]
   */
  const make = (tag, className, text) => {
    const node = doc.createElement(tag);
    node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  /** @param {string} className */
  const makeVideo = (className) => {
    const v = /** @type {any} */ (make("video", className));
    v.autoplay = true;
    v.playsInline = true;
    v.setAttribute("playsinline", "");
    // Muted: a room's sound (audio=True) plays from the remote videos once the user
    // clicks (autoplay policies refuse sound before that); see `unmute` below.
    v.muted = true;
    v.setAttribute("muted", "");
    return v;
  };
  /**
   * @param {any} video
   * @param {any} stream
   */
  const attach = (video, stream) => {
    video.srcObject = stream;
    if (!stream) return;
    try {
      const p = video.play?.();
      if (p && typeof p.catch === "function") p.catch(() => {});
    } catch {
      // autoplay does it
    }
  };

  const root = make("div", "nbrtc-root nbrtc-room");
  root.dataset.kind = "room";
  root.dataset.state = "idle";
  root.dataset.members = "0";
  const grid = make("div", "nbrtc-room-grid");
  const selfTile = make("div", "nbrtc-room-tile nbrtc-room-self");
  const local = makeVideo("nbrtc-room-local");
  selfTile.append(local, make("span", "nbrtc-room-label", "you"));
  grid.append(selfTile);
  const status = make("div", "nbrtc-status");
  const badge = make("span", "nbrtc-badge");
  const text = make("span", "nbrtc-text");
  const warning = make("span", "nbrtc-warning");
  status.append(badge, text, warning);
  const caption = make("div", "nbrtc-room-caption", roomCaption(0));
  const errors = make("div", "nbrtc-room-error");
  errors.hidden = true;
  root.append(grid, status, caption, errors);
  el.appendChild(root);

  /** @type {any} */
  let localStream = null;
  /** @type {Map<string, {tile: any, video: any, label: any, stream: any}>} */
  const tiles = new Map();
  let wantSound = false;

  // A click in the room lets the remote videos play their sound (autoplay policy).
  listen(
    root,
    "click",
    () => {
      wantSound = true;
      for (const t of tiles.values()) t.video.muted = false;
    },
    { signal: abort.signal, isClosed: () => destroyed, log: env.log, what: "room view " },
  );

  /** @param {string} id */
  const tileFor = (id) => {
    const existing = tiles.get(id);
    if (existing) return existing;
    const tile = make("div", "nbrtc-room-tile nbrtc-room-peer");
    tile.dataset.peer = id;
    tile.dataset.state = "new";
    const video = makeVideo("nbrtc-room-remote");
    if (wantSound) video.muted = false;
    const label = make("span", "nbrtc-room-label", id);
    tile.append(video, label);
    grid.appendChild(tile);
    const entry = { tile, video, label, stream: null };
    tiles.set(id, entry);
    return entry;
  };

  /** @param {string} id */
  const removeTile = (id) => {
    const entry = tiles.get(id);
    if (!entry) return;
    tiles.delete(id);
    try {
      entry.video.pause();
    } catch {
      // nothing playing
    }
    entry.video.srcObject = null;
    entry.tile.remove();
  };

  return {
    root,
    local,
    /** @param {string} id */
    remoteVideo: (id) => tiles.get(id)?.video ?? null,
    /** @param {RoomSnapshot} snap */
    update(snap) {
      if (destroyed) return;
      root.dataset.state = snap.state.name;
      root.dataset.members = String(snap.members);
      if (snap.local !== localStream) {
        localStream = snap.local;
        attach(local, localStream);
      }
      const ids = new Set(snap.peers.map((p) => p.id));
      for (const id of [...tiles.keys()]) if (!ids.has(id)) removeTile(id);
      for (const p of snap.peers) {
        const entry = tileFor(p.id);
        entry.tile.dataset.state = p.state;
        entry.label.textContent = `${p.id} · ${p.state}`;
        if (p.stream !== entry.stream) {
          entry.stream = p.stream;
          attach(entry.video, p.stream);
        }
      }
      const words = roomStatusText(snap);
      badge.textContent = words.badge;
      text.textContent = words.text;
      caption.textContent = roomCaption(snap.members, snap.via);
      const failures = snap.peers.map((p) => p.failed).filter(Boolean);
      errors.textContent = failures.join(" ");
      errors.hidden = failures.length === 0;
    },
    /** @param {string} message */
    setWarning(message) {
      warning.textContent = message || "";
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      abort.abort();
      for (const id of [...tiles.keys()]) removeTile(id);
      try {
        local.pause();
      } catch {
        // nothing playing
      }
      local.srcObject = null;
      root.remove();
    },
  };
}
