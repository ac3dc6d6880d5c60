/** A workspace: its runs (and "Start run"), variables, configuration upload and settings. */
import { useState } from 'react';
import { api, enc } from '../api';
import { Badge, Card, Empty, ErrorNotice, Field, FormDialog, Spinner, StatusPill, Tabs } from '../components/ui';
import { formatSeconds, formatTime, timeAgo } from '../format';
import { useLoad, useSubmit } from '../hooks';
import { Link, navigate } from '../router';
import { isFinal, type Task, type TaskListItem, type Workspace } from '../types';
import { ConfigurationTab } from './workspace/Configuration';
import { SettingsTab } from './workspace/Settings';
import { VariablesTab } from './workspace/Variables';

const PAGE = 20;

export function WorkspacePage({ workspace, tab, section }: { workspace: string; tab: string; section: string | null }) {
  const ws = useLoad(() => api.get<Workspace>(`/workspaces/${enc(workspace)}`), [workspace], 5000);
  const [starting, setStarting] = useState(false);

  if (ws.error && !ws.data) {
    return (
      <div className="page">
        <ErrorNotice error={ws.error} />
        <Link to="/workspaces">← Workspaces</Link>
      </div>
    );
  }
  if (!ws.data) {
    return (
      <div className="page">
        <Spinner label="Loading workspace…" />
      </div>
    );
  }
  const w = ws.data;
  const select = (id: string) => navigate(`/workspaces/${enc(workspace)}?tab=${id}`);

  return (
    <div className="page">
      <div className="breadcrumbs">
        <Link to="/workspaces">Workspaces</Link> <span>/</span> <span>{w.name}</span>
      </div>
      <div className="page-header">
        <div>
          <h1 data-testid="workspace-name">{w.name}</h1>
          <p className="page-subtitle">
            {w.description || 'No description'} · <code>{w.workspace_id}</code>
          </p>
          <div className="inline gap-sm">
            <Badge>{w.execution_mode === 'plan_only' ? 'Plan only' : 'Plan & apply'}</Badge>
            {w.auto_apply && <Badge tone="accent">Auto-apply</Badge>}
            {w.apply_requires_admin && <Badge tone="warning">Admin confirms applies</Badge>}
            <Badge>Terraform {w.terraform_version}</Badge>
            {w.locked_by_task ? (
              <Badge tone="info" title="The workspace lock is held by this run">
                Locked by run #{w.locked_by_task}
              </Badge>
            ) : (
              <Badge tone="success">Unlocked</Badge>
            )}
            {w.state_serial !== null && w.state_serial !== undefined && <Badge>State serial {w.state_serial}</Badge>}
          </div>
        </div>
        <button type="button" className="btn btn-primary" onClick={() => setStarting(true)}>
          ▶ Start run
        </button>
      </div>
      <Tabs
        active={tab}
        onSelect={select}
        tabs={[
          { id: 'runs', label: 'Runs' },
          { id: 'variables', label: 'Variables' },
          { id: 'configuration', label: 'Configuration' },
          { id: 'settings', label: 'Settings' },
        ]}
      />
      {tab === 'runs' && <RunsTab ws={w} />}
      {tab === 'variables' && <VariablesTab ws={w} />}
      {tab === 'configuration' && <ConfigurationTab ws={w} onStartRun={() => setStarting(true)} />}
      {tab === 'settings' && <SettingsTab ws={w} section={section} onChanged={ws.reload} />}
      {starting && <StartRunDialog ws={w} onClose={() => setStarting(false)} />}
    </div>
  );
}

