/**
 * The run-task wire contract (SPEC §5.1, §5.3) without a server: the POST body a receiver gets,
 * its signature, and how callbacks are read and bounded.
 */
import { createHmac } from 'node:crypto';
import { ApiError } from '../../functions/core/errors.js';
import type { Task, Workspace } from '../../functions/core/model.js';
import { buildPayload, normalizeCallback, signature, type PayloadContext } from '../../functions/core/run-task-execution.js';

const BASE = 'https://runway.example.com';

const task = {
  task_id: 42,
  workspace_id: 'ws-abc',
  task_type: 'plan_and_apply',
  status: 'running',
  stage: 'post_plan',
  description: 'deploy the network',
  configuration_version_id: 'cv-123',
  created_by: 'alice',
  created_at: '2025-01-06T10:00:00.000Z',
  started_at: '2025-01-06T10:00:01.000Z',
  completed_at: null,
  duration: null,
  plan_changes: { add: 5, change: 2, destroy: 1 },
  stage_timings: {},
  error_message: null,
  log_summary: { plan_lines: 0, apply_lines: 0, has_errors: false, last_line: '' },
  log_last_line: 0,
} as unknown as Task;

const ws: Workspace = {
  workspace_id: 'ws-abc',
  name: 'production',
  description: '',
  terraform_version: '1.11.0',
  execution_mode: 'plan_and_apply',
  auto_apply: false,
  working_directory: 'infra/net',
  apply_requires_admin: false,
  team_id: 'team-ops',
  created_by: 'alice',
  created_at: '2025-01-01T00:00:00.000Z',
  updated_at: '2025-01-01T00:00:00.000Z',
};

const ctx = (stage: PayloadContext['stage']): PayloadContext => ({
  stage,
  accessToken: 'rtt_secret',
  result: { result_id: 'rtr-1', enforcement_level: 'mandatory', timeout_seconds: 600 },
  task,
  ws,
  baseUrl: BASE,
});

describe('the POST payload (seed 000 §4.4 plus the HCP Terraform fields)', () => {
  const p = buildPayload(ctx('post_plan'));

  it('carries the seed 000 fields with the run, workspace and result they describe', () => {
    expect(p).toMatchObject({
      payload_version: 1,
      stage: 'post_plan',
      access_token: 'rtt_secret',
      capabilities: { outcomes: true },
      task_result_id: 'rtr-1',
      task_result_callback_url: `${BASE}/api/v1/run-task-results/rtr-1/callback`,
      task_result_enforcement_level: 'mandatory',
      task_id: 42,
      task_type: 'plan_and_apply',
      task_status: 'running',
      task_description: 'deploy the network',
      task_created_at: '2025-01-06T10:00:00.000Z',
      task_created_by: 'alice',
      workspace_id: 'ws-abc',
      workspace_name: 'production',
      workspace_workdir: 'infra/net',
      workspace_terraform_version: '1.11.0',
      workspace_execution_mode: 'plan_and_apply',
      team_id: 'team-ops',
      timeout_seconds: 600,
    });
    expect(p.task_app_url).toMatch(new RegExp(`^${BASE}/.+42`));
    expect(p.workspace_app_url).toMatch(new RegExp(`^${BASE}/.+production`));
  });

  it('carries the plan fields after the plan', () => {
    expect(p.plan_json_api_url).toBe(`${BASE}/api/v1/workspaces/ws-abc/tasks/42/plan-json`);
    expect(p.resource_changes_api_url).toBe(`${BASE}/api/v1/workspaces/ws-abc/tasks/42/resource-changes`);
    expect(p.plan_changes).toEqual({ add: 5, change: 2, destroy: 1 });
    for (const stage of ['pre_apply', 'post_apply'] as const) {
      const q = buildPayload(ctx(stage));
      expect(q).toHaveProperty('plan_json_api_url');
      expect(q).toHaveProperty('plan_changes');
      expect(q).toHaveProperty('resource_changes_api_url');
    }
  });

  it('has no plan fields before the plan', () => {
    const q = buildPayload(ctx('pre_plan'));
    expect(q.stage).toBe('pre_plan');
    expect(q).not.toHaveProperty('plan_json_api_url');
    expect(q).not.toHaveProperty('plan_changes');
    expect(q).not.toHaveProperty('resource_changes_api_url');
  });

  it('carries the fields receivers written for HCP Terraform read', () => {
    expect(p).toMatchObject({
      run_id: 42,
      run_created_at: '2025-01-06T10:00:00.000Z',
      run_created_by: 'alice',
      run_message: 'deploy the network',
      is_speculative: false,
      workspace_working_directory: 'infra/net',
      configuration_version_id: 'cv-123',
      configuration_version_download_url: `${BASE}/api/v1/configuration-versions/cv-123/download`,
      vcs_repo_url: null,
      vcs_branch: null,
      vcs_commit_url: null,
      vcs_pull_request_url: null,
    });
    expect(p.run_id).toBe(p.task_id);
    expect(p.run_app_url).toBe(p.task_app_url);
    expect(typeof p.organization_name).toBe('string');
    expect((p.organization_name as string).length).toBeGreaterThan(0);
    expect(buildPayload({ ...ctx('post_plan'), task: { ...task, task_type: 'plan' } }).is_speculative).toBe(true);
  });

  it('is plain JSON: re-serialising the parsed body gives the same bytes (what receivers sign)', () => {
    const body = JSON.stringify(p);
    expect(JSON.stringify(JSON.parse(body))).toBe(body);
  });
});

