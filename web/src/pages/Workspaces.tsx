/** The workspaces list, with each workspace's latest run, and the "New workspace" dialog. */
import { useState } from 'react';
import { api, enc } from '../api';
import { Badge, Card, Empty, ErrorNotice, Field, FormDialog, Spinner, StatusPill } from '../components/ui';
import { formatSeconds, timeAgo } from '../format';
import { useLoad, useSubmit } from '../hooks';
import { Link, navigate } from '../router';
import type { TaskListItem, Workspace } from '../types';

const NAME_PATTERN = /^[a-zA-Z0-9_-]{1,90}$/;

interface Row {
  ws: Workspace;
  latest: TaskListItem | null;
}

async function loadRows(): Promise<Row[]> {
  const { workspaces } = await api.get<{ workspaces: Workspace[] }>('/workspaces');
  const sorted = [...workspaces].sort((a, b) => a.name.localeCompare(b.name));
  // The latest run of each (bounded: the list is for people, not for a thousand workspaces).
  const latest = await Promise.all(
    sorted.slice(0, 100).map((ws) =>
      api
        .get<{ tasks: TaskListItem[] }>(`/workspaces/${enc(ws.workspace_id)}/tasks?limit=1`)
        .then((r) => r.tasks[0] ?? null)
        .catch(() => null),
    ),
  );
  return sorted.map((ws, i) => ({ ws, latest: latest[i] ?? null }));
}

export function WorkspacesPage() {
  const rows = useLoad(loadRows, [], 5000);
  const [creating, setCreating] = useState(false);

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1>Workspaces</h1>
          <p className="page-subtitle">Each workspace holds a Terraform configuration, its variables and its state.</p>
        </div>
        <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
          + New workspace
        </button>
      </div>
      <ErrorNotice error={rows.error} />
      <Card>
        {rows.loading && !rows.data ? (
          <Spinner label="Loading workspaces…" />
        ) : rows.data && rows.data.length === 0 ? (
          <Empty title="No workspaces yet">Create one, upload a configuration and start a run.</Empty>
        ) : (
          <table className="table" data-testid="workspaces-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Mode</th>
                <th>Latest run</th>
                <th>Duration</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {rows.data?.map(({ ws, latest }) => (
                <tr key={ws.workspace_id} className="row-link" onClick={() => navigate(`/workspaces/${enc(ws.name)}`)}>
                  <td>
                    <Link to={`/workspaces/${enc(ws.name)}`} className="strong" onClick={(e) => e.stopPropagation()}>
                      {ws.name}
                    </Link>
                    <div className="muted small">{ws.description || ws.workspace_id}</div>
                  </td>
                  <td>
                    <Badge>{ws.execution_mode === 'plan_only' ? 'Plan only' : 'Plan & apply'}</Badge> {ws.auto_apply && <Badge tone="accent">Auto-apply</Badge>}
                  </td>
                  <td>
                    {latest ? (
                      <span className="inline">
                        <StatusPill status={latest.status} /> <span className="muted small">#{latest.id} · {timeAgo(latest.created_at)}</span>
                      </span>
                    ) : (
                      <span className="muted">No runs</span>
                    )}
                  </td>
                  <td className="muted">{latest ? formatSeconds(latest.duration) : '—'}</td>
                  <td className="muted">{timeAgo(ws.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {creating && <NewWorkspaceDialog onClose={() => setCreating(false)} />}
    </div>
  );
}

function NewWorkspaceDialog({ onClose }: { onClose: () => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [mode, setMode] = useState<'plan_and_apply' | 'plan_only'>('plan_and_apply');
  const [autoApply, setAutoApply] = useState(false);
  const [adminApply, setAdminApply] = useState(false);
  const nameError = name && !NAME_PATTERN.test(name) ? 'Use 1–90 letters, digits, dashes and underscores.' : null;

  const submit = useSubmit(async () => {
    const ws = await api.post<Workspace>('/workspaces', { name, description: description || undefined, execution_mode: mode, auto_apply: autoApply, apply_requires_admin: adminApply });
    navigate(`/workspaces/${enc(ws.name)}?tab=configuration`);
  });

  return (
    <FormDialog id="new-workspace" title="New workspace" onClose={onClose} submit={submit} submitLabel={submit.busy ? 'Creating…' : 'Create workspace'} disabled={!name || !!nameError}>
      <Field label="Name" hint="Letters, digits, dashes and underscores; unique." error={nameError} htmlFor="ws-name">
        <input id="ws-name" name="name" value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. network-prod" required />
      </Field>
      <Field label="Description (optional)" htmlFor="ws-description">
        <input id="ws-description" name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </Field>
      <Field label="Execution mode">
        <div className="radio-cards">
          <label className={`radio-card${mode === 'plan_and_apply' ? ' selected' : ''}`}>
            <input type="radio" name="mode" checked={mode === 'plan_and_apply'} onChange={() => setMode('plan_and_apply')} />
            <span className="radio-title">Plan and apply</span>
            <span className="radio-text">Runs plan, then apply after confirmation.</span>
          </label>
          <label className={`radio-card${mode === 'plan_only' ? ' selected' : ''}`}>
            <input type="radio" name="mode" checked={mode === 'plan_only'} onChange={() => setMode('plan_only')} />
            <span className="radio-title">Plan only</span>
            <span className="radio-text">Speculative plans; nothing is applied.</span>
          </label>
        </div>
      </Field>
      <label className="check">
        <input type="checkbox" checked={autoApply} onChange={(e) => setAutoApply(e.target.checked)} /> Auto-apply: apply a successful plan without confirmation
      </label>
      <label className="check">
        <input type="checkbox" checked={adminApply} onChange={(e) => setAdminApply(e.target.checked)} /> Only admins may confirm applies
      </label>
    </FormDialog>
  );
}
