/**
 * The shapes of Runway: input schemas (zod) and the stored records. Types of inputs are inferred
 * from their schemas, so validation and types cannot drift apart.
 */
import { z } from 'zod';

export const ROLES = ['admin', 'member'] as const;
export type Role = (typeof ROLES)[number];

export const EXECUTION_MODES = ['plan_only', 'plan_and_apply'] as const;
export const TASK_TYPES = ['plan', 'plan_and_apply'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export const TASK_STATUSES = ['pending', 'running', 'apply_pending', 'success', 'failed', 'errored', 'cancelled', 'discarded'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const FINAL_STATUSES: readonly TaskStatus[] = ['success', 'failed', 'errored', 'cancelled', 'discarded'];
export const isFinal = (s: TaskStatus) => FINAL_STATUSES.includes(s);

/** Stages of a run, in order (SPEC §4). */
export const STAGES = [
  'fetching', 'init', 'pre_plan', 'planning', 'post_plan', 'saving_plan', 'apply_pending',
  'restoring_plan', 'pre_apply', 'applying', 'post_apply', 'saving_state',
] as const;
export type Stage = (typeof STAGES)[number];
export const RUN_TASK_STAGES = ['pre_plan', 'post_plan', 'pre_apply', 'post_apply'] as const;
export type RunTaskStage = (typeof RUN_TASK_STAGES)[number];

export const NAME_PATTERN = /^[a-zA-Z0-9_-]{1,90}$/;

// ---------- inputs ----------

export const createUserInput = z.strictObject({
  username: z.string().regex(/^[a-zA-Z0-9_.@-]{1,64}$/, 'must be 1-64 letters, digits, _ . @ -'),
  role: z.enum(ROLES),
  teams: z.array(z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/)).max(50).optional(),
});
export type CreateUserInput = z.infer<typeof createUserInput>;

const workingDirectory = z
  .string()
  .max(500)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a relative path inside the configuration');

const workspaceFields = {
  name: z.string().regex(NAME_PATTERN, 'must match ^[a-zA-Z0-9_-]{1,90}$'),
  description: z.string().max(2000),
  terraform_version: z.string().regex(/^\d+\.\d+(\.\d+)?$/, 'must be a version such as 1.11 or 1.11.4'),
  execution_mode: z.enum(EXECUTION_MODES),
  auto_apply: z.boolean(),
  working_directory: workingDirectory,
  apply_requires_admin: z.boolean(),
  team_id: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/).nullable(),
  require_ticket_for_apply: z.boolean(),
};
export const createWorkspaceInput = z.strictObject({
  name: workspaceFields.name,
  description: workspaceFields.description.optional(),
  terraform_version: workspaceFields.terraform_version.optional(),
  execution_mode: workspaceFields.execution_mode.optional(),
  auto_apply: workspaceFields.auto_apply.optional(),
  working_directory: workspaceFields.working_directory.optional(),
  apply_requires_admin: workspaceFields.apply_requires_admin.optional(),
  team_id: workspaceFields.team_id.optional(),
  require_ticket_for_apply: workspaceFields.require_ticket_for_apply.optional(),
});
export type CreateWorkspaceInput = z.infer<typeof createWorkspaceInput>;
export const updateWorkspaceInput = z.strictObject(workspaceFields).partial();
export type UpdateWorkspaceInput = z.infer<typeof updateWorkspaceInput>;

export const VARIABLE_KEY = /^[a-zA-Z_][a-zA-Z0-9_]{0,127}$/;
export const putVariableInput = z.strictObject({
  value: z.string().max(256 * 1024),
  category: z.enum(['terraform', 'env']),
  sensitive: z.boolean().optional(),
  hcl: z.boolean().optional(),
  description: z.string().max(1000).optional(),
});
export type PutVariableInput = z.infer<typeof putVariableInput>;

/** A change ticket: an id (e.g. CHG-1234) or a URL — seed 003's "person's promise". */
const ticket = z.string().trim().min(1).max(500);

export const createTaskInput = z.strictObject({
  task_type: z.enum(TASK_TYPES),
  ticket: ticket.optional(),
  description: z.string().max(2000).optional(),
  configuration_version_id: z.string().regex(/^cv-[a-z0-9]+$/, 'must be a configuration version id (cv-…)').optional(),
});
export type CreateTaskInput = z.infer<typeof createTaskInput>;

export const confirmTaskInput = z.strictObject({ ticket: ticket.optional(), comment: z.string().max(2000).optional() });

export const configurationFilesInput = z.strictObject({
  files: z.record(z.string().min(1).max(1024), z.string()).refine((f) => Object.keys(f).length > 0, 'must name at least one file'),
});

// ---------- stored records ----------

export interface User {
  user_id: string;
  username: string;
  role: Role;
  teams: string[];
  created_at: string;
}

