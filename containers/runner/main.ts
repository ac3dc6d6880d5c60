/**
 * Runner entry point: `RUNWAY_TASK_ID` and `RUNWAY_PHASE` (plan|apply) from the environment.
 * In ECS Fargate it is the container's command; in the embedded default a child process.
 * With RUNWAY_STANDBY=1 the process loads everything first and then reads its assignment as one
 * JSON line `{"task_id", "phase"}` on stdin: the embedded default keeps one such runner warm, so a
 * run does not wait for Node to start.
 * Exit code 0 when the phase reported an outcome (even a failed plan), 1 when it could not.
 */
import { runnerDepsFromEnv } from '../../functions/services.js';
import { Launcher } from './launcher.js';
import { Runner } from './runner.js';
import { createLogSinkFromEnv } from './sink.js';

async function ecsTaskArn(): Promise<string | undefined> {
  const uri = process.env.ECS_CONTAINER_METADATA_URI_V4;
  if (!uri) return undefined;
  const r = await fetch(`${uri}/task`);
  return ((await r.json()) as { TaskARN?: string }).TaskARN;
}

async function assignment(): Promise<{ taskId: number; phase: string | undefined; workspaceId?: string }> {
  if (process.env.RUNWAY_STANDBY !== '1') return { taskId: Number(process.env.RUNWAY_TASK_ID), phase: process.env.RUNWAY_PHASE, workspaceId: process.env.RUNWAY_WORKSPACE_ID };
  // Until assigned, an interrupt just ends the idle runner.
  const idle = () => process.exit(0);
  process.once('SIGINT', idle);
  process.once('SIGTERM', idle);
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  process.off('SIGINT', idle);
  process.off('SIGTERM', idle);
  const a = JSON.parse(text.split('\n')[0] || '{}') as { task_id?: number; phase?: string; workspace_id?: string };
  return { taskId: Number(a.task_id), phase: a.phase, workspaceId: a.workspace_id };
}

async function main(): Promise<number> {
  // First: the launcher thread keeps this priority for terraform; this thread then steps back.
  const launcher = new Launcher();
  const deps = runnerDepsFromEnv();
  const sink = createLogSinkFromEnv(deps.store);
  // A warm runner opens its connections and runs the calls of a phase once while it waits (a
  // task that does not exist, a connection that is gone: nothing changes).
  if (process.env.RUNWAY_STANDBY === '1') void Promise.all([deps.store.getTask(0), sink?.warm?.()]).catch(() => undefined);
  const { taskId, phase, workspaceId } = await assignment();
  if (!Number.isInteger(taskId) || taskId <= 0 || (phase !== 'plan' && phase !== 'apply')) {
    console.error(JSON.stringify({ level: 'ERROR', message: 'RUNWAY_TASK_ID (integer) and RUNWAY_PHASE (plan|apply) are required' }));
    return 2;
  }
  const runner = new Runner(
    { ...deps, sink },
    {
      terraformBin: process.env.TERRAFORM_BIN || 'terraform',
      launcher,
      runnerRef: (await ecsTaskArn()) ?? `pid:${process.pid}`,
      pluginCacheDir: process.env.TF_PLUGIN_CACHE_DIR,
      workRoot: process.env.RUNWAY_WORK_DIR || undefined,
    },
  );
  // A cancel arrives as SIGINT (embedded default) or SIGTERM (ECS StopTask): pass it on as Ctrl-C.
  process.on('SIGINT', () => runner.interrupt());
  process.on('SIGTERM', () => runner.interrupt());
  const result = await runner.run(taskId, phase, workspaceId);
  console.log(JSON.stringify({ level: 'INFO', message: 'runner phase ended', task_id: taskId, phase, outcome: result?.outcome ?? 'errored' }));
  return result ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(JSON.stringify({ level: 'ERROR', message: 'runner failed', error: err.message }));
    process.exit(1);
  },
);
