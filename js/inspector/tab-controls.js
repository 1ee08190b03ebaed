// The Controls tab: what a teacher changes on a live stream: the kernel's network
// emulation (loss, delay, rate), the video codec, a bitrate cap, an ICE restart. Every
// field is checked here against what the kernel accepts (LIMITS) before a request goes
// out through ctx.onControl as {action, args}; the kernel checks again. Trait `controls`:
// {enabled, can_restart_ice, network, codecs, codec, max_bitrate}. A field the person
// is editing keeps their text when the trait changes.

import { formatNumber } from "./charts.js";
import { elements, tabListeners } from "./tab.js";
import { arr, isNum, obj, str } from "./values.js";

export const LABEL = "Controls";
/** The trait this tab draws. */
export const TRAIT = "controls";

/** What the kernel's set_network accepts (nbrtc/_inspection/netem.py): loss in [0, 1), delay in
 * [0, 10000] ms, rate None or >= 8 kbit/s. */
export const LIMITS = Object.freeze({
  lossBelow: 100,
  delayMax: 10000,
  rateMin: 8,
  rateMax: 1_000_000,
  bitrateMaxKbps: 1_000_000,
});

/**
 * A number typed by a person: "" -> null, "1,5" -> 1.5, anything else not a plain
 * decimal number -> NaN.
 * @param {unknown} text
 * @returns {number | null}
 */
export function parseNumber(text) {
  const s = str(text).trim().replace(",", ".");
  if (s === "") return null;
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(s)) return NaN;
  return Number(s);
}

/**
 * Check the network emulation fields (loss in %, delay in ms, rate in kbit/s; rate ""
 * means no limit, loss and delay "" mean 0) against LIMITS.
 * @param {{loss: unknown, delay: unknown, rate: unknown}} fields
 * @returns {{ok: true, args: {loss: number, delay_ms: number, rate_kbps: number | null}}
 *   | {ok: false, errors: Partial<Record<"loss" | "delay" | "rate", string>>}}
 */
