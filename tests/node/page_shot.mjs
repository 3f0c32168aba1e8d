// Opens one URL in headless Chromium (playwright-core, the system's /usr/bin/chromium) as a
// person would, with optional extra request headers and cookies, saves a full-page screenshot
// and prints one JSON line: the status, what the page renders (title, lang, visible text,
// landmarks, links, scripts) for the test to assert on.
//
//   node page_shot.mjs --url URL --out PNG [--header 'Name: value']... [--cookie 'name=value']...

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    out: { type: 'string' },
    header: { type: 'string', multiple: true, default: [] },
    cookie: { type: 'string', multiple: true, default: [] },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
if (!args.url || !args.out) {
  console.error('missing --url or --out');
  process.exit(2);
}

const userDataDir = mkdtempSync(join(tmpdir(), 'portcullis-page-'));
const result = { ok: false };
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: args.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
    viewport: { width: 900, height: 640 },
    extraHTTPHeaders: Object.fromEntries(args.header.map((h) => {
      const at = h.indexOf(':');
      return [h.slice(0, at).trim(), h.slice(at + 1).trim()];
    })),
  });
  const url = new URL(args.url);
  if (args.cookie.length) {
    await context.addCookies(args.cookie.map((c) => {
      const at = c.indexOf('=');
      return { name: c.slice(0, at), value: c.slice(at + 1), domain: url.hostname, path: '/' };
    }));
  }
  const page = context.pages()[0] ?? await context.newPage();
  const response = await page.goto(args.url, { timeout: 15_000 });
  await page.screenshot({ path: args.out, fullPage: true });
  Object.assign(result, await page.evaluate(() => ({
    title: document.title,
    lang: document.documentElement.lang,
    text: document.body.innerText,
    main: document.querySelectorAll('main').length,
    h1: [...document.querySelectorAll('h1')].map((h) => h.innerText),
    links: [...document.querySelectorAll('a')].map((a) => ({ text: a.innerText, href: a.getAttribute('href') })),
    scripts: document.querySelectorAll('script').length,
  })));
  result.status = response.status();
  result.content_type = response.headers()['content-type'];
  result.ok = true;
} catch (error) {
  result.error = String(error);
} finally {
  await context?.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
