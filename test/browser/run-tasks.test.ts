/**
 * Run tasks in the UI: the admin page (name rules, write-only HMAC key, verify), a workspace's
 * run-task settings, and a run failed by a mandatory run task with its outcomes — one of whose
 * Markdown bodies carries a <script> and an event handler that must stay inert.
 */
import { createHash } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { createWorkspace, startTask, uniqueName, uploadConfig, waitForEnd, type TestRunway } from '../support/runway.js';
import { startRunway } from '../support/runway.js';
import { ensureWebBuild, expectText, launchBrowser, openPage, runStatus, screenshot, signIn, stageState, type WatchedPage } from './browser.js';

const HMAC_KEY = 'browser-test-hmac-key';

const OUTCOMES = [
  {
    'outcome-id': 'SEC-001',
    description: 'S3 bucket is publicly readable',
    body: [
      '## Finding',
      '',
      'The bucket `logs` allows **public read**.',
      '',
      '| Resource | Rule |',
      '|---|---|',
      '| aws_s3_bucket.logs | CIS 2.1.5 |',
      '',
      '<script>window.__pwned = "script"</script><img src="x" onerror="window.__pwned = \'img\'"><a href="javascript:window.__pwned=\'link\'">click me</a>',
      '',
      '[Remediation guide](https://docs.example/s3-public-access)',
    ].join('\n'),
    url: 'https://scanner.example/findings/SEC-001',
    tags: { Severity: [{ label: 'High', level: 'error' }], Status: [{ label: 'Open', level: 'warning' }] },
  },
  {
    'outcome-id': 'SEC-002',
    description: 'Security group allows 0.0.0.0/0 on port 22',
    body: 'Restrict SSH to the bastion CIDR.',
    url: 'javascript:alert(1)',
    tags: { Severity: [{ label: 'Medium', level: 'warning' }] },
  },
];

let rw: TestRunway;
let browser: Browser;
let receiver: Receiver;
let w: WatchedPage;
let page: Page;

beforeAll(async () => {
  await ensureWebBuild();
  [rw, browser, receiver] = await Promise.all([
    startRunway(),
    launchBrowser(),
    startReceiver(HMAC_KEY, () => ({ kind: 'fail', message: '2 high-severity findings', outcomes: OUTCOMES })),
  ]);
  w = await openPage(browser, { height: 1000 });
  page = w.page;
  await signIn(page, rw.app.url, rw.adminToken);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await rw?.stop();
});

afterEach(() => {
  expect(w.errors).toEqual([]);
  expect(w.serverErrors).toEqual([]);
});

