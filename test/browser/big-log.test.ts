/**
 * The log viewer with a 100 000-line run: watched live (batched rendering, auto-scroll that
 * pauses when the user scrolls up), then reloaded as the stored log and searched; only the rows
 * in view are in the DOM and no frame blocks for long.
 */
import type { Browser, Page } from 'playwright-core';
import { createWorkspace, startTask, uniqueName, uploadConfig, waitForEnd, type TestRunway } from '../support/runway.js';
import { startRunway } from '../support/runway.js';
import { ensureWebBuild, expectText, launchBrowser, logState, openPage, screenshot, signIn, type WatchedPage } from './browser.js';

const LINES = 100_000;
/** A main-thread task this long would be a visible freeze; virtualized rendering stays far below. */
const MAX_BLOCKING_MS = 1000;

let rw: TestRunway;
let browser: Browser;
let w: WatchedPage;
let page: Page;

beforeAll(async () => {
  await ensureWebBuild();
  [rw, browser] = await Promise.all([startRunway(), launchBrowser()]);
  w = await openPage(browser);
  page = w.page;
  // Long main-thread tasks, recorded from the first script on every page load.
  await page.addInitScript(() => {
    const g = globalThis as any;
    g.__longTasks = [];
    new g.PerformanceObserver((list: any) => {
      for (const e of list.getEntries()) g.__longTasks.push(Math.round(e.duration));
    }).observe({ entryTypes: ['longtask'] });
  });
  await signIn(page, rw.app.url, rw.adminToken);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await rw?.stop();
});

afterEach(() => {
  expect(w.errors).toEqual([]);
  expect(w.serverErrors).toEqual([]);
});

const scrollBox = () => page.getByTestId('log-scroll');
const scrollInfo = () => scrollBox().evaluate((el: any) => ({ top: el.scrollTop as number, fromBottom: (el.scrollHeight - el.scrollTop - el.clientHeight) as number }));
const renderedRows = () => page.locator('.log-line').count();
const longTasks = () => page.evaluate(() => (globalThis as any).__longTasks as number[]);

