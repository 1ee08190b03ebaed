// The Room tab (shown only for an nbrtc.Room): the members, the browser-to-browser links
// with their selected pairs, and how little the kernel relayed (signaling) against the
// media the browsers sent each other directly. Trait `room`: null when the Inspector
// watches something else, else {name, members, links, kernel_relayed_bytes,
// kernel_media_bytes, note}.

import { formatBytes, formatNumber } from "./charts.js";
import { describeCandidate } from "./tab-ice.js";
import { elements } from "./tab.js";
import { arr, isNum, obj, str } from "./values.js";

export const LABEL = "Room";
/** The trait this tab draws. */
export const TRAIT = "room";

/**
 * When a member joined: a clock time for epoch seconds (what nbrtc.Room reports), else
 * seconds as given.
 * @param {unknown} since
 */
export function sinceText(since) {
  if (!isNum(since)) return str(since);
  if (since > 1e9) {
    const d = new Date(since * 1000);
    const two = (/** @type {number} */ n) => String(n).padStart(2, "0");
    return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  }
  return `${formatNumber(since)} s`;
}

/**
 * Whether the `room` trait describes a room (the shell shows the Room tab only then).
 * @param {unknown} value
 */
export function isRoomValue(value) {
  return value !== null && value !== undefined && typeof value === "object";
}

/**
 * Build the room view inside `el` (its panel).
 * @type {import("./tab.js").MountTab}
 */
export function mount(el, ctx) {
  const { doc } = ctx;
  const { make, td, empty, makeTable } = elements(doc);

  const roomBox = make("div", "nbrtc-room");
  el.appendChild(roomBox);
  let roomSig = "";

  /** @param {any} end a candidate, an address string or null */
  const describeEnd = (end) => (end && typeof end === "object" ? describeCandidate(end) : str(end) || "—");

  /** @param {any} value */
  const setRoom = (value) => {
    const isRoom = isRoomValue(value);
    const sig = JSON.stringify(value ?? null);
    if (sig === roomSig) return;
    roomSig = sig;
    if (!isRoom) {
      roomBox.replaceChildren(empty("Not a room."));
      return;
    }
    const r = obj(value);
    const members = arr(r.members).filter((m) => m && typeof m === "object");
    const links = arr(r.links).filter((l) => l && typeof l === "object");
    const relayed = isNum(r.kernel_relayed_bytes) ? r.kernel_relayed_bytes : 0;
    const media = links.reduce((sum, l) => sum + (isNum(l.bytes) ? l.bytes : 0), 0);
    const kernelMedia = isNum(r.kernel_media_bytes) ? r.kernel_media_bytes : 0;

    const compare = make("div", "nbrtc-room-compare");
    compare.dataset.relayed = String(relayed);
    compare.dataset.media = String(media);
    compare.append(
      make("span", undefined, "The kernel relayed "),
      make("b", "nbrtc-room-relayed", formatBytes(relayed)),
      make("span", undefined, " of signaling; the browsers sent each other "),
      make("b", "nbrtc-room-media", formatBytes(media)),
      make("span", undefined, ` of media directly (media through the kernel: ${formatBytes(kernelMedia)}).`),
    );

    const memberList = make("ul", "nbrtc-room-members");
    for (const m of members) {
      const li = make("li");
      li.dataset.id = str(m.id);
      li.dataset.state = str(m.state);
      li.append(
        make("span", "nbrtc-mono", str(m.id)),
        make("span", "nbrtc-sub", m.page ? ` page ${str(m.page)}` : ""),
        make("span", "nbrtc-sub", m.since ? ` since ${sinceText(m.since)}` : ""),
        make("span", undefined, " · "),
        make("span", "nbrtc-room-state", str(m.state)),
      );
      memberList.appendChild(li);
    }
    const { table, tbody } = makeTable("nbrtc-room-links", ["peers", "state", "selected pair", "media bytes"], ["media bytes"]);
    for (const l of links) {
      const tr = make("tr");
      tr.dataset.a = str(l.a);
      tr.dataset.b = str(l.b);
      tr.dataset.state = str(l.state);
      const sel = l.selected && typeof l.selected === "object" ? l.selected : null;
      tr.append(
        td(`${str(l.a)} ↔ ${str(l.b)}`, "nbrtc-mono"),
        td(str(l.state), "nbrtc-room-state"),
        td(sel ? `${describeEnd(sel.local)} ↔ ${describeEnd(sel.remote)}` : "—", "nbrtc-mono"),
        td(isNum(l.bytes) ? formatBytes(l.bytes) : "—", "nbrtc-num"),
      );
      tbody.appendChild(tr);
    }
    const children = [
      make("div", "nbrtc-room-name", `Room ${str(r.name)}`.trim()),
      compare,
      make("div", "nbrtc-ice-head", `Members (${members.length})`),
      members.length ? memberList : empty("No members yet."),
      make("div", "nbrtc-ice-head", `Links (${links.length})`),
      links.length ? table : empty("No links yet."),
    ];
    const note = make("div", "nbrtc-room-note", str(r.note));
    children.push(note);
    roomBox.replaceChildren(...children);
  };

  return {
    update: setRoom,
    destroy() {
      el.replaceChildren();
    },
  };
}
