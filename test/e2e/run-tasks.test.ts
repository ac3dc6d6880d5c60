/**
 * Run tasks end to end (SPEC §5, seed 000): the embedded default in this process, the real
 * terraform on tiny configurations, and receivers on loopback written only from the HCP Terraform
 * contract (test/support/receiver.ts). Where a scenario needs precise control of the callbacks, the
 * receiver stays silent and the test calls back with the token the receiver was sent, as a receiver would.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbedded, type Embedded } from '../../local/embedded.js';
import { startReceiver, type Behaviour, type Receiver } from '../support/receiver.js';
import { apiClient, createWorkspace, startTask, uniqueName, uploadConfig, waitForEnd, type ApiClient, type TaskView } from '../support/runway.js';

const TINY = { 'main.tf': 'resource "terraform_data" "x" {}\n' };
const HMAC_KEY = 'secret-key-123';

type Stage = 'pre_plan' | 'post_plan' | 'pre_apply' | 'post_apply';
type Payload = Record<string, any>;

interface ResultView {
  result_id: string;
  run_task: { run_task_id: string; name: string };
  stage: Stage;
  status: string;
  message: string | null;
  url: string | null;
  enforcement_level: string;
  started_at: string | null;
  completed_at: string | null;
  workspace_run_task_id: string | null;
  outcomes: { outcome_id: string; description: string; body: string | null; url: string | null; tags: Record<string, { label: string; level: string }[]> }[];
}

let app: Embedded;
let dataDir: string;
let api: ApiClient;
const answers: { method: string; path: string; status: number }[] = [];
const receivers: Receiver[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'runway-run-tasks-'));
  const adminToken = `rwadmin_test_${randomBytes(16).toString('hex')}`;
  // Timeouts of 1 s and retries 50 ms apart keep the timeout and retry scenarios short.
  app = await startEmbedded({ dataDir, port: 0, adminToken, env: { ...process.env, RUN_TASK_MIN_TIMEOUT_SECONDS: '1', RUN_TASK_RETRY_BASE_MS: '50' } });
  api = apiClient(app.url, adminToken, { onResponse: (method, path, res) => answers.push({ method, path, status: res.status }) });
});

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await app?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

// ---------- helpers ----------

async function receiver(behaviour: Behaviour | ((p: Payload) => Behaviour), hmacKey: string | null = HMAC_KEY): Promise<Receiver> {
  const r = await startReceiver(hmacKey, typeof behaviour === 'function' ? behaviour : () => behaviour);
  receivers.push(r);
  return r;
}

async function defineRunTask(prefix: string, url: string, extra: Record<string, unknown> = {}): Promise<{ run_task_id: string; name: string }> {
  const name = uniqueName(prefix);
  const res = await api.post('/run-tasks', { name, endpoint_url: url, hmac_key: HMAC_KEY, ...extra });
  if (res.status !== 201) throw new Error(`creating run task ${name} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function attach(ws: string, runTaskId: string, stage: Stage, enforcement_level: 'advisory' | 'mandatory') {
  const res = await api.post(`/workspaces/${ws}/run-tasks`, { run_task_id: runTaskId, stage, enforcement_level });
  if (res.status !== 201) throw new Error(`attaching ${runTaskId} to ${ws} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A workspace with the tiny configuration uploaded. */
async function workspace(prefix: string, extra: Record<string, unknown> = {}) {
  const ws = await createWorkspace(api, { name: uniqueName(prefix), ...extra });
  const cv = await uploadConfig(api, ws.name, TINY);
  return { ...ws, cv };
}

async function runToEnd(ws: string, type: 'plan' | 'plan_and_apply' = 'plan'): Promise<TaskView & Record<string, any>> {
  const t = await startTask(api, ws, type);
  return waitForEnd(api, t.task_id, 90_000);
}

async function resultsOf(ws: string, taskId: number): Promise<{ run_task_results: ResultView[]; stages: Record<Stage, ResultView[]> }> {
  const res = await api.get(`/workspaces/${ws}/tasks/${taskId}/run-task-results`);
  expect(res.status).toBe(200);
  return res.body;
}

async function logText(taskId: number): Promise<string> {
  const res = await api.get<string>(`/tasks/${taskId}/logs?type=all&format=text`);
  expect(res.status).toBe(200);
  return res.body;
}

