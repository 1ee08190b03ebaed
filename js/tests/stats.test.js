// stats.js: filtering Chrome-shaped getStats results into the flat reports a `stats`
// message carries (the kernel's _check_stats rules), the cap, selectedPair, and never
// throwing on odd input. The fixtures are hand-written after Chrome 120's getStats for
// a camera sender (the camera widget) and a video receiver (the view widget).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_STATS_FIELDS, MAX_STATS_REPORTS } from "../core/protocol.js";
import {
  DEFAULT_MAX_REPORTS,
  MAX_STRING_CHARS,
  MAX_LINK_REPORTS,
  STATS_TYPES,
  collectStats,
  filterLinkStats,
  filterReport,
  filterStats,
  selectedPair,
} from "../core/stats.js";

const TS = 1718000000123.456; // Chrome: epoch milliseconds, fractional

/** A camera sender's getStats (VP8, host candidates, one data channel). */
function senderReports() {
  return [
    { id: "P", type: "peer-connection", timestamp: TS, dataChannelsOpened: 1, dataChannelsClosed: 0 },
    {
      id: "CIT01_96_level-asymmetry-allowed=1",
      type: "codec",
      timestamp: TS,
      transportId: "T01",
      payloadType: 96,
      mimeType: "video/VP8",
      clockRate: 90000,
    },
    { id: "CIT01_111", type: "codec", timestamp: TS, transportId: "T01", payloadType: 111, mimeType: "audio/opus", clockRate: 48000, channels: 2, sdpFmtpLine: "minptime=10;useinbandfec=1" },
    { id: "CFabc", type: "certificate", timestamp: TS, fingerprint: "AB:CD", fingerprintAlgorithm: "sha-256", base64Certificate: "MIIB".repeat(200) },
    {
      id: "CPa1b2c3d4_e5f6a7b8",
      type: "candidate-pair",
      timestamp: TS,
      transportId: "T01",
      localCandidateId: "Ia1b2c3d4",
      remoteCandidateId: "Ie5f6a7b8",
      state: "succeeded",
      priority: 9115038255631187000,
      nominated: true,
      writable: true,
      packetsSent: 2100,
      packetsReceived: 410,
      bytesSent: 1890000,
      bytesReceived: 38000,
      totalRoundTripTime: 0.012,
      currentRoundTripTime: 0.001,
      availableOutgoingBitrate: 2500000,
      requestsReceived: 8,
      requestsSent: 1,
      responsesReceived: 8,
      responsesSent: 8,
      consentRequestsSent: 7,
      packetsDiscardedOnSend: 0,
      bytesDiscardedOnSend: 0,
      lastPacketReceivedTimestamp: TS - 20,
      lastPacketSentTimestamp: TS - 3,
    },
    {
      id: "CPzz_yy",
      type: "candidate-pair",
      timestamp: TS,
      transportId: "T01",
      localCandidateId: "Izz",
      remoteCandidateId: "Iyy",
      state: "waiting",
      nominated: false,
      bytesSent: 0,
      bytesReceived: 0,
    },
    {
      id: "DC01",
      type: "data-channel",
      timestamp: TS,
      label: "nbrtc",
      protocol: "",
      dataChannelIdentifier: 0,
      state: "open",
      messagesSent: 3,
      bytesSent: 120,
      messagesReceived: 2,
      bytesReceived: 80,
    },
    {
      id: "Ia1b2c3d4",
      type: "local-candidate",
      timestamp: TS,
      transportId: "T01",
      isRemote: false,
      networkType: "ethernet",
      ip: "192.168.1.20",
      address: "192.168.1.20",
      port: 54321,
      protocol: "udp",
      candidateType: "host",
      priority: 2122260223,
      foundation: "1234567890",
      usernameFragment: "abcd",
    },
    { id: "Izz", type: "local-candidate", timestamp: TS, transportId: "T01", address: "10.0.0.5", port: 50000, protocol: "udp", candidateType: "host", priority: 2122194687 },
    { id: "Iunpaired", type: "local-candidate", timestamp: TS, transportId: "T01", address: "fe80::1", port: 50001, protocol: "udp", candidateType: "host" },
    {
      id: "Ie5f6a7b8",
      type: "remote-candidate",
      timestamp: TS,
      transportId: "T01",
      isRemote: true,
      ip: "192.168.1.10",
      address: "192.168.1.10",
      port: 40000,
      protocol: "udp",
      candidateType: "host",
      priority: 2130706431,
      foundation: "0",
    },
    { id: "Iyy", type: "remote-candidate", timestamp: TS, transportId: "T01", address: "172.17.0.1", port: 40001, protocol: "udp", candidateType: "host" },
    {
      id: "OT01V1234567",
      type: "outbound-rtp",
      timestamp: TS,
      ssrc: 1234567,
      kind: "video",
      transportId: "T01",
      codecId: "CIT01_96_level-asymmetry-allowed=1",
      mid: "1",
      mediaSourceId: "SV2",
      remoteId: "RIV1234567",
      packetsSent: 2000,
      bytesSent: 1800000,
      headerBytesSent: 48000,
      retransmittedPacketsSent: 2,
      retransmittedBytesSent: 2400,
      targetBitrate: 1500000,
      framesEncoded: 300,
      keyFramesEncoded: 2,
      totalEncodeTime: 0.9,
      totalEncodedBytesTarget: 0,
      frameWidth: 640,
      frameHeight: 480,
      framesPerSecond: 30,
      framesSent: 300,
      hugeFramesSent: 0,
      totalPacketSendDelay: 0.5,
      qualityLimitationReason: "none",
      qualityLimitationDurations: { bandwidth: 0, cpu: 0, none: 10.2, other: 0 },
      qualityLimitationResolutionChanges: 0,
      encoderImplementation: "libvpx",
      powerEfficientEncoder: false,
      active: true,
      scalabilityMode: "L1T1",
      nackCount: 1,
      firCount: 0,
      pliCount: 1,
      qpSum: 6000,
    },
    {
      id: "RIV1234567",
      type: "remote-inbound-rtp",
      timestamp: TS - 400,
      ssrc: 1234567,
      kind: "video",
      transportId: "T01",
      codecId: "CIT01_96_level-asymmetry-allowed=1",
      localId: "OT01V1234567",
      packetsReceived: 1995,
      packetsLost: 5,
      jitter: 0.002,
      roundTripTime: 0.004,
      totalRoundTripTime: 0.04,
      fractionLost: 0.0078125,
      roundTripTimeMeasurements: 10,
    },
    {
      id: "SV2",
      type: "media-source",
      timestamp: TS,
      trackIdentifier: "4f1c2a9e-1111-2222-3333-444455556666",
      kind: "video",
      width: 640,
      height: 480,
      frames: 301,
      framesPerSecond: 30,
    },
    {
      id: "T01",
      type: "transport",
      timestamp: TS,
      packetsSent: 2110,
      packetsReceived: 420,
      bytesSent: 1900000,
      bytesReceived: 39000,
      iceRole: "controlling",
      iceLocalUsernameFragment: "abcd",
      iceState: "connected",
      dtlsState: "connected",
      dtlsRole: "client",
      selectedCandidatePairId: "CPa1b2c3d4_e5f6a7b8",
      selectedCandidatePairChanges: 1,
      srtpCipher: "AES_CM_128_HMAC_SHA1_80",
      tlsVersion: "FEFD",
      dtlsCipher: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
      localCertificateId: "CFabc",
      remoteCertificateId: "CFdef",
    },
  ];
}

