/**
 * Runners as child processes (the embedded default's Fargate): the entry point of
 * containers/runner, bundled with esbuild. Runners stay loaded between phases (a pool of
 * `STANDBYS`), so a phase waits neither for Node to start nor for V8 to compile the log path: a
 * run's apply goes to the runner that ran its plan.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Assignment, PhaseEnded } from '../containers/runner/standby.js';
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
 * Terraform first, across processes. Each runner is its own session (see `spawnRunner`), and Linux
 * shares the CPU between sessions ("autogroups") as equals, whatever their processes' nice values
 * (sched(7)). So a session's own niceness is set: a new runner loads at the lowest (`STANDBY`),
 * out of the way of the phase that runs; a phase's runner is raised above the embedded
 * default (`PHASE`), so when the CPU is short the server's work (storing and forwarding log lines,
 * the API) waits for terraform; within the runner, its log shipping waits too
 * (containers/runner/launcher.ts). Raising above 0 needs CAP_SYS_NICE; without it a phase runs
 * at 0, level with the server.
 */
const SESSION_NICENESS = { STANDBY: 19, PHASE: -10 } as const;

/** Runners kept loaded and waiting: one for the next phase, one for a run that starts meanwhile. */
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

/**
 * Processes left in a runner's process group besides the runner (what terraform left behind: a
 * provisioner's background job); null where they cannot be listed (not Linux).
 */
function leftInGroup(runnerPid: number): number[] | null {
  if (process.platform !== 'linux') return null;
  const left: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === runnerPid) continue;
    try {
      // pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so count after the last ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === runnerPid) left.push(pid);
    } catch {
      /* it exited meanwhile */
    }
  }
  return left;
}

/** Kills a runner's process group: the runner and whatever terraform started in it. */
function killGroup(pid: number | undefined): void {
  try {
    if (pid) process.kill(-pid, 'SIGKILL');
  } catch {
    /* the group is already empty */
  }
}

/** One phase a runner was given, until it ends. */
interface Phase {
  taskId: number;
  phase: 'plan' | 'apply';
  resolve: (r: { exitCode: number | null }) => void;
}

/** A runner process, waiting or running a phase. */
interface Runner {
  child: ChildProcess;
  /** the end of its stderr (for the log when a phase fails) */
  stderrTail: string;
  phase: Phase | null;
}

export class LocalRunners implements RunnerControl {
  /** runners running a phase, by task */
  private readonly busy = new Map<number, Runner>();
  /** loaded runners waiting for a phase, the last used first */
  private readonly standbys: Runner[] = [];
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

  /** Fills the pool of waiting runners (the embedded default calls it at start; see `take`). */
  warm(): void {
    this.prune();
    while (!this.stopped && this.standbys.length < STANDBYS) this.standbys.push(this.spawnRunner(true));
  }

