/**
 * Browser test support: the web UI built (once, if web/dist is missing or older than its
 * sources), Debian's Chromium driven by playwright-core (no browser download), sign-in, and
 * screenshots for docs/ when UPDATE_SCREENSHOTS=1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

// Page-side code (inside page.evaluate) runs in the browser; the project's types have no DOM lib.
declare const document: any;

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WEB = join(ROOT, 'web');

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((m, name) => Math.max(m, newestMtime(join(path, name))), st.mtimeMs);
}

function isFresh(): boolean {
  const built = join(WEB, 'dist', 'index.html');
  if (!existsSync(built)) return false;
  const sources = Math.max(...['src', 'index.html', 'vite.config.ts', 'tsconfig.json'].map((p) => newestMtime(join(WEB, p))));
  return statSync(built).mtimeMs >= sources;
}

/**
 * `npm test` builds the UI first (pretest); a direct `jest test/browser` builds it here. Test files
 * run in parallel workers, so one builds while the others wait on a lock directory.
 */
export async function ensureWebBuild(): Promise<void> {
  const lock = join(tmpdir(), `runway-web-build-${Buffer.from(ROOT).toString('hex').slice(-24)}.lock`);
  const deadline = Date.now() + 180_000;
  while (!isFresh()) {
    try {
      mkdirSync(lock);
    } catch {
      // Another worker builds; a lock left by a killed build is taken over after 3 minutes.
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > 180_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error('timed out waiting for another worker to build the web UI');
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      if (isFresh()) break;
      const r = spawnSync('npm', ['run', 'build:web'], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 });
      if (r.status !== 0) throw new Error(`npm run build:web failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

/** Debian's Chromium (apt-get install chromium), headless; CHROMIUM_BIN overrides the path. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
}

export interface WatchedPage {
  page: Page;
  /** uncaught exceptions in the page */
  errors: string[];
  /** API answers with a 5xx status */
  serverErrors: string[];
}

export async function openPage(browser: Browser, opts: { width?: number; height?: number } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1400, height: opts.height ?? 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const errors: string[] = [];
  const serverErrors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('response', (r) => {
    if (r.status() >= 500) serverErrors.push(`${r.request().method()} ${r.url()} → ${r.status()}`);
  });
  return { page, errors, serverErrors };
}

/** Signs in through the sign-in screen, as a person would. */
export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(baseUrl);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Workspaces' }).waitFor();
}

/** Saves docs/screenshots/<name>.png when UPDATE_SCREENSHOTS=1 (the README shows them). */
export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  if (!process.env.UPDATE_SCREENSHOTS) return;
  const dir = join(ROOT, 'docs', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: opts.fullPage ?? false });
}

/** The run page's log viewer state, as the DOM shows it. */
export async function logState(page: Page): Promise<{ status: string; lines: number; text: string }> {
  return page.evaluate(() => {
    const v = document.querySelector('[data-testid=log-viewer]');
    return {
      status: v?.getAttribute('data-status') ?? '',
      lines: Number(v?.getAttribute('data-lines') ?? 0),
      text: [...document.querySelectorAll('.log-line')].map((l: any) => l.textContent ?? '').join('\n'),
    };
  });
}

/** Waits until the locator's (first) element shows the text. */
export async function expectText(locator: Locator, expected: string | RegExp, timeout = 30_000): Promise<void> {
  await locator.filter({ hasText: expected }).first().waitFor({ timeout });
}

/** The state the stage progress bar shows for a stage (pending, running, completed, failed, …). */
export function stageState(page: Page, stage: string): Promise<string | null> {
  return page.locator(`[data-testid=stage-progress] [data-stage=${stage}]`).getAttribute('data-state');
}

/** The run status the run page's pill shows (the API's status word). */
export function runStatus(page: Page): Promise<string | null> {
  return page.locator('[data-testid=run-status] [data-status]').first().getAttribute('data-status');
}