export function validateNetwork(fields) {
  /** @type {Partial<Record<"loss" | "delay" | "rate", string>>} */
  const errors = {};
  const loss = parseNumber(fields.loss) ?? 0;
  const delay = parseNumber(fields.delay) ?? 0;
  const rate = parseNumber(fields.rate);
  if (!isNum(loss) || loss < 0 || loss >= LIMITS.lossBelow) {
    errors.loss = "Loss must be a number from 0 to below 100 (%).";
  }
  if (!isNum(delay) || delay < 0 || delay > LIMITS.delayMax) {
    errors.delay = `Delay must be a number from 0 to ${LIMITS.delayMax} ms.`;
  }
  if (rate !== null && (!isNum(rate) || rate < LIMITS.rateMin || rate > LIMITS.rateMax)) {
    errors.rate = `Rate must be a number of kbit/s from ${LIMITS.rateMin} (empty: no limit).`;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return {
    ok: true,
    args: { loss: Number((loss / 100).toFixed(6)), delay_ms: delay, rate_kbps: rate },
  };
}

/**
 * Check the max bitrate field (kbit/s; "" means no cap) and give bits per second.
 * @param {unknown} text
 * @returns {{ok: true, bps: number | null} | {ok: false, error: string}}
 */
export function validateBitrate(text) {
  const kbps = parseNumber(text);
  if (kbps === null) return { ok: true, bps: null };
  if (!isNum(kbps) || kbps <= 0 || kbps > LIMITS.bitrateMaxKbps) {
    return { ok: false, error: "Max bitrate must be a positive number of kbit/s (empty: no cap)." };
  }
  return { ok: true, bps: Math.round(kbps * 1000) };
}

/**
 * The inputs' text for the kernel's current network settings.
 * @param {any} network
 * @returns {{loss: string, delay: string, rate: string}}
 */
export function networkFields(network) {
  const n = obj(network);
  return {
    loss: isNum(n.loss) ? String(Number((n.loss * 100).toFixed(4))) : "",
    delay: isNum(n.delay_ms) ? String(n.delay_ms) : "",
    rate: isNum(n.rate_kbps) ? String(n.rate_kbps) : "",
  };
}

/**
 * The kernel's network emulation in words.
 * @param {any} network
 */
export function describeNetwork(network) {
  const n = obj(network);
  const parts = [];
  if (isNum(n.loss) && n.loss > 0) parts.push(`loss ${formatNumber(n.loss * 100)}%`);
  if (isNum(n.delay_ms) && n.delay_ms > 0) parts.push(`delay ${formatNumber(n.delay_ms)} ms`);
  if (isNum(n.rate_kbps) && n.rate_kbps > 0) parts.push(`rate ${formatNumber(n.rate_kbps)} kbit/s`);
  const dir = n.direction ? ` (${str(n.direction)})` : "";
  return parts.length ? `Now: ${parts.join(", ")}${dir}` : "Now: no network emulation";
}

/**
 * Build the controls inside `el` (its panel).
 * @type {import("./tab.js").MountTab}
 */
export function mount(el, ctx) {
  const { doc, onControl } = ctx;
  const { make } = elements(doc);
  const { on, stop } = tabListeners(ctx);

  const ctl = make("div", "nbrtc-ctl");
  const ctlNote = make("div", "nbrtc-ctl-note");
  const ctlStatus = make("div", "nbrtc-ctl-status");
  /** @type {Record<string, any>} */
  const errs = {};
  /**
   * @param {string} key
   * @param {string} labelText
   * @param {string} cls
   * @param {string} placeholder
   */
  const field = (key, labelText, cls, placeholder) => {
    const box = make("div", "nbrtc-ctl-field");
    const input = make("input", cls);
    input.type = "text";
    input.setAttribute("inputmode", "decimal");
    input.placeholder = placeholder;
    input.value = "";
    input.dataset.dirty = "false";
    const label = make("label", undefined, labelText);
    const err = make("div", "nbrtc-ctl-error");
    err.dataset.for = key;
    errs[key] = err;
    box.append(label, input, err);
    on(input, "input", () => {
      input.dataset.dirty = "true";
      setError(key, "");
    });
    return { box, input };
  };
  /**
   * @param {string} key
   * @param {string} message
   */
  const setError = (key, message) => {
    errs[key].textContent = message;
    const input = { loss: lossIn, delay: delayIn, rate: rateIn, max_bitrate: bitrateIn }[key];
    input?.setAttribute("aria-invalid", message ? "true" : "false");
  };

  const netSet = make("fieldset");
  netSet.appendChild(make("legend", undefined, "Network emulation (kernel side)"));
  const netRow = make("div", "nbrtc-ctl-row");
  const { box: lossBox, input: lossIn } = field("loss", "Packet loss (%)", "nbrtc-ctl-loss", "0");
  const { box: delayBox, input: delayIn } = field("delay", "Delay (ms)", "nbrtc-ctl-delay", "0");
  const { box: rateBox, input: rateIn } = field("rate", "Rate (kbit/s)", "nbrtc-ctl-rate", "no limit");
  const netButtons = make("div", "nbrtc-ctl-buttons");
  const applyBtn = make("button", "nbrtc-ctl-apply", "Apply");
  applyBtn.type = "button";
  const clearBtn = make("button", "nbrtc-ctl-clear", "Clear");
  clearBtn.type = "button";
  netButtons.append(applyBtn, clearBtn);
  netRow.append(lossBox, delayBox, rateBox, netButtons);
  const netCurrent = make("div", "nbrtc-ctl-current", describeNetwork(null));
  netSet.append(netRow, netCurrent);

  const mediaSet = make("fieldset");
  mediaSet.appendChild(make("legend", undefined, "Media"));
  const mediaRow = make("div", "nbrtc-ctl-row");
  const codecBox = make("div", "nbrtc-ctl-field");
  const codecSel = make("select", "nbrtc-ctl-codec");
  codecBox.append(make("label", undefined, "Video codec"), codecSel);
  const { box: bitrateBox, input: bitrateIn } = field(
    "max_bitrate",
    "Max bitrate (kbit/s)",
    "nbrtc-ctl-maxbitrate",
    "no cap",
  );
  const bitrateButtons = make("div", "nbrtc-ctl-buttons");
  const bitrateBtn = make("button", "nbrtc-ctl-bitrate", "Set");
  bitrateBtn.type = "button";
  bitrateButtons.appendChild(bitrateBtn);
  const restartButtons = make("div", "nbrtc-ctl-buttons");
  const restartBtn = make("button", "nbrtc-ctl-restart", "Restart ICE");
  restartBtn.type = "button";
  restartButtons.appendChild(restartBtn);
  mediaRow.append(codecBox, bitrateBox, bitrateButtons, restartButtons);
  mediaSet.append(mediaRow);
  ctl.append(ctlNote, netSet, mediaSet, ctlStatus);
  el.appendChild(ctl);

  let codecsSig = "";
  let controlsEnabled = false;
  let canRestart = false;

  /**
   * @param {string} action
   * @param {Record<string, any>} args
   * @param {string} words
   */
  const request = (action, args, words) => {
    if (!controlsEnabled) return false;
    try {
      if (!onControl) throw new Error("no connection to the kernel");
      onControl(action, args);
    } catch (err) {
      ctlStatus.dataset.kind = "error";
      ctlStatus.textContent = `Could not send ${action}: ${/** @type {any} */ (err)?.message ?? err}`;
      return false;
    }
    ctlStatus.dataset.kind = "info";
    ctlStatus.textContent = `Requested: ${words}`;
    return true;
  };

  const applyNetwork = () => {
    const result = validateNetwork({ loss: lossIn.value, delay: delayIn.value, rate: rateIn.value });
    for (const key of ["loss", "delay", "rate"]) {
      setError(key, result.ok ? "" : (result.errors[/** @type {"loss"} */ (key)] ?? ""));
    }
    if (!result.ok) return;
    const a = result.args;
    const words = `loss ${formatNumber(a.loss * 100)}%, delay ${formatNumber(a.delay_ms)} ms, rate ${
      a.rate_kbps === null ? "unlimited" : `${formatNumber(a.rate_kbps)} kbit/s`
    }`;
    if (request("set_network", a, words)) {
      for (const input of [lossIn, delayIn, rateIn]) input.dataset.dirty = "false";
    }
  };
  /** @param {number} bps */
  const kbpsText = (bps) => `${formatNumber(bps / 1000)} kbit/s`;
  const setBitrate = () => {
    const result = validateBitrate(bitrateIn.value);
    setError("max_bitrate", result.ok ? "" : result.error);
    if (!result.ok) return;
    const words = result.bps === null ? "no bitrate cap" : `max bitrate ${kbpsText(result.bps)}`;
    if (request("set_max_bitrate", { bps: result.bps }, words)) bitrateIn.dataset.dirty = "false";
  };

  on(applyBtn, "click", applyNetwork);
  on(clearBtn, "click", () => {
    for (const key of ["loss", "delay", "rate"]) setError(key, "");
    if (request("clear_network", {}, "no network emulation")) {
      for (const input of [lossIn, delayIn, rateIn]) {
        input.value = "";
        input.dataset.dirty = "false";
      }
    }
  });
  on(bitrateBtn, "click", setBitrate);
  on(restartBtn, "click", () => {
    if (canRestart) request("restart_ice", {}, "ICE restart");
  });
  on(codecSel, "change", () => {
    const codec = str(codecSel.value);
    request("set_codec", { codec }, codec ? `codec ${codec}` : "the browser's default codec");
  });
  for (const input of [lossIn, delayIn, rateIn]) {
    on(input, "keydown", (ev) => {
      if (ev.key === "Enter" && !ev.isComposing) applyNetwork();
    });
  }
  on(bitrateIn, "keydown", (ev) => {
    if (ev.key === "Enter" && !ev.isComposing) setBitrate();
  });

  /** @param {any} value */
  const setControls = (value) => {
    const c = obj(value);
    controlsEnabled = c.enabled === true;
    canRestart = c.can_restart_ice === true;
    ctlNote.textContent = controlsEnabled ? "" : "Controls are unavailable: the stream is not live or the kernel cannot change it.";
    for (const node of [lossIn, delayIn, rateIn, applyBtn, clearBtn, codecSel, bitrateIn, bitrateBtn]) {
      node.disabled = !controlsEnabled;
    }
    restartBtn.disabled = !(controlsEnabled && canRestart);
    restartBtn.title = canRestart ? "Ask for a new ICE negotiation (new candidates, same stream)" : "ICE restart is not available for this stream";
    // Fields the person is editing keep their text.
    const fields = networkFields(c.network);
    for (const [input, text] of /** @type {[any, string][]} */ ([
      [lossIn, fields.loss],
      [delayIn, fields.delay],
      [rateIn, fields.rate],
    ])) {
      if (input.dataset.dirty !== "true") input.value = text;
    }
    netCurrent.textContent = describeNetwork(c.network);
    if (bitrateIn.dataset.dirty !== "true") {
      bitrateIn.value = isNum(c.max_bitrate) ? String(Number((c.max_bitrate / 1000).toFixed(3))) : "";
    }
    const codecs = arr(c.codecs).map(str).filter(Boolean);
    const codec = str(c.codec);
    if (codec && !codecs.includes(codec)) codecs.push(codec);
    const sig = JSON.stringify(codecs);
    if (sig !== codecsSig) {
      codecsSig = sig;
      const options = [["", "browser default"], ...codecs.map((x) => [x, x])].map(([v, text]) => {
        const opt = make("option", undefined, text);
        opt.value = v;
        return opt;
      });
      codecSel.replaceChildren(...options);
    }
    codecSel.value = codec;
  };

  return {
    update: setControls,
    destroy() {
      stop();
      el.replaceChildren();
    },
  };
}
