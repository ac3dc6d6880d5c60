/**
 * Live logs (SPEC §6), measured on the embedded default run as its own process (`local/main.ts`,
 * so its memory can be read from /proc) with real terraform and real WebSocket viewers:
 *
 *   1. latency: terraform's local-exec prints a line with its clock every 20 ms; 20 viewers (and
 *      one that stopped reading) note when it reaches them → p50/p99 (goal p99 ≤ 25 ms). They
 *      follow the run from its plan; the apply is confirmed once all of them are live. Measured on
 *      the server's first run (runners that never shipped a busy log) and on a later one;
 *   2. burst: a 100 000-line local-exec with 1 viewer, and with 20 viewers and a stalled one;
 *      terraform's time in the run (the `applying` stage) against the same `terraform apply tfplan`
 *      without Runway, its output written to a file (as the runner has it; run just before and
 *      just after each run) and read from a pipe, in rounds (goal: slowed ≤ 5 %), and lines/s end
 *      to end (first line read → last delivered);
 *   3. 1 000 000 lines: lines/s stored and delivered, peak RSS of the embedded default before
 *      and during the run (goal: growth ≤ 100 MB, flat in the number of lines).
 *
 * `npx tsx bench/live-logs.ts` runs it alone; bench/run.ts calls benchLiveLogs().
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { spawnEmbedded, type EmbeddedProcess } from '../local/process.js';
import { median, ms, percentile } from './stats.js';

const TOKEN = 'bench-live-logs-admin';
const now = () => performance.timeOrigin + performance.now();

export interface LiveLogsOptions {
  viewers?: number;
  ticks?: number;
  burstLines?: number;
  millionLines?: number;
  /** which parts to run (default all; LIVE_LOGS_BENCH=latency,burst,million) */
  parts?: ('latency' | 'burst' | 'million')[];
}

// ---------- the embedded default as a child process (local/process.ts) ----------

async function startServer(dataDir: string): Promise<EmbeddedProcess & { pid: number }> {
  const server = await spawnEmbedded({ dataDir, adminToken: TOKEN, env: { VIEWER_LIMIT_PER_USER: '100' } });
  return { ...server, pid: server.child.pid! };
}

/** Resident set size of a process, bytes (0 once it is gone). */
function rss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const TICKS_PER_SECOND = 100;
const BURST_ROUNDS = 7;
const STARTING_TICKS = 10;

/** CPU seconds (user + system) a process has used; with `waited`, those of its waited-for children. */
function cpuSeconds(pid: number | 'self', waited = false): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // fields[11..14] = utime, stime, cutime, cstime (stat fields 14–17)
    const [u, s, cu, cs] = fields.slice(11, 15).map(Number);
    return (waited ? cu + cs : u + s) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const f = `/proc/${pid}/task/${t}/children`;
      if (existsSync(f)) out.push(...readFileSync(f, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    }
  } catch {
    /* gone */
  }
  return out;
}

/** Samples the RSS of `pid` (and, for information, of its runner children) every 100 ms. */
function sampleMemory(pid: number) {
  const samples: [number, number][] = [[now(), rss(pid)]];
  let runnerPeak = 0;
  const cpuStart = cpuSeconds(pid);
  const runnerCpu = (c: number) => cpuSeconds(c) + cpuSeconds(c, true);
  /** CPU seconds of each child (runners) when the sampling started: runners live across phases */
  const childCpuStart = new Map(children(pid).map((c) => [c, runnerCpu(c)]));
  /** CPU seconds of each child since then, as last seen */
  const childCpu = new Map<number, number>();
  const timer = setInterval(() => {
    samples.push([now(), rss(pid)]);
    for (const c of children(pid)) {
      runnerPeak = Math.max(runnerPeak, rss(c));
      childCpu.set(c, runnerCpu(c) - (childCpuStart.get(c) ?? 0));
    }
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      return {
        peak: Math.max(...samples.map(([, r]) => r)),
        /** the peak up to `t` (while lines stream, before the run reads its log back) */
        peakUntil: (t: number) => Math.max(...samples.filter(([at]) => at <= t).map(([, r]) => r)),
        runnerPeak,
        /** CPU seconds: the embedded default, and its children (runners; terraform included) */
        cpu: cpuSeconds(pid) - cpuStart,
        childrenCpu: [...childCpu.values()].reduce((a, b) => a + b, 0),
      };
    },
  };
}