/** A video receiver's getStats: inbound-rtp and remote-outbound-rtp. */
function receiverReports() {
  return [
    {
      id: "IT01V99",
      type: "inbound-rtp",
      timestamp: TS,
      ssrc: 99,
      kind: "video",
      transportId: "T01",
      codecId: "CIT01_97",
      trackIdentifier: "remote-track",
      mid: "0",
      packetsReceived: 1500,
      packetsLost: 3,
      jitter: 0.004,
      bytesReceived: 1400000,
      headerBytesReceived: 36000,
      framesReceived: 290,
      framesDecoded: 288,
      keyFramesDecoded: 3,
      framesDropped: 2,
      framesRendered: 287,
      frameWidth: 320,
      frameHeight: 240,
      framesPerSecond: 29,
      totalDecodeTime: 0.58,
      totalInterFrameDelay: 9.6,
      totalSquaredInterFrameDelay: 0.4,
      freezeCount: 0,
      nackCount: 2,
      pliCount: 1,
      firCount: 0,
      jitterBufferDelay: 12.3,
      jitterBufferEmittedCount: 288,
      decoderImplementation: "libvpx",
      powerEfficientDecoder: false,
      lastPacketReceivedTimestamp: TS - 5,
      remoteId: "ROV99",
    },
    { id: "CIT01_97", type: "codec", timestamp: TS, transportId: "T01", payloadType: 97, mimeType: "video/VP8", clockRate: 90000 },
    { id: "ROV99", type: "remote-outbound-rtp", timestamp: TS - 700, ssrc: 99, kind: "video", transportId: "T01", codecId: "CIT01_97", localId: "IT01V99", packetsSent: 1503, bytesSent: 1401000, remoteTimestamp: TS - 701, reportsSent: 9 },
    { id: "T01", type: "transport", timestamp: TS, bytesSent: 30000, bytesReceived: 1450000, dtlsState: "connected", iceState: "connected", selectedCandidatePairId: "CP1" },
    { id: "CP1", type: "candidate-pair", timestamp: TS, transportId: "T01", localCandidateId: "L1", remoteCandidateId: "R1", state: "succeeded", nominated: true, currentRoundTripTime: 0.002 },
    { id: "L1", type: "local-candidate", timestamp: TS, address: "127.0.0.1", port: 5000, protocol: "udp", candidateType: "host" },
    { id: "R1", type: "remote-candidate", timestamp: TS, address: "127.0.0.1", port: 6000, protocol: "udp", candidateType: "host" },
  ];
}

