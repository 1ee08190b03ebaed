// The peer's getStats, filtered to what the kernel's Inspector uses (docs/protocol.md
// "Inspection"). The browser samples RTCPeerConnection.getStats() about once a second
// and sends the result in a `stats` message; the kernel refuses reports that are not
// flat (string id and type, every other field a number, boolean, null or short string),
// reports of more than MAX_STATS_FIELDS fields and samples of more than
// MAX_STATS_REPORTS reports. Pure apart from calling pc.getStats(): no DOM, no timers,
// so node's test runner can load it. Nothing here throws: a stats sample is a
// diagnostic, and a broken one must never take the stream down.
//
// Two selections over the same report filter: filterStats (a stream's whole sample, for
// the Inspector) and filterLinkStats (a room link's connection summary: the selected
// pair, its candidates, the transport and the RTP reports, with fewer fields, because a
// room of N views sends N·(N-1) samples a second).

import { MAX_STATS_FIELDS, MAX_STATS_REPORTS } from "./protocol.js";

/** Longest string value kept (the kernel refuses longer ones). */
export const MAX_STRING_CHARS = 512;
/** Longest `id` / `type` the kernel accepts. */
const MAX_ID_CHARS = 256;
const MAX_TYPE_CHARS = 64;
/** Reports kept per sample unless the caller asks otherwise (a camera has ~15). */
export const DEFAULT_MAX_REPORTS = 120;

// Fields of the RTP stream reports (webrtc-stats RTCRtpStreamStats) shared by all four.
const RTP = ["ssrc", "kind", "transportId", "codecId"];

/**
 * The scalar fields kept per report type, besides id, type and timestamp. An allowlist,
 * not a blocklist: browsers keep adding fields (some large, some nested), and each one
 * kept costs bytes every second on the comm. Every list is well under MAX_STATS_FIELDS.
 * @type {Readonly<Record<string, readonly string[]>>}
 */
