import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PROBE_TIMEOUT_MS, Probe, pageIsRemote, runDoctor, selectedPair } from "../inspector/doctor.js";
import { renderDoctor } from "../inspector/doctor-view.js";
import { createRouter } from "../core/router.js";
import { FakeDocument, FakeModel, fakeBrowser, flush, quietLog } from "./fakes.js";

const TURN = { id: "turn-0", label: "TURN over TCP", url: "turn:t.test:443?transport=tcp", kind: "turn", transport: "tcp", policy: "relay" };
const HOST = { id: "host", label: "direct", url: "", kind: "host", transport: "udp", policy: "all" };
const COMM = { id: "comm", label: "comm", url: "", kind: "comm", transport: "comm", policy: "all" };

function setup() {
  const browser = fakeBrowser();
  let n = 0;
  const router = createRouter({ log: quietLog(), pageTarget: null, batchMs: 0, randomHex: () => `abcdef0${n++}` });
  const model = new FakeModel({ kind: "probe", state: "new", paths: [], table_rows: [], advice: [] });
  const env = { ...browser.env };
  /** The kernel: answers every ice-servers ask of `sid` with `servers`. */
  const kernel = (type, stream, payload) => model.emit({ v: 1, type, stream, payload });
  return { browser, router, model, env, kernel };
}

/** Echo what the probe sends on its channel after `ms` of fake time, like the kernel. */
async function echoAll(browser, dc, ms = 4) {
  for (let i = 0; i < 20 && dc.readyState === "open"; i++) {
    await flush();
    const pending = dc.sent.splice(0);
    for (const token of pending) {
      browser.advance(ms);
      dc.receive(token);
    }
  }
}

describe("a WebRTC probe", () => {
  test("binds its stream to the path, asks for that path's server, offers a data channel only, relay-only, echoes, reports, says bye", async () => {
    const { browser, router, model, env, kernel } = setup();
    const probe = new Probe({ model, router, path: TURN, env });
    const done = probe.run();
    await flush();
    assert.deepEqual(model.sent.map((m) => m.type), ["doctor", "ice-servers"]);
    assert.deepEqual(model.sent[0].payload, { op: "probe", path: "turn-0", remote: false });
    const servers = [{ urls: TURN.url, username: "1:x", credential: "c" }];
    kernel("ice-servers", probe.id, { iceServers: servers });
    await flush();
    const [pc] = browser.world.pcs;
    assert.deepEqual(pc.config, { iceServers: servers, iceTransportPolicy: "relay", bundlePolicy: "max-bundle" });
    assert.equal(pc.transceivers.length, 0, "no media section");
    pc.candidate({ candidate: "candidate:1 1 udp 1 192.0.2.9 5000 typ relay", sdpMid: "0", sdpMLineIndex: 0 });
    await flush();
    const offer = model.sentOf("offer")[0];
    assert.equal(offer.payload.kind, "probe");
    assert.equal(offer.payload.view, "turn-0");
    assert.equal(model.sentOf("candidate").length, 1, "a candidate gathered before the offer follows it");
    kernel("answer", probe.id, { sdp: "v=0\r\nanswer\r\n" });
    await flush();
    assert.equal(pc.remoteDescription.sdp, "v=0\r\nanswer\r\n");
    pc.statsReports = [
      { id: "T", type: "transport", selectedCandidatePairId: "P" },
      { id: "P", type: "candidate-pair", localCandidateId: "L", remoteCandidateId: "R" },
      { id: "L", type: "local-candidate", candidateType: "relay", protocol: "udp", relayProtocol: "tcp" },
      { id: "R", type: "remote-candidate", candidateType: "host" },
    ];
    const [dc] = pc.channels;
    assert.equal(dc.label, "doctor");
    dc.open();
    await echoAll(browser, dc);
    const row = await done;
    assert.equal(row.result, "ok");
    assert.equal(row.rtt_ms, 4);
    assert.deepEqual([row.local, row.protocol, row.remote], ["relay", "tcp", "host"]);
    const sentRow = model.sentOf("doctor")[1].payload;
    assert.equal(sentRow.op, "row");
    assert.equal(model.sentOf("bye").length, 1);
    assert.ok(pc.closed);
    assert.deepEqual(router.streams(), []);
    assert.equal(browser.world.timers.size, 0, "no timer left");
  });

  test("a path that does not connect fails after the probe's timeout, in words, and closes", async () => {
    const { browser, router, model, env, kernel } = setup();
    const probe = new Probe({ model, router, path: HOST, env });
    const done = probe.run();
    await flush();
    kernel("ice-servers", probe.id, { iceServers: [] });
    await flush();
    browser.advance(PROBE_TIMEOUT_MS);
    const row = await done;
    assert.equal(row.result, "failed");
    assert.match(row.why, /not connected within 8 s/);
    assert.ok(browser.world.pcs[0].closed);
    assert.equal(model.sentOf("bye").length, 1);
    assert.ok(model.sentOf("ping").length >= 6, "the kernel's watchdog heard the probe meanwhile");
  });

  test("relay-only with no allocation fails at once with the TURN server's error, forwarded to the kernel", async () => {
    const { browser, router, model, env, kernel } = setup();
    const probe = new Probe({ model, router, path: TURN, env });
    const done = probe.run();
    await flush();
    kernel("ice-servers", probe.id, { iceServers: [{ urls: TURN.url, username: "u", credential: "bad" }] });
    await flush();
    const [pc] = browser.world.pcs;
    pc.dispatchEvent(Object.assign(new Event("icecandidateerror"), { url: TURN.url, errorCode: 401, errorText: "Unauthorized" }));
    pc.setState("iceGatheringState", "complete", "icegatheringstatechange");
    const row = await done;
    assert.equal(row.result, "failed");
    assert.match(row.why, /no relay candidate.*401 Unauthorized/);
    assert.deepEqual(row.errors, [{ url: TURN.url, code: 401, text: "Unauthorized" }]);
    assert.equal(model.sentOf("ice-error").length, 1);
  });
});

