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

/** Launches Chromium headless with {@link CHROMIUM_ARGS}. */
export function launchChromium(options = {}) {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, ...options });
}
