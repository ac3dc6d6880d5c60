/**
 * The main path through the UI, in Debian's Chromium against the embedded default: sign in,
 * create a workspace, upload a configuration, set a sensitive variable, start a run, watch its
 * lines arrive live, confirm, see it succeed; then the log's tools (colours, times, download).
 */
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { createWorkspace, startRunway, startTask, uniqueName, uploadConfig, waitForEnd, type TestRunway } from '../support/runway.js';
import { ensureWebBuild, expectText, launchBrowser, logState, openPage, runStatus, screenshot, signIn, stageState, type WatchedPage } from './browser.js';

const SECRET = 'hunter2-correct-horse';

// Output over ~5 s during apply, so lines can be seen arriving; one coloured line; the secret.
const MAIN_TF = String.raw`
resource "terraform_data" "hello" {
  input = "hello"
  provisioner "local-exec" {
    command = <<-EOT
      printf '\033[32mgreen light\033[0m for take-off\n'
      for i in $(seq 1 12); do echo "tick $i"; sleep 0.4; done
      echo "the word is $SECRET_WORD"
    EOT
  }
}

output "greeting" {
  value = terraform_data.hello.output
}
`;

let rw: TestRunway;
let browser: Browser;
let w: WatchedPage;
let page: Page;

beforeAll(async () => {
  await ensureWebBuild();
  [rw, browser] = await Promise.all([startRunway(), launchBrowser()]);
  w = await openPage(browser);
  page = w.page;
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await rw?.stop();
});

afterEach(() => {
  expect(w.errors).toEqual([]);
  expect(w.serverErrors).toEqual([]);
});