const FIELDS = Object.freeze({
  "inbound-rtp": [
    ...RTP,
    "mid",
    "trackIdentifier",
    "packetsReceived",
    "packetsLost",
    "jitter",
    "bytesReceived",
    "headerBytesReceived",
    "framesReceived",
    "framesDecoded",
    "keyFramesDecoded",
    "framesDropped",
    "framesRendered",
    "frameWidth",
    "frameHeight",
    "framesPerSecond",
    "totalDecodeTime",
    "totalInterFrameDelay",
    "freezeCount",
    "totalFreezesDuration",
    "pauseCount",
    "qpSum",
    "nackCount",
    "pliCount",
    "firCount",
    "jitterBufferDelay",
    "jitterBufferEmittedCount",
    "decoderImplementation",
    "powerEfficientDecoder",
    "totalSamplesReceived",
    "concealedSamples",
    "audioLevel",
    "lastPacketReceivedTimestamp",
    "retransmittedPacketsReceived",
    "fecPacketsReceived",
  ],
  "outbound-rtp": [
    ...RTP,
    "mid",
    "rid",
    "mediaSourceId",
    "remoteId",
    "trackId",
    "packetsSent",
    "bytesSent",
    "headerBytesSent",
    "retransmittedPacketsSent",
    "retransmittedBytesSent",
    "targetBitrate",
    "framesSent",
    "framesEncoded",
    "keyFramesEncoded",
    "hugeFramesSent",
    "frameWidth",
    "frameHeight",
    "framesPerSecond",
    "totalEncodeTime",
    "totalPacketSendDelay",
    "qualityLimitationReason",
    "qualityLimitationResolutionChanges",
    "qpSum",
    "nackCount",
    "pliCount",
    "firCount",
    "encoderImplementation",
    "powerEfficientEncoder",
    "scalabilityMode",
    "active",
  ],
  "remote-inbound-rtp": [
    ...RTP,
    "localId",
    "packetsReceived",
    "packetsLost",
    "jitter",
    "fractionLost",
    "roundTripTime",
    "totalRoundTripTime",
    "roundTripTimeMeasurements",
  ],
  "remote-outbound-rtp": [
    ...RTP,
    "localId",
    "packetsSent",
    "bytesSent",
    "remoteTimestamp",
    "reportsSent",
    "roundTripTime",
    "totalRoundTripTime",
    "roundTripTimeMeasurements",
  ],
  "media-source": [
    "kind",
    "trackIdentifier",
    "width",
    "height",
    "frames",
    "framesPerSecond",
    "audioLevel",
    "totalAudioEnergy",
    "totalSamplesDuration",
  ],
  codec: ["transportId", "payloadType", "mimeType", "clockRate", "channels", "sdpFmtpLine"],
  transport: [
    "packetsSent",
    "packetsReceived",
    "bytesSent",
    "bytesReceived",
    "iceRole",
    "iceState",
    "dtlsState",
    "dtlsRole",
    "selectedCandidatePairId",
    "selectedCandidatePairChanges",
    "srtpCipher",
    "dtlsCipher",
    "tlsVersion",
  ],
  "candidate-pair": [
    "transportId",
    "localCandidateId",
    "remoteCandidateId",
    "state",
    "nominated",
    "selected", // Firefox marks the selected pair here (it has no selectedCandidatePairId)
    "writable",
    "priority",
    "packetsSent",
    "packetsReceived",
    "bytesSent",
    "bytesReceived",
    "currentRoundTripTime",
    "totalRoundTripTime",
    "availableOutgoingBitrate",
    "availableIncomingBitrate",
    "requestsSent",
    "requestsReceived",
    "responsesSent",
    "responsesReceived",
    "consentRequestsSent",
    "packetsDiscardedOnSend",
    "lastPacketSentTimestamp",
    "lastPacketReceivedTimestamp",
  ],
  "local-candidate": [
    "transportId",
    "address",
    "port",
    "protocol",
    "candidateType",
    "priority",
    "url",
    "relayProtocol",
    "relatedAddress",
    "relatedPort",
    "tcpType",
    "networkType",
    "foundation",
  ],
  "remote-candidate": [
    "transportId",
    "address",
    "port",
    "protocol",
    "candidateType",
    "priority",
    "url",
    "relayProtocol",
    "relatedAddress",
    "relatedPort",
    "tcpType",
    "foundation",
  ],
  "data-channel": [
    "label",
    "protocol",
    "dataChannelIdentifier",
    "state",
    "messagesSent",
    "bytesSent",
    "messagesReceived",
    "bytesReceived",
  ],
});

/** Report types kept; every other type (certificate, peer-connection, ...) is dropped. */
export const STATS_TYPES = Object.freeze(Object.keys(FIELDS));

/**
 * The fields a room link's sample keeps per type (filterLinkStats): what the kernel's
 * link summary reads (selected pair, candidates, bytes, RTT; src/nbrtc room `_summarize`)
 * and a few rates for the Inspector. Candidates keep the deprecated `ip` as well: the
 * kernel reads `address or ip`, so an older browser's link still names its address.
 * @type {Readonly<Record<string, readonly string[]>>}
 */
const LINK_FIELDS = Object.freeze({
  "candidate-pair": [
    "transportId",
    "localCandidateId",
    "remoteCandidateId",
    "state",
    "nominated",
    "selected",
    "bytesSent",
    "bytesReceived",
    "currentRoundTripTime",
    "availableOutgoingBitrate",
  ],
  "local-candidate": ["address", "ip", "port", "protocol", "candidateType", "networkType"],
  "remote-candidate": ["address", "ip", "port", "protocol", "candidateType"],
  transport: ["selectedCandidatePairId", "dtlsState", "iceState", "iceRole", "bytesSent", "bytesReceived"],
  "outbound-rtp": [
    "kind",
    "ssrc",
    "bytesSent",
    "packetsSent",
    "framesSent",
    "framesEncoded",
    "framesPerSecond",
    "frameWidth",
    "frameHeight",
    "qualityLimitationReason",
  ],
  "inbound-rtp": [
    "kind",
    "ssrc",
    "bytesReceived",
    "packetsReceived",
    "packetsLost",
    "jitter",
    "framesReceived",
    "framesDecoded",
    "framesDropped",
    "framesPerSecond",
    "frameWidth",
    "frameHeight",
  ],
  "remote-inbound-rtp": ["kind", "ssrc", "packetsLost", "jitter", "roundTripTime", "fractionLost"],
});

