// Bundle js/widget.js into src/nbrtc/static/widget.js (what the Python package ships),
// and js/inspector.js (the Inspector widget) into src/nbrtc/static/inspector.js.
// The bundle's version comes from package.json and must equal the Python package's
// (src/nbrtc/_version.py), because the widget compares it with the `_version` trait
// at run time; a mismatch here fails the build instead of confusing a user later.
//
//   node js/build.mjs           minified build
//   node js/build.mjs --watch   rebuild on change (unminified)

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

const watch = process.argv.includes("--watch");
/** @type {import("esbuild").BuildOptions} */
const options = {
  entryPoints: [join(root, "js", "widget.js"), join(root, "js", "inspector.js")],
  outdir: join(root, "src", "nbrtc", "static"),
  bundle: true,
  format: "esm",
  target: ["es2022"],
  minify: !watch,
  sourcemap: "inline",
  define: { __NBRTC_VERSION__: JSON.stringify(version) },
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
