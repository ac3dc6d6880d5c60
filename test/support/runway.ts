/**
 * Test support for the whole embedded default: start it in-process on a fresh DATA_DIR, talk to it
 * over real HTTP with a tiny typed client, wait for a run to reach a state by polling the API.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbedded, type Embedded } from '../../local/embedded.js';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  /** parsed JSON when the answer is JSON, the text otherwise */
  body: T;
  /** the raw bytes of the answer */
  raw: Buffer;
}

export interface RequestOptions {
  /** bearer token; the client's default (the admin token) when omitted, none when null */
  token?: string | null;
  headers?: Record<string, string>;
}

export type Body = unknown | Buffer | undefined;

export interface ApiClient {
  baseUrl: string;
  request<T = any>(method: string, path: string, body?: Body, opts?: RequestOptions): Promise<ApiResponse<T>>;
  get<T = any>(path: string, opts?: RequestOptions): Promise<ApiResponse<T>>;
  delete<T = any>(path: string, opts?: RequestOptions): Promise<ApiResponse<T>>;
  post<T = any>(path: string, body?: Body, opts?: RequestOptions): Promise<ApiResponse<T>>;
  put<T = any>(path: string, body?: Body, opts?: RequestOptions): Promise<ApiResponse<T>>;
  patch<T = any>(path: string, body?: Body, opts?: RequestOptions): Promise<ApiResponse<T>>;
}

/**
 * A client for `baseUrl` (e.g. http://127.0.0.1:1234). Paths are relative to /api/v1 unless they
 * start with /api/. Objects are sent as JSON; a Buffer is sent as is (set its content-type in
 * `headers`); a string is sent as is with content-type application/json (for invalid JSON tests).
 */
