/**
 * Terraform first: while a phase runs, terraform keeps the runner's priority and the runner's own
 * threads (numbering, storing and posting lines) step back, but the one that started terraform;
 * with CAP_SYS_NICE the embedded default raises the phase's session above its own, and the runners
 * waiting for the next phases load at the lowest. Runners stay loaded between phases (a run's apply
 * in its plan's runner, what terraform left behind killed, the pool back to its size after runs in
 * parallel). And a terraform the launcher cannot start ends the run, named.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHIPPING_NICENESS } from '../../containers/runner/launcher.js';
import { canRaisePriority, STANDBYS } from '../../local/runners.js';
import { descendants, statFields } from '../support/processes.js';
import { createWorkspace, startTask, uniqueName, uploadConfig, waitForEnd, waitUntil, type TestRunway } from '../support/runway.js';
import { startRunway } from '../support/runway.js';

let rw: TestRunway;
const flags = mkdtempSync(join(tmpdir(), 'runway-runners-'));

beforeAll(async () => {
  rw = await startRunway();
}, 120_000);

afterAll(async () => {
  await rw?.stop();
  rmSync(flags, { recursive: true, force: true });
});

const comm = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
/** The runner processes of the embedded default under test. */
const runnerProcesses = () => descendants(process.pid).filter((pid) => comm(pid) === 'node' && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('runner/main.mjs'));

/** The niceness and scheduling policy of each thread of a process (stat fields 19 and 41). */
const threadPriorities = (pid: number) =>
  readdirSync(`/proc/${pid}/task`).map((tid) => {
    const f = statFields(`/proc/${pid}/task/${tid}/stat`);
    return { niceness: Number(f[16]), policy: Number(f[38]) };
  });
const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

test('terraform runs at the runner’s priority, above the runner’s log shipping', async () => {
  const ws = uniqueName('first');
  await createWorkspace(rw.api, { name: ws, auto_apply: true });
  // The provisioner reports its niceness and scheduling policy (terraform's children inherit
  // terraform's), then waits for this test to look at the runner.
  await uploadConfig(rw.api, ws, {
    'main.tf': `resource "terraform_data" "n" {\n  provisioner "local-exec" {\n    command = "echo niceness=$(cut -d' ' -f19 /proc/self/stat) policy=$(cut -d' ' -f41 /proc/self/stat); while [ ! -e ${flags}/looked ]; do sleep 0.05; done"\n  }\n}\n`,
  });
  const task = await startTask(rw.api, ws, 'plan_and_apply');
  const text = () => rw.api.get<string>(`/tasks/${task.task_id}/logs?type=apply&format=text`).then((r) => r.body);
  await waitUntil(async () => ((await text()).includes('(local-exec): niceness=') ? true : undefined), 'the provisioner to start');

  // The runner: the process under this one whose child is terraform.
  const runner = descendants(process.pid).find((pid) => comm(pid) === 'node' && descendants(pid).some((c) => comm(c) === 'terraform'));
  expect(runner).toBeDefined();
  const threads = threadPriorities(runner!);
  // One thread (the launcher) stays at 0 and the normal policy; every other one stepped back, to
  // the lowest niceness and SCHED_IDLE.
  expect(threads.filter((t) => t.niceness === 0 && t.policy === SCHED_OTHER)).toHaveLength(1);
  expect(threads.filter((t) => t.niceness === SHIPPING_NICENESS && t.policy === SCHED_IDLE)).toHaveLength(threads.length - 1);
  expect(readFileSync(`/proc/${runner}/autogroup`, 'utf8')).toMatch(canRaisePriority() ? /nice -10\b/ : /nice 0\b/);
  writeFileSync(join(flags, 'looked'), '');

  expect(await waitForEnd(rw.api, task.task_id)).toMatchObject({ status: 'success' });
  expect(await text()).toContain(`(local-exec): niceness=0 policy=${SCHED_OTHER}`);

  // Between runs the pool of runners waits, loaded: the apply's runner among them, for the next
  // phase; one that never ran a phase waits at the lowest niceness. Linux takes one session change a
  // tenth of a second from a process without CAP_SYS_ADMIN (bit 21): then a standby may have stayed at 0.
  const waiting = await waitUntil(async () => (runnerProcesses().length === STANDBYS ? runnerProcesses() : undefined), `${STANDBYS} runners to wait for the next phases`);
  expect(waiting).toContain(runner);
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
  for (const pid of waiting.filter((p) => p !== runner)) expect(readFileSync(`/proc/${pid}/autogroup`, 'utf8')).toMatch(capEff & (1n << 21n) ? /nice 19\b/ : /nice (19|0)\b/);
}, 120_000);

