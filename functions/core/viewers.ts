/**
 * Live-log viewers (SPEC §6): WebSocket connections that follow one run's log.
 *
 * Who sends to a connection, and when. Two kinds of actor reach viewers, each through the
 * management API (`@connections`): the subscribe handler, which replays stored history, and the
 * posters — the runner's sink after each stored batch, Finalize with `completed`. They must
 * never send to one connection at the same time (the viewer would see lines out of order), and
 * no line may fall between them. The subscription item decides:
 *
 *   1. subscribe registers the subscription as `owner: 'replay'` FIRST (posters skip it), sends
 *      `connected`, then every stored line after `after_line`;
 *   2. it hands over: `owner: 'live'`, `through` = the last line it sent, a new `epoch`;
 *   3. if lines were stored meanwhile, it takes the subscription back (a conditional write that
 *      fails once a poster has adopted it) and replays again; else it is done;
 *   4. a poster that lists a live subscription it does not hold adopts it (conditional write on
 *      the epoch) and first sends what was stored after `through` — the lines that fell between
 *      the replay and the live stream. From then on it sends every batch it stores.
 *
 * So each connection gets stored lines in order with no gap; a line comes twice only when a
 * viewer re-subscribes with an `after_line` below what it has. A poster that took over from an
 * earlier poster (the apply runner after the plan runner) knows that one sent everything it
 * stored. A viewer that cannot keep up (429, full buffer) or a post that fails is dropped rather
 * than waited for: the viewer reconnects with `after_line` and catches up from the store.
 */
import { randomUUID } from 'node:crypto';
import { authenticate, canAccessWorkspace, type Principal } from './auth.js';
import type { Deps } from './deps.js';
import type { LogMessage } from './logs.js';
import { isFinal, type Task } from './model.js';
import type { ConnectionsApi, LogSink, PostResult, Store, Subscription } from './ports.js';

/** API Gateway meters and frames WebSocket messages per 32 KB; one message never exceeds it. */
export const FRAME_BYTES = 32 * 1024;

/** What a viewer may be sent besides log lines. */
export type ControlMessage =
  | { type: 'connected'; task_id: number; client_id: string }
  | { type: 'completed'; task_id: number; status: string; last_line: number; timestamp: string }
  | { type: 'pong'; timestamp: string }
  | { type: 'request_error'; error: string; message: string };

export interface ViewerLimits {
  /** open connections per user (seed 001: 10) */
  perUser: number;
  /** subscribed viewers per run (seed 001: 100) */
  perTask: number;
}

export const DEFAULT_VIEWER_LIMITS: ViewerLimits = { perUser: 10, perTask: 100 };

export const CLOSE_REASONS = {
  tooSlow: 'fell behind the live log (its send buffer is full); reconnect with after_line to catch up',
  perUser: 'too many live-log connections for this user',
  perTask: 'too many viewers on this run',
  unknown: 'connection not registered; reconnect',
} as const;

function truncateLine<M extends { line: string }>(m: M, maxBytes: number): M {
  // JSON escapes a character into at most 6 bytes: this always fits.
  const keep = Math.max(0, Math.floor((maxBytes - 1024) / 6));
  return { ...m, line: `${m.line.slice(0, keep)} … [line truncated for live viewers: ${m.line.length} characters; the stored log has it whole]` };
}

/**
 * Packs messages into WebSocket messages (JSON arrays) of at most `maxBytes` bytes each, in
 * order. A single line too long for one message is truncated in the live copy only.
 */
export function frames(messages: readonly object[], maxBytes = FRAME_BYTES): string[] {
  const out: string[] = [];
  let parts: string[] = [];
  let size = 2;
  for (const m of messages) {
    let json = JSON.stringify(m);
    let bytes = Buffer.byteLength(json);
    if (bytes + 2 > maxBytes && typeof (m as { line?: unknown }).line === 'string') {
      json = JSON.stringify(truncateLine(m as { line: string }, maxBytes));
      bytes = Buffer.byteLength(json);
    }
    if (parts.length > 0 && size + 1 + bytes > maxBytes) {
      out.push(`[${parts.join(',')}]`);
      parts = [];
      size = 2;
    }
    size += bytes + (parts.length > 0 ? 1 : 0);
    parts.push(json);
  }
  if (parts.length > 0) out.push(`[${parts.join(',')}]`);
  return out;
}

const send = (api: ConnectionsApi, connectionId: string, message: ControlMessage) => api.post(connectionId, JSON.stringify(message));

