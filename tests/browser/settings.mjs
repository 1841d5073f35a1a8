// The settings page end to end in Debian's headless Chromium, as a person uses it: log in, create
// an API key (its secret shown once), call an items route with that key from outside the browser,
// revoke the key on the page, and see the same call refused with 401. Also checks that the page
// loads nothing from elsewhere and that its strict Content-Security-Policy blocks nothing of its own.
//
//   EMAIL=... PASSWORD=... node settings.mjs http://127.0.0.1:8080 [screenshot.png]
//
// Exits non-zero, saying why, when a check fails.
import { launchChromium } from './chromium.mjs';

const base = process.argv[2];
const screenshot = process.argv[3] ?? 'settings.png';
const { EMAIL: email, PASSWORD: password } = process.env;
if (!base || !email || !password) {
  console.error('usage: EMAIL=... PASSWORD=... node settings.mjs <server base URL> [screenshot.png]');
  process.exit(2);
}
const origin = new URL(base).origin;

const browser = await launchChromium();
const failures = [];
const check = (ok, message) => {
  if (!ok) failures.push(message);
};

/** An items call from outside the browser, with `key` as the credential. */
async function listItems(key) {
  const res = await fetch(`${base}/v1/plugins/items/items`, {
    headers: { authorization: `Bearer ${key}` },
  });
  return res.status;
}

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const requested = [];
  page.on('request', (request) => requested.push(request.url()));
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  // Refused calls (the 401 before logging in) are logged by the browser as errors too; what
  // must not appear is a script error or anything the Content-Security-Policy blocked.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(m.text());
    }
  });

  const response = await page.goto(`${base}/settings`, { waitUntil: 'networkidle', timeout: 30_000 });
  check(response && response.status() === 200, `/settings answered ${response && response.status()}`);
  const csp = response ? response.headers()['content-security-policy'] ?? '' : '';
  check(csp.includes("default-src 'none'"), `weak or missing Content-Security-Policy: ${csp}`);

  // Log in.
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: 30_000 });
  await page.fill('#email', email);
  await page.fill('#password', 'not the password');
  await page.click('#login-form button[type=submit]');
  await page.locator('#login-error').filter({ hasText: /wrong/ }).waitFor({ timeout: 30_000 });
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
  await page.locator('#account').waitFor({ state: 'visible', timeout: 30_000 });
  check((await page.textContent('#who')) === email, `the page shows ${await page.textContent('#who')}`);
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'session');
  check(session && session.httpOnly && session.sameSite === 'Lax', `session cookie: ${JSON.stringify(session)}`);

  // Create a key; the secret appears once.
  await page.fill('#key-name', 'from the browser');
  await page.fill('#key-scopes', 'items:read');
  await page.click('#create-form button[type=submit]');
  await page.locator('#new-key').waitFor({ state: 'visible', timeout: 30_000 });
  const key = (await page.textContent('#new-key-value'))?.trim() ?? '';
  check(/^plk_[A-Za-z0-9_-]{43}$/.test(key), `the new key looks wrong: ${key}`);
  const row = page.locator('#keys tbody tr').filter({ hasText: 'from the browser' });
  await row.waitFor({ timeout: 30_000 });
  check(!(await page.textContent('#keys')).includes(key), 'the key list shows a secret');
  await page.screenshot({ path: screenshot, fullPage: true });

  // The key works from outside the browser.
  check((await listItems(key)) === 200, 'the new key was refused');

  // Revoke it on the page; the same call is now refused.
  await row.locator('button.revoke').click();
  await row.waitFor({ state: 'detached', timeout: 30_000 });
  const after = await listItems(key);
  check(after === 401, `the revoked key got ${after}, not 401`);

  // Log out: the page asks for a login again.
  await page.click('#logout');
  await page.locator('#login-form').waitFor({ state: 'visible', timeout: 30_000 });

  const outside = requested.filter((url) => !url.startsWith(`${origin}/`));
  check(outside.length === 0, `requests left the server: ${outside.join(', ')}`);
  check(problems.length === 0, `errors on the page: ${problems.join('; ')}`);
  console.log(`${requested.length} requests, all to ${origin}; screenshot ${screenshot}`);
} finally {
  await browser.close();
}
for (const f of failures) {
  console.error(`FAIL: ${f}`);
}
console.log(`settings: ${failures.length === 0 ? 1 : 0} passed, ${failures.length === 0 ? 0 : 1} failed`);
process.exit(failures.length === 0 ? 0 : 1);