test('a run’s apply, and the next run, go to the runner that ran its plan; what terraform left running ends with the phase', async () => {
  const ws = uniqueName('reuse');
  await createWorkspace(rw.api, { name: ws, auto_apply: false });
  // A provisioner that leaves a job running in the background (its output elsewhere, so terraform
  // does not wait for it), and notes its pid.
  const job = join(flags, 'job.pid');
  await uploadConfig(rw.api, ws, { 'main.tf': `resource "terraform_data" "j" {\n  provisioner "local-exec" {\n    command = "sleep 300 >/dev/null 2>&1 & echo $! > ${job}"\n  }\n}\n` });
  const runnerOf = async (taskId: number) => (await rw.app.deps.store.getTask(taskId))!.runner_ref;

  const task = await startTask(rw.api, ws, 'plan_and_apply');
  await waitUntil(async () => ((await rw.api.get(`/tasks/${task.task_id}`)).body.status === 'apply_pending' ? true : undefined), 'the plan to wait for confirmation');
  const planRunner = await runnerOf(task.task_id);
  expect(planRunner).toMatch(/^pid:\d+$/);
  expect((await rw.api.post(`/tasks/${task.task_id}/confirm`)).status).toBe(200);
  expect(await waitForEnd(rw.api, task.task_id)).toMatchObject({ status: 'success' });
  expect(await runnerOf(task.task_id)).toBe(planRunner);

  // The job the apply left behind was stopped with the phase; the runner itself waits on.
  const jobPid = Number(readFileSync(job, 'utf8'));
  await waitUntil(async () => (existsSync(`/proc/${jobPid}`) && statFields(`/proc/${jobPid}/stat`)[0] !== 'Z' ? undefined : true), 'the background job to be stopped');
  expect(existsSync(`/proc/${planRunner!.slice(4)}`)).toBe(true);

  const next = await startTask(rw.api, ws, 'plan');
  expect(await waitForEnd(rw.api, next.task_id)).toMatchObject({ status: 'success' });
  expect(await runnerOf(next.task_id)).toBe(planRunner);
}, 120_000);

test('after runs in parallel, the runners beyond the pool leave', async () => {
  const names = [uniqueName('par'), uniqueName('par'), uniqueName('par')];
  for (const ws of names) {
    await createWorkspace(rw.api, { name: ws, auto_apply: true });
    await uploadConfig(rw.api, ws, { 'main.tf': 'resource "terraform_data" "p" {\n  provisioner "local-exec" {\n    command = "sleep 1"\n  }\n}\n' });
  }
  const tasks = await Promise.all(names.map((ws) => startTask(rw.api, ws, 'plan_and_apply')));
  for (const t of tasks) expect(await waitForEnd(rw.api, t.task_id)).toMatchObject({ status: 'success' });
  // Three phases ran at once (more than the pool holds); afterwards the pool is back to its size.
  const refs = new Set(await Promise.all(tasks.map(async (t) => (await rw.app.deps.store.getTask(t.task_id))!.runner_ref)));
  expect(refs.size).toBe(3);
  await waitUntil(async () => (runnerProcesses().length === STANDBYS ? true : undefined), `the runners to be ${STANDBYS} again`);
}, 120_000);

test('a terraform that cannot be started ends the run with an error naming it', async () => {
  const missing = join(flags, 'no-such-terraform');
  const broken = await startRunway({ terraformBin: missing });
  try {
    const ws = uniqueName('missing');
    await createWorkspace(broken.api, { name: ws, auto_apply: true });
    await uploadConfig(broken.api, ws, { 'main.tf': 'output "x" {\n  value = 1\n}\n' });
    const task = await startTask(broken.api, ws, 'plan');
    const ended = await waitForEnd(broken.api, task.task_id);
    expect(ended.status).toBe('errored');
    expect(ended.error_message).toContain(`cannot run terraform (${missing})`);
  } finally {
    await broken.stop();
  }
}, 120_000);
