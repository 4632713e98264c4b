// The frontend report: the size of what a browser downloads (wasm and JS, raw, gzip, brotli)
// and how fast the app renders in headless Chromium, cold cache, median of several loads. The
// sizes are the storefront's (dist's own files), what the first page loads; the account app's
// build (dist/account: signing in and the signed-in pages) and the admin portal's (dist/admin),
// which only their own pages load, are totalled on a line each.
// With the whole stack at SHOP_URL it measures the time to the first catalog render (the
// app's `catalog-first-render` performance mark); with the web service alone, the app's first
// render (`app-rendered`).
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { ARTIFACTS_DIR, SHOP_URL, launch } from "./lib.mjs";

const DIST = process.env.FRONTEND_DIST
  ? path.resolve(process.env.FRONTEND_DIST)
  : fileURLToPath(new URL("../dist", import.meta.url));
const RUNS = Number(process.env.REPORT_RUNS ?? 5);
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

async function sizes(dir) {
  const files = (await readdir(dir).catch(() => [])).filter((name) => /\.(wasm|js|css)$/.test(name)).sort();
  const rows = [];
  for (const name of files) {
    const raw = await readFile(path.join(dir, name));
    rows.push({
      file: name,
      raw: raw.length,
      gzip: gzipSync(raw, { level: 9 }).length,
      brotli: brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
    });
  }
  return rows;
}

function median(values) {
  const sorted = values.filter((v) => v !== null).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
}

async function timings(browser) {
  const runs = [];
  for (let i = 0; i < RUNS; i += 1) {
    const context = await browser.newContext({ baseURL: SHOP_URL });
    const page = await context.newPage();
    await page.goto("/products");
    // The catalog mark needs products from the API; without one the page shows its error
    // state instead, and there is nothing to measure.
    const catalog = await page
      .waitForFunction(() => {
        const mark = performance.getEntriesByName("catalog-first-render")[0];
        if (mark) return { at: mark.startTime };
        return document.querySelector('main [role="alert"]') ? { at: null } : false;
      }, null, { timeout: 20000 })
      .then((handle) => handle.jsonValue())
      .then((result) => result.at)
      .catch(() => null);
    const measured = await page.evaluate(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      return {
        html: nav?.responseEnd ?? null,
        domContentLoaded: nav?.domContentLoadedEventEnd ?? null,
        app: performance.getEntriesByName("app-rendered")[0]?.startTime ?? null,
      };
    });
    runs.push({ ...measured, catalog });
    await context.close();
  }
  return runs;
}

const browser = await launch();
const files = await sizes(DIST);
const accountFiles = await sizes(path.join(DIST, "account"));
const adminFiles = await sizes(path.join(DIST, "admin"));
const runs = await timings(browser);
await browser.close();

console.log(`frontend report (${DIST}, ${SHOP_URL})`);
console.log("");
console.log("  file                                         raw         gzip       brotli");
for (const row of files) {
  console.log(`  ${row.file.padEnd(40)} ${kib(row.raw).padStart(11)} ${kib(row.gzip).padStart(11)} ${kib(row.brotli).padStart(11)}`);
}
const total = (rows, pattern) =>
  rows.filter((row) => pattern.test(row.file)).reduce((sum, row) => ({
    raw: sum.raw + row.raw, gzip: sum.gzip + row.gzip, brotli: sum.brotli + row.brotli,
  }), { raw: 0, gzip: 0, brotli: 0 });
const code = total(files, /\.(wasm|js)$/);
console.log(`  ${"wasm + JS".padEnd(40)} ${kib(code.raw).padStart(11)} ${kib(code.gzip).padStart(11)} ${kib(code.brotli).padStart(11)}`);
for (const [label, rows] of [["account app (account/)", accountFiles], ["admin portal (admin/)", adminFiles]]) {
  if (rows.length) {
    const app = total(rows, /\.(wasm|js)$/);
    console.log(`  ${`${label}: wasm + JS`.padEnd(40)} ${kib(app.raw).padStart(11)} ${kib(app.gzip).padStart(11)} ${kib(app.brotli).padStart(11)}`);
  }
}
console.log("");
const ms = (value) => (value === null ? "n/a" : `${value.toFixed(0)} ms`);
const summary = {
  html: median(runs.map((r) => r.html)),
  domContentLoaded: median(runs.map((r) => r.domContentLoaded)),
  app: median(runs.map((r) => r.app)),
  catalog: median(runs.map((r) => r.catalog)),
};
console.log(`  headless Chromium, cold cache, median of ${RUNS} loads of /products:`);
console.log(`    index.html received        ${ms(summary.html)}`);
console.log(`    DOMContentLoaded           ${ms(summary.domContentLoaded)}`);
console.log(`    app first render           ${ms(summary.app)}`);
console.log(`    first catalog render       ${summary.catalog === null ? "n/a (no products: needs the whole stack, SHOP_URL)" : ms(summary.catalog)}`);

const report = path.join(ARTIFACTS_DIR, "frontend-report.json");
await writeFile(report, JSON.stringify({ shop: SHOP_URL, files, account_files: accountFiles, admin_files: adminFiles, runs, median: summary }, null, 2));
console.log(`\n  written to ${report}`);
