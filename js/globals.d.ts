// Globals that exist only in the bundles: esbuild's `define` (js/build.mjs) replaces
// __NBRTC_VERSION__ with the package version; under node's test runner it is undefined.
declare const __NBRTC_VERSION__: string | undefined;