export interface Workspace {
  workspace_id: string;
  name: string;
  description: string;
  terraform_version: string;
  execution_mode: (typeof EXECUTION_MODES)[number];
  auto_apply: boolean;
  working_directory: string;
  apply_requires_admin: boolean;
  team_id: string | null;
  /** absent on workspaces stored before tickets existed: false */
  require_ticket_for_apply?: boolean;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface ConfigurationVersion {
  configuration_version_id: string;
  workspace_id: string;
  sha256: string;
  size_bytes: number;
  file_count: number;
  created_by: string;
  created_at: string;
}

export interface Variable {
  key: string;
  category: 'terraform' | 'env';
  sensitive: boolean;
  hcl: boolean;
  description: string;
  /** Plain value, or for sensitive variables the ciphertext (base64) of the Secrets port. */
  value: string;
  updated_at: string;
}

export interface PlanChanges {
  add: number;
  change: number;
  destroy: number;
}

export interface LogSummary {
  plan_lines: number;
  apply_lines: number;
  has_errors: boolean;
  last_line: string;
}

/** What a runner phase reports back; read by the after-phase workflow step. */
export interface PhaseResult {
  phase: 'plan' | 'apply';
  outcome: 'success' | 'failed' | 'cancelled';
  message?: string;
  has_changes?: boolean;
}

export interface Task {
  task_id: number;
  workspace_id: string;
  task_type: TaskType;
  status: TaskStatus;
  stage: Stage | null;
  description: string;
  /** the creator's role: an auto-apply on an `apply_requires_admin` workspace needs an admin's run */
  created_by_role?: Role;
  /** change ticket (id or URL) the run was made for */
  ticket?: string | null;
  /** who confirmed the apply, and when */
  confirmed_by?: string | null;
  confirmed_at?: string | null;
  configuration_version_id: string;
  created_by: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  /** seconds, from started_at (or created_at) to completed_at */
  duration: number | null;
  plan_changes: PlanChanges | null;
  stage_timings: Record<string, number>;
  error_message: string | null;
  log_summary: LogSummary;
  /** last line_num written to the run's log (one sequence across plan and apply) */
  log_last_line: number;
  // ---- internal, never returned ----
  /** set by a step that ends the run early; Finalize applies it */
  final_status?: TaskStatus;
  cancel_requested?: 'graceful' | 'force';
  phase_results?: Partial<Record<'plan' | 'apply', PhaseResult>>;
  /** Step Functions task token of the confirmation wait (a capability: never returned) */
  confirmation_token?: string;
  /** the last line_num the run's `logs` artifact holds (each runner phase extends it) */
  log_artifact_last_line?: number;
  /** when the current stage began (ISO), to time it into stage_timings */
  stage_started_at?: string;
  /** per run-task stage: the decision and its counts (SPEC §5 "run_task_summary") */
  run_task_summary?: Partial<Record<RunTaskStage, RunTaskStageSummary>>;
  /** where the runner runs: ECS task ARN on AWS, process id locally */
  runner_ref?: string;
}

export interface RunTaskStageSummary {
  passed: boolean;
  total: number;
  counts: Partial<Record<'passed' | 'failed' | 'error' | 'timeout', number>>;
  /** mandatory run tasks that did not pass */
  blocking: string[];
  /** advisory run tasks that did not pass (warnings shown with the run) */
  warnings: string[];
}

export interface Artifact {
  artifact_id: string;
  task_id: number;
  kind: 'configuration' | 'plan_file' | 'plan_json' | 'logs' | 'state_before' | 'state_after';
  sha256: string;
  size_bytes: number;
  blob_key: string;
  created_at: string;
}

export interface StateVersion {
  serial: number;
  lineage: string;
  sha256: string;
  blob_key: string;
  task_id: number | null;
  created_at: string;
}

// ---------- run tasks (SPEC §5, seed 000) ----------

export const ENFORCEMENT_LEVELS = ['advisory', 'mandatory'] as const;
export type EnforcementLevel = (typeof ENFORCEMENT_LEVELS)[number];
export const RESULT_STATUSES = ['pending', 'running', 'passed', 'failed', 'error', 'timeout'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];
export const FINAL_RESULT_STATUSES: readonly ResultStatus[] = ['passed', 'failed', 'error', 'timeout'];

const endpointUrl = z
  .string()
  .max(500)
  .refine((u) => {
    try {
      return ['http:', 'https:'].includes(new URL(u).protocol);
    } catch {
      return false;
    }
  }, 'must be an http or https URL');

const runTaskFields = {
  name: z.string().max(100).regex(/^[a-zA-Z0-9_-]+$/, 'must match ^[a-zA-Z0-9_-]+$'),
  description: z.string().max(2000),
  endpoint_url: endpointUrl,
  hmac_key: z.string().max(1024).nullable(),
  enabled: z.boolean(),
  timeout_seconds: z.number().int(),
  is_global: z.boolean(),
  global_stage: z.enum(RUN_TASK_STAGES).nullable(),
  global_enforcement_level: z.enum(ENFORCEMENT_LEVELS).nullable(),
  organization_id: z.string().max(64).nullable(),
  team_id: z.string().max(64).nullable(),
};
export const createRunTaskInput = z.strictObject({
  ...runTaskFields,
  description: runTaskFields.description.optional(),
  hmac_key: runTaskFields.hmac_key.optional(),
  enabled: runTaskFields.enabled.optional(),
  timeout_seconds: runTaskFields.timeout_seconds.optional(),
  is_global: runTaskFields.is_global.optional(),
  global_stage: runTaskFields.global_stage.optional(),
  global_enforcement_level: runTaskFields.global_enforcement_level.optional(),
  organization_id: runTaskFields.organization_id.optional(),
  team_id: runTaskFields.team_id.optional(),
});
export type CreateRunTaskInput = z.infer<typeof createRunTaskInput>;
export const updateRunTaskInput = z.strictObject(runTaskFields).partial();
export type UpdateRunTaskInput = z.infer<typeof updateRunTaskInput>;

export interface RunTask {
  run_task_id: string;
  name: string;
  description: string;
  endpoint_url: string;
  /** ciphertext of the Secrets port; never returned */
  hmac_key_encrypted: string | null;
  hmac_key_fingerprint: string | null;
  enabled: boolean;
  timeout_seconds: number;
  is_global: boolean;
  global_stage: RunTaskStage | null;
  global_enforcement_level: EnforcementLevel | null;
  organization_id: string | null;
  team_id: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export const attachRunTaskInput = z.strictObject({
  run_task_id: z.string().min(1).max(120),
  stage: z.enum(RUN_TASK_STAGES),
  enforcement_level: z.enum(ENFORCEMENT_LEVELS).optional(),
  enabled: z.boolean().optional(),
});
export const updateAttachmentInput = z.strictObject({
  stage: z.enum(RUN_TASK_STAGES),
  enforcement_level: z.enum(ENFORCEMENT_LEVELS),
  enabled: z.boolean(),
}).partial();

export interface WorkspaceRunTask {
  workspace_run_task_id: string;
  workspace_id: string;
  run_task_id: string;
  stage: RunTaskStage;
  enforcement_level: EnforcementLevel;
  enabled: boolean;
  created_by: string;
  created_at: string;
  updated_at: string;
}

const tagLevel = z.enum(['none', 'info', 'warning', 'error']);
export const outcomeInput = z.object({
  'outcome-id': z.string().min(1).max(64),
  description: z.string().max(1000),
  body: z.string().max(5 * 1024 * 1024).optional().nullable(),
  url: z.string().max(500).optional().nullable(),
  tags: z.record(z.string().max(128), z.array(z.object({ label: z.string().max(32), level: tagLevel.optional() }))).optional().nullable(),
});
export type OutcomeInput = z.infer<typeof outcomeInput>;
export const callbackAttributes = z.object({
  status: z.enum(['running', 'passed', 'failed']),
  message: z.string().max(1000).optional().nullable(),
  url: z.string().max(500).optional().nullable(),
  outcomes: z.array(z.object({ type: z.string().optional(), attributes: outcomeInput })).max(250).optional(),
});
/** JSON:API `{data: {type, attributes, relationships.outcomes.data}}`, or the flat `{status, message, url}`. */
export const callbackInput = z.union([
  z.object({
    data: z.object({
      type: z.literal('task-results').optional(),
      attributes: callbackAttributes,
      relationships: z.object({ outcomes: z.object({ data: z.array(z.object({ type: z.string().optional(), attributes: outcomeInput })).max(250) }).optional() }).optional(),
    }),
  }),
  callbackAttributes,
]);
export type CallbackInput = z.infer<typeof callbackInput>;

export interface Outcome {
  outcome_id: string;
  description: string;
  body: string | null;
  url: string | null;
  tags: Record<string, { label: string; level: 'none' | 'info' | 'warning' | 'error' }[]>;
}

/** Where a result is stored: its run and stage, and its id. */
export type ResultKey = Pick<RunTaskResult, 'result_id' | 'task_id' | 'stage'>;

export interface RunTaskResult {
  result_id: string;
  task_id: number;
  workspace_id: string;
  run_task_id: string;
  run_task_name: string;
  workspace_run_task_id: string | null;
  stage: RunTaskStage;
  enforcement_level: EnforcementLevel;
  status: ResultStatus;
  message: string | null;
  url: string | null;
  timeout_seconds: number;
  outcomes_count: number;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  /** response of the endpoint to the POST */
  response_status: number | null;
  response_time_ms: number | null;
  // ---- internal ----
  /** SHA-256 of the one-time access token */
  token_hash: string;
  /** Step Functions task token of the Map iteration waiting for this result */
  workflow_token?: string;
  /** the final callback's body hash: the same final callback again is answered 200, another 409 */
  final_callback_hash?: string;
}
