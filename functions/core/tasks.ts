/**
 * Runs (tasks in the API, SPEC §4): creation, the per-workspace FIFO queue behind the workspace
 * lock, and the user's actions on a run (confirm, discard, cancel).
 */
import type { Principal } from './auth.js';
import type { Deps } from './deps.js';
import { conflict, forbidden, notFound, unprocessable } from './errors.js';
import { emptySummary } from './logs.js';
import { isFinal, type CreateTaskInput, type Task, type TaskStatus, type Workspace } from './model.js';

export async function createTask(deps: Deps, p: Principal, ws: Workspace, input: CreateTaskInput): Promise<Task> {
  if (input.task_type === 'plan_and_apply' && ws.execution_mode === 'plan_only') {
    throw unprocessable(`task_type: workspace ${ws.name} is plan_only; only plan runs are allowed`);
  }
  let cvId = input.configuration_version_id;
  if (cvId) {
    const cv = await deps.store.getConfigurationVersion(cvId);
    if (!cv || cv.workspace_id !== ws.workspace_id) throw notFound(`configuration version ${cvId}`);
  } else {
    const latest = await deps.store.latestConfigurationVersion(ws.workspace_id);
    if (!latest) throw unprocessable('configuration_version_id: the workspace has no configuration version; upload one first');
    cvId = latest.configuration_version_id;
  }
  const task: Task = {
    task_id: await deps.store.nextTaskId(),
    workspace_id: ws.workspace_id,
    task_type: input.task_type,
    status: 'pending',
    stage: null,
    description: input.description ?? '',
    configuration_version_id: cvId,
    created_by: p.username,
    created_at: new Date().toISOString(),
    started_at: null,
    completed_at: null,
    duration: null,
    plan_changes: null,
    stage_timings: {},
    error_message: null,
    log_summary: emptySummary(),
    log_last_line: 0,
  };
  await deps.store.createTask(task);
  await scheduleWorkspace(deps, ws.workspace_id);
  // Answered as created (pending); it may already be running, which GET shows.
  return task;
}

/**
 * Starts the oldest pending run of the workspace when its lock is free. Safe to call from anywhere
 * at any time: the lock's conditional write lets one caller win.
 */
export async function scheduleWorkspace(deps: Deps, workspaceId: string): Promise<void> {
  for (;;) {
    const holder = await deps.store.getLockHolder(workspaceId);
    if (holder !== null) {
      const t = await deps.store.getTask(holder);
      if (t && !isFinal(t.status)) return; // busy
      await deps.store.releaseLock(workspaceId, holder); // a lock left by a run that ended
      continue;
    }
    const [next] = await deps.store.listPendingTasks(workspaceId);
    if (!next) return;
    if (!(await deps.store.acquireLock(workspaceId, next.task_id))) return; // another caller started one
    const started = await deps.store.updateTask(next, { status: 'running', started_at: new Date().toISOString() }, ['pending']);
    if (!started) {
      await deps.store.releaseLock(workspaceId, next.task_id); // cancelled meanwhile: try the next
      continue;
    }
    try {
      await deps.workflow.startRun(started);
      return;
    } catch (err) {
      await endTask(deps, started, 'errored', `could not start the run's workflow: ${(err as Error).message}`);
      await deps.store.releaseLock(workspaceId, next.task_id);
    }
  }
}

/** Marks a run final (once) with its completion time and duration. */
export async function endTask(deps: Deps, task: Task, status: TaskStatus, errorMessage?: string | null): Promise<Task | null> {
  const completed = new Date();
  const started = new Date(task.started_at ?? task.created_at);
  const total = Math.max(0, completed.getTime() - started.getTime());
  return deps.store.updateTask(
    task,
    {
      status,
      stage: null,
      completed_at: completed.toISOString(),
      duration: Math.round(total) / 1000,
      stage_timings: { ...timingsWithCurrentStage(task), total },
      ...(errorMessage !== undefined ? { error_message: errorMessage } : {}),
    },
    ['pending', 'running', 'apply_pending'],
    ['confirmation_token', 'stage_started_at'],
  );
}

/** stage_timings with the stage in progress (timed from stage_started_at) closed now. */
export function timingsWithCurrentStage(task: Task, now = Date.now()): Record<string, number> {
  const timings = { ...task.stage_timings };
  if (task.stage && task.stage_started_at) timings[task.stage] = Math.max(0, now - new Date(task.stage_started_at).getTime());
  return timings;
}

