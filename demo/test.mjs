// `npm run test:demo`: starts the demo exactly as `npm run dev` does, on free
// ports and with fresh local state, and walks the demo page through headless
// Chromium the way a person would. Saves a screenshot on the way: to
// test-results/demo.png, or to the committed docs/demo.png with UPDATE_SCREENSHOT=1.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CHROMIUM_PATH, chromiumAvailable, launchChromium } from "../scripts/chromium.mjs";
import { freePorts, startGroup, waitFor200 } from "./harness.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** A cold `wrangler dev` builds the worker and boots workerd; a slow CI box needs a while. */
const READY_TIMEOUT_MS = 60_000;
/** Each step is a few local requests; anything slower is a failure worth seeing. */
const STEP_TIMEOUT_MS = 10_000;
/** The committed screenshot's size: readable in a README, small as a PNG. */
const VIEWPORT = { width: 1100, height: 800 };
const SCREENSHOT =
  process.env.UPDATE_SCREENSHOT === "1" ? join(ROOT, "docs", "demo.png") : join(ROOT, "test-results", "demo.png");
const FAILURE_SCREENSHOT = join(ROOT, "test-results", "demo-failure.png");
/** What a masked client secret looks like on the page. */
const MASKED_SECRET = /^ek_…[A-Za-z0-9]{4}$/;
/** The stand-in's full secret: it must never be in the page. */
const FULL_SECRET = /ek_demo_[0-9a-f]{8,}/;

const started = Date.now();
const results = [];