/** A Map-like RTCStatsReport, as browsers return it. */
function statsMap(reports) {
  return new Map(reports.map((r) => [r.id, r]));
}

/** The kernel's _check_stats rules (src/nbrtc/_signaling/protocol.py), for the output. */
function assertAcceptable(reports) {
  assert.ok(Array.isArray(reports));
  assert.ok(reports.length <= MAX_STATS_REPORTS);
  for (const r of reports) {
    assert.equal(Object.getPrototypeOf(r), Object.prototype);
    assert.ok(Object.keys(r).length <= MAX_STATS_FIELDS, `${r.id} has too many fields`);
    assert.equal(typeof r.id, "string");
    assert.ok(r.id.length <= 256);
    assert.equal(typeof r.type, "string");
    for (const [k, v] of Object.entries(r)) {
      assert.ok(k.length <= 64);
      const ok =
        v === null ||
        typeof v === "boolean" ||
        (typeof v === "number" && Number.isFinite(v)) ||
        (typeof v === "string" && v.length <= 512);
      assert.ok(ok, `${r.id}.${k} is not flat: ${String(v)}`);
    }
  }
  // And it survives JSON unchanged (what the comm does to it).
  assert.deepEqual(JSON.parse(JSON.stringify(reports)), reports);
}

describe("filterReport", () => {
  test("keeps id, type, timestamp and the type's scalar fields", () => {
    const out = filterReport(senderReports().find((r) => r.type === "outbound-rtp"));
    assert.equal(out.id, "OT01V1234567");
    assert.equal(out.type, "outbound-rtp");
    assert.equal(out.timestamp, TS);
    assert.equal(out.bytesSent, 1800000);
    assert.equal(out.framesPerSecond, 30);
    assert.equal(out.qualityLimitationReason, "none");
    assert.equal(out.codecId, "CIT01_96_level-asymmetry-allowed=1");
    assert.equal(out.active, true);
    assert.equal("qualityLimitationDurations" in out, false, "nested object dropped");
    assert.equal("totalEncodedBytesTarget" in out, false, "not on the allowlist");
    assertAcceptable([out]);
  });
  test("drops types outside STATS_TYPES and reports without id/type", () => {
    assert.equal(filterReport({ id: "P", type: "peer-connection" }), null);
    assert.equal(filterReport({ id: "C", type: "certificate", fingerprint: "x" }), null);
    assert.equal(filterReport({ type: "codec" }), null);
    assert.equal(filterReport({ id: "", type: "codec" }), null);
    assert.equal(filterReport({ id: "x".repeat(257), type: "codec" }), null);
    assert.equal(filterReport({ id: 5, type: "codec" }), null);
    assert.equal(filterReport({ id: "a", type: 5 }), null);
    for (const bad of [null, undefined, 3, "codec", true, []]) assert.equal(filterReport(bad), null);
  });
  test("keeps null, drops nested values, non-finite numbers, bigints and huge strings", () => {
    const out = filterReport({
      id: "I1",
      type: "inbound-rtp",
      timestamp: NaN,
      kind: "video",
      jitter: Infinity,
      packetsLost: -Infinity,
      frameWidth: null,
      frameHeight: [240],
      framesDecoded: 10n,
      trackIdentifier: "x".repeat(MAX_STRING_CHARS + 1),
      decoderImplementation: "y".repeat(MAX_STRING_CHARS),
      mid: () => "0",
      packetsReceived: { value: 1 },
      bytesReceived: undefined,
    });
    assert.deepEqual(out, {
      id: "I1",
      type: "inbound-rtp",
      kind: "video",
      frameWidth: null,
      decoderImplementation: "y".repeat(MAX_STRING_CHARS),
    });
    assertAcceptable([out]);
  });
  test("a throwing getter costs one field; a throwing report costs the report", () => {
    const report = {
      id: "C1",
      type: "codec",
      mimeType: "video/VP8",
      get clockRate() {
        throw new Error("boom");
      },
    };
    assert.deepEqual(filterReport(report), { id: "C1", type: "codec", mimeType: "video/VP8" });
    const hostile = new Proxy({}, { get() { throw new Error("nope"); } });
    assert.equal(filterReport(hostile), null);
  });
  test("every type's field list fits the kernel's bound", () => {
    for (const type of STATS_TYPES) {
      const everything = new Proxy({ id: "x", type, timestamp: 1 }, {
        get: (t, k) => (k in t ? t[k] : 1),
      });
      const out = filterReport(everything);
      assert.ok(out, type);
      assert.ok(Object.keys(out).length <= MAX_STATS_FIELDS, type);
    }
  });
});