describe("the comm probe", () => {
  test("times ice-servers asks through the router; no peer, no bye", async () => {
    const { browser, router, model, env, kernel } = setup();
    const probe = new Probe({ model, router, path: COMM, env });
    const done = probe.run();
    for (let i = 0; i < 3; i++) {
      await flush();
      browser.advance(10 + i);
      kernel("ice-servers", probe.id, { iceServers: [] });
    }
    const row = await done;
    assert.equal(row.result, "ok");
    assert.equal(row.rtt_ms, 11);
    assert.equal(browser.world.pcs.length, 0);
    assert.equal(model.sentOf("bye").length, 0);
  });

  test("a refusal from the kernel is the row's reason", async () => {
    const { router, model, env, kernel } = setup();
    const probe = new Probe({ model, router, path: COMM, env });
    const done = probe.run();
    await flush();
    kernel("error", probe.id, { code: "closed", message: "this doctor has finished", ref: { type: "doctor" } });
    const row = await done;
    assert.equal(row.result, "failed");
    assert.match(row.why, /closed: this doctor has finished/);
  });
});

test("runDoctor runs at most three probes at once and cancel() closes them (bye each)", async () => {
  const { browser, router, model, env } = setup();
  const paths = ["host", "stun-0", "turn-1", "turn-2", "turn-3"].map((id) => ({ ...HOST, id }));
  const run = runDoctor({ model, router, paths, env });
  await flush();
  assert.equal(router.streams().length, 3);
  run.cancel();
  await flush();
  assert.deepEqual(router.streams(), []);
  assert.equal(browser.leaks().pcs, 0);
});

test("the view draws the kernel's table as text, runs the probes only for a new doctor, and cleans up", async () => {
  const { browser, router, env } = setup();
  const doc = new FakeDocument();
  const model = new FakeModel({
    kind: "probe",
    state: "done",
    paths: [HOST],
    table_rows: [{ id: "host", path: "direct", url: "", result: "failed", rtt_ms: null, via: "", why: "<b>blocked</b>" }],
    advice: ["UDP to the kernel is blocked"],
  });
  const el = doc.createElement("div");
  const cleanup = renderDoctor({ model, el, router, env, doc, location: { hostname: "127.0.0.1" } });
  browser.advance(1);
  await flush();
  assert.equal(browser.world.pcs.length + model.sentOf("doctor").length, 0, "a finished doctor is not run again");
  const root = el.find("nbrtc-doctor");
  assert.equal(root.dataset.state, "done");
  const cells = root.find("nbrtc-doctor-table").all().filter((c) => c.tagName === "TD").map((c) => c.textContent);
  assert.deepEqual(cells, ["direct", "failed", "", "", "<b>blocked</b>"]);
  assert.equal(root.find("nbrtc-doctor-advice").children[0].textContent, "UDP to the kernel is blocked");
  cleanup();
  assert.equal(el.children.length, 0);
  assert.equal(model.count("change:state"), 0);

  const fresh = new FakeModel({ kind: "probe", state: "new", paths: [COMM], table_rows: [], advice: [] });
  renderDoctor({ model: fresh, el, router, env, doc, location: { hostname: "hub.example" } })();
  browser.advance(1);
  await flush();
  assert.equal(fresh.sentOf("doctor").length, 0, "removed before its start: nothing runs");
  renderDoctor({ model: fresh, el, router, env, doc, location: { hostname: "hub.example" } });
  browser.advance(1);
  await flush();
  assert.deepEqual(fresh.sentOf("doctor")[0].payload, { op: "probe", path: "comm", remote: true });
});

test("helpers: remote page, selected pair", () => {
  assert.equal(pageIsRemote({ hostname: "localhost" }), false);
  assert.equal(pageIsRemote({ hostname: "127.0.0.1" }), false);
  assert.equal(pageIsRemote({ hostname: "[::1]" }), false);
  assert.equal(pageIsRemote({ hostname: "hub.example" }), true);
  assert.equal(selectedPair(new Map()), null);
  const report = new Map([
    ["P", { id: "P", type: "candidate-pair", nominated: true, state: "succeeded", localCandidateId: "L", remoteCandidateId: "R" }],
    ["L", { id: "L", type: "local-candidate", candidateType: "host", protocol: "udp" }],
    ["R", { id: "R", type: "remote-candidate", candidateType: "srflx" }],
  ]);
  assert.deepEqual(selectedPair(report), { local: "host", protocol: "udp", remote: "srflx" });
});