function RunsTab({ ws }: { ws: Workspace }) {
  const [offset, setOffset] = useState(0);
  const [status, setStatus] = useState('');
  const runs = useLoad(
    () => api.get<{ tasks: TaskListItem[]; total: number }>(`/workspaces/${enc(ws.workspace_id)}/tasks?limit=${PAGE}&offset=${offset}${status ? `&status=${status}` : ''}`),
    [ws.workspace_id, offset, status],
    (d) => (d?.tasks.some((t) => !isFinal(t.status)) ? 2000 : 8000),
  );
  const total = runs.data?.total ?? 0;

  return (
    <Card
      title="Runs"
      actions={
        <select
          aria-label="Filter by status"
          value={status}
          onChange={(e) => {
            setOffset(0);
            setStatus(e.target.value);
          }}
        >
          <option value="">All statuses</option>
          {['pending', 'running', 'apply_pending', 'success', 'failed', 'errored', 'cancelled', 'discarded'].map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      }
    >
      <ErrorNotice error={runs.error} />
      {runs.loading && !runs.data ? (
        <Spinner label="Loading runs…" />
      ) : !runs.data || runs.data.tasks.length === 0 ? (
        <Empty title={status ? `No ${status} runs` : 'No runs yet'}>Upload a configuration, then start a run.</Empty>
      ) : (
        <>
          <table className="table" data-testid="runs-table">
            <thead>
              <tr>
                <th>Run</th>
                <th>Status</th>
                <th>Started</th>
                <th>Duration</th>
                <th>Log</th>
              </tr>
            </thead>
            <tbody>
              {runs.data.tasks.map((t) => {
                const to = `/workspaces/${enc(ws.name)}/tasks/${t.id}`;
                return (
                  <tr key={t.id} className="row-link" onClick={() => navigate(to)} data-testid={`run-row-${t.id}`}>
                    <td>
                      <Link to={to} className="strong" onClick={(e) => e.stopPropagation()}>
                        #{t.id}
                      </Link>{' '}
                      <span className="muted small">{t.task_type === 'plan' ? 'plan' : 'plan & apply'}</span>
                      {t.description && <div className="muted small ellipsis">{t.description}</div>}
                    </td>
                    <td>
                      <StatusPill status={t.status} />
                    </td>
                    <td className="muted" title={formatTime(t.created_at)}>
                      {timeAgo(t.created_at)}
                    </td>
                    <td className="muted">{formatSeconds(t.duration)}</td>
                    <td className="log-summary">
                      <span className="small muted">
                        {t.log_summary.plan_lines} plan / {t.log_summary.apply_lines} apply lines
                      </span>
                      {t.log_summary.has_errors && (
                        <Badge tone="danger" title="The log has error lines">
                          errors
                        </Badge>
                      )}
                      {t.log_summary.last_line && <code className="last-line ellipsis">{t.log_summary.last_line}</code>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {total > PAGE && (
            <div className="pager">
              <button type="button" className="btn btn-sm" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                ← Newer
              </button>
              <span className="muted small">
                {offset + 1}–{Math.min(offset + PAGE, total)} of {total}
              </span>
              <button type="button" className="btn btn-sm" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
                Older →
              </button>
            </div>
          )}
        </>
      )}
    </Card>
  );
}

function StartRunDialog({ ws, onClose }: { ws: Workspace; onClose: () => void }) {
  const [type, setType] = useState<'plan' | 'plan_and_apply'>(ws.execution_mode === 'plan_only' ? 'plan' : 'plan_and_apply');
  const [description, setDescription] = useState('');

  const submit = useSubmit(async () => {
    const task = await api.post<Task>(`/workspaces/${enc(ws.workspace_id)}/tasks`, { task_type: type, description: description || undefined });
    navigate(`/workspaces/${enc(ws.name)}/tasks/${task.task_id}`);
  });

  return (
    <FormDialog id="start-run" title="Start a run" onClose={onClose} submit={submit} submitLabel={submit.busy ? 'Starting…' : 'Start run'}>
      <Field label="Run type">
        <div className="radio-cards">
          <label className={`radio-card${type === 'plan_and_apply' ? ' selected' : ''}${ws.execution_mode === 'plan_only' ? ' disabled' : ''}`}>
            <input type="radio" name="type" value="plan_and_apply" disabled={ws.execution_mode === 'plan_only'} checked={type === 'plan_and_apply'} onChange={() => setType('plan_and_apply')} />
            <span className="radio-title">Plan and apply</span>
            <span className="radio-text">{ws.auto_apply ? 'Applies as soon as the plan succeeds (auto-apply).' : 'Waits for your confirmation after the plan.'}</span>
          </label>
          <label className={`radio-card${type === 'plan' ? ' selected' : ''}`}>
            <input type="radio" name="type" value="plan" checked={type === 'plan'} onChange={() => setType('plan')} />
            <span className="radio-title">Plan only</span>
            <span className="radio-text">Shows what would change.</span>
          </label>
        </div>
      </Field>
      <Field label="Message (optional)" htmlFor="run-description">
        <input id="run-description" value={description} onChange={(e) => setDescription(e.target.value)} placeholder="Why this run?" />
      </Field>
      <p className="muted small">The run uses the latest configuration version uploaded to {ws.name}.</p>
    </FormDialog>
  );
}