describe("filterStats", () => {
  test("a camera sender's sample: kept types, paired candidates only, flat", () => {
    const out = filterStats(statsMap(senderReports()));
    assertAcceptable(out);
    const ids = out.map((r) => r.id);
    assert.deepEqual(ids, [
      "CIT01_96_level-asymmetry-allowed=1",
      "CIT01_111",
      "CPa1b2c3d4_e5f6a7b8",
      "CPzz_yy",
      "DC01",
      "Ia1b2c3d4",
      "Izz",
      "Ie5f6a7b8",
      "Iyy",
      "OT01V1234567",
      "RIV1234567",
      "SV2",
      "T01",
    ]);
    const cand = out.find((r) => r.id === "Ia1b2c3d4");
    assert.equal(cand.address, "192.168.1.20");
    assert.equal("ip" in cand, false, "the deprecated duplicate is dropped");
    assert.equal("isRemote" in cand, false);
    const transport = out.find((r) => r.type === "transport");
    assert.equal(transport.selectedCandidatePairId, "CPa1b2c3d4_e5f6a7b8");
    assert.equal("localCertificateId" in transport, false);
  });
  test("a receiver's sample", () => {
    const out = filterStats(receiverReports());
    assertAcceptable(out);
    const inbound = out.find((r) => r.type === "inbound-rtp");
    assert.equal(inbound.framesDecoded, 288);
    assert.equal(inbound.totalDecodeTime, 0.58);
    assert.equal(inbound.frameHeight, 240);
    assert.equal("totalSquaredInterFrameDelay" in inbound, false);
    assert.equal(out.find((r) => r.type === "remote-outbound-rtp").bytesSent, 1401000);
  });
  test("accepts a Map, an array, a forEach-only object, an iterable, a plain object", () => {
    const reports = receiverReports();
    const expected = filterStats(reports);
    assert.deepEqual(filterStats(statsMap(reports)), expected);
    const forEachOnly = { forEach: (cb) => reports.forEach((r) => cb(r, r.id)) };
    assert.deepEqual(filterStats(forEachOnly), expected);
    const iterable = { *[Symbol.iterator]() { yield* reports; } };
    assert.deepEqual(filterStats(iterable), expected);
    assert.deepEqual(filterStats(Object.fromEntries(reports.map((r) => [r.id, r]))), expected);
    for (const nothing of [null, undefined, 0, "x", {}]) assert.deepEqual(filterStats(nothing), []);
  });
  test("drops duplicate ids (first wins)", () => {
    const out = filterStats([
      { id: "C", type: "codec", mimeType: "video/VP8" },
      { id: "C", type: "codec", mimeType: "video/H264" },
    ]);
    assert.deepEqual(out, [{ id: "C", type: "codec", mimeType: "video/VP8" }]);
  });
  test("cap keeps the selected pair, transport and RTP first, drops extra pairs with their candidates", () => {
    const reports = senderReports();
    // A multi-homed host: 100 more waiting pairs with their own candidates.
    for (let i = 0; i < 100; i++) {
      reports.push({ id: `CPx${i}`, type: "candidate-pair", localCandidateId: `Lx${i}`, remoteCandidateId: `Rx${i}`, state: "waiting", nominated: false });
      reports.push({ id: `Lx${i}`, type: "local-candidate", address: `10.1.0.${i}`, port: 1000 + i, protocol: "udp", candidateType: "host" });
      reports.push({ id: `Rx${i}`, type: "remote-candidate", address: `10.2.0.${i}`, port: 2000 + i, protocol: "udp", candidateType: "host" });
    }
    const full = filterStats(reports, { maxReports: 1000 });
    assert.equal(full.length, MAX_STATS_REPORTS, "313 reports, clamped to the kernel's bound");
    assertAcceptable(full);
    assert.equal(full.some((r) => r.id === "CIT01_111"), false, "an unreferenced codec goes first");
    const out = filterStats(reports, { maxReports: 10 });
    assertAcceptable(out);
    assert.equal(out.length, 10);
    const ids = new Set(out.map((r) => r.id));
    for (const must of ["T01", "CPa1b2c3d4_e5f6a7b8", "Ia1b2c3d4", "Ie5f6a7b8", "OT01V1234567", "RIV1234567"]) {
      assert.ok(ids.has(must), `${must} kept`);
    }
    // Then what the outbound-rtp references, the data channel and one more pair.
    assert.ok(ids.has("CIT01_96_level-asymmetry-allowed=1"));
    assert.ok(ids.has("SV2"));
    assert.ok(ids.has("DC01"));
    assert.ok(ids.has("CPzz_yy"));
    // No candidate without its pair.
    for (const r of out) {
      if (r.type.endsWith("-candidate")) {
        assert.ok(out.some((p) => p.type === "candidate-pair" && (p.localCandidateId === r.id || p.remoteCandidateId === r.id)), r.id);
      }
    }
    // Kept reports stay in getStats order.
    const order = reports.map((r) => r.id).filter((id) => ids.has(id));
    assert.deepEqual(out.map((r) => r.id), order);
  });
  test("maxReports is clamped to the kernel's bound, and defaults to DEFAULT_MAX_REPORTS", () => {
    const many = [];
    for (let i = 0; i < 400; i++) many.push({ id: `DC${i}`, type: "data-channel", label: `c${i}`, state: "open" });
    assert.equal(filterStats(many, { maxReports: 10_000 }).length, MAX_STATS_REPORTS);
    assert.equal(filterStats(many).length, DEFAULT_MAX_REPORTS);
    assert.equal(filterStats(many, { maxReports: 0 }).length, 0);
    assert.equal(filterStats(many, { maxReports: -5 }).length, 0);
    assert.equal(filterStats(many, { maxReports: "junk" }).length, DEFAULT_MAX_REPORTS);
    assert.equal(filterStats(many, { maxReports: Infinity }).length, MAX_STATS_REPORTS);
  });
});

