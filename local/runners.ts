/**
 * Runners as child processes (the embedded default's Fargate): the entry point of
 * containers/runner, bundled with esbuild, and one runner kept warm (started and loaded, waiting
 * for its assignment on stdin) so a phase does not wait for Node to start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { build } from 'esbuild';
import { runnerWorkDir } from '../containers/runner/runner.js';
import type { RunnerControl } from '../functions/core/ports.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Bundles containers/runner/main.ts with its dependencies into .build/runner/ (one file loads
 * faster than hundreds of modules; AWS-only code sits in chunks a local runner never loads).
 */
export async function buildRunner(): Promise<string> {
  const outdir = `${ROOT}.build/runner`;
  await build({
    entryPoints: { main: `${ROOT}containers/runner/main.ts` },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'error',
    banner: { js: "import { createRequire as __runwayCreateRequire } from 'node:module'; const require = __runwayCreateRequire(import.meta.url);" },
  });
  return `${outdir}/main.mjs`;
}

/**
 * How a standby waits: at the lowest CPU priority (`nice`), so that loading the next runner
 * (~0.25 s of CPU) does not compete with the phase that just took the previous one, whose first
 * lines are then on their way to viewers. The priority goes back to normal when it is assigned, for every thread,
 * before it starts terraform (whose processes inherit it). Lowering a niceness again needs
 * CAP_SYS_NICE (root has it): without it, standbys start at normal priority.
 */
const STANDBY_NICENESS = 19;

/** Whether this process may lower a niceness again: CAP_SYS_NICE (bit 23) in its effective set (Linux). */
export function canRaisePriority(): boolean {
  if (process.platform !== 'linux') return false;
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return !!m && (BigInt(`0x${m[1]}`) & (1n << 23n)) !== 0n;
}

/** Sets the niceness of every thread of a process (Linux keeps it per thread). */
function setNiceness(pid: number, niceness: number): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) setPriority(Number(tid), niceness);
}

export class LocalRunners implements RunnerControl {
  private readonly children = new Map<number, ChildProcess>();
  private standby: ChildProcess | null = null;
  private stopped = false;
  private niceStandby = canRaisePriority();
  private standbyStarts = 0;

  constructor(
    private readonly bundle: string,
    private readonly env: Record<string, string>,
    private readonly log: (entry: Record<string, unknown>) => void = () => undefined,
  ) {}

  /**
   * Starts the warm runner (the embedded default calls it at start; each run starts the next).
   * `waiting`: it will wait for a later phase (niced); a runner needed at once starts at normal priority.
   */
  warm(waiting = true): void {
    if (this.stopped || (this.standby && this.standby.exitCode === null && !this.standby.killed)) return;
    // The first standby starts with the embedded default, when nothing else runs: full priority.
    const nice = waiting && this.niceStandby && this.standbyStarts++ > 0;
    const args = ['--enable-source-maps', this.bundle];
    // Own process group, so a forced cancel can kill terraform along with the runner.
    const child = spawn(nice ? 'nice' : process.execPath, nice ? ['-n', String(STANDBY_NICENESS), process.execPath, ...args] : args, {
      env: { ...process.env, ...this.env, RUNWAY_STANDBY: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    child.on('error', () => undefined);
    child.once('exit', () => {
      if (this.standby === child) this.standby = null;
    });
    this.standby = Object.assign(child, { niced: nice });
  }

  /** Takes the standby (starting one if there is none), at normal priority. */
  private take(): ChildProcess {
    this.warm(false);
    const child = this.standby as ChildProcess & { niced?: boolean };
    this.standby = null;
    if (child.niced && child.pid) {
      try {
        setNiceness(child.pid, 0);
      } catch (err) {
        this.niceStandby = false;
        this.log({ level: 'WARN', message: 'cannot raise a standby runner back to normal CPU priority (needs CAP_SYS_NICE); standby runners now start at normal priority', error: (err as Error).message });
      }
    }
    return child;
  }

  run(taskId: number, phase: 'plan' | 'apply', workspaceId?: string): Promise<{ exitCode: number | null }> {
    return new Promise((resolve) => {
      const child = this.take();
      child.stdin!.end(`${JSON.stringify({ task_id: taskId, phase, workspace_id: workspaceId })}\n`);
      this.warm();
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
        // As a Fargate task's end stops all its processes: what terraform left behind in the
        // runner's group (a provisioner's `sleep` after a cancel) does not outlive the phase.
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* the group is already empty */
        }
        // The runner leaves its working directory (it holds state, plan and variable values) to us,
        // killed or not; removed in the background, the next step need not wait for it.
        if (this.env.RUNWAY_WORK_DIR) void rm(runnerWorkDir(this.env.RUNWAY_WORK_DIR, taskId, phase), { recursive: true, force: true }).catch(() => undefined);
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

  /** Kills every runner, the warm one included (embedded default stopping). */
  async killAll(): Promise<void> {
    this.stopped = true;
    const all = [...this.children.values(), ...(this.standby ? [this.standby] : [])].filter((c) => c.exitCode === null && c.signalCode === null);
    const exits = all.map((c) => new Promise((r) => c.once('exit', r)));
    for (const c of all) if (c.pid) process.kill(-c.pid, 'SIGKILL');
    this.standby = null;
    await Promise.all(exits);
  }

  get running(): number[] {
    return [...this.children.keys()];
  }
}