/** Removes a viewer that cannot be sent to: gone (410) forgets it; otherwise it is closed, so it reconnects and catches up. */
async function dropViewer(store: Store, api: ConnectionsApi, taskId: number, connectionId: string, result: PostResult): Promise<void> {
  await store.deleteSubscription(taskId, connectionId).catch(() => undefined);
  if (result === 'gone') {
    await store.deleteViewerConnection(connectionId).catch(() => undefined);
    return;
  }
  await api.close(connectionId, CLOSE_REASONS.tooSlow).catch(() => undefined);
}

/**
 * Sends the stored lines in (after, upTo] in order. Returns the last line sent (`after` when
 * none), or null when the viewer had to be dropped.
 */
async function sendStored(store: Store, api: ConnectionsApi, taskId: number, connectionId: string, after: number, upTo = Infinity): Promise<number | null> {
  let through = after;
  for await (const chunk of store.readLog(taskId, after)) {
    const lines = chunk.filter((m) => m.line_num > through && m.line_num <= upTo);
    for (const frame of frames(lines)) {
      const r = await api.post(connectionId, frame);
      if (r !== 'ok') {
        await dropViewer(store, api, taskId, connectionId, r);
        return null;
      }
    }
    if (lines.length > 0) through = lines[lines.length - 1].line_num;
    if (chunk.length > 0 && chunk[chunk.length - 1].line_num >= upTo) break;
  }
  return through;
}

async function sendCompleted(store: Store, api: ConnectionsApi, task: Task, connectionId: string, lastLine: number): Promise<void> {
  if (!(await store.claimSubscriptionCompleted(task.task_id, connectionId))) return;
  await send(api, connectionId, { type: 'completed', task_id: task.task_id, status: task.status, last_line: lastLine, timestamp: new Date().toISOString() });
  // Nothing more will be sent for this run; the connection stays open for another subscribe.
  await store.deleteSubscription(task.task_id, connectionId);
}

// ---------- posters ----------

interface Held {
  /** `<poster id>:<epoch>` written in the subscription when this poster adopted it */
  key: string;
  through: number;
}

/** Not an API Gateway connection id (those are base64, 16 characters): always gone. */
const WARM_UP_CONNECTION = 'runway-warm-up';

/**
 * The runner's (and any other log writer's) sink: after LogWriter stored a batch, sends it to the
 * run's live viewers, in parallel across viewers and in order per viewer. Never waits on a viewer
 * beyond one bounded post; a viewer that cannot take it is dropped.
 */
