// A real browser: Debian's chromium, driven by playwright-core over CDP.
// Each page gets its own browser context (fresh cookies and storage), so
// one user's provider session never leaks into another's sign-in.
import { join } from "node:path";
import { CHROMIUM_PATH, chromiumOrSkip, launchChromium } from "../../scripts/chromium.mjs";

export { CHROMIUM_PATH };

/** Sign-in (three redirects), the token exchange and the worker call take well under this. */
const PAGE_TIMEOUT_MS = 30_000;

/** False (the browser flows are skipped) when Chromium is missing; throws instead under CI=true. */
export const browserAvailable = chromiumOrSkip;

export async function startBrowser({ register }) {
  // Signals are run.mjs's to handle; playwright-core still kills the browser if this process exits.
  const browser = await launchChromium({
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  register({ name: "chromium", stop: () => browser.close(), kill: () => {} });
  return {
    version: browser.version(),
    /**
     * Opens `url` in a fresh context, waits until the SPA reports a final
     * state, screenshots it, and returns what the page showed and logged.
     */
    async visit(url, { screenshot }) {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const console = [];
        page.on("console", (message) => console.push(`${message.type()}: ${message.text()}`));
        const requests = [];
        page.on("request", (request) => requests.push(`${request.method()} ${request.url()}`));
        await page.goto(url);
        await page.waitForFunction(() => ["done", "blocked", "error"].includes(document.body.dataset.state), null, {
          timeout: PAGE_TIMEOUT_MS,
        });
        await page.screenshot({ path: screenshot, fullPage: true });
        return {
          state: await page.evaluate(() => document.body.dataset.state),
          result: await page.locator("#result").textContent(),
          user: await page.locator("#user").textContent(),
          finalUrl: page.url(),
          console,
          requests,
        };
      } finally {
        await context.close();
      }
    },
  };
}

export const screenshotPath = (outputDir, name) => join(outputDir, `${name}.png`);