// ---------- API and viewers ----------

async function call(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const r = await fetch(`${base}/api/v1${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const parsed = await r.json();
  if (r.status >= 400) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(parsed)}`);
  return parsed;
}

const hcl = (command: string) => `resource "terraform_data" "out" {\n  provisioner "local-exec" {\n    command = ${JSON.stringify(command)}\n  }\n}\n`;

async function workspace(base: string, name: string, command: string, autoApply = true): Promise<void> {
  await call(base, 'POST', '/workspaces', { name, auto_apply: autoApply });
  await call(base, 'POST', `/workspaces/${name}/configuration-versions`, { files: { 'main.tf': hcl(command) } });
}

async function waitStatus(base: string, taskId: number, status: string, timeoutMs: number): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await call(base, 'GET', `/tasks/${taskId}`);
    if (t.status === status) return t;
    if (Date.now() > deadline) throw new Error(`bench run ${taskId} did not reach ${status} within ${timeoutMs} ms (${t.status})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitEnd(base: string, taskId: number, timeoutMs: number): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await call(base, 'GET', `/tasks/${taskId}`);
    if (['success', 'failed', 'errored', 'cancelled', 'discarded'].includes(t.status)) {
      if (t.status !== 'success') throw new Error(`bench run ${taskId} ended ${t.status}: ${t.error_message}`);
      return t;
    }
    if (Date.now() > deadline) throw new Error(`bench run ${taskId} did not end within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A viewer that reads like a browser tab but cheaply: it parses messages only when asked
 * (`onLine`); otherwise it finds line numbers in the raw frames (first and last of each) to count
 * lines and notice a gap.
 */
class BenchViewer {
  lastLine = 0;
  lines = 0;
  gaps = 0;
  connected!: Promise<void>;
  completed!: Promise<void>;
  closed!: Promise<{ code: number }>;
  /** when a line ending with `watch.text` arrived, and its line_num */
  watch: { text: string | null; at: number; lineNum: number } = { text: null, at: 0, lineNum: 0 };
  private readonly ws: WebSocket;

  constructor(wsUrl: string, onLine?: (m: { line: string; line_num: number; timestamp: string }, at: number) => void) {
    this.ws = new WebSocket(`${wsUrl}?token=${TOKEN}`);
    let connected!: () => void;
    let completed!: () => void;
    this.connected = new Promise((r) => (connected = r));
    this.completed = new Promise((r) => (completed = r));
    this.closed = new Promise((r) => this.ws.on('close', (code) => r({ code })));
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data: Buffer) => {
      const at = now();
      const s = data.toString();
      if (s.startsWith('{"type":"connected"')) return connected();
      if (s.startsWith('{"type":"completed"')) return completed();
      if (!s.startsWith('[')) return;
      if (onLine) {
        for (const m of JSON.parse(s)) this.see(m.line_num, m.line_num, 1, at, () => onLine(m, at));
        return;
      }
      const first = Number(/"line_num":(\d+)/.exec(s)![1]);
      const i = s.lastIndexOf('"line_num":');
      const last = parseInt(s.slice(i + 11), 10);
      this.see(first, last, last - first + 1, at);
      if (this.watch.text && !this.watch.at && s.includes(`${this.watch.text}"`)) {
        const m = (JSON.parse(s) as { line: string; line_num: number }[]).find((x) => x.line.endsWith(this.watch.text!))!;
        this.watch = { ...this.watch, at, lineNum: m.line_num };
      }
    });
  }

  private waiting: { line: number; resolve: () => void }[] = [];

  /** Resolves once this viewer has line `line`. */
  reached(line: number): Promise<void> {
    if (this.lastLine >= line) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push({ line, resolve }));
  }

  private see(first: number, last: number, count: number, at: number, each?: () => void) {
    if (this.lastLine !== 0 && first !== this.lastLine + 1) this.gaps++;
    this.lastLine = last;
    if (this.waiting.length) this.waiting = this.waiting.filter((w) => (w.line <= last ? (w.resolve(), false) : true));
    this.lines += count;
    each?.();
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_q, r) => reject(new Error(`viewer refused: ${r.statusCode}`)));
    });
  }

  subscribe(taskId: number): void {
    this.ws.send(JSON.stringify({ action: 'subscribe', task_id: taskId }));
  }

  stall(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }

  resume(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }

  close(): void {
    this.ws.terminate();
  }
}

