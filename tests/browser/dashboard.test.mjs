// /dashboard in a real browser (issue 14): starts `kumo up` of the faults
// test project (with one schedule event) on free loopback ports, sends it
// traffic with errors, a crash and slow calls, opens the admin port's
// /dashboard in Debian's chromium (headless, playwright-core), waits until
// the charts have data (the data-points counts the page sets on each
// chart), checks the operations, the function's replicas, the schedule
// and the recent failed and slowest invocations, opens a failed one for
// its log lines and trace, and saves a screenshot a reviewer can look at,
// light and dark. The page must load nothing from another origin and
// throw no script error.
//
//   KUMO_BIN   the kumo binary (default: build/kumo of this checkout)
//   CHROMIUM   the browser (default: /usr/bin/chromium)
//   KUMO_DASHBOARD_SCREENSHOT  the PNG to write (default: tests/browser/out/dashboard.png;
//                              the dark one beside it, -dark.png)
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
const shot = process.env.KUMO_DASHBOARD_SCREENSHOT || path.join(here, 'out', 'dashboard.png');

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

let tmp, gateway, gatewayExit, stderr = '', base, admin, context, page;
const pageErrors = [];
const foreign = [];

async function send(pathname, times) {
  const codes = [];
  for (let i = 0; i < times; i++) {
    const r = await fetch(base + pathname);
    await r.arrayBuffer();
    codes.push(r.status);
  }
  return codes;
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-dashboard-'));
  const project = path.join(tmp, 'faults');
  fs.cpSync(path.join(source, 'tests', 'integration', 'projects', 'faults'), project, {
    recursive: true,
    filter: (p) => !p.split(path.sep).includes('.kumo'),
  });
  // a timeout no cold start on a loaded machine (sanitizers, parallel tests) comes near
  const yaml = path.join(project, 'kumo.yaml');
  fs.writeFileSync(yaml, fs.readFileSync(yaml, 'utf8').replace('timeout: 3s', 'timeout: 60s'));
  fs.appendFileSync(path.join(project, 'kumo.yaml'),
                    'events:\n  nightly: {schedule: "0 3 * * *", timezone: Europe/Zurich, handler: faults.items_mine}\n');
  const port = await freePort();
  const adminPort = await freePort();
  base = `http://127.0.0.1:${port}`;
  admin = `http://127.0.0.1:${adminPort}`;
  gateway = spawn(kumoBin, ['up', project, '--port', String(port), '--admin-port', String(adminPort), '--threads', '2'],
                  { stdio: ['ignore', 'ignore', 'pipe'],
                    // the testing knob: a history sample every 200 ms instead of 10 s
                    env: { ...process.env, KUMO_HISTORY_INTERVAL_MS: '200' } });
  gateway.stderr.on('data', (d) => { stderr += d; });
  gatewayExit = new Promise((resolve) => gateway.on('exit', (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + 60000;
  for (;;) {
    if (gateway.exitCode !== null) throw new Error(`kumo up exited with ${gateway.exitCode}:\n${stderr}`);
    try {
      const r = await fetch(`${admin}/readyz`);
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`kumo up did not become ready:\n${stderr}`);
    await sleep(100);
  }
  // traffic in waves over some seconds, so the charts (1 s steps over
  // the last minute: ?since=60) have more than one point
  for (let wave = 1; wave <= 8; wave++) {
    const n = 4 + 3 * (wave % 4);
    assert.deepEqual(await send('/items/a', n), new Array(n).fill(200));
    if (wave % 3 !== 0) assert.deepEqual(await send('/fail', 1), [500]);
    assert.deepEqual(await send(`/slow?ms=${40 + 20 * wave}`, 1), [200]);
    await sleep(900);
  }
  assert.deepEqual(await send('/crash', 1), [502]);
  assert.deepEqual(await send('/log', 2), [200, 200]);

  context = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
    executablePath: chromiumBin,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
  });
  page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('request', (r) => { if (!r.url().startsWith(admin + '/')) foreign.push(r.url()); });
  page.setDefaultTimeout(20000);
});

