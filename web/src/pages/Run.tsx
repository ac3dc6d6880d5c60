/**
 * A run: status and actions (confirm / discard / cancel), the stage progress bar, run-task
 * results by stage, and the log viewer (live over the WebSocket, or the stored log once ended).
 */
import { useState } from 'react';
import { api, ApiError, enc } from '../api';
import { normalizeResults, RunTaskResults } from '../components/RunTaskResults';
import { StageProgressBar } from '../components/StageProgressBar';
import { Badge, Card, ErrorNotice, Notice, Spinner, StatusPill } from '../components/ui';
import { formatSeconds, formatTime, timeAgo } from '../format';
import { useLoad } from '../hooks';
import { LogViewer } from '../logs/LogViewer';
import { useRunLog, type StageMarks } from '../logs/useRunLog';
import { Link } from '../router';
import { useSession } from '../session';
import { isFinal, type RunTaskResult, type Task, type Workspace } from '../types';

export function RunPage({ workspace, taskId }: { workspace: string; taskId: number }) {
  const { user } = useSession();
  const task = useLoad(() => api.get<Task>(`/tasks/${taskId}`), [taskId], (t) => (t && isFinal(t.status) ? null : 1500));
  const ws = useLoad(() => api.get<Workspace>(`/workspaces/${enc(workspace)}`), [workspace]);
  const final = task.data ? isFinal(task.data.status) : undefined;
  const results = useLoad(
    () =>
      api
        .get<unknown>(`/workspaces/${enc(workspace)}/tasks/${taskId}/run-task-results`)
        .then(normalizeResults)
        // Until the run-task API answers (or where it is absent), the page shows no results card.
        .catch((err) => (err instanceof ApiError && (err.status === 404 || err.status === 405) ? ([] as RunTaskResult[]) : Promise.reject(err))),
    [workspace, taskId],
    // While the run may still change them; the last poll after it ends reads the final results.
    () => (final === true ? null : 2000),
  );
  const [marks, setMarks] = useState<StageMarks>({ starts: {}, ends: {}, active: null });
  const log = useRunLog(taskId, final, setMarks);
  const [actionError, setActionError] = useState<Error | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  if (task.error && !task.data) {
    return (
      <div className="page">
        <ErrorNotice error={task.error} />
        <Link to={`/workspaces/${enc(workspace)}`}>← Back to the workspace</Link>
      </div>
    );
  }
  if (!task.data) {
    return (
      <div className="page">
        <Spinner label="Loading run…" />
      </div>
    );
  }
  const t = task.data;
  const wsName = ws.data?.name ?? workspace;

  const act = async (action: 'confirm' | 'discard' | 'cancel' | 'force-cancel') => {
    if (action === 'force-cancel' && !confirm('Kill Terraform at once? State it has not saved may be lost.')) return;
    setBusy(action);
    setActionError(null);
    try {
      const path = action === 'force-cancel' ? `/tasks/${taskId}/cancel?force=true` : `/tasks/${taskId}/${action}`;
      await api.post<Task>(path);
      await task.reload();
    } catch (err) {
      setActionError(err as Error);
    } finally {
      setBusy(null);
    }
  };

  const canConfirm = t.status === 'apply_pending' && (!ws.data?.apply_requires_admin || user.role === 'admin');
  const running = !isFinal(t.status);

  return (
    <div className="page">
      <div className="breadcrumbs">
        <Link to="/workspaces">Workspaces</Link> <span>/</span> <Link to={`/workspaces/${enc(wsName)}`}>{wsName}</Link> <span>/</span> <span>Run #{t.task_id}</span>
      </div>
      <div className="page-header">
        <div>
          <div className="inline gap-sm">
            <h1>Run #{t.task_id}</h1>
            <StatusPill status={t.status} />
            <Badge>{t.task_type === 'plan' ? 'Plan' : 'Plan & apply'}</Badge>
          </div>
          <p className="page-subtitle">
            {t.description ? <span className="strong">{t.description} · </span> : null}
            Queued by {t.created_by} {timeAgo(t.created_at)} · {t.started_at ? `started ${formatTime(t.started_at)}` : 'waiting for the workspace lock'}
            {t.duration !== null && ` · took ${formatSeconds(t.duration)}`}
          </p>
          {t.plan_changes && (
            <div className="changes" data-testid="plan-changes">
              <span className="chg chg-add">+{t.plan_changes.add} to add</span>
              <span className="chg chg-change">~{t.plan_changes.change} to change</span>
              <span className="chg chg-destroy">−{t.plan_changes.destroy} to destroy</span>
            </div>
          )}
        </div>
        <div className="actions">
          {t.status === 'apply_pending' && (
            <>
              <button type="button" className="btn btn-primary" onClick={() => act('confirm')} disabled={!!busy || !canConfirm} title={canConfirm ? undefined : 'Only an admin may confirm applies in this workspace'}>
                {busy === 'confirm' ? 'Confirming…' : 'Confirm & apply'}
              </button>
              <button type="button" className="btn" onClick={() => act('discard')} disabled={!!busy}>
                Discard
              </button>
            </>
          )}
          {running && (
            <button type="button" className="btn btn-danger-outline" onClick={() => act('cancel')} disabled={!!busy || !!t.cancel_requested}>
              {t.cancel_requested ? 'Cancelling…' : 'Cancel run'}
            </button>
          )}
          {running && t.cancel_requested === 'graceful' && (
            <button type="button" className="btn btn-danger" onClick={() => act('force-cancel')} disabled={!!busy}>
              Force cancel
            </button>
          )}
        </div>
      </div>
      <ErrorNotice error={actionError} />
      {t.status === 'apply_pending' && (
        <Notice tone="warning" testId="needs-confirmation">
          The plan is ready{t.plan_changes ? ` (+${t.plan_changes.add} ~${t.plan_changes.change} −${t.plan_changes.destroy})` : ''}. Review the log, then confirm to apply it or discard it.
        </Notice>
      )}
      {t.error_message && (
        <Notice tone={t.status === 'cancelled' ? 'info' : 'danger'} testId="run-error">
          {t.error_message}
        </Notice>
      )}
      <Card title="Progress">
        <StageProgressBar task={t} marks={marks} />
      </Card>
      <ErrorNotice error={results.error} />
      {results.data && results.data.length > 0 && <RunTaskResults results={results.data} />}
      <Card title="Log" className="card-flush">
        <LogViewer log={log} taskId={taskId} />
      </Card>
    </div>
  );
}
