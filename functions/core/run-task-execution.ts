/**
 * Run tasks at a run's stages (SPEC §5.1–5.5): results, the webhook call with its payload and
 * signature, callbacks, timeouts and the enforcement decision. Invoked by the state machine's
 * run-task stage states (functions/workflow/definition.ts) and by the callback route.
 */
import { createHmac } from 'node:crypto';
import type { Deps } from './deps.js';
import { conflict, gone, notFound, unauthorized, unprocessable } from './errors.js';
import { newId, newToken, sha256 } from './ids.js';
import { LogWriter } from './logs.js';
import {
  callbackInput,
  FINAL_RESULT_STATUSES,
  type CallbackInput,
  type Outcome,
  type RunTask,
  type ResultKey,
  type RunTaskResult,
  type RunTaskStage,
  type RunTaskStageSummary,
  type Task,
  type Workspace,
} from './model.js';
import { tasksForStage } from './run-tasks.js';
import { timingsWithCurrentStage } from './tasks.js';
import { ZodError } from 'zod';

const OPEN: RunTaskResult['status'][] = ['pending', 'running'];

async function mustGetTask(deps: Deps, taskId: number): Promise<Task> {
  const task = await deps.store.getTask(taskId);
  if (!task) throw new Error(`task ${taskId} not found`);
  return task;
}

/**
 * Appends lines to the run's log (after whatever is stored) and keeps its summary current.
 * `changes` go into the same task update (one write instead of two on a run task's critical path);
 * `lastLine`, when the caller already read it, saves the read.
 */
export async function appendLog(deps: Deps, task: Task, write: (log: LogWriter) => void, changes: (t: Task) => Partial<Task> = () => ({}), lastLine?: number): Promise<Task> {
  const log = new LogWriter({ taskId: task.task_id, startAfter: lastLine ?? (await deps.store.lastLogLine(task.task_id)), store: deps.store, sink: deps.sink }, task.log_summary);
  write(log);
  await log.flush();
  return (await deps.store.updateTask(task, { ...changes(task), log_last_line: log.lastLine, log_summary: log.summary })) ?? task;
}

const phaseOf = (stage: RunTaskStage) => (stage === 'pre_plan' || stage === 'post_plan' ? 'plan' : 'apply');

// ---------- Prepare ----------

/** Iterations an inline Map runs at once (AWS's limit, and the local interpreter's). */
export const MAP_BATCH = 40;

export interface PreparedStage {
  count: number;
  /** the results in batches of at most MAP_BATCH (a Map of Maps calls them all at once) */
  batches: { result_id: string; timeout_seconds: number }[][];
  /** when `count` is 0: whether the run goes on (false after a cancel) */
  passed: boolean;
}

/** `workspaceId` (from the execution's input) lets the run and its run tasks be read together. */
export async function prepareStage(deps: Deps, taskId: number, stage: RunTaskStage, workspaceId?: string): Promise<PreparedStage> {
  const [task, early] = await Promise.all([mustGetTask(deps, taskId), workspaceId ? tasksForStage(deps, workspaceId, stage) : null]);
  if (task.final_status) return { count: 0, batches: [], passed: false };
  if (task.cancel_requested) {
    await deps.store.updateTask(task, { final_status: 'cancelled' });
    return { count: 0, batches: [], passed: false };
  }
  const stageTasks = early && workspaceId === task.workspace_id ? early : await tasksForStage(deps, task.workspace_id, stage);
  if (stageTasks.length === 0) return { count: 0, batches: [], passed: true };
  const now = new Date().toISOString();
  const results: RunTaskResult[] = stageTasks.map(({ runTask, attachment, enforcement }) => ({
    result_id: newId('rtr'),
    task_id: task.task_id,
    workspace_id: task.workspace_id,
    run_task_id: runTask.run_task_id,
    run_task_name: runTask.name,
    workspace_run_task_id: attachment?.workspace_run_task_id ?? null,
    stage,
    enforcement_level: enforcement,
    status: 'pending',
    message: null,
    url: null,
    timeout_seconds: runTask.timeout_seconds,
    outcomes_count: 0,
    created_at: now,
    started_at: null,
    completed_at: null,
    response_status: null,
    response_time_ms: null,
    token_hash: '',
  }));
  // The results and the log's last line are independent; the stage and the log lines then go into
  // one task update.
  const [, lastLine] = await Promise.all([deps.store.createResults(results), deps.store.lastLogLine(task.task_id)]);
  await appendLog(
    deps,
    task,
    (log) => {
      log.marker(stage, 'begin', phaseOf(stage));
      log.output('stdout', `${stage}: calling ${results.length} run task(s): ${results.map((r) => `${r.run_task_name} (${r.enforcement_level})`).join(', ')}`, phaseOf(stage));
    },
    () => ({ stage, stage_started_at: now }),
    lastLine,
  );
  const items = results.map((r) => ({ result_id: r.result_id, timeout_seconds: r.timeout_seconds }));
  const batches: PreparedStage['batches'] = [];
  for (let i = 0; i < items.length; i += MAP_BATCH) batches.push(items.slice(i, i + MAP_BATCH));
  return { count: results.length, batches, passed: true };
}