export async function getTaskFor(deps: Deps, p: Principal, taskId: number, access: (wsId: string) => Promise<Workspace>): Promise<{ task: Task; ws: Workspace }> {
  const task = await deps.store.getTask(taskId);
  if (!task) throw notFound(`task ${taskId}`);
  const ws = await access(task.workspace_id).catch(() => {
    throw notFound(`task ${taskId}`);
  });
  void p;
  return { task, ws };
}

export async function confirmTask(deps: Deps, p: Principal, task: Task, ws: Workspace): Promise<Task> {
  if (ws.apply_requires_admin && p.role !== 'admin') throw forbidden(`workspace ${ws.name} requires an admin to confirm applies`);
  if (task.status !== 'apply_pending' || !task.confirmation_token) throw conflict(`task ${task.task_id} is ${task.status}; only apply_pending runs can be confirmed`);
  // The conditional write makes one of two concurrent confirmations win.
  const updated = await deps.store.updateTask(task, { status: 'running', stage: null, stage_timings: timingsWithCurrentStage(task) }, ['apply_pending'], ['confirmation_token', 'stage_started_at']);
  if (!updated) throw conflict(`task ${task.task_id} is no longer apply_pending`);
  await deps.workflow.sendTaskSuccess(task.confirmation_token, { decision: 'confirm', by: p.username });
  return updated;
}

export async function discardTask(deps: Deps, p: Principal, task: Task): Promise<Task> {
  if (task.status !== 'apply_pending' || !task.confirmation_token) throw conflict(`task ${task.task_id} is ${task.status}; only apply_pending runs can be discarded`);
  const ended = await endTask(deps, task, 'discarded');
  if (!ended) throw conflict(`task ${task.task_id} is no longer apply_pending`);
  await deps.workflow.sendTaskSuccess(task.confirmation_token, { decision: 'discard', by: p.username });
  return ended;
}

export async function cancelTask(deps: Deps, p: Principal, task: Task, force: boolean): Promise<Task> {
  void p;
  if (isFinal(task.status)) throw conflict(`task ${task.task_id} is already ${task.status}`);
  if (task.status === 'pending') {
    const ended = await endTask(deps, { ...task, started_at: null }, 'cancelled');
    if (ended?.status === 'cancelled' && task.status === 'pending') return ended;
    throw conflict(`task ${task.task_id} changed state; try again`);
  }
  if (task.status === 'apply_pending' && task.confirmation_token) {
    const ended = await endTask(deps, task, 'cancelled');
    if (!ended) throw conflict(`task ${task.task_id} changed state; try again`);
    await deps.workflow.sendTaskSuccess(task.confirmation_token, { decision: 'cancel' });
    return ended;
  }
  // Running: ask the runner to stop (as Ctrl-C, or at once with force); the run ends `cancelled`
  // when the workflow sees the request.
  const updated = await deps.store.updateTask(task, { cancel_requested: force ? 'force' : 'graceful' }, ['running', 'apply_pending']);
  if (!updated) throw conflict(`task ${task.task_id} changed state; try again`);
  await deps.runner.stop(task.task_id, force);
  return updated;
}

/** The public shape of a run: internal fields (tokens, runner refs) never leave. */
export function taskView(t: Task) {
  return {
    task_id: t.task_id,
    workspace_id: t.workspace_id,
    task_type: t.task_type,
    status: t.status,
    stage: t.stage,
    description: t.description,
    configuration_version_id: t.configuration_version_id,
    created_by: t.created_by,
    created_at: t.created_at,
    started_at: t.started_at,
    completed_at: t.completed_at,
    duration: t.duration,
    plan_changes: t.plan_changes,
    stage_timings: t.stage_timings,
    error_message: t.error_message,
    cancel_requested: t.cancel_requested ?? null,
    run_task_summary: t.run_task_summary ?? {},
    log_summary: t.log_summary,
  };
}

export function taskListItem(t: Task) {
  return {
    id: t.task_id,
    task_type: t.task_type,
    status: t.status,
    description: t.description,
    created_at: t.created_at,
    completed_at: t.completed_at,
    duration: t.duration,
    log_summary: t.log_summary,
  };
}