/** Reports kept per link sample (the kernel accepts MAX_STATS_REPORTS; a link has about a dozen). */
export const MAX_LINK_REPORTS = 40;

/**
 * A value the kernel accepts in a flat report, or undefined to drop the field: finite
 * numbers (JSON has no NaN/Infinity), booleans, null, strings of at most
 * MAX_STRING_CHARS characters. Objects, arrays, functions and bigints are dropped.
 * @param {any} value
 * @returns {number | boolean | string | null | undefined}
 */
function scalar(value) {
  if (value === null) return null;
  switch (typeof value) {
    case "number":
      return Number.isFinite(value) ? value : undefined;
    case "boolean":
      return value;
    case "string":
      return value.length <= MAX_STRING_CHARS ? value : undefined;
    default:
      return undefined;
  }
}

/**
 * One getStats report as a flat object the kernel accepts, or null when its type is not
 * in the allowlist (STATS_TYPES by default) or it has no usable id. Keeps id, type,
 * timestamp and the type's allowlisted scalar fields; drops nested values, non-finite
 * numbers and over-long strings. Never throws (a report with throwing getters yields
 * null or fewer fields).
 * @param {any} report
 * @param {Readonly<Record<string, readonly string[]>>} [fields] type -> kept fields
 * @returns {Record<string, number | boolean | string | null> | null}
 */
export function filterReport(report, fields = FIELDS) {
  try {
    if (report === null || typeof report !== "object") return null;
    const { id, type } = report;
    if (typeof type !== "string" || type.length > MAX_TYPE_CHARS || !Object.hasOwn(fields, type)) {
      return null;
    }
    if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_CHARS) return null;
    /** @type {Record<string, number | boolean | string | null>} */
    const out = { id, type };
    const ts = scalar(report.timestamp);
    if (typeof ts === "number") out.timestamp = ts;
    let count = Object.keys(out).length;
    for (const key of fields[type]) {
      if (count >= MAX_STATS_FIELDS) break; // defensive: the lists are far shorter
      let value;
      try {
        value = scalar(report[key]);
      } catch {
        continue; // a throwing getter costs that field only
      }
      if (value === undefined) continue;
      out[key] = value;
      count += 1;
    }
    return out;
  } catch {
    return null;
  }
}

/**
 * The raw reports of an RTCStatsReport (Map-like: values() or forEach), an array, any
 * iterable, or a plain id -> report object. Never throws.
 * @param {any} statsReport
 * @returns {any[]}
 */
function rawReports(statsReport) {
  try {
    if (statsReport === null || typeof statsReport !== "object") return [];
    if (Array.isArray(statsReport)) return statsReport.slice();
    if (typeof statsReport.values === "function") return Array.from(statsReport.values());
    if (typeof statsReport.forEach === "function") {
      /** @type {any[]} */
      const list = [];
      statsReport.forEach((/** @type {any} */ r) => list.push(r));
      return list;
    }
    if (typeof statsReport[Symbol.iterator] === "function") return Array.from(statsReport);
    return Object.values(statsReport);
  } catch {
    return [];
  }
}

/**
 * The selected candidate pair of a sample and its two candidates: the pair named by a
 * transport's selectedCandidatePairId (Chrome, Safari), else one marked `selected`
 * (Firefox), else the nominated succeeded pair with the most traffic. local/remote are
 * null when the sample lacks those candidate reports. Never throws.
 * @param {any[]} reports flat reports (or raw ones)
 * @returns {{pair: any, local: any, remote: any} | null}
 */
