// The shop's acceptance scenarios in Chromium against the whole stack (SHOP_URL = the gateway):
//   1. a shopper registers, searches, adds two products, checks out with the test card, finds
//      the order in the history and opens it;
//   1b. a visitor fills a cart without an account (the badge counts it), is asked to sign in at
//      checkout, registers from there, finds the cart kept and checks it out;
//   2. a declined card shows the payment error;
//   3. the shopper's account shows the profile and the saved address; a new name persists;
//   4. an admin changes a price and the storefront shows the new price; an admin sets a
//      product's stock and the storefront shows it sold out, then for sale again;
//   5. a customer is kept out of /admin.
// Every page visited is screenshotted into ARTIFACTS_DIR (e2e-NN-name.png); screenshots.txt
// lists the names, and the test fails when one is not taken (ci/dev-test checks the files).
import { readFile } from "node:fs/promises";
import { check, expectHeading, expectNoProblems, launch, openPage, run, screenshot, STEP_TIMEOUT } from "./lib.mjs";

const ADMIN_EMAIL = process.env.SHOP_ADMIN_EMAIL ?? "";
const ADMIN_PASSWORD = process.env.SHOP_ADMIN_PASSWORD ?? "";
const APPROVED_CARD = "4242 4242 4242 4242";
const DECLINED_CARD = "4000 0000 0000 0002";

const stamp = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
const shopper = {
  name: "E2E Shopper",
  email: `e2e-${stamp}@example.com`,
  password: `correct horse battery ${stamp}`,
};
const guest = {
  name: "E2E Guest",
  email: `e2e-guest-${stamp}@example.com`,
  password: `correct horse battery guest ${stamp}`,
};
const GUEST_CART_KEY = "ecommerce.guest_cart";

