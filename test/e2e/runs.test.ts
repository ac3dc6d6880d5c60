/**
 * Runs end to end: the embedded default in this process, real HTTP, the real terraform running
 * tiny configurations (only the built-in terraform_data resource and local-exec).
 * Independent workspaces share one instance; each describe block owns its workspace.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { LogMessage } from '../../functions/core/logs.js';
import {
  createWorkspace,
  startRunway,
  startTask,
  uniqueName,
  uploadConfig,
  waitForEnd,
  waitForStatus,
  waitUntil,
  type ApiClient,
  type TaskView,
  type TestRunway,
} from '../support/runway.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const SIMPLE = {
  'main.tf': `
resource "terraform_data" "greeting" {
  input = "hello"
}

output "greeting" {
  value = terraform_data.greeting.output
}
`,
};

/** A sleep with an argument no other process has, so the test can tell whether it still runs. */
const SLEEP_ARG = `30.${randomInt(1000, 10_000)}`;

/** Apply sleeps in a provisioner after a first resource was created, so there is state to keep. */
const SLOW_APPLY = {
  'main.tf': `
resource "terraform_data" "first" {
  input = "kept"
}

resource "terraform_data" "slow" {
  depends_on = [terraform_data.first]
  provisioner "local-exec" {
    command = "sleep ${SLEEP_ARG}"
  }
}

output "first" {
  value = terraform_data.first.output
}
`,
};

const MARKER = /^========== ([A-Z_]+) (BEGIN|END) at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} ==========$/;

let rw: TestRunway;
let api: ApiClient;

beforeAll(async () => {
  rw = await startRunway();
  api = rw.api;
});

afterAll(async () => {
  try {
    expect(rw?.responses.filter((r) => r.status >= 500) ?? []).toEqual([]);
  } finally {
    await rw?.stop();
  }
});

