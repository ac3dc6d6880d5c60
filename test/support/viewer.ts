/**
 * A live-log viewer as a browser would be one (SPEC §6), over a real WebSocket (`ws`): connect with
 * `?token=`, subscribe, collect messages, await what it is waiting for (no sleeps).
 */
import { WebSocket } from 'ws';

export interface LineMessage {
  type: 'output' | 'error' | 'stage_marker';
  line: string;
  timestamp: string;
  line_num: number;
  [k: string]: unknown;
}

export type ViewerMessage = LineMessage | { type: string; [k: string]: any };

export const isLine = (m: ViewerMessage): m is LineMessage => typeof (m as LineMessage).line_num === 'number';

interface Waiter {
  test: (m: ViewerMessage) => boolean;
  resolve: (m: ViewerMessage) => void;
}

export class Viewer {
  /** every message received, arrays flattened, in arrival order */
  readonly messages: ViewerMessage[] = [];
  /** when each message arrived (performance.now()), parallel to `messages` */
  readonly arrivals: number[] = [];
  /** resolves when the socket closes */
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Waiter[] = [];
  /** WebSocket messages (frames of one or more message objects) received */
  frames = 0;
  bytes = 0;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('message', (data) => {
      const now = performance.now();
      this.frames++;
      this.bytes += (data as Buffer).length;
      const parsed = JSON.parse(data.toString()) as ViewerMessage | ViewerMessage[];
      for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
        this.messages.push(m);
        this.arrivals.push(now);
        this.waiters = this.waiters.filter((w) => {
          if (!w.test(m)) return true;
          w.resolve(m);
          return false;
        });
      }
    });
  }

  /** Opens a connection; rejects with the HTTP status when the server refuses it. */
  static open(url: string, token: string | null): Promise<Viewer> {
    const full = token === null ? url : `${url}?token=${encodeURIComponent(token)}`;
    const ws = new WebSocket(full);
    const viewer = new Viewer(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(viewer));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(Object.assign(new Error(`connection refused: HTTP ${res.statusCode} ${body}`), { status: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  subscribe(taskId: number, afterLine?: number): void {
    this.ws.send(JSON.stringify({ action: 'subscribe', task_id: taskId, ...(afterLine === undefined ? {} : { after_line: afterLine }) }));
  }

  send(body: unknown): void {
    this.ws.send(typeof body === 'string' ? body : JSON.stringify(body));
  }

  /** The first message (already received or to come) that passes `test`; fails after `timeoutMs`. */
  waitFor(test: (m: ViewerMessage) => boolean, what: string, timeoutMs = 60_000): Promise<ViewerMessage> {
    const seen = this.messages.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`viewer: no ${what} within ${timeoutMs} ms (got ${this.messages.length} messages; last: ${JSON.stringify(this.messages.slice(-2))})`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  completed(timeoutMs?: number): Promise<ViewerMessage> {
    return this.waitFor((m) => m.type === 'completed', '`completed`', timeoutMs);
  }

  /** Resolves once a line with line_num ≥ n has arrived. */
  reached(n: number, timeoutMs?: number): Promise<ViewerMessage> {
    return this.waitFor((m) => isLine(m) && m.line_num >= n, `line ${n}`, timeoutMs);
  }

  lines(): LineMessage[] {
    return this.messages.filter(isLine);
  }

  lastLine(): number {
    const lines = this.lines();
    return lines.length ? lines[lines.length - 1].line_num : 0;
  }

  /** Stops reading from the socket (TCP backs up to the server), as a frozen browser tab would. */
  stall(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  resume(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/**
 * Checks a viewer's sequence: line_num 1..n exactly once each, in order, then `completed` with
 * last_line n. Returns a description of the first problem, or null.
 */
export function sequenceProblem(messages: ViewerMessage[], from = 1): string | null {
  let expected = from;
  let completed = false;
  for (const m of messages) {
    if (m.type === 'connected' || m.type === 'pong') continue;
    if (completed) return `${JSON.stringify(m)} after completed`;
    if (m.type === 'completed') {
      if (m.last_line !== expected - 1) return `completed says last_line ${m.last_line}, the viewer has up to ${expected - 1}`;
      completed = true;
      continue;
    }
    if (!isLine(m)) return `unexpected message ${JSON.stringify(m)}`;
    if (m.line_num !== expected) return `line ${m.line_num} where ${expected} was due`;
    expected++;
  }
  return completed ? null : `no completed (up to line ${expected - 1})`;
}