/** The screenshots this test takes (screenshots.txt: one name a line, # comments). */
const EXPECTED_SHOTS = (await readFile(new URL("./screenshots.txt", import.meta.url), "utf8"))
  .split("\n")
  .map((line) => line.replace(/#.*/, "").trim())
  .filter(Boolean);
const shotsTaken = [];
let shot = 0;
const snap = (page, name) => {
  check(EXPECTED_SHOTS.includes(name), `the screenshot "${name}" is not listed in frontend/e2e/screenshots.txt`);
  shotsTaken.push(name);
  return screenshot(page, `e2e-${String(++shot).padStart(2, "0")}-${name}`);
};

/** Money as the app shows it (format.rs): grouped thousands, a symbol for the common currencies. */
function money(minor, currency) {
  const symbols = { USD: "$", EUR: "€", GBP: "£" };
  const digits = ["JPY", "KRW"].includes(currency) ? 0 : 2;
  const sign = minor < 0 ? "-" : "";
  const units = Math.abs(minor);
  const whole = (digits === 0 ? units : Math.floor(units / 100)).toLocaleString("en-US");
  const number = digits === 0 ? whole : `${whole}.${String(units % 100).padStart(2, "0")}`;
  return symbols[currency] ? `${sign}${symbols[currency]}${number}` : `${sign}${number} ${currency}`;
}

/** "$19.99" -> 1999 (the test only uses two-decimal currencies). */
function minorUnits(text) {
  const match = /(-?)[^\d-]*([\d,]+)\.(\d{2})/.exec(text);
  check(match, `not an amount: ${text}`);
  return (match[1] ? -1 : 1) * (Number(match[2].replaceAll(",", "")) * 100 + Number(match[3]));
}

async function signIn(page, email, password) {
  await page.goto("/login");
  await expectHeading(page, "Sign in");
  await page.locator("#login-email").fill(email);
  await page.locator("#login-password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expectHeading(page, "Welcome to the shop");
}

/**
 * Products the shopper can buy several of (a product with one unit left would be sold out by the
 * first order): [{name, href}], as the API lists them (newest first).
 */
// The refresh token cookie the user service set, as the browser holds it (scripts cannot see it;
// Playwright can).
async function refreshCookie(page) {
  return (await page.context().cookies()).find((cookie) => cookie.name === "refresh_token");
}

async function plentifulProducts(page) {
  const response = await page.request.get("/api/v1/products?in_stock=true&sort=newest&limit=50");
  check(response.ok(), `GET /api/v1/products answered ${response.status()}`);
  const { items } = await response.json();
  return items
    .filter((product) => product.stock >= 5)
    .map((product) => ({ name: product.name, href: `/products/${product.id}` }));
}

async function addToCart(page, product) {
  await page.goto(product.href);
  await expectHeading(page, product.name);
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.getByText("Added to your cart").waitFor();
}

/**
 * Loads a storefront page again until `ready()` holds (the catalog's cache may answer the old
 * product for a moment); fails with `describe()` after STEP_TIMEOUT.
 */
async function reloadUntil(page, href, heading, ready, describe) {
  const deadline = Date.now() + STEP_TIMEOUT;
  for (;;) {
    await page.goto(href);
    await expectHeading(page, heading);
    if (await ready()) return;
    check(Date.now() < deadline, await describe());
    await page.waitForTimeout(500);
  }
}

async function fillCard(page, number) {
  await page.locator("#checkout-card-number").fill(number);
  await page.locator("#checkout-card-exp-month").fill("12");
  await page.locator("#checkout-card-exp-year").fill(String(new Date().getFullYear() + 3));
  await page.locator("#checkout-card-cvc").fill("123");
}

const browser = await launch("e2e-");
// Chromium logs every 4xx answer as a console error. Expected here: the declined payment's 402,
// and the 401 of the request made with a stale access token (before the transparent refresh).
// The header's cart badge reads the cart with the stale token too.
let staleToken = false;
const expected = (text) =>
  (/status of 402/.test(text) && /\/api\/v1\/checkout/.test(text)) ||
  (staleToken && /status of 401/.test(text) && /\/api\/v1\/(orders|cart)/.test(text));
const customer = await openPage(browser, { allow: expected });
// The duplicate SKU the admin scenario submits on purpose answers 409.
const duplicateSku = (text) => /status of 409/.test(text) && /\/api\/v1\/admin\/products/.test(text);
const admin = await openPage(browser, { allow: duplicateSku });
const visitor = await openPage(browser);
const newcomer = await openPage(browser);
const page = customer.page;

let products = [];
let orderNumber = "";
let paidOrderNumber = "";
let edited = null;
let stocked = null;
const mainNav = (on = page) => on.getByRole("navigation", { name: "Main" });
/** The units the header's cart badge shows (0 when it shows none). */
const badge = async (on) => {
  const count = mainNav(on).locator('[data-testid="cart-count"]');
  return (await count.count()) === 0 ? 0 : Number((await count.textContent()).trim());
};
async function waitForBadge(on, units) {
  const deadline = Date.now() + STEP_TIMEOUT;
  for (;;) {
    const shown = await badge(on);
    if (shown === units) return;
    check(Date.now() < deadline, `the cart badge shows ${shown}, not ${units}`);
    await on.waitForTimeout(100);
  }
}
/** The product names of the cart lines on the page. */
const lineNames = async (on) =>
  (await on.locator('[data-testid="cart-line"] th').allTextContents()).map((name) => name.trim());

const steps = [
  ["the shopper registers", async () => {
    await page.goto("/register");
    await expectHeading(page, "Create an account");
    await page.locator("#register-display-name").fill(shopper.name);
    await page.locator("#register-email").fill(shopper.email);
    await page.locator("#register-password").fill(shopper.password);
    await snap(page, "register");
    await page.getByRole("button", { name: "Create account" }).click();
    await expectHeading(page, "Welcome to the shop");
    await mainNav().getByText(shopper.name).waitFor();
    await snap(page, "home-signed-in");
  }],
  ["the catalog lists products in stock", async () => {
    await page.goto("/products?in_stock=true&sort=newest");
    await expectHeading(page, "Products");
    await page.locator('[data-testid="product-card"]').first().waitFor();
    products = await plentifulProducts(page);
    check(products.length >= 2, `need two products with 5 units or more, found ${products.length}`);
    await snap(page, "catalog");
  }],
  ["a visitor fills a cart without an account", async () => {
    const guestPage = newcomer.page;
    await addToCart(guestPage, products[0]);
    await waitForBadge(guestPage, 1);
    await addToCart(guestPage, products[1]);
    await waitForBadge(guestPage, 2);
    const token = await guestPage.evaluate((key) => localStorage.getItem(key), GUEST_CART_KEY);
    check(token, "the guest cart token was not kept");
    await guestPage.reload();
    await waitForBadge(guestPage, 2);
    await guestPage.goto("/cart");
    await expectHeading(guestPage, "Your cart");
    await guestPage.locator('[data-testid="cart-line"]').first().waitFor();
    const names = await lineNames(guestPage);
    check(
      names.length === 2 && names.includes(products[0].name) && names.includes(products[1].name),
      `the guest cart holds ${JSON.stringify(names)}`,
    );
    await guestPage.locator('[data-testid="guest-cart-note"]').waitFor();
    await snap(guestPage, "guest-cart");
  }],
  ["the visitor registers from the checkout and the cart is kept", async () => {
    const guestPage = newcomer.page;
    await guestPage.getByRole("link", { name: "Checkout" }).click();
    await expectHeading(guestPage, "Please sign in");
    await guestPage.getByRole("link", { name: "Create an account" }).click();
    await expectHeading(guestPage, "Create an account");
    await guestPage.locator("#register-display-name").fill(guest.name);
    await guestPage.locator("#register-email").fill(guest.email);
    await guestPage.locator("#register-password").fill(guest.password);
    await guestPage.getByRole("button", { name: "Create account" }).click();
    await expectHeading(guestPage, "Checkout");
    await guestPage.locator('[data-testid="cart-line"]').first().waitFor();
    const names = await lineNames(guestPage);
    check(
      names.length === 2 && names.includes(products[0].name) && names.includes(products[1].name),
      `after registering, the cart holds ${JSON.stringify(names)}`,
    );
    await waitForBadge(guestPage, 2);
    const token = await guestPage.evaluate((key) => localStorage.getItem(key), GUEST_CART_KEY);
    check(token === null, "the spent guest cart token is still kept");
    await snap(guestPage, "guest-registered-checkout");
  }],
  ["the new customer checks out the kept cart", async () => {
    const guestPage = newcomer.page;
    await guestPage.locator("#address-new").check();
    await guestPage.locator("#checkout-shipping-address-recipient").fill(guest.name);
    await guestPage.locator("#checkout-shipping-address-line1").fill("2 Guest Street");
    await guestPage.locator("#checkout-shipping-address-postal-code").fill("10115");
    await guestPage.locator("#checkout-shipping-address-city").fill("Berlin");
    await guestPage.locator("#checkout-shipping-address-country").fill("DE");
    await fillCard(guestPage, APPROVED_CARD);
    await guestPage.getByRole("button", { name: "Place order" }).click();
    await expectHeading(guestPage, "Thank you for your order");
    await guestPage.locator(".order-summary tbody tr th").first().waitFor();
    const names = (await guestPage.locator(".order-summary tbody tr th").allTextContents()).map((name) => name.trim());
    check(
      names.length === 2 && names.includes(products[0].name) && names.includes(products[1].name),
      `the order's lines are ${JSON.stringify(names)}`,
    );
    await waitForBadge(guestPage, 0);
  }],
  ["the shopper searches and finds the first product", async () => {
    const word = products[0].name.split(/\s+/).find((w) => w.length >= 3) ?? products[0].name;
    await page.locator("#site-search").fill(word);
    await page.locator("#site-search").press("Enter");
    await expectHeading(page, `Results for “${word}”`);
    await page.locator('[data-testid="product-card"]', { hasText: products[0].name }).first().waitFor();
    await snap(page, "search-results");
  }],
  ["the shopper adds two products to the cart", async () => {
    await addToCart(page, products[0]);
    await snap(page, "product");
    await addToCart(page, products[1]);
    await page.goto("/cart");
    await expectHeading(page, "Your cart");
    const lines = page.locator('[data-testid="cart-line"]');
    await lines.first().waitFor();
    check((await lines.count()) === 2, `the cart has ${await lines.count()} lines`);
    const totals = await lines.evaluateAll((rows) => rows.map((row) => row.querySelector('td[data-label="Total"]')?.textContent ?? ""));
    const subtotal = await page.locator('[data-testid="cart-subtotal"]').textContent();
    const sum = totals.map(minorUnits).reduce((a, b) => a + b, 0);
    check(minorUnits(subtotal) === sum, `subtotal ${subtotal} is not the sum of ${totals.join(" + ")}`);
    await snap(page, "cart");
  }],
  ["the shopper checks out with the test card", async () => {
    await page.getByRole("link", { name: "Checkout" }).click();
    await expectHeading(page, "Checkout");
    await page.locator("#address-new").check();
    await page.locator("#checkout-shipping-address-recipient").fill(shopper.name);
    await page.locator("#checkout-shipping-address-line1").fill("1 Test Street");
    await page.locator("#checkout-shipping-address-postal-code").fill("10115");
    await page.locator("#checkout-shipping-address-city").fill("Berlin");
    await page.locator("#checkout-shipping-address-country").fill("DE");
    await fillCard(page, APPROVED_CARD);
    await snap(page, "checkout");
    await page.getByRole("button", { name: "Place order" }).click();
    await expectHeading(page, "Thank you for your order");
    const meta = await page.locator(".order-summary__meta").textContent();
    orderNumber = /Order ([0-9A-F]{8})/.exec(meta)?.[1] ?? "";
    check(orderNumber, `no order number in "${meta}"`);
    await snap(page, "confirmation");
  }],
  ["the order is in the shopper's history", async () => {
    await mainNav().getByRole("link", { name: "Orders" }).click();
    await expectHeading(page, "Your orders");
    const row = page.locator('[data-testid="order-row"]', { hasText: orderNumber });
    await row.waitFor();
    const status = await row.locator('[data-testid="order-status"]').textContent();
    check(["Paid", "Pending"].includes(status.trim()), `the new order is "${status}"`);
    await snap(page, "order-history");
  }],
  ["the shopper opens the order: its lines, total and status", async () => {
    const row = page.locator('[data-testid="order-row"]', { hasText: orderNumber });
    const total = (await row.locator('td[data-label="Total"]').textContent()).trim();
    await row.getByRole("link", { name: orderNumber, exact: true }).click();
    await expectHeading(page, `Order ${orderNumber}`);
    const summary = page.locator(".order-summary");
    await summary.waitFor();
    const names = (await summary.locator("tbody tr th").allTextContents()).map((name) => name.trim());
    for (const product of products.slice(0, 2)) {
      check(names.includes(product.name), `the order's lines are ${JSON.stringify(names)}, not ${product.name}`);
    }
    check(names.length === 2, `the order has ${names.length} lines`);
    const shown = (await summary.locator('[data-testid="order-total"]').textContent()).trim();
    check(shown === total, `the order's total is ${shown}; the history said ${total}`);
    const status = (await summary.locator('.order-summary__meta [data-testid="order-status"]').textContent()).trim();
    check(["Paid", "Pending"].includes(status), `the order is "${status}"`);
    await summary.getByText("ending in 4242").waitFor();
    await snap(page, "order-detail");
    await page.getByRole("link", { name: "← Your orders" }).click();
    await expectHeading(page, "Your orders");
  }],
  ["the shopper cancels the order", async () => {
    const row = page.locator('[data-testid="order-row"]', { hasText: orderNumber });
    await row.getByRole("button", { name: `Cancel order ${orderNumber}` }).click();
    await row.getByRole("button", { name: "Yes, cancel it" }).click();
    await row.locator('[data-testid="order-status"]', { hasText: "Cancelled" }).waitFor();
    await snap(page, "order-cancelled");
  }],
  ["an expired access token is refreshed without the shopper noticing", async () => {
    const before = await page.evaluate(() => JSON.parse(localStorage.getItem("ecommerce.session")));
    check(before?.access_token, "no session in localStorage");
    check(!("refresh_token" in before), "the refresh token is in localStorage, within scripts' reach");
    const cookieBefore = await refreshCookie(page);
    check(
      cookieBefore?.httpOnly && cookieBefore.secure && cookieBefore.sameSite === "Strict" && cookieBefore.path === "/api/v1/auth",
      `the refresh token cookie is not HttpOnly, Secure, SameSite=Strict on /api/v1/auth: ${JSON.stringify({ ...cookieBefore, value: "…" })}`,
    );
    // A token the gateway cannot verify stands in for an expired one.
    await page.evaluate((session) => {
      localStorage.setItem("ecommerce.session", JSON.stringify({ ...session, access_token: "expired.token.value" }));
    }, before);
    staleToken = true;
    const refreshed = page.waitForResponse((response) => response.url().endsWith("/api/v1/auth/refresh"));
    await page.goto("/orders");
    check((await refreshed).status() === 200, "the refresh was refused");
    await expectHeading(page, "Your orders");
    await page.locator('[data-testid="order-row"]', { hasText: orderNumber }).waitFor();
    staleToken = false;
    const after = await page.evaluate(() => JSON.parse(localStorage.getItem("ecommerce.session")));
    check(after.access_token !== "expired.token.value", "the new access token was not kept");
    check(!("refresh_token" in after), "the refreshed token landed in localStorage");
    const cookieAfter = await refreshCookie(page);
    check(cookieAfter && cookieAfter.value !== cookieBefore.value, "the refresh token cookie did not rotate");
  }],
  ["a declined card shows the payment error", async () => {
    await addToCart(page, products[1]);
    await page.goto("/checkout");
    await expectHeading(page, "Checkout");
    // The address of the first order was saved, and is chosen already.
    await page.locator("#checkout-shipping-address-recipient").waitFor({ state: "detached" });
    await fillCard(page, DECLINED_CARD);
    await page.getByRole("button", { name: "Place order" }).click();
    const error = page.locator('[data-testid="payment-error"]');
    await error.waitFor();
    const text = await error.textContent();
    check(/declined/i.test(text), `payment error: ${text}`);
    await expectHeading(page, "Checkout");
    await snap(page, "payment-declined");
  }],
  ["after the decline, another card places the order", async () => {
    await fillCard(page, APPROVED_CARD);
    await page.getByRole("button", { name: "Place order" }).click();
    await expectHeading(page, "Thank you for your order");
    const meta = await page.locator(".order-summary__meta").textContent();
    paidOrderNumber = /Order ([0-9A-F]{8})/.exec(meta)?.[1] ?? "";
    check(paidOrderNumber && paidOrderNumber !== orderNumber, `no new order number in "${meta}"`);
  }],
  ["the account page shows the profile and the saved address", async () => {
    // Clicked where the name shows: Playwright aims at the link's first box, here the
    // visually hidden "Account of " (1px, clipped, over the list item), which takes no clicks.
    const link = mainNav().getByRole("link", { name: `Account of ${shopper.name}` });
    const box = await link.boundingBox();
    await link.click({ position: { x: box.width / 2, y: box.height / 2 } });
    await expectHeading(page, "Your account");
    await page.getByText(`Signed in as ${shopper.email}`).waitFor();
    const name = await page.locator("#profile-display-name").inputValue();
    check(name === shopper.name, `the profile's name is "${name}", not "${shopper.name}"`);
    // The checkout saved the address it shipped to.
    const card = page.locator(".address-list .address-card", { hasText: "1 Test Street" }).first();
    await card.waitFor();
    const address = (await card.innerText()).replace(/\s+/g, " ");
    for (const part of [shopper.name, "10115 Berlin", "DE"]) {
      check(address.includes(part), `the saved address "${address}" lacks ${part}`);
    }
    await snap(page, "account");
  }],
  ["the shopper changes the display name, and it persists", async () => {
    const renamed = `${shopper.name} Renamed`;
    await page.locator("#profile-display-name").fill(renamed);
    await page.getByRole("button", { name: "Save profile" }).click();
    await page.getByText("Your profile is saved.").waitFor();
    await mainNav().getByRole("link", { name: `Account of ${renamed}` }).waitFor();
    await page.reload();
    await expectHeading(page, "Your account");
    const name = await page.locator("#profile-display-name").inputValue();
    check(name === renamed, `after a reload the profile's name is "${name}", not "${renamed}"`);
    const session = await page.evaluate(() => JSON.parse(localStorage.getItem("ecommerce.session")));
    const me = await page.request.get("/api/v1/users/me", { headers: { Authorization: `Bearer ${session.access_token}` } });
    check(me.ok(), `GET /api/v1/users/me answered ${me.status()}`);
    const stored = (await me.json()).display_name;
    check(stored === renamed, `the API has the name "${stored}", not "${renamed}"`);
    shopper.name = renamed;
    await snap(page, "account-renamed");
  }],
  ["a customer is kept out of /admin", async () => {
    check(
      (await mainNav().getByRole("link", { name: "Admin", exact: true }).count()) === 0,
      "a customer sees the Admin link",
    );
    for (const path of ["/admin", "/admin/products"]) {
      await page.goto(path);
      await expectHeading(page, "Not allowed");
      check((await page.locator(".admin__nav").count()) === 0, `the admin menu shows on ${path}`);
    }
    await snap(page, "admin-forbidden");
  }],
  ["the shopper signs out, and the session is revoked", async () => {
    const cookie = await refreshCookie(page);
    check(cookie, "no refresh token cookie before signing out");
    await page.getByRole("button", { name: "Sign out" }).click();
    await expectHeading(page, "Welcome to the shop");
    await mainNav().getByRole("link", { name: "Sign in" }).waitFor();
    check((await page.evaluate(() => localStorage.getItem("ecommerce.session"))) === null, "the session is still stored");
    check((await refreshCookie(page)) === undefined, "the refresh token cookie is still there");
    const reuse = await page.request.post("/api/v1/auth/refresh", { data: { refresh_token: cookie.value } });
    check(reuse.status() === 401, `the revoked refresh token still works (${reuse.status()})`);
    await page.goto("/orders");
    await expectHeading(page, "Please sign in");
  }],
  ["an admin changes a price", async () => {
    check(ADMIN_EMAIL && ADMIN_PASSWORD, "SHOP_ADMIN_EMAIL and SHOP_ADMIN_PASSWORD must name an admin of the stack");
    await signIn(admin.page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await mainNav(admin.page).getByRole("link", { name: "Admin", exact: true }).click();
    await expectHeading(admin.page, "Admin");
    await snap(admin.page, "admin");
    await admin.page.locator(".admin__nav").getByRole("link", { name: "Products" }).click();
    await expectHeading(admin.page, "Products");
    const target = products[0];
    await admin.page.locator("#admin-product-search").fill(target.name);
    await admin.page.getByRole("button", { name: "Search" }).last().click();
    await admin.page.getByRole("link", { name: target.name, exact: true }).first().waitFor();
    await snap(admin.page, "admin-products");
    await admin.page.getByRole("link", { name: target.name, exact: true }).first().click();
    await expectHeading(admin.page, `Edit ${target.name}`);
    const price = admin.page.locator("#product-price");
    const before = minorUnits(await price.inputValue());
    const currency = await admin.page.locator("#product-price-currency").inputValue();
    const after = before + 111;
    await price.fill(`${Math.floor(after / 100)}.${String(after % 100).padStart(2, "0")}`);
    await snap(admin.page, "admin-edit-product");
    await admin.page.getByRole("button", { name: "Save changes" }).click();
    await admin.page.getByText("The product is saved.").waitFor();
    edited = { href: target.href, name: target.name, before, after, currency, editor: admin.page.url() };
    await snap(admin.page, "admin-saved");
  }],
  ["the storefront shows the new price", async () => {
    check(edited, "no price was changed");
    const wanted = money(edited.after, edited.currency);
    const deadline = Date.now() + STEP_TIMEOUT;
    for (;;) {
      await visitor.page.goto(edited.href);
      await expectHeading(visitor.page, edited.name);
      const shown = (await visitor.page.locator('[data-testid="price"]').textContent()).trim();
      if (shown === wanted) break;
      check(Date.now() < deadline, `the product page shows ${shown}, not ${wanted}`);
      await visitor.page.waitForTimeout(500);
    }
    await snap(visitor.page, "storefront-new-price");
  }],
  ["the admin puts the price back", async () => {
    await admin.page.goto(edited.editor);
    await expectHeading(admin.page, `Edit ${edited.name}`);
    const before = edited.before;
    await admin.page.locator("#product-price").fill(`${Math.floor(before / 100)}.${String(before % 100).padStart(2, "0")}`);
    await admin.page.getByRole("button", { name: "Save changes" }).click();
    await admin.page.getByText("The product is saved.").waitFor();
  }],
  ["the admin sets a product's stock with the stock form", async () => {
    const target = products[1];
    await admin.page.goto(`/admin${target.href}`);
    await expectHeading(admin.page, `Edit ${target.name}`);
    const field = admin.page.locator("#product-stock-available");
    const before = Number(await field.inputValue());
    check(Number.isInteger(before) && before > 0, `the stock form shows "${await field.inputValue()}"`);
    await field.fill("0");
    await admin.page.getByRole("button", { name: "Set stock" }).click();
    await admin.page.getByText("The stock is set.").waitFor();
    await admin.page.getByText("0 units available to sell now.", { exact: true }).waitFor();
    stocked = { ...target, before };
    await snap(admin.page, "admin-stock");
  }],
  ["the storefront shows the product sold out", async () => {
    check(stocked, "no stock was set");
    const soldOut = visitor.page.locator(".product__stock--out", { hasText: "Sold out" });
    await reloadUntil(visitor.page, stocked.href, stocked.name, async () => (await soldOut.count()) === 1,
      async () => `the product page is not sold out: ${(await visitor.page.locator(".product").innerText()).slice(0, 300)}`);
    check((await visitor.page.getByRole("button", { name: "Add to cart" }).count()) === 0, "a sold-out product offers to buy it");
    await snap(visitor.page, "storefront-sold-out");
  }],
  ["the admin puts the stock back, and the storefront sells it again", async () => {
    await admin.page.locator("#product-stock-available").fill(String(stocked.before));
    await admin.page.getByRole("button", { name: "Set stock" }).click();
    await admin.page.getByText(`${stocked.before} units available to sell now.`, { exact: true }).waitFor();
    const buy = visitor.page.getByRole("button", { name: "Add to cart" });
    await reloadUntil(visitor.page, stocked.href, stocked.name, async () => (await buy.count()) === 1,
      async () => `the product page does not offer it again: ${(await visitor.page.locator(".product").innerText()).slice(0, 300)}`);
    await snap(visitor.page, "storefront-back-in-stock");
  }],
  ["the admin's product form shows the API's message next to the field it names", async () => {
    const taken = await admin.page.request.get(`/api/v1/products/${edited.href.split("/").pop()}`);
    const existing = await taken.json();
    await admin.page.goto("/admin/products/new");
    await expectHeading(admin.page, "New product");
    await admin.page.getByRole("button", { name: "Create product" }).click();
    await admin.page.locator(".error-summary").waitFor();
    check((await admin.page.locator("#product-name").getAttribute("aria-invalid")) === "true", "an empty name was not flagged");
    await admin.page.locator("#product-name").fill("E2E duplicate");
    await admin.page.locator("#product-sku").fill(existing.sku);
    await admin.page.locator("#product-slug").fill(`e2e-duplicate-${stamp}`);
    await admin.page.locator("#product-price").fill("1.00");
    await admin.page.locator("#product-category-id").selectOption(existing.category_id);
    await admin.page.getByRole("button", { name: "Create product" }).click();
    // The browser's own messages go when the form is sent; the API's arrive with its answer.
    await admin.page.locator("#product-slug-error").waitFor({ state: "detached" });
    await admin.page.locator("#product-sku-error").waitFor();
    check((await admin.page.locator("#product-sku").getAttribute("aria-describedby")) === "product-sku-error", "the SKU message is not tied to its field");
    check((await admin.page.locator("#product-slug").getAttribute("aria-invalid")) === "false", "the slug was flagged too");
    await snap(admin.page, "admin-product-field-error");
  }],
  ["the admin moves the paid order to shipped", async () => {
    await admin.page.goto("/admin/orders");
    await expectHeading(admin.page, "Orders");
    await admin.page.locator("#order-status-filter").selectOption("paid");
    const row = admin.page.locator("tr", { hasText: paidOrderNumber });
    await row.waitFor();
    await row.getByRole("combobox").selectOption("shipped");
    await row.getByRole("button", { name: "Move" }).click();
    await row.locator('[data-testid="order-status"]', { hasText: "Shipped" }).waitFor();
    await snap(admin.page, "admin-orders");
  }],
  ["the admin gives the shopper the admin role and takes it back", async () => {
    await admin.page.goto("/admin/users");
    await expectHeading(admin.page, "Users");
    await admin.page.locator("#admin-user-search").fill(shopper.email);
    await admin.page.getByRole("button", { name: "Search" }).last().click();
    const row = admin.page.locator("tr", { hasText: shopper.email });
    await row.waitFor();
    const adminRole = row.getByRole("checkbox", { name: "admin" });
    check(!(await adminRole.isChecked()), "the shopper is an admin already");
    check(await row.getByRole("checkbox", { name: "customer" }).isChecked(), "the shopper is not a customer");
    await adminRole.check();
    await row.getByRole("button", { name: "Save roles" }).click();
    await row.getByText("Saved.").waitFor();
    await snap(admin.page, "admin-users");
    await adminRole.uncheck();
    await row.getByRole("button", { name: "Save roles" }).click();
    await row.getByText("Saved.").waitFor();
    check(!(await adminRole.isChecked()), "the admin role stayed");
  }],
  ["every page listed in screenshots.txt was screenshotted", async () => {
    const missing = EXPECTED_SHOTS.filter((name) => !shotsTaken.includes(name));
    check(missing.length === 0, `no screenshot of: ${missing.join(", ")}`);
  }],
  ["no console errors and no CSP violations", async () => {
    expectNoProblems(customer.problems, "shopper");
    expectNoProblems(admin.problems, "admin");
    expectNoProblems(visitor.problems, "visitor");
    expectNoProblems(newcomer.problems, "newcomer");
  }],
];

const ok = await run("shop e2e", steps, () => [
  ["shopper", page],
  ["admin", admin.page],
  ["visitor", visitor.page],
  ["newcomer", newcomer.page],
]);
await browser.close();
process.exit(ok ? 0 : 1);