after(async () => {
  if (context) await context.close();
  await sleep(500);
  if (gateway && gateway.exitCode === null) {
    gateway.kill('SIGTERM');
    const { code, signal } = await gatewayExit;
    if (code !== 0) assert.fail(`kumo up did not stop cleanly (exit ${code}, signal ${signal}):\n${stderr.slice(-1500)}`);
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const points = (sel) => page.locator(sel).evaluate((e) => Number(e.dataset.points || 0));

test('/dashboard draws the traffic: rates, latency, replicas, schedules, recent invocations', async () => {
  const res = await page.goto(`${admin}/dashboard?since=60`);
  assert.equal(res.status(), 200);
  // the history samples every 200 ms and the page refreshes every 5 s:
  // wait (bounded) until every operation sent to is charted
  await page.waitForFunction(() => {
    const ops = ['items_one', 'fail', 'slow', 'crash', 'log_twice'];
    return document.body.dataset.ready === '1' &&
      ops.every((op) => document.querySelector(`[data-operation="${op}"] .chart[data-points]:not([data-points="0"])`));
  }, null, { timeout: 90000, polling: 250 });
  // once the page knows kumo samples every 200 ms, a minute is 1 s steps
  await page.waitForFunction(() => document.body.dataset.step === '1', null, { timeout: 90000, polling: 250 });
  assert.ok(Number(await page.locator('body').getAttribute('data-points')) > 20);
  assert.ok(await points('#ov-rate') > 0, 'the overview rate chart has points');
  assert.ok(await points('#ov-lat') > 0, 'the overview latency chart has points');
  assert.match(await page.locator('#project').innerText(), /faults/);
  const tiles = await page.locator('#tiles').innerText();
  assert.match(tiles, /error rate/);
  assert.match(tiles, /p99 latency/);

  // per operation: the failing one's card says 100 % errors
  const fail = page.locator('[data-operation="fail"]');
  assert.match(await fail.innerText(), /errors\s+6 \(100\.0 %\)/); // waves 1, 2, 4, 5, 7, 8
  assert.match(await page.locator('[data-operation="slow"]').innerText(), /GET \/slow/);
  // the function's replicas were sampled
  const fn = page.locator('[data-function="faults"]');
  assert.equal(await fn.count(), 1);
  assert.ok(await fn.locator('.chart').first().evaluate((e) => Number(e.dataset.points)) > 0, 'replicas charted');

  // the schedule, and no monitors yet
  assert.match(await page.locator('#events').innerText(), /nightly[\s\S]*0 3 \* \* \* \(Europe\/Zurich\)/);
  assert.match(await page.locator('#alerts').innerText(), /monitor|alert/i);

  // recent: the failures (6 fail + 1 crash) and the slowest first
  await page.waitForFunction(() => Number(document.getElementById('failed').dataset.rows) === 7);
  const failed = await page.locator('#failed').innerText();
  assert.match(failed, /crash[\s\S]*502/);
  assert.match(failed, /fail[\s\S]*500/);
  // the slow calls are among the slowest (a cold start may be slower still)
  assert.ok(await page.locator('#slowest tr.row', { hasText: 'slow' }).count() >= 1);
  // a row opens on its log lines and trace id
  const row = page.locator('#failed tr.row').first();
  await row.click();
  const detail = page.locator('#failed tr.logs').first();
  assert.ok(await detail.isVisible());
  assert.match(await detail.innerText(), /trace[\s\S]*request/);

  await row.click(); // closed again: the screenshot shows the tables whole
  await page.evaluate(() => window.scrollTo(0, 0));
  fs.mkdirSync(path.dirname(shot), { recursive: true });
  await page.screenshot({ path: shot, fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.waitForTimeout(300);
  await page.screenshot({ path: shot.replace(/\.png$/, '-dark.png'), fullPage: true });
  console.log(`screenshots: ${shot}, ${shot.replace(/\.png$/, '-dark.png')}`);
});

test('the page stays on its origin and throws no error', () => {
  assert.deepEqual(foreign, []);
  assert.deepEqual(pageErrors, []);
});