// ---------- Dispatch ----------

export function signature(body: string, key: string | null): string {
  return key ? createHmac('sha512', key).update(body, 'utf8').digest('hex') : '';
}

export interface PayloadContext {
  stage: RunTaskStage | 'test';
  accessToken: string;
  result: Pick<RunTaskResult, 'result_id' | 'enforcement_level' | 'timeout_seconds'> | { result_id: string; enforcement_level: 'test'; timeout_seconds: number };
  task: Task;
  ws: Workspace;
  baseUrl: string;
}

/** The POST body of seed 000 §4.4, plus the fields receivers written for HCP Terraform read. */
export function buildPayload(c: PayloadContext): Record<string, unknown> {
  const { task, ws, baseUrl } = c;
  const api = `${baseUrl}/api/v1`;
  const taskUrl = `${baseUrl}/workspaces/${encodeURIComponent(ws.name)}/runs/${task.task_id}`;
  const wsUrl = `${baseUrl}/workspaces/${encodeURIComponent(ws.name)}`;
  const withPlan = c.stage !== 'pre_plan';
  return {
    payload_version: 1,
    stage: c.stage,
    access_token: c.accessToken,
    capabilities: { outcomes: true },
    task_result_id: c.result.result_id,
    task_result_callback_url: `${api}/run-task-results/${c.result.result_id}/callback`,
    task_result_enforcement_level: c.result.enforcement_level,
    timeout_seconds: c.result.timeout_seconds,
    task_id: task.task_id,
    task_type: task.task_type,
    task_status: task.status,
    task_description: task.description,
    task_created_at: task.created_at,
    task_created_by: task.created_by,
    task_app_url: taskUrl,
    workspace_id: ws.workspace_id,
    workspace_name: ws.name,
    workspace_workdir: ws.working_directory,
    workspace_terraform_version: ws.terraform_version,
    workspace_execution_mode: ws.execution_mode,
    workspace_app_url: wsUrl,
    team_id: ws.team_id,
    ...(withPlan
      ? {
          plan_json_api_url: `${api}/workspaces/${ws.workspace_id}/tasks/${task.task_id}/plan-json`,
          plan_changes: task.plan_changes,
          resource_changes_api_url: `${api}/workspaces/${ws.workspace_id}/tasks/${task.task_id}/resource-changes`,
        }
      : {}),
    run_id: task.task_id,
    run_app_url: taskUrl,
    run_created_at: task.created_at,
    run_created_by: task.created_by,
    run_message: task.description,
    is_speculative: task.task_type === 'plan',
    organization_name: ws.team_id ?? 'default',
    workspace_working_directory: ws.working_directory,
    configuration_version_id: task.configuration_version_id,
    configuration_version_download_url: `${api}/configuration-versions/${task.configuration_version_id}/download`,
    vcs_repo_url: null,
    vcs_branch: null,
    vcs_commit_url: null,
    vcs_pull_request_url: null,
  };
}

export interface DeliveryReport {
  ok: boolean;
  status: number | null;
  attempts: number;
  response_time_ms: number;
  error: string | null;
}

const hmacKeyOf = async (deps: Deps, rt: RunTask): Promise<string | null> => (rt.hmac_key_encrypted ? deps.secrets.decrypt(rt.hmac_key_encrypted) : null);