export function selectedPair(reports) {
  try {
    if (!Array.isArray(reports)) return null;
    const byId = new Map();
    for (const r of reports) if (r && typeof r.id === "string") byId.set(r.id, r);
    const pairs = reports.filter((r) => r && r.type === "candidate-pair");
    let pair = null;
    for (const r of reports) {
      if (r && r.type === "transport" && typeof r.selectedCandidatePairId === "string") {
        const p = byId.get(r.selectedCandidatePairId);
        if (p && p.type === "candidate-pair") {
          pair = p;
          break;
        }
      }
    }
    pair ??= pairs.find((p) => p.selected === true) ?? null;
    if (!pair) {
      const traffic = (/** @type {any} */ p) => (Number(p.bytesSent) || 0) + (Number(p.bytesReceived) || 0);
      for (const p of pairs) {
        if (p.nominated === true && p.state === "succeeded" && (!pair || traffic(p) > traffic(pair))) {
          pair = p;
        }
      }
    }
    if (!pair) return null;
    const candidate = (/** @type {unknown} */ id, /** @type {string} */ type) => {
      const c = typeof id === "string" ? byId.get(id) : undefined;
      return c && c.type === type ? c : null;
    };
    return {
      pair,
      local: candidate(pair.localCandidateId, "local-candidate"),
      remote: candidate(pair.remoteCandidateId, "remote-candidate"),
    };
  } catch {
    return null;
  }
}

/**
 * Rank of a kept report when the sample must be cut to maxReports: lower is kept first.
 * The transport and the selected pair (with its candidates) explain the connection, the
 * RTP reports carry every rate, then the codecs and sources they reference; the other
 * pairs and candidates (often dozens on a multi-homed host) go first when cutting.
 * @param {any[]} reports
 * @returns {number[]}
 */
function rankReports(reports) {
  const sel = selectedPair(reports);
  const selectedIds = new Set(sel ? [sel.pair, sel.local, sel.remote].filter(Boolean).map((r) => r.id) : []);
  const referenced = new Set();
  for (const r of reports) {
    if (/rtp$/.test(r.type)) {
      if (typeof r.codecId === "string") referenced.add(r.codecId);
      if (typeof r.mediaSourceId === "string") referenced.add(r.mediaSourceId);
    }
  }
  const pairRank = new Map();
  for (const r of reports) {
    if (r.type !== "candidate-pair") continue;
    const rank = selectedIds.has(r.id) ? 0 : r.state === "succeeded" || r.nominated === true ? 5 : 6;
    pairRank.set(r.id, rank);
  }
  // A candidate ranks just after the best pair that references it, so cutting never
  // keeps a candidate while dropping its pair.
  const candidateRank = new Map();
  for (const r of reports) {
    if (r.type !== "candidate-pair") continue;
    const rank = pairRank.get(r.id) + 0.5;
    for (const id of [r.localCandidateId, r.remoteCandidateId]) {
      if (typeof id === "string" && !(candidateRank.get(id) <= rank)) candidateRank.set(id, rank);
    }
  }
  return reports.map((/** @type {any} */ r) => {
    if (selectedIds.has(r.id)) return 0;
    switch (r.type) {
      case "transport":
        return 0;
      case "outbound-rtp":
      case "inbound-rtp":
        return 1;
      case "remote-inbound-rtp":
      case "remote-outbound-rtp":
        return 2;
      case "codec":
        return referenced.has(r.id) ? 3 : 7;
      case "media-source":
        return referenced.has(r.id) ? 3 : 4;
      case "data-channel":
        return 4;
      case "candidate-pair":
        return pairRank.get(r.id);
      case "local-candidate":
      case "remote-candidate":
        return candidateRank.get(r.id) ?? Infinity;
      default:
        return 8;
    }
  });
}

/**
 * A whole getStats result as an array of flat reports (filterReport), ready for a
 * `stats` message: only STATS_TYPES; only candidates some candidate pair references
 * (the unpaired ones are noise); at most maxReports (clamped to MAX_STATS_REPORTS),
 * keeping the selected pair and its candidates, the transport and the RTP reports
 * first (a maxReports that is not a number means the default). The kept reports stay in
 * getStats order. Never throws.
 * @param {any} statsReport RTCStatsReport, array, iterable or id -> report object
 * @param {{maxReports?: number}} [options]
 * @returns {Record<string, number | boolean | string | null>[]}
 */
