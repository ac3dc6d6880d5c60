/** Workspace settings: general fields, run tasks (seed 000 §5.3–5.4), deletion. */
import { useState } from 'react';
import { api, enc } from '../../api';
import { Card, ErrorNotice, Field, Notice } from '../../components/ui';
import { useSubmit } from '../../hooks';
import { navigate } from '../../router';
import { useSession } from '../../session';
import type { Workspace } from '../../types';
import { WorkspaceRunTasks } from './WorkspaceRunTasks';

const SECTIONS = [
  { id: 'general', label: 'General' },
  { id: 'run-tasks', label: 'Run tasks' },
  { id: 'danger', label: 'Delete workspace' },
];

export function SettingsTab({ ws, section, onChanged }: { ws: Workspace; section: string | null; onChanged: () => void }) {
  const active = SECTIONS.some((s) => s.id === section) ? section! : 'general';
  return (
    <div className="settings">
      <nav className="side-nav">
        {SECTIONS.map((s) => (
          <button key={s.id} type="button" className={`side-link${s.id === active ? ' active' : ''}`} onClick={() => navigate(`/workspaces/${enc(ws.name)}?tab=settings&section=${s.id}`)}>
            {s.label}
          </button>
        ))}
      </nav>
      <div className="settings-body">
        {active === 'general' && <General ws={ws} onChanged={onChanged} />}
        {active === 'run-tasks' && <WorkspaceRunTasks ws={ws} />}
        {active === 'danger' && <Danger ws={ws} />}
      </div>
    </div>
  );
}

function General({ ws, onChanged }: { ws: Workspace; onChanged: () => void }) {
  const { user } = useSession();
  const [description, setDescription] = useState(ws.description);
  const [mode, setMode] = useState(ws.execution_mode);
  const [autoApply, setAutoApply] = useState(ws.auto_apply);
  const [adminApply, setAdminApply] = useState(ws.apply_requires_admin);
  const [version, setVersion] = useState(ws.terraform_version);
  const [dir, setDir] = useState(ws.working_directory);
  const [saved, setSaved] = useState(false);

  const { error, onSubmit } = useSubmit(async () => {
    setSaved(false);
    const body: Record<string, unknown> = { description, execution_mode: mode, auto_apply: autoApply, terraform_version: version, working_directory: dir };
    if (adminApply !== ws.apply_requires_admin) body.apply_requires_admin = adminApply;
    await api.patch(`/workspaces/${enc(ws.workspace_id)}`, body);
    setSaved(true);
    onChanged();
  });

  return (
    <Card title="General">
      <form className="form" onSubmit={onSubmit}>
        <Field label="Description" htmlFor="set-description">
          <input id="set-description" value={description} onChange={(e) => setDescription(e.target.value)} />
        </Field>
        <div className="form-row">
          <Field label="Execution mode">
            <select value={mode} onChange={(e) => setMode(e.target.value as Workspace['execution_mode'])} aria-label="Execution mode">
              <option value="plan_and_apply">Plan and apply</option>
              <option value="plan_only">Plan only</option>
            </select>
          </Field>
          <Field label="Terraform version" htmlFor="set-version">
            <input id="set-version" value={version} onChange={(e) => setVersion(e.target.value)} />
          </Field>
        </div>
        <Field label="Working directory" hint="Relative to the configuration's root; empty for the root." htmlFor="set-dir">
          <input id="set-dir" value={dir} onChange={(e) => setDir(e.target.value)} />
        </Field>
        <label className="check">
          <input type="checkbox" checked={autoApply} onChange={(e) => setAutoApply(e.target.checked)} /> Auto-apply
        </label>
        <label className="check" title={user.role !== 'admin' ? 'Only an admin may change this' : undefined}>
          <input type="checkbox" checked={adminApply} disabled={user.role !== 'admin'} onChange={(e) => setAdminApply(e.target.checked)} /> Only admins may confirm applies
        </label>
        <ErrorNotice error={error} />
        {saved && <Notice tone="success">Saved.</Notice>}
        <div className="form-actions">
          <button type="submit" className="btn btn-primary">
            Save settings
          </button>
        </div>
      </form>
    </Card>
  );
}

function Danger({ ws }: { ws: Workspace }) {
  const [confirmName, setConfirmName] = useState('');
  const { error, onSubmit } = useSubmit(async () => {
    await api.delete(`/workspaces/${enc(ws.workspace_id)}`);
    navigate('/workspaces');
  });
  return (
    <Card title="Delete workspace" className="card-danger">
      <form className="form" onSubmit={onSubmit}>
        <p>Deleting a workspace removes its configuration versions, variables and state. Runs that are active or queued must be cancelled first.</p>
        <Field label={`Type ${ws.name} to confirm`} htmlFor="del-name">
          <input id="del-name" value={confirmName} onChange={(e) => setConfirmName(e.target.value)} />
        </Field>
        <ErrorNotice error={error} />
        <div className="form-actions">
          <button type="submit" className="btn btn-danger" disabled={confirmName !== ws.name}>
            Delete workspace
          </button>
        </div>
      </form>
    </Card>
  );
}