export class LiveLogSink implements LogSink {
  private readonly id = randomUUID();
  private readonly held = new Map<number, Map<string, Held>>();
  /** adoptions started by `prepare`, which the run's first publish waits for */
  private readonly preparing = new Map<number, Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly api: ConnectionsApi,
  ) {}

  /** Adopts the run's live viewers ahead of the first batch (one conditional write each). */
  prepare(taskId: number, after: number): void {
    const ready = this.adoptAll(taskId, after).catch(() => undefined);
    this.preparing.set(taskId, ready);
    void ready.finally(() => {
      if (this.preparing.get(taskId) === ready) this.preparing.delete(taskId);
    });
  }

  /** A listing of no run's viewers, and a post to a connection that does not exist (gone). */
  async warm(): Promise<void> {
    await Promise.all([this.store.listSubscriptions(0), this.api.post(WARM_UP_CONNECTION, '[]')]);
  }

  private async adoptAll(taskId: number, after: number): Promise<void> {
    const live = (await this.store.listSubscriptions(taskId)).filter((s) => s.owner === 'live' && !s.completed);
    if (live.length === 0) return;
    let held = this.held.get(taskId);
    if (!held) this.held.set(taskId, (held = new Map()));
    await Promise.all(live.map((s) => this.adopt(taskId, held!, s, after + 1)));
  }

  /**
   * Takes a live subscription over, unless this poster holds it already; null when its subscribe
   * handler took it back (or it was re-subscribed) since it was listed: it catches up itself.
   */
  private async adopt(taskId: number, held: Map<string, Held>, s: Subscription, first: number): Promise<Held | null> {
    const h = held.get(s.connection_id);
    if (h && h.key === s.adopted) return h;
    const key = `${this.id}:${s.epoch}`;
    if (!(await this.store.adoptSubscription(taskId, s.connection_id, s.epoch, key, s.adopted))) return null;
    // From the replay: everything after `through`. From an earlier poster: it sent all it stored.
    const adopted = { key, through: s.adopted === undefined ? s.through : Math.max(s.through, first - 1) };
    held.set(s.connection_id, adopted);
    return adopted;
  }

  async publish(taskId: number, messages: LogMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.preparing.get(taskId);
    // Listed after the batch was stored, strongly consistent: a viewer that registered before the
    // store is listed here, one that registered after it found the batch in its replay.
    const subs = await this.store.listSubscriptions(taskId);
    if (subs.length === 0) {
      this.held.delete(taskId);
      return;
    }
    let held = this.held.get(taskId);
    if (!held) this.held.set(taskId, (held = new Map()));
    const listed = new Set(subs.map((s) => s.connection_id));
    for (const id of held.keys()) if (!listed.has(id)) held.delete(id);
    // Encoded once, posted to every viewer.
    let shared: Buffer[] | undefined;
    const framesOfBatch = () => (shared ??= frames(messages).map((f) => Buffer.from(f)));
    await Promise.all(subs.filter((s) => s.owner === 'live' && !s.completed).map((s) => this.deliver(taskId, held!, s, messages, framesOfBatch)));
  }

  private async deliver(taskId: number, held: Map<string, Held>, s: Subscription, messages: LogMessage[], framesOfBatch: () => Buffer[]): Promise<void> {
    const first = messages[0].line_num;
    const last = messages[messages.length - 1].line_num;
    const h = await this.adopt(taskId, held, s, first);
    if (!h) return;
    if (h.through >= last) return;
    if (h.through === first - 1) {
      for (const frame of framesOfBatch()) {
        const r = await this.api.post(s.connection_id, frame);
        if (r !== 'ok') {
          held.delete(s.connection_id);
          await dropViewer(this.store, this.api, taskId, s.connection_id, r);
          return;
        }
      }
      h.through = last;
      return;
    }
    // A gap before this batch (the viewer went live meanwhile): from the store, up to this batch.
    const through = await sendStored(this.store, this.api, taskId, s.connection_id, h.through, last);
    if (through === null) held.delete(s.connection_id);
    else h.through = through;
  }
}

/**
 * Finalize: `completed` to every live viewer of a run that has ended, after the lines no poster
 * sent it (a viewer that went live after the last batch).
 */
export async function announceCompleted(deps: Pick<Deps, 'store' | 'connections'>, taskId: number): Promise<void> {
  const api = deps.connections;
  if (!api) return;
  const task = await deps.store.getTask(taskId);
  if (!task || !isFinal(task.status)) return;
  const [subs, lastLine] = await Promise.all([deps.store.listSubscriptions(taskId), deps.store.lastLogLine(taskId)]);
  await Promise.all(
    subs
      .filter((s) => s.owner === 'live' && !s.completed)
      .map(async (s) => {
        if (s.adopted === undefined) {
          if (!(await deps.store.adoptSubscription(taskId, s.connection_id, s.epoch, `finalize-${randomUUID()}:${s.epoch}`, undefined))) return;
          if ((await sendStored(deps.store, api, taskId, s.connection_id, s.through)) === null) return;
        }
        await sendCompleted(deps.store, api, task, s.connection_id, lastLine);
      }),
  );
}

// ---------- the WebSocket routes ----------

export type ConnectResult = { ok: true; principal: Principal } | { ok: false; status: number; error: string; message: string };

/** `$connect`: the bearer token from `?token=`; an unknown token is refused before the socket opens. */
export async function connect(deps: Pick<Deps, 'store'>, connectionId: string, token: string | undefined): Promise<ConnectResult> {
  if (!token) return { ok: false, status: 401, error: 'unauthorized', message: 'token: the query parameter is required (?token=<bearer token>)' };
  let principal: Principal;
  try {
    principal = await authenticate(deps.store, `Bearer ${token}`);
  } catch {
    return { ok: false, status: 401, error: 'unauthorized', message: 'invalid bearer token' };
  }
  await deps.store.putViewerConnection({ connection_id: connectionId, ...principal, connected_at: new Date().toISOString() });
  return { ok: true, principal };
}

/** `$disconnect`: forgets the connection and its subscription. */
export async function disconnect(deps: Pick<Deps, 'store'>, connectionId: string): Promise<void> {
  const c = await deps.store.deleteViewerConnection(connectionId);
  if (c?.task_id !== undefined) await deps.store.deleteSubscription(c.task_id, connectionId);
}