/**
 * POSTs a signed body, 3 attempts with back-off; 200 or 202 is accepted.
 * `key`: the decrypted HMAC key when the caller already has it (dispatch decrypts it concurrently).
 */
export async function deliver(deps: Deps, rt: RunTask, body: string, attempts = deps.settings.runTasks.attempts, key?: string | null): Promise<DeliveryReport> {
  const cfg = { ...deps.settings.runTasks, attempts };
  if (key === undefined) key = await hmacKeyOf(deps, rt);
  const headers = {
    'content-type': 'application/json',
    'user-agent': `Runway/${deps.settings.version}`,
    'x-tfc-task-signature': signature(body, key),
  };
  let error: string | null = null;
  let status: number | null = null;
  const start = Date.now();
  for (let attempt = 1; attempt <= cfg.attempts; attempt++) {
    const t0 = Date.now();
    try {
      const res = await deps.webhooks.post(rt.endpoint_url, body, headers, cfg.attemptTimeoutMs);
      status = res.status;
      deps.metrics.timing('RunTaskResponseTime', Date.now() - t0, { run_task: rt.name });
      if (res.status === 200 || res.status === 202) return { ok: true, status, attempts: attempt, response_time_ms: Date.now() - t0, error: null };
      error = `the endpoint answered HTTP ${res.status}`;
    } catch (err) {
      status = null;
      error = (err as Error).message;
    }
    if (attempt < cfg.attempts) await new Promise((r) => setTimeout(r, cfg.retryBaseMs * 2 ** (attempt - 1)));
  }
  return { ok: false, status, attempts: cfg.attempts, response_time_ms: Date.now() - start, error };
}

/**
 * Concurrent reads of one item share a single request: a stage's Map dispatches all its run tasks
 * at once, and each would otherwise read the same run and workspace (nothing is kept afterwards).
 */
const inflight = new WeakMap<object, Map<string, Promise<unknown>>>();
function sharedRead<T>(deps: Deps, key: string, read: () => Promise<T>): Promise<T> {
  let reads = inflight.get(deps.store);
  if (!reads) inflight.set(deps.store, (reads = new Map()));
  const pending = reads.get(key) as Promise<T> | undefined;
  if (pending) return pending;
  const p = read().finally(() => reads.delete(key));
  reads.set(key, p);
  return p;
}

/** One run task of a stage: mint its token, POST the payload, keep the workflow's token waiting. */
export async function dispatch(deps: Deps, at: ResultKey, workflowToken: string): Promise<void> {
  const result = await deps.store.getResultAt(at);
  if (!result) throw new Error(`run-task result ${at.result_id} not found`);
  if (!OPEN.includes(result.status)) return deps.workflow.sendTaskSuccess(workflowToken, { status: result.status });
  const [task, ws, rt] = await Promise.all([
    sharedRead(deps, `task#${result.task_id}`, () => mustGetTask(deps, result.task_id)),
    sharedRead(deps, `ws#${result.workspace_id}`, () => deps.store.getWorkspace(result.workspace_id)),
    deps.store.getRunTask(result.run_task_id),
  ]);
  if (!ws || !rt) {
    await endResult(deps, result, 'error', 'the run task or workspace was deleted');
    return deps.workflow.sendTaskSuccess(workflowToken, { status: 'error' });
  }
  const token = newToken('rtt');
  const tokenHash = sha256(token);
  // Independent of each other: the token's link, the result's update, the key's decryption (KMS on AWS).
  const [key] = await Promise.all([
    hmacKeyOf(deps, rt),
    deps.store.linkResultToken(tokenHash, result.result_id),
    deps.store.updateResult(result, { token_hash: tokenHash, workflow_token: workflowToken, started_at: new Date().toISOString() }),
  ]);
  deps.metrics.count('RunTaskCalls', 1, { stage: result.stage });
  const body = JSON.stringify(buildPayload({ stage: result.stage, accessToken: token, result, task, ws, baseUrl: deps.settings.publicUrl }));
  const report = await deliver(deps, rt, body, undefined, key);
  // A receiver may already have called back: only the response figures are recorded then.
  await deps.store.updateResult(result, { response_status: report.status, response_time_ms: report.response_time_ms });
  if (report.ok) {
    // The POST counts as progress: the heartbeat timer starts again from here.
    await deps.workflow.sendTaskHeartbeat(workflowToken).catch(() => undefined);
    return;
  }
  const ended = await endResult(deps, result, 'error', `${report.error} (after ${report.attempts} attempts)`);
  if (ended) await deps.workflow.sendTaskSuccess(workflowToken, { status: 'error' }).catch(() => undefined);
}

