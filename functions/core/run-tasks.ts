/** Run task definitions (admin) and their workspace attachments (SPEC §5, seed 000 §3.1–3.2). */
import type { Principal } from './auth.js';
import type { Deps } from './deps.js';
import { badRequest, conflict, notFound } from './errors.js';
import { sha256 } from './ids.js';
import type { CreateRunTaskInput, RunTask, RunTaskStage, UpdateRunTaskInput, Workspace, WorkspaceRunTask } from './model.js';
import { refuseUrl } from './network.js';
import { z } from 'zod';
import type { attachRunTaskInput, updateAttachmentInput } from './model.js';

export const MAX_TIMEOUT_SECONDS = 3600;

/** First 8 hex of SHA-256 of the key: tells which key is active without revealing it. */
export const fingerprint = (key: string) => sha256(key).slice(0, 8);

function checkDefinition(deps: Deps, rt: Pick<RunTask, 'endpoint_url' | 'timeout_seconds' | 'is_global' | 'global_stage' | 'global_enforcement_level'>): void {
  const min = deps.settings.runTasks.minTimeoutSeconds;
  if (rt.timeout_seconds < min || rt.timeout_seconds > MAX_TIMEOUT_SECONDS) throw badRequest(`timeout_seconds: must be from ${min} to ${MAX_TIMEOUT_SECONDS}`);
  const refused = refuseUrl(rt.endpoint_url, deps.settings.runTasks.addresses);
  if (refused) throw badRequest(`endpoint_url: ${refused}`, 'endpoint_not_allowed');
  if (rt.is_global && !rt.global_stage) throw badRequest('global_stage: required when is_global is true');
}

export async function createRunTask(deps: Deps, p: Principal, input: CreateRunTaskInput): Promise<RunTask> {
  const now = new Date().toISOString();
  const rt: RunTask = {
    run_task_id: `rt-${input.name}`,
    name: input.name,
    description: input.description ?? '',
    endpoint_url: input.endpoint_url,
    hmac_key_encrypted: input.hmac_key ? await deps.secrets.encrypt(input.hmac_key) : null,
    hmac_key_fingerprint: input.hmac_key ? fingerprint(input.hmac_key) : null,
    enabled: input.enabled ?? true,
    timeout_seconds: input.timeout_seconds ?? 600,
    is_global: input.is_global ?? false,
    global_stage: input.global_stage ?? null,
    global_enforcement_level: input.is_global ? (input.global_enforcement_level ?? 'advisory') : (input.global_enforcement_level ?? null),
    organization_id: input.organization_id ?? null,
    team_id: input.team_id ?? null,
    created_by: p.username,
    created_at: now,
    updated_at: now,
  };
  checkDefinition(deps, rt);
  if ((await deps.store.listRunTasks()).some((x) => x.name === rt.name)) throw conflict(`name: a run task named ${rt.name} exists`);
  if (!(await deps.store.createRunTask(rt))) throw conflict(`name: a run task named ${rt.name} exists`);
  return rt;
}

export async function getRunTask(deps: Deps, id: string): Promise<RunTask> {
  const rt = await deps.store.getRunTask(id);
  if (!rt) throw notFound(`run task ${id}`);
  return rt;
}

export async function updateRunTask(deps: Deps, rt: RunTask, input: UpdateRunTaskInput): Promise<RunTask> {
  const { hmac_key, ...rest } = input;
  const next: RunTask = { ...rt, ...rest, updated_at: new Date().toISOString() } as RunTask;
  // Rotation: a new key replaces the old; null removes it; absent keeps it.
  if (hmac_key !== undefined) {
    next.hmac_key_encrypted = hmac_key ? await deps.secrets.encrypt(hmac_key) : null;
    next.hmac_key_fingerprint = hmac_key ? fingerprint(hmac_key) : null;
  }
  if (next.is_global && !next.global_enforcement_level) next.global_enforcement_level = 'advisory';
  checkDefinition(deps, next);
  if (next.name !== rt.name && (await deps.store.listRunTasks()).some((x) => x.name === next.name)) throw conflict(`name: a run task named ${next.name} exists`);
  await deps.store.putRunTask(next);
  return next;
}

