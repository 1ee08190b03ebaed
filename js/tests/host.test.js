// The notebook host: VS Code's notebook view denies capture (microsoft/vscode#119127), so a
// camera, microphone or screen there says so in words instead of "allow camera access".
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeError } from "../core/errors.js";
import { hostOf } from "../core/env.js";
import { acquireDevice } from "../peer/device.js";

describe("host", () => {
  test("VS Code's webview is recognized, a browser tab is not", () => {
    assert.equal(hostOf({ location: { protocol: "vscode-webview:" } }), "vscode");
    assert.equal(hostOf({ acquireVsCodeApi: () => ({}) }), "vscode");
    assert.equal(hostOf({ location: { protocol: "https:" } }), "");
    assert.equal(hostOf({}), "");
  });

  for (const kind of ["camera", "microphone", "screen"]) {
    test(`a ${kind} in VS Code fails in words without asking for the device`, async () => {
      let asked = 0;
      const ask = async () => {
        asked += 1;
        throw Object.assign(new Error("denied"), { name: "NotAllowedError" });
      };
      const peer = /** @type {any} */ ({
        kind,
        closed: false,
        model: { get: () => ({}) },
        _audioRequest: null,
        env: { host: "vscode", mediaDevices: { getUserMedia: ask, getDisplayMedia: ask } },
      });
      const err = await acquireDevice(peer).then(
        () => assert.fail("acquireDevice resolved"),
        (e) => e,
      );
      assert.equal(err.name, "HostNoCapture");
      assert.equal(asked, 0, "the device was never asked for");
      const { words } = describeError(err, kind);
      assert.match(words, new RegExp(`VS Code's notebook view does not allow ${kind} capture`));
      assert.match(words, /JupyterLab or Jupyter Notebook in a browser/);
      assert.doesNotMatch(words, /Allow .* access/);
    });
  }
});