describe(`web UI: a ${LINES.toLocaleString('en-US')}-line run`, () => {
  const ws = uniqueName('ui-big');
  let taskId = 0;
  let liveLines = 0;

  test('live: lines stream in batches, the view follows, pauses on scroll-up, and jumps back', async () => {
    await createWorkspace(rw.api, { name: ws, auto_apply: true });
    // 1..100000 in 20 bursts a quarter second apart, so the stream lasts long enough to interact.
    const command = `for b in $(seq 0 19); do seq $((b * ${LINES / 20} + 1)) $(((b + 1) * ${LINES / 20})); sleep 0.25; done`;
    await uploadConfig(rw.api, ws, { 'main.tf': `resource "terraform_data" "big" {\n  provisioner "local-exec" {\n    command = "${command}"\n  }\n}\n` });
    taskId = (await startTask(rw.api, ws, 'plan_and_apply')).task_id;
    await page.goto(`${rw.app.url}/workspaces/${ws}/tasks/${taskId}`);
    await expectText(page.getByTestId('log-status'), 'Live');

    // While it streams, the view stays at the bottom.
    await page.waitForFunction(() => Number((globalThis as any).document.querySelector('[data-testid=log-viewer]')?.getAttribute('data-lines')) > 20_000, null, { timeout: 120_000 });
    expect((await scrollInfo()).fromBottom).toBeLessThan(40);

    // The user scrolls up: following stops, the position holds while lines keep coming. A CPU
    // as slow as a busy CI runner's makes the scroll land while a batch is rendering.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 12 });
    await scrollBox().evaluate((el: any) => (el.scrollTop = 4000));
    await page.getByTestId('jump-to-bottom').waitFor();
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
    const pausedAt = (await logState(page)).lines;
    await page.waitForFunction((n) => Number((globalThis as any).document.querySelector('[data-testid=log-viewer]')?.getAttribute('data-lines')) > n + 5000, pausedAt, { timeout: 120_000 });
    expect((await scrollInfo()).top).toBe(4000);
    await expectText(page.getByTestId('jump-to-bottom'), /new/);

    await page.getByTestId('jump-to-bottom').click();
    await expectText(page.getByTestId('log-status'), 'Completed', 120_000);
    expect(await waitForEnd(rw.api, taskId)).toMatchObject({ status: 'success' });
    const state = await logState(page);
    liveLines = state.lines;
    expect(liveLines).toBeGreaterThan(LINES);
    // Back at the end, following: the last number printed is on screen.
    await page.waitForFunction(() => {
      const el = (globalThis as any).document.querySelector('[data-testid=log-scroll]');
      return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    });
    await page.locator('.log-line', { hasText: `(local-exec): ${LINES}` }).waitFor();
    expect(await page.getByTestId('jump-to-bottom').count()).toBe(0);

    // Only the rows in view (and a margin) are in the DOM; no frame blocked for long.
    expect(await renderedRows()).toBeLessThan(200);
    expect(Math.max(0, ...(await longTasks()))).toBeLessThan(MAX_BLOCKING_MS);
  });

  test('stored log: the same lines, scrolled end to end with only visible rows rendered', async () => {
    await page.reload();
    await expectText(page.getByTestId('log-status'), 'Completed · history', 60_000);
    await page.waitForFunction((n) => Number((globalThis as any).document.querySelector('[data-testid=log-viewer]')?.getAttribute('data-lines')) === n, liveLines);

    // Scroll through the whole log; each position shows its own lines.
    for (const f of [0.25, 0.5, 0.75, 1]) {
      const target = Math.floor((liveLines - 1) * f) + 1;
      await scrollBox().evaluate((el: any, line: number) => (el.scrollTop = (line - 1) * 20), target);
      await page.locator(`.log-line[data-line="${Math.min(target, liveLines)}"]`).waitFor();
      expect(await renderedRows()).toBeLessThan(200);
    }
    expect(Math.max(0, ...(await longTasks()))).toBeLessThan(MAX_BLOCKING_MS);
  });

  test('search finds every match, steps through them, and shows each one', async () => {
    const query = '4242';
    const stored = (await rw.api.get(`/tasks/${taskId}/logs?format=json`)).body.logs;
    const all = `${stored.plan?.output ?? ''}\n${stored.apply?.output ?? ''}`.split('\n');
    const expected = all.filter((l: string) => l.includes(query)).length;
    expect(expected).toBeGreaterThan(10);

    const started = Date.now();
    await page.getByTestId('log-search').fill(query);
    await expectText(page.getByTestId('log-search-count'), `1 / ${expected}`);
    expect(Date.now() - started).toBeLessThan(5000);
    const current = page.locator('.log-line.current');
    await expectText(current, query);
    expect(await current.locator('mark').textContent()).toBe(query);
    expect(await current.isVisible()).toBe(true);

    await page.getByTestId('log-search').press('Enter');
    await expectText(page.getByTestId('log-search-count'), `2 / ${expected}`);
    await expectText(page.locator('.log-line.current'), `(local-exec): 14242`);
    await page.getByRole('button', { name: 'Previous match' }).click();
    await expectText(page.getByTestId('log-search-count'), `1 / ${expected}`);
    await page.getByRole('button', { name: 'Previous match' }).click();
    await expectText(page.getByTestId('log-search-count'), `${expected} / ${expected}`);
    await expectText(page.locator('.log-line.current'), query);
    await screenshot(page, 'log-search');

    await page.getByTestId('log-search').fill('no-such-text-anywhere');
    await expectText(page.getByTestId('log-search-count'), 'No matches');
    expect(Math.max(0, ...(await longTasks()))).toBeLessThan(MAX_BLOCKING_MS);
  });
});