export async function deleteRunTask(deps: Deps, rt: RunTask, force: boolean): Promise<void> {
  const attached = await deps.store.listAttachmentsOfRunTask(rt.run_task_id);
  if (attached.length > 0 && !force) throw conflict(`run task ${rt.run_task_id} is attached to ${attached.length} workspace(s); detach it or delete with ?force=true`);
  await deps.store.deleteRunTask(rt.run_task_id);
}

/** The public shape: the HMAC key is write-only. */
export function runTaskView(rt: RunTask, workspaceCount?: number) {
  const { hmac_key_encrypted, ...view } = rt;
  return { ...view, hmac_key_set: hmac_key_encrypted !== null, ...(workspaceCount !== undefined ? { workspace_count: workspaceCount } : {}) };
}

// ---------- workspace attachments ----------

export async function attachRunTask(deps: Deps, p: Principal, ws: Workspace, input: z.infer<typeof attachRunTaskInput>): Promise<WorkspaceRunTask> {
  const rt = await deps.store.getRunTask(input.run_task_id);
  if (!rt) throw notFound(`run task ${input.run_task_id}`);
  const now = new Date().toISOString();
  const a: WorkspaceRunTask = {
    workspace_run_task_id: `wrt-${sha256(`${ws.workspace_id}/${rt.run_task_id}/${input.stage}`).slice(0, 16)}`,
    workspace_id: ws.workspace_id,
    run_task_id: rt.run_task_id,
    stage: input.stage,
    enforcement_level: input.enforcement_level ?? 'advisory',
    enabled: input.enabled ?? true,
    created_by: p.username,
    created_at: now,
    updated_at: now,
  };
  // The id is derived from (workspace, run task, stage), so the conditional create finds duplicates.
  if (!(await deps.store.createAttachment(a))) throw conflict(`run task ${rt.run_task_id} is already attached to this workspace at ${input.stage}`);
  return a;
}

export async function getAttachment(deps: Deps, ws: Workspace, id: string): Promise<WorkspaceRunTask> {
  const a = (await deps.store.listAttachments(ws.workspace_id)).find((x) => x.workspace_run_task_id === id);
  if (!a) throw notFound(`workspace run task ${id}`);
  return a;
}

export async function updateAttachment(deps: Deps, a: WorkspaceRunTask, input: z.infer<typeof updateAttachmentInput>): Promise<WorkspaceRunTask> {
  const next = { ...a, ...input, updated_at: new Date().toISOString() };
  if (next.stage !== a.stage) {
    const others = await deps.store.listAttachments(a.workspace_id);
    if (others.some((o) => o.workspace_run_task_id !== a.workspace_run_task_id && o.run_task_id === a.run_task_id && o.stage === next.stage)) {
      throw conflict(`run task ${a.run_task_id} is already attached to this workspace at ${next.stage}`);
    }
  }
  await deps.store.putAttachment(next);
  return next;
}

export async function attachmentView(deps: Deps, a: WorkspaceRunTask) {
  const rt = await deps.store.getRunTask(a.run_task_id);
  return {
    ...a,
    run_task_name: rt?.name ?? null,
    run_task: rt ? { run_task_id: rt.run_task_id, name: rt.name, description: rt.description, enabled: rt.enabled } : null,
  };
}

export interface StageTask {
  runTask: RunTask;
  attachment: WorkspaceRunTask | null;
  enforcement: 'advisory' | 'mandatory';
}

/** The run tasks a stage calls: enabled attachments of enabled run tasks, plus enabled global ones. */
export async function tasksForStage(deps: Deps, workspaceId: string, stage: RunTaskStage): Promise<StageTask[]> {
  const [attachments, all] = await Promise.all([deps.store.listAttachments(workspaceId), deps.store.listRunTasks()]);
  const byId = new Map(all.map((rt) => [rt.run_task_id, rt]));
  const out: StageTask[] = [];
  const seen = new Set<string>();
  for (const a of attachments) {
    const rt = byId.get(a.run_task_id);
    if (!a.enabled || a.stage !== stage || !rt?.enabled) continue;
    out.push({ runTask: rt, attachment: a, enforcement: a.enforcement_level });
    seen.add(rt.run_task_id);
  }
  for (const rt of all) {
    if (rt.is_global && rt.enabled && rt.global_stage === stage && !seen.has(rt.run_task_id)) {
      out.push({ runTask: rt, attachment: null, enforcement: rt.global_enforcement_level ?? 'advisory' });
    }
  }
  return out;
}
