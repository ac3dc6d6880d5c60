/** The API's shapes as the UI reads them (SPEC §2–§7; run tasks per SPEC §5 and seed 000 §3). */

export type Role = 'admin' | 'member';
export interface Principal {
  user_id: string;
  username: string;
  role: Role;
  teams: string[];
}

export interface Meta {
  version: string;
  api_url: string;
  websocket_url: string;
}

export interface Workspace {
  workspace_id: string;
  name: string;
  description: string;
  terraform_version: string;
  execution_mode: 'plan_only' | 'plan_and_apply';
  auto_apply: boolean;
  working_directory: string;
  apply_requires_admin: boolean;
  team_id: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  locked_by_task?: number | null;
  state_serial?: number | null;
}

export type TaskStatus = 'pending' | 'running' | 'apply_pending' | 'success' | 'failed' | 'errored' | 'cancelled' | 'discarded';
export const FINAL_STATUSES: readonly TaskStatus[] = ['success', 'failed', 'errored', 'cancelled', 'discarded'];
export const isFinal = (s: TaskStatus) => FINAL_STATUSES.includes(s);

export interface LogSummary {
  plan_lines: number;
  apply_lines: number;
  has_errors: boolean;
  last_line: string;
}

export interface PlanChanges {
  add: number;
  change: number;
  destroy: number;
}

export interface Task {
  task_id: number;
  workspace_id: string;
  task_type: 'plan' | 'plan_and_apply';
  status: TaskStatus;
  stage: string | null;
  description: string;
  configuration_version_id?: string;
  created_by: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  duration: number | null;
  plan_changes: PlanChanges | null;
  stage_timings: Record<string, number>;
  error_message: string | null;
  cancel_requested?: 'graceful' | 'force' | null;
  log_summary?: LogSummary;
}

export interface TaskListItem {
  id: number;
  task_type: Task['task_type'];
  status: TaskStatus;
  description?: string;
  created_at: string;
  completed_at: string | null;
  duration: number | null;
  log_summary: LogSummary;
}

export interface Variable {
  key: string;
  category: 'terraform' | 'env';
  sensitive: boolean;
  hcl: boolean;
  description?: string;
  value?: string | null;
  updated_at?: string;
}

export const RUN_TASK_STAGES = ['pre_plan', 'post_plan', 'pre_apply', 'post_apply'] as const;
export type RunTaskStage = (typeof RUN_TASK_STAGES)[number];
export type EnforcementLevel = 'advisory' | 'mandatory';

export interface RunTask {
  run_task_id: string;
  name: string;
  description: string;
  endpoint_url: string;
  hmac_key_set: boolean;
  hmac_key_fingerprint?: string | null;
  enabled: boolean;
  timeout_seconds: number;
  is_global: boolean;
  global_stage: RunTaskStage | null;
  global_enforcement_level: EnforcementLevel | null;
  workspace_count?: number;
  created_at?: string;
}

export interface WorkspaceRunTask {
  workspace_run_task_id: string;
  run_task_id?: string;
  run_task_name?: string;
  run_task?: { run_task_id: string; name: string; description?: string };
  stage: RunTaskStage;
  enforcement_level: EnforcementLevel;
  enabled: boolean;
}

export type TagLevel = 'none' | 'info' | 'warning' | 'error';
export interface Outcome {
  outcome_id: string;
  description: string;
  body: string | null;
  url: string | null;
  tags: Record<string, { label: string; level?: TagLevel }[]>;
}

export type ResultStatus = 'pending' | 'running' | 'passed' | 'failed' | 'error' | 'timeout';
export interface RunTaskResult {
  result_id: string;
  run_task_id?: string;
  run_task_name?: string;
  run_task?: { run_task_id: string; name: string };
  stage: RunTaskStage;
  enforcement_level: EnforcementLevel;
  status: ResultStatus;
  message: string | null;
  url: string | null;
  started_at: string | null;
  completed_at: string | null;
  outcomes?: Outcome[];
}

export interface StreamStat {
  task_id: number;
  clients_count: number;
  lines?: number;
  status?: string;
  stage?: string | null;
  [k: string]: unknown;
}