export interface SubscribeInput {
  task_id: number;
  after_line: number;
}

/** Parses a `subscribe` body; a message naming the bad field otherwise. */
export function parseSubscribe(body: unknown): SubscribeInput | string {
  if (!body || typeof body !== 'object') return 'body: a JSON object is required';
  const b = body as Record<string, unknown>;
  const id = typeof b.task_id === 'string' && /^\d{1,12}$/.test(b.task_id) ? Number(b.task_id) : b.task_id;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) return 'task_id: must be a positive integer';
  const after = b.after_line ?? 0;
  if (typeof after !== 'number' || !Number.isSafeInteger(after) || after < 0) return 'after_line: must be an integer ≥ 0';
  return { task_id: id, after_line: after };
}

/**
 * How many of `ids` are open. Over `limit` only, each is checked with the management API:
 * $disconnect is best effort (and a stopped embedded default never sends it), so a connection
 * whose record outlived it must not count; its records are removed.
 */
async function countOpen(deps: Pick<Deps, 'store'>, api: ConnectionsApi, ids: string[], self: string, limit: number): Promise<number> {
  if (ids.length <= limit) return ids.length;
  const open = await Promise.all(ids.map((id) => (id === self ? true : api.exists(id))));
  await Promise.all(ids.filter((_, i) => !open[i]).map((id) => disconnect(deps, id)));
  return open.filter(Boolean).length;
}

/** How many times subscribe takes a subscription back to replay lines stored during its hand-over. */
const MAX_HANDOVERS = 20;

/**
 * `subscribe`: register first (as 'replay'), then `connected`, then the stored lines after
 * `after_line`, then hand over to the live stream; `completed` at once for a run that has ended.
 */
export async function subscribe(deps: Pick<Deps, 'store' | 'connections'>, connectionId: string, body: unknown, limits: ViewerLimits = DEFAULT_VIEWER_LIMITS): Promise<void> {
  const api = deps.connections;
  if (!api) throw new Error('live logs need the WebSocket management API (WEBSOCKET_MANAGEMENT_ENDPOINT)');
  const { store } = deps;
  const reject = (error: string, message: string) => send(api, connectionId, { type: 'request_error', error, message });
  const refuse = async (error: string, message: string, reason: string) => {
    await reject(error, message);
    await api.close(connectionId, reason);
  };

  const conn = await store.getViewerConnection(connectionId);
  if (!conn) return refuse('unknown_connection', 'this connection is not registered (it may have expired); reconnect', CLOSE_REASONS.unknown);
  const input = parseSubscribe(body);
  if (typeof input === 'string') return void (await reject('validation_error', input));
  const task = await store.getTask(input.task_id);
  const ws = task ? await store.getWorkspace(task.workspace_id) : null;
  if (!task || !ws || !canAccessWorkspace(conn, ws)) return void (await reject('not_found', `task ${input.task_id} not found`));

  const mine = (await store.listViewerConnections(conn.user_id)).map((c) => c.connection_id);
  if (!mine.includes(connectionId)) mine.push(connectionId);
  const userConnections = await countOpen(deps, api, mine, connectionId, limits.perUser);
  if (userConnections > limits.perUser) {
    return refuse('too_many_connections', `user ${conn.username} has ${userConnections} live-log connections open; the limit is ${limits.perUser} (VIEWER_LIMIT_PER_USER)`, CLOSE_REASONS.perUser);
  }
  const others = (await store.listSubscriptions(task.task_id)).map((s) => s.connection_id).filter((id) => id !== connectionId);
  const viewers = await countOpen(deps, api, others, connectionId, limits.perTask - 1);
  if (viewers >= limits.perTask) {
    return refuse('too_many_viewers', `task ${task.task_id} already has ${viewers} viewers; the limit is ${limits.perTask} (VIEWER_LIMIT_PER_TASK)`, CLOSE_REASONS.perTask);
  }
  if (conn.task_id !== undefined && conn.task_id !== task.task_id) await store.deleteSubscription(conn.task_id, connectionId);

  // 1. Register first: from now on no stored line can escape this viewer.
  let epoch = randomUUID();
  let through = input.after_line;
  await store.putSubscription({ task_id: task.task_id, connection_id: connectionId, user_id: conn.user_id, subscribed_at: new Date().toISOString(), owner: 'replay', epoch, through });
  if ((await send(api, connectionId, { type: 'connected', task_id: task.task_id, client_id: connectionId })) !== 'ok') {
    await store.deleteSubscription(task.task_id, connectionId);
    return;
  }

  let caughtUp = false;
  let lastLine = 0;
  for (let round = 0; round < MAX_HANDOVERS; round++) {
    // 2. History after what the viewer has.
    const sent = await sendStored(store, api, task.task_id, connectionId, through);
    if (sent === null) return;
    through = sent;
    // 3. Live from here on.
    const live = randomUUID();
    if (!(await store.handOverSubscription(task.task_id, connectionId, { owner: 'replay', epoch }, { owner: 'live', epoch: live, through }))) return; // re-subscribed meanwhile
    epoch = live;
    lastLine = await store.lastLogLine(task.task_id);
    if (lastLine <= through) {
      caughtUp = true;
      break;
    }
    // Stored during the hand-over: take it back unless a poster already adopted it (then it sends them).
    const back = randomUUID();
    if (!(await store.handOverSubscription(task.task_id, connectionId, { owner: 'live', epoch, unadopted: true }, { owner: 'replay', epoch: back, through }))) break;
    epoch = back;
  }
  if (!caughtUp) return; // a poster holds it (or, after MAX_HANDOVERS, adopts it with the gap)
  const now = await store.getTask(task.task_id);
  if (now && isFinal(now.status)) await sendCompleted(store, api, now, connectionId, lastLine);
}

