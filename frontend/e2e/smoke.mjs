// The built app served by the web service alone (no API behind it): every page renders, in
// Chromium, without console errors or CSP violations, and the web service's headers hold.
// The API calls fail (404 from the web service), so data pages must show their error state.
import { ARTIFACTS_DIR, check, expectHeading, expectNoProblems, launch, openPage, run, screenshot } from "./lib.mjs";

// The requests of the API fail here by design; any other failed load is a bug.
const allow = (text) => /Failed to load resource/.test(text) && /\/api\/v1\//.test(text);

// The wasm a page runs, which names its app's bundle (/account/…, /admin/…, or the storefront's).
const appWasm = (page) => page.evaluate(() => document.querySelector('meta[name="app-wasm"]')?.content ?? "");

const browser = await launch("smoke-");
const { page, problems } = await openPage(browser, { allow });
const mobile = await openPage(browser, { viewport: { width: 390, height: 844 }, allow });

const PAGES = [
  // path, heading, document title, screenshot name
  ["/", "Welcome to the shop", "Home · Shop", "smoke-home"],
  ["/products?q=mug&sort=price_asc", "Results for “mug”", "Products · Shop", "smoke-catalog"],
  ["/products/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "Product not found", "Product not available · Shop", "smoke-product"],
  ["/login", "Sign in", "Sign in · Shop", "smoke-login"],
  ["/register", "Create an account", "Create an account · Shop", "smoke-register"],
  ["/cart", "Your cart", "Cart · Shop", "smoke-cart-visitor"],
  ["/checkout", "Please sign in", "Please sign in · Shop", "smoke-checkout-visitor"],
  ["/admin", "Please sign in", "Please sign in · Shop", "smoke-admin-visitor"],
  ["/no/such/page", "Page not found", "Page not found · Shop", "smoke-not-found"],
];

const steps = [
  ["the document has the security headers and no inline script", async () => {
    const response = await page.goto("/");
    check(response.status() === 200, `GET / answered ${response.status()}`);
    const headers = response.headers();
    const csp = headers["content-security-policy"] ?? "";
    check(csp.includes("script-src 'self' 'wasm-unsafe-eval'"), `CSP: ${csp}`);
    check(!csp.includes("unsafe-inline"), `CSP allows inline code: ${csp}`);
    check(headers["x-content-type-options"] === "nosniff", "no nosniff header");
    check(headers["cache-control"] === "no-cache", `index.html cache-control: ${headers["cache-control"]}`);
    const html = await response.text();
    check(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), "index.html has an inline <script>");
    check(!/\sstyle=/i.test(html), "index.html has a style attribute");
  }],
  ["hashed assets are immutable and precompressed, the account app's and the portal's too", async () => {
    const sources = [];
    for (const path of ["/", "/account", "/admin"]) {
      await page.goto(path);
      sources.push(...await page.evaluate(() => [
        document.querySelector('meta[name="app-wasm"]')?.content,
        document.querySelector('meta[name="app-js"]')?.content,
        ...[...document.querySelectorAll('link[rel="stylesheet"]')].map((l) => l.getAttribute("href")),
      ]));
    }
    for (const source of sources) {
      check(source, `an asset reference is missing: ${JSON.stringify(sources)}`);
      const response = await page.request.get(source, { headers: { "accept-encoding": "br" } });
      check(response.status() === 200, `${source} answered ${response.status()}`);
      const headers = response.headers();
      check(headers["cache-control"] === "public, max-age=31536000, immutable", `${source}: ${headers["cache-control"]}`);
      check(headers["content-encoding"] === "br", `${source} was not sent as brotli (${headers["content-encoding"]})`);
    }
    const missing = await page.request.get("/frontend-00000000deadbeef.js");
    check(missing.status() === 404, `a missing script answered ${missing.status()}`);
  }],
  ...PAGES.map(([path, heading, title, shot]) => [`${path} renders "${heading}"`, async () => {
    await page.goto(path);
    await expectHeading(page, heading);
    check((await page.title()) === title, `title of ${path}: ${await page.title()}`);
    await page.waitForLoadState("networkidle");
    await screenshot(page, shot);
  }]),
  ["shoppers never load the admin portal, which is a bundle of its own under /admin", async () => {
    await page.goto("/products");
    await expectHeading(page, "Products");
    const shop = await appWasm(page);
    check(shop && !shop.startsWith("/admin/"), `the storefront loads ${shop}`);
    await page.goto("/admin/products");
    await expectHeading(page, "Please sign in");
    const portal = await appWasm(page);
    check(portal.startsWith("/admin/") && portal !== shop, `the portal loads ${portal}`);
  }],
  ["the storefront loads neither the account app nor the portal; its sign-in link loads the account app", async () => {
    await page.goto("/products");
    await expectHeading(page, "Products");
    const shop = await appWasm(page);
    check(shop.startsWith("/") && !/^\/(account|admin)\//.test(shop), `the storefront loads ${shop}`);
    await page.locator("header").getByRole("link", { name: "Sign in" }).click();
    await expectHeading(page, "Sign in");
    const account = await appWasm(page);
    check(account.startsWith("/account/"), `after the sign-in link, the page runs ${account}`);
    check(new URL(page.url()).pathname === "/login", `after the link, the page is ${page.url()}`);
  }],
  ["the account app draws the storefront's pages itself, without loading the storefront", async () => {
    await page.goto("/checkout");
    await expectHeading(page, "Please sign in");
    const loaded = await page.evaluate(() => {
      window.stillThisDocument = true;
      return document.querySelector('meta[name="app-wasm"]')?.content ?? "";
    });
    check(loaded.startsWith("/account/"), `/checkout runs ${loaded}`);
    await page.locator("header").getByRole("link", { name: "Cart" }).click();
    await expectHeading(page, "Your cart");
    check(await page.evaluate(() => window.stillThisDocument === true), "going to the cart reloaded the page");
  }],
  ["a link of the portal to a shopper's page loads that page's app", async () => {
    await page.goto("/admin");
    await expectHeading(page, "Please sign in");
    await page.locator("main").getByRole("link", { name: "Sign in" }).click();
    await expectHeading(page, "Sign in");
    const wasm = await appWasm(page);
    check(wasm.startsWith("/account/"), `after the link, the page runs ${wasm}`);
    check(new URL(page.url()).pathname === "/login", `after the link, the page is ${page.url()}`);
  }],
  ["data pages show their error state when the API is down", async () => {
    await page.goto("/");
    await page.locator('[role="alert"]').first().waitFor();
    const retry = page.getByRole("button", { name: "Try again" }).first();
    await retry.waitFor();
    await retry.click();
    await page.locator('[role="alert"]').first().waitFor();
  }],
  ["the keyboard reaches the skip link first, and it moves the focus to the page", async () => {
    await page.goto("/login");
    await expectHeading(page, "Sign in");
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
    check(focused === "Skip to content", `first Tab focused "${focused}"`);
    await page.keyboard.press("Enter");
    const target = await page.evaluate(() => document.activeElement?.id);
    check(target === "main", `the skip link focused #${target}`);
  }],
  ["client-side navigation moves the focus to the new page", async () => {
    await page.goto("/");
    await expectHeading(page, "Welcome to the shop");
    // A page of the same app (signing in is the account app's: a new document).
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Catalog" }).click();
    await expectHeading(page, "Products");
    const focused = await page.evaluate(() => document.activeElement?.id);
    check(focused === "main", `after navigating, the focus is on #${focused}`);
  }],
  ["a form refused in the browser shows each message next to its field", async () => {
    await page.goto("/register");
    await expectHeading(page, "Create an account");
    await page.getByRole("button", { name: "Create account" }).click();
    const summary = page.locator(".error-summary");
    await summary.waitFor();
    const focused = await page.evaluate(() => document.activeElement?.classList.contains("error-summary"));
    check(focused, "the error summary did not take the focus");
    const email = page.locator("#register-email");
    check((await email.getAttribute("aria-invalid")) === "true", "the email field is not marked invalid");
    const described = await email.getAttribute("aria-describedby");
    const message = await page.locator(`#${described}`).textContent();
    check(/email address/.test(message), `the email message: ${message}`);
    await screenshot(page, "smoke-register-errors");
  }],
  ["phones get the same pages", async () => {
    await mobile.page.goto("/");
    await expectHeading(mobile.page, "Welcome to the shop");
    await mobile.page.waitForLoadState("networkidle");
    const overflow = await mobile.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    check(!overflow, "the home page scrolls sideways on a phone");
    await screenshot(mobile.page, "smoke-home-mobile");
  }],
  ["no console errors and no CSP violations", async () => {
    expectNoProblems(problems, "desktop");
    expectNoProblems(mobile.problems, "phone");
  }],
];

const ok = await run("frontend smoke", steps, () => [["desktop", page], ["phone", mobile.page]]);
await browser.close();
console.log(`screenshots: ${ARTIFACTS_DIR}`);
process.exit(ok ? 0 : 1);