export function apiClient(baseUrl: string, defaultToken: string | null, opts: { onResponse?: (method: string, path: string, res: ApiResponse) => void } = {}): ApiClient {
  async function request<T>(method: string, path: string, body?: Body, req: RequestOptions = {}): Promise<ApiResponse<T>> {
    const url = `${baseUrl}${path.startsWith('/api/') ? path : `/api/v1${path}`}`;
    const headers: Record<string, string> = {};
    const token = req.token === undefined ? defaultToken : req.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let payload: Buffer | string | undefined;
    if (Buffer.isBuffer(body)) payload = body;
    else if (typeof body === 'string') {
      payload = body;
      headers['content-type'] = 'application/json';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    Object.assign(headers, req.headers ?? {});
    const res = await fetch(url, { method, headers, body: payload as RequestInit['body'] });
    const raw = Buffer.from(await res.arrayBuffer());
    const type = res.headers.get('content-type') ?? '';
    let parsed: unknown = raw.toString('utf8');
    if (type.includes('json') && raw.length > 0) {
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch {
        /* keep the text: the test will show it */
      }
    }
    const answer = { status: res.status, headers: res.headers, body: parsed as T, raw };
    opts.onResponse?.(method, path, answer);
    return answer;
  }
  return {
    baseUrl,
    request,
    get: (path, opts) => request('GET', path, undefined, opts),
    delete: (path, opts) => request('DELETE', path, undefined, opts),
    post: (path, body, opts) => request('POST', path, body, opts),
    put: (path, body, opts) => request('PUT', path, body, opts),
    patch: (path, body, opts) => request('PATCH', path, body, opts),
  };
}

/** The public shape of a run, as GET /api/v1/tasks/:id answers it (SPEC §4). */
export interface TaskView {
  task_id: number;
  workspace_id: string;
  task_type: 'plan' | 'plan_and_apply';
  status: 'pending' | 'running' | 'apply_pending' | 'success' | 'failed' | 'errored' | 'cancelled' | 'discarded';
  stage: string | null;
  description: string;
  created_by: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  duration: number | null;
  plan_changes: { add: number; change: number; destroy: number } | null;
  stage_timings: Record<string, number>;
  error_message: string | null;
  log_summary?: { plan_lines: number; apply_lines: number; has_errors: boolean; last_line: string };
}

export const FINAL_STATUSES: readonly TaskView['status'][] = ['success', 'failed', 'errored', 'cancelled', 'discarded'];
export const isFinal = (t: TaskView) => FINAL_STATUSES.includes(t.status);

/**
 * Polls GET /api/v1/tasks/:id every 50 ms until `predicate` holds; on the deadline fails with the
 * last task seen, so a test failure says where the run was.
 */
export async function waitForTask(
  api: ApiClient,
  taskId: number,
  predicate: (t: TaskView) => boolean,
  timeoutMs = 60_000,
  what = 'the expected state',
): Promise<TaskView> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    const res = await api.get<TaskView>(`/tasks/${taskId}`);
    last = res.body;
    if (res.status === 200 && predicate(res.body)) return res.body;
    if (Date.now() > deadline) {
      throw new Error(`task ${taskId} did not reach ${what} within ${timeoutMs} ms; last seen (HTTP ${res.status}): ${JSON.stringify(last, null, 2)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the run has a given status. */
export const waitForStatus = (api: ApiClient, taskId: number, status: TaskView['status'] | TaskView['status'][], timeoutMs?: number) => {
  const wanted = Array.isArray(status) ? status : [status];
  return waitForTask(api, taskId, (t) => wanted.includes(t.status), timeoutMs, `status ${wanted.join('|')}`);
};

/** Waits until the run has ended (any final status). */
export const waitForEnd = (api: ApiClient, taskId: number, timeoutMs?: number) => waitForTask(api, taskId, isFinal, timeoutMs, 'a final status');

/** Polls until `check` returns a value that is not undefined (deadline: a clear error naming `what`). */
export async function waitUntil<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 30_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Uploads `files` as a JSON configuration version; fails the test unless it is created. */
export async function uploadConfig(api: ApiClient, ws: string, files: Record<string, string>): Promise<{ configuration_version_id: string; sha256: string; size_bytes: number }> {
  const res = await api.post(`/workspaces/${encodeURIComponent(ws)}/configuration-versions`, { files });
  if (res.status !== 201) throw new Error(`uploading a configuration to ${ws} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Creates a workspace; fails the test unless it is created. */
export async function createWorkspace(api: ApiClient, body: Record<string, unknown>): Promise<{ workspace_id: string; name: string } & Record<string, unknown>> {
  const res = await api.post('/workspaces', body);
  if (res.status !== 201) throw new Error(`creating workspace ${JSON.stringify(body)} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Starts a run; fails the test unless it is created. */
export async function startTask(api: ApiClient, ws: string, taskType: 'plan' | 'plan_and_apply', extra: Record<string, unknown> = {}): Promise<TaskView> {
  const res = await api.post<TaskView>(`/workspaces/${encodeURIComponent(ws)}/tasks`, { task_type: taskType, ...extra });
  if (res.status !== 201) throw new Error(`starting a ${taskType} run in ${ws} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Workspace names must be unique in an instance: a readable prefix and a random suffix. */
export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

export interface TestRunway {
  app: Embedded;
  api: ApiClient;
  /** the admin token of this instance */
  adminToken: string;
  /** every answer the clients made by `client()` (and `api`) received, to check that none was a 5xx */
  responses: { method: string; path: string; status: number }[];
  /** a client of this instance with another token (null: none) */
  client(token: string | null): ApiClient;
  /** stops the instance and deletes its DATA_DIR */
  stop(): Promise<void>;
}

/**
 * The embedded default in this process, on a free port, with a fresh DATA_DIR and a random admin
 * token. Call `stop()` in afterAll.
 */
export async function startRunway(opts: { log?: (entry: Record<string, unknown>) => void; terraformBin?: string } = {}): Promise<TestRunway> {
  const dataDir = await mkdtemp(join(tmpdir(), 'runway-e2e-'));
  const adminToken = `rwadmin_test_${randomBytes(16).toString('hex')}`;
  const app = await startEmbedded({ dataDir, port: 0, adminToken, log: opts.log, terraformBin: opts.terraformBin });
  const responses: TestRunway['responses'] = [];
  const client = (token: string | null) => apiClient(app.url, token, { onResponse: (method, path, res) => responses.push({ method, path, status: res.status }) });
  return {
    app,
    api: client(adminToken),
    adminToken,
    responses,
    client,
    async stop() {
      await app.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