describe("selectedPair", () => {
  test("via transport.selectedCandidatePairId", () => {
    const sel = selectedPair(filterStats(senderReports()));
    assert.equal(sel.pair.id, "CPa1b2c3d4_e5f6a7b8");
    assert.equal(sel.local.address, "192.168.1.20");
    assert.equal(sel.remote.port, 40000);
  });
  test("else the nominated succeeded pair with the most traffic", () => {
    const reports = senderReports().filter((r) => r.type !== "transport");
    reports.push({ id: "CPb", type: "candidate-pair", localCandidateId: "Izz", remoteCandidateId: "Iyy", state: "succeeded", nominated: true, bytesSent: 10, bytesReceived: 0 });
    const sel = selectedPair(filterStats(reports));
    assert.equal(sel.pair.id, "CPa1b2c3d4_e5f6a7b8");
    const other = reports.filter((r) => r.id !== "CPa1b2c3d4_e5f6a7b8");
    assert.equal(selectedPair(filterStats(other)).pair.id, "CPb");
  });
  test("Firefox's `selected` flag", () => {
    const sel = selectedPair([
      { id: "p1", type: "candidate-pair", state: "succeeded", nominated: true, bytesSent: 999, localCandidateId: "l" },
      { id: "p2", type: "candidate-pair", state: "succeeded", nominated: true, selected: true, bytesSent: 1, localCandidateId: "l" },
      { id: "l", type: "local-candidate", address: "1.2.3.4" },
    ]);
    assert.equal(sel.pair.id, "p2");
    assert.equal(sel.local.id, "l");
    assert.equal(sel.remote, null, "missing candidate report -> null");
  });
  test("null when nothing is selected, and on junk", () => {
    const reports = senderReports().filter((r) => r.type !== "transport" && r.type !== "candidate-pair");
    assert.equal(selectedPair(reports), null);
    assert.equal(selectedPair([{ id: "T", type: "transport", selectedCandidatePairId: "gone" }]), null);
    for (const junk of [null, undefined, {}, "x", [null, 3, "a"]]) assert.equal(selectedPair(junk), null);
  });
});