/** PATCHes a result's callback URL as a receiver does (JSON:API body). */
async function callBack(p: Payload, body: unknown, token: string | null = p.access_token): Promise<{ status: number; body: any }> {
  const res = await fetch(p.task_result_callback_url, {
    method: 'PATCH',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/vnd.api+json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const final = (status: 'passed' | 'failed', message: string, outcomes: Record<string, unknown>[] = []) => ({
  data: {
    type: 'task-results',
    attributes: { status, message, url: 'https://receiver.example/r' },
    relationships: { outcomes: { data: outcomes.map((attributes) => ({ type: 'task-result-outcomes', attributes })) } },
  },
});
const running = (message: string) => ({ data: { type: 'task-results', attributes: { status: 'running', message } } });

/** GET with a run-task access token. */
const withToken = (url: string, token: string) => fetch(url, { headers: { authorization: `Bearer ${token}` } });

/** Waits for `n` POSTs, failing with `why` (not a bare test timeout) when they do not come. */
async function requestsArrive(r: Receiver, n: number, why: string, timeoutMs = 20_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${why}: ${r.requests.length} of ${n} POSTs arrived within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([r.waitForRequests(n), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const OUTCOMES = [
  { 'outcome-id': 'PRTNR-CC-TF-127', description: 'S3 Bucket encryption check passed', body: '# S3\n\nAll buckets are encrypted.', url: 'https://receiver.example/o/127', tags: { Status: [{ label: 'Passed', level: 'info' }], Severity: [{ label: 'Low', level: 'info' }] } },
  { 'outcome-id': 'PRTNR-CC-TF-128', description: 'IAM policy is broad', tags: { Status: [{ label: 'Warning', level: 'warning' }], 'Cost Centre': [{ label: 'IT-OPS' }] } },
];

// ---------- scenarios ----------

describe('a mandatory run task that passes at post_plan', () => {
  let ws: Awaited<ReturnType<typeof workspace>>;
  let rt: { run_task_id: string; name: string };
  let rcv: Receiver;
  let done: TaskView & Record<string, any>;

  beforeAll(async () => {
    rcv = await receiver({ kind: 'pass', message: '4 passed, 0 failed', fetchPlan: true, sendRunning: true, outcomes: OUTCOMES });
    rt = await defineRunTask('scan', rcv.url);
    ws = await workspace('rt-pass', { team_id: 'team-ops' });
    await attach(ws.name, rt.run_task_id, 'post_plan', 'mandatory');
    done = await runToEnd(ws.name);
  });

  it('lets the run succeed', () => {
    expect(done.status).toBe('success');
    expect(done.error_message).toBeNull();
    expect(typeof done.stage_timings.post_plan).toBe('number');
  });

  it('POSTs a signed payload with the run, the workspace and the plan URLs', () => {
    expect(rcv.requests).toHaveLength(1);
    const { payload: p, headers, signatureValid } = rcv.requests[0];
    expect(signatureValid).toBe(true);
    expect(headers['content-type']).toBe('application/json');
    expect(headers['user-agent']).toMatch(/^Runway\/\d+\.\d+\.\d+/);
    expect(p).toMatchObject({
      payload_version: 1,
      stage: 'post_plan',
      capabilities: { outcomes: true },
      task_result_enforcement_level: 'mandatory',
      task_id: done.task_id,
      run_id: done.task_id,
      task_type: 'plan',
      is_speculative: true,
      workspace_id: ws.workspace_id,
      workspace_name: ws.name,
      team_id: 'team-ops',
      task_created_by: 'admin',
      configuration_version_id: ws.cv.configuration_version_id,
      plan_changes: { add: 1, change: 0, destroy: 0 },
      vcs_repo_url: null,
      vcs_branch: null,
      vcs_commit_url: null,
      vcs_pull_request_url: null,
    });
    expect(p.access_token).toMatch(/\S{20,}/);
    expect(p.task_result_id).toMatch(/^rtr-/);
    expect(p.task_result_callback_url).toBe(`${app.url}/api/v1/run-task-results/${p.task_result_id}/callback`);
    expect(p.plan_json_api_url).toBe(`${app.url}/api/v1/workspaces/${ws.workspace_id}/tasks/${done.task_id}/plan-json`);
    expect(p.resource_changes_api_url).toBe(`${app.url}/api/v1/workspaces/${ws.workspace_id}/tasks/${done.task_id}/resource-changes`);
    expect(p.timeout_seconds).toBe(600);
    for (const field of ['task_app_url', 'run_app_url', 'workspace_app_url', 'run_created_at', 'run_created_by', 'organization_name', 'configuration_version_download_url']) {
      expect(typeof p[field]).toBe('string');
    }
  });

  it('let the receiver read the plan JSON with its token and call back running, then passed', () => {
    expect(rcv.planFetches).toHaveLength(1);
    expect(rcv.planFetches[0].status).toBe(200);
    const plan = rcv.planFetches[0].body as { resource_changes: { address: string }[] };
    expect(plan.resource_changes.map((c) => c.address)).toEqual(['terraform_data.x']);
    expect(rcv.callbackStatuses).toEqual([200, 200]);
  });

  it('shows the result by stage with status, message, url, times, enforcement level and outcomes', async () => {
    const { stages, run_task_results } = await resultsOf(ws.name, done.task_id);
    expect(run_task_results).toHaveLength(1);
    expect(stages.pre_plan).toEqual([]);
    expect(stages.pre_apply).toEqual([]);
    expect(stages.post_apply).toEqual([]);
    const [r] = stages.post_plan;
    expect(r).toMatchObject({
      result_id: rcv.requests[0].payload.task_result_id,
      run_task: { run_task_id: rt.run_task_id, name: rt.name },
      stage: 'post_plan',
      status: 'passed',
      message: '4 passed, 0 failed',
      url: 'https://receiver.example/results/1',
      enforcement_level: 'mandatory',
    });
    expect(Date.parse(r.started_at!)).toBeLessThanOrEqual(Date.parse(r.completed_at!));
    expect(r.outcomes).toEqual([
      { outcome_id: 'PRTNR-CC-TF-127', description: 'S3 Bucket encryption check passed', body: '# S3\n\nAll buckets are encrypted.', url: 'https://receiver.example/o/127', tags: { Status: [{ label: 'Passed', level: 'info' }], Severity: [{ label: 'Low', level: 'info' }] } },
      { outcome_id: 'PRTNR-CC-TF-128', description: 'IAM policy is broad', body: null, url: null, tags: { Status: [{ label: 'Warning', level: 'warning' }], 'Cost Centre': [{ label: 'IT-OPS', level: 'none' }] } },
    ]);
  });

  it('logs the stage and its decision in the run log', async () => {
    const text = await logText(done.task_id);
    expect(text).toMatch(/^========== POST_PLAN BEGIN at .+ ==========$/m);
    expect(text).toContain(`post_plan: ${rt.name} (mandatory) passed: 4 passed, 0 failed`);
    expect(text).toMatch(/^========== POST_PLAN END at .+ ==========$/m);
  });

  it('voids the token once the result has ended', async () => {
    const p = rcv.requests[0].payload as Payload;
    expect((await withToken(p.plan_json_api_url, p.access_token)).status).toBe(401);
    expect((await withToken(p.configuration_version_download_url, p.access_token)).status).toBe(401);
  });
});

describe('an advisory run task that fails', () => {
  it('lets the run go on and shows the warning with the run', async () => {
    const rcv = await receiver({ kind: 'fail', message: '2 findings need review' });
    const rt = await defineRunTask('advise', rcv.url);
    const ws = await workspace('rt-advisory');
    await attach(ws.name, rt.run_task_id, 'post_plan', 'advisory');
    const done = await runToEnd(ws.name);
    expect(done.status).toBe('success');
    expect(done.run_task_summary.post_plan).toMatchObject({ passed: true, total: 1, counts: { failed: 1 }, warnings: [rt.name], blocking: [] });
    expect(await logText(done.task_id)).toContain(`post_plan: ${rt.name} (advisory) failed: 2 findings need review`);
    const { stages } = await resultsOf(ws.name, done.task_id);
    expect(stages.post_plan[0]).toMatchObject({ status: 'failed', enforcement_level: 'advisory', message: '2 findings need review' });
  });
});

describe('a mandatory run task that fails', () => {
  // The three stages run at once, each in its own workspace (auto_apply: nothing waits for a confirmation).
  const stages = ['pre_plan', 'post_plan', 'pre_apply'] as const;
  const runs = {} as Record<(typeof stages)[number], { ws: Awaited<ReturnType<typeof workspace>>; rt: { name: string }; done: TaskView & Record<string, any>; rcv: Receiver }>;

  beforeAll(async () => {
    await Promise.all(
      stages.map(async (stage) => {
        const rcv = await receiver({ kind: 'fail', message: `blocked at ${stage}` });
        const rt = await defineRunTask(`gate-${stage.replace('_', '-')}`, rcv.url);
        const ws = await workspace(`rt-fail-${stage.replace('_', '-')}`, { auto_apply: true });
        await attach(ws.name, rt.run_task_id, stage, 'mandatory');
        runs[stage] = { ws, rt, rcv, done: await runToEnd(ws.name, 'plan_and_apply') };
      }),
    );
  });

  it.each(stages)('at %s stops the run as failed, naming the run task', async (stage) => {
    const { done, rt, ws } = runs[stage];
    expect(done.status).toBe('failed');
    expect(done.error_message).toContain(rt.name);
    expect(done.error_message).toContain(`blocked at ${stage}`);
    expect(done.run_task_summary[stage]).toMatchObject({ passed: false, blocking: [rt.name] });
    const text = await logText(done.task_id);
    expect(text).toContain(`${stage}: ${rt.name} (mandatory) failed: blocked at ${stage}`);
    // Apply never ran: no APPLYING marker and no state.
    expect(text).not.toMatch(/APPLYING BEGIN/);
    const state = await api.get(`/workspaces/${ws.name}/state`);
    expect(state.status).toBe(200);
    expect(state.body.serial).toBeNull();
    // Later stages called nothing.
    const results = await resultsOf(ws.name, done.task_id);
    expect(results.run_task_results.map((r) => r.stage)).toEqual([stage]);
  });

  it('at pre_plan: terraform never planned', async () => {
    const text = await logText(runs.pre_plan.done.task_id);
    expect(text).toMatch(/PRE_PLAN BEGIN/);
    expect(text).not.toMatch(/PLANNING BEGIN/);
    expect(runs.pre_plan.rcv.requests[0].payload).not.toHaveProperty('plan_json_api_url');
  });

  it('at pre_apply: the plan was made and sent, apply never began', async () => {
    const { done, rcv } = runs.pre_apply;
    expect(done.plan_changes).toEqual({ add: 1, change: 0, destroy: 0 });
    expect(rcv.requests[0].payload).toMatchObject({ stage: 'pre_apply', plan_changes: { add: 1, change: 0, destroy: 0 } });
    expect(done.stage_timings.applying).toBeUndefined();
  });
});

describe('a mandatory run task that fails at post_apply', () => {
  it('does not change a successful run', async () => {
    const rcv = await receiver({ kind: 'fail', message: 'CMDB sync failed' });
    const rt = await defineRunTask('cmdb', rcv.url);
    const ws = await workspace('rt-post-apply', { auto_apply: true });
    await attach(ws.name, rt.run_task_id, 'post_apply', 'mandatory');
    const done = await runToEnd(ws.name, 'plan_and_apply');
    expect(done.status).toBe('success');
    expect(done.error_message).toBeNull();
    expect((await api.get(`/workspaces/${ws.name}/state`)).body.serial).toBe(1);
    const { stages } = await resultsOf(ws.name, done.task_id);
    expect(stages.post_apply[0]).toMatchObject({ status: 'failed', enforcement_level: 'mandatory', message: 'CMDB sync failed' });
    expect(await logText(done.task_id)).toContain(`post_apply: ${rt.name} (mandatory) failed: CMDB sync failed`);
  });
});

describe('an endpoint that answers 500', () => {
  it('is tried 3 times, then the result is error and a mandatory task fails the run', async () => {
    const rcv = await receiver({ kind: 'status', code: 500 });
    const rt = await defineRunTask('broken', rcv.url);
    const ws = await workspace('rt-500');
    await attach(ws.name, rt.run_task_id, 'post_plan', 'mandatory');
    const done = await runToEnd(ws.name);
    expect(rcv.requests).toHaveLength(3);
    expect(new Set(rcv.requests.map((r) => r.payload.task_result_id)).size).toBe(1);
    expect(done.status).toBe('failed');
    const { stages } = await resultsOf(ws.name, done.task_id);
    expect(stages.post_plan[0].status).toBe('error');
    expect(stages.post_plan[0].message).toMatch(/500/);
    expect(done.error_message).toContain(rt.name);
  });
});

describe('three run tasks in one stage', () => {
  let ws: Awaited<ReturnType<typeof workspace>>;
  let other: { ws: string; taskId: number };
  let rcv: Receiver;
  let taskId: number;
  let payloads: Payload[];

  beforeAll(async () => {
    // The receiver stays silent: the POSTs can only all arrive if the stage calls its run tasks in parallel.
    rcv = await receiver({ kind: 'silent' });
    ws = await workspace('rt-parallel');
    for (const n of ['one', 'two', 'three']) await attach(ws.name, (await defineRunTask(`par-${n}`, rcv.url)).run_task_id, 'post_plan', 'mandatory');
    const otherWs = await workspace('rt-other');
    other = { ws: otherWs.name, taskId: (await runToEnd(otherWs.name)).task_id };
    taskId = (await startTask(api, ws.name, 'plan')).task_id;
    await requestsArrive(rcv, 3, 'the three run tasks of post_plan were not called in parallel');
    payloads = rcv.requests.map((r) => r.payload);
  });

  it('calls all three before any has answered, each with its own result and token', async () => {
    expect(new Set(payloads.map((p) => p.task_result_id)).size).toBe(3);
    expect(new Set(payloads.map((p) => p.access_token)).size).toBe(3);
    const arrivals = rcv.requests.map((r) => r.receivedAt);
    expect(Math.max(...arrivals) - Math.min(...arrivals)).toBeLessThan(2_000);
    const { stages } = await resultsOf(ws.name, taskId);
    expect(stages.post_plan.map((r) => r.status).sort()).toEqual(['pending', 'pending', 'pending']);
    const t = (await api.get(`/tasks/${taskId}`)).body;
    expect(t).toMatchObject({ status: 'running', stage: 'post_plan' });
  });

  it('answers 401 to a missing, wrong or foreign token', async () => {
    const [a, b] = payloads;
    expect((await callBack(a, final('passed', 'x'), null)).status).toBe(401);
    expect((await callBack(a, final('passed', 'x'), `rtt_${randomBytes(24).toString('hex')}`)).status).toBe(401);
    expect((await callBack(a, final('passed', 'x'), b.access_token)).status).toBe(401);
    // a token reads only its own run's plan, resource changes and configuration, nothing else
    const foreign = await withToken(`${app.url}/api/v1/workspaces/${other.ws}/tasks/${other.taskId}/plan-json`, a.access_token);
    expect(foreign.status).toBe(401);
    for (const path of [`/tasks/${taskId}`, `/tasks/${taskId}/logs`, `/workspaces/${ws.name}/state`, `/workspaces/${ws.name}/tasks/${taskId}/run-task-results`, '/workspaces', '/run-tasks']) {
      expect([path, (await api.get(path, { token: a.access_token })).status]).toEqual([path, 401]);
    }
  });

  it('serves the plan, the resource changes and the configuration .tar.gz to an open token', async () => {
    const [p] = payloads;
    const plan = await withToken(p.plan_json_api_url, p.access_token);
    expect(plan.status).toBe(200);
    expect(((await plan.json()) as { resource_changes: unknown[] }).resource_changes).toHaveLength(1);
    const changes = await withToken(p.resource_changes_api_url, p.access_token);
    expect(changes.status).toBe(200);
    expect(await changes.json()).toMatchObject({ plan_changes: { add: 1, change: 0, destroy: 0 } });
    const cv = await withToken(p.configuration_version_download_url, p.access_token);
    expect(cv.status).toBe(200);
    expect(cv.headers.get('content-type')).toBe('application/gzip');
    const bytes = Buffer.from(await cv.arrayBuffer());
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(ws.cv.sha256);
  });

  it('refuses an oversized callback with 422 naming the field, and takes a running update', async () => {
    const [p] = payloads;
    const tooLong = await callBack(p, { data: { type: 'task-results', attributes: { status: 'running', message: 'm'.repeat(1001) } } });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.message).toMatch(/message/);
    const badLevel = await callBack(p, final('passed', 'x', [{ 'outcome-id': 'A', description: 'd', tags: { S: [{ label: 'x', level: 'critical' }] } }]));
    expect(badLevel.status).toBe(422);
    expect(badLevel.body.message).toMatch(/level/);
    // A request over the JSON limit (6 MiB) → 413; an outcome body over 5 MiB in a smaller request → 422.
    const huge = await callBack(p, final('passed', 'x', [{ 'outcome-id': 'BIG', description: 'd', body: 'b'.repeat(7 * 1024 * 1024) }]));
    expect(huge.status).toBe(413);
    const bigBody = await callBack(p, final('passed', 'x', [{ 'outcome-id': 'BIG', description: 'd', body: 'b'.repeat(5 * 1024 * 1024 + 1) }]));
    expect(bigBody.status).toBe(422);
    expect(bigBody.body.message).toMatch(/body/);
    const progress = await callBack(p, running('scanning 1 resource'));
    expect(progress.status).toBe(200);
    const { stages } = await resultsOf(ws.name, taskId);
    expect(stages.post_plan.find((r) => r.result_id === p.task_result_id)).toMatchObject({ status: 'running', message: 'scanning 1 resource' });
  });

  it('ends each result with its final callback and the stage passes when all have passed', async () => {
    for (const [i, p] of payloads.entries()) {
      const res = await callBack(p, final('passed', `check ${i} passed`, [OUTCOMES[0]]));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ result_id: p.task_result_id, status: 'passed' });
    }
    const done = await waitForEnd(api, taskId, 60_000);
    expect(done.status).toBe('success');
    const { stages } = await resultsOf(ws.name, taskId);
    expect(stages.post_plan.map((r) => r.status)).toEqual(['passed', 'passed', 'passed']);
    // All were open at once: each started before any completed.
    const firstCompleted = Math.min(...stages.post_plan.map((r) => Date.parse(r.completed_at!)));
    for (const r of stages.post_plan) expect(Date.parse(r.started_at!)).toBeLessThanOrEqual(firstCompleted);
  });

  it('answers 200 to the same final callback again and 409 to a different one', async () => {
    const [p] = payloads;
    const again = await callBack(p, final('passed', 'check 0 passed', [OUTCOMES[0]]));
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'passed', message: 'check 0 passed' });
    expect((await callBack(p, final('failed', 'changed my mind'))).status).toBe(409);
    expect((await callBack(p, final('passed', 'another message'))).status).toBe(409);
    const { stages } = await resultsOf(ws.name, taskId);
    expect(stages.post_plan.find((r) => r.result_id === p.task_result_id)).toMatchObject({ status: 'passed', message: 'check 0 passed' });
  });

  it('voids the tokens: the data endpoints answer 401', async () => {
    const [p] = payloads;
    expect((await withToken(p.plan_json_api_url, p.access_token)).status).toBe(401);
    expect((await withToken(p.resource_changes_api_url, p.access_token)).status).toBe(401);
    expect((await withToken(p.configuration_version_download_url, p.access_token)).status).toBe(401);
  });
});

describe('a stage with 60 run tasks (more than one Map runs at once)', () => {
  it('calls them all at once and takes 180 callbacks at once: every one answered 200, the audit chain intact', async () => {
    const n = 60;
    const rcv = await receiver({ kind: 'silent' });
    const ws = await workspace('rt-forty');
    const ids = await Promise.all(Array.from({ length: n }, (_, i) => defineRunTask(`many${i}`, rcv.url)));
    for (const rt of ids) await attach(ws.name, rt.run_task_id, 'post_plan', 'mandatory');
    const { task_id } = await startTask(api, ws.name, 'plan');
    await requestsArrive(rcv, n, `the ${n} run tasks of post_plan were not all called at once`, 60_000);
    expect(rcv.requests.every((r) => r.signatureValid)).toBe(true);
    // All callbacks at the same moment, each sent three times as a retrying receiver might: 180
    // requests, each audited. The repeats of a final callback are answered 200 and change nothing.
    const answers = await Promise.all(rcv.requests.flatMap((r) => [1, 2, 3].map(() => callBack(r.payload as Payload, final('passed', 'ok')))));
    expect(answers).toHaveLength(3 * n);
    expect(answers.map((a) => a.status).filter((s) => s !== 200)).toEqual([]);
    const done = (await waitForEnd(api, task_id, 60_000)) as TaskView & Record<string, any>;
    expect(done.status).toBe('success');
    expect(done.run_task_summary.post_plan).toMatchObject({ passed: true, total: n, counts: { passed: n } });
    const verify = await api.get('/audit-events/verify');
    expect(verify.status).toBe(200);
    expect(verify.body).toMatchObject({ ok: true, first_bad_event_id: null });
    // Later runs must not call these.
    for (const rt of ids) expect((await api.delete(`/run-tasks/${rt.run_task_id}?force=true`)).status).toBe(204);
  });
});

describe('a run task that never calls back', () => {
  let rcv: Receiver;
  let ws: Awaited<ReturnType<typeof workspace>>;
  let done: TaskView & Record<string, any>;

  beforeAll(async () => {
    rcv = await receiver({ kind: 'silent' });
    const rt = await defineRunTask('sleepy', rcv.url, { timeout_seconds: 2 });
    ws = await workspace('rt-timeout');
    await attach(ws.name, rt.run_task_id, 'post_plan', 'mandatory');
    done = await runToEnd(ws.name);
  });

  it('times out after timeout_seconds: result timeout, a mandatory task fails the run', async () => {
    expect(done.status).toBe('failed');
    const { stages } = await resultsOf(ws.name, done.task_id);
    const [r] = stages.post_plan;
    expect(r.status).toBe('timeout');
    expect(Date.parse(r.completed_at!) - Date.parse(r.started_at!)).toBeGreaterThanOrEqual(1_900);
    expect(rcv.requests[0].payload.timeout_seconds).toBe(2);
  });

  it('answers 410 Gone to its late callback and 401 to its voided token on the data endpoints', async () => {
    const p = rcv.requests[0].payload as Payload;
    const late = await callBack(p, final('passed', 'sorry, late'));
    expect(late.status).toBe(410);
    expect((await withToken(p.plan_json_api_url, p.access_token)).status).toBe(401);
    const { stages } = await resultsOf(ws.name, done.task_id);
    expect(stages.post_plan[0].status).toBe('timeout');
  });
});

describe('a run task that reports progress', () => {
  it('extends its timeout with each running callback (heartbeat)', async () => {
    const rcv = await receiver({ kind: 'silent' });
    const rt = await defineRunTask('slow-scan', rcv.url, { timeout_seconds: 2 });
    const ws = await workspace('rt-heartbeat');
    await attach(ws.name, rt.run_task_id, 'post_plan', 'mandatory');
    const { task_id } = await startTask(api, ws.name, 'plan');
    await requestsArrive(rcv, 1, 'post_plan did not call the run task');
    const p = rcv.requests[0].payload as Payload;
    // The scenario is about time passing: running every 1 s for 4 s, twice the timeout, then passed.
    const started = Date.now();
    for (let i = 1; i <= 4; i++) {
      await new Promise((r) => setTimeout(r, started + i * 1_000 - Date.now()));
      expect((await callBack(p, running(`step ${i} of 4`))).status).toBe(200);
    }
    expect((await callBack(p, final('passed', 'done after 4 s'))).status).toBe(200);
    const done = await waitForEnd(api, task_id, 30_000);
    expect(done.status).toBe('success');
    const { stages } = await resultsOf(ws.name, task_id);
    expect(stages.post_plan[0]).toMatchObject({ status: 'passed', message: 'done after 4 s' });
  });
});

describe('a run cancelled while it waits for its run tasks', () => {
  it('ends cancelled at once; the open result ends and its token is void', async () => {
    const rcv = await receiver({ kind: 'silent' });
    const rt = await defineRunTask('waited-on', rcv.url); // timeout_seconds 600: only the cancel can end the wait soon
    const ws = await workspace('rt-cancel');
    await attach(ws.name, rt.run_task_id, 'post_plan', 'mandatory');
    const { task_id } = await startTask(api, ws.name, 'plan');
    await requestsArrive(rcv, 1, 'post_plan did not call the run task');
    const p = rcv.requests[0].payload as Payload;
    expect((await api.post(`/tasks/${task_id}/cancel`)).status).toBe(200);
    const done = await waitForEnd(api, task_id, 15_000);
    expect(done.status).toBe('cancelled');
    const { stages } = await resultsOf(ws.name, task_id);
    expect(stages.post_plan[0].status).toBe('error');
    expect(stages.post_plan[0].message).toMatch(/cancel/);
    expect((await callBack(p, final('passed', 'too late'))).status).toBe(410);
    expect((await withToken(p.plan_json_api_url, p.access_token)).status).toBe(401);
    // The workspace is free again: the next run starts and runs its run task.
    rcv.behaviour = () => ({ kind: 'pass' });
    expect((await runToEnd(ws.name)).status).toBe('success');
  });
});

describe('disabled run tasks', () => {
  it('are not called: neither a disabled attachment nor a disabled definition', async () => {
    const rcv = await receiver({ kind: 'pass', message: 'called' });
    const [on, offAttachment, offDefinition] = [await defineRunTask('on', rcv.url), await defineRunTask('off-att', rcv.url), await defineRunTask('off-def', rcv.url)];
    const ws = await workspace('rt-disabled');
    await attach(ws.name, on.run_task_id, 'post_plan', 'mandatory');
    const a = await attach(ws.name, offAttachment.run_task_id, 'post_plan', 'mandatory');
    expect((await api.put(`/workspaces/${ws.name}/run-tasks/${a.workspace_run_task_id}`, { enabled: false })).status).toBe(200);
    await attach(ws.name, offDefinition.run_task_id, 'post_plan', 'mandatory');
    expect((await api.put(`/run-tasks/${offDefinition.run_task_id}`, { enabled: false })).status).toBe(200);
    const done = await runToEnd(ws.name);
    expect(done.status).toBe('success');
    expect(rcv.requests).toHaveLength(1);
    const { run_task_results } = await resultsOf(ws.name, done.task_id);
    expect(run_task_results.map((r) => r.run_task.run_task_id)).toEqual([on.run_task_id]);
  });
});

describe('a receiver that calls back before it answers the POST', () => {
  it('is accepted', async () => {
    const rcv = await receiver({ kind: 'pass', callBeforeAnswer: true, message: 'called back first' });
    const rt = await defineRunTask('eager', rcv.url);
    const ws = await workspace('rt-eager');
    await attach(ws.name, rt.run_task_id, 'pre_plan', 'mandatory');
    const done = await runToEnd(ws.name);
    expect(rcv.callbackStatuses).toEqual([200]);
    expect(done.status).toBe('success');
    const { stages } = await resultsOf(ws.name, done.task_id);
    expect(stages.pre_plan[0]).toMatchObject({ status: 'passed', message: 'called back first', enforcement_level: 'mandatory' });
  });
});

describe('a global run task', () => {
  let rcv: Receiver;
  let rt: { run_task_id: string; name: string };

  beforeAll(async () => {
    rcv = await receiver({ kind: 'pass', message: 'global check ok' });
    rt = await defineRunTask('global', rcv.url, { is_global: true, global_stage: 'pre_plan', global_enforcement_level: 'mandatory' });
  });

  // A global run task applies to every workspace: remove it so that later runs are not affected.
  afterAll(async () => {
    expect((await api.delete(`/run-tasks/${rt.run_task_id}`)).status).toBe(204);
  });

  it('applies at its stage and level to a workspace without any attachment', async () => {
    const ws = await workspace('rt-global');
    expect((await api.get(`/workspaces/${ws.name}/run-tasks`)).body.workspace_run_tasks).toEqual([]);
    const done = await runToEnd(ws.name);
    expect(done.status).toBe('success');
    expect(rcv.requests.map((r) => r.payload.workspace_id)).toEqual([ws.workspace_id]);
    expect(rcv.requests[0].payload).toMatchObject({ stage: 'pre_plan', task_result_enforcement_level: 'mandatory' });
    const { stages } = await resultsOf(ws.name, done.task_id);
    expect(stages.pre_plan).toHaveLength(1);
    expect(stages.pre_plan[0]).toMatchObject({ run_task: { run_task_id: rt.run_task_id }, status: 'passed', enforcement_level: 'mandatory', workspace_run_task_id: null });
  });

  it('blocks at its mandatory level when it fails', async () => {
    rcv.behaviour = () => ({ kind: 'fail', message: 'global policy violated' });
    const ws = await workspace('rt-global-fail');
    const done = await runToEnd(ws.name);
    expect(done.status).toBe('failed');
    expect(done.error_message).toContain('global policy violated');
  });
});

describe('verify', () => {
  it('sends the signed test payload and reports that the endpoint accepted it', async () => {
    const rcv = await receiver({ kind: 'silent' });
    const rt = await defineRunTask('verify-ok', rcv.url);
    // Creating a run task sends nothing.
    expect(rcv.requests).toHaveLength(0);
    const res = await api.post(`/run-tasks/${rt.run_task_id}/verify`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, status_code: 200 });
    expect(rcv.requests).toHaveLength(1);
    expect(rcv.requests[0].signatureValid).toBe(true);
    expect(rcv.requests[0].payload).toMatchObject({ payload_version: 1, access_token: 'test-token', task_result_enforcement_level: 'test' });
  });

  it('reports why it failed (an endpoint answering 500)', async () => {
    // The support receiver accepts every test payload, so a bare endpoint plays the broken service.
    let hits = 0;
    const server = createServer((req, res) => {
      hits++;
      req.resume().on('end', () => res.writeHead(500).end('internal error'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const rt = await defineRunTask('verify-bad', `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
      const res = await api.post(`/run-tasks/${rt.run_task_id}/verify`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ ok: false, status_code: 500 });
      expect(res.body.message).toMatch(/HTTP 500/);
      expect(hits).toBe(1); // verify tries once: the admin gets the answer within the API's time limit
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('reports a signature the receiver rejects (wrong HMAC key)', async () => {
    const rcv = await receiver({ kind: 'silent' }, 'the-key-the-receiver-expects');
    const rt = await defineRunTask('verify-key', rcv.url, { hmac_key: 'another-key' });
    const res = await api.post(`/run-tasks/${rt.run_task_id}/verify`);
    expect(res.body.ok).toBe(false);
    expect(res.body.message).toMatch(/401/);
    expect(rcv.requests[0].signatureValid).toBe(false);
  });
});

describe('metrics', () => {
  it('show run-task calls, outcomes by status, response times and timeouts', async () => {
    const res = await api.get('/system/metrics');
    expect(res.status).toBe(200);
    const { counters, timings } = res.body.metrics as { counters: Record<string, number>; timings: Record<string, { count: number; p50_ms: number }> };
    expect(counters['RunTaskCalls{stage=post_plan}']).toBeGreaterThanOrEqual(8);
    expect(counters['RunTaskCalls{stage=pre_plan}']).toBeGreaterThanOrEqual(2);
    for (const status of ['passed', 'failed', 'error', 'timeout']) expect(counters[`RunTaskOutcomes{status=${status}}`]).toBeGreaterThanOrEqual(1);
    expect(counters['RunTaskTimeouts{stage=post_plan}']).toBe(1);
    expect(timings.RunTaskResponseTime.count).toBeGreaterThanOrEqual(10);
    expect(typeof timings.RunTaskResponseTime.p50_ms).toBe('number');
  });

  it('no request answered 5xx in this file', () => {
    expect(answers.filter((a) => a.status >= 500)).toEqual([]);
  });
});
