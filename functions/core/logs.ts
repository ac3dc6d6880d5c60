/**
 * Run logs: numbered messages (terraform lines and stage markers), masking of sensitive values,
 * and the writer that stores them in order and then hands them to live viewers.
 */
import type { LogSummary, Stage, Task } from './model.js';
import type { LogSink, Store } from './ports.js';

export type Phase = 'plan' | 'apply';

export interface OutputMessage {
  type: 'output' | 'error';
  line: string;
  timestamp: string;
  line_num: number;
  stream: 'stdout' | 'stderr';
  phase: Phase;
}

export interface StageMarkerMessage {
  type: 'stage_marker';
  line: string;
  timestamp: string;
  line_num: number;
  stage: Stage;
  status: 'begin' | 'end';
  phase: Phase;
}

export type LogMessage = OutputMessage | StageMarkerMessage;

/** `2025-10-11 19:30:15.800` (UTC), as seed 001 prints markers. */
export function markerTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

export function markerLine(stage: Stage, status: 'begin' | 'end', at: Date): string {
  return `========== ${stage.toUpperCase()} ${status.toUpperCase()} at ${markerTime(at)} ==========`;
}

/** Which half of the log a stage belongs to. */
export function phaseOfStage(stage: Stage): Phase {
  return ['fetching', 'init', 'pre_plan', 'planning', 'post_plan', 'saving_plan'].includes(stage) ? 'plan' : 'apply';
}

/**
 * Replaces every sensitive value with `***`. Longest values first, so a value that contains
 * another is masked whole. Multi-line values are masked line by line (lines are masked one at a time).
 */
export function createMasker(sensitiveValues: string[]): (line: string) => string {
  const parts = new Set<string>();
  for (const v of sensitiveValues) {
    for (const piece of v.split(/\r?\n/)) if (piece.trim().length > 0) parts.add(piece);
  }
  if (parts.size === 0) return (line) => line;
  const escaped = [...parts].sort((a, b) => b.length - a.length).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = new RegExp(escaped.join('|'), 'g');
  return (line) => line.replace(re, '***');
}

export function emptySummary(): LogSummary {
  return { plan_lines: 0, apply_lines: 0, has_errors: false, last_line: '' };
}

/** Folds one message into a summary, in place (markers are not counted as lines). */
function addToSummary(s: LogSummary, m: LogMessage): void {
  if (m.type === 'stage_marker') return;
  if (m.phase === 'plan') s.plan_lines++;
  else s.apply_lines++;
  if (!s.has_errors && (m.type === 'error' || /^(│ )?Error: /.test(m.line))) s.has_errors = true;
  if (m.line.trim() !== '') s.last_line = m.line;
}

/** Folds messages into a task's log summary (markers are not counted as lines). */
export function summarize(summary: LogSummary, messages: readonly LogMessage[]): LogSummary {
  const s = { ...summary };
  for (const m of messages) addToSummary(s, m);
  return s;
}

/**
 * A stored chunk is one DynamoDB item (≤ 400 KB): fewer, larger chunks cost a busy run far less
 * than many small ones (each is a write, a listing of viewers and their posts).
 */
const MAX_CHUNK_BYTES = 320 * 1024;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** An upper bound on the bytes of a message holding `line`, as JSON: printable ASCII takes ≤ 2 bytes a character, anything ≤ 6. */
function jsonBytesBound(line: string): number {
  return line.length * (PRINTABLE_ASCII.test(line) ? 2 : 6) + 160;
}

export interface LogWriterOptions {
  taskId: number;
  /** the last line_num already stored for this run */
  startAfter: number;
  store: Store;
  sink?: LogSink;
  mask?: (line: string) => string;
  /** chunk limits: DynamoDB items hold ≤ 400 KB; viewers get ≤ 32 KB frames (the sink splits them) */
  maxChunkLines?: number;
  maxChunkBytes?: number;
  now?: () => Date;
  /** when given, every line written (masked) is handed here too (the runner's log artifact) */
  keep?: (line: string) => void;
}

/**
 * Numbers messages as they are produced and stores them in chunks. A message waits only for the
 * store/publish of the chunk before it: an idle writer writes at once, a busy one batches what
 * accumulated meanwhile. Producers never wait (they call `output`/`marker` synchronously).
 */
export class LogWriter {
  private queue: LogMessage[] = [];
  private pumping: Promise<void> | null = null;
  private failure: unknown = null;
  private last: number;
  private readonly mask: (line: string) => string;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private readonly now: () => Date;
  summary: LogSummary;

  constructor(private readonly opts: LogWriterOptions, summary: LogSummary = emptySummary()) {
    this.last = opts.startAfter;
    this.mask = opts.mask ?? ((l) => l);
    this.maxLines = opts.maxChunkLines ?? 1000;
    this.maxBytes = opts.maxChunkBytes ?? MAX_CHUNK_BYTES;
    this.now = opts.now ?? (() => new Date());
    this.summary = { ...summary };
  }

  get lastLine(): number {
    return this.last;
  }

