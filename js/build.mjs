// Bundle js/widget.js into src/nbrtc/static/widget.js (what the Python package ships),
// and js/inspector.js (the Inspector widget) into src/nbrtc/static/inspector.js; the
// loader that imports either once per page (js/loader.js) into static/loader.js; their
// stylesheets js/widget.css and js/inspector.css (which @import the per-folder .css
// files) into static/widget.css and static/inspector.css, anywidget's `_css` for them.
// The bundle's version comes from package.json and must equal the Python package's
// (src/nbrtc/_version.py), because the widget compares it with the `_version` trait
// at run time; a mismatch here fails the build instead of confusing a user later.
//
//   node js/build.mjs           release build: minified, no source map
//   node js/build.mjs --watch   rebuild on change: unminified, inline source maps (npm run dev)
//   node js/build.mjs --inline-map [--outdir DIR]   minified with an inline source map: the
//                               release build before 0.1 (benchmarks/bundle.py compares them)

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

const pyVersionFile = join(root, "src", "nbrtc", "_version.py");
let pyVersion;
try {
  const match = /__version__\s*=\s*["']([^"']+)["']/.exec(readFileSync(pyVersionFile, "utf8"));
  pyVersion = match ? match[1] : null;
} catch {
  pyVersion = null; // no Python tree (front-end only checkout): nothing to compare
}
if (pyVersion !== null && pyVersion !== version) {
  console.error(
    `package.json version ${version} differs from src/nbrtc/_version.py ${pyVersion}; ` +
      "make them equal before building.",
  );
  process.exit(1);
}

const args = process.argv.slice(2);
const watch = args.includes("--watch");
const inlineMap = watch || args.includes("--inline-map");
const outdirAt = args.indexOf("--outdir");
const outdir = outdirAt >= 0 && args[outdirAt + 1] ? args[outdirAt + 1] : join(root, "src", "nbrtc", "static");
/** @type {import("esbuild").BuildOptions} */
const common = {
  outdir,
  // outbase keeps the outputs flat (static/widget.js, static/widget.css ...)
  outbase: join(root, "js"),
  bundle: true,
  minify: !watch,
  logLevel: "info",
};
/** @type {import("esbuild").BuildOptions[]} */
const builds = [
  {
    ...common,
    entryPoints: [join(root, "js", "widget.js"), join(root, "js", "inspector.js")],
    format: "esm",
    target: ["es2022"],
    // Release builds carry no source map: anywidget syncs `_esm` with every widget model
    // (into the kernel's memory, over the comm, into notebooks saved with widget state and
    // every HTML export), and an inline map made the bundle 6x larger. `npm run dev`
    // (--watch) keeps inline maps for debugging. (A separate .map file cannot help:
    // anywidget loads the bundle from text, so a relative sourceMappingURL resolves nowhere.)
    sourcemap: inlineMap ? "inline" : false,
    define: { __NBRTC_VERSION__: JSON.stringify(version) },
  },
  // The loader every model's `_esm` is (js/loader.js): it imports the bundle above once
  // per page; a model carries the bundle in its `_module` trait.
  { ...common, entryPoints: [join(root, "js", "loader.js")], format: "esm", target: ["es2022"], sourcemap: false },
  // The stylesheets get no source map: inline, it would be a comment as large as the
  // CSS that anywidget copies into the page's <style>.
  { ...common, entryPoints: [join(root, "js", "widget.css"), join(root, "js", "inspector.css")] },
];

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
