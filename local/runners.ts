/**
 * Runners as child processes (the embedded default's Fargate): the entry point of
 * containers/runner, bundled once with esbuild so a phase starts in tens of milliseconds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { RunnerControl } from '../functions/core/ports.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Bundles containers/runner/main.ts to .build/runner.mjs (dependencies stay in node_modules). */
export async function buildRunner(): Promise<string> {
  const outfile = `${ROOT}.build/runner.mjs`;
  await build({
    entryPoints: [`${ROOT}containers/runner/main.ts`],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'error',
  });
  return outfile;
}

export class LocalRunners implements RunnerControl {
  private readonly children = new Map<number, ChildProcess>();

  constructor(
    private readonly bundle: string,
    private readonly env: Record<string, string>,
    private readonly log: (entry: Record<string, unknown>) => void = () => undefined,
  ) {}

  run(taskId: number, phase: 'plan' | 'apply'): Promise<{ exitCode: number | null }> {
    return new Promise((resolve) => {
      // Own process group, so a forced cancel can kill terraform along with the runner.
      const child = spawn(process.execPath, ['--enable-source-maps', this.bundle], {
        env: { ...process.env, ...this.env, RUNWAY_TASK_ID: String(taskId), RUNWAY_PHASE: phase },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      this.children.set(taskId, child);
      let tail = '';
      child.stderr!.on('data', (c: Buffer) => (tail = (tail + c.toString('utf8')).slice(-2000)));
      child.stdout!.resume();
      child.on('error', (err) => {
        this.children.delete(taskId);
        this.log({ level: 'ERROR', message: 'runner did not start', task_id: taskId, error: err.message });
        resolve({ exitCode: null });
      });
      child.on('exit', (code, signal) => {
        this.children.delete(taskId);
        if (code !== 0) this.log({ level: 'WARN', message: 'runner exited', task_id: taskId, phase, code, signal, stderr: tail.trim() });
        resolve({ exitCode: code });
      });
    });
  }

  async stop(taskId: number, force: boolean): Promise<boolean> {
    const child = this.children.get(taskId);
    if (!child?.pid) return false;
    if (force) process.kill(-child.pid, 'SIGKILL');
    // Only the runner gets the interrupt; it passes one Ctrl-C on to terraform (two would make
    // terraform abandon its graceful stop).
    else child.kill('SIGINT');
    return true;
  }

  /** Kills every runner (embedded default stopping). */
  async killAll(): Promise<void> {
    const exits = [...this.children.values()].map((c) => new Promise((r) => c.once('exit', r)));
    for (const c of this.children.values()) if (c.pid) process.kill(-c.pid, 'SIGKILL');
    await Promise.all(exits);
  }

  get running(): number[] {
    return [...this.children.keys()];
  }
}
