// Where nbrtc's CSS lives: in .css files under js/, gathered by the two CSS entries
// (js/widget.css, js/inspector.css) that js/build.mjs bundles into static/*.css, which
// the Python widgets hand anywidget as `_css`. No view injects a <style> of its own.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const JS = join(dirname(fileURLToPath(import.meta.url)), "..");
const STATIC = join(JS, "..", "src", "nbrtc", "static");

/**
 * The CSS an entry gathers: its own text and every @import, recursively (as esbuild
 * inlines them). A missing import fails here, as it would fail the build.
 * @param {string} file
 * @returns {string}
 */
function gather(file) {
  const text = readFileSync(file, "utf8");
  const imports = [...text.matchAll(/@import\s+"([^"]+)"\s*;/g)].map((m) => join(dirname(file), m[1]));
  assert.ok(text.includes("@import") === imports.length > 0, `${file}: an @import this test cannot read`);
  for (const f of imports) assert.ok(existsSync(f), `${relative(JS, file)} imports ${relative(JS, f)}, which is missing`);
  return [text, ...imports.map(gather)].join("\n");
}

/** @param {string} dir @returns {string[]} the front-end's .js/.mjs sources, tests excluded */
function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return d.name === "tests" ? [] : sources(p);
    return /\.m?js$/.test(d.name) && d.name !== "build.mjs" ? [p] : [];
  });
}

// Selectors each bundle must style: the root of every view and a part of every tab.
const EXPECTED = {
  "widget.css": [".nbrtc-root", ".nbrtc-hidden", ".nbrtc-channels", ".nbrtc-room-grid", ".nbrtc-room-tile", ".nbrtc-doctor-table"],
  "inspector.css": [
    ".nbrtc-inspector",
    ".nbrtc-insp-tab",
    ".nbrtc-insp-panel",
    ".nbrtc-chart",
    ".nbrtc-log-row",
    ".nbrtc-sdp-line",
    ".nbrtc-cand",
    ".nbrtc-seg",
    ".nbrtc-ctl",
    ".nbrtc-room-compare",
  ],
};

describe("stylesheets", () => {
  for (const [entry, selectors] of Object.entries(EXPECTED)) {
    test(`js/${entry} gathers the styles of its views`, () => {
      const css = gather(join(JS, entry));
      for (const sel of selectors) assert.ok(css.includes(`${sel} `) || css.includes(`${sel}{`) || css.includes(`${sel}[`), sel);
    });

    test(`static/${entry}, when built, carries the same rules`, (t) => {
      const built = join(STATIC, entry);
      if (!existsSync(built)) {
        t.skip("not built (npm run build)");
        return;
      }
      const css = readFileSync(built, "utf8");
      assert.ok(!css.includes("@import"), "esbuild inlines every @import");
      for (const sel of selectors) assert.ok(css.includes(sel), `${sel} missing from the built ${entry}`);
    });
  }

  test("no module injects a <style>: anywidget applies `_css`", () => {
    const files = sources(JS);
    assert.ok(files.some((f) => f.endsWith(join("peer", "view.js"))), "the scan sees js/peer/view.js");
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      assert.doesNotMatch(text, /createElement\(\s*["'`]style["'`]\s*\)/, relative(JS, file));
      assert.doesNotMatch(text, /adoptedStyleSheets|insertRule\(/, relative(JS, file));
    }
  });
});
