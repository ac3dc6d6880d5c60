/**
 * System monitor (seed 004): active runs, the queue, live-log streams and viewers, the process.
 * Reads GET /system where the server has it; otherwise shows what the other endpoints tell.
 */
import { useEffect, useRef, useState } from 'react';
import { api, ApiError, enc } from '../api';
import { Card, Empty, ErrorNotice, Notice, Spinner, StatusPill } from '../components/ui';
import { formatDuration, stageLabel, timeAgo } from '../format';
import { useLoad } from '../hooks';
import { Link } from '../router';
import type { Meta, StreamStat, TaskListItem, TaskStatus, Workspace } from '../types';

interface ActiveRun {
  task_id: number;
  workspace_id?: string;
  workspace_name?: string;
  status: TaskStatus;
  stage?: string | null;
  started_at?: string | null;
  created_at?: string;
}

/** GET /api/v1/system (seed 004's monitor); every part optional, as servers may differ. */
interface SystemAnswer {
  runs?: {
    active?: number;
    running?: { task_id: number; workspace_id: string; stage?: string | null; started_at?: string | null }[];
    apply_pending?: { task_id: number; workspace_id: string }[];
    max_concurrent_runs?: number;
  };
  queue?: { depth?: number; oldest_created_at?: string | null };
  streams?: { active?: number; viewers?: number };
  process?: {
    pid?: number;
    uptime_seconds?: number;
    memory?: { rss_bytes?: number; heap_used_bytes?: number };
    cpu?: { user_ms?: number; system_ms?: number };
    load_average?: number[];
  };
}

interface MetricsSnapshot {
  counters?: Record<string, number>;
  timings?: Record<string, { count: number; avg_ms: number; max_ms: number; p50_ms: number | null; p99_ms: number | null }>;
}

const absent = <T,>(err: unknown, value: T): T => {
  if (err instanceof ApiError && (err.status === 404 || err.status === 405 || err.status === 403)) return value;
  throw err;
};

async function loadAll() {
  const [health, meta, system, streams, metrics, workspaces] = await Promise.all([
    api.get<{ status: string; version?: string; time?: string }>('/health').catch(() => null),
    api.get<Meta>('/meta').catch(() => null),
    api.get<SystemAnswer>('/system').catch((e) => absent(e, null)),
    api.get<{ streams: StreamStat[]; count: number }>('/terraform/streams/stats').catch((e) => absent(e, null)),
    api.get<{ metrics: MetricsSnapshot | null }>('/system/metrics').then((r) => r.metrics).catch((e) => absent(e, null)),
    api.get<{ workspaces: Workspace[] }>('/workspaces').then((r) => r.workspaces),
  ]);
  const names = new Map(workspaces.map((w) => [w.workspace_id, w.name]));
  let active: ActiveRun[];
  let queued: number;
  if (system?.runs) {
    active = [
      ...(system.runs.running ?? []).map((r) => ({ ...r, status: 'running' as const })),
      ...(system.runs.apply_pending ?? []).map((r) => ({ ...r, status: 'apply_pending' as const })),
    ];
    queued = system.queue?.depth ?? 0;
  } else {
    // Without /system: each workspace's runs that are not finished.
    const per = await Promise.all(
      workspaces.slice(0, 100).map(async (ws) => {
        const list = (status: string) => api.get<{ tasks: TaskListItem[] }>(`/workspaces/${enc(ws.workspace_id)}/tasks?status=${status}&limit=100`).then((r) => r.tasks).catch(() => []);
        return (await Promise.all(['running', 'apply_pending', 'pending'].map(list))).flat().map((t) => ({ task_id: t.id, workspace_id: ws.workspace_id, status: t.status, created_at: t.created_at }));
      }),
    );
    const all = per.flat();
    active = all.filter((r) => r.status !== 'pending');
    queued = all.length - active.length;
  }
  active = active.map((r) => ({ ...r, workspace_name: r.workspace_id ? names.get(r.workspace_id) : undefined })).sort((a, b) => a.task_id - b.task_id);
  return { health, meta, system, streams, metrics, active, queued, at: Date.now() };
}