async function viewers(wsUrl: string, n: number, taskId: number, onLine?: ConstructorParameters<typeof BenchViewer>[1]): Promise<{ live: BenchViewer[]; stalled: BenchViewer }> {
  const live = Array.from({ length: n }, () => new BenchViewer(wsUrl, onLine));
  const stalled = new BenchViewer(wsUrl);
  await Promise.all([...live, stalled].map((v) => v.open()));
  for (const v of [...live, stalled]) v.subscribe(taskId);
  await Promise.all([...live, stalled].map((v) => v.connected));
  stalled.stall();
  return { live, stalled };
}

// ---------- terraform alone ----------

/** Runs a command to its end; `stdio` as for spawn (pipes are read and dropped). */
function exec(bin: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, stdio: 'ignore' | 'pipe' | number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd, env, stdio: ['ignore', stdio, stdio] });
    child.stdout?.resume();
    child.stderr?.resume();
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${bin} ${args[0]} exited ${code}`))));
  });
}

/**
 * `terraform apply tfplan` of `command`'s config (ms): its output written to a file, as the runner
 * has it (containers/runner/launcher.ts), or read from a pipe (as a CI job's log would be). Run
 * without blocking this process, whose connections to the server must stay served meanwhile.
 */
async function bareApply(bin: string, command: string, repeats: number, output: 'file' | 'pipe', cpu?: number[]): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'runway-bench-tf-'));
  const env = { ...process.env, TF_IN_AUTOMATION: '1', TF_INPUT: '0', CHECKPOINT_DISABLE: '1' };
  try {
    writeFileSync(join(dir, 'main.tf'), hcl(command));
    await exec(bin, ['init', '-input=false', '-no-color'], dir, env, 'ignore');
    const times: number[] = [];
    for (let i = 0; i < repeats; i++) {
      rmSync(join(dir, 'terraform.tfstate'), { force: true });
      await exec(bin, ['plan', '-input=false', '-no-color', '-out=tfplan'], dir, env, 'ignore');
      const fd = output === 'file' ? openSync(join(dir, 'output'), 'w') : null;
      const t0 = performance.now();
      const c0 = cpuSeconds('self', true);
      await exec(bin, ['apply', '-input=false', '-no-color', 'tfplan'], dir, env, fd ?? 'pipe');
      times.push(performance.now() - t0);
      cpu?.push(cpuSeconds('self', true) - c0);
      if (fd !== null) closeSync(fd);
    }
    return times;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
const rate = (lines: number, msTaken: number) => `${Math.round(lines / (msTaken / 1000)).toLocaleString('en-US')} lines/s`;
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;

/** Opens `count` fast viewers (and a stalled one) on a run, each noting when `lastText` reaches it. */
async function follow(wsUrl: string, taskId: number, count: number, lastText: string, stalled: boolean) {
  const live = Array.from({ length: count }, () => new BenchViewer(wsUrl));
  const slow = stalled ? new BenchViewer(wsUrl) : null;
  // When terraform's first line was read by the runner (its timestamp), from one parsing viewer.
  let firstRead = 0;
  const probe = new BenchViewer(wsUrl, (m) => {
    if (!firstRead && m.line.includes('(local-exec): ')) {
      firstRead = Date.parse(m.timestamp);
      probe.close();
    }
  });
  const all = [...live, ...(slow ? [slow] : []), probe];
  await Promise.all(all.map((v) => v.open()));
  for (const v of all) v.subscribe(taskId);
  await Promise.all(all.map((v) => v.connected));
  slow?.stall();
  for (const v of live) v.watch.text = lastText;
  return {
    live,
    slow,
    firstRead: () => firstRead,
    deliveredAt: () => Math.max(...live.map((v) => v.watch.at)),
    /** Resumes the stalled viewer: was it dropped (closed) or did it get everything (completed)? */
    async stalledOutcome(): Promise<string> {
      if (!slow) return '';
      slow.resume();
      return Promise.race([slow.closed.then(() => 'dropped (it fell behind; it resumes with after_line)'), slow.completed.then(() => 'not dropped (its buffer never filled)')]);
    },
    close: () => all.forEach((v) => v.close()),
  };
}

/**
 * One run of the latency workspace, followed by `n` viewers and a stalled one from its plan; the
 * apply is confirmed once every viewer is live (20 viewers joining at once is not what this measures).
 */
async function measureLatency(url: string, wsUrl: string, name: string, n: number) {
  const latency: number[] = [];
  /** the apply's first ticks (terraform, the runner and the server all starting work), and the rest */
  const starting: number[] = [];
  const steady: number[] = [];
  const relay: number[] = [];
  const task = await call(url, 'POST', `/workspaces/${name}/tasks`, { task_type: 'plan_and_apply' });
  const v = await viewers(wsUrl, n, task.task_id, (m, at) => {
    const t = / tick (\d+) (\d+)$/.exec(m.line);
    if (!t) return;
    const printed = Number(BigInt(t[2]) / 1000n) / 1000;
    latency.push(at - printed);
    (Number(t[1]) <= STARTING_TICKS ? starting : steady).push(at - printed);
    relay.push(Date.parse(m.timestamp) - printed);
  });
  await waitStatus(url, task.task_id, 'apply_pending', 60_000);
  const stored = (await call(url, 'GET', '/terraform/streams/stats')).streams.find((x: { task_id: number }) => x.task_id === task.task_id).lines as number;
  await Promise.all(v.live.map((x) => x.reached(stored)));
  await call(url, 'POST', `/tasks/${task.task_id}/confirm`);
  await Promise.all(v.live.map((x) => x.completed));
  await waitEnd(url, task.task_id, 60_000);
  for (const x of [...v.live, v.stalled]) x.close();
  return { latency, starting, steady, relay };
}

// ---------- the benchmark ----------

export async function benchLiveLogs(opts: LiveLogsOptions = {}): Promise<Record<string, number>> {
  const n = opts.viewers ?? 20;
  const ticks = opts.ticks ?? 300;
  const burstLines = opts.burstLines ?? 100_000;
  const million = opts.millionLines ?? 1_000_000;
  const parts = new Set(opts.parts ?? (process.env.LIVE_LOGS_BENCH?.split(',') as LiveLogsOptions['parts']) ?? ['latency', 'burst', 'million']);
  const bin = process.env.TERRAFORM_BIN || 'terraform';
  const started = performance.now();
  const figures: Record<string, number> = {};
  const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`\n## Live logs (embedded default as its own process; load average at start ${load()})`);

  // Terraform alone first, while nothing of ours runs.
  const burstCommand = `seq -f 'burst line %g' 1 ${burstLines}`;
  const bigCommand = `seq 1 ${million}`;
  const bareBigCpu: number[] = [];
  const bareBig = parts.has('million') ? (await bareApply(bin, bigCommand, 1, 'file', bareBigCpu))[0] : 0;

  const dataDir = mkdtempSync(join(tmpdir(), 'runway-bench-live-'));
  const server = await startServer(dataDir);
  try {
    const wsUrl = (await call(server.url, 'GET', '/meta')).websocket_url as string;

    // 1. Latency: terraform prints its clock every 20 ms; each viewer notes the arrival. Twice:
    // the embedded default's first run, whose runners have never shipped a busy log (V8 compiles
    // their log path during the apply's first second), and a run on the same server after it.
    if (parts.has('latency')) {
      for (const [round, label] of ['the first run after start', 'a later run'].entries()) {
        await workspace(server.url, `latency-${round}`, `for i in $(seq 1 ${ticks}); do echo "tick $i $(date +%s%N)"; sleep 0.02; done`, false);
        const r = await measureLatency(server.url, wsUrl, `latency-${round}`, n);
        if (round === 1) {
          figures.latencyP50 = percentile(r.latency, 50);
          figures.latencyP99 = percentile(r.latency, 99);
        }
        console.log(`latency print → viewer, ${n} viewers + 1 stalled, ${label}: p50 ${ms(percentile(r.latency, 50))}, p99 ${ms(percentile(r.latency, 99))}, max ${ms(Math.max(...r.latency))} (${r.latency.length} samples; goal p99 ≤ 25 ms)`);
        console.log(`  of which terraform's own relay (print → the runner reads it): p50 ${ms(percentile(r.relay, 50))}, p99 ${ms(percentile(r.relay, 99))}`);
        console.log(`  the first ${STARTING_TICKS} ticks of the apply: p50 ${ms(percentile(r.starting, 50))}, p99 ${ms(percentile(r.starting, 99))}; the other ${ticks - STARTING_TICKS}: p50 ${ms(percentile(r.steady, 50))}, p99 ${ms(percentile(r.steady, 99))}`);
      }
    }

    // 2. Burst: terraform's time in the run against terraform alone; lines/s end to end. This
    // machine's speed drifts by tens of percent within minutes, so every run is bracketed by
    // terraform alone just before and just after it (alone, 1 viewer, alone, 20 viewers, alone),
    // compared with the mean of its two brackets, and the figure is the median of the rounds.
    if (parts.has('burst')) {
      const configs = [[1, false], [n, true]] as const;
      const alone: number[] = [];
      const alonePiped: number[] = [];
      const inRun = configs.map(() => [] as number[]);
      const ratios = configs.map(() => [] as number[]);
      const e2e = configs.map(() => [] as number[]);
      const outcomes = new Set<string>();
      let gaps = false;
      for (let round = 0; round < BURST_ROUNDS; round++) {
        alonePiped.push((await bareApply(bin, burstCommand, 1, 'pipe'))[0]);
        let before = (await bareApply(bin, burstCommand, 1, 'file'))[0];
        alone.push(before);
        for (const [i, [count, stalled]] of configs.entries()) {
          const name = `burst-${count}-${round}`;
          await workspace(server.url, name, burstCommand);
          const task = await call(server.url, 'POST', `/workspaces/${name}/tasks`, { task_type: 'plan_and_apply' });
          const f = await follow(wsUrl, task.task_id, count, `(local-exec): burst line ${burstLines}`, stalled);
          await Promise.all(f.live.map((x) => x.completed));
          const done = await waitEnd(server.url, task.task_id, 120_000);
          if (stalled) outcomes.add(await f.stalledOutcome());
          f.close();
          gaps ||= f.live.some((x) => x.gaps !== 0);
          const after = (await bareApply(bin, burstCommand, 1, 'file'))[0];
          alone.push(after);
          inRun[i].push(done.stage_timings.applying as number);
          ratios[i].push((done.stage_timings.applying as number) / ((before + after) / 2));
          e2e[i].push(f.deliveredAt() - f.firstRead());
          before = after;
        }
      }
      const bare = median(alone);
      console.log(`burst of ${burstLines.toLocaleString('en-US')} lines, ${BURST_ROUNDS} rounds; terraform alone (apply tfplan), output to a file: median ${ms(bare)} = ${rate(burstLines, bare)} (${ms(Math.min(...alone))} … ${ms(Math.max(...alone))}); read from a pipe instead: median ${ms(median(alonePiped))}`);
      for (const [i, [count]] of configs.entries()) {
        const slowdown = median(ratios[i]) - 1;
        if (count === 1) figures.burstSlowdown = slowdown;
        else figures.burstSlowdownWithViewers = slowdown;
        figures[`burstLinesPerSecond${count}`] = burstLines / (median(e2e[i]) / 1000);
        console.log(`  ${count === 1 ? '1 viewer' : `${count} viewers + 1 stalled`}: terraform in the run against alone around it, median of the rounds ${pct(slowdown)} (goal ≤ +5 %; rounds ${ratios[i].map((x) => pct(x - 1)).join(', ')}); in the run median ${ms(median(inRun[i]))}; end to end ${rate(burstLines, median(e2e[i]))}`);
      }
      console.log(`  ${gaps ? 'GAPS' : 'no gap'}; the stalled viewer was ${[...outcomes].join(' / ')}`);
    }

    // 3. One million lines: throughput and memory.
    if (parts.has('million')) {
      await workspace(server.url, 'million', bigCommand);
      const before = rss(server.pid);
      const memory = sampleMemory(server.pid);
      const task = await call(server.url, 'POST', '/workspaces/million/tasks', { task_type: 'plan_and_apply' });
      const f = await follow(wsUrl, task.task_id, 2, `(local-exec): ${million}`, false);
      // Stored: the streams stats' `lines` (the highest line_num stored), polled while the run goes.
      const storedSeries: [number, number][] = [];
      let polling = true;
      const poll = (async () => {
        while (polling) {
          const s = await call(server.url, 'GET', '/terraform/streams/stats');
          const stream = s.streams.find((x: { task_id: number }) => x.task_id === task.task_id);
          if (stream) storedSeries.push([now(), stream.lines]);
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      await Promise.all(f.live.map((v) => v.completed));
      const done = await waitEnd(server.url, task.task_id, 170_000);
      polling = false;
      await poll;
      const { peak, peakUntil, runnerPeak, cpu, childrenCpu } = memory.stop();
      f.close();
      const lastNum = f.live[0].watch.lineNum;
      const deliveredAt = f.deliveredAt();
      const storedAt = storedSeries.find(([, lines]) => lines >= lastNum)?.[0] ?? deliveredAt;
      const first = f.firstRead();
      figures.millionStoredPerSecond = million / ((storedAt - first) / 1000);
      figures.millionDeliveredPerSecond = million / ((deliveredAt - first) / 1000);
      figures.rssBefore = before;
      figures.rssPeak = peak;
      figures.rssGrowth = peak - before;
      console.log(`${million.toLocaleString('en-US')} lines: terraform alone ${ms(bareBig)}, in the run ${ms(done.stage_timings.applying)} (${pct(done.stage_timings.applying / bareBig - 1)})`);
      console.log(`  CPU: terraform alone used ${bareBigCpu[0].toFixed(1)} s; during the run the embedded default used ${cpu.toFixed(1)} s and the runner processes (terraform included) ${childrenCpu.toFixed(1)} s — on ${cpus().length} cores`);
      console.log(`  stored ${rate(million, storedAt - first)}, delivered to 2 viewers ${rate(million, deliveredAt - first)} (${f.live.every((v) => v.gaps === 0) ? 'no gap' : 'GAPS'})`);
      figures.rssGrowthStreaming = peakUntil(deliveredAt) - before;
      console.log(`  embedded default RSS: ${mb(before)} before, peak ${mb(peak)} during → growth ${mb(peak - before)} (goal ≤ 100 MB); ${mb(peakUntil(deliveredAt) - before)} of it while the lines streamed, the rest after the last line was delivered (the run ending); the runner process peaked at ${mb(runnerPeak)}`);
    }
    console.log(`(live-log benchmark: ${((performance.now() - started) / 1000).toFixed(0)} s; load average at the end ${load()})`);
    return figures;
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchLiveLogs();