describe('the X-TFC-Task-Signature value', () => {
  const body = JSON.stringify(buildPayload(ctx('post_plan')));

  it('is the lowercase hex HMAC-SHA512 of the exact body', () => {
    const expected = createHmac('sha512', 'secret-key-123').update(Buffer.from(body, 'utf8')).digest('hex');
    const got = signature(body, 'secret-key-123');
    expect(got).toBe(expected);
    expect(got).toMatch(/^[0-9a-f]{128}$/);
    expect(got.startsWith('sha512=')).toBe(false);
  });

  it('covers every byte (a non-ASCII body included) and depends on the key', () => {
    const unicode = JSON.stringify({ ...buildPayload(ctx('post_plan')), task_description: 'déploiement — 部署' });
    expect(signature(unicode, 'k')).toBe(createHmac('sha512', 'k').update(Buffer.from(unicode, 'utf8')).digest('hex'));
    expect(signature(unicode, 'k')).not.toBe(signature(unicode.replace('部署', '部暑'), 'k'));
    expect(signature(body, 'k1')).not.toBe(signature(body, 'k2'));
  });

  it('is empty without a key', () => {
    expect(signature(body, null)).toBe('');
    expect(signature(body, '')).toBe('');
  });
});

/** The error a callback body causes: status and message (which must name the field). */
function rejection(raw: unknown): { status: number; message: string } {
  try {
    normalizeCallback(raw);
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, message: err.message };
    throw err;
  }
  throw new Error(`accepted: ${JSON.stringify(raw).slice(0, 200)}`);
}

const outcome = (over: Record<string, unknown> = {}) => ({
  'outcome-id': 'PRTNR-CC-TF-127',
  description: 'S3 Bucket encryption check passed',
  body: '# S3\n\nAll buckets are encrypted.',
  url: 'https://scanner.example/r/127',
  tags: { Status: [{ label: 'Passed', level: 'info' }], 'Cost Centre': [{ label: 'IT-OPS' }] },
  ...over,
});

const jsonApi = (attributes: Record<string, unknown>, outcomes?: unknown[]) => ({
  data: { type: 'task-results', attributes, ...(outcomes ? { relationships: { outcomes: { data: outcomes.map((a) => ({ type: 'task-result-outcomes', attributes: a })) } } } : {}) },
});

