// Opens Swagger UI at /docs of a running example server in Debian's headless Chromium and checks
// what a person would see: the page renders the plugins' operations from /openapi.json, a route
// tried from the page is refused until an API key is entered under "Authorize", the commit
// plugin's routes answer from the page about the server's repository, and no request leaves the
// server (Swagger UI's files come from the binary).
//
//   API_KEY=plk_... node docs.mjs http://127.0.0.1:8080 [screenshot.png]
//
// Exits non-zero, saying why, when a check fails.
import { launchChromium } from './chromium.mjs';

const base = process.argv[2];
const screenshot = process.argv[3] ?? 'docs.png';
if (!base) {
  console.error('usage: node docs.mjs <server base URL> [screenshot.png]');
  process.exit(2);
}
const origin = new URL(base).origin;
const apiKey = process.env.API_KEY;
if (!apiKey) {
  console.error('API_KEY must hold an API key with items:read and commit:read');
  process.exit(2);
}

const browser = await launchChromium();
const failures = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
  const requested = [];
  page.on('request', (request) => requested.push(request.url()));
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  const response = await page.goto(`${base}/docs`, { waitUntil: 'networkidle', timeout: 30_000 });
  if (!response || response.status() !== 200) {
    failures.push(`/docs answered ${response && response.status()}`);
  }
  // Swagger UI draws one block per operation once it has fetched and parsed the document.
  await page.waitForSelector('.opblock', { timeout: 30_000 });
  const operations = await page.$$eval('.opblock', (blocks) =>
    blocks.map((b) => {
      const method = b.querySelector('.opblock-summary-method')?.textContent?.trim();
      const path = b.querySelector('.opblock-summary-path')?.getAttribute('data-path')
        ?? b.querySelector('.opblock-summary-path')?.textContent?.trim();
      return `${method} ${path}`;
    }),
  );
  const expected = [
    'GET /v1/plugins/items/items',
    'POST /v1/plugins/items/items',
    'GET /v1/plugins/items/items/{id}',
    'PATCH /v1/plugins/items/items/{id}',
    'DELETE /v1/plugins/items/items/{id}',
    'GET /v1/plugins/items/health',
    'POST /v1/plugins/ai/generate',
    'POST /v1/plugins/ai/generate/stream',
    'GET /v1/plugins/ai/models',
    'GET /v1/plugins/ai/usage',
    'GET /v1/plugins/commit/scopes',
    'GET /v1/plugins/commit/status',
    'POST /v1/plugins/commit/generate',
    'GET /v1/plugins/commit/plan',
    'PATCH /v1/plugins/commit/plan',
    'DELETE /v1/plugins/commit/plan',
    'POST /v1/plugins/commit/regenerate-commit',
    'POST /v1/plugins/commit/apply',
    'POST /v1/plugins/commit/push',
    'GET /v1/plugins/commit/git-status',
    'GET /v1/plugins/commit/files',
    'GET /v1/plugins/commit/diff',
    'POST /v1/plugins/commit/summarize',
    'GET /v1/plugins/commit/actions',
    'GET /openapi/{file}',
    'GET /docs',
  ];
  for (const op of expected) {
    if (!operations.some((o) => o.replace(/\u200b/g, '') === op)) {
      failures.push(`operation ${op} is not on the page (found: ${operations.join(', ')})`);
    }
  }
  const title = await page.textContent('.info .title');
  if (!title || !title.includes('Items example')) {
    failures.push(`the page's title is ${JSON.stringify(title)}`);
  }
  // The streamed route renders, its success as server-sent events.
  const stream = page.locator('#operations-ai-ai_generate_stream');
  await stream.locator('.opblock-summary').click();
  await stream.locator('.responses-wrapper').waitFor({ timeout: 30_000 });
  const streamText = await stream.textContent();
  if (!streamText.includes('text/event-stream')) {
    failures.push('POST /v1/plugins/ai/generate/stream does not show text/event-stream');
  }
  await stream.locator('.opblock-summary').click();
  // Try a route from the page, as a person would: open it, "Try it out", "Execute". Without a
  // credential it is refused; after entering the key under "Authorize" it answers.
  const op = page.locator('#operations-items-items_list_items');
  await op.locator('.opblock-summary').click();
  await op.locator('button.try-out__btn').click();
  // Executes the open operation `on`; the status shown, and the body shown.
  const run = async (on) => {
    await on.locator('button.execute').click();
    const status = on.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor({ timeout: 30_000 });
    const shown = (await status.textContent())?.trim();
    const body = (await on.locator('.live-responses-table .response .response-col_description').first().textContent()) ?? '';
    await on.locator('button.btn-clear').click();
    return [shown, body];
  };
  const execute = async () => (await run(op))[0];
  const before = await execute();
  if (before !== '401') {
    failures.push(`GET /v1/plugins/items/items without a credential showed status ${before}`);
  }
  await page.locator('.auth-wrapper button.authorize').click();
  const scheme = page.locator('.auth-container').filter({ hasText: 'token (http, Bearer)' });
  await scheme.locator('input').fill(apiKey);
  await scheme.locator('button.authorize').click();
  await page.locator('.modal-ux button.close-modal').click();
  const after = await execute();
  if (after !== '200') {
    failures.push(`GET /v1/plugins/items/items with the key showed status ${after}`);
  }
  // The commit plugin, tried from the page: where the server's repository stands, and what
  // can be done next with it.
  for (const [id, expect] of [
    ['commit_status', '"filesChanged"'],
    ['commit_actions', '"generate"'],
  ]) {
    const commit = page.locator(`#operations-commit-${id}`);
    await commit.locator('.opblock-summary').click();
    await commit.locator('button.try-out__btn').click();
    const [status, body] = await run(commit);
    if (status !== '200' || !body.includes(expect)) {
      failures.push(`${id} from the page showed ${status}: ${body.slice(0, 200)}`);
    }
    await commit.locator('.opblock-summary').click();
  }
  if (!requested.some((url) => url.startsWith(`${origin}/v1/plugins/items/items`))) {
    failures.push('the page never called /v1/plugins/items/items');
  }
  const outside = requested.filter(
    (url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:') && !url.startsWith('blob:'),
  );
  if (outside.length > 0) {
    failures.push(`requests left the server: ${outside.join(', ')}`);
  }
  if (!requested.some((url) => url === `${origin}/openapi.json`)) {
    failures.push(`the page never fetched /openapi.json (requests: ${requested.join(', ')})`);
  }
  if (errors.length > 0) {
    failures.push(`script errors on the page: ${errors.join('; ')}`);
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`${operations.length} operations rendered, ${requested.length} requests, all to ${origin}; screenshot ${screenshot}`);
} finally {
  await browser.close();
}
for (const f of failures) {
  console.error(`FAIL: ${f}`);
}
console.log(`docs: ${failures.length === 0 ? 1 : 0} passed, ${failures.length === 0 ? 0 : 1} failed`);
process.exit(failures.length === 0 ? 0 : 1);
