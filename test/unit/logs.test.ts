import { createMasker, LogWriter, markerLine, summarize, emptySummary, type LogMessage } from '../../functions/core/logs.js';
import type { Store } from '../../functions/core/ports.js';

/** The one Store method LogWriter uses, recording what it was given. */
function recordingStore(delayMs = 0) {
  const chunks: LogMessage[][] = [];
  const store = {
    async putLogChunk(_taskId: number, messages: LogMessage[]) {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      chunks.push(messages);
    },
  } as unknown as Store;
  return { store, chunks };
}

describe('stage markers', () => {
  it('prints the seed-001 marker line in UTC with milliseconds', () => {
    expect(markerLine('planning', 'begin', new Date('2025-10-11T19:30:15.800Z'))).toBe('========== PLANNING BEGIN at 2025-10-11 19:30:15.800 ==========');
    expect(markerLine('saving_state', 'end', new Date('2025-10-11T19:35:30.567Z'))).toBe('========== SAVING_STATE END at 2025-10-11 19:35:30.567 ==========');
  });
});

describe('masking', () => {
  it('masks every sensitive value, longest first, including regex characters and multi-line values', () => {
    const mask = createMasker(['s3cr3t', 's3cr3t-longer', 'a+b(c)', 'line1\nline2', '']);
    expect(mask('x=s3cr3t-longer y=s3cr3t')).toBe('x=*** y=***');
    expect(mask('pattern a+b(c) here')).toBe('pattern *** here');
    expect(mask('line2 printed')).toBe('*** printed');
    expect(mask('nothing to hide')).toBe('nothing to hide');
  });
});

describe('log summary', () => {
  it('counts plan and apply lines, not markers, and remembers errors and the last line', () => {
    const at = new Date().toISOString();
    const s = summarize(emptySummary(), [
      { type: 'stage_marker', line: '== x ==', timestamp: at, line_num: 1, stage: 'init', status: 'begin', phase: 'plan' },
      { type: 'output', line: 'Plan: 1 to add', timestamp: at, line_num: 2, stream: 'stdout', phase: 'plan' },
      { type: 'error', line: 'Error: boom', timestamp: at, line_num: 3, stream: 'stderr', phase: 'apply' },
      { type: 'output', line: '   ', timestamp: at, line_num: 4, stream: 'stdout', phase: 'apply' },
    ]);
    expect(s).toEqual({ plan_lines: 1, apply_lines: 2, has_errors: true, last_line: 'Error: boom' });
  });
});

describe('LogWriter', () => {
  it('numbers lines after the stored ones, masks them, and stores them in order without gaps', async () => {
    const { store, chunks } = recordingStore(2);
    const log = new LogWriter({ taskId: 7, startAfter: 41, store, mask: createMasker(['pw']), maxChunkLines: 10 });
    log.marker('init', 'begin');
    for (let i = 0; i < 95; i++) log.output(i % 3 ? 'stdout' : 'stderr', `line ${i} pw`, 'plan');
    log.marker('init', 'end');
    await log.flush();
    const all = chunks.flat();
    expect(all.map((m) => m.line_num)).toEqual(Array.from({ length: 97 }, (_, i) => 42 + i));
    expect(all.every((m) => !m.line.includes('pw'))).toBe(true);
    expect(all[1]).toMatchObject({ type: 'error', stream: 'stderr', line: 'line 0 ***' });
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(10);
    expect(log.lastLine).toBe(138);
  });

  it('writes an idle line at once and batches what accumulates while a write is in flight', async () => {
    const { store, chunks } = recordingStore(20);
    const log = new LogWriter({ taskId: 1, startAfter: 0, store });
    log.output('stdout', 'first', 'plan');
    await new Promise((r) => setTimeout(r, 5)); // the first write is now in flight
    for (let i = 0; i < 50; i++) log.output('stdout', `busy ${i}`, 'plan');
    await log.flush();
    expect(chunks[0].map((m) => m.line)).toEqual(['first']);
    expect(chunks[1]).toHaveLength(50);
  });

  it('hands each stored chunk to the sink after storing it, and a failing sink loses nothing', async () => {
    const { store, chunks } = recordingStore();
    const published: number[] = [];
    const log = new LogWriter({
      taskId: 1,
      startAfter: 0,
      store,
      sink: {
        async publish(_t, messages) {
          expect(chunks.flat().map((m) => m.line_num)).toEqual(expect.arrayContaining(messages.map((m) => m.line_num)));
          published.push(...messages.map((m) => m.line_num));
          throw new Error('viewer gone');
        },
      },
    });
    for (let i = 0; i < 5; i++) log.output('stdout', `l${i}`, 'apply');
    await log.flush();
    expect(published).toEqual([1, 2, 3, 4, 5]);
    expect(chunks.flat()).toHaveLength(5);
  });

  it('reports a store failure from flush', async () => {
    const store = { putLogChunk: async () => Promise.reject(new Error('throttled')) } as unknown as Store;
    const log = new LogWriter({ taskId: 1, startAfter: 0, store });
    log.output('stdout', 'x', 'plan');
    await expect(log.flush()).rejects.toThrow('throttled');
  });
});