async function step(name, body) {
  if (results.some((result) => !result.ok)) return results.push({ name, ok: false, skipped: true });
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`  ✓ ${name}`);
  } catch (error) {
    results.push({ name, ok: false });
    console.log(
      `  ✗ ${name}\n      ${String(error.message ?? error)
        .split("\n")
        .join("\n      ")}`,
    );
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

/** Waits for the page's current action to finish (app.js sets data-busy around each). */
const settle = (page) => page.waitForFunction(() => document.body.dataset.busy === "false");
const rows = (page) => page.locator("#sessions tr");
const statuses = (page) => rows(page).evaluateAll((trs) => trs.map((tr) => tr.dataset.status));

async function click(page, selector) {
  await page.click(selector);
  await settle(page);
}

/** The demo page against a given worker; the issuer is always this run's. */
const pageUrl = (urls, worker) =>
  `${urls.demo}/?worker=${encodeURIComponent(worker)}&issuer=${encodeURIComponent(urls.issuer)}`;

async function walkThrough(page, urls) {
  await step("the page loads, pointed at this run's worker and issuer", async () => {
    await page.goto(pageUrl(urls, urls.worker));
    await page.waitForSelector("body[data-ready=true]");
    expect((await page.textContent("#worker-url")) === urls.worker, "worker URL not shown");
    expect(await page.isDisabled("#start"), "Start session is enabled before sign-in");
  });

  await step("alice signs in and has no sessions yet", async () => {
    await click(page, "[data-sign-in=alice]");
    expect((await page.textContent("#who")).includes("alice"), "not signed in as alice");
    expect((await rows(page).count()) === 0, "alice already has sessions");
    expect(await page.isVisible("#empty"), "no empty-list message");
  });

  await step("she starts a session and sees its id, status and a masked, counting-down secret", async () => {
    await click(page, "#start");
    await page.waitForSelector("#sessions tr[data-status=active]");
    const secret = await page.textContent("#current-secret");
    expect(MASKED_SECRET.test(secret), `secret not masked: ${secret}`);
    expect(/^expires in \d\d:\d\d$/.test(await page.textContent("#current-expiry")), "no expiry countdown");
    expect((await page.textContent("#current-status")) === "active", "status is not active");
    const id = await page.textContent("#current-id");
    expect((await rows(page).first().getAttribute("data-session-id")) === id, "started session not listed");
    expect(!FULL_SECRET.test(await page.content()), "the whole client secret is in the page");
  });

  await step("she cancels it from the list and sees it cancelled", async () => {
    await click(page, "#sessions [data-cancel]");
    expect(JSON.stringify(await statuses(page)) === '["cancelled"]', "session not shown as cancelled");
    expect((await page.textContent("#current-status")) === "cancelled", "current session still shown active");
    expect((await page.textContent("#notice")) === "Session cancelled.", "no confirmation");
  });

  await step("she starts two more, and both are listed as active", async () => {
    await click(page, "#start");
    await click(page, "#start");
    // Newest first, by created_at in whole seconds: sessions of the same second may come in any order.
    expect(JSON.stringify((await statuses(page)).sort()) === '["active","active","cancelled"]', "list is wrong");
    const id = await page.textContent("#current-id");
    expect(
      (await page.getAttribute(`#sessions tr[data-session-id="${id}"]`, "data-status")) === "active",
      "not listed",
    );
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
  });

  await step("Cancel all ends both", async () => {
    await click(page, "#cancel-all");
    expect((await page.textContent("#notice")) === "Cancelled 2 sessions.", "no count of cancelled sessions");
    expect(
      (await statuses(page)).every((status) => status === "cancelled"),
      "a session is still active",
    );
  });

  await step("bob signs in and sees none of alice's sessions", async () => {
    await click(page, "[data-sign-in=bob]");
    expect((await page.textContent("#who")).includes("bob"), "not signed in as bob");
    expect((await rows(page).count()) === 0, "bob sees sessions");
    expect((await page.textContent("#empty")).startsWith("No sessions yet"), "no empty-list message");
    expect(await page.isHidden("#current"), "alice's session is still shown");
  });

  await step("an expired token is explained in words, with the code as fine print", async () => {
    await click(page, "#sign-in-expired");
    expect(await page.isVisible("#error"), "no error shown");
    const text = await page.textContent("#error-text");
    expect(text === "Your sign-in has expired or is not valid (invalid_token). Sign in again.", `error: ${text}`);
    expect((await page.textContent("#error-detail")).startsWith("invalid_token · "), "no fine print");
    expect((await page.textContent("#empty")) === "Your sessions could not be loaded.", "list failure not said");
  });

  await step("an unreachable worker is explained in words", async () => {
    await page.goto(pageUrl(urls, urls.closed));
    await page.waitForSelector("body[data-ready=true]");
    await click(page, "[data-sign-in=alice]");
    const text = await page.textContent("#error-text");
    expect(text.includes(`The gate at ${urls.closed} could not be reached (network_error)`), `error: ${text}`);
  });
}

async function main() {
  if (!chromiumAvailable()) {
    console.error(`Chromium is missing at ${CHROMIUM_PATH}: apt-get install -y chromium`);
    return false;
  }
  const [worker, issuer, chatkit, demo, inspector, closed] = await freePorts(6);
  const state = mkdtempSync(join(tmpdir(), "chatkit-gate-demo-test-"));
  const dev = startGroup(
    "scripts/dev.mjs",
    [
      "--persist-to",
      join(state, "persist"),
      "--inspector-port",
      String(inspector),
      "--show-interactive-dev-session=false",
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(worker),
        ISSUER_PORT: String(issuer),
        CHATKIT_PORT: String(chatkit),
        DEMO_PORT: String(demo),
        CHATKIT_GATE_DEMO: "1",
        CLOUDFLARE_CF_FETCH_ENABLED: "false",
        WRANGLER_SEND_METRICS: "false",
      },
    },
  );
  let browser;
  let interrupted = false;
  const cleanUp = async () => {
    await browser?.close().catch(() => {});
    await dev.stop();
    rmSync(state, { recursive: true, force: true });
  };
  // Last resort: whatever happens, the dev group does not outlive this process.
  process.on("exit", dev.killNow);
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.once(signal, () => {
      interrupted = true;
      console.log(`\n${signal}: stopping the demo`);
      cleanUp().finally(() => process.exit(130));
    });
  }
  const urls = {
    worker: `http://127.0.0.1:${worker}`,
    issuer: `http://127.0.0.1:${issuer}`,
    closed: `http://127.0.0.1:${closed}`,
    demo: `http://127.0.0.1:${demo}`,
  };
  try {
    await waitFor200([`${urls.worker}/healthz`, `${urls.issuer}/jwks.json`, `${urls.demo}/client.js`], {
      child: dev.child,
      timeoutMs: READY_TIMEOUT_MS,
    });
    console.log(`demo up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // Signals are handled above, so the browser is closed in order rather than by playwright's own handlers.
    browser = await launchChromium({
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    const page = await browser.newPage({ viewport: VIEWPORT });
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    const pageErrors = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await walkThrough(page, urls);
    await step("the page raised no uncaught errors", async () => {
      expect(pageErrors.length === 0, pageErrors.join("\n"));
    });
    if (results.some((result) => !result.ok)) {
      mkdirSync(join(ROOT, "test-results"), { recursive: true });
      await page.screenshot({ path: FAILURE_SCREENSHOT }).catch(() => {});
      console.log(`  page at the failure: ${FAILURE_SCREENSHOT}`);
    }
  } catch (error) {
    results.push({ name: "set up the demo and the browser", ok: false });
    if (!interrupted) console.log(`  ✗ ${error.message}\n--- npm run dev output (tail) ---\n${dev.output()}`);
  } finally {
    await cleanUp();
  }
  return results.every((result) => result.ok);
}

const ok = await main();
const passed = results.filter((result) => result.ok).length;
const skipped = results.filter((result) => result.skipped).length;
const failed = results.length - passed - skipped;
const runtime = ((Date.now() - started) / 1000).toFixed(1);
console.log(
  `\n${passed} passed, ${failed} failed${skipped ? ` (${skipped} not run after a failure)` : ""} in ${runtime} s`,
);
process.exit(ok ? 0 : 1);