/** The `ping` action: keeps the connection from API Gateway's 10-minute idle close. */
export async function pong(deps: Pick<Deps, 'connections'>, connectionId: string): Promise<void> {
  await deps.connections?.post(connectionId, JSON.stringify({ type: 'pong', timestamp: new Date().toISOString() } satisfies ControlMessage));
}

export async function unknownAction(deps: Pick<Deps, 'connections'>, connectionId: string, action: unknown): Promise<void> {
  const message = `action: ${JSON.stringify(action ?? null)} is not an action; send {"action":"subscribe","task_id":<id>,"after_line":<n>} or {"action":"ping"}`;
  await deps.connections?.post(connectionId, JSON.stringify({ type: 'request_error', error: 'unknown_action', message } satisfies ControlMessage));
}

// ---------- GET /api/v1/terraform/streams/stats ----------

export interface StreamStats {
  task_id: number;
  workspace_id: string;
  status: string;
  stage: string | null;
  clients_count: number;
  /** lines stored so far (stage markers included): the highest line_num */
  lines: number;
  started_at: string | null;
  /** seconds since the run started */
  uptime: number;
  /** the run has ended (its viewers get or got `completed`) */
  closed: boolean;
}

/** Runs being followed or running, with their viewer counts: those this principal may see. */
export async function streamStats(deps: Pick<Deps, 'store'>, principal: Principal): Promise<{ streams: StreamStats[]; count: number }> {
  const { store } = deps;
  const [subs, running, pending] = await Promise.all([store.listAllSubscriptions(), store.listTasksByStatus('running'), store.listTasksByStatus('apply_pending')]);
  const clients = new Map<number, number>();
  for (const s of subs) clients.set(s.task_id, (clients.get(s.task_id) ?? 0) + 1);
  const tasks = new Map<number, Task>();
  for (const t of [...running, ...pending]) tasks.set(t.task_id, t);
  for (const id of clients.keys()) {
    if (tasks.has(id)) continue;
    const t = await store.getTask(id);
    if (t) tasks.set(id, t);
  }
  const workspaces = new Map<string, boolean>();
  const now = Date.now();
  const streams: StreamStats[] = [];
  for (const t of [...tasks.values()].sort((a, b) => a.task_id - b.task_id)) {
    if (!workspaces.has(t.workspace_id)) {
      const ws = await store.getWorkspace(t.workspace_id);
      workspaces.set(t.workspace_id, !!ws && canAccessWorkspace(principal, ws));
    }
    if (!workspaces.get(t.workspace_id)) continue;
    streams.push({
      task_id: t.task_id,
      workspace_id: t.workspace_id,
      status: t.status,
      stage: t.stage,
      clients_count: clients.get(t.task_id) ?? 0,
      lines: await store.lastLogLine(t.task_id),
      started_at: t.started_at,
      uptime: t.started_at ? Math.max(0, (now - Date.parse(t.started_at)) / 1000) : 0,
      closed: isFinal(t.status),
    });
  }
  return { streams, count: streams.length };
}
