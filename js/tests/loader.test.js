// loader.js (every model's `_esm`): the bundle imported once per page, found by its id,
// asked of the kernel when the model carries no text, and the failures in words.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ASK_MS, createLoader } from "../loader.js";
import { FakeModel } from "./fakes.js";

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

function setup() {
  /** @type {string[]} */
  const imported = [];
  /** @type {{fn: () => void, ms: number, cleared: boolean}[]} */
  const timers = [];
  const cache = new Map();
  const loader = createLoader({
    cache,
    importText: async (text) => {
      imported.push(text);
      if (text === "broken") throw new SyntaxError("bad bundle");
      return { render: () => `rendered by ${text}`, initialize: () => `initialized by ${text}` };
    },
    setTimer: (fn, ms) => {
      const t = { fn, ms, cleared: false };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      t.cleared = true;
    },
  });
  /** The kernel's reply to the model's request. */
  const reply = (model, content) => {
    for (const cb of [...(model.listeners.get("msg:custom") ?? [])]) cb(content, []);
  };
  return { loader, imported, timers, cache, reply };
}

describe("loader", () => {
  test("a model carrying the text: imported once per page, by the bundle's id", async () => {
    const { loader, imported } = setup();
    const a = new FakeModel({ _module: "BUNDLE", _module_id: "widget.js:aa" });
    const b = new FakeModel({ _module: "BUNDLE", _module_id: "widget.js:aa" });
    assert.equal(await loader.render({ model: a }), "rendered by BUNDLE");
    assert.equal(await loader.initialize({ model: b }), "initialized by BUNDLE");
    assert.deepEqual(imported, ["BUNDLE"]);
    assert.equal(a.sent.length + b.sent.length, 0, "nothing asked of the kernel");
  });

  test("a model without the text is served from the page's cache", async () => {
    const { loader, imported } = setup();
    await loader.render({ model: new FakeModel({ _module: "BUNDLE", _module_id: "widget.js:aa" }) });
    const later = new FakeModel({ _module: "", _module_id: "widget.js:aa" });
    assert.equal(await loader.render({ model: later }), "rendered by BUNDLE");
    assert.deepEqual(imported, ["BUNDLE"]);
    assert.equal(later.sent.length, 0);
  });

  test("a page without the bundle asks the widget once, then imports the reply", async () => {
    const { loader, imported, timers, reply } = setup();
    const a = new FakeModel({ _module: "", _module_id: "widget.js:aa" });
    const b = new FakeModel({ _module: "", _module_id: "widget.js:aa" });
    const first = loader.render({ model: a });
    const second = loader.render({ model: b });
    await flush();
    assert.deepEqual(a.sent, [{ nbrtc_module: "widget.js:aa" }]);
    assert.equal(b.sent.length, 0, "one request per page and bundle");
    reply(a, { nbrtc_module: "widget.js:other", text: "OTHER" }); // not this request's
    reply(a, { type: "state", stream: "x" }); // the router's, not the loader's
    reply(a, { nbrtc_module: "widget.js:aa", text: "BUNDLE" });
    assert.equal(await first, "rendered by BUNDLE");
    assert.equal(await second, "rendered by BUNDLE");
    assert.deepEqual(imported, ["BUNDLE"]);
    assert.equal(timers[0].cleared, true);
    assert.equal(a.listeners.get("msg:custom")?.length ?? 0, 0, "the loader's listener is gone");
  });

  test("asking holds up neither initialize nor the reply; the bundle's initialize runs before its render", async () => {
    const calls = [];
    const cache = new Map();
    const loader = createLoader({
      cache,
      importText: async () => ({
        initialize: () => {
          calls.push("bundle initialize");
          return () => calls.push("bundle cleanup");
        },
        render: () => calls.push("bundle render"),
      }),
      setTimer: () => 0,
      clearTimer: () => {},
    });
    const model = new FakeModel({ _module: "", _module_id: "widget.js:aa" });
    // anywidget delivers the model's messages only once initialize has returned
    const cleanup = await loader.initialize({ model });
    assert.deepEqual(model.sent, [{ nbrtc_module: "widget.js:aa" }]);
    assert.deepEqual(calls, []);
    const rendered = loader.render({ model, el: null });
    for (const cb of [...(model.listeners.get("msg:custom") ?? [])]) {
      cb({ nbrtc_module: "widget.js:aa", text: "BUNDLE" }, []);
    }
    await rendered;
    assert.deepEqual(calls, ["bundle initialize", "bundle render"]);
    assert.equal(typeof cleanup, "function");
    cleanup();
    assert.deepEqual(calls, ["bundle initialize", "bundle render", "bundle cleanup"]);
  });

  test("a new bundle id (a new nbrtc after a kernel restart) is imported anew", async () => {
    const { loader, imported } = setup();
    await loader.render({ model: new FakeModel({ _module: "OLD", _module_id: "widget.js:aa" }) });
    await loader.render({ model: new FakeModel({ _module: "NEW", _module_id: "widget.js:bb" }) });
    assert.deepEqual(imported, ["OLD", "NEW"]);
  });

  test("a kernel from before _module_id: the text is the key, as before", async () => {
    const { loader, imported } = setup();
    await loader.render({ model: new FakeModel({ _module: "BUNDLE" }) });
    await loader.render({ model: new FakeModel({ _module: "BUNDLE" }) });
    assert.deepEqual(imported, ["BUNDLE"]);
  });

  test("the kernel refuses: the view fails in its words, and the next widget asks again", async () => {
    const { loader, reply } = setup();
    const a = new FakeModel({ _module: "", _module_id: "widget.js:aa" });
    const first = loader.render({ model: a });
    await flush();
    reply(a, { nbrtc_module: "widget.js:aa", error: "more than 4 requests: reload the page" });
    await assert.rejects(first, /did not send the widget's front end: more than 4 requests/);
    const b = new FakeModel({ _module: "", _module_id: "widget.js:aa" });
    const second = loader.render({ model: b });
    await flush();
    assert.deepEqual(b.sent, [{ nbrtc_module: "widget.js:aa" }]);
    reply(b, { nbrtc_module: "widget.js:aa", text: "BUNDLE" });
    assert.equal(await second, "rendered by BUNDLE");
  });

  test("no reply: the view fails after ASK_MS saying what to do", async () => {
    const { loader, timers } = setup();
    const a = new FakeModel({ _module: "", _module_id: "widget.js:aa" });
    const first = loader.render({ model: a });
    await flush();
    assert.equal(timers[0].ms, ASK_MS);
    timers[0].fn();
    await assert.rejects(first, /within 15 s: is the kernel running\? Run the cell again/);
    assert.equal(a.listeners.get("msg:custom")?.length ?? 0, 0);
  });

  test("a bundle that fails to import is forgotten", async () => {
    const { loader, imported } = setup();
    await assert.rejects(loader.render({ model: new FakeModel({ _module: "broken", _module_id: "w:1" }) }));
    await assert.rejects(loader.render({ model: new FakeModel({ _module: "broken", _module_id: "w:1" }) }));
    assert.deepEqual(imported, ["broken", "broken"]);
  });

  test("a model naming no bundle fails in words", async () => {
    const { loader } = setup();
    await assert.rejects(loader.render({ model: new FakeModel({}) }), /names no front-end bundle/);
  });
});