async function endResult(deps: Deps, result: RunTaskResult, status: 'error' | 'timeout', message: string): Promise<RunTaskResult | null> {
  const ended = await deps.store.updateResult(result, { status, message, completed_at: new Date().toISOString() }, OPEN);
  if (ended) deps.metrics.count('RunTaskOutcomes', 1, { status });
  return ended;
}

/** A result whose wait ended without a final callback (heartbeat or total timeout, or a failure). */
export async function markResult(deps: Deps, resultId: string, status: 'timeout' | 'error', error?: { Error?: string; Cause?: string }): Promise<void> {
  const result = await deps.store.getResult(resultId);
  if (!result) return;
  if (status === 'timeout') {
    await endResult(deps, result, 'timeout', `no progress from the run task for ${result.timeout_seconds} s (or 3600 s in all)`);
    deps.metrics.count('RunTaskTimeouts', 1, { stage: result.stage });
  } else {
    await endResult(deps, result, 'error', `the run task could not be called: ${error?.Cause ?? error?.Error ?? 'unknown error'}`.slice(0, 1000));
  }
}

/**
 * A run cancelled while it waits for its run tasks stops waiting: each open result ends `error`
 * (its token void) and its wait is released, so Decide ends the run `cancelled` at once instead of
 * after the run tasks' timeouts.
 */
export async function releaseOpenResults(deps: Deps, taskId: number, message: string): Promise<number> {
  const open = (await deps.store.listResults(taskId)).filter((r) => OPEN.includes(r.status));
  await Promise.all(
    open.map(async (r) => {
      const ended = await deps.store.updateResult(r, { status: 'error', message, completed_at: new Date().toISOString() }, OPEN);
      // Not yet dispatched: Dispatch sees the ended result and releases its own wait.
      if (ended?.workflow_token) await deps.workflow.sendTaskSuccess(ended.workflow_token, { status: 'error' }).catch(() => undefined);
    }),
  );
  return open.length;
}

// ---------- Callback ----------

interface NormalizedCallback {
  status: 'running' | 'passed' | 'failed';
  message: string | null;
  url: string | null;
  outcomes: Outcome[];
}

export function normalizeCallback(raw: unknown): NormalizedCallback {
  let input: CallbackInput;
  try {
    input = callbackInput.parse(raw);
  } catch (err) {
    if (err instanceof ZodError) {
      // The deepest issue names the field (a union reports each branch; pick the most specific).
      const issue = err.issues.flatMap((i) => ('errors' in i ? (i.errors as ZodError['issues'][]).flat() : [i])).sort((a, b) => b.path.length - a.path.length)[0] ?? err.issues[0];
      const path = issue.path.join('.');
      throw unprocessable(`${path || 'body'}: ${issue.message}`);
    }
    throw err;
  }
  const attrs = 'data' in input ? input.data.attributes : input;
  const rawOutcomes = ('data' in input ? input.data.relationships?.outcomes?.data : undefined) ?? attrs.outcomes ?? [];
  const outcomes = rawOutcomes.map(({ attributes: o }) => ({
    outcome_id: o['outcome-id'],
    description: o.description,
    body: o.body ?? null,
    url: o.url ?? null,
    tags: Object.fromEntries(Object.entries(o.tags ?? {}).map(([k, v]) => [k, v.map((t) => ({ label: t.label, level: t.level ?? 'none' }))])),
  }));
  if (outcomes.length > 250) throw unprocessable('outcomes: at most 250 outcomes');
  return { status: attrs.status, message: attrs.message ?? null, url: attrs.url ?? null, outcomes };
}

/** Checks a bearer token against a result; answers 401 for a wrong or foreign token. */
async function resultForToken(deps: Deps, resultId: string, bearer: string | undefined): Promise<RunTaskResult> {
  const result = await deps.store.getResult(resultId);
  if (!result) throw notFound(`run-task result ${resultId}`);
  if (!bearer || !result.token_hash || sha256(bearer) !== result.token_hash) throw unauthorized('this token is not the access token of this run-task result');
  return result;
}