  /** `waiting`: it waits for a later phase (at the standby's niceness); not when needed at once. */
  private spawnRunner(waiting: boolean): Runner {
    // Own process group, so a forced cancel can kill terraform along with the runner. Phases come
    // over the IPC channel (containers/runner/standby.ts). Without --enable-source-maps: parsing the
    // bundle's map was a third of a runner's start (set it in NODE_OPTIONS for mapped stack traces).
    const child = spawn(process.execPath, [this.bundle], {
      env: { ...process.env, ...this.env, RUNWAY_STANDBY: '1' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    const runner: Runner = { child, stderrTail: '', phase: null };
    child.on('error', () => undefined);
    child.stdout!.resume();
    child.stderr!.on('data', (c: Buffer) => (runner.stderrTail = (runner.stderrTail + c.toString('utf8')).slice(-2000)));
    child.on('message', (m: PhaseEnded) => {
      if (m?.type === 'phase_ended') this.phaseEnded(runner, m);
    });
    child.once('exit', (code, signal) => this.exited(runner, code, signal));
    // Best effort: a standby left at 0 (`busy` right after another change) only loads at normal priority.
    if (waiting && this.sessions && child.pid && setSessionNiceness(child.pid, SESSION_NICENESS.STANDBY) === 'unavailable') this.sessions = false;
    return runner;
  }

  /** Drops standbys that exited. */
  private prune(): void {
    for (let i = this.standbys.length - 1; i >= 0; i--) {
      const c = this.standbys[i].child;
      if (c.exitCode !== null || c.signalCode !== null || c.killed) this.standbys.splice(i, 1);
    }
  }

  /**
   * Takes the standby used last (starting a runner if there is none), at a phase's session
   * niceness. A plan that takes the last one starts a replacement, to load while it runs; an apply
   * does not: loading one (~0.25 s of CPU) would compete with the apply's first lines (measured:
   * tens of ms on the first lines of an apply that followed its plan at once). The pool is topped
   * up once no phase has run for `QUIET_MS`, or at once when a phase ends with it empty.
   */
  private take(phase: 'plan' | 'apply'): Runner {
    if (this.refill) clearTimeout(this.refill);
    this.refill = null;
    this.prune();
    const runner = this.standbys.shift() ?? this.spawnRunner(false);
    // The phase's priority first: Linux may refuse a second change within a tenth of a second.
    if (this.sessions) this.raise(runner.child, 0);
    if (phase === 'plan' && this.standbys.length === 0) this.standbys.push(this.spawnRunner(true));
    return runner;
  }

  /** Tops the pool up: at once if it ran dry, else once no phase has run for `QUIET_MS`. */
  private topUp(): void {
    this.prune();
    if (this.standbys.length === 0) this.warm();
    else if (this.standbys.length < STANDBYS && this.busy.size === 0) this.refillWhenQuiet();
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
      const runner = this.take(phase);
      runner.phase = { taskId, phase, resolve };
      runner.stderrTail = '';
      this.busy.set(taskId, runner);
      runner.child.send({ task_id: taskId, phase, workspace_id: workspaceId } satisfies Assignment, (err) => {
        if (!err) return;
        this.log({ level: 'ERROR', message: 'runner did not start', task_id: taskId, error: err.message });
        this.endPhase(runner, null);
        runner.child.kill('SIGKILL');
      });
    });
  }

  /** The phase's end, once: its slot and work dir are freed, its caller learns the exit code. */
  private endPhase(runner: Runner, exitCode: number | null, signal: NodeJS.Signals | null = null): void {
    const p = runner.phase;
    if (!p) return;
    runner.phase = null;
    this.busy.delete(p.taskId);
    // The runner leaves its working directory (it holds state, plan and variable values) to us,
    // killed or not; removed in the background, the next step need not wait for it.
    if (this.env.RUNWAY_WORK_DIR) void rm(runnerWorkDir(this.env.RUNWAY_WORK_DIR, p.taskId, p.phase), { recursive: true, force: true }).catch(() => undefined);
    if (exitCode !== 0) this.log({ level: 'WARN', message: 'runner phase failed', task_id: p.taskId, phase: p.phase, code: exitCode, signal, stderr: runner.stderrTail.trim() });
    p.resolve({ exitCode });
  }

  /**
   * A runner reported its phase's end. As a Fargate task's end stops all its processes, what
   * terraform left behind in the runner's group (a provisioner's background job) does not outlive
   * the phase; then the runner waits for the next phase, ahead of the others (its code is the most
   * compiled). It keeps the phase's session niceness: idle, it takes no CPU, and lowering it now
   * could delay raising it for a phase that follows at once (one change a tenth of a second).
   */
  private phaseEnded(runner: Runner, m: PhaseEnded): void {
    if (!runner.phase) return;
    const left = m.retiring || this.stopped ? [] : leftInGroup(runner.child.pid!);
    for (const pid of left ?? []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
    const reusable = !m.retiring && !this.stopped && left !== null;
    if (reusable) {
      this.standbys.unshift(runner);
      // Beyond the pool's size (after runs in parallel), the runners that waited longest leave.
      while (this.standbys.length > STANDBYS) this.standbys.pop()!.child.send({ exit: true } satisfies Assignment);
    } else if (!m.retiring) {
      runner.child.send({ exit: true } satisfies Assignment); // its leftovers cannot be listed: a fresh runner instead
    }
    this.endPhase(runner, m.reported ? 0 : 1);
    if (!this.stopped) this.topUp();
  }

  /** A runner process ended (retired, killed, or crashed mid-phase). */
  private exited(runner: Runner, code: number | null, signal: NodeJS.Signals | null): void {
    this.prune();
    // As a Fargate task's end stops all its processes: nothing in its group outlives the runner.
    killGroup(runner.child.pid);
    this.endPhase(runner, code, signal);
    if (!this.stopped) this.topUp();
  }

  async stop(taskId: number, force: boolean): Promise<boolean> {
    const child = this.busy.get(taskId)?.child;
    if (!child?.pid) return false;
    if (force) killGroup(child.pid);
    // Only the runner gets the interrupt; it passes one Ctrl-C on to terraform (two would make
    // terraform abandon its graceful stop).
    else child.kill('SIGINT');
    return true;
  }

  /** Kills every runner, the waiting ones included (embedded default stopping). */
  async killAll(): Promise<void> {
    this.stopped = true;
    if (this.refill) clearTimeout(this.refill);
    const all = [...this.busy.values(), ...this.standbys].map((r) => r.child).filter((c) => c.exitCode === null && c.signalCode === null);
    const exits = all.map((c) => new Promise((r) => c.once('exit', r)));
    for (const c of all) killGroup(c.pid);
    this.standbys.length = 0;
    await Promise.all(exits);
  }

  get running(): number[] {
    return [...this.busy.keys()];
  }
}
