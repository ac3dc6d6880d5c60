/**
 * The steps of a run's state machine (functions/workflow/definition.ts), as plain functions.
 * Each records what it decided in the task item; the state carries only what Choice states read.
 */
import type { Deps } from './deps.js';
import { LogWriter } from './logs.js';
import { isFinal, type Task, type TaskStatus } from './model.js';
import { endTask, releaseRun, scheduleAfter, scheduleWorkspace } from './tasks.js';
import { announceCompleted } from './viewers.js';

async function mustGetTask(deps: Deps, taskId: number): Promise<Task> {
  const task = await deps.store.getTask(taskId);
  if (!task) throw new Error(`task ${taskId} not found`);
  return task;
}

/** Begin: the execution has started; a cancel that raced the start ends the run here. */
export async function begin(deps: Deps, taskId: number): Promise<void> {
  const task = await mustGetTask(deps, taskId);
  if (task.cancel_requested) await deps.store.updateTask(task, { final_status: 'cancelled' });
}

export interface PhaseDecision {
  outcome: 'success' | 'failed' | 'cancelled' | 'errored';
  /** after a plan: none (finish), auto (apply now), confirm (wait for a person) */
  apply: 'none' | 'auto' | 'confirm';
}

/** After a runner phase: read what the runner reported and decide what comes next. */
export async function afterPhase(deps: Deps, taskId: number, phase: 'plan' | 'apply', workspaceId?: string): Promise<PhaseDecision> {
  const [task, early] = await Promise.all([mustGetTask(deps, taskId), workspaceId ? deps.store.getWorkspace(workspaceId) : null]);
  const result = task.phase_results?.[phase];
  let outcome: PhaseDecision['outcome'];
  let message: string | null | undefined;
  if (task.cancel_requested) outcome = 'cancelled';
  else if (!result) {
    outcome = 'errored';
    message = task.error_message ?? `the ${phase} runner stopped without reporting a result`;
  } else {
    outcome = result.outcome;
    message = result.message ?? null;
  }
  if (outcome !== 'success') {
    await deps.store.updateTask(task, { final_status: outcome as TaskStatus, ...(message ? { error_message: message } : {}) });
    return { outcome, apply: 'none' };
  }
  if (phase === 'apply') return { outcome, apply: 'none' };
  const ws = early?.workspace_id === task.workspace_id ? early : await deps.store.getWorkspace(task.workspace_id);
  const wantsApply = task.task_type === 'plan_and_apply' && ws?.execution_mode !== 'plan_only' && result?.has_changes !== false;
  if (!wantsApply) return { outcome, apply: 'none' };
  // auto_apply never bypasses the workspace's guards: without an admin's run or a ticket, a person confirms.
  const guardsMet = (!ws?.apply_requires_admin || task.created_by_role === 'admin') && (!ws?.require_ticket_for_apply || !!task.ticket);
  return { outcome, apply: ws?.auto_apply && guardsMet ? 'auto' : 'confirm' };
}

/** The apply-confirmation wait: store the task token where confirm/discard/cancel find it. */
export async function awaitConfirmation(deps: Deps, taskId: number, token: string): Promise<void> {
  const task = await mustGetTask(deps, taskId);
  if (task.cancel_requested) {
    await deps.store.updateTask(task, { final_status: 'cancelled' });
    await deps.workflow.sendTaskSuccess(token, { decision: 'cancel' });
    return;
  }
  await deps.store.updateTask(
    task,
    { status: 'apply_pending', stage: 'apply_pending', stage_started_at: new Date().toISOString(), confirmation_token: token },
    ['running'],
  );
}

export interface WorkflowError {
  Error?: string;
  Cause?: string;
}

function describeError(e: WorkflowError): string {
  let cause = e.Cause ?? '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: string };
    if (parsed.errorMessage) cause = parsed.errorMessage;
  } catch {
    /* a plain string */
  }
  if (e.Error === 'States.Timeout') return `a step of the run timed out${cause ? `: ${cause}` : ''}`;
  return `the run failed in the platform: ${e.Error ?? 'error'}${cause ? `: ${cause}` : ''}`;
}

/** Finalize: the run's final status, its lock released, the next queued run started. */
export async function finalize(deps: Deps, taskId: number, error?: WorkflowError): Promise<void> {
  const task = await mustGetTask(deps, taskId);
  if (!isFinal(task.status)) {
    let status: TaskStatus = task.final_status ?? 'success';
    let message: string | null | undefined;
    if (error) {
      status = task.cancel_requested ? 'cancelled' : 'errored';
      message = describeError(error);
    }
    await endTask(deps, task, status, message);
  }
  await releaseRun(deps, task.workspace_id, task.task_id);
  await scheduleAfter(deps, task.workspace_id);
  // Live viewers: the lines no runner sent them, then `completed` (best effort: they can resubscribe).
  await announceCompleted(deps, taskId).catch((err: Error) => console.error(JSON.stringify({ level: 'WARN', message: 'announcing completed to viewers failed', task_id: taskId, error: err.message })));
}

/**
 * Embedded default start-up: runs that were in flight when the process died cannot resume (their
 * executions lived in that process). They end `errored`, their locks are freed, queues move on.
 */
export async function recoverInterrupted(deps: Deps): Promise<number[]> {
  const recovered: number[] = [];
  const workspaces = new Set<string>();
  for (const status of ['running', 'apply_pending'] as const) {
    for (const task of await deps.store.listTasksByStatus(status)) {
      const ended = await endTask(deps, task, 'errored', 'Runway stopped while this run was in flight; start a new run');
      if (ended) {
        const log = new LogWriter({ taskId: task.task_id, startAfter: await deps.store.lastLogLine(task.task_id), store: deps.store });
        log.output('stderr', 'Error: Runway stopped while this run was in flight; the run was ended.', task.stage && ['restoring_plan', 'pre_apply', 'applying', 'post_apply', 'saving_state', 'apply_pending'].includes(task.stage) ? 'apply' : 'plan');
        await log.flush();
        await deps.store.updateTask(ended, { log_last_line: log.lastLine, log_summary: { ...ended.log_summary, has_errors: true } });
      }
      await deps.store.releaseLock(task.workspace_id, task.task_id);
      recovered.push(task.task_id);
      workspaces.add(task.workspace_id);
    }
  }
  // Nothing runs any more: every run slot is free.
  if (deps.settings.maxConcurrentRuns !== null) await deps.store.resetRunSlots(0);
  const pending = (await deps.store.listTasksByStatus('pending')).sort((a, b) => a.task_id - b.task_id);
  for (const t of pending) workspaces.add(t.workspace_id);
  for (const ws of workspaces) if (!(await scheduleWorkspace(deps, ws))) break;
  return recovered;
}
