// core/mount.js (the render lifecycle widget.js and room.js share) and core/cleanup.js's
// runAll / once, with a stub session that records what it is asked.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { once, runAll } from "../core/cleanup.js";
import { mountSession } from "../core/mount.js";
import { FakeModel, quietLog } from "./fakes.js";

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

function setup(traits = { state: "new" }) {
  const model = new FakeModel(traits);
  /** @type {string[]} */
  const calls = [];
  const session = {
    start: () => calls.push("start"),
    close: (reason) => calls.push(`close ${reason}`),
  };
  const release = [() => calls.push("release listeners"), () => calls.push("release dom")];
  const setState = (state) => {
    model.traits.state = state;
    for (const cb of [...(model.listeners.get("change:state") ?? [])]) cb();
  };
  return { model, calls, session, release, setState };
}

describe("mountSession", () => {
  test("starts on the next task, then cleanup closes before releasing, once", async () => {
    const { model, calls, session, release } = setup();
    const mounted = mountSession({ model, current: () => session, release });
    assert.deepEqual(calls, [], "not started during render");
    assert.equal(mounted.starting(), true);
    await nextTask();
    assert.equal(mounted.starting(), false);
    assert.deepEqual(calls, ["start"]);
    mounted.cleanup();
    mounted.cleanup();
    assert.deepEqual(calls, ["start", "close view-removed", "release listeners", "release dom"]);
    assert.equal(model.count("change:state"), 0, "its listener is gone");
  });

  test("a widget the kernel closed never starts", async () => {
    const { model, calls, session, release } = setup({ state: "closed" });
    const mounted = mountSession({ model, current: () => session, release });
    await nextTask();
    assert.deepEqual(calls, ["close closed"]);
    mounted.cleanup();
    assert.deepEqual(calls.slice(1), ["close view-removed", "release listeners", "release dom"]);
  });

  test("a close from the same cell, before the start task, wins", async () => {
    const { model, calls, session, release, setState } = setup();
    mountSession({ model, current: () => session, release });
    setState("closed");
    await nextTask();
    assert.deepEqual(calls, ["close closed", "close closed"], "closed on the change and at the start task");
    assert.ok(!calls.includes("start"));
  });

  test("the kernel's closed state closes a running session", async () => {
    const { model, calls, session, release, setState } = setup();
    mountSession({ model, current: () => session, release });
    await nextTask();
    setState("live");
    setState("closed");
    assert.deepEqual(calls, ["start", "close closed"]);
  });

  test("an aborted signal cleans up at once; a later abort cleans up then", async () => {
    const a = setup();
    const controller = new AbortController();
    controller.abort();
    mountSession({ model: a.model, current: () => a.session, release: a.release, signal: controller.signal });
    await nextTask();
    assert.deepEqual(a.calls, ["close view-removed", "release listeners", "release dom"]);

    const b = setup();
    const later = new AbortController();
    const mounted = mountSession({ model: b.model, current: () => b.session, release: b.release, signal: later.signal });
    later.abort();
    await nextTask();
    assert.deepEqual(b.calls, ["close view-removed", "release listeners", "release dom"], "never started");
    mounted.cleanup();
    assert.equal(b.calls.length, 3, "cleanup runs once");
  });

  test("current() is read at each step: a replaced session is the one closed", async () => {
    const { model, calls, release } = setup();
    let session = { start: () => calls.push("start 1"), close: (r) => calls.push(`close 1 ${r}`) };
    const mounted = mountSession({ model, current: () => session, release: [] });
    await nextTask();
    session = { start: () => calls.push("start 2"), close: (r) => calls.push(`close 2 ${r}`) };
    mounted.cleanup();
    assert.deepEqual(calls, ["start 1", "close 2 view-removed"]);
    assert.equal(release.length, 2);
  });
});

describe("runAll and once", () => {
  test("a step that throws is logged and the next still runs", () => {
    const log = quietLog();
    const ran = [];
    runAll(
      [
        () => ran.push(1),
        () => {
          throw new Error("boom");
        },
        () => ran.push(3),
      ],
      log,
    );
    assert.deepEqual(ran, [1, 3]);
    assert.equal(log.lines.filter((l) => l.level === "error").length, 1);
  });

  test("once runs its function the first time only", () => {
    let n = 0;
    const f = once(() => {
      n += 1;
    });
    f();
    f();
    assert.equal(n, 1);
  });
});
