/**
 * Runner entry point.
 *
 * On ECS Fargate it is the container's command and runs one phase: `RUNWAY_TASK_ID` and
 * `RUNWAY_PHASE` (plan|apply) from the environment; exit code 0 when the phase reported an outcome
 * (even a failed plan), 1 when it could not.
 *
 * In the embedded default (RUNWAY_STANDBY=1) it is a child process that loads everything first and
 * then runs the phases it is sent on its IPC channel, one at a time (`Assignment`, answered with
 * `PhaseEnded`), staying loaded in between: a run's apply goes to the runner that ran its plan,
 * whose code V8 has compiled by then (a fresh process spends its first second of log lines
 * compiling, at twice the CPU per line). It leaves after a phase that was interrupted, once it holds
 * more memory than a fresh runner (`RETIRE_RSS_BYTES`), after `MAX_PHASES`, or when told to.
 */
import { runnerDepsFromEnv } from '../../functions/services.js';
import { Launcher } from './launcher.js';
import { Runner } from './runner.js';
import { createLogSinkFactory } from './sink.js';
import { assignments, type PhaseEnded } from './standby.js';

/** A runner that grew beyond this over its phases (a large log's buffers) makes way for a fresh one. */
const RETIRE_RSS_BYTES = 256 * 1024 * 1024;
const MAX_PHASES = 100;

async function ecsTaskArn(): Promise<string | undefined> {
  const uri = process.env.ECS_CONTAINER_METADATA_URI_V4;
  if (!uri) return undefined;
  const r = await fetch(`${uri}/task`);
  return ((await r.json()) as { TaskARN?: string }).TaskARN;
}

async function main(): Promise<number> {
  // First: the launcher thread keeps this priority for terraform; this thread then steps back.
  const launcher = new Launcher();
  const deps = runnerDepsFromEnv();
  const sinkFor = createLogSinkFactory(deps.store);
  const runnerRef = (await ecsTaskArn()) ?? `pid:${process.pid}`;
  let current: Runner | null = null;
  let interrupted = false;
  // A cancel arrives as SIGINT (embedded default) or SIGTERM (ECS StopTask): passed on as Ctrl-C.
  // Between phases it just ends the waiting runner.
  const onSignal = () => {
    if (!current) process.exit(0);
    interrupted = true;
    current.interrupt();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const runPhase = async (taskId: number, phase: string | undefined, workspaceId?: string): Promise<boolean> => {
    if (!Number.isInteger(taskId) || taskId <= 0 || (phase !== 'plan' && phase !== 'apply')) {
      console.error(JSON.stringify({ level: 'ERROR', message: 'a task id (integer) and a phase (plan|apply) are required', task_id: taskId, phase }));
      return false;
    }
    current = new Runner(
      { ...deps, sink: sinkFor() },
      {
        terraformBin: process.env.TERRAFORM_BIN || 'terraform',
        launcher,
        runnerRef,
        pluginCacheDir: process.env.TF_PLUGIN_CACHE_DIR,
        workRoot: process.env.RUNWAY_WORK_DIR || undefined,
      },
    );
    try {
      const result = await current.run(taskId, phase, workspaceId);
      console.log(JSON.stringify({ level: 'INFO', message: 'runner phase ended', task_id: taskId, phase, outcome: result?.outcome ?? 'errored' }));
      return !!result;
    } finally {
      current = null;
    }
  };

  if (process.env.RUNWAY_STANDBY !== '1' || !process.send) {
    const reported = await runPhase(Number(process.env.RUNWAY_TASK_ID), process.env.RUNWAY_PHASE, process.env.RUNWAY_WORKSPACE_ID);
    return reported ? 0 : 1;
  }

  // A waiting runner opens its connections and runs the sink's calls once (a task that does not
  // exist, a connection that is gone: nothing changes).
  void Promise.all([deps.store.getTask(0), sinkFor()?.warm?.()]).catch(() => undefined);
  let phases = 0;
  for await (const a of assignments()) {
    const reported = await runPhase(Number(a.task_id), a.phase, a.workspace_id);
    phases++;
    const retiring = interrupted || phases >= MAX_PHASES || process.memoryUsage().rss > RETIRE_RSS_BYTES;
    // Sent before exiting: the embedded default learns how the phase ended from this, not the exit code.
    await new Promise((resolve) => process.send!({ type: 'phase_ended', reported, retiring } satisfies PhaseEnded, undefined, undefined, resolve));
    if (retiring) return reported ? 0 : 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(JSON.stringify({ level: 'ERROR', message: 'runner failed', error: err.message }));
    process.exit(1);
  },
);
