/**
 * Faults a team meets sooner or later, each with what Runway must do about it:
 * - the runner process dies mid-apply → the run ends `errored`, the lock is freed (the queue moves
 *   on), the log lines stored up to the kill are kept, and its work directory (which held the
 *   variables' values) is gone;
 * - a run-task receiver is down for the whole stage → its result is `error`, which blocks at
 *   `mandatory` and only warns at `advisory`;
 * - callbacks arrive twice, at once, or late → one final status wins, the stage is decided once;
 * - two people confirm the same apply at the same moment → DynamoDB's conditional write lets one
 *   confirmation through, and terraform applies once.
 * (The embedded default itself killed mid-run and restarted: restart.test.ts.)
 */
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startReceiver, type Receiver } from '../support/receiver.js';
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
  type ApiResponse,
  type TestRunway,
} from '../support/runway.js';

const TINY = { 'main.tf': 'resource "terraform_data" "x" {\n  input = "x"\n}\n' };

/** A first resource, then a provisioner that ticks once a second and then waits for a long time. */
const SLOW_APPLY = {
  'main.tf': `
variable "db_password" {
  type = string
}

resource "terraform_data" "first" {
  input = "created before the kill"
}

resource "terraform_data" "slow" {
  depends_on = [terraform_data.first]
  provisioner "local-exec" {
    command = "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 0.3; done; sleep 120"
  }
}
`,
};

let rw: TestRunway;
let api: ApiClient;
let member: ApiClient;
const receivers: Receiver[] = [];

beforeAll(async () => {
  // Retries 50 ms apart keep the "receiver down" scenario short (3 attempts either way).
  process.env.RUN_TASK_RETRY_BASE_MS = '50';
  rw = await startRunway();
  api = rw.api;
  const user = await api.post('/users', { username: 'mia', role: 'member' });
  member = rw.client(user.body.token);
});

afterAll(async () => {
  try {
    expect(rw?.responses.filter((r) => r.status >= 500) ?? []).toEqual([]);
  } finally {
    await Promise.all(receivers.map((r) => r.close()));
    await rw?.stop();
  }
});

async function workspace(prefix: string, files: Record<string, string>, extra: Record<string, unknown> = {}): Promise<string> {
  const name = uniqueName(prefix);
  await createWorkspace(api, { name, ...extra });
  await uploadConfig(api, name, files);
  return name;
}

const logText = async (taskId: number, type = 'all'): Promise<string> => (await api.get(`/tasks/${taskId}/logs?type=${type}&format=text`)).body;

async function storedLineNumbers(taskId: number): Promise<number[]> {
  const out: number[] = [];
  for await (const chunk of rw.app.deps.store.readLog(taskId, 0)) out.push(...chunk.map((m) => m.line_num));
  return out;
}

const KILLED_SECRET = 'killed-S3cret-2718';

/** Files under `dir` whose bytes contain `needle`. */
async function filesHolding(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isFile() && (await readFile(p)).includes(needle)) found.push(p);
  }
  return found;
}

const processAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the runner process killed mid-apply', () => {
  it('ends the run errored, keeps the lines stored up to the kill, frees the lock for the next run', async () => {
    const ws = await workspace('killed', SLOW_APPLY, { auto_apply: true });
    // The runner writes the variables' values into its work directory: a kill must not leave them there.
    expect((await api.put(`/workspaces/${ws}/variables/db_password`, { value: KILLED_SECRET, category: 'terraform', sensitive: true })).status).toBe(200);
    const run = await startTask(api, ws, 'plan_and_apply');
    const queued = await startTask(api, ws, 'plan');
    await waitUntil(async () => ((await logText(run.task_id, 'apply')).includes('tick 3') ? true : undefined), 'tick 3 in the apply log', 90_000);
    expect((await api.get(`/tasks/${queued.task_id}`)).body.status).toBe('pending');

    // The runner runs in its own process group (with terraform and the provisioner's shell): kill it all.
    const ref = (await rw.app.deps.store.getTask(run.task_id))!.runner_ref!;
    expect(ref).toMatch(/^pid:\d+$/);
    const pid = Number(ref.slice(4));
    const before = await storedLineNumbers(run.task_id);
    expect((await filesHolding(rw.app.dataDir, KILLED_SECRET)).length).toBeGreaterThan(0); // the runner's tfvars, for now
    process.kill(-pid, 'SIGKILL');

    const ended = await waitForEnd(api, run.task_id, 60_000);
    expect(ended.status).toBe('errored');
    expect(ended.error_message).toMatch(/runner/);
    expect(ended.completed_at).not.toBeNull();
    expect(processAlive(pid)).toBe(false);

    // Every line stored before the kill is still there, numbered 1..N without a gap.
    const after = await storedLineNumbers(run.task_id);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after).toEqual(after.map((_, i) => i + 1));
    const apply = await logText(run.task_id, 'apply');
    for (const tick of ['tick 1', 'tick 2', 'tick 3']) expect(apply).toContain(tick);

    // The lock is free: the queued run starts and ends, and nothing holds the workspace.
    const next = await waitForEnd(api, queued.task_id, 90_000);
    expect(next.status).toBe('success');
    expect((await api.get(`/workspaces/${ws}`)).body.locked_by_task).toBeNull();
    expect(await filesHolding(rw.app.dataDir, KILLED_SECRET)).toEqual([]);
  });
});

describe('a run-task receiver that is down for the whole stage', () => {
  it('makes each result error: an advisory one warns and the run goes on, a mandatory one fails the run', async () => {
    // A port that was just free and is now closed: every attempt is refused.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const url = `http://127.0.0.1:${port}/hook`;
    const ws = await workspace('down', TINY);
    for (const [name, stage, level] of [
      ['down-advisory', 'pre_plan', 'advisory'],
      ['down-mandatory', 'post_plan', 'mandatory'],
    ] as const) {
      const rt = await api.post('/run-tasks', { name: uniqueName(name), endpoint_url: url });
      expect(rt.status).toBe(201);
      expect((await api.post(`/workspaces/${ws}/run-tasks`, { run_task_id: rt.body.run_task_id, stage, enforcement_level: level })).status).toBe(201);
    }
    const run = await waitForEnd(api, (await startTask(api, ws, 'plan')).task_id, 90_000);

    expect(run.status).toBe('failed');
    // The advisory error let the plan happen; the mandatory one stopped the run after it.
    expect(run.stage_timings.planning).toEqual(expect.any(Number));
    const summary = (run as unknown as { run_task_summary: Record<string, { passed: boolean; blocking: string[]; warnings: string[] }> }).run_task_summary;
    expect(summary.pre_plan).toMatchObject({ passed: true, blocking: [], warnings: [expect.stringMatching(/^down-advisory/)] });
    expect(summary.post_plan).toMatchObject({ passed: false, blocking: [expect.stringMatching(/^down-mandatory/)], warnings: [] });
    const results = (await api.get(`/tasks/${run.task_id}/run-task-results`)).body;
    for (const stage of ['pre_plan', 'post_plan']) {
      expect(results.stages[stage]).toHaveLength(1);
      expect(results.stages[stage][0]).toMatchObject({ status: 'error', message: expect.stringMatching(/3 attempts/) });
    }
  });
});

