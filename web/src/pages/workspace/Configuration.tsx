/**
 * Configuration upload: a .tar.gz archive as is, or .tf files (or text typed here) as the JSON
 * `{files}` form (SPEC §3). Also the current state's outputs.
 */
import { useState, type ChangeEvent, type FormEvent } from 'react';
import { api, enc } from '../../api';
import { LockIcon } from '../../components/icons';
import { Card, Empty, ErrorNotice, Field, KeyValue, Notice, Spinner } from '../../components/ui';
import { formatTime } from '../../format';
import { useLoad } from '../../hooks';
import type { Workspace } from '../../types';

interface ConfigurationVersion {
  configuration_version_id: string;
  sha256: string;
  size_bytes: number;
  file_count?: number;
  created_at: string;
}

interface StateView {
  serial: number | null;
  lineage: string | null;
  task_id: number | null;
  created_at: string | null;
  outputs: Record<string, { value?: unknown; type?: unknown; sensitive?: boolean } | unknown>;
}

const EXAMPLE = `resource "terraform_data" "hello" {
  provisioner "local-exec" {
    command = "echo hello from Runway"
  }
}
`;

export function ConfigurationTab({ ws, onStartRun }: { ws: Workspace; onStartRun: () => void }) {
  const [uploaded, setUploaded] = useState<ConfigurationVersion | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const [fileName, setFileName] = useState('main.tf');
  const [text, setText] = useState(EXAMPLE);
  const state = useLoad(() => api.get<StateView>(`/workspaces/${enc(ws.workspace_id)}/state`), [ws.workspace_id]);
  const path = `/workspaces/${enc(ws.workspace_id)}/configuration-versions`;

  const run = async (send: () => Promise<ConfigurationVersion>) => {
    setBusy(true);
    setError(null);
    try {
      setUploaded(await send());
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };

  const onFiles = (e: ChangeEvent<HTMLInputElement>) => {
    const files = [...(e.target.files ?? [])];
    e.target.value = '';
    if (files.length === 0) return;
    const archive = files.find((f) => /\.(tar\.gz|tgz)$/i.test(f.name));
    if (archive) {
      void run(async () => api.post<ConfigurationVersion>(path, undefined, { raw: { body: await archive.arrayBuffer(), contentType: 'application/gzip' } }));
      return;
    }
    void run(async () => {
      const entries = await Promise.all(files.map(async (f) => [f.webkitRelativePath || f.name, await f.text()] as const));
      return api.post<ConfigurationVersion>(path, { files: Object.fromEntries(entries) });
    });
  };

  const submitText = (e: FormEvent) => {
    e.preventDefault();
    void run(() => api.post<ConfigurationVersion>(path, { files: { [fileName]: text } }));
  };

  return (
    <div className="grid-2-1">
      <div className="stack">
        <Card title="Upload a configuration">
          <p className="muted">
            Upload a <code>.tar.gz</code> of the configuration, or one or more <code>.tf</code> files. Each upload is a new configuration version; new runs use the latest.
          </p>
          <label className={`dropzone${busy ? ' busy' : ''}`}>
            <input type="file" multiple accept=".tf,.tfvars,.gz,.tgz,.json,.hcl" onChange={onFiles} data-testid="config-file-input" disabled={busy} />
            <span className="dropzone-title">{busy ? 'Uploading…' : 'Choose files'}</span>
            <span className="muted small">.tar.gz archive (up to 10 MiB) or .tf files</span>
          </label>
          {uploaded && (
            <Notice tone="success" testId="config-uploaded">
              <div>
                Uploaded <code>{uploaded.configuration_version_id}</code> ({uploaded.size_bytes} bytes{uploaded.file_count ? `, ${uploaded.file_count} files` : ''}).{' '}
                <button type="button" className="btn btn-sm btn-primary" onClick={onStartRun}>
                  Start run
                </button>
              </div>
              <div className="small mono ellipsis">sha256 {uploaded.sha256}</div>
            </Notice>
          )}
          <ErrorNotice error={error} />
        </Card>
        <Card title="Or write it here">
          <form className="form" onSubmit={submitText}>
            <Field label="File name" htmlFor="cfg-name">
              <input id="cfg-name" value={fileName} onChange={(e) => setFileName(e.target.value)} />
            </Field>
            <Field label="Content" htmlFor="cfg-text">
              <textarea id="cfg-text" className="mono" rows={12} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} />
            </Field>
            <div className="form-actions">
              <button type="submit" className="btn btn-primary" disabled={busy || !fileName || !text}>
                Upload as a configuration version
              </button>
            </div>
          </form>
        </Card>
      </div>
      <Card title="Current state">
        <ErrorNotice error={state.error} />
        {state.loading && !state.data ? (
          <Spinner />
        ) : !state.data || state.data.serial === null ? (
          <Empty title="No state yet">An apply creates the first state version.</Empty>
        ) : (
          <>
            <KeyValue
              items={[
                ['Serial', state.data.serial],
                ['Written by', state.data.task_id ? `run #${state.data.task_id}` : '—'],
                ['At', formatTime(state.data.created_at)],
              ]}
            />
            <h3 className="subhead">Outputs</h3>
            {Object.keys(state.data.outputs).length === 0 ? (
              <p className="muted small">No outputs.</p>
            ) : (
              <KeyValue items={Object.entries(state.data.outputs).map(([k, v]) => [<code key={k}>{k}</code>, <OutputValue key={k} v={v} />])} />
            )}
          </>
        )}
      </Card>
    </div>
  );
}

function OutputValue({ v }: { v: unknown }) {
  const o = v as { value?: unknown; sensitive?: boolean } | null;
  if (o && typeof o === 'object' && o.sensitive)
    return (
      <span className="sensitive inline">
        <LockIcon /> sensitive
      </span>
    );
  const value = o && typeof o === 'object' && 'value' in o ? o.value : v;
  return <code className="ellipsis">{typeof value === 'string' ? value : JSON.stringify(value)}</code>;
}
