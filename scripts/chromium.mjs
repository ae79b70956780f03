// Debian's Chromium, driven by playwright-core, for the browser tests
// (demo/test.mjs and e2e/). Dev-only: never bundled.
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

/** Debian's package; playwright's own browser download cannot reach the network here. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/**
 * A quiet, offline, disposable browser: no sandbox (containers lack the
 * namespaces), no GPU, and none of the background services that would try
 * to reach the internet. Playwright adds a fresh --user-data-dir of its own
 * and removes it on close.
 */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-quic",
  "--disable-sync",
];

export const chromiumAvailable = () => existsSync(CHROMIUM_PATH);

/** How to get the browser, for every message about its absence. */
export const CHROMIUM_MISSING = `no Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)`;

/** Under CI (`CI=true`, as .ci/run and GitHub Actions set it) the browser tests must run, never skip. */
export const browserRequired = () => /^(1|true)$/i.test(process.env.CI ?? "");

/**
 * The one rule for both browser test runs (`npm run test:demo`, `npm run
 * test:e2e`): true when Chromium is there; when it is missing, throws under
 * CI (which installs it, so a missing browser is a broken run) and returns
 * false elsewhere, so the caller skips its browser part and says so.
 */
export function chromiumOrSkip() {
  if (chromiumAvailable()) return true;
  if (browserRequired()) throw new Error(`${CHROMIUM_MISSING}, and CI=true requires the browser tests to run`);
  return false;
}

/** Launches Chromium headless with {@link CHROMIUM_ARGS}. */
export function launchChromium(options = {}) {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, ...options });
}