describe('callback bodies', () => {
  const expectedOutcome = {
    outcome_id: 'PRTNR-CC-TF-127',
    description: 'S3 Bucket encryption check passed',
    body: '# S3\n\nAll buckets are encrypted.',
    url: 'https://scanner.example/r/127',
    // a tag without a level is level "none"
    tags: { Status: [{ label: 'Passed', level: 'info' }], 'Cost Centre': [{ label: 'IT-OPS', level: 'none' }] },
  };

  it('reads JSON:API with outcomes in relationships', () => {
    expect(normalizeCallback(jsonApi({ status: 'passed', message: '4 passed', url: 'https://scanner.example/r' }, [outcome()]))).toEqual({
      status: 'passed',
      message: '4 passed',
      url: 'https://scanner.example/r',
      outcomes: [expectedOutcome],
    });
  });

  it('reads JSON:API with outcomes inside attributes', () => {
    const raw = { data: { type: 'task-results', attributes: { status: 'failed', message: 'm', outcomes: [{ type: 'task-result-outcomes', attributes: outcome() }] } } };
    expect(normalizeCallback(raw)).toEqual({ status: 'failed', message: 'm', url: null, outcomes: [expectedOutcome] });
  });

  it('reads the flat form of seed 000 §3.3.2 and a running progress update', () => {
    expect(normalizeCallback({ status: 'passed', message: 'All checks passed', url: 'https://x.example/1' })).toEqual({ status: 'passed', message: 'All checks passed', url: 'https://x.example/1', outcomes: [] });
    expect(normalizeCallback(jsonApi({ status: 'running', message: 'Analyzing 15 resources…' }))).toEqual({ status: 'running', message: 'Analyzing 15 resources…', url: null, outcomes: [] });
  });

  it('accepts every limit exactly', () => {
    const atLimit = jsonApi({ status: 'passed', message: 'm'.repeat(1000), url: 'u'.repeat(500) }, [
      outcome({ 'outcome-id': 'o'.repeat(64), description: 'd'.repeat(1000), tags: { Severity: [{ label: 'l'.repeat(32), level: 'error' }, { label: 'w', level: 'warning' }, { label: 'n', level: 'none' }] } }),
      ...Array.from({ length: 249 }, (_, i) => outcome({ 'outcome-id': `ID-${i}` })),
    ]);
    expect(normalizeCallback(atLimit).outcomes).toHaveLength(250);
  });

  it.each([
    ['message', jsonApi({ status: 'passed', message: 'm'.repeat(1001) }), /message/],
    ['url', jsonApi({ status: 'passed', url: 'u'.repeat(501) }), /url/],
    ['outcomes (251)', jsonApi({ status: 'passed' }, Array.from({ length: 251 }, (_, i) => outcome({ 'outcome-id': `ID-${i}` }))), /outcomes/],
    ['outcome-id', jsonApi({ status: 'passed' }, [outcome({ 'outcome-id': 'o'.repeat(65) })]), /outcome-id/],
    ['description', jsonApi({ status: 'passed' }, [outcome({ description: 'd'.repeat(1001) })]), /description/],
    ['tag label', jsonApi({ status: 'passed' }, [outcome({ tags: { Status: [{ label: 'l'.repeat(33), level: 'info' }] } })]), /label/],
    ['tag level', jsonApi({ status: 'passed' }, [outcome({ tags: { Status: [{ label: 'Bad', level: 'critical' }] } })]), /level/],
    ['status', jsonApi({ status: 'done' }), /status/],
    ['flat message', { status: 'failed', message: 'm'.repeat(1001) }, /message/],
  ])('refuses a %s over its limit with 422 naming the field', (_what, raw, field) => {
    const r = rejection(raw);
    expect(r.status).toBe(422);
    expect(r.message).toMatch(field);
  });
});
