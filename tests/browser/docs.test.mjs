// /docs in a real browser: starts `kumo up examples/todo` on free loopback
// ports, opens the page in Debian's chromium (headless, through
// playwright-core, a fresh user data dir), checks every operationId of the
// spec is listed, creates a todo with the createTodo "Try it" form (201, the
// title in the shown body) and lists it with the listTodos form. The page
// must make no request to another origin and throw no script error.
//
//   KUMO_BIN   the kumo binary (default: build/kumo of this checkout)
//   CHROMIUM   the browser (default: /usr/bin/chromium)
//   KUMO_DOCS_SCREENSHOT  a PNG path to save the page to (optional)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = process.env.KUMO_SOURCE_DIR || path.resolve(here, '..', '..');
const kumoBin = process.env.KUMO_BIN || path.join(source, 'build', 'kumo');
const chromiumBin = process.env.CHROMIUM || '/usr/bin/chromium';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let tmp, gateway, gatewayExit, stderr = '', base, context, page;
const pageErrors = [];
const foreign = [];

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-browser-'));
  const project = path.join(tmp, 'todo');
  fs.cpSync(path.join(source, 'examples', 'todo'), project, {
    recursive: true,
    filter: (p) => !p.split(path.sep).includes('.kumo'),
  });
  // one schedule event (never due while the test runs) for the Events section
  fs.appendFileSync(path.join(project, 'kumo.yaml'),
                    'events:\n  yearly: {schedule: "0 3 1 1 *", timezone: Europe/Zurich, handler: todos.listTodos}\n');
  const port = await freePort();
  const adminPort = await freePort();
  base = `http://127.0.0.1:${port}`;
  gateway = spawn(kumoBin, ['up', project, '--port', String(port), '--admin-port', String(adminPort), '--threads', '1'],
                  { stdio: ['ignore', 'ignore', 'pipe'] });
  gateway.stderr.on('data', (d) => { stderr += d; });
  gatewayExit = new Promise((resolve) => gateway.on('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 60000;
  for (;;) {
    if (gateway.exitCode !== null) throw new Error(`kumo up exited with ${gateway.exitCode}:\n${stderr}`);
    try {
      const r = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`kumo up did not become ready:\n${stderr}`);
    await sleep(100);
  }

  context = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: chromiumBin,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('request', (r) => { if (!r.url().startsWith(base + '/')) foreign.push(r.url()); });
  page.setDefaultTimeout(15000);
});

after(async () => {
  if (context) await context.close();
  // let the gateway see the browser's keep-alive connections close first
  await sleep(500);
  if (gateway && gateway.exitCode === null) {
    gateway.kill('SIGTERM');
    const { code, signal } = await gatewayExit;
    // The gateway must drain cleanly even with the browser's connections
    // still open.
    if (code !== 0) {
      const msg = `kumo up did not stop cleanly (exit ${code}, signal ${signal}):\n${stderr.slice(-1500)}`;
      assert.fail(msg);
    }
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function tryIt(operationId) {
  const section = page.locator(`section[data-operation-id="${operationId}"]`);
  await assert.doesNotReject(section.waitFor());
  const details = section.locator('details.try');
  if (!(await details.evaluate((d) => d.open))) await details.locator('summary').click();
  return section;
}

test('/docs lists every operation of the spec', async () => {
  const spec = await (await fetch(`${base}/openapi.json`)).json();
  const ids = [];
  for (const item of Object.values(spec.paths)) {
    for (const op of Object.values(item)) if (op && op.operationId) ids.push(op.operationId);
  }
  assert.equal(ids.length, 9);
  const res = await page.goto(`${base}/docs`);
  assert.equal(res.status(), 200);
  await page.locator('body[data-ready="true"]').waitFor();
  const text = await page.locator('main').innerText();
  for (const id of ids) {
    assert.ok(text.includes(id), `operationId ${id} is not on the page`);
    assert.equal(await page.locator(`section[data-operation-id="${id}"]`).count(), 1, id);
  }
  assert.equal(await page.locator('nav a[href^="#op-"]').count(), ids.length);
  assert.match(await page.title(), /todo/);
  // the events, after the operations: name, schedule and zone, three fire times
  const ev = page.locator('section[data-event="yearly"]');
  assert.equal(await ev.count(), 1);
  const evText = await ev.innerText();
  assert.ok(evText.includes('"0 3 1 1 *" (Europe/Zurich)'), evText);
  assert.ok(evText.includes('todos.listTodos'), evText);
  assert.equal(await ev.locator('ul.fire-times li').count(), 3);
  assert.equal(await page.locator('nav a[href="#event-yearly"]').count(), 1);
});

test('Try it: createTodo answers 201 with the title, and listTodos shows it', async () => {
  const title = `browser todo ${process.pid}-${Date.now()}`;
  const create = await tryIt('createTodo');
  const body = create.getByLabel(/^body/);
  assert.match(await body.inputValue(), /"title"/, 'the body starts from the example');
  await body.fill(JSON.stringify({ title }));
  await create.getByRole('button', { name: 'Send' }).click();
  const status = create.locator('.response-status');
  await status.waitFor();
  assert.equal((await status.innerText()).trim(), '201');
  assert.ok((await create.locator('.response-body').innerText()).includes(title));
  assert.match(await create.locator('.response-headers').innerText(), /^location: \/todos\//m);

  const list = await tryIt('listTodos');
  await list.getByLabel(/^limit/).fill('100');
  await list.getByRole('button', { name: 'Send' }).click();
  const listStatus = list.locator('.response-status');
  await listStatus.waitFor();
  assert.equal((await listStatus.innerText()).trim(), '200');
  assert.ok((await list.locator('.response-body').innerText()).includes(title), 'the new todo is listed');

  if (process.env.KUMO_DOCS_SCREENSHOT) await create.screenshot({ path: process.env.KUMO_DOCS_SCREENSHOT });
});

test('the page stays on its origin and throws no error', () => {
  assert.deepEqual(foreign, []);
  assert.deepEqual(pageErrors, []);
});
