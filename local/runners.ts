/**
 * Runners as child processes (the embedded default's Fargate): the entry point of
 * containers/runner, bundled with esbuild, and two runners kept warm (started and loaded, waiting
 * for their assignment on stdin) so a phase does not wait for Node to start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
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
    entryPoints: { main: `${ROOT}containers/runner/main.ts`, launcher: `${ROOT}containers/runner/launcher.ts` },
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
 * Terraform first, across processes. Each runner is its own session (see `warm`), and Linux
 * shares the CPU between sessions ("autogroups") as equals, whatever their processes' nice values
 * (sched(7)). So a session's own niceness is set: a standby loads and waits at the lowest
 * (`STANDBY`), out of the way of the phase that runs; a phase's runner is raised above the embedded
 * default (`PHASE`), so when the CPU is short the server's work (storing and forwarding log lines,
 * the API) waits for terraform; within the runner, its log shipping waits too
 * (containers/runner/launcher.ts). Raising above 0 needs CAP_SYS_NICE; without it a phase runs
 * at 0, level with the server.
 */
const SESSION_NICENESS = { STANDBY: 19, PHASE: -10 } as const;

/** Runners kept loaded: a plan takes one and starts its replacement; its apply takes the other. */
export const STANDBYS = 2;
/** How long no phase must have run before the pool is refilled (ms). */
const QUIET_MS = 1000;

/** Whether this process may raise a CPU priority: CAP_SYS_NICE (bit 23) in its effective set (Linux). */
export function canRaisePriority(): boolean {
  if (process.platform !== 'linux') return false;
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return !!m && (BigInt(`0x${m[1]}`) & (1n << 23n)) !== 0n;
}

/**
 * Sets the niceness of a process's session. `busy`: Linux takes one change a tenth of a second
 * from a process without CAP_SYS_ADMIN; `unavailable`: no autogroups here (not Linux, or built without).
 */
function setSessionNiceness(pid: number, niceness: number): 'done' | 'denied' | 'busy' | 'unavailable' {
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(niceness));
    return 'done';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EAGAIN' ? 'busy' : code === 'EPERM' || code === 'EACCES' ? 'denied' : 'unavailable';
  }
}

export class LocalRunners implements RunnerControl {
  private readonly children = new Map<number, ChildProcess>();
  /** loaded runners waiting for a phase, oldest first */
  private readonly standbys: ChildProcess[] = [];
  private refill: NodeJS.Timeout | null = null;
  private stopped = false;
  /** the session niceness of a phase: raised where allowed, else the server's */
  private phaseNiceness: number = canRaisePriority() ? SESSION_NICENESS.PHASE : 0;
  private sessions = process.platform === 'linux';

  constructor(
    private readonly bundle: string,
    private readonly env: Record<string, string>,
    private readonly log: (entry: Record<string, unknown>) => void = () => undefined,
  ) {}

  /** Fills the pool of warm runners (the embedded default calls it at start; see `take`). */
  warm(): void {
    this.prune();
    while (!this.stopped && this.standbys.length < STANDBYS) this.standbys.push(this.spawnRunner(true));
  }

  /** `waiting`: it waits for a later phase (at the standby's niceness); not when needed at once. */
  private spawnRunner(waiting: boolean): ChildProcess {
    // Own process group, so a forced cancel can kill terraform along with the runner.
    const child = spawn(process.execPath, ['--enable-source-maps', this.bundle], {
      env: { ...process.env, ...this.env, RUNWAY_STANDBY: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    child.on('error', () => undefined);
    child.once('exit', () => this.prune());
    // Best effort: a standby left at 0 (`busy` right after another change) only loads at normal priority.
    if (waiting && this.sessions && child.pid && setSessionNiceness(child.pid, SESSION_NICENESS.STANDBY) === 'unavailable') this.sessions = false;
    return child;
  }

  /** Drops standbys that exited. */
  private prune(): void {
    for (let i = this.standbys.length - 1; i >= 0; i--) {
      const c = this.standbys[i];
      if (c.exitCode !== null || c.signalCode !== null || c.killed) this.standbys.splice(i, 1);
    }
  }

  /**
   * Takes the oldest standby (starting a runner if there is none), at a phase's session niceness.
   * A plan starts a replacement now, to load while it runs; an apply does not: loading one (~0.25 s
   * of CPU) would compete with the apply's first lines (measured: it slowed the first lines of an
   * apply that followed its plan at once by tens of ms), and it takes the other standby. The pool
   * is topped up once no phase has run for `QUIET_MS`, or at once when a phase ends with it empty.
   */
  private take(phase: 'plan' | 'apply'): ChildProcess {
    if (this.refill) clearTimeout(this.refill);
    this.refill = null;
    this.prune();
    const child = this.standbys.shift() ?? this.spawnRunner(false);
    // The phase's priority first: Linux may refuse a second change within a tenth of a second.
    if (this.sessions) this.raise(child, 0);
    if (phase === 'plan' && this.standbys.length < STANDBYS) this.standbys.push(this.spawnRunner(true));
    return child;
  }

  /** Tops the pool up: at once if it ran dry, else once no phase has run for `QUIET_MS`. */
  private phaseEnded(): void {
    this.prune();
    if (this.standbys.length === 0) this.warm();
    else if (this.children.size === 0) this.refillWhenQuiet();
  }

  /** Refills the pool once no phase has run for `QUIET_MS` (a next phase often follows at once). */
  private refillWhenQuiet(): void {
    if (this.refill) clearTimeout(this.refill);
    this.refill = setTimeout(() => {
      this.refill = null;
      this.warm();
    }, QUIET_MS);
    this.refill.unref();
  }

  /** A phase must not stay at the standby's niceness: a `busy` answer is tried again shortly. */
  private raise(child: ChildProcess, attempt: number): void {
    if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
    const outcome = setSessionNiceness(child.pid, this.phaseNiceness);
    if (outcome === 'denied' && this.phaseNiceness < 0) {
      this.phaseNiceness = 0;
      this.log({ level: 'WARN', message: 'runners cannot be raised above the server (needs CAP_SYS_NICE); phases run at its priority' });
      return this.raise(child, attempt);
    }
    if (outcome === 'busy' && attempt < 10) setTimeout(() => this.raise(child, attempt + 1), 110).unref();
    else if (outcome !== 'done') this.log({ level: 'WARN', message: 'a runner\'s CPU priority could not be set', pid: child.pid, outcome });
  }

  run(taskId: number, phase: 'plan' | 'apply', workspaceId?: string): Promise<{ exitCode: number | null }> {
    return new Promise((resolve) => {
      const child = this.take(phase);
      child.stdin!.end(`${JSON.stringify({ task_id: taskId, phase, workspace_id: workspaceId })}\n`);
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
        this.phaseEnded();
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
    if (this.refill) clearTimeout(this.refill);
    const all = [...this.children.values(), ...this.standbys].filter((c) => c.exitCode === null && c.signalCode === null);
    const exits = all.map((c) => new Promise((r) => c.once('exit', r)));
    for (const c of all) if (c.pid) process.kill(-c.pid, 'SIGKILL');
    this.standbys.length = 0;
    await Promise.all(exits);
  }

  get running(): number[] {
    return [...this.children.keys()];
  }
}