function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function SystemPage() {
  const data = useLoad(loadAll, [], 5000);
  // CPU % from the change in the process's CPU time between two samples.
  const prev = useRef<{ at: number; cpuMs: number } | null>(null);
  const [cpuPercent, setCpuPercent] = useState<number | null>(null);
  useEffect(() => {
    const c = data.data?.system?.process?.cpu;
    if (!c || !data.data) return;
    const cpuMs = (c.user_ms ?? 0) + (c.system_ms ?? 0);
    const at = data.data.at;
    if (prev.current && at > prev.current.at) setCpuPercent((100 * (cpuMs - prev.current.cpuMs)) / (at - prev.current.at));
    else if (data.data.system?.process?.uptime_seconds) setCpuPercent((100 * cpuMs) / (data.data.system.process.uptime_seconds * 1000)); // average since start, until a second sample
    prev.current = { at, cpuMs };
  }, [data.data]);

  if (!data.data) {
    return (
      <div className="page">
        <h1>System</h1>
        <ErrorNotice error={data.error} />
        {!data.error && <Spinner label="Loading…" />}
      </div>
    );
  }
  const { health, meta, system, streams, metrics, active, queued } = data.data;
  const streamList = streams?.streams ?? [];
  const viewers = system?.streams?.viewers ?? streamList.reduce((n, s) => n + (s.clients_count ?? 0), 0);
  const streamCount = system?.streams?.active ?? streams?.count ?? null;
  const proc = system?.process;
  const running = active.filter((r) => r.status === 'running').length;

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1>System</h1>
          <p className="page-subtitle">
            {health?.status === 'ok' ? '● Healthy' : '○ Health unknown'} · version {meta?.version ?? health?.version ?? '—'}
            {proc?.pid !== undefined && ` · pid ${proc.pid}`} · refreshes every 5 s
          </p>
        </div>
      </div>
      <ErrorNotice error={data.error} />
      {!system && <Notice tone="info">This server has no system monitor endpoint (GET /api/v1/system, admin): process figures are not shown; runs and queue are counted from the workspaces.</Notice>}
      <div className="stats">
        <Stat label="Active runs" value={system?.runs?.max_concurrent_runs ? `${active.length} / ${system.runs.max_concurrent_runs}` : active.length} testId="stat-active" hint={active.length ? `${running} running, ${active.length - running} awaiting confirmation` : undefined} />
        <Stat label="Queued runs" value={queued} testId="stat-queue" hint={system?.queue?.oldest_created_at ? `oldest ${timeAgo(system.queue.oldest_created_at)}` : undefined} />
        <Stat label="Log streams" value={streamCount ?? '—'} testId="stat-streams" />
        <Stat label="Viewers" value={streams || system ? viewers : '—'} testId="stat-viewers" />
        {proc && (
          <>
            <Stat label="CPU" value={cpuPercent !== null ? `${cpuPercent.toFixed(1)} %` : '…'} hint={proc.load_average ? `load ${proc.load_average.map((l) => l.toFixed(2)).join(' ')}` : undefined} />
            <Stat label="Memory (RSS)" value={bytes(proc.memory?.rss_bytes)} hint={proc.memory?.heap_used_bytes !== undefined ? `heap ${bytes(proc.memory.heap_used_bytes)}` : undefined} />
            <Stat label="Uptime" value={proc.uptime_seconds !== undefined ? formatDuration(proc.uptime_seconds * 1000) : '—'} />
          </>
        )}
      </div>
      <div className="grid-2">
        <Card title="Active runs">
          {active.length === 0 ? (
            <Empty title="Nothing running">Runs that are running or waiting for confirmation show here.</Empty>
          ) : (
            <table className="table" data-testid="active-runs">
              <thead>
                <tr>
                  <th>Run</th>
                  <th>Workspace</th>
                  <th>Status</th>
                  <th>Since</th>
                </tr>
              </thead>
              <tbody>
                {active.map((r) => (
                  <tr key={r.task_id}>
                    <td>
                      <Link to={`/workspaces/${enc(r.workspace_name ?? r.workspace_id ?? '')}/tasks/${r.task_id}`}>#{r.task_id}</Link>
                    </td>
                    <td>{r.workspace_name ?? r.workspace_id}</td>
                    <td>
                      <StatusPill status={r.status} /> {r.stage && <span className="muted small">{stageLabel(r.stage)}</span>}
                    </td>
                    <td className="muted">{timeAgo(r.started_at ?? r.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
        <Card title="Live log streams">
          {!streams ? (
            <p className="muted">Stream statistics are not available on this server (GET /api/v1/terraform/streams/stats).</p>
          ) : streamList.length === 0 ? (
            <Empty title="No open streams">A stream opens while a run runs or someone watches it.</Empty>
          ) : (
            <table className="table" data-testid="streams-table">
              <thead>
                <tr>
                  <th>Run</th>
                  <th>Status</th>
                  <th>Viewers</th>
                  <th>Lines</th>
                </tr>
              </thead>
              <tbody>
                {streamList.map((s) => (
                  <tr key={s.task_id}>
                    <td>#{s.task_id}</td>
                    <td>
                      {typeof s.status === 'string' ? <StatusPill status={s.status as TaskStatus} /> : '—'}{' '}
                      {typeof s.stage === 'string' && <span className="muted small">{stageLabel(s.stage)}</span>}
                    </td>
                    <td className="num">{s.clients_count}</td>
                    <td className="num">{typeof s.lines === 'number' ? s.lines.toLocaleString('en-US') : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
      </div>
      {metrics && (metrics.counters || metrics.timings) && <MetricsCard m={metrics} />}
    </div>
  );
}

function Stat({ label, value, testId, hint }: { label: string; value: string | number; testId?: string; hint?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <div className="stat-value">{value}</div>
      <div className="stat-label">{label}</div>
      {hint && <div className="stat-hint">{hint}</div>}
    </div>
  );
}

function MetricsCard({ m }: { m: MetricsSnapshot }) {
  const counters = Object.entries(m.counters ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const timings = Object.entries(m.timings ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <Card title="Metrics since start">
      {counters.length === 0 && timings.length === 0 ? (
        <p className="muted">No metrics recorded yet.</p>
      ) : (
        <div className="grid-2">
          <table className="table">
            <thead>
              <tr>
                <th>Counter</th>
                <th className="right">Value</th>
              </tr>
            </thead>
            <tbody>
              {counters.map(([k, v]) => (
                <tr key={k}>
                  <td>
                    <code>{k}</code>
                  </td>
                  <td className="num right">{v.toLocaleString('en-US')}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <table className="table">
            <thead>
              <tr>
                <th>Timing</th>
                <th className="right">Count</th>
                <th className="right">p50</th>
                <th className="right">p99</th>
                <th className="right">Max</th>
              </tr>
            </thead>
            <tbody>
              {timings.map(([k, t]) => (
                <tr key={k}>
                  <td>
                    <code>{k}</code>
                  </td>
                  <td className="num right">{t.count}</td>
                  <td className="num right">{t.p50_ms !== null ? formatDuration(t.p50_ms) : '—'}</td>
                  <td className="num right">{t.p99_ms !== null ? formatDuration(t.p99_ms) : '—'}</td>
                  <td className="num right">{formatDuration(t.max_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}
