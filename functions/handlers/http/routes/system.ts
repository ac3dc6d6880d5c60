/** Health, meta, users and the system monitor (SPEC §2, §9; seed 004). */
import { loadavg } from 'node:os';
import { requireAdmin } from '../../../core/auth.js';
import { conflict } from '../../../core/errors.js';
import { newId, newToken, sha256 } from '../../../core/ids.js';
import { createUserInput, type User } from '../../../core/model.js';
import { json, route } from '../http.js';

export const health = route(async (req) => json(200, { status: 'ok', version: req.deps.settings.version, time: new Date().toISOString() }), { public: true });

export const meta = route(
  async (req) => {
    const base = req.deps.settings.publicUrl;
    const ws = process.env.WEBSOCKET_URL ?? `${base.replace(/^http/, 'ws')}/ws`;
    return json(200, { version: req.deps.settings.version, api_url: `${base}/api/v1`, websocket_url: ws });
  },
  { public: true },
);

export const me = route(async (req) => json(200, req.principal));

export const createUser = route(async (req) => {
  requireAdmin(req.principal);
  const input = req.json(createUserInput);
  const token = newToken();
  const user: User = { user_id: newId('user'), username: input.username, role: input.role, teams: input.teams ?? [], created_at: new Date().toISOString() };
  try {
    await req.deps.store.createUser(user, sha256(token));
  } catch (err) {
    throw (err as { status?: number }).status === 409 ? conflict(`username: ${input.username} is taken`) : err;
  }
  return json(201, { ...user, token });
}, { audit: 'user.create' });

export const listUsers = route(async (req) => {
  requireAdmin(req.principal);
  return json(200, { users: await req.deps.store.listUsers() });
});

/** Seed 004's system monitor: runs, queue, live streams and viewers, the process itself. */
export const monitor = route(async (req) => {
  requireAdmin(req.principal);
  const [running, applyPending, pending, subscriptions] = await Promise.all([
    req.deps.store.listTasksByStatus('running'),
    req.deps.store.listTasksByStatus('apply_pending'),
    req.deps.store.listTasksByStatus('pending'),
    req.deps.store.listAllSubscriptions(),
  ]);
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  return json(200, {
    runs: {
      active: running.length + applyPending.length,
      running: running.map((t) => ({ task_id: t.task_id, workspace_id: t.workspace_id, stage: t.stage, started_at: t.started_at })),
      apply_pending: applyPending.map((t) => ({ task_id: t.task_id, workspace_id: t.workspace_id })),
      max_concurrent_runs: req.deps.settings.maxConcurrentRuns,
    },
    queue: { depth: pending.length, oldest_created_at: pending.reduce<string | null>((m, t) => (m === null || t.created_at < m ? t.created_at : m), null) },
    streams: { active: new Set(subscriptions.map((s) => s.task_id)).size, viewers: subscriptions.length },
    process: {
      pid: process.pid,
      uptime_seconds: Math.round(process.uptime()),
      memory: { rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed },
      cpu: { user_ms: Math.round(cpu.user / 1000), system_ms: Math.round(cpu.system / 1000) },
      load_average: loadavg(),
    },
  });
});
