// Starts the app. Trunk's own loader is an inline <script>, which the Content-Security-Policy
// (script-src 'self') forbids; Trunk.toml's pattern_script writes the hashed file names into
// <meta> tags instead, and this external module loads them.
const js = document.querySelector('meta[name="app-js"]')?.content;
const wasm = document.querySelector('meta[name="app-wasm"]')?.content;

if (!js || !wasm) {
  throw new Error("boot.js: the app-js/app-wasm <meta> tags are missing (was index.html built by trunk?)");
}

const glue = await import(js);
await glue.default({ module_or_path: wasm });
