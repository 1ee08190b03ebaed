// The view's device picker: a compact <select> of the page's cameras (and, for a camera
// with sound or a microphone, microphones), so a user can switch devices without code.
//
// It lists what this page's enumerateDevices reported (the peer's `devices`, device.js),
// by label ("Camera 2" when the browser gives none), with the device the stream runs on
// selected (its track's getSettings().deviceId). Shown only when the page has two or more
// devices of the kind; disabled unless the stream is live. Choosing one calls `onPick`,
// which sends the kernel a `device` message (docs/protocol.md "The device picker"), never
// a trait write: the kernel checks the id against the page's `devices`, sets the widget's
// own constraints, and that restarts this view's stream with the device (widget.js).
// Pure helpers first; createPicker touches the DOM only through the `make` it is given
// (and writes a property only when it changes: core/dom.js).

import { setDisabled, setHidden } from "../core/dom.js";

/** enumerateDevices kinds of the picker's kinds. */
export const PICK_KINDS = Object.freeze({ video: "videoinput", audio: "audioinput" });

/** What a device without a label is called, numbered from 1. */
const NAMES = Object.freeze({ video: "Camera", audio: "Microphone" });

/** Options per select at most (a page lists at most 256 devices, device.js). */
export const MAX_OPTIONS = 64;

/**
 * @typedef {"video" | "audio"} PickKind
 * @typedef {{deviceId: string, kind: string, label: string, groupId?: string}} DeviceInfo
 * @typedef {{deviceId: string, label: string}} PickOption
 */

/**
 * The devices of one kind as options: listed order, one per deviceId, none without an
 * id (a page without permission lists anonymous devices), a label for each. Pure.
 * @param {DeviceInfo[] | null | undefined} devices
 * @param {PickKind} kind
 * @returns {PickOption[]}
 */
export function pickerOptions(devices, kind) {
  const want = PICK_KINDS[kind];
  /** @type {PickOption[]} */
  const out = [];
  const seen = new Set();
  for (const d of Array.isArray(devices) ? devices : []) {
    if (!d || d.kind !== want || typeof d.deviceId !== "string" || !d.deviceId) continue;
    if (seen.has(d.deviceId)) continue;
    seen.add(d.deviceId);
    const label = typeof d.label === "string" && d.label.trim() ? d.label.trim() : `${NAMES[kind]} ${out.length + 1}`;
    out.push({ deviceId: d.deviceId, label });
    if (out.length >= MAX_OPTIONS) break;
  }
  return out;
}

/**
 * The kinds a view of `widgetKind` may pick: a camera its camera, and its microphone
 * when its stream carries sound; a microphone its microphone; nothing else (a screen
 * is chosen in the browser's own share picker). Pure.
 * @param {string} widgetKind
 * @param {any} localStream
 * @returns {PickKind[]}
 */
export function pickerKinds(widgetKind, localStream) {
  if (widgetKind === "microphone") return ["audio"];
  if (widgetKind !== "camera") return [];
  const audio = typeof localStream?.getAudioTracks === "function" && localStream.getAudioTracks().length > 0;
  return audio ? ["video", "audio"] : ["video"];
}

/**
 * The deviceId the stream's track of `kind` runs on ("" when unknown). Pure.
 * @param {any} stream
 * @param {PickKind} kind
 * @returns {string}
 */
export function currentDevice(stream, kind) {
  if (!stream || typeof stream.getTracks !== "function") return "";
  const track = stream.getTracks().find((/** @type {any} */ t) => t.kind === kind);
  if (!track || typeof track.getSettings !== "function") return "";
  try {
    const id = track.getSettings()?.deviceId;
    return typeof id === "string" ? id : "";
  } catch {
    return "";
  }
}

/**
 * One <select class="nbrtc-device" data-kind=KIND> per pickable kind, inside `box`.
 * @param {{
 *   box: any,
 *   widgetKind: string,
 *   make: (tag: string, className: string, text?: string) => any,
 *   on: (target: EventTarget, type: string, fn: (ev: any) => void) => void,
 *   onPick: (kind: PickKind, deviceId: string) => boolean,
 * }} options `on` registers a listener the view removes on destroy
 */
export function createPicker({ box, widgetKind, make, on, onPick }) {
  /** @type {Map<PickKind, {select: any, key: string, current: string}>} */
  const selects = new Map();
  /** The page's devices: kept across the view's streams (a restart lists them again). */
  /** @type {DeviceInfo[]} */
  let devices = [];

  /** @param {PickKind} kind */
  const ensure = (kind) => {
    const existing = selects.get(kind);
    if (existing) return existing;
    const select = make("select", "nbrtc-device");
    select.dataset.kind = kind;
    select.setAttribute("aria-label", kind === "video" ? "Camera" : "Microphone");
    select.title = kind === "video" ? "Camera" : "Microphone";
    box.appendChild(select);
    const entry = { select, key: "", current: "" };
    on(select, "change", () => {
      const id = String(select.value ?? "");
      if (!id || id === entry.current) return;
      // Not sent (the stream closed meanwhile): show the device it still runs on.
      if (!onPick(kind, id)) select.value = entry.current;
    });
    selects.set(kind, entry);
    return entry;
  };

  return {
    box,
    /**
     * Redraw from the view's state: the peer's devices (kept when a new stream has not
     * listed them yet), its local stream and its state name.
     * @param {{devices?: DeviceInfo[], local: any, state: string}} input
     */
    update({ devices: listed, local, state }) {
      if (Array.isArray(listed) && listed.length > 0) devices = listed;
      const kinds = pickerKinds(widgetKind, local);
      let shown = 0;
      for (const kind of /** @type {PickKind[]} */ (["video", "audio"])) {
        const options = kinds.includes(kind) ? pickerOptions(devices, kind) : [];
        if (options.length < 2) {
          const entry = selects.get(kind);
          if (entry) setHidden(entry.select, true);
          continue;
        }
        shown += 1;
        const entry = ensure(kind);
        const key = JSON.stringify(options);
        if (key !== entry.key) {
          entry.key = key;
          while (entry.select.children.length > 0) entry.select.children[0].remove();
          for (const o of options) {
            const option = make("option", "", o.label);
            option.value = o.deviceId;
            entry.select.appendChild(option);
          }
        }
        // Unknown while a new stream starts: the one picked last stays shown.
        const current = currentDevice(local, kind);
        if (current) entry.current = current;
        if (entry.current && entry.select.value !== entry.current) entry.select.value = entry.current;
        setHidden(entry.select, false);
        setDisabled(entry.select, state !== "live");
      }
      setHidden(box, shown === 0);
    },
    /** @param {PickKind} kind @returns {any} the select of `kind` (null before one was needed) */
    select(kind) {
      return selects.get(kind)?.select ?? null;
    },
  };
}