export function filterStats(statsReport, { maxReports = DEFAULT_MAX_REPORTS } = {}) {
  try {
    // A non-number is a caller's slip: use the default rather than send nothing.
    const asked = typeof maxReports === "number" && !Number.isNaN(maxReports) ? maxReports : DEFAULT_MAX_REPORTS;
    const cap = Math.max(0, Math.min(MAX_STATS_REPORTS, Math.floor(asked)));
    const seen = new Set();
    const flat = [];
    for (const raw of rawReports(statsReport)) {
      const r = filterReport(raw);
      if (r && !seen.has(r.id)) {
        seen.add(r.id);
        flat.push(r);
      }
    }
    const paired = new Set();
    for (const r of flat) {
      if (r.type === "candidate-pair") {
        if (typeof r.localCandidateId === "string") paired.add(r.localCandidateId);
        if (typeof r.remoteCandidateId === "string") paired.add(r.remoteCandidateId);
      }
    }
    const kept = flat.filter((r) => !String(r.type).endsWith("-candidate") || paired.has(r.id));
    if (kept.length <= cap) return kept;
    const ranks = rankReports(kept);
    const order = kept.map((_, i) => i).sort((a, b) => ranks[a] - ranks[b] || a - b);
    const keep = new Set(order.slice(0, cap));
    return kept.filter((_, i) => keep.has(i));
  } catch {
    return [];
  }
}

/**
 * A room link's getStats result, filtered for the kernel's link summary: the transports,
 * the pair each names as selected (or, while none does, the pairs marked `selected` or
 * nominated and succeeded), those pairs' candidates, and the RTP reports; each with
 * LINK_FIELDS only, at most MAX_LINK_REPORTS, in that order. Never throws.
 * @param {any} statsReport RTCStatsReport, array, iterable or id -> report object
 * @returns {Record<string, number | boolean | string | null>[]}
 */
export function filterLinkStats(statsReport) {
  try {
    const all = rawReports(statsReport);
    const byId = new Map(all.filter((r) => r && typeof r.id === "string").map((r) => [r.id, r]));
    const transports = all.filter((r) => r?.type === "transport");
    let pairs = transports
      .map((t) => byId.get(t.selectedCandidatePairId))
      .filter((p) => p && p.type === "candidate-pair");
    if (!pairs.length) {
      pairs = all.filter(
        (r) => r?.type === "candidate-pair" && (r.selected === true || (r.nominated === true && r.state === "succeeded")),
      );
    }
    const candidates = pairs.flatMap((p) => [byId.get(p.localCandidateId), byId.get(p.remoteCandidateId)]);
    const rtp = all.filter((r) => ["outbound-rtp", "inbound-rtp", "remote-inbound-rtp"].includes(r?.type));
    const out = [];
    const seen = new Set();
    for (const r of [...transports, ...pairs, ...candidates, ...rtp]) {
      if (!r || seen.has(r)) continue;
      seen.add(r);
      const flat = filterReport(r, LINK_FIELDS);
      if (flat) out.push(flat);
      if (out.length >= MAX_LINK_REPORTS) break;
    }
    return out;
  } catch {
    return [];
  }
}

/**
 * Sample `pc`: await pc.getStats(), then filterStats. Resolves [] (never rejects) when
 * there is no pc, the pc is closed, or getStats throws or rejects — a closing peer
 * races every sampling timer, and a missed sample is harmless.
 * @param {any} pc an RTCPeerConnection
 * @param {{maxReports?: number}} [options]
 * @returns {Promise<Record<string, number | boolean | string | null>[]>}
 */
export async function collectStats(pc, options) {
  try {
    if (!pc || typeof pc.getStats !== "function") return [];
    if (pc.connectionState === "closed" || pc.signalingState === "closed") return [];
    const report = await pc.getStats();
    return filterStats(report, options);
  } catch {
    return [];
  }
}