export async function handleCallback(deps: Deps, resultId: string, bearer: string | undefined, raw: unknown): Promise<RunTaskResult> {
  const result = await resultForToken(deps, resultId, bearer);
  if (result.status === 'timeout' || result.status === 'error') throw gone(`run-task result ${resultId} already ended (${result.status}); its token is void`);
  const cb = normalizeCallback(raw);
  const hash = sha256(JSON.stringify(cb));
  const finalAnswer = (r: RunTaskResult) => {
    if (r.final_callback_hash === hash) return r; // the same final callback again: nothing changes
    throw conflict(`run-task result ${resultId} already ended ${r.status}; a different callback cannot change it`);
  };
  if (FINAL_RESULT_STATUSES.includes(result.status)) return finalAnswer(result);

  if (cb.status === 'running') {
    const updated = await deps.store.updateResult(result, { status: 'running', message: cb.message ?? result.message, url: cb.url ?? result.url }, OPEN);
    if (!updated) return finalAnswer((await deps.store.getResult(resultId))!);
    if (result.workflow_token) await deps.workflow.sendTaskHeartbeat(result.workflow_token).catch(() => undefined);
    return updated;
  }
  const ended = await deps.store.updateResult(
    result,
    { status: cb.status, message: cb.message, url: cb.url, completed_at: new Date().toISOString(), outcomes_count: cb.outcomes.length, final_callback_hash: hash },
    OPEN,
  );
  if (!ended) {
    const now = (await deps.store.getResult(resultId))!;
    if (now.status === 'timeout' || now.status === 'error') throw gone(`run-task result ${resultId} already ended (${now.status}); its token is void`);
    return finalAnswer(now);
  }
  if (cb.outcomes.length) await deps.store.putOutcomes(resultId, cb.outcomes);
  deps.metrics.count('RunTaskOutcomes', 1, { status: cb.status });
  if (result.workflow_token) await deps.workflow.sendTaskSuccess(result.workflow_token, { status: cb.status }).catch(() => undefined);
  return ended;
}

/**
 * The data endpoints (plan JSON, resource changes, configuration download) accept a result's
 * access token while the result is open, for its own run only.
 */
export async function authorizeResultToken(deps: Deps, bearer: string, taskId: number): Promise<RunTaskResult> {
  const resultId = await deps.store.getResultIdByTokenHash(sha256(bearer));
  const result = resultId ? await deps.store.getResult(resultId) : null;
  if (!result || result.task_id !== taskId) throw unauthorized('invalid token for this run');
  if (!OPEN.includes(result.status)) throw unauthorized('this run-task access token is void: its result has ended');
  return result;
}

// ---------- Decide ----------