describe('web UI: run tasks', () => {
  const ws = uniqueName('ui-rt');

  test('the admin creates a run task: name rules, write-only HMAC key shown by fingerprint', async () => {
    await page.getByRole('link', { name: 'Run tasks' }).click();
    await page.getByRole('heading', { name: 'Run tasks' }).waitFor();
    await page.getByRole('button', { name: '+ Create' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name *').fill('security scan!');
    await expectText(dialog.locator('.field-error'), 'Can only contain letters, numbers, dashes and underscores.');
    await dialog.getByLabel('Name *').fill('security-scan');
    await dialog.getByLabel('Description (optional)').fill('Static security analysis');
    await dialog.getByLabel('Endpoint URL *').fill('ftp://nope');
    await expectText(dialog.locator('.field-error'), 'http:// or https://');
    expect(await dialog.getByRole('button', { name: 'Create' }).isDisabled()).toBe(true);
    await dialog.getByLabel('Endpoint URL *').fill(receiver.url);
    await dialog.getByLabel('HMAC key (optional)').fill(HMAC_KEY);
    await dialog.getByLabel('Timeout (seconds)').fill('30');
    await expectText(dialog.locator('.field-error'), 'Between 60 and 3600 seconds.');
    await dialog.getByLabel('Timeout (seconds)').fill('120');
    await dialog.getByRole('button', { name: 'Create' }).click();

    const row = page.getByTestId('run-task-security-scan');
    const fingerprint = createHash('sha256').update(HMAC_KEY).digest('hex').slice(0, 8);
    await expectText(row, fingerprint);
    await expectText(row, 'timeout 120s');
    await expectText(row, 'Enabled');
    expect(await page.content()).not.toContain(HMAC_KEY);
    // Creating sends no traffic (SPEC §5).
    expect(receiver.requests).toHaveLength(0);
  });

  test('Verify sends the test payload and shows the answer', async () => {
    const row = page.getByTestId('run-task-security-scan');
    await row.getByRole('button', { name: 'Verify' }).click();
    await expectText(row.getByTestId('verify-result'), '✓ Verified');
    await expectText(row.getByTestId('verify-result'), 'HTTP 200');
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0].payload.access_token).toBe('test-token');
    expect(receiver.requests[0].signatureValid).toBe(true);
  });

  test('editing never shows the stored key, only that one is set', async () => {
    const row = page.getByTestId('run-task-security-scan');
    await row.getByRole('button', { name: 'Edit' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.getByLabel('HMAC key (optional)').inputValue()).toBe('');
    await expectText(dialog, 'A key is set (fingerprint');
    await dialog.getByLabel('Description (optional)').fill('Static security analysis (SAST)');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await expectText(page.getByTestId('run-task-security-scan'), 'Static security analysis (SAST)');
    // The key survived the edit: the fingerprint is unchanged.
    await expectText(page.getByTestId('run-task-security-scan'), createHash('sha256').update(HMAC_KEY).digest('hex').slice(0, 8));
    await screenshot(page, 'admin-run-tasks');
  });

  test('a workspace attaches it at post-plan, mandatory', async () => {
    await createWorkspace(rw.api, { name: ws, description: 'Run-task browser test' });
    await uploadConfig(rw.api, ws, { 'main.tf': 'resource "terraform_data" "x" {\n  input = "x"\n}\n' });
    await page.goto(`${rw.app.url}/workspaces/${ws}?tab=settings&section=run-tasks`);
    await page.getByRole('button', { name: '+ Add task' }).click();
    const dialog = page.getByRole('dialog', { name: 'Configure run task' });
    await dialog.getByLabel('Run task', { exact: true }).selectOption({ label: 'security-scan' });
    await dialog.getByText('After Terraform creates the plan.').click();
    await dialog.getByText('Failed run tasks stop the run.').click();
    await dialog.getByRole('button', { name: 'Save' }).click();
    const row = page.getByTestId('attachment-security-scan');
    await expectText(row, 'Post-plan');
    await expectText(row, 'Mandatory');
    await expectText(row, 'Enabled');
    await screenshot(page, 'workspace-run-tasks');
  });

  test('the run fails on the mandatory task; results show by stage with outcomes; hostile markup is inert', async () => {
    const task = await startTask(rw.api, ws, 'plan_and_apply');
    await page.goto(`${rw.app.url}/workspaces/${ws}/tasks/${task.task_id}`);
    await page.locator('[data-testid=run-status] [data-status=failed]').waitFor({ timeout: 90_000 });
    expect((await waitForEnd(rw.api, task.task_id)).status).toBe('failed');

    const card = page.getByTestId('run-task-results');
    await expectText(card, 'A mandatory run task did not pass (security-scan)');
    const result = card.locator('[data-stage=post_plan]').getByTestId('run-task-result-security-scan');
    await result.waitFor();
    expect(await result.getAttribute('data-status')).toBe('failed');
    await expectText(result, 'Mandatory');
    await expectText(result, 'Failed');
    await expectText(result, '2 high-severity findings');
    expect(await result.getByRole('link', { name: 'View details →' }).getAttribute('href')).toBe('https://receiver.example/results/1');

    // Outcomes: tags with their levels, the Markdown body rendered.
    const sec1 = result.getByTestId('outcome-SEC-001');
    await expectText(sec1.locator('.badge-danger'), 'Severity: High');
    await expectText(sec1.locator('.badge-warning'), 'Status: Open');
    await expectText(sec1.locator('.outcome-body h2'), 'Finding');
    await expectText(sec1.locator('.outcome-body td'), 'aws_s3_bucket.logs');
    const guide = sec1.locator('.outcome-body a', { hasText: 'Remediation guide' });
    expect(await guide.getAttribute('target')).toBe('_blank');
    expect(await guide.getAttribute('rel')).toContain('noopener');

    // The <script>, the onerror handler and the javascript: link did nothing and are gone.
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
    expect(await sec1.locator('.outcome-body script, .outcome-body img, .outcome-body [onerror]').count()).toBe(0);
    expect(await page.locator('a[href^="javascript:"]').count()).toBe(0);
    await sec1.locator('.outcome-body a', { hasText: 'click me' }).click().catch(() => undefined);
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
    // SEC-002's javascript: URL is not offered as a link.
    const sec2 = result.getByTestId('outcome-SEC-002');
    await expectText(sec2.locator('.badge-warning'), 'Severity: Medium');
    expect(await sec2.getByRole('link', { name: 'Open →' }).count()).toBe(0);

    // The run stopped after post-plan: the apply stages never ran (checked once the log is complete,
    // as the bar reads the order stages ran in from the log's markers).
    await expectText(page.getByTestId('log-status'), 'Completed');
    expect(await runStatus(page)).toBe('failed');
    // The live viewer holds every stored line, the run-task stage's lines included.
    const stored = (await rw.api.get(`/tasks/${task.task_id}/logs?format=json`)).body.logs;
    const storedLines = [stored.plan, stored.apply].reduce((n: number, sec: { line_count: number } | null) => n + (sec?.line_count ?? 0), 0);
    expect(Number(await page.getAttribute('[data-testid=log-viewer]', 'data-lines'))).toBe(storedLines);
    expect(await stageState(page, 'post_plan')).toBe('failed');
    expect(await stageState(page, 'applying')).toBe('skipped');
    await page.locator('.log-line', { hasText: 'security-scan' }).first().waitFor();
    await screenshot(page, 'run-task-results', { fullPage: true });
  });
});

declare const window: unknown;