  /** `timestamp`: when the line was read (lines read together share one); now by default. */
  output(stream: 'stdout' | 'stderr', line: string, phase: Phase, timestamp?: string): void {
    this.enqueue({
      type: stream === 'stderr' ? 'error' : 'output',
      line: this.mask(line),
      timestamp: timestamp ?? this.now().toISOString(),
      line_num: ++this.last,
      stream,
      phase,
    });
  }

  marker(stage: Stage, status: 'begin' | 'end', phase: Phase = phaseOfStage(stage)): void {
    const at = this.now();
    this.enqueue({
      type: 'stage_marker',
      line: markerLine(stage, status, at),
      timestamp: at.toISOString(),
      line_num: ++this.last,
      stage,
      status,
      phase,
    });
  }

  /** Resolves when everything enqueued so far is stored (and handed to the sink). */
  async flush(): Promise<void> {
    while (this.pumping) await this.pumping;
    if (this.failure) throw this.failure;
  }

  private enqueue(m: LogMessage): void {
    this.queue.push(m);
    this.opts.keep?.(m.line);
    // In place: this runs for every line terraform prints.
    addToSummary(this.summary, m);
    if (!this.pumping) this.pumping = this.pump().finally(() => (this.pumping = null));
  }

  private async pump(): Promise<void> {
    // Let the producer finish its synchronous burst before the first write.
    await Promise.resolve();
    // The next batch is stored while the previous one goes to viewers: one publish in flight at a
    // time, in order, each after its batch is stored. Viewers are best effort: the stored copy is
    // the truth they catch up from.
    let publishing: Promise<void> | null = null;
    for (;;) {
      if (this.queue.length === 0 || this.failure) {
        if (!publishing) return;
        // Lines that arrive meanwhile are taken by the next turn.
        await publishing;
        publishing = null;
        continue;
      }
      const chunk = this.takeChunk();
      try {
        await this.opts.store.putLogChunk(this.opts.taskId, chunk);
      } catch (err) {
        this.failure = err;
        continue;
      }
      if (publishing) await publishing;
      if (this.opts.sink) publishing = this.opts.sink.publish(this.opts.taskId, chunk).catch(() => undefined);
    }
  }

  private takeChunk(): LogMessage[] {
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < this.maxLines) {
      const size = jsonBytesBound(this.queue[n].line);
      if (n > 0 && bytes + size > this.maxBytes) break;
      bytes += size;
      n++;
    }
    return this.queue.splice(0, n);
  }
}

// ---------- reading ----------

export type LogType = 'plan' | 'apply' | 'all';

export async function collectLog(store: Store, taskId: number, type: LogType): Promise<{ plan: string[]; apply: string[] }> {
  const out = { plan: [] as string[], apply: [] as string[] };
  for await (const chunk of store.readLog(taskId, 0)) {
    for (const m of chunk) {
      if (type === 'all' || type === m.phase) out[m.phase].push(m.line);
    }
  }
  return out;
}

function section(lines: string[]) {
  const output = lines.join('\n');
  return lines.length === 0 ? null : { output, line_count: lines.length, size_bytes: Buffer.byteLength(output) };
}

export async function logsJson(store: Store, task: Task, type: LogType) {
  const { plan, apply } = await collectLog(store, task.task_id, type);
  return {
    task_id: task.task_id,
    task_type: task.task_type,
    status: task.status,
    created_at: task.created_at,
    completed_at: task.completed_at,
    duration: task.duration,
    logs: { plan: type === 'apply' ? null : section(plan), apply: type === 'plan' ? null : section(apply) },
  };
}

export async function logsText(store: Store, task: Task, type: LogType): Promise<string> {
  const { plan, apply } = await collectLog(store, task.task_id, type);
  let out = '';
  if (plan.length) out += `=== PLAN OUTPUT ===\n${plan.join('\n')}\n\n`;
  if (apply.length) out += `=== APPLY OUTPUT ===\n${apply.join('\n')}\n\n`;
  if (task.error_message) out += `=== ERROR ===\n${task.error_message}\n`;
  return out;
}

export async function logsDownload(store: Store, task: Task, type: LogType): Promise<string> {
  const { plan, apply } = await collectLog(store, task.task_id, type);
  const rule = '='.repeat(80);
  const dash = '-'.repeat(80);
  let out = `Task ID: ${task.task_id}\nTask Type: ${task.task_type}\nWorkspace: ${task.workspace_id}\nStatus: ${task.status}\nCreated: ${task.created_at}\n`;
  if (task.completed_at) out += `Completed: ${task.completed_at}\nDuration: ${task.duration}s\n`;
  out += `\n${rule}\n\n`;
  if (plan.length) out += `PLAN OUTPUT:\n${dash}\n${plan.join('\n')}\n\n`;
  if (apply.length) out += `APPLY OUTPUT:\n${dash}\n${apply.join('\n')}\n\n`;
  if (task.error_message) out += `ERROR:\n${dash}\n${task.error_message}\n`;
  return out;
}