describe('duplicate and late callbacks', () => {
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver(null, () => ({ kind: 'silent' }));
    receivers.push(receiver);
  });

  it('let one final status win when several arrive at once; the stage is decided once', async () => {
    const ws = await workspace('callbacks', TINY);
    const rt = await api.post('/run-tasks', { name: uniqueName('dup'), endpoint_url: receiver.url });
    await api.post(`/workspaces/${ws}/run-tasks`, { run_task_id: rt.body.run_task_id, stage: 'post_plan', enforcement_level: 'mandatory' });
    const run = await startTask(api, ws, 'plan');
    await receiver.waitForRequests(1);
    const p = receiver.requests[0].payload as { access_token: string; task_result_callback_url: string; task_result_id: string };
    const outcome = { 'outcome-id': 'check-1', description: 'one outcome', tags: { Status: [{ label: 'ok', level: 'info' }] } };
    const body = (status: 'passed' | 'failed') => ({ data: { type: 'task-results', attributes: { status, message: `${status}!` }, relationships: { outcomes: { data: [{ type: 'task-result-outcomes', attributes: outcome }] } } } });
    const callback = (b: unknown): Promise<ApiResponse> => rw.client(p.access_token).patch(p.task_result_callback_url.replace(/^https?:\/\/[^/]+/, ''), b);

    // Six identical "passed" and two "failed" callbacks, all at once.
    const kinds = ['passed', 'failed', 'passed', 'passed', 'failed', 'passed', 'passed', 'passed'] as const;
    const answers = await Promise.all(kinds.map((k) => callback(body(k))));
    const stored = (await api.get(`/tasks/${run.task_id}/run-task-results`)).body.stages.post_plan[0];
    expect(['passed', 'failed']).toContain(stored.status);
    // Every callback with the winning status is answered 200 (the same final callback again), every other 409.
    expect(answers.map((a, i) => [kinds[i], a.status])).toEqual(kinds.map((k) => [k, k === stored.status ? 200 : 409]));
    expect(stored.outcomes).toHaveLength(1);

    const ended = await waitForEnd(api, run.task_id, 60_000);
    expect(ended.status).toBe(stored.status === 'passed' ? 'success' : 'failed');
    const markers = (await logText(run.task_id)).split('\n').filter((l) => /POST_PLAN (BEGIN|END)/.test(l));
    expect(markers).toHaveLength(2);

    // Late, after the run has ended: the same final callback is still 200 and changes nothing; another is 409.
    expect((await callback(body(stored.status))).status).toBe(200);
    expect((await callback(body(stored.status === 'passed' ? 'failed' : 'passed'))).status).toBe(409);
    expect((await api.get(`/tasks/${run.task_id}/run-task-results`)).body.stages.post_plan[0]).toMatchObject({ status: stored.status, completed_at: stored.completed_at });
    expect((await api.get(`/tasks/${run.task_id}`)).body.status).toBe(ended.status);
    // Each accepted callback is in the audit log; refused ones are not.
    const audited = (await api.get(`/audit-events?resource=run-task-results/${p.task_result_id}`)).body.audit_events;
    expect(audited).toHaveLength(answers.filter((a) => a.status === 200).length + 1);
  });
});

describe('two confirmations of the same apply at the same moment', () => {
  it('let exactly one through, and terraform applies once', async () => {
    const ws = await workspace('confirms', TINY);
    const run = await startTask(api, ws, 'plan_and_apply');
    await waitForStatus(api, run.task_id, 'apply_pending', 90_000);

    const answers = await Promise.all([api, member, api, member].map((c) => c.post(`/tasks/${run.task_id}/confirm`)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409, 409]);
    const winner = answers.find((a) => a.status === 200)!;
    for (const a of answers.filter((x) => x.status === 409)) expect(a.body).toMatchObject({ error: 'conflict' });
    // Too late to discard, too.
    expect((await member.post(`/tasks/${run.task_id}/discard`)).status).toBe(409);

    const done = await waitForEnd(api, run.task_id, 90_000);
    expect(done).toMatchObject({ status: 'success', confirmed_by: winner.body.confirmed_by });
    const log = await logText(run.task_id, 'apply');
    expect(log.match(/APPLYING BEGIN/g)).toHaveLength(1);
    expect(log.match(/Apply complete!/g)).toHaveLength(1);
    const confirms = (await api.get(`/audit-events?resource=tasks/${run.task_id}/confirm`)).body.audit_events;
    expect(confirms).toHaveLength(1);
  });
});
