/**
 * Runs (tasks in the API, SPEC §4): creation, the per-workspace FIFO queue behind the workspace
 * lock, and the user's actions on a run (confirm, discard, cancel).
 */
import type { Principal } from './auth.js';
import type { Deps } from './deps.js';
import { conflict, forbidden, notFound, unprocessable } from './errors.js';
import { emptySummary } from './logs.js';
import { isFinal, type CreateTaskInput, type Task, type TaskStatus, type Workspace } from './model.js';
import { releaseOpenResults } from './run-task-execution.js';
import { announceCompleted } from './viewers.js';

export async function createTask(deps: Deps, p: Principal, ws: Workspace, input: CreateTaskInput): Promise<Task> {
  if (input.task_type === 'plan_and_apply' && ws.execution_mode === 'plan_only') {
    throw unprocessable(`task_type: workspace ${ws.name} is plan_only; only plan runs are allowed`);
  }
  if (input.task_type === 'plan_and_apply' && ws.auto_apply && ws.require_ticket_for_apply && !input.ticket) {
    throw unprocessable(`ticket: workspace ${ws.name} requires a change ticket to apply, and it applies automatically`);
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
    ticket: input.ticket ?? null,
    created_by_role: p.role,
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
 * Starts the oldest pending run of the workspace when its lock is free (and, with
 * MAX_CONCURRENT_RUNS, a run slot). Safe to call from anywhere at any time: the lock's and the
 * slot's conditional writes let one caller win. Returns false when no slot was free.
 */
export async function scheduleWorkspace(deps: Deps, workspaceId: string): Promise<boolean> {
  const max = deps.settings.maxConcurrentRuns;
  for (;;) {
    const holder = await deps.store.getLockHolder(workspaceId);
    if (holder !== null) {
      const t = await deps.store.getTask(holder);
      if (t && !isFinal(t.status)) return true; // busy
      await releaseRun(deps, workspaceId, holder); // a lock left by a run that ended
      continue;
    }
    const [next] = await deps.store.listPendingTasks(workspaceId);
    if (!next) return true;
    if (!(await deps.store.acquireLock(workspaceId, next.task_id))) return true; // another caller started one
    if (max !== null && !(await deps.store.acquireRunSlot(max))) {
      await deps.store.releaseLock(workspaceId, next.task_id); // all slots busy: it waits, pending
      return false;
    }
    const started = await deps.store.updateTask(next, { status: 'running', started_at: new Date().toISOString() }, ['pending']);
    if (!started) {
      await releaseRun(deps, workspaceId, next.task_id); // cancelled meanwhile: try the next
      continue;
    }
    try {
      await deps.workflow.startRun(started);
      return true;
    } catch (err) {
      await endTask(deps, started, 'errored', `could not start the run's workflow: ${(err as Error).message}`);
      await releaseRun(deps, workspaceId, next.task_id);
    }
  }
}

/** Frees what a run held: its workspace lock and, with it, its run slot. */
export async function releaseRun(deps: Deps, workspaceId: string, taskId: number): Promise<void> {
  const released = await deps.store.releaseLock(workspaceId, taskId);
  if (released && deps.settings.maxConcurrentRuns !== null) await deps.store.releaseRunSlot();
}

/**
 * After a run ends: its workspace's queue first; with MAX_CONCURRENT_RUNS, then the other
 * workspaces' queues, oldest run first, while slots are free.
 */
export async function scheduleAfter(deps: Deps, workspaceId: string): Promise<void> {
  if (!(await scheduleWorkspace(deps, workspaceId)) || deps.settings.maxConcurrentRuns === null) return;
  const pending = (await deps.store.listTasksByStatus('pending')).sort((a, b) => a.task_id - b.task_id);
  const seen = new Set<string>([workspaceId]);
  for (const t of pending) {
    if (seen.has(t.workspace_id)) continue;
    seen.add(t.workspace_id);
    if (!(await scheduleWorkspace(deps, t.workspace_id))) return;
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

export async function confirmTask(deps: Deps, p: Principal, task: Task, ws: Workspace, input: { ticket?: string } = {}): Promise<Task> {
  if (ws.apply_requires_admin && p.role !== 'admin') throw forbidden(`workspace ${ws.name} requires an admin to confirm applies`);
  if (task.status !== 'apply_pending' || !task.confirmation_token) throw conflict(`task ${task.task_id} is ${task.status}; only apply_pending runs can be confirmed`);
  const ticket = input.ticket ?? task.ticket ?? null;
  if (ws.require_ticket_for_apply && !ticket) throw unprocessable(`ticket: workspace ${ws.name} requires a change ticket to apply; confirm with {"ticket": "…"}`);
  // The conditional write makes one of two concurrent confirmations win.
  const updated = await deps.store.updateTask(
    task,
    { status: 'running', stage: null, stage_timings: timingsWithCurrentStage(task), ticket, confirmed_by: p.username, confirmed_at: new Date().toISOString() },
    ['apply_pending'],
    ['confirmation_token', 'stage_started_at'],
  );
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
    if (ended?.status === 'cancelled' && task.status === 'pending') {
      // No workflow ran, so no Finalize: tell the run's live viewers here.
      await announceCompleted(deps, ended.task_id).catch(() => undefined);
      return ended;
    }
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
  // A run waiting for its run tasks stops waiting now, not after their timeouts.
  await releaseOpenResults(deps, task.task_id, 'the run was cancelled');
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
    ticket: t.ticket ?? null,
    confirmed_by: t.confirmed_by ?? null,
    confirmed_at: t.confirmed_at ?? null,
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
    ticket: t.ticket ?? null,
    created_at: t.created_at,
    completed_at: t.completed_at,
    duration: t.duration,
    log_summary: t.log_summary,
  };
}
