/**
 * The audit chain (SPEC §7): every change appends an event whose `hash` covers the event and the
 * previous event's hash, so an edited or deleted event breaks the chain at that point.
 */
import { sha256 } from './ids.js';
import type { Store } from './ports.js';

export interface AuditEvent {
  event_id: string;
  seq: number;
  at: string;
  actor: string;
  action: string;
  resource: string;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export type AuditInput = Pick<AuditEvent, 'actor' | 'action' | 'resource'> & { details?: Record<string, unknown> };

export const GENESIS = '0'.repeat(64);

/** JSON with sorted keys: the hash must not depend on how a store orders map keys. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function hashEvent(e: Omit<AuditEvent, 'hash'>): string {
  return sha256(canonical({ event_id: e.event_id, seq: e.seq, at: e.at, actor: e.actor, action: e.action, resource: e.resource, details: e.details, prev_hash: e.prev_hash }));
}

/** Keys whose values never enter the audit log, at any depth. */
const SECRET_KEYS = /token|secret|password|hmac_key$|^value$/i;

function scrub(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) {
    if (v === undefined) continue;
    if (SECRET_KEYS.test(k) && typeof v === 'string') out[k] = '[redacted]';
    else if (v && typeof v === 'object' && !Array.isArray(v)) out[k] = scrub(v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}

export class AuditLog {
  constructor(private readonly store: Store) {}

  /** Appends made by this process, one after another (see append). */
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * Appends one event. Appends of this process are queued, so they never race each other (100
   * run-task callbacks at once exhausted the retries and answered 500); appends of other
   * processes (Lambdas) race on the head's conditional write and retry after a random pause.
   */
  append(input: AuditInput): Promise<AuditEvent> {
    const next = this.tail.then(() => this.appendNow(input));
    this.tail = next.catch(() => undefined);
    return next;
  }

  /**
   * The head as this process last wrote it: the next append tries it without reading; when another
   * process moved the head meanwhile, the conditional write fails and the head is read again.
   */
  private head: { seq: number; hash: string } | null | undefined = undefined;

  private async appendNow(input: AuditInput): Promise<AuditEvent> {
    for (let attempt = 0; attempt < 50; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, Math.random() * Math.min(200, 5 * 2 ** attempt)));
      const head = attempt === 0 && this.head !== undefined ? this.head : await this.store.getAuditHead();
      const seq = (head?.seq ?? 0) + 1;
      const base = {
        event_id: `ae-${seq}`,
        seq,
        at: new Date().toISOString(),
        actor: input.actor,
        action: input.action,
        resource: input.resource,
        details: scrub(input.details ?? {}),
        prev_hash: head?.hash ?? GENESIS,
      };
      const event: AuditEvent = { ...base, hash: hashEvent(base) };
      if (await this.store.appendAuditEvent(event, head?.seq ?? 0)) {
        this.head = { seq: event.seq, hash: event.hash };
        return event;
      }
      this.head = undefined;
    }
    throw new Error('could not append to the audit log: too much contention');
  }

  async list(filter: { resource?: string; actor?: string; after?: string }, limit = 1000): Promise<AuditEvent[]> {
    const afterSeq = /^ae-\d+$/.test(filter.after ?? '') ? Number(filter.after!.slice(3)) : 0;
    const afterTime = filter.after && !/^ae-\d+$/.test(filter.after) ? filter.after : null;
    const out: AuditEvent[] = [];
    for await (const page of this.store.readAuditEvents(afterSeq)) {
      for (const e of page) {
        if (filter.resource && e.resource !== filter.resource && !e.resource.startsWith(`${filter.resource}/`)) continue;
        if (filter.actor && e.actor !== filter.actor) continue;
        if (afterTime && e.at <= afterTime) continue;
        out.push(e);
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  /** Recomputes the chain: the first event whose hash, link or sequence is wrong is named. */
  async verify(): Promise<{ ok: boolean; events: number; first_bad_event_id: string | null }> {
    let prev = GENESIS;
    let expectSeq = 1;
    let n = 0;
    for await (const page of this.store.readAuditEvents(0)) {
      for (const e of page) {
        n++;
        const bad = e.seq !== expectSeq || e.prev_hash !== prev || hashEvent(e) !== e.hash;
        if (bad) return { ok: false, events: n, first_bad_event_id: e.event_id ?? `ae-${expectSeq}` };
        prev = e.hash;
        expectSeq++;
      }
    }
    const head = await this.store.getAuditHead();
    if (head && (head.seq !== expectSeq - 1 || head.hash !== prev)) return { ok: false, events: n, first_bad_event_id: `ae-${expectSeq}` };
    return { ok: true, events: n, first_bad_event_id: null };
  }
}
