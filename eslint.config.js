// ESLint flat config: recommended rules; browser globals for the widget code, node
// globals for the build script and the tests.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/", "src/", "build/", "dist/"] },
  js.configs.recommended,
  {
    files: ["js/**/*.js", "js/**/*.mjs"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser, __NBRTC_VERSION__: "readonly" },
    },
    rules: {
      "no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      eqeqeq: ["error", "always"],
    },
  },
  {
    files: ["js/build.mjs", "js/tests/**/*.js", "eslint.config.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.node },
    },
  },
];
