// Shared by the browser scripts: launching Debian's Chromium through playwright-core, pages that
// record console errors and CSP violations, screenshots, and small assertions.
import { mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

/** The shop under test (the gateway, or the web service alone for the smoke test). */
export const SHOP_URL = (process.env.SHOP_URL ?? "").replace(/\/+$/, "");
/** Where screenshots and reports go (default: target/e2e-artifacts of the repository). */
export const ARTIFACTS_DIR = process.env.ARTIFACTS_DIR
  ? path.resolve(process.env.ARTIFACTS_DIR)
  : fileURLToPath(new URL("../../target/e2e-artifacts", import.meta.url));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** How long one step may take before the test fails (a slow, busy CI machine is the norm). */
export const STEP_TIMEOUT = Number(process.env.E2E_STEP_TIMEOUT_MS ?? 20000);

if (!SHOP_URL) {
  console.error("SHOP_URL is not set: expected the shop's base URL, like http://127.0.0.1:8080");
  process.exit(2);
}

/**
 * Headless Chromium with a fresh profile (Playwright creates a temporary one per launch).
 * Screenshots an earlier run left under `prefix` (and failure shots) are removed first, so the
 * folder shows this run only.
 */
export async function launch(prefix) {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  for (const name of await readdir(ARTIFACTS_DIR)) {
    if (name.startsWith("failure-") || (prefix && name.startsWith(prefix))) {
      await rm(path.join(ARTIFACTS_DIR, name));
    }
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A new browser context (its own cookies and storage: one person) and page. Console errors,
 * uncaught exceptions and CSP violations are collected in `problems`; `allow(message)` may
 * excuse expected ones (the smoke test's missing API).
 */
export async function openPage(browser, { viewport = { width: 1280, height: 900 }, allow = () => false } = {}) {
  const context = await browser.newContext({ baseURL: SHOP_URL, viewport });
  context.setDefaultTimeout(STEP_TIMEOUT);
  // Runs before any page script (injected by the browser, so the CSP does not apply to it).
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (event) => {
      console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline code"}`);
    });
  });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const where = message.location().url ?? "?";
    const text = `${message.text()} (${where})`;
    // The browser's own guess at /favicon.ico (the app declares its icon, a hashed file, which
    // must load): not the app's request, and not its error.
    if (/status of 404/.test(text) && new URL(where, SHOP_URL).pathname === "/favicon.ico") return;
    if (!allow(text, message)) problems.push(`console error: ${text}`);
  });
  page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
  return { context, page, problems };
}

/** A full-page screenshot named NAME.png in the artifacts folder. */
export async function screenshot(page, name) {
  const file = path.join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Waits until the page's main heading is `text` (a string or RegExp). */
export async function expectHeading(page, text) {
  const heading = page.locator("main h1").first();
  await heading.waitFor({ state: "visible" });
  const deadline = Date.now() + STEP_TIMEOUT;
  for (;;) {
    const actual = (await heading.textContent())?.trim() ?? "";
    if (typeof text === "string" ? actual === text : text.test(actual)) return actual;
    if (Date.now() > deadline) throw new Error(`expected the heading ${text}, found "${actual}" on ${page.url()}`);
    await page.waitForTimeout(100);
  }
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Fails with every collected problem. */
export function expectNoProblems(problems, where) {
  check(problems.length === 0, `${where}:\n  ${problems.join("\n  ")}`);
}

/**
 * Runs the named steps in order, printing each; stops at the first failure, after taking a
 * screenshot of every open page so the failure can be seen.
 */
export async function run(title, steps, pages = () => []) {
  console.log(`${title} (${SHOP_URL})`);
  let failed = 0;
  for (const [name, step] of steps) {
    const started = Date.now();
    try {
      await step();
      console.log(`  ok   ${name} (${Date.now() - started} ms)`);
    } catch (error) {
      failed += 1;
      console.log(`  FAIL ${name}: ${error.stack ?? error}`);
      for (const [label, page] of pages()) {
        await screenshot(page, `failure-${label}`).catch(() => {});
      }
      break;
    }
  }
  console.log(failed === 0 ? `passed: ${steps.length} steps` : `FAILED (artifacts in ${ARTIFACTS_DIR})`);
  return failed === 0;
}
