/** Debian's Chromium driven by playwright-core (never a downloaded browser). */
import { execFileSync } from 'node:child_process';
import { chromium, type Browser, type Locator } from 'playwright-core';

export function chromiumPath(): string {
  return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim();
}

/**
 * How long a wait may last before it fails: a bound, not an expectation of speed. Generous, as a
 * CI machine shared by parallel suites can be many times slower than an idle one.
 */
export const WAIT_LIMIT_MS = 60_000;

export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // No background traffic: this machine has no network beyond loopback.
    args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // Every context's actions and navigations wait up to WAIT_LIMIT_MS (Playwright's default: 30 s).
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    context.setDefaultTimeout(WAIT_LIMIT_MS);
    return context;
  };
  return browser;
}

/**
 * Waits until what the page shows settles on the expected value (pages navigate after a
 * click), then asserts with jest so that a failure shows both values.
 */
export async function settles<T>(read: () => Promise<T>, expected: T, timeoutMs = WAIT_LIMIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let actual: T = await read().catch(() => undefined as T);
  while (!isEqual(actual, expected) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    actual = await read().catch(() => undefined as T);
  }
  expect(actual).toEqual(expected);
}

const isEqual = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export const texts = (locator: Locator) => () => locator.allTextContents().then((all) => all.map((t) => t.trim()));
export const text = (locator: Locator) => () => locator.first().textContent({ timeout: 250 }).then((t) => t?.trim());
export const count = (locator: Locator) => () => locator.count();
export const includes = (locator: Locator, part: string) => () => locator.first().textContent({ timeout: 250 }).then((t) => (t ?? '').includes(part));