describe('web UI: from sign-in to an applied run', () => {
  const name = uniqueName('ui-flow');
  let runUrl = '';

  test('a wrong token is refused with a clear message; the right one signs in', async () => {
    await page.goto(rw.app.url);
    await page.getByLabel('API token').fill('rwadmin_not_the_token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectText(page.getByRole('alert'), 'This token is not valid');

    await signIn(page, rw.app.url, rw.adminToken);
    expect(await page.getByTestId('current-user').textContent()).toBe('admin');
  });

  test('creates a workspace from the "New workspace" dialog', async () => {
    await page.getByRole('button', { name: '+ New workspace' }).click();
    await page.getByLabel('Name').fill('no spaces allowed');
    await expectText(page.locator('.field-error'), 'letters, digits, dashes and underscores');
    expect(await page.getByRole('button', { name: 'Create workspace' }).isDisabled()).toBe(true);
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Description (optional)').fill('Created by the browser test');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await page.waitForURL(`**/workspaces/${name}?tab=configuration`);
    expect(await page.getByTestId('workspace-name').textContent()).toBe(name);
  });

  test('uploads a configuration file', async () => {
    await page.getByTestId('config-file-input').setInputFiles({ name: 'main.tf', mimeType: 'text/plain', buffer: Buffer.from(MAIN_TF) });
    await expectText(page.getByTestId('config-uploaded'), /Uploaded cv-[a-z0-9]+ \(\d+ bytes, 1 files\)/);
  });

  test('sets a sensitive variable, shown as set and never shown again', async () => {
    await page.getByRole('tab', { name: 'Variables' }).click();
    await page.getByLabel('Key', { exact: true }).fill('SECRET_WORD');
    await page.getByLabel('Value', { exact: true }).fill(SECRET);
    await page.getByLabel('Category').selectOption('env');
    await page.getByLabel('Sensitive (write-only; masked in logs)').check();
    await page.getByRole('button', { name: 'Add variable' }).click();
    const row = page.getByTestId('variable-SECRET_WORD');
    await expectText(row, 'Sensitive — set');
    await expectText(row, 'env');
    expect(await page.content()).not.toContain(SECRET);
  });

  test('starts a plan-and-apply run and shows the plan live, waiting for confirmation', async () => {
    await page.getByRole('button', { name: '▶ Start run' }).click();
    await page.getByLabel('Message (optional)').fill('first light');
    await page.locator('.dialog').getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/workspaces\/[^/]+\/tasks\/\d+$/);
    runUrl = page.url();

    await page.locator('[data-testid=run-status] [data-status=apply_pending]').waitFor({ timeout: 90_000 });
    await expectText(page.getByTestId('needs-confirmation'), 'The plan is ready (+1 ~0 −0)');
    await expectText(page.getByTestId('plan-changes'), '+1 to add');
    // The viewer follows the run over the WebSocket.
    await expectText(page.getByTestId('log-status'), 'Live');
    await page.locator('.log-line', { hasText: 'Plan: 1 to add, 0 to change, 0 to destroy.' }).waitFor();
    // Stage markers are styled rows; stages done so far are ticked in the progress bar.
    await page.locator('.log-line.marker', { hasText: 'Planning' }).first().waitFor();
    expect(await stageState(page, 'planning')).toBe('completed');
    expect(await stageState(page, 'apply_pending')).toBe('waiting');
    expect(await stageState(page, 'applying')).toBe('pending');
  });

  test('confirm: the apply lines appear one after another while the run is running', async () => {
    await page.getByRole('button', { name: 'Confirm & apply' }).click();
    await page.locator('.log-line', { hasText: 'tick 1' }).first().waitFor({ timeout: 60_000 });
    const seen = await logState(page);
    // tick 12 is printed ~4.4 s after tick 1: seeing tick 1 without it means the lines stream.
    expect(seen.text).not.toContain('tick 12');
    expect(await runStatus(page)).toBe('running');
    expect(seen.status).toBe('live');
    await screenshot(page, 'run-live', { fullPage: true });
    if (process.env.UPDATE_SCREENSHOTS) {
      // The system monitor while this page watches the run.
      const other = await openPage(browser);
      await signIn(other.page, rw.app.url, rw.adminToken);
      await other.page.getByRole('link', { name: 'System' }).click();
      await expectText(other.page.getByTestId('stat-viewers'), /[1-9]/);
      await screenshot(other.page, 'system');
      await other.page.context().close();
    }

    await page.locator('.log-line', { hasText: 'tick 12' }).waitFor({ timeout: 60_000 });
    await page.locator('[data-testid=run-status] [data-status=success]').waitFor({ timeout: 60_000 });
    await expectText(page.getByTestId('log-status'), 'Completed');
    expect(await stageState(page, 'applying')).toBe('completed');
    expect(await stageState(page, 'saving_state')).toBe('completed');
    expect(await stageState(page, 'apply_pending')).toBe('completed');
  });

  test('the log shows ANSI colours, masks the secret, numbers lines, and follows the end', async () => {
    const green = page.locator('.log-line .fg-green', { hasText: 'green light' });
    await green.waitFor();
    const colour = (el: any) => getComputedStyle(el).color as string;
    expect(await green.evaluate(colour)).not.toBe(await page.locator('.log-line .log-tx').first().evaluate(colour));
    const { text, lines } = await logState(page);
    expect(text).toContain('the word is ***');
    expect(await page.content()).not.toContain(SECRET);
    // Line numbers run 1..n without a gap; the viewer sits at the end (it followed the run).
    const nums = await page.locator('.log-line .log-ln').allTextContents();
    const numbers = nums.map(Number);
    expect(numbers.at(-1)).toBe(lines);
    expect(numbers.every((n, i) => i === 0 || n === numbers[i - 1] + 1)).toBe(true);
    expect(await page.getByTestId('jump-to-bottom').count()).toBe(0);
  });

  test('timestamps can be shown; the log downloads as a file', async () => {
    await page.getByTestId('log-timestamps').check();
    const times = await page.locator('.log-line .log-ts').allTextContents();
    expect(times.filter((t) => /^\d\d:\d\d:\d\d\.\d{3}$/.test(t)).length).toBeGreaterThan(5);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('log-download').click()]);
    const taskId = runUrl.split('/').pop();
    expect(download.suggestedFilename()).toBe(`task-${taskId}-logs.txt`);
    const body = await readFile((await download.path())!, 'utf8');
    expect(body).toContain(`Task ID: ${taskId}`);
    expect(body).toContain('tick 12');
    expect(body).not.toContain(SECRET);
  });

  test('after a reload the finished run shows its stored log (historical view)', async () => {
    const live = await logState(page);
    await page.reload();
    await expectText(page.getByTestId('log-status'), 'Completed · history');
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid=log-viewer]')?.getAttribute('data-lines')) === n, live.lines);
    await page.locator('.log-line', { hasText: 'tick 12' }).waitFor();
  });

  test('the workspace lists the run with its status, duration and log summary', async () => {
    await page.getByRole('link', { name: name, exact: true }).click();
    const row = page.locator('[data-testid=runs-table] tbody tr').first();
    await expectText(row, 'Success');
    await expectText(row, 'first light');
    await expectText(row, /\d+ plan \/ \d+ apply lines/);
    if (process.env.UPDATE_SCREENSHOTS) await seedForScreenshots();
    await page.getByRole('link', { name: 'Workspaces', exact: true }).first().click();
    const wsRow = page.locator('[data-testid=workspaces-table] tbody tr', { hasText: name });
    await expectText(wsRow, 'Success');
    await screenshot(page, 'workspaces');
  });
});

/** A few more workspaces and runs, so the docs' workspaces screenshot looks like a team's. */
async function seedForScreenshots(): Promise<void> {
  const ok = 'resource "terraform_data" "x" {\n  input = "x"\n}\n';
  const broken = 'resource "terraform_data" "x" {\n  input = var.missing\n}\n';
  const runs: number[] = [];
  for (const [wsName, description, config, extra] of [
    ['network-prod', 'VPC, subnets and routing', ok, { execution_mode: 'plan_only' }],
    ['billing-api', 'Billing service infrastructure', broken, {}],
    ['dns-zones', 'Public and private DNS zones', ok, { auto_apply: true }],
  ] as const) {
    await createWorkspace(rw.api, { name: wsName, description, ...extra });
    await uploadConfig(rw.api, wsName, { 'main.tf': config });
    runs.push((await startTask(rw.api, wsName, 'plan')).task_id);
  }
  await Promise.all(runs.map((id) => waitForEnd(rw.api, id)));
}

declare const document: any;
declare const getComputedStyle: any;
