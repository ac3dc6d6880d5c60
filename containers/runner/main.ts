/**
 * Runner entry point: `RUNWAY_TASK_ID` and `RUNWAY_PHASE` (plan|apply) from the environment.
 * In ECS Fargate it is the container's command; in the embedded default a child process.
 * Exit code 0 when the phase reported an outcome (even a failed plan), 1 when it could not.
 */
import { runnerDepsFromEnv } from '../../functions/services.js';
import { Runner } from './runner.js';

async function ecsTaskArn(): Promise<string | undefined> {
  const uri = process.env.ECS_CONTAINER_METADATA_URI_V4;
  if (!uri) return undefined;
  const r = await fetch(`${uri}/task`);
  return ((await r.json()) as { TaskARN?: string }).TaskARN;
}

async function main(): Promise<number> {
  const taskId = Number(process.env.RUNWAY_TASK_ID);
  const phase = process.env.RUNWAY_PHASE;
  if (!Number.isInteger(taskId) || taskId <= 0 || (phase !== 'plan' && phase !== 'apply')) {
    console.error(JSON.stringify({ level: 'ERROR', message: 'RUNWAY_TASK_ID (integer) and RUNWAY_PHASE (plan|apply) are required' }));
    return 2;
  }
  const deps = runnerDepsFromEnv();
  const { createLogSinkFromEnv } = await import('./sink.js');
  const runner = new Runner(
    { ...deps, sink: createLogSinkFromEnv(deps.store) },
    {
      terraformBin: process.env.TERRAFORM_BIN || 'terraform',
      runnerRef: (await ecsTaskArn()) ?? `pid:${process.pid}`,
      pluginCacheDir: process.env.TF_PLUGIN_CACHE_DIR,
    },
  );
  // A cancel arrives as SIGINT (embedded default) or SIGTERM (ECS StopTask): pass it on as Ctrl-C.
  process.on('SIGINT', () => runner.interrupt());
  process.on('SIGTERM', () => runner.interrupt());
  const result = await runner.run(taskId, phase);
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
