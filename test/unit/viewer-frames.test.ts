/** Packing live-log messages into WebSocket messages of at most 32 KB (API Gateway's frame). */
import { FRAME_BYTES, frames, parseSubscribe } from '../../functions/core/viewers.js';

const line = (n: number, text = `line ${n}`) => ({ type: 'output', line: text, timestamp: '2025-10-11T19:30:00.000Z', line_num: n, stream: 'stdout', phase: 'plan' });

test('messages are packed in order into JSON arrays of at most 32 KB each', () => {
  const messages = Array.from({ length: 5000 }, (_, i) => line(i + 1, `terraform_data.x (local-exec): ${'é'.repeat(i % 50)} ${i + 1}`));
  const out = frames(messages);
  expect(out.length).toBeGreaterThan(10);
  for (const f of out) expect(Buffer.byteLength(f)).toBeLessThanOrEqual(FRAME_BYTES);
  // Full frames: the next message would not have fitted.
  for (const f of out.slice(0, -1)) expect(Buffer.byteLength(f)).toBeGreaterThan(FRAME_BYTES - 600);
  expect(out.flatMap((f) => JSON.parse(f))).toEqual(messages);
});

test('a line too long for one message is truncated in the live copy only, saying so', () => {
  const huge = line(7, 'x'.repeat(100_000));
  const out = frames([line(6), huge, line(8)]);
  for (const f of out) expect(Buffer.byteLength(f)).toBeLessThanOrEqual(FRAME_BYTES);
  const got = out.flatMap((f) => JSON.parse(f));
  expect(got.map((m: { line_num: number }) => m.line_num)).toEqual([6, 7, 8]);
  expect(got[1].line).toMatch(/^x+ … \[line truncated for live viewers: 100000 characters; the stored log has it whole\]$/);
  expect(huge.line).toHaveLength(100_000);
});

test('nothing to send, no message; a smaller limit is honoured', () => {
  expect(frames([])).toEqual([]);
  const out = frames(Array.from({ length: 50 }, (_, i) => line(i + 1)), 1024);
  for (const f of out) expect(Buffer.byteLength(f)).toBeLessThanOrEqual(1024);
  expect(out.flatMap((f) => JSON.parse(f))).toHaveLength(50);
});

test('subscribe input: task_id required and positive, after_line ≥ 0 (default 0), errors name the field', () => {
  expect(parseSubscribe({ action: 'subscribe', task_id: 3 })).toEqual({ task_id: 3, after_line: 0 });
  expect(parseSubscribe({ task_id: '12', after_line: 40 })).toEqual({ task_id: 12, after_line: 40 });
  expect(parseSubscribe({})).toMatch(/^task_id: /);
  expect(parseSubscribe({ task_id: 0 })).toMatch(/^task_id: /);
  expect(parseSubscribe({ task_id: 1.5 })).toMatch(/^task_id: /);
  expect(parseSubscribe({ task_id: 1, after_line: -1 })).toMatch(/^after_line: /);
  expect(parseSubscribe({ task_id: 1, after_line: '3' })).toMatch(/^after_line: /);
  expect(parseSubscribe(undefined)).toMatch(/^body: /);
});
