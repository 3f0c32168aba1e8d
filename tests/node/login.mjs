// Signs in through a proxy protected by Portcullis with a real headless Chromium, then signs out.
//
//   node login.mjs --protected URL --sign-out URL --signed-out URL --issuer URL --out-dir DIR
//                  [--user alice] [--chromium /usr/bin/chromium] [--revisit-after-ms N]
//
// 1. opens the protected URL and expects the provider's sign-in page (oidc-provider's dev page);
// 2. signs in as --user, consents, and expects to land on the protected URL, exactly;
// 3. opens it once more, after --revisit-after-ms when given (the session holds, refreshed when
//    it is older than the refresh age: `cookies_after_revisit` then differ in `digest`);
// 4. opens the sign-out URL, confirms the provider's logout page when it shows one, and expects
//    to land on --signed-out;
// 5. opens the protected URL again and expects the provider's sign-in page again.
//
// Prints one JSON object on stdout: what each step saw (URL, page text, the app's JSON when the
// page is the echo app), the cookies after sign-in (no values: a size and a digest), every document response
// (`navigations`: status and URL, redirects included), and on failure `error`, the
// failing step, the page text and the path of a screenshot in --out-dir. Exits 0 when every step
// went as expected, 1 otherwise. Judging the values (headers, cookie flags) is the caller's job.
//
// Only 127.0.0.1 is reachable: every other request (the fonts the dev pages import) is aborted,
// so that no page load waits on a network that is not there.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const STEP_TIMEOUT_MS = 15_000;

// The flags headless Chromium needs on these machines (shared/PEERS.md).
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const { values: args } = parseArgs({
  options: {
    protected: { type: 'string' },
    'sign-out': { type: 'string' },
    'signed-out': { type: 'string' },
    issuer: { type: 'string' },
    'out-dir': { type: 'string' },
    user: { type: 'string', default: 'alice' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    'revisit-after-ms': { type: 'string', default: '0' },
  },
});
for (const required of ['protected', 'sign-out', 'signed-out', 'issuer', 'out-dir']) {
  if (!args[required]) {
    console.error(`missing --${required}`);
    process.exit(2);
  }
}

const result = { ok: false, steps: {}, navigations: [], blocked: [] };
let step = 'launch';
const userDataDir = mkdtempSync(join(tmpdir(), 'portcullis-chromium-'));
let context;
let page;

/** The browser's cookies without their values: a size and a digest tell a changed cookie. */
async function cookieList() {
  return (await context.cookies()).map(({ value, ...cookie }) => ({
    ...cookie,
    size: value.length,
    digest: createHash('sha256').update(value).digest('hex').slice(0, 16),
  }));
}

/** What the page shows now: its URL, its text, and the echo app's JSON when it is that. */
async function seen() {
  const text = await page.evaluate(() => document.body?.innerText ?? '');
  let app = null;
  try {
    app = JSON.parse(text);
  } catch {
    // not the app's JSON page
  }
  return { url: page.url(), title: await page.title(), text: app ? undefined : text.slice(0, 2000), app };
}

/** Waits for the provider's sign-in form; fails naming where the browser is instead. */
async function expectSignInPage() {
  const issuerPrefix = `${args.issuer}/interaction/`;
  await page.waitForURL((url) => url.href.startsWith(issuerPrefix), { timeout: STEP_TIMEOUT_MS });
  await page.waitForSelector('input[name="login"]', { timeout: STEP_TIMEOUT_MS });
}

/** Waits until the browser is on exactly `url` and that page has loaded. */
async function expectUrl(url) {
  await page.waitForURL((current) => current.href === url, { timeout: STEP_TIMEOUT_MS, waitUntil: 'load' });
}

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: args.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: STEP_TIMEOUT_MS,
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') {
      return route.continue();
    }
    result.blocked.push(url.origin);
    return route.abort();
  });
  page = context.pages()[0] ?? (await context.newPage());
  // Every document the browser was answered with, redirects included: the trail of a failure.
  page.on('response', (response) => {
    if (response.request().isNavigationRequest() && response.frame() === page.mainFrame()) {
      result.navigations.push(`${response.status()} ${response.url()}`);
    }
  });
  result.browser = `Chromium ${context.browser()?.version() ?? ''}`.trim();

  step = 'open protected URL';
  await page.goto(args.protected, { waitUntil: 'load' });
  await expectSignInPage();
  result.steps.login_page = await seen();

  step = 'sign in';
  await page.fill('input[name="login"]', args.user);
  await page.fill('input[name="password"]', 'any password works on the dev page');
  await page.click('button[type="submit"]');
  // The next page is the consent page: wait for it to load before touching it.
  await page.waitForSelector('input[name="prompt"][value="consent"]', { state: 'attached', timeout: STEP_TIMEOUT_MS });
  result.steps.consent_page = await seen();

  step = 'consent';
  await page.click('button[type="submit"]');
  await expectUrl(args.protected);
  result.steps.after_login = await seen();
  result.cookies = await cookieList();

  step = 'visit again while signed in';
  await new Promise((resolve) => setTimeout(resolve, Number(args['revisit-after-ms'])));
  await page.goto(args.protected, { waitUntil: 'load' });
  result.steps.second_visit = await seen();
  result.cookies_after_revisit = await cookieList();

  step = 'sign out';
  await page.goto(args['sign-out'], { waitUntil: 'load' });
  result.steps.sign_out_page = await seen();
  result.steps.sign_out_page.provider_confirmation = page.url().startsWith(`${args.issuer}/session/end`);
  if (result.steps.sign_out_page.provider_confirmation) {
    step = 'confirm sign-out at the provider';
    await page.click('button[name="logout"][value="yes"]');
  }
  await expectUrl(args['signed-out']);
  result.steps.signed_out = await seen();
  result.cookies_after_sign_out = await cookieList();

  step = 'open protected URL after sign-out';
  await page.goto(args.protected, { waitUntil: 'load' });
  await expectSignInPage();
  result.steps.login_page_again = await seen();

  result.ok = true;
} catch (error) {
  result.error = `${step}: ${error.message}`;
  result.failed_step = step;
  if (page) {
    // A failed navigation may still be replacing the page (Chromium's error page): let it settle.
    await page.waitForLoadState('load', { timeout: 5_000 }).catch(() => {});
    try {
      const screenshot = join(args['out-dir'], 'failure.png');
      await page.screenshot({ path: screenshot, fullPage: true, timeout: 5_000 });
      result.screenshot = screenshot;
    } catch (inner) {
      result.screenshot_error = inner.message;
    }
    result.page = await seen().catch((inner) => ({ url: page.url(), error: inner.message }));
  }
} finally {
  await context?.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}

console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