/** Processes (from /proc, Linux) whose command line is exactly `args`. */
function processesRunning(args: string[]): number[] {
  const wanted = args.join('\0') + '\0';
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8') === wanted) found.push(Number(pid));
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

async function storedLog(taskId: number): Promise<LogMessage[]> {
  const out: LogMessage[] = [];
  for await (const chunk of rw.app.deps.store.readLog(taskId, 0)) out.push(...chunk);
  return out;
}

const logText = async (taskId: number, type = 'all') => {
  const res = await api.get<string>(`/tasks/${taskId}/logs?type=${type}&format=text`);
  expect(res.status).toBe(200);
  return res.body;
};

/** Polls the logs endpoint until the apply log holds `needle` (terraform is inside the apply). */
const waitForApplyLine = (taskId: number, needle: string) =>
  waitUntil(async () => ((await logText(taskId, 'apply')).includes(needle) ? true : undefined), `"${needle}" in the apply log of task ${taskId}`, 60_000);

describe('a plan_and_apply run, confirmed', () => {
  let ws: string;
  let cvSha: string;
  let planned: TaskView;
  let done: TaskView;

  beforeAll(async () => {
    ws = uniqueName('apply');
    await createWorkspace(api, { name: ws });
    cvSha = (await uploadConfig(api, ws, SIMPLE)).sha256;
    const created = await startTask(api, ws, 'plan_and_apply', { description: 'first apply' });
    planned = await waitForStatus(api, created.task_id, ['apply_pending', 'failed', 'errored', 'success'], 60_000);
    const confirm = await api.post(`/tasks/${created.task_id}/confirm`);
    expect(confirm.status).toBe(200);
    done = await waitForEnd(api, created.task_id, 60_000);
  });

  it('waits in apply_pending with the plan counted and the plan stages timed', () => {
    expect(planned.status).toBe('apply_pending');
    expect(planned.stage).toBe('apply_pending');
    expect(planned.plan_changes).toEqual({ add: 1, change: 0, destroy: 0 });
    for (const stage of ['fetching', 'init', 'planning', 'saving_plan']) {
      expect(typeof planned.stage_timings[stage]).toBe('number');
      expect(planned.stage_timings[stage]).toBeGreaterThanOrEqual(0);
    }
    expect(planned.stage_timings.applying).toBeUndefined();
    expect(planned.completed_at).toBeNull();
  });

  it('ends success after confirm, with the apply stages timed and a duration', () => {
    expect(done.status).toBe('success');
    expect(done.error_message).toBeNull();
    expect(done.stage).toBeNull();
    expect(done.description).toBe('first apply');
    expect(done.completed_at).not.toBeNull();
    expect(done.duration).toBeGreaterThan(0);
    for (const stage of ['apply_pending', 'applying', 'saving_state', 'total']) expect(typeof done.stage_timings[stage]).toBe('number');
  });

  it('leaves the workspace state with the output and its serial', async () => {
    const state = await api.get(`/workspaces/${ws}/state`);
    expect(state.status).toBe(200);
    expect(state.body.outputs.greeting).toMatchObject({ value: 'hello', sensitive: false });
    expect(Number.isInteger(state.body.serial)).toBe(true);
    expect(state.body.serial).toBeGreaterThan(0);
    expect(state.body.task_id).toBe(done.task_id);
    const wsView = await api.get(`/workspaces/${ws}`);
    expect(wsView.body.state_serial).toBe(state.body.serial);
    expect(wsView.body.locked_by_task).toBeNull();
  });

  it('serves the plan as terraform show -json and as resource changes', async () => {
    const plan = await api.get(`/workspaces/${ws}/tasks/${done.task_id}/plan-json`);
    expect(plan.status).toBe(200);
    expect(typeof plan.body.format_version).toBe('string');
    expect(plan.body.resource_changes.map((r: { address: string }) => r.address)).toEqual(['terraform_data.greeting']);
    const changes = await api.get(`/workspaces/${ws}/tasks/${done.task_id}/resource-changes`);
    expect(changes.status).toBe(200);
    expect(changes.body.plan_changes).toEqual({ add: 1, change: 0, destroy: 0 });
    expect(changes.body.resource_changes).toHaveLength(1);
    expect(changes.body.resource_changes[0]).toMatchObject({ address: 'terraform_data.greeting', change: { actions: ['create'] } });
  });

  it('serves logs by type and format', async () => {
    const all = await api.get(`/tasks/${done.task_id}/logs`);
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ task_id: done.task_id, task_type: 'plan_and_apply', status: 'success' });
    expect(all.body.logs.plan.output).toContain('Plan: 1 to add, 0 to change, 0 to destroy.');
    expect(all.body.logs.plan.line_count).toBe(all.body.logs.plan.output.split('\n').length);
    expect(all.body.logs.apply.output).toContain('Apply complete! Resources: 1 added, 0 changed, 0 destroyed.');

    const plan = await api.get(`/tasks/${done.task_id}/logs?type=plan&format=json`);
    expect(plan.body.logs.plan.output).toContain('Plan: 1 to add');
    expect(plan.body.logs.apply).toBeNull();
    const apply = await api.get(`/tasks/${done.task_id}/logs?type=apply`);
    expect(apply.body.logs.plan).toBeNull();
    expect(apply.body.logs.apply.output).toContain('Apply complete!');
    expect(apply.body.logs.apply.output).not.toContain('Plan: 1 to add');

    const text = await api.get(`/tasks/${done.task_id}/logs?format=text`);
    expect(text.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(text.body).toMatch(/^=== PLAN OUTPUT ===\n/);
    expect(text.body).toContain('=== APPLY OUTPUT ===\n');
    expect(text.body).toMatch(/^========== PLANNING BEGIN at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3} ==========$/m);
    const planText = await logText(done.task_id, 'plan');
    expect(planText).toContain('=== PLAN OUTPUT ===');
    expect(planText).not.toContain('=== APPLY OUTPUT ===');
  });

  it('downloads logs as an attachment with a metadata header', async () => {
    const res = await api.get(`/tasks/${done.task_id}/logs/download`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="task-${done.task_id}-logs.txt"`);
    const body = res.raw.toString('utf8');
    expect(body).toMatch(new RegExp(`^Task ID: ${done.task_id}\\n`));
    expect(body).toContain('Task Type: plan_and_apply\n');
    expect(body).toContain('Status: success\n');
    expect(body).toMatch(/PLAN OUTPUT:\n-+\n/);
    expect(body).toMatch(/APPLY OUTPUT:\n-+\n/);
    expect(body).toContain('Apply complete!');
    const planOnly = (await api.get(`/tasks/${done.task_id}/logs/download?type=plan`)).raw.toString('utf8');
    expect(planOnly).toContain('PLAN OUTPUT:');
    expect(planOnly).not.toContain('APPLY OUTPUT:');
  });

  it('stores every line numbered 1..N without gaps across plan and apply', async () => {
    const messages = await storedLog(done.task_id);
    expect(messages.length).toBeGreaterThan(20);
    expect(messages.map((m) => m.line_num)).toEqual(messages.map((_, i) => i + 1));
    expect(new Set(messages.map((m) => m.phase))).toEqual(new Set(['plan', 'apply']));
    // plan lines come first, then apply lines: one sequence, not two
    const firstApply = messages.findIndex((m) => m.phase === 'apply');
    expect(messages.slice(firstApply).every((m) => m.phase === 'apply')).toBe(true);
  });

  it('stores stage markers in order, each begin closed by its end, in the seed-001 format', async () => {
    const markers = (await storedLog(done.task_id)).filter((m) => m.type === 'stage_marker');
    let open: string | null = null;
    for (const m of markers) {
      if (m.type !== 'stage_marker') continue;
      const match = MARKER.exec(m.line);
      expect(match).not.toBeNull();
      expect(match![1]).toBe(m.stage.toUpperCase());
      expect(match![2]).toBe(m.status.toUpperCase());
      if (m.status === 'begin') {
        expect(open).toBeNull();
        open = m.stage;
      } else {
        expect(m.stage).toBe(open);
        open = null;
      }
    }
    expect(open).toBeNull();
    const begun = (phase: string) => markers.filter((m) => m.type === 'stage_marker' && m.status === 'begin' && m.phase === phase).map((m) => (m as { stage: string }).stage);
    expect(begun('plan')).toEqual(['fetching', 'init', 'planning', 'saving_plan']);
    const applyStages = begun('apply');
    const order = ['restoring_plan', 'applying', 'saving_state'].map((s) => applyStages.indexOf(s));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    const times = markers.map((m) => Date.parse(m.timestamp));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('keeps artifacts whose sha256 matches the downloaded bytes', async () => {
    const res = await api.get(`/tasks/${done.task_id}/artifacts`);
    expect(res.status).toBe(200);
    const artifacts = res.body.artifacts as { artifact_id: string; kind: string; sha256: string; size_bytes: number; download_url: string }[];
    expect(artifacts.map((a) => a.kind)).toEqual(expect.arrayContaining(['configuration', 'plan_file', 'plan_json', 'logs', 'state_after']));
    for (const a of artifacts) {
      const dl = await api.get(a.download_url);
      expect({ kind: a.kind, status: dl.status }).toEqual({ kind: a.kind, status: 200 });
      expect(sha256(dl.raw)).toBe(a.sha256);
      expect(dl.raw.length).toBe(a.size_bytes);
    }
    const byKind = Object.fromEntries(artifacts.map((a) => [a.kind, a]));
    expect(byKind.configuration.sha256).toBe(cvSha);
    const planJson = await api.get(byKind.plan_json.download_url);
    const served = await api.get(`/workspaces/${ws}/tasks/${done.task_id}/plan-json`);
    expect(JSON.parse(planJson.raw.toString('utf8'))).toEqual(served.body);
    const state = JSON.parse((await api.get(byKind.state_after.download_url)).raw.toString('utf8'));
    expect(state.outputs.greeting.value).toBe('hello');
    const logs = (await api.get(byKind.logs.download_url)).raw.toString('utf8');
    expect(logs).toContain('Apply complete!');
    // The artifact is the stored log, plan and apply, line for line.
    expect(logs).toBe((await storedLog(done.task_id)).map((m) => `${m.line}\n`).join(''));
  });

  it('lists runs newest first with log summaries, filters and paging', async () => {
    // a second run, so the list has two types to filter on
    const second = await startTask(api, ws, 'plan');
    expect(await waitForEnd(api, second.task_id, 60_000)).toMatchObject({ status: 'success' });

    const list = await api.get(`/workspaces/${ws}/tasks`);
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ total: 2, limit: 20, offset: 0 });
    expect(list.body.tasks.map((t: { id: number }) => t.id)).toEqual([second.task_id, done.task_id]);
    const first = list.body.tasks[1];
    expect(first).toMatchObject({ task_type: 'plan_and_apply', status: 'success', completed_at: done.completed_at, duration: done.duration });
    expect(first.log_summary.plan_lines).toBeGreaterThan(0);
    expect(first.log_summary.apply_lines).toBeGreaterThan(0);
    expect(first.log_summary.has_errors).toBe(false);
    expect(first.log_summary.last_line).toMatch(/\S/);

    const plans = await api.get(`/workspaces/${ws}/tasks?task_type=plan`);
    expect(plans.body.total).toBe(1);
    expect(plans.body.tasks[0].id).toBe(second.task_id);
    const ok = await api.get(`/workspaces/${ws}/tasks?status=success`);
    expect(ok.body.total).toBe(2);
    const failed = await api.get(`/workspaces/${ws}/tasks?status=failed`);
    expect(failed.body).toMatchObject({ total: 0, tasks: [] });
    const page = await api.get(`/workspaces/${ws}/tasks?limit=1&offset=1`);
    expect(page.body).toMatchObject({ total: 2, limit: 1, offset: 1 });
    expect(page.body.tasks.map((t: { id: number }) => t.id)).toEqual([done.task_id]);
  });
});

describe('a plan run', () => {
  it('ends success after the plan, without applying', async () => {
    const ws = uniqueName('plan');
    await createWorkspace(api, { name: ws });
    await uploadConfig(api, ws, SIMPLE);
    const task = await startTask(api, ws, 'plan');
    const done = await waitForEnd(api, task.task_id, 60_000);
    expect(done.status).toBe('success');
    expect(done.plan_changes).toEqual({ add: 1, change: 0, destroy: 0 });
    expect(done.stage_timings.planning).toBeGreaterThanOrEqual(0);
    expect(done.stage_timings.applying).toBeUndefined();
    const logs = await api.get(`/tasks/${task.task_id}/logs`);
    expect(logs.body.logs.plan.output).toContain('Plan: 1 to add');
    expect(logs.body.logs.apply).toBeNull();
    const state = await api.get(`/workspaces/${ws}/state`);
    expect(state.body).toMatchObject({ serial: null, outputs: {} });
  });
});

describe('an auto_apply workspace with sensitive variables', () => {
  const secretTf = `tfsecret-${randomBytes(8).toString('hex')}`;
  const secretEnv = `envsecret-${randomBytes(8).toString('hex')}`;
  let ws: string;
  let done: TaskView;

  beforeAll(async () => {
    ws = uniqueName('auto');
    await createWorkspace(api, { name: ws, auto_apply: true });
    // Not `sensitive` in HCL: terraform would print it, so only Runway's masking hides it.
    await uploadConfig(api, ws, {
      'main.tf': `
variable "secret_tf" {
  type = string
}

resource "terraform_data" "echo" {
  input = var.secret_tf
  provisioner "local-exec" {
    command = "echo tf=\${var.secret_tf} env=$SECRET_ENV"
  }
}
`,
    });
    for (const [key, body] of [
      ['secret_tf', { value: secretTf, category: 'terraform', sensitive: true }],
      ['SECRET_ENV', { value: secretEnv, category: 'env', sensitive: true }],
      ['PLAIN_ENV', { value: 'visible', category: 'env' }],
    ] as const) {
      const put = await api.put(`/workspaces/${ws}/variables/${key}`, body);
      expect(put.status).toBe(200);
      expect(put.raw.toString('utf8')).not.toContain(secretTf);
      expect(put.raw.toString('utf8')).not.toContain(secretEnv);
    }
    const task = await startTask(api, ws, 'plan_and_apply');
    done = await waitForEnd(api, task.task_id, 90_000);
  });

  it('applies without a confirmation', () => {
    expect(done.status).toBe('success');
    expect(done.stage_timings.apply_pending).toBeUndefined();
    expect(done.stage_timings.applying).toBeGreaterThanOrEqual(0);
  });

  it('masks sensitive values in every log form, and the masked line is there', async () => {
    const forms = [
      (await api.get(`/tasks/${done.task_id}/logs`)).raw.toString('utf8'),
      (await api.get(`/tasks/${done.task_id}/logs?format=text`)).raw.toString('utf8'),
      (await api.get(`/tasks/${done.task_id}/logs/download`)).raw.toString('utf8'),
      (await api.get(`/api/v1/artifacts/art-${done.task_id}-logs/download`)).raw.toString('utf8'),
      JSON.stringify(await storedLog(done.task_id)),
    ];
    for (const form of forms) {
      expect(form).not.toContain(secretTf);
      expect(form).not.toContain(secretEnv);
      // the echo ran, and what it printed was masked (so this test can fail)
      expect(form).toContain('tf=*** env=***');
    }
  });

  it('lists the sensitive variables without their values', async () => {
    const res = await api.get(`/workspaces/${ws}/variables`);
    expect(res.status).toBe(200);
    expect(res.raw.toString('utf8')).not.toContain(secretTf);
    expect(res.raw.toString('utf8')).not.toContain(secretEnv);
    const byKey = Object.fromEntries(res.body.variables.map((v: { key: string }) => [v.key, v]));
    expect(byKey.secret_tf).toMatchObject({ category: 'terraform', sensitive: true, value: null });
    expect(byKey.SECRET_ENV).toMatchObject({ category: 'env', sensitive: true, value: null });
    expect(byKey.PLAIN_ENV).toMatchObject({ category: 'env', sensitive: false, value: 'visible' });
    const task = await api.get(`/tasks/${done.task_id}`);
    expect(task.raw.toString('utf8')).not.toContain(secretTf);
  });
});

describe('the workspace queue', () => {
  it('runs one at a time, FIFO; a discard frees the lock for the next', async () => {
    const ws = uniqueName('queue');
    await createWorkspace(api, { name: ws });
    await uploadConfig(api, ws, SIMPLE);
    const a = await startTask(api, ws, 'plan_and_apply');
    const b = await startTask(api, ws, 'plan_and_apply');
    const c = await startTask(api, ws, 'plan');

    const aPending = await waitForStatus(api, a.task_id, 'apply_pending', 60_000);
    for (const queued of [b, c]) {
      const t = (await api.get<TaskView>(`/tasks/${queued.task_id}`)).body;
      expect(t).toMatchObject({ status: 'pending', started_at: null });
    }
    expect((await api.get(`/workspaces/${ws}`)).body.locked_by_task).toBe(a.task_id);

    const discard = await api.post<TaskView>(`/tasks/${a.task_id}/discard`);
    expect(discard.status).toBe(200);
    expect(discard.body.status).toBe('discarded');

    const bPending = await waitForStatus(api, b.task_id, 'apply_pending', 60_000);
    expect((await api.get<TaskView>(`/tasks/${c.task_id}`)).body.status).toBe('pending');
    const aDone = (await api.get<TaskView>(`/tasks/${a.task_id}`)).body;
    expect(aDone.status).toBe('discarded');
    expect(aDone.stage_timings.applying).toBeUndefined();
    expect(Date.parse(bPending.started_at!)).toBeGreaterThanOrEqual(Date.parse(aDone.completed_at!));

    expect((await api.post(`/tasks/${b.task_id}/discard`)).status).toBe(200);
    const cDone = await waitForEnd(api, c.task_id, 60_000);
    expect(cDone.status).toBe('success');
    const bDone = (await api.get<TaskView>(`/tasks/${b.task_id}`)).body;
    expect(Date.parse(cDone.started_at!)).toBeGreaterThanOrEqual(Date.parse(bDone.completed_at!));
    const starts = [aPending, bPending, cDone].map((t) => Date.parse(t.started_at!));
    expect([...starts].sort((x, y) => x - y)).toEqual(starts);
    // nothing was applied
    expect((await api.get(`/workspaces/${ws}/state`)).body.serial).toBeNull();
    await waitUntil(async () => ((await api.get(`/workspaces/${ws}`)).body.locked_by_task === null ? true : undefined), 'the lock to be free');
  });
});

describe('cancelling a run', () => {
  let ws: string;

  /** Waits until SLOW_APPLY's provisioner sleeps (true), or until no such process is left (false). */
  const provisionerSleeping = (yes: boolean) =>
    waitUntil(
      async () => ((processesRunning(['sleep', SLEEP_ARG]).length > 0) === yes ? true : undefined),
      yes ? 'the provisioner to be sleeping' : 'the provisioner to be stopped',
      yes ? 30_000 : 5_000,
    );

  beforeAll(async () => {
    ws = uniqueName('cancel');
    await createWorkspace(api, { name: ws, auto_apply: true });
    await uploadConfig(api, ws, SLOW_APPLY);
  });

  it('interrupts terraform mid-apply, keeps the state it saved, releases the lock', async () => {
    const task = await startTask(api, ws, 'plan_and_apply');
    await waitForApplyLine(task.task_id, 'terraform_data.slow: Creating...');
    await provisionerSleeping(true);
    const asked = Date.now();
    const cancel = await api.post(`/tasks/${task.task_id}/cancel`);
    expect(cancel.status).toBe(200);
    const done = await waitForEnd(api, task.task_id, 20_000);
    expect(done.status).toBe('cancelled');
    // the provisioner sleeps 30 s: the run did not wait for it, and what it ran was stopped
    expect(Date.now() - asked).toBeLessThan(15_000);
    await provisionerSleeping(false);
    await waitUntil(async () => ((await api.get(`/workspaces/${ws}`)).body.locked_by_task === null ? true : undefined), 'the lock to be released', 5_000);

    // terraform saved the state of what it had done: terraform_data.first and its output
    const state = await api.get(`/workspaces/${ws}/state`);
    expect(state.body.task_id).toBe(task.task_id);
    expect(state.body.serial).toBeGreaterThan(0);
    expect(state.body.outputs.first).toMatchObject({ value: 'kept' });
    const kinds = (await api.get(`/tasks/${task.task_id}/artifacts`)).body.artifacts.map((a: { kind: string }) => a.kind);
    expect(kinds).toContain('state_after');
    const saved = JSON.parse((await api.get(`/api/v1/artifacts/art-${task.task_id}-state-after/download`)).raw.toString('utf8'));
    expect(saved.resources.map((r: { name: string }) => r.name)).toContain('first');
    expect((await api.post(`/tasks/${task.task_id}/cancel`)).status).toBe(409);
    // The runner it interrupted does not wait for another phase: a fresh one takes the next.
    const runner = (await rw.app.deps.store.getTask(task.task_id))!.runner_ref!;
    expect(runner).toMatch(/^pid:\d+$/);
    await waitUntil(async () => (existsSync(`/proc/${runner.slice(4)}`) ? undefined : true), 'the interrupted runner to leave', 10_000);
  });

  it('with force=true kills at once, and the next run starts', async () => {
    const task = await startTask(api, ws, 'plan_and_apply');
    await waitForApplyLine(task.task_id, 'terraform_data.slow: Creating...');
    await provisionerSleeping(true);
    const asked = Date.now();
    expect((await api.post(`/tasks/${task.task_id}/cancel?force=true`)).status).toBe(200);
    const done = await waitForEnd(api, task.task_id, 10_000);
    expect(done.status).toBe('cancelled');
    expect(Date.now() - asked).toBeLessThan(5_000);
    await provisionerSleeping(false);

    const next = await startTask(api, ws, 'plan');
    const nextDone = await waitForEnd(api, next.task_id, 60_000);
    expect(nextDone.status).toBe('success');
    expect(Date.parse(nextDone.started_at!)).toBeGreaterThanOrEqual(Date.parse(done.completed_at!));
  });
});

describe('a failing configuration', () => {
  it('ends failed with an error message and the error in the log', async () => {
    const ws = uniqueName('broken');
    await createWorkspace(api, { name: ws });
    await uploadConfig(api, ws, { 'main.tf': 'resource "terraform_data" "x" {\n  input = \n' });
    const task = await startTask(api, ws, 'plan_and_apply');
    const done = await waitForEnd(api, task.task_id, 60_000);
    expect(done.status).toBe('failed');
    expect(done.error_message).toMatch(/terraform (init|plan) failed/);
    expect(done.log_summary?.has_errors).toBe(true);
    expect(await logText(task.task_id)).toMatch(/Error: /);
    expect((await api.post(`/tasks/${task.task_id}/confirm`)).status).toBe(409);
    // the lock is free: a next run starts (and fails the same way)
    const next = await startTask(api, ws, 'plan');
    expect((await waitForEnd(api, next.task_id, 60_000)).status).toBe('failed');
  });
});
