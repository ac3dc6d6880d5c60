/**
 * A run's log as the viewer holds it: lines numbered by `line_num` (SPEC §6), in order, without
 * repeats. Live messages and the historical text end up in the same shape.
 */

export interface LogLine {
  /** line_num: one sequence per run, from 1 */
  n: number;
  /** the line as stored (it may carry ANSI colour codes) */
  text: string;
  kind: 'out' | 'err' | 'marker';
  /** ISO time; null for lines read from the historical text, which carries no per-line time */
  ts: string | null;
  stage?: string;
  status?: 'begin' | 'end';
  phase?: 'plan' | 'apply';
  /** lower-cased text without ANSI codes, filled on first search */
  lower?: string;
}

/** A WebSocket message of SPEC §6. */
export interface WireMessage {
  type: 'connected' | 'output' | 'error' | 'stage_marker' | 'completed';
  line?: string;
  timestamp?: string;
  line_num?: number;
  stream?: 'stdout' | 'stderr';
  phase?: 'plan' | 'apply';
  stage?: string;
  status?: string;
  message?: string;
  task_id?: number;
  client_id?: string;
  /** on `completed`: the run's last line_num */
  last_line?: number;
}

const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007]*\u0007/g;
export const stripAnsi = (s: string) => s.replace(ANSI, '');

const ERROR_LINE = /^(│ )?Error: /;
/** `========== PLANNING BEGIN at 2025-10-11 19:30:15.800 ==========` (seed 001; UTC) */
const MARKER = /^========== ([A-Z_]+) (BEGIN|END) at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) ==========$/;

export function fromWire(m: WireMessage): LogLine | null {
  if (typeof m.line_num !== 'number' || typeof m.line !== 'string') return null;
  if (m.type === 'stage_marker') {
    return { n: m.line_num, text: m.line, kind: 'marker', ts: m.timestamp ?? null, stage: m.stage, status: m.status === 'end' ? 'end' : 'begin', phase: m.phase };
  }
  const err = m.type === 'error' || m.stream === 'stderr' || ERROR_LINE.test(stripAnsi(m.line));
  return { n: m.line_num, text: m.line, kind: err ? 'err' : 'out', ts: m.timestamp ?? null };
}

/**
 * The historical log (GET /tasks/:id/logs?format=json) is the plan text then the apply text; the
 * stored lines are numbered in that order, so the n-th line of the two joined is line_num n.
 */
export function fromHistory(plan: string | null | undefined, apply: string | null | undefined): LogLine[] {
  const planLines = plan != null ? plan.split('\n') : [];
  const texts = [...planLines, ...(apply != null ? apply.split('\n') : [])];
  return texts.map((text, i) => {
    const m = MARKER.exec(text);
    if (m) {
      const phase = i < planLines.length ? 'plan' : 'apply';
      return { n: i + 1, text, kind: 'marker', ts: `${m[3].replace(' ', 'T')}Z`, stage: m[1].toLowerCase(), status: m[2] === 'END' ? 'end' : 'begin', phase };
    }
    return { n: i + 1, text, kind: ERROR_LINE.test(stripAnsi(text)) ? 'err' : 'out', ts: null };
  });
}

export function lowerOf(l: LogLine): string {
  if (l.lower === undefined) l.lower = stripAnsi(l.text).toLowerCase();
  return l.lower;
}

/** Lines in line_num order; a line_num already held is dropped (a resubscribe may repeat lines). */
export class LogBuffer {
  readonly lines: LogLine[] = [];

  get last(): number {
    return this.lines.length ? this.lines[this.lines.length - 1].n : 0;
  }

  append(batch: readonly LogLine[]): number {
    let added = 0;
    for (const l of batch) {
      if (l.n <= this.last) continue;
      this.lines.push(l);
      added++;
    }
    return added;
  }
}