export async function decideStage(deps: Deps, taskId: number, stage: RunTaskStage): Promise<{ passed: boolean }> {
  // Independent reads; the log's last line is needed for the decision's lines below.
  const [task, all, lastLine] = await Promise.all([mustGetTask(deps, taskId), deps.store.listResults(taskId), deps.store.lastLogLine(taskId)]);
  const results = all.filter((r) => r.stage === stage);
  if (task.cancel_requested && !task.final_status) {
    await deps.store.updateTask(task, { final_status: 'cancelled' });
    return { passed: false };
  }
  if (results.length === 0) return { passed: !task.final_status };
  // A result still open here lost its wait (it cannot be): count it as an error.
  for (const r of results.filter((r) => OPEN.includes(r.status))) {
    const ended = await endResult(deps, r, 'error', 'the stage ended before this run task reported');
    if (ended) Object.assign(r, ended);
  }
  const failedStatuses = ['failed', 'error', 'timeout'];
  const blocking = results.filter((r) => r.enforcement_level === 'mandatory' && failedStatuses.includes(r.status));
  const warnings = results.filter((r) => r.enforcement_level === 'advisory' && failedStatuses.includes(r.status));
  // post_apply results never change the run's outcome.
  const passed = stage === 'post_apply' || blocking.length === 0;
  const counts: RunTaskStageSummary['counts'] = {};
  for (const r of results) counts[r.status as keyof typeof counts] = (counts[r.status as keyof typeof counts] ?? 0) + 1;
  const summary: RunTaskStageSummary = { passed, total: results.length, counts, blocking: blocking.map((r) => r.run_task_name), warnings: warnings.map((r) => r.run_task_name) };

  const phase = phaseOf(stage);
  // The log lines, the summary, the stage's timing and the decision: one task update.
  await appendLog(
    deps,
    task,
    (log) => {
      for (const r of results) {
        const line = `${stage}: ${r.run_task_name} (${r.enforcement_level}) ${r.status}${r.message ? `: ${r.message}` : ''}`;
        log.output(blocking.includes(r) ? 'stderr' : 'stdout', line, phase);
      }
      const tally = Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ');
      log.output(passed ? 'stdout' : 'stderr', passed ? `${stage}: passed (${tally})${warnings.length ? `; advisory warnings: ${summary.warnings.join(', ')}` : ''}` : `${stage}: failed: mandatory run task(s) did not pass: ${summary.blocking.join(', ')}`, phase);
      log.marker(stage, 'end', phase);
    },
    (t) => {
      const changes: Partial<Task> = { run_task_summary: { ...(t.run_task_summary ?? {}), [stage]: summary }, stage_timings: timingsWithCurrentStage(t) };
      if (!passed) {
        const first = blocking[0];
        changes.final_status = 'failed';
        changes.error_message = `${stage} run task ${first.run_task_name} (mandatory) ${first.status}${first.message ? `: ${first.message}` : ''}`;
      }
      return changes;
    },
    lastLine,
  );
  return { passed };
}

// ---------- Results API ----------

export async function resultsView(deps: Deps, taskId: number) {
  const results = await deps.store.listResults(taskId);
  const withOutcomes = await Promise.all(
    results.map(async (r) => ({
      result_id: r.result_id,
      run_task: { run_task_id: r.run_task_id, name: r.run_task_name },
      run_task_id: r.run_task_id,
      run_task_name: r.run_task_name,
      workspace_run_task_id: r.workspace_run_task_id,
      stage: r.stage,
      status: r.status,
      message: r.message,
      url: r.url,
      enforcement_level: r.enforcement_level,
      created_at: r.created_at,
      started_at: r.started_at,
      completed_at: r.completed_at,
      response_status: r.response_status,
      response_time_ms: r.response_time_ms,
      outcomes: r.outcomes_count ? await deps.store.listOutcomes(r.result_id) : [],
    })),
  );
  const stages: Record<string, typeof withOutcomes> = { pre_plan: [], post_plan: [], pre_apply: [], post_apply: [] };
  for (const r of withOutcomes) stages[r.stage].push(r);
  return { run_task_results: withOutcomes, stages };
}

// ---------- Verify ----------

/** Sends the test payload receivers recognise (access_token "test-token", enforcement "test"). */
export async function verifyRunTask(deps: Deps, rt: RunTask) {
  const now = new Date().toISOString();
  const task = { task_id: 0, workspace_id: 'ws-test', task_type: 'plan', status: 'running', description: 'Runway run task verification', created_at: now, created_by: 'runway', configuration_version_id: 'cv-test', plan_changes: null } as unknown as Task;
  const ws = { workspace_id: 'ws-test', name: 'test', working_directory: '', terraform_version: '1.11', execution_mode: 'plan_only', team_id: null } as unknown as Workspace;
  const body = JSON.stringify(buildPayload({ stage: 'test', accessToken: 'test-token', result: { result_id: 'rtr-test', enforcement_level: 'test', timeout_seconds: rt.timeout_seconds }, task, ws, baseUrl: deps.settings.publicUrl }));
  // One attempt: the answer reaches the admin within the API's own time limit.
  const report = await deliver(deps, rt, body, 1);
  return {
    run_task_id: rt.run_task_id,
    ok: report.ok,
    status_code: report.status,
    attempts: report.attempts,
    response_time_ms: report.response_time_ms,
    message: report.ok ? `the endpoint accepted the test payload (HTTP ${report.status})` : `verification failed: ${report.error}`,
    hmac_key_fingerprint: rt.hmac_key_fingerprint,
  };
}