describe("collectStats", () => {
  test("samples an open pc", async () => {
    const pc = { connectionState: "connected", signalingState: "stable", getStats: async () => statsMap(receiverReports()) };
    const out = await collectStats(pc);
    assert.deepEqual(out, filterStats(receiverReports()));
    assert.equal((await collectStats(pc, { maxReports: 2 })).length, 2);
  });
  test("resolves [] for a closed pc without calling getStats", async () => {
    let calls = 0;
    const getStats = async () => {
      calls += 1;
      return statsMap(receiverReports());
    };
    assert.deepEqual(await collectStats({ connectionState: "closed", getStats }), []);
    assert.deepEqual(await collectStats({ signalingState: "closed", getStats }), []);
    assert.equal(calls, 0);
  });
  test("resolves [] when getStats throws, rejects or is missing", async () => {
    assert.deepEqual(await collectStats({ getStats: () => { throw new Error("InvalidStateError"); } }), []);
    assert.deepEqual(await collectStats({ getStats: () => Promise.reject(new Error("closed")) }), []);
    assert.deepEqual(await collectStats({ getStats: async () => null }), []);
    assert.deepEqual(await collectStats({}), []);
    assert.deepEqual(await collectStats(null), []);
    assert.deepEqual(await collectStats(undefined), []);
  });
});

describe("filterLinkStats (a room link's sample)", () => {
  test("the connection summary only: transport, selected pair, its candidates, RTP", () => {
    const out = filterLinkStats(statsMap(senderReports()));
    assertAcceptable(out);
    const types = new Set(out.map((r) => r.type));
    for (const type of types) {
      assert.ok(
        ["transport", "candidate-pair", "local-candidate", "remote-candidate", "outbound-rtp", "inbound-rtp", "remote-inbound-rtp"].includes(type),
        `${type} is not part of a link's summary`,
      );
    }
    assert.equal(out.filter((r) => r.type === "candidate-pair").length, 1, "only the selected pair");
    const sel = selectedPair(filterStats(statsMap(senderReports())));
    assert.equal(out.find((r) => r.type === "candidate-pair").id, sel.pair.id);
    assert.ok(out.length < filterStats(statsMap(senderReports())).length, "smaller than the Inspector's sample");
  });

  test("fewer fields than the Inspector's, and the deprecated ip the kernel also reads", () => {
    const reports = [
      { id: "L", type: "local-candidate", address: "10.0.0.2", ip: "10.0.0.2", port: 1, foundation: "f" },
      { id: "P", type: "candidate-pair", localCandidateId: "L", remoteCandidateId: "R", selected: true, requestsSent: 3 },
    ];
    const out = filterLinkStats(reports);
    assert.deepEqual(out.find((r) => r.id === "L"), { id: "L", type: "local-candidate", address: "10.0.0.2", ip: "10.0.0.2", port: 1 });
    assert.equal("requestsSent" in out.find((r) => r.id === "P"), false);
    assert.equal("ip" in filterReport(reports[0]), false, "the Inspector's filter still drops it");
  });

  test("at most MAX_LINK_REPORTS; never throws", () => {
    const many = Array.from({ length: 3 * MAX_LINK_REPORTS }, (_, i) => ({ id: `I${i}`, type: "inbound-rtp", bytesReceived: i }));
    assert.equal(filterLinkStats(many).length, MAX_LINK_REPORTS);
    assert.ok(MAX_LINK_REPORTS <= MAX_STATS_REPORTS);
    for (const junk of [null, undefined, 3, "x", { forEach() { throw new Error("boom"); } }]) {
      assert.deepEqual(filterLinkStats(junk), []);
    }
  });
});
